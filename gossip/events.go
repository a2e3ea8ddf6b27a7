package gossip

import (
	"fmt"
	"sync"
)

// State is a member's liveness as this agent sees it.
type State int

// Member states, from memberlist's SWIM failure detector.
const (
	StateAlive State = iota
	StateDead        // failed: stopped answering (crash, partition)
	StateLeft        // left gracefully
)

func (s State) String() string {
	switch s {
	case StateAlive:
		return "alive"
	case StateDead:
		return "dead"
	case StateLeft:
		return "left"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// Member is one agent of the cluster. State is StateAlive in Members and
// LocalMember and in Join and Update events, StateLeft in Leave events and
// StateDead in Fail events. There is no suspect state: memberlist gives no
// callback for suspicion, so a suspect member stays listed until dead.
type Member struct {
	Name  string // wisp-<node id>
	Addr  string // gossip host:port
	Meta  Meta
	State State
}

// EventType says what happened to a member.
type EventType int

// Event types. A member that comes back after Leave or Fail gets a new Join.
// A Fail may be followed by a Leave for the same member, when its leave
// intent arrived after the failure detector's verdict.
const (
	EventJoin   EventType = iota // became alive (also the local member, first)
	EventUpdate                  // alive member changed its Meta
	EventLeave                   // left gracefully (Gossip.Leave)
	EventFail                    // declared dead by the failure detector
)

func (t EventType) String() string {
	switch t {
	case EventJoin:
		return "join"
	case EventUpdate:
		return "update"
	case EventLeave:
		return "leave"
	case EventFail:
		return "fail"
	}
	return fmt.Sprintf("EventType(%d)", int(t))
}

// Event is one membership change.
type Event struct {
	Type   EventType
	Member Member
}

// eventQueue is an unbounded FIFO between memberlist's delegate callbacks,
// which must never block (memberlist calls them holding its node lock), and
// the Events channel, which a consumer drains at its own pace. Unbounded
// rather than drop-oldest because a lost Leave or Fail would leave a dead
// agent in Raft forever; the queue grows by one small Event per membership
// change, so only a consumer that never reads lets it grow.
type eventQueue struct {
	mu      sync.Mutex
	pending []Event
	wake    chan struct{} // capacity 1: "pending is non-empty"
	out     chan Event
}

func newEventQueue() *eventQueue {
	return &eventQueue{wake: make(chan struct{}, 1), out: make(chan Event, 64)}
}

// push appends ev without blocking.
func (q *eventQueue) push(ev Event) {
	q.mu.Lock()
	q.pending = append(q.pending, ev)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// run delivers pending events to out in order until stop is closed, then
// closes out. Events still queued at stop are discarded.
func (q *eventQueue) run(stop <-chan struct{}) {
	defer close(q.out)
	for {
		q.mu.Lock()
		batch := q.pending
		q.pending = nil
		q.mu.Unlock()
		for _, ev := range batch {
			select {
			case q.out <- ev:
			case <-stop:
				return
			}
		}
		select {
		case <-q.wake:
		case <-stop:
			return
		}
	}
}
