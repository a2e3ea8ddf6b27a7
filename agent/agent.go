package agent

import (
	"context"

	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/hashicorp/raft"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wisp-stream/wisp/cache"
	"github.com/wisp-stream/wisp/fsm"
	"github.com/wisp-stream/wisp/gossip"
	"github.com/wisp-stream/wisp/kafka"
	"github.com/wisp-stream/wisp/objstore"
)

// Agent is one running Wisp agent.
type Agent struct {
	cfg    Config
	log    *slog.Logger
	nodeID int32

	store   *objstore.Counting
	fsm     *fsm.FSM
	raft    *raftNode
	cache   *cache.Cache
	flusher *Flusher
	kafka   *kafka.Server

	kafkaLn   net.Listener     // the first Kafka listener (KafkaAddr)
	kafkaLns  []*kafkaListener // every Kafka listener, with its security (listeners.go)
	httpLn    net.Listener
	httpSrv   *http.Server
	advertise kafka.Broker

	metrics *metrics
	gossip  *gossip.Gossip
	peers   *cache.PeerSet
	stopBG  context.CancelFunc // membership and GC loops

	ops opsState // console, JSON API and traffic metrics

	httpAuth *httpAuth // verifies agent-to-agent HTTP requests (clusterauth.go)

	ready        atomic.Bool
	shutdownOnce sync.Once
	shutdownErr  error
	wg           sync.WaitGroup
}

// Start builds and starts an agent: it opens the bucket (and checks it can
// list it), binds the listeners, starts Raft and waits for a leader, then
// serves Kafka and HTTP. Any failure undoes what was started.
func Start(ctx context.Context, cfg Config) (_ *Agent, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	// a is not the named result: returning nil must not hide it from undo.
	a := &Agent{cfg: cfg, log: cfg.Logger}
	a.initOps()
	var undo []func()
	defer func() {
		if err != nil {
			for i := len(undo) - 1; i >= 0; i-- {
				undo[i]()
			}
		}
	}()

	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, &FlagError{Flag: "data-dir", Err: err}
	}
	if a.nodeID, err = loadNodeID(cfg.DataDir, cfg.NodeID); err != nil {
		return nil, err
	}
	a.log = a.log.With("node", a.nodeID)
	warnUnauthenticated(&a.cfg, a.log)
	a.httpAuth = newHTTPAuth(&a.cfg, a.log.With("component", "clusterauth"))

	raw, err := objstore.Open(ctx, cfg.BucketURL)
	if err != nil {
		return nil, &FlagError{Flag: "bucket-url", Err: err}
	}
	probeCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	_, err = raw.List(probeCtx, "wisp/")
	cancel()
	if err != nil {
		return nil, &FlagError{Flag: "bucket-url", Err: fmt.Errorf("cannot list %s: %w", raw, err)}
	}
	if cfg.WrapStore != nil {
		raw = cfg.WrapStore(raw)
	}
	// Counting sits under Retrying so every attempt is counted: the
	// request economy is what the bucket bills.
	a.store = objstore.NewCounting(a.timeStore(raw))
	store := objstore.NewRetrying(a.store, objstore.RetryConfig{}, a.log.With("component", "objstore"))

	kafkaTLS, err := cfg.kafkaTLS()
	if err != nil {
		return nil, err
	}
	if err := a.bindKafka(kafkaTLS); err != nil {
		return nil, err
	}
	undo = append(undo, a.closeKafkaListeners)
	if a.httpLn, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
		return nil, &FlagError{Flag: "http-addr", Err: err}
	}
	if cfg.PeerFilter != nil {
		a.httpLn = &filteredListener{Listener: a.httpLn, blocked: cfg.PeerFilter}
	}
	httpTLS, err := cfg.httpTLS()
	if err != nil {
		a.httpLn.Close()
		return nil, err
	}
	if httpTLS != nil {
		a.httpLn = newSniffListener(a.httpLn, httpTLS)
	}
	undo = append(undo, func() { a.httpLn.Close() })
	a.advertise = a.kafkaLns[0].advertise
	a.advertise.NodeID = a.nodeID

	a.fsm = fsm.New(a.log.With("component", "fsm"))
	if a.raft, err = openRaft(&a.cfg, a.nodeID, a.advertise.Host, a.fsm, a.log); err != nil {
		return nil, err
	}
	undo = append(undo, func() { a.raft.close() })

	if a.gossip, err = a.startGossip(ctx); err != nil {
		return nil, err
	}
	undo = append(undo, func() { a.gossip.Shutdown() })
	a.raft.peerHTTP = peers{a.gossip}.httpAddr
	if !a.raft.existing {
		switch {
		case cfg.BootstrapExpect > 1:
			err = bootstrapExpected(ctx, a.raft, a.gossip, cfg.BootstrapExpect, a.log)
		case len(cfg.Join) == 0:
			err = a.raft.bootstrapSelf()
		default:
			a.log.Info("joined the cluster's gossip; waiting for the raft leader to add this agent")
		}
		if err != nil {
			return nil, err
		}
	}
	bg, stopBG := context.WithCancel(context.Background())
	a.stopBG = stopBG
	undo = append(undo, stopBG)
	mship := &membership{
		r: a.raft, g: a.gossip, voters: cfg.RaftVoters, deadTimeout: cfg.DeadTimeout,
		log:     a.log.With("component", "membership"),
		missing: map[raft.ServerID]time.Time{}, left: map[raft.ServerID]bool{},
	}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		mship.leaderLoop(bg)
	}()
	if err := a.raft.waitLeader(ctx); err != nil {
		return nil, err
	}
	if err := a.raft.waitCaughtUp(ctx); err != nil {
		return nil, err
	}
	if err := a.initCluster(ctx); err != nil {
		return nil, err
	}
	if err := a.seedUsers(ctx); err != nil {
		return nil, err
	}

	// The shared read cache: every (file, 4 MiB block) has one owning agent
	// in this zone, so N readers of a block cost one GET.
	a.peers = cache.NewPeerSet(a.nodeID)
	a.peers.Set([]cache.Node{{ID: a.nodeID, Addr: a.httpAdvertise()}})
	loader := cache.NewRemoteLoader(cache.RemoteConfig{Peers: a.peers, Store: store, Client: a.raft.http, Logger: a.log.With("component", "cache")})
	a.cache = cache.New(cache.Config{MaxBytes: cfg.CacheBytes, Loader: loader}, store, a.log.With("component", "cache"))
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		a.trackCachePeers(bg)
	}()
	a.flusher = NewFlusher(FlusherConfig{
		Interval:    cfg.FlushInterval,
		MaxBytes:    cfg.FlushBytes,
		MaxBuffered: cfg.MaxBufferedBytes,
		NodeID:      a.nodeID,
		PutAttempts: 1, // the store retries each request itself
	}, store, a.commitFile, a.keyPrefix, a.cache.Prime, a.log.With("component", "flusher"))
	undo = append(undo, func() { a.flusher.Close(context.Background()) })
	a.metrics = newMetrics(a)
	a.flusher.m = a.metrics

	gc := &collector{
		cfg:    GCConfig{OrphanScanInterval: cfg.OrphanScanInterval, OrphanGrace: cfg.OrphanGrace, DeadFileGrace: cfg.DeadFileGrace},
		store:  store,
		fsm:    a.fsm,
		raft:   a.raft,
		prefix: a.keyPrefix,
		drop:   a.cache.Drop,
		log:    a.log.With("component", "gc"),
		now:    time.Now,
		compactor: &compactor{
			cfg:   CompactionConfig{FanIn: cfg.CompactionFanIn, NodeID: a.nodeID},
			read:  a.cache.ReadAt,
			block: a.cache.BlockSize(),
		},
		m: a.metrics,
	}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		gc.run(bg)
	}()
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		a.sampleLoop(bg)
	}()

	a.kafka = kafka.NewServer(kafka.Config{
		NodeID:            a.nodeID,
		AdvertisedHost:    a.advertise.Host,
		AdvertisedPort:    a.advertise.Port,
		MaxRequestBytes:   cfg.MaxRequestBytes,
		AutoCreateTopics:  cfg.AutoCreateTopics,
		DefaultPartitions: cfg.DefaultPartitions,

		MaxConnections:         cfg.MaxConnections,
		RequestReadTimeout:     cfg.RequestReadTimeout,
		ConnectionsMaxIdle:     cfg.ConnectionsMaxIdle,
		MaxPendingRequestBytes: cfg.MaxPendingRequestBytes,

		Security: kafka.SecurityConfig{
			SASLMechanisms:  cfg.SASLMechanisms,
			SessionLifetime: cfg.SASLSessionLifetime,
			Authorizer:      cfg.Authorizer,
			SuperUsers:      cfg.SuperUsers,
		},
	}, (*backend)(a), a.log.With("component", "kafka"))
	a.startTxnReaper(bg) // transaction timeouts, on the leader
	a.metrics.reg.MustRegister(&securityCollector{a})
	a.httpSrv = &http.Server{Handler: a.httpHandler(), ReadHeaderTimeout: 10 * time.Second}
	if httpTLS != nil {
		a.httpSrv.Handler = requireTLS(a.httpSrv.Handler)
	}

	a.serveKafka()
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		if err := a.httpSrv.Serve(a.httpLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("http server stopped", "err", err)
		}
	}()
	if err := a.gossip.UpdateMeta(a.meta(false)); errors.Is(err, gossip.ErrBroadcastPending) {
		a.log.Warn("gossip broadcast of this agent's address is slow; peers will learn it by push/pull", "err", err)
	} else if err != nil {
		return nil, fmt.Errorf("advertise this agent over gossip: %w", err)
	}
	a.ready.Store(true)
	a.log.Info("agent started", "kafka", a.KafkaAddr(), "http", a.HTTPAddr(), "bucket", raw.String(), "cluster", a.fsm.ClusterID())
	return a, nil
}

// initCluster gives a new cluster its id, the namespace of its bucket keys.
func (a *Agent) initCluster(ctx context.Context) error {
	if a.fsm.ClusterID() != "" {
		return nil
	}
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err := a.raft.apply(ctx, &fsm.InitCluster{ClusterID: hex.EncodeToString(b[:]), NowMs: time.Now().UnixMilli()})
	if err != nil {
		return fmt.Errorf("initialise cluster id: %w", err)
	}
	return nil
}

func (a *Agent) keyPrefix() string { return "wisp/" + a.fsm.ClusterID() + "/" }

func (a *Agent) commitFile(ctx context.Context, c *fsm.CommitFile) (fsm.CommitFileResult, error) {
	res, err := a.raft.apply(ctx, c)
	if err != nil {
		return fsm.CommitFileResult{}, err
	}
	r, ok := res.(fsm.CommitFileResult)
	if !ok {
		return fsm.CommitFileResult{}, fmt.Errorf("unexpected commit response %T", res)
	}
	return r, nil
}

// KafkaAddr is the bound Kafka listener address.
func (a *Agent) KafkaAddr() string { return a.kafkaLn.Addr().String() }

// HTTPAddr is the bound HTTP listener address.
func (a *Agent) HTTPAddr() string { return a.httpLn.Addr().String() }

// AdvertisedAddr is what clients are told to dial.
func (a *Agent) AdvertisedAddr() string {
	return net.JoinHostPort(a.advertise.Host, strconv.Itoa(int(a.advertise.Port)))
}

// NodeID is the agent's broker id.
func (a *Agent) NodeID() int32 { return a.nodeID }

// Metadata is the agent's replica of the metadata state machine.
func (a *Agent) Metadata() *fsm.FSM { return a.fsm }

// StoreStats reports object-store requests and bytes by kind since start.
func (a *Agent) StoreStats() map[objstore.Op]objstore.OpStats { return a.store.Snapshot() }

// Shutdown stops the agent gracefully: no new connections, the pending file
// flushed and committed (so waiting producers get their acks), then the
// listeners, Raft and the stores. Idempotent.
func (a *Agent) Shutdown(ctx context.Context) error {
	a.shutdownOnce.Do(func() {
		a.ready.Store(false)
		var errs []error
		// Stop being advertised, then stop taking connections, then drain:
		// producers waiting on the pending file get their acks.
		if err := a.gossip.UpdateMeta(a.meta(true)); err != nil {
			a.log.Warn("could not advertise leaving", "err", err)
		}
		a.closeKafkaListeners()
		a.closeAdmin()
		if err := a.flusher.Close(ctx); err != nil {
			errs = append(errs, err)
		}
		a.kafka.Close(ctx)
		// Leave Raft first, then gossip, while HTTP still forwards.
		if err := a.leaveRaft(ctx); err != nil {
			a.log.Warn("leaving raft failed; the leader removes this agent after --dead-timeout", "err", err)
		}
		if err := a.gossip.Leave(5 * time.Second); err != nil {
			a.log.Warn("leaving gossip failed", "err", err)
		}
		a.gossip.Shutdown()
		a.stopBG()
		if err := a.httpSrv.Shutdown(ctx); err != nil {
			errs = append(errs, err)
		}
		a.wg.Wait()
		if err := a.raft.close(); err != nil {
			errs = append(errs, err)
		}
		stats := a.store.Snapshot()
		var parts []string
		for _, op := range []objstore.Op{objstore.OpPut, objstore.OpGet, objstore.OpDelete, objstore.OpList} {
			s := stats[op]
			parts = append(parts, fmt.Sprintf("%s=%d (%d bytes, %d errors)", op, s.Requests, s.Bytes, s.Errors))
		}
		a.log.Info("agent stopped", "object_store_requests", strings.Join(parts, " "))
		a.shutdownErr = errors.Join(errs...)
	})
	return a.shutdownErr
}

// advertised resolves the address clients dial.
func advertised(flag, bound string) (kafka.Broker, error) {
	addr := flag
	if addr == "" {
		host, port, err := net.SplitHostPort(bound)
		if err != nil {
			return kafka.Broker{}, err
		}
		if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
			if host, err = os.Hostname(); err != nil {
				return kafka.Broker{}, fmt.Errorf("kafka listener is bound to all interfaces and the hostname is unknown (%v); set --advertise-addr", err)
			}
		}
		addr = net.JoinHostPort(host, port)
	}
	host, port, err := splitHostPort(addr)
	if err != nil {
		return kafka.Broker{}, err
	}
	return kafka.Broker{Host: host, Port: int32(port)}, nil
}

// loadNodeID returns the configured id, or the one remembered in the data
// dir, creating a random one on first start so broker ids stay stable.
func loadNodeID(dir string, configured int32) (int32, error) {
	path := filepath.Join(dir, "node-id")
	if b, err := os.ReadFile(path); err == nil {
		stored, perr := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 32)
		if perr != nil || stored <= 0 {
			return 0, &FlagError{Flag: "data-dir", Err: fmt.Errorf("%s is corrupt (%q); remove it to pick a new id", path, b)}
		}
		if configured != 0 && int32(stored) != configured {
			return 0, &FlagError{Flag: "node-id", Err: fmt.Errorf("data dir %s belongs to node %d, not %d", dir, stored, configured)}
		}
		return int32(stored), nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return 0, &FlagError{Flag: "data-dir", Err: err}
	}
	id := configured
	if id == 0 {
		var b [4]byte
		if _, err := rand.Read(b[:]); err != nil {
			return 0, err
		}
		id = int32(binary.BigEndian.Uint32(b[:])&0x3fffffff) + 1
	}
	if err := os.WriteFile(path, []byte(strconv.Itoa(int(id))+"\n"), 0o644); err != nil {
		return 0, &FlagError{Flag: "data-dir", Err: err}
	}
	return id, nil
}

// BufferedBytes is the produce data held in memory right now: pending plus
// uploading. It never exceeds --max-buffered-bytes by more than one request.
func (a *Agent) BufferedBytes() int64 {
	a.flusher.mu.Lock()
	defer a.flusher.mu.Unlock()
	return a.flusher.buffered
}

// startGossip joins (or starts) the cluster's gossip, advertising this agent
// without a Kafka address until it is ready to serve.
func (a *Agent) startGossip(ctx context.Context) (*gossip.Gossip, error) {
	gc := gossip.DefaultConfig()
	if a.cfg.GossipFast {
		gc = gossip.TestProfile()
	}
	gc.BindAddr = a.cfg.GossipAddr
	gc.Join = a.cfg.Join
	gc.RetryJoin = a.cfg.RetryJoin
	if a.cfg.GossipKey != "" {
		key, err := gossip.ParseKey(a.cfg.GossipKey)
		if err != nil {
			return nil, &FlagError{Flag: "gossip-key", Err: err}
		}
		gc.SecretKey = key
	} else if a.cfg.ClusterSecret != "" {
		gc.SecretKey = deriveKey(a.cfg.ClusterSecret, purposeGossip)
	}
	gc.Meta = a.meta(false)
	gc.Meta.KafkaAddr = ""
	gc.Logger = a.log.With("component", "gossip")
	g, err := gossip.Start(ctx, gc)
	if err != nil {
		var ce *gossip.ConfigError
		if errors.As(err, &ce) {
			return nil, &FlagError{Flag: ce.Field, Err: ce.Err}
		}
		return nil, fmt.Errorf("start gossip on %s: %w", a.cfg.GossipAddr, err)
	}
	if f := a.cfg.PeerFilter; f != nil {
		g.Partition(func(addr string) bool { return f(hostOf(addr)) })
	}
	return g, nil
}

// meta is what this agent advertises over gossip.
func (a *Agent) meta(leaving bool) gossip.Meta {
	m := gossip.Meta{
		NodeID:    a.nodeID,
		KafkaAddr: a.AdvertisedAddr(),
		RaftAddr:  string(a.raft.transport.LocalAddr()),
		HTTPAddr:  a.httpAdvertise(),
		AZ:        a.cfg.AZ,
		StartedMs: a.ops.started.UnixMilli(),
		Listeners: a.listenerAddrs(),
	}
	if leaving {
		m.KafkaAddr, m.Listeners = "", nil
		m.Roles = []string{roleLeaving}
	}
	return m
}

// httpAdvertise is the HTTP address other agents use (forwarding, cache).
func (a *Agent) httpAdvertise() string {
	host, port, _ := net.SplitHostPort(a.httpLn.Addr().String())
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = a.advertise.Host
	}
	return net.JoinHostPort(host, port)
}

// leaveRaft removes this agent from the Raft configuration when others
// remain: a leader hands leadership over first, then the leader removes us.
func (a *Agent) leaveRaft(ctx context.Context) error {
	fut := a.raft.raft.GetConfiguration()
	if err := fut.Error(); err != nil {
		return err
	}
	if len(fut.Configuration().Servers) <= 1 {
		return nil // a cluster of one keeps its own configuration
	}
	if a.raft.raft.State() == raft.Leader {
		// Hand leadership to a voter that is staying; when every other
		// agent is leaving too, remove ourselves directly as leader.
		target, ok := a.stayingVoter(fut.Configuration().Servers)
		if !ok {
			return a.raft.raft.RemoveServer(a.raft.localID, 0, 10*time.Second).Error()
		}
		if err := a.raft.raft.LeadershipTransferToServer(target.ID, target.Address).Error(); err != nil {
			return fmt.Errorf("hand over leadership to %s: %w", target.ID, err)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return a.raft.requestRemoval(ctx)
}

// stayingVoter picks a voter other than this agent that gossip shows alive
// and not leaving.
func (a *Agent) stayingVoter(servers []raft.Server) (raft.Server, bool) {
	staying := map[string]bool{}
	for _, m := range a.gossip.Members() {
		if !m.Meta.HasRole(roleLeaving) {
			staying[strconv.Itoa(int(m.Meta.NodeID))] = true
		}
	}
	for _, s := range servers {
		if s.ID != a.raft.localID && s.Suffrage == raft.Voter && staying[string(s.ID)] {
			return s, true
		}
	}
	return raft.Server{}, false
}

// GossipAddr is the bound gossip address, for --join.
func (a *Agent) GossipAddr() string { return a.gossip.Addr() }

// RaftServers lists the Raft configuration: node id to "voter"/"nonvoter".
func (a *Agent) RaftServers() (map[string]string, error) {
	fut := a.raft.raft.GetConfiguration()
	if err := fut.Error(); err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, s := range fut.Configuration().Servers {
		out[string(s.ID)] = strings.ToLower(s.Suffrage.String())
	}
	return out, nil
}

// IsLeader reports whether this agent leads Raft.
func (a *Agent) IsLeader() bool { return a.raft.raft.State() == raft.Leader }

// Crash stops the agent the way kill -9 would look to the others: no
// flush, no leaving Raft or gossip, connections cut. Tests only.
func (a *Agent) Crash() {
	a.shutdownOnce.Do(func() {
		a.ready.Store(false)
		a.closeAdmin()
		a.gossip.Shutdown()
		a.closeKafkaListeners()
		a.httpLn.Close()
		a.httpSrv.Close()
		a.raft.raft.Shutdown().Error()
		a.raft.transport.Close()
		a.stopBG()
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // do not wait for anything
		a.kafka.Close(ctx)
		a.flusher.Close(ctx)
		a.raft.store.Close()
		a.shutdownErr = errors.New("crashed")
	})
}

// trackCachePeers keeps the cache ring equal to the live agents of this
// zone that serve, so block ownership follows membership.
func (a *Agent) trackCachePeers(ctx context.Context) {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		var nodes []cache.Node
		for _, m := range a.gossip.Members() {
			if m.Meta.AZ != a.cfg.AZ || m.Meta.HTTPAddr == "" || m.Meta.HasRole(roleLeaving) {
				continue
			}
			nodes = append(nodes, cache.Node{ID: m.Meta.NodeID, Addr: m.Meta.HTTPAddr})
		}
		if len(nodes) > 0 {
			a.peers.Set(nodes)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
