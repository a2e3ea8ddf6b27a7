// Package gossip tells every agent which agents are alive and how to reach
// them. It wraps hashicorp/memberlist (SWIM: random probes, indirect probes,
// suspicion, piggybacked dissemination) and adds what Wisp needs on top: a
// versioned Meta per agent, an event stream that never blocks memberlist,
// retrying joins, reconnection after a healed partition, and a partition
// fault seam for tests.
//
// Gossip says who is alive; it decides nothing about Raft votes. Only the
// Raft leader turns these events into membership changes.
package gossip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
)

// ErrShutdown is returned by calls on a Gossip after Shutdown.
var ErrShutdown = errors.New("gossip: shut down")

// Gossip is this agent's membership in the cluster. All methods are safe
// for concurrent use.
type Gossip struct {
	cfg    Config
	log    *slog.Logger
	name   string
	ml     *memberlist.Memberlist
	trans  *faultTransport
	events *eventQueue
	meta   atomic.Pointer[[]byte] // encoded Meta served to memberlist
	nodeID int32
	addr   string // advertised gossip host:port

	// members is the live membership, kept from memberlist's callbacks: the
	// *Node values memberlist.Members returns are written by its goroutines
	// without a lock the caller could take, so reading them races.
	membersMu sync.Mutex
	members   map[string]Member

	numMembers atomic.Int64 // len(members), for the broadcast queue

	failedMu sync.Mutex
	failed   map[string]failedMember // by name: reconnect candidates

	bcast     *memberlist.TransmitLimitedQueue // our user messages (leave intents)
	leavingMu sync.Mutex
	leaving   map[string]time.Time // name -> when its leave intent arrived

	stop         chan struct{}
	wg           sync.WaitGroup
	shutdown     atomic.Bool
	shutdownOnce sync.Once
	leaveMu      sync.Mutex // serialises Leave against Shutdown
}

type failedMember struct {
	addr  string
	meta  Meta
	since time.Time
}

// NodeName is the gossip name of the agent with node id id.
func NodeName(id int32) string { return "wisp-" + strconv.FormatInt(int64(id), 10) }

// Start binds the gossip listeners, announces cfg.Meta and joins cfg.Join.
// Without RetryJoin a failed join is an error; with it Start keeps trying
// until a seed answers, another agent joins this one, RetryMax attempts
// failed, or ctx ends. The listeners are up during the retries, so agents
// naming each other as seeds find each other whichever starts first.
// Errors about a Config field are *ConfigError naming the flag.
func Start(ctx context.Context, cfg Config) (_ *Gossip, err error) {
	cfg = cfg.withDefaults()
	if err := checkKey(cfg.SecretKey); err != nil {
		return nil, err
	}
	enc, err := EncodeMeta(cfg.Meta)
	if err != nil {
		return nil, err
	}
	host, port, err := splitHostPort(cfg.BindAddr)
	if err != nil {
		return nil, &ConfigError{Field: "gossip-addr", Err: err}
	}
	bindIP, err := resolveIP(host)
	if err != nil {
		return nil, &ConfigError{Field: "gossip-addr", Err: err}
	}
	seeds := make([]string, 0, len(cfg.Join))
	for _, s := range cfg.Join {
		n, err := normalizeSeed(s)
		if err != nil {
			return nil, &ConfigError{Field: "join", Err: fmt.Errorf("%q: %w", s, err)}
		}
		seeds = append(seeds, n)
	}

	g := &Gossip{
		cfg:     cfg,
		log:     cfg.Logger,
		name:    NodeName(cfg.Meta.NodeID),
		events:  newEventQueue(),
		nodeID:  cfg.Meta.NodeID,
		failed:  map[string]failedMember{},
		members: map[string]Member{},
		leaving: map[string]time.Time{},
		stop:    make(chan struct{}),
	}
	g.bcast = &memberlist.TransmitLimitedQueue{
		NumNodes:       func() int { return int(g.numMembers.Load()) },
		RetransmitMult: 4,
	}
	g.meta.Store(&enc)
	stdLog := newStdLogger(cfg.Logger)

	g.trans, err = newFaultTransport(bindIP, port, &memberlist.NetTransportConfig{Logger: stdLog})
	if err != nil {
		return nil, &ConfigError{Field: "gossip-addr", Err: err}
	}
	bound := g.trans.port()

	mc := memberlist.DefaultLANConfig()
	mc.Name = g.name
	mc.Transport = g.trans
	mc.BindAddr, mc.BindPort = bindIP, bound
	if mc.AdvertiseAddr, mc.AdvertisePort, err = advertise(cfg.AdvertiseAddr, bound); err != nil {
		g.trans.Shutdown()
		return nil, &ConfigError{Field: "gossip-advertise-addr", Err: err}
	}
	advIP, advPort, err := g.trans.FinalAdvertiseAddr(mc.AdvertiseAddr, mc.AdvertisePort)
	if err != nil {
		g.trans.Shutdown()
		return nil, &ConfigError{Field: "gossip-advertise-addr", Err: err}
	}
	g.addr = net.JoinHostPort(advIP.String(), strconv.Itoa(advPort))
	mc.SecretKey = cfg.SecretKey
	mc.ProbeInterval = cfg.ProbeInterval
	mc.ProbeTimeout = cfg.ProbeTimeout
	mc.GossipInterval = cfg.GossipInterval
	mc.PushPullInterval = cfg.PushPullInterval
	mc.SuspicionMult = cfg.SuspicionMult
	mc.TCPTimeout = cfg.TCPTimeout
	mc.GossipToTheDeadTime = cfg.GossipToTheDeadTime
	mc.DeadNodeReclaimTime = cfg.DeadNodeReclaimTime
	mc.Delegate = (*metaDelegate)(g)
	mc.Events = (*eventDelegate)(g)
	mc.Logger = stdLog

	if g.ml, err = memberlist.Create(mc); err != nil {
		g.trans.Shutdown()
		return nil, &ConfigError{Field: "gossip-addr", Err: err}
	}
	g.wg.Add(2)
	go func() {
		defer g.wg.Done()
		g.events.run(g.stop)
	}()
	go func() {
		defer g.wg.Done()
		g.reconnectLoop()
	}()
	defer func() {
		if err != nil {
			g.Shutdown()
		}
	}()
	if len(seeds) > 0 {
		if err := g.join(ctx, seeds); err != nil {
			return nil, err
		}
	}
	g.log.Info("gossip started", "name", g.name, "addr", g.Addr(), "members", g.ml.NumMembers(),
		"encrypted", len(cfg.SecretKey) > 0)
	return g, nil
}

// join contacts seeds, retrying when configured (see Start).
func (g *Gossip) join(ctx context.Context, seeds []string) error {
	for attempt := 1; ; attempt++ {
		n, err := g.ml.Join(seeds)
		if err == nil {
			g.log.Info("gossip joined", "seeds", seeds, "contacted", n)
			return nil
		}
		if g.ml.NumMembers() > 1 {
			g.log.Info("gossip joined by a peer while seeds were unreachable", "seeds", seeds)
			return nil
		}
		if !g.cfg.RetryJoin || (g.cfg.RetryMax > 0 && attempt >= g.cfg.RetryMax) {
			return &ConfigError{Field: "join", Err: fmt.Errorf("no seed of %v answered after %d attempt(s): %w", seeds, attempt, err)}
		}
		g.log.Warn("gossip join failed, retrying", "seeds", seeds, "attempt", attempt, "err", err)
		t := time.NewTimer(g.cfg.RetryInterval)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return &ConfigError{Field: "join", Err: fmt.Errorf("gave up joining %v: %w", seeds, ctx.Err())}
		}
	}
}

// advertise parses the advertise address: "" lets the transport choose the
// IP; a missing port means the bound one.
func advertise(addr string, bound int) (ip string, port int, err error) {
	if addr == "" {
		return "", bound, nil
	}
	host, port, err := splitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		port = bound
	}
	if host == "" {
		return "", port, nil // only the port given: the transport picks the IP
	}
	if ip, err = resolveIP(host); err != nil {
		return "", 0, err
	}
	return ip, port, nil
}

// Addr is the gossip host:port other agents reach this one at (use it as a
// --join seed).
func (g *Gossip) Addr() string { return g.addr }

// Members returns the live members, the local one included (until it
// leaves), sorted by node id. A suspect member stays listed, as Alive, until
// the failure detector declares it dead: memberlist reports no event for
// suspicion. Members whose Meta cannot be decoded (not Wisp agents) are
// left out.
func (g *Gossip) Members() []Member {
	g.membersMu.Lock()
	out := make([]Member, 0, len(g.members))
	for _, m := range g.members {
		out = append(out, m)
	}
	g.membersMu.Unlock()
	slices.SortFunc(out, func(a, b Member) int {
		if a.Meta.NodeID != b.Meta.NodeID {
			if a.Meta.NodeID < b.Meta.NodeID {
				return -1
			}
			return 1
		}
		if a.Name < b.Name {
			return -1
		}
		if a.Name > b.Name {
			return 1
		}
		return 0
	})
	return out
}

// LocalMember returns this agent: its name, advertised address and current
// Meta.
func (g *Gossip) LocalMember() Member {
	meta, _ := DecodeMeta(*g.meta.Load()) // we encoded it: cannot fail
	return Member{Name: g.name, Addr: g.addr, Meta: meta, State: StateAlive}
}

// Events returns the stream of membership changes, in the order memberlist
// saw them, starting with the local member's Join. Every change is kept (no
// event is dropped) until read; the channel is closed by Shutdown. The same
// channel is returned on every call: use one consumer.
func (g *Gossip) Events() <-chan Event { return g.events.out }

// UpdateMeta replaces the local Meta and broadcasts it; peers see an
// EventUpdate. The node id cannot change (it is part of the member name).
// It waits for the broadcast to go out for at most the TCP timeout; on a
// timeout error the new Meta is still in effect and spreads by push/pull.
func (g *Gossip) UpdateMeta(m Meta) error {
	if g.shutdown.Load() {
		return ErrShutdown
	}
	if m.NodeID != g.nodeID {
		return fmt.Errorf("gossip: meta node id %d differs from this agent's %d", m.NodeID, g.nodeID)
	}
	enc, err := EncodeMeta(m)
	if err != nil {
		return err
	}
	g.meta.Store(&enc)
	if err := g.ml.UpdateNode(g.cfg.TCPTimeout); err != nil {
		// The meta is already in effect; only the eager broadcast lagged.
		return fmt.Errorf("%w: %v", ErrBroadcastPending, err)
	}
	return nil
}

// ErrBroadcastPending is UpdateMeta's answer when the eager broadcast did
// not finish in time (a loaded or congested host): the new Meta is in
// effect and reaches peers by push/pull, so callers may treat it as a
// warning.
var ErrBroadcastPending = errors.New("gossip: meta broadcast still pending")

// Leave departs gracefully, so peers see EventLeave rather than EventFail:
// it gossips a leave intent, then memberlist's leave message, then keeps
// gossiping for LeavePropagateDelay so the news spreads; all within
// timeout. Call Shutdown afterwards.
func (g *Gossip) Leave(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	if g.shutdown.Load() {
		return ErrShutdown
	}
	g.announceLeave(time.Now().Add(timeout / 2))
	g.leaveMu.Lock()
	if g.shutdown.Load() {
		g.leaveMu.Unlock()
		return ErrShutdown // memberlist panics on Leave after Shutdown
	}
	err := g.ml.Leave(max(time.Until(deadline), time.Millisecond))
	g.leaveMu.Unlock()
	if err != nil {
		return fmt.Errorf("gossip: leave: %w", err)
	}
	wait := min(g.cfg.LeavePropagateDelay, time.Until(deadline))
	if wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-t.C:
		case <-g.stop:
		}
	}
	g.log.Info("gossip left the cluster")
	return nil
}

// Shutdown stops gossiping without announcing it: peers will declare this
// agent failed (use Leave first to depart gracefully). Closes the Events
// channel. Idempotent.
func (g *Gossip) Shutdown() error {
	var err error
	g.shutdownOnce.Do(func() {
		g.leaveMu.Lock()
		g.shutdown.Store(true)
		g.leaveMu.Unlock()
		err = g.ml.Shutdown()
		close(g.stop)
		g.wg.Wait()
	})
	return err
}

// Partition is the fault seam for tests: while blocked(addr) is true, this
// agent drops UDP packets to and from the gossip address addr (host:port)
// and refuses to dial it. A nil blocked heals. Inbound TCP streams cannot be
// attributed to a peer's gossip address (their source port is ephemeral),
// so a peer could still reach this agent over TCP: to cut an agent off
// completely, partition both sides (the agent blocks everyone, and everyone
// blocks the agent). After healing, both sides reconnect within
// ReconnectInterval.
func (g *Gossip) Partition(blocked func(addr string) bool) { g.trans.setBlocked(blocked) }

// memberOf converts a memberlist node; call it only from a memberlist
// callback, where reading n is safe.
func memberOf(n *memberlist.Node) (Member, error) {
	meta, err := DecodeMeta(n.Meta)
	if err != nil {
		return Member{}, fmt.Errorf("member %s: %w", n.Name, err)
	}
	return Member{
		Name:  n.Name,
		Addr:  net.JoinHostPort(n.Addr.String(), strconv.Itoa(int(n.Port))),
		Meta:  meta,
		State: StateAlive,
	}, nil
}

// reconnectLoop dials one failed member every ReconnectInterval. memberlist
// alone never talks to a member it declared dead again, so without this the
// two sides of a healed partition would each go on believing the other dead.
func (g *Gossip) reconnectLoop() {
	t := time.NewTicker(g.cfg.ReconnectInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-g.stop:
			return
		}
		addr, ok := g.pickFailed()
		if !ok {
			continue
		}
		if _, err := g.ml.Join([]string{addr}); err != nil {
			g.log.Debug("gossip reconnect failed", "addr", addr, "err", err)
		}
	}
}

// pickFailed returns a random failed member's address, forgetting those
// failed longer than ReconnectTimeout.
func (g *Gossip) pickFailed() (string, bool) {
	g.failedMu.Lock()
	defer g.failedMu.Unlock()
	var addrs []string
	for name, f := range g.failed {
		if time.Since(f.since) > g.cfg.ReconnectTimeout {
			delete(g.failed, name)
			continue
		}
		addrs = append(addrs, f.addr)
	}
	if len(addrs) == 0 {
		return "", false
	}
	return addrs[rand.IntN(len(addrs))], true
}

// metaDelegate serves the local Meta and our user messages (leave intents,
// see leave.go) to memberlist; no state rides on push/pull.
type metaDelegate Gossip

func (d *metaDelegate) NodeMeta(limit int) []byte {
	b := *(*Gossip)(d).meta.Load()
	if len(b) > limit { // EncodeMeta already enforced MaxMetaSize; never panic memberlist
		return nil
	}
	return b
}
func (d *metaDelegate) NotifyMsg(b []byte) { (*Gossip)(d).handleMsg(b) }
func (d *metaDelegate) GetBroadcasts(overhead, limit int) [][]byte {
	return d.bcast.GetBroadcasts(overhead, limit)
}
func (d *metaDelegate) LocalState(bool) []byte              { return nil }
func (d *metaDelegate) MergeRemoteState(buf []byte, _ bool) {}

// eventDelegate turns memberlist callbacks into Events. memberlist calls it
// holding its node lock: it must not block or call back into memberlist.
type eventDelegate Gossip

func (d *eventDelegate) NotifyJoin(n *memberlist.Node)   { d.emit(EventJoin, n) }
func (d *eventDelegate) NotifyUpdate(n *memberlist.Node) { d.emit(EventUpdate, n) }
func (d *eventDelegate) NotifyLeave(n *memberlist.Node) {
	// n.State is not maintained by memberlist: see leave.go.
	if (*Gossip)(d).takeIntent(n.Name) {
		d.emit(EventLeave, n)
	} else {
		d.emit(EventFail, n)
	}
}

func (d *eventDelegate) emit(t EventType, n *memberlist.Node) {
	g := (*Gossip)(d)
	m, err := memberOf(n)
	if err != nil {
		g.log.Warn("gossip: ignoring member with undecodable meta", "name", n.Name, "err", err)
		return
	}
	switch t {
	case EventLeave:
		m.State = StateLeft
	case EventFail:
		m.State = StateDead
	case EventJoin:
		g.leavingMu.Lock()
		delete(g.leaving, m.Name) // back after leaving: an old intent no longer applies
		g.leavingMu.Unlock()
	}
	g.membersMu.Lock()
	if t == EventJoin || t == EventUpdate {
		g.members[m.Name] = m
	} else {
		delete(g.members, m.Name)
	}
	g.numMembers.Store(int64(len(g.members)))
	g.membersMu.Unlock()
	if n.Name != g.name {
		g.failedMu.Lock()
		if t == EventFail {
			g.failed[n.Name] = failedMember{addr: m.Addr, meta: m.Meta, since: time.Now()}
		} else {
			delete(g.failed, n.Name)
		}
		g.failedMu.Unlock()
	}
	g.log.Debug("gossip member event", "event", t, "name", m.Name, "addr", m.Addr)
	g.events.push(Event{Type: t, Member: m})
}
