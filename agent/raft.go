package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"

	"github.com/wisp-stream/wisp/fsm"
)

// raftNode is this agent's Raft replica of the metadata state machine.
type raftNode struct {
	raft      *raft.Raft
	transport *raft.NetworkTransport
	store     *raftboltdb.BoltStore
	fsm       *fsm.FSM
	localID   raft.ServerID
	// existing is true when the data dir already held Raft state: such an
	// agent never bootstraps, it rejoins what it had.
	existing bool
	// auth authenticates Raft streams with the cluster secret; nil without one.
	auth *authStream

	// peerHTTP finds another agent's HTTP address for forwarding; nil
	// until gossip is up.
	peerHTTP func(nodeID int32) (string, bool)
	http     *http.Client

	// barrierTerm is the last term in which this agent, as leader, saw a
	// barrier through (leaderCurrent).
	barrierTerm atomic.Uint64
}

func openRaft(cfg *Config, nodeID int32, advertiseHost string, f *fsm.FSM, log *slog.Logger) (*raftNode, error) {
	dir := filepath.Join(cfg.DataDir, "raft")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, &FlagError{Flag: "data-dir", Err: fmt.Errorf("cannot create %s: %w", dir, err)}
	}
	hl := hclog.New(&hclog.LoggerOptions{
		Name:   "raft",
		Level:  hclog.Warn,
		Output: slogWriter{log.With("component", "raft")},
	})

	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(strconv.Itoa(int(nodeID)))
	rc.Logger = hl
	scale := func(d time.Duration) time.Duration { return time.Duration(float64(d) * cfg.RaftTimeoutScale) }
	rc.HeartbeatTimeout = scale(time.Second)
	rc.ElectionTimeout = scale(time.Second)
	rc.LeaderLeaseTimeout = scale(500 * time.Millisecond)
	// A follower learns that an entry committed only from the leader's next
	// AppendEntries (heartbeats do not carry the commit index), and a
	// forwarded write answers its producer once the follower has applied
	// it. Without new entries the leader sends one after CommitTimeout to
	// 2 x CommitTimeout: at 5 ms a follower waits 7 ms on average in a
	// 3-agent cluster at 5 MiB/s, at 1 ms 1.2 ms, but an idle 3-agent
	// cluster then takes 32% of a core instead of 17%.
	rc.CommitTimeout = 5 * time.Millisecond
	rc.SnapshotInterval = 60 * time.Second
	rc.SnapshotThreshold = 4096
	rc.TrailingLogs = 4096

	store, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(dir, "raft.db")})
	if err != nil {
		return nil, &FlagError{Flag: "data-dir", Err: fmt.Errorf("cannot open the raft log in %s (is another agent using this data dir?): %w", dir, err)}
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(dir, 2, hl)
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("open raft snapshots in %s: %w", dir, err)
	}
	advertise, err := raftAdvertise(cfg.RaftAddr, advertiseHost)
	if err != nil {
		store.Close()
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.RaftAddr)
	if err != nil {
		store.Close()
		return nil, &FlagError{Flag: "raft-addr", Err: fmt.Errorf("cannot listen on %s: %w", cfg.RaftAddr, err)}
	}
	stream := &raftStream{Listener: ln, advertise: advertise, dial: peerDialer{local: localTCPAddr(cfg.RaftAddr), blocked: cfg.PeerFilter}}
	if cfg.PeerFilter != nil {
		stream.Listener = &filteredListener{Listener: ln, blocked: cfg.PeerFilter}
	}
	var layer raft.StreamLayer = stream
	var auth *authStream
	if cfg.ClusterSecret != "" {
		auth = newAuthStream(stream, cfg.ClusterSecret, log.With("component", "raft"))
		layer = auth
	}
	transport := raft.NewNetworkTransportWithLogger(layer, 3, 10*time.Second, hl)
	existing, err := raft.HasExistingState(store, store, snaps)
	if err != nil {
		transport.Close()
		store.Close()
		return nil, fmt.Errorf("inspect raft state in %s: %w", dir, err)
	}
	r, err := raft.NewRaft(rc, f, store, store, snaps, transport)
	if err != nil {
		transport.Close()
		store.Close()
		return nil, fmt.Errorf("start raft: %w", err)
	}
	if existing {
		log.Info("raft state found in the data dir: rejoining the cluster it belongs to", "dir", dir)
	}
	return &raftNode{raft: r, transport: transport, store: store, fsm: f, localID: rc.LocalID, existing: existing,
		auth: auth, http: peerHTTPClient(cfg)}, nil
}

// peerHTTPClient is the client for agent-to-agent HTTP (forwarding, cache).
func peerHTTPClient(cfg *Config) *http.Client {
	d := peerDialer{local: localTCPAddr(cfg.HTTPAddr), blocked: cfg.PeerFilter}
	return &http.Client{
		Timeout:   30 * time.Second,
		Transport: peerTransport(cfg, &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 16, IdleConnTimeout: time.Minute}),
	}
}

// raftAdvertise is the address other agents reach this one's Raft at: the
// bind address, with an unspecified host replaced by the Kafka advertised
// host. Port 0 lets the transport advertise the port it bound.
func raftAdvertise(bind, advertiseHost string) (net.Addr, error) {
	host, port, _ := splitHostPort(bind)
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = advertiseHost
	}
	if port == 0 {
		return nil, nil
	}
	addr, err := net.ResolveTCPAddr("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return nil, &FlagError{Flag: "raft-addr", Err: fmt.Errorf("cannot resolve an advertisable raft address: %w", err)}
	}
	return addr, nil
}

// apply commits cmd through Raft and returns the state machine's response.
// It is the one write path to the metadata: on a follower it forwards to the
// leader, and while no leader is known (an election) it holds and retries
// until ctx ends, so callers see an election as latency, not an error.
func (n *raftNode) apply(ctx context.Context, cmd fsm.Command) (any, error) {
	data, err := fsm.Encode(cmd)
	if err != nil {
		return nil, fmt.Errorf("encode %T: %w", cmd, err)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
	}
	backoff := 10 * time.Millisecond
	for {
		res, err := n.applyOnce(ctx, data)
		if err == nil {
			return res, nil
		}
		if !errors.Is(err, errNoLeader) && !errors.Is(err, raft.ErrNotLeader) {
			return nil, fmt.Errorf("raft apply %T: %w", cmd, err)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("raft apply %T: %w (%w)", cmd, err, ctx.Err())
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 250*time.Millisecond)
	}
}

func (n *raftNode) applyOnce(ctx context.Context, data []byte) (any, error) {
	if n.raft.State() != raft.Leader {
		if n.peerHTTP == nil {
			return nil, errNoLeader
		}
		return n.forward(ctx, data)
	}
	dl, _ := ctx.Deadline()
	fut := n.raft.Apply(data, time.Until(dl))
	if err := fut.Error(); err != nil {
		return nil, err
	}
	if err, ok := fut.Response().(error); ok {
		return nil, err
	}
	return fut.Response(), nil
}

// bootstrapSelf makes this agent a cluster of one.
func (n *raftNode) bootstrapSelf() error {
	boot := raft.Configuration{Servers: []raft.Server{{
		Suffrage: raft.Voter,
		ID:       n.localID,
		Address:  n.transport.LocalAddr(),
	}}}
	if err := n.raft.BootstrapCluster(boot).Error(); err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
		return fmt.Errorf("bootstrap raft: %w", err)
	}
	return nil
}

// waitLeader waits until this node leads (single-agent clusters) or knows a
// leader.
func (n *raftNode) waitLeader(ctx context.Context) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		if addr, _ := n.raft.LeaderWithID(); addr != "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("no raft leader elected: %w", ctx.Err())
		case <-t.C:
		}
	}
}

// waitCaughtUp waits until this replica's state machine has applied
// everything the cluster has committed, so an agent never serves stale
// metadata: neither one joining a cluster nor one restarted on its data
// dir, which replays its log through the state machine.
func (n *raftNode) waitCaughtUp(ctx context.Context) error {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		err := n.catchUp(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("metadata replica did not catch up (applied %d, committed %d here; last: %v): %w",
				n.fsm.AppliedIndex(), n.raft.CommitIndex(), err, ctx.Err())
		case <-t.C:
		}
	}
}

// catchUp tries once to bring the state machine up to date. Raft's own
// counters are not enough: AppliedIndex counts entries handed to the state
// machine, which may still be working through hundreds of them; a
// follower's CommitIndex rises one AppendEntries batch at a time while the
// log streams in; a new leader's counts the entries of earlier terms only
// once one of its own commits. So the leader waits for a barrier, after
// which the state machine has applied everything before it, and a follower
// for the leader's last committed command.
func (n *raftNode) catchUp(ctx context.Context) error {
	if n.raft.State() == raft.Leader {
		return n.leaderCurrent()
	}
	return n.syncWithLeader(ctx)
}

// leaderCurrent makes sure this leader's commit index covers the entries of
// earlier terms, which a new leader counts only once an entry of its own
// term commits, and that its state machine has applied them: one barrier
// per term.
func (n *raftNode) leaderCurrent() error {
	term := n.raft.CurrentTerm()
	if n.barrierTerm.Load() == term {
		return nil
	}
	if err := n.raft.Barrier(5 * time.Second).Error(); err != nil {
		return err
	}
	n.barrierTerm.Store(term)
	return nil
}

// lastCommandAt returns the index of the last command entry at or before
// index, the highest index the state machine can report as applied: Raft's
// own entries (a new leader's no-op, configuration changes, barriers) never
// reach it. 0 if the entries are compacted into a snapshot, which the state
// machine restores whole before Raft counts it as applied.
func (n *raftNode) lastCommandAt(index uint64) uint64 {
	var l raft.Log
	for i := index; i > 0; i-- {
		if err := n.store.GetLog(i, &l); err != nil {
			return 0
		}
		if l.Type == raft.LogCommand {
			return i
		}
	}
	return 0
}

func (n *raftNode) close() error {
	var errs []error
	if err := n.raft.Shutdown().Error(); err != nil {
		errs = append(errs, fmt.Errorf("raft shutdown: %w", err))
	}
	if err := n.transport.Close(); err != nil {
		errs = append(errs, err)
	}
	if err := n.store.Close(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// slogWriter forwards hclog's text lines to slog, so the agent has one logger.
type slogWriter struct{ log *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	line := string(bytes.TrimSpace(p))
	switch {
	case bytes.Contains(p, []byte("[ERROR]")):
		w.log.Error(line)
	case bytes.Contains(p, []byte("[WARN]")):
		w.log.Warn(line)
	default:
		w.log.Info(line)
	}
	return len(p), nil
}
