package gossip

import (
	"time"

	"github.com/hashicorp/memberlist"
)

// Telling a graceful leave from a failure. memberlist reports both through
// NotifyLeave, and the state it passes there is not the one it updates, so
// the callback cannot tell them apart. As Serf does, a leaving agent first
// gossips a leave intent; a member that disappears after its intent is
// reported as EventLeave, otherwise as EventFail.

// User messages carried by memberlist's gossip: a type byte, then the body.
// Types are append-only; unknown types are ignored, so older agents skip
// newer messages.
const (
	msgLeaveIntent byte = 1 // body: the leaving member's name
)

// leaveIntentTTL bounds how long an intent explains a disappearance: an
// agent that announced its leave and then stayed (its Leave timed out) is
// reported as failed if it dies much later.
const leaveIntentTTL = time.Minute

// intentBroadcast is one leave intent in the broadcast queue.
type intentBroadcast struct {
	name   string
	msg    []byte
	notify chan struct{} // closed when the queue is done with it; may be nil
}

var _ memberlist.NamedBroadcast = (*intentBroadcast)(nil)

func newIntent(name string, notify chan struct{}) *intentBroadcast {
	return &intentBroadcast{name: name, msg: append([]byte{msgLeaveIntent}, name...), notify: notify}
}

func (b *intentBroadcast) Name() string { return "leave:" + b.name }
func (b *intentBroadcast) Invalidates(o memberlist.Broadcast) bool {
	nb, ok := o.(memberlist.NamedBroadcast)
	return ok && nb.Name() == b.Name()
}
func (b *intentBroadcast) Message() []byte { return b.msg }
func (b *intentBroadcast) Finished() {
	if b.notify != nil {
		close(b.notify)
	}
}

// noteIntent records that name announced its leave; it reports whether the
// intent is news (and so worth passing on).
func (g *Gossip) noteIntent(name string) bool {
	g.leavingMu.Lock()
	defer g.leavingMu.Unlock()
	_, seen := g.leaving[name]
	g.leaving[name] = time.Now()
	return !seen
}

// takeIntent reports, and forgets, whether name announced its leave recently.
func (g *Gossip) takeIntent(name string) bool {
	g.leavingMu.Lock()
	defer g.leavingMu.Unlock()
	at, ok := g.leaving[name]
	delete(g.leaving, name)
	return ok && time.Since(at) < leaveIntentTTL
}

// handleMsg processes a user message from a peer. Called by memberlist's
// packet goroutine, not holding its node lock.
func (g *Gossip) handleMsg(b []byte) {
	if len(b) < 2 || b[0] != msgLeaveIntent {
		return
	}
	name := string(b[1:])
	if name == g.name || !g.noteIntent(name) {
		return
	}
	g.bcast.QueueBroadcast(newIntent(name, nil)) // pass it on, as gossip does
	// The failure detector may have been faster than the intent: the member
	// was reported failed, but it left. Say so, and stop reconnecting to it.
	g.failedMu.Lock()
	f, wasFailed := g.failed[name]
	delete(g.failed, name)
	g.failedMu.Unlock()
	if wasFailed {
		g.takeIntent(name)
		g.events.push(Event{Type: EventLeave, Member: Member{Name: name, Addr: f.addr, Meta: f.meta, State: StateLeft}})
	}
}

// announceLeave gossips this agent's leave intent and waits until it has
// been sent its share of times, or until deadline.
func (g *Gossip) announceLeave(deadline time.Time) {
	g.noteIntent(g.name)
	done := make(chan struct{})
	g.bcast.QueueBroadcast(newIntent(g.name, done))
	if g.numMembers.Load() <= 1 {
		return // nobody to tell
	}
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	case <-g.stop:
	}
}
