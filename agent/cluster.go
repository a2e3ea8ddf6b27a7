package agent

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/wisp-stream/wisp/gossip"
	"github.com/wisp-stream/wisp/kafka"
)

// Gossip says who is alive; Raft says who votes. Only the Raft leader turns
// gossip into membership changes: alive agents missing from the Raft
// configuration join it (as voters up to --raft-voters, then non-voters),
// agents gone from gossip longer than --dead-timeout leave it, and a
// non-voter is promoted whenever a voter slot is free.

// peers answers questions about other agents from gossip.
type peers struct{ g *gossip.Gossip }

func (p peers) member(nodeID int32) (gossip.Member, bool) {
	for _, m := range p.g.Members() {
		if m.Meta.NodeID == nodeID {
			return m, true
		}
	}
	return gossip.Member{}, false
}

func (p peers) httpAddr(nodeID int32) (string, bool) {
	m, ok := p.member(nodeID)
	if !ok || m.Meta.HTTPAddr == "" {
		return "", false
	}
	return m.Meta.HTTPAddr, true
}

// brokers lists the live agents that serve Kafka, sorted by node id, at
// their main (first listener's) address.
func (p peers) brokers() []kafka.Broker { return p.brokersOn("") }

// bootstrapExpected waits until gossip shows expect agents, then, if this
// agent is among the expect lowest node ids, bootstraps Raft with exactly
// those as voters. Every agent computes the same set, so they agree.
func bootstrapExpected(ctx context.Context, r *raftNode, g *gossip.Gossip, expect int, log *slog.Logger) error {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	logged := false
	for {
		members := g.Members()
		if len(members) >= expect {
			slices.SortFunc(members, func(a, b gossip.Member) int { return int(a.Meta.NodeID) - int(b.Meta.NodeID) })
			var servers []raft.Server
			self := false
			for _, m := range members[:expect] {
				id := raft.ServerID(strconv.Itoa(int(m.Meta.NodeID)))
				self = self || id == r.localID
				servers = append(servers, raft.Server{Suffrage: raft.Voter, ID: id, Address: raft.ServerAddress(m.Meta.RaftAddr)})
			}
			if !self {
				log.Info("enough agents to bootstrap without this one; waiting to be added by the leader", "expect", expect)
				return nil
			}
			err := r.raft.BootstrapCluster(raft.Configuration{Servers: servers}).Error()
			if err != nil && err != raft.ErrCantBootstrap {
				return fmt.Errorf("bootstrap raft with %d voters: %w", expect, err)
			}
			log.Info("bootstrapped raft", "voters", len(servers))
			return nil
		}
		if !logged {
			log.Info("waiting for agents to bootstrap the cluster", "have", len(members), "expect", expect)
			logged = true
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("only %d of --bootstrap-expect %d agents found: %w", len(members), expect, ctx.Err())
		case <-t.C:
		}
	}
}

// roleLeaving marks an agent that is shutting down gracefully, so the leader
// does not add it back between its removal from Raft and from gossip.
const roleLeaving = "leaving"

// membership runs on the leader only; leaderLoop starts and stops it.
type membership struct {
	r           *raftNode
	g           *gossip.Gossip
	voters      int
	deadTimeout time.Duration
	log         *slog.Logger

	mu      sync.Mutex
	missing map[raft.ServerID]time.Time
	left    map[raft.ServerID]bool
}

// leaderLoop is leadership as a goroutine lifecycle: on gaining it, wait
// for a barrier (so the FSM is current), then reconcile until it is lost.
func (m *membership) leaderLoop(ctx context.Context) {
	var run *leaderRun
	defer func() { run.stop() }()
	check := time.NewTicker(250 * time.Millisecond)
	defer check.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-check.C:
		case ev := <-m.g.Events():
			if ev.Type == gossip.EventLeave {
				m.mu.Lock()
				m.left[raft.ServerID(strconv.Itoa(int(ev.Member.Meta.NodeID)))] = true
				m.mu.Unlock()
			}
		}
		leading := m.r.raft.State() == raft.Leader
		switch {
		case leading && run == nil:
			if err := m.r.raft.Barrier(5 * time.Second).Error(); err != nil {
				m.log.Warn("barrier after gaining leadership failed", "err", err)
			}
			run = m.startReconciling(ctx)
		case !leading && run != nil:
			run.stop()
			run = nil
		}
	}
}

// leaderRun is one term's leader-only goroutine.
type leaderRun struct {
	cancel context.CancelFunc
	done   chan struct{}
}

func (r *leaderRun) stop() {
	if r == nil {
		return
	}
	r.cancel()
	<-r.done
}

func (m *membership) startReconciling(ctx context.Context) *leaderRun {
	ctx, cancel := context.WithCancel(ctx)
	run := &leaderRun{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(run.done)
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			m.reconcile()
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return run
}

func (m *membership) reconcile() {
	fut := m.r.raft.GetConfiguration()
	if err := fut.Error(); err != nil {
		return
	}
	servers := fut.Configuration().Servers
	alive := map[raft.ServerID]gossip.Member{}
	leaving := map[raft.ServerID]bool{}
	for _, mem := range m.g.Members() {
		id := raft.ServerID(strconv.Itoa(int(mem.Meta.NodeID)))
		alive[id] = mem
		leaving[id] = slices.Contains(mem.Meta.Roles, roleLeaving)
	}
	inConfig := map[raft.ServerID]raft.Server{}
	voters := 0
	for _, s := range servers {
		inConfig[s.ID] = s
		if s.Suffrage == raft.Voter {
			voters++
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now()

	// Remove agents that left gracefully or have been gone too long.
	for _, s := range servers {
		if s.ID == m.r.localID {
			continue
		}
		if _, ok := alive[s.ID]; ok {
			delete(m.missing, s.ID)
			continue
		}
		since, seen := m.missing[s.ID]
		if !seen {
			m.missing[s.ID] = now
			since = now
		}
		if m.left[s.ID] || now.Sub(since) >= m.deadTimeout {
			if err := m.r.raft.RemoveServer(s.ID, 0, 5*time.Second).Error(); err != nil {
				m.log.Warn("removing agent from raft failed", "node", s.ID, "err", err)
				continue
			}
			m.log.Info("removed agent from raft", "node", s.ID, "graceful", m.left[s.ID])
			delete(m.missing, s.ID)
			delete(m.left, s.ID)
			if s.Suffrage == raft.Voter {
				voters--
			}
			delete(inConfig, s.ID)
		}
	}

	// Add new agents, voters first; promote non-voters into free slots.
	ids := make([]raft.ServerID, 0, len(alive))
	for id := range alive {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		if leaving[id] {
			continue // on its way out: removing it is the agent's own job
		}
		mem := alive[id]
		s, known := inConfig[id]
		addr := raft.ServerAddress(mem.Meta.RaftAddr)
		switch {
		case known && s.Address != addr:
			// Restarted on a new address: re-adding an existing id updates it.
			var err error
			if s.Suffrage == raft.Voter {
				err = m.r.raft.AddVoter(id, addr, 0, 10*time.Second).Error()
			} else {
				err = m.r.raft.AddNonvoter(id, addr, 0, 10*time.Second).Error()
			}
			if err != nil {
				m.log.Warn("updating agent's raft address failed", "node", id, "err", err)
			} else {
				m.log.Info("agent's raft address changed", "node", id, "addr", addr)
			}
			continue
		case known && s.Suffrage == raft.Voter:
			continue
		case voters < m.voters:
			if err := m.r.raft.AddVoter(id, addr, 0, 10*time.Second).Error(); err != nil {
				m.log.Warn("adding voter failed", "node", id, "err", err)
				continue
			}
			voters++
			m.log.Info("agent is a raft voter", "node", id, "addr", addr, "promoted", known)
		case !known:
			if err := m.r.raft.AddNonvoter(id, addr, 0, 10*time.Second).Error(); err != nil {
				m.log.Warn("adding non-voter failed", "node", id, "err", err)
				continue
			}
			m.log.Info("agent follows raft as a non-voter", "node", id, "addr", addr)
		}
	}
}
