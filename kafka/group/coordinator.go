// Package group is Wisp's consumer group coordinator: group membership,
// generations, rebalances and their timers, for the classic protocol
// (JoinGroup, SyncGroup, Heartbeat, LeaveGroup) and for the KIP-848 consumer
// protocol (ConsumerGroupHeartbeat with server-side assignment).
//
// Membership lives in memory on the coordinating agent: after a restart
// members rejoin. Committed offsets are not kept here; they are replicated
// state the protocol layer reads and writes through Raft. The coordinator
// only validates commits (member, generation, epoch) and learns from the
// Metadata interface which groups have offsets, so that a group known only by
// its offsets exists as an Empty group, as it does in Kafka.
//
// Requests and responses are franz-go kmsg values. Every method is safe for
// concurrent use: one mutex guards all groups, and no method waits on the
// network, on Raft or on a client while holding it (JoinGroup and SyncGroup
// answers that must wait are delivered later on a channel). Timers (one per
// member session, one per group phase) run their work under the same mutex;
// no goroutine polls.
package group

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Config tunes the coordinator. Zero values take Kafka's defaults, except
// where noted.
type Config struct {
	// MinSessionTimeout and MaxSessionTimeout bound the session timeout a
	// classic member may ask for (group.min/max.session.timeout.ms).
	MinSessionTimeout time.Duration // default 6s
	MaxSessionTimeout time.Duration // default 30m
	// InitialRebalanceDelay holds the first rebalance of an empty group
	// open for more members (group.initial.rebalance.delay.ms). Kafka's
	// default is 3s; Wisp's is 0, set it to have Kafka's behaviour. A
	// negative value also means 0.
	InitialRebalanceDelay time.Duration
	// NewMemberJoinTimeout expires a classic member that joined but never
	// completed its first join phase.
	NewMemberJoinTimeout time.Duration // default 5m
	// ConsumerSessionTimeout and ConsumerHeartbeatInterval are the KIP-848
	// group.consumer.session.timeout.ms and heartbeat.interval.ms.
	ConsumerSessionTimeout    time.Duration // default 45s
	ConsumerHeartbeatInterval time.Duration // default 5s
	// EmptyGroupRetention is how long a group without members and without
	// committed offsets is kept (listed as Empty) before it is forgotten,
	// like Kafka's periodic group cleanup.
	EmptyGroupRetention time.Duration // default 10m
	// MaxGroupSize bounds the members of one group; 0 means no bound.
	MaxGroupSize int
	// Logger receives rebalance events; nil discards.
	Logger *slog.Logger
}

func (c *Config) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.MinSessionTimeout, 6*time.Second)
	def(&c.MaxSessionTimeout, 30*time.Minute)
	def(&c.NewMemberJoinTimeout, 5*time.Minute)
	def(&c.ConsumerSessionTimeout, 45*time.Second)
	def(&c.ConsumerHeartbeatInterval, 5*time.Second)
	def(&c.EmptyGroupRetention, 10*time.Minute)
	if c.InitialRebalanceDelay < 0 {
		c.InitialRebalanceDelay = 0
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Topic is what server-side assignment needs to know about a topic.
type Topic struct {
	Name       string
	ID         [16]byte
	Partitions int32
}

// Metadata is the replicated state the coordinator reads. Its methods are
// called with the coordinator's mutex held, so they must not call back into
// the coordinator.
type Metadata interface {
	// Topic looks a topic up by name; TopicByID by id.
	Topic(name string) (Topic, bool)
	TopicByID(id [16]byte) (Topic, bool)
	// Topics lists all topics, for regular-expression subscriptions.
	Topics() []Topic
	// HasOffsets reports whether a group has committed offsets, and
	// OffsetGroups lists all such groups.
	HasOffsets(group string) bool
	OffsetGroups() []string
}

// Client describes the connection a request came from.
type Client struct {
	ID   string // client.id
	Host string // as Kafka shows it: "/" + IP address
}

// Coordinator holds the groups this agent coordinates.
type Coordinator struct {
	cfg Config
	md  Metadata
	log *slog.Logger

	mu     sync.Mutex
	closed bool
	groups map[string]*group
}

// New returns a running coordinator; Close stops it.
func New(cfg Config, md Metadata) *Coordinator {
	cfg.setDefaults()
	return &Coordinator{cfg: cfg, md: md, log: cfg.Logger, groups: make(map[string]*group)}
}

// group is one group id: a classic group or a consumer (KIP-848) group. An
// empty group of one kind becomes the other kind when a member of the other
// protocol joins, as in Kafka.
type group struct {
	id       string
	classic  *classicGroup  // set for classic groups
	consumer *consumerGroup // set for consumer groups
	// emptyTimer forgets the group once it has stayed empty, without
	// offsets, for EmptyGroupRetention.
	emptyTimer *time.Timer
}

// Close stops every timer and answers every parked JoinGroup and SyncGroup
// with NOT_COORDINATOR, so their clients find the coordinator again. Later
// calls answer NOT_COORDINATOR. Safe to call more than once.
func (c *Coordinator) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	c.closed = true
	for _, g := range c.groups {
		g.stop(kerr.NotCoordinator.Code)
	}
	c.groups = make(map[string]*group)
}

// stop cancels the group's timers and answers its parked requests with code.
func (g *group) stop(code int16) {
	stopTimer(&g.emptyTimer)
	if g.classic != nil {
		g.classic.stop(code)
	}
	if g.consumer != nil {
		g.consumer.stop()
	}
}

func stopTimer(t **time.Timer) {
	if *t != nil {
		(*t).Stop()
		*t = nil
	}
}

// afterFunc runs fn after d with the mutex held, unless the coordinator has
// closed by then. fn must re-check that what it acts on is still current: a
// timer that fired cannot be recalled by Stop.
func (c *Coordinator) afterFunc(d time.Duration, fn func()) *time.Timer {
	return time.AfterFunc(d, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if !c.closed {
			fn()
		}
	})
}

// lookup returns the group with the given id. A group not in memory but with
// committed offsets is materialized as an Empty classic group, which is what
// Kafka has after loading its offsets. With create, a missing group is
// created as an empty classic group. nil means no such group.
func (c *Coordinator) lookup(id string, create bool) *group {
	if g := c.groups[id]; g != nil {
		return g
	}
	if !create && !c.md.HasOffsets(id) {
		return nil
	}
	g := &group{id: id, classic: newClassicGroup()}
	c.groups[id] = g
	c.maybeScheduleEmpty(g)
	return g
}

// empty reports whether the group has no members at all (pending members of
// a classic group count: they are about to join).
func (g *group) empty() bool {
	if g.consumer != nil {
		return len(g.consumer.members) == 0
	}
	return len(g.classic.members) == 0 && len(g.classic.pending) == 0
}

// maybeScheduleEmpty arms the empty-group timer if the group is empty, and
// disarms it otherwise.
func (c *Coordinator) maybeScheduleEmpty(g *group) {
	if !g.empty() {
		stopTimer(&g.emptyTimer)
		return
	}
	if g.emptyTimer != nil {
		return
	}
	g.emptyTimer = c.afterFunc(c.cfg.EmptyGroupRetention, func() {
		if c.groups[g.id] != g {
			return
		}
		g.emptyTimer = nil
		if !g.empty() {
			return
		}
		if c.md.HasOffsets(g.id) {
			c.maybeScheduleEmpty(g) // check again later: offsets may be deleted
			return
		}
		c.log.Debug("forgetting empty group", "group", g.id)
		g.stop(kerr.GroupIDNotFound.Code)
		delete(c.groups, g.id)
	})
}

// remove forgets a group (DeleteGroups).
func (c *Coordinator) remove(g *group) {
	g.stop(kerr.GroupIDNotFound.Code)
	delete(c.groups, g.id)
}

// newMemberID returns prefix + "-" + a random UUID, Kafka's member id form.
func newMemberID(prefix string) string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return prefix + "-" + h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// sortedKeys returns a map's keys in order, for deterministic iteration.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func ms(v int32) time.Duration { return time.Duration(v) * time.Millisecond }
