package group

import (
	"bytes"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// classicState is a classic group's state; String gives Kafka's names.
type classicState int8

const (
	stateEmpty classicState = iota
	statePreparingRebalance
	stateCompletingRebalance
	stateStable
	stateDead
)

func (s classicState) String() string {
	switch s {
	case stateEmpty:
		return "Empty"
	case statePreparingRebalance:
		return "PreparingRebalance"
	case stateCompletingRebalance:
		return "CompletingRebalance"
	case stateStable:
		return "Stable"
	}
	return "Dead"
}

// member is a classic group member.
type member struct {
	id                string
	instanceID        *string
	clientID          string
	clientHost        string
	protocolType      string
	sessionTimeout    time.Duration
	rebalanceTimeout  time.Duration
	protocols         []kmsg.JoinGroupRequestProtocol // in the member's order of preference
	assignment        []byte
	isNew             bool // joined, first join phase not completed yet
	joinWait          chan *kmsg.JoinGroupResponse
	syncWait          chan *kmsg.SyncGroupResponse
	deadline          time.Time // session deadline
	timer             *time.Timer
	removedOrReplaced bool // timers of a departed member find this set
}

// classicGroup is the classic protocol's state machine: Empty ->
// PreparingRebalance (members rejoin) -> CompletingRebalance (members wait
// for the leader's assignment) -> Stable, and back to PreparingRebalance on
// any membership change.
type classicGroup struct {
	state        classicState
	generation   int32
	protocolType string
	protocol     string
	leader       string
	members      map[string]*member
	// pending holds member ids handed out with MEMBER_ID_REQUIRED that have
	// not joined with them yet; the join phase waits for them.
	pending map[string]*time.Timer
	// static maps group.instance.id to the member id that holds it.
	static map[string]string
	// pendingSync holds members that got their JoinGroup response but have
	// not sent SyncGroup yet; they are removed when syncTimer fires.
	pendingSync map[string]struct{}

	joinTimer *time.Timer
	syncTimer *time.Timer
	// phase increases every time a join or sync timer is armed, so a timer
	// that fired late can tell it is stale.
	phase uint64
	// initialDelay is set while the first rebalance of an empty group is
	// held open; newMemberAdded extends it.
	initialDelay   bool
	newMemberAdded bool
}

func newClassicGroup() *classicGroup {
	return &classicGroup{
		members: make(map[string]*member),
		pending: make(map[string]*time.Timer),
		static:  make(map[string]string),
	}
}

func (cg *classicGroup) stop(code int16) {
	stopTimer(&cg.joinTimer)
	stopTimer(&cg.syncTimer)
	for _, t := range cg.pending {
		t.Stop()
	}
	for _, m := range cg.members {
		stopTimer(&m.timer)
		m.removedOrReplaced = true
		answerJoin(m, errJoin(code, m.id))
		answerSync(m, errSync(code))
	}
	cg.state = stateDead
}

func errJoin(code int16, memberID string) *kmsg.JoinGroupResponse {
	r := kmsg.NewPtrJoinGroupResponse()
	r.ErrorCode, r.Generation, r.MemberID = code, -1, memberID
	return r
}

func errSync(code int16) *kmsg.SyncGroupResponse {
	r := kmsg.NewPtrSyncGroupResponse()
	r.ErrorCode = code
	return r
}

// answerJoin completes a parked JoinGroup, if any. Wait channels have room
// for exactly their one answer.
func answerJoin(m *member, r *kmsg.JoinGroupResponse) {
	if m.joinWait != nil {
		m.joinWait <- r
		m.joinWait = nil
	}
}

func answerSync(m *member, r *kmsg.SyncGroupResponse) {
	if m.syncWait != nil {
		m.syncWait <- r
		m.syncWait = nil
	}
}

// Join handles JoinGroup. The returned channel yields the response: at once
// for errors and for joins that complete immediately, or when the join phase
// completes (every member rejoined or the rebalance timeout passed). The
// caller must stop waiting when its connection closes; the answer is then
// dropped, as Kafka drops it.
func (c *Coordinator) Join(req *kmsg.JoinGroupRequest, cl Client) <-chan *kmsg.JoinGroupResponse {
	ch := make(chan *kmsg.JoinGroupResponse, 1)
	if r := c.join(req, cl, ch); r != nil {
		ch <- r
	}
	return ch
}

func (c *Coordinator) join(req *kmsg.JoinGroupRequest, cl Client, ch chan *kmsg.JoinGroupResponse) *kmsg.JoinGroupResponse {
	if req.Group == "" {
		return errJoin(kerr.InvalidGroupID.Code, req.MemberID)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return errJoin(kerr.NotCoordinator.Code, req.MemberID)
	}
	created := c.groups[req.Group] == nil
	g := c.lookup(req.Group, true)
	if g.consumer != nil {
		if len(g.consumer.members) > 0 {
			// Kafka can move members between protocols online; Wisp
			// keeps a group on the protocol of its current members.
			return errJoin(kerr.InconsistentGroupProtocol.Code, req.MemberID)
		}
		g.consumer.stop()
		g.consumer, g.classic = nil, newClassicGroup()
	}
	r := c.classicJoin(g, req, cl, ch)
	if created && g.empty() && !c.md.HasOffsets(g.id) {
		// A first join that failed leaves no group behind.
		c.remove(g)
		return r
	}
	c.maybeScheduleEmpty(g)
	return r
}

func (c *Coordinator) classicJoin(g *group, req *kmsg.JoinGroupRequest, cl Client, ch chan *kmsg.JoinGroupResponse) *kmsg.JoinGroupResponse {
	cg := g.classic
	session := ms(req.SessionTimeoutMillis)
	if session < c.cfg.MinSessionTimeout || session > c.cfg.MaxSessionTimeout {
		return errJoin(kerr.InvalidSessionTimeout.Code, req.MemberID)
	}
	rebalance := ms(req.RebalanceTimeoutMillis)
	if req.Version < 1 || rebalance <= 0 {
		rebalance = session // v0 has one timeout for both
	}
	if !cg.supportsProtocols(req.ProtocolType, req.Protocols) {
		return errJoin(kerr.InconsistentGroupProtocol.Code, req.MemberID)
	}

	if req.MemberID == "" {
		if c.cfg.MaxGroupSize > 0 && len(cg.members)+len(cg.pending) >= c.cfg.MaxGroupSize {
			return errJoin(kerr.GroupMaxSizeReached.Code, "")
		}
		if req.InstanceID != nil {
			if old := cg.members[cg.static[*req.InstanceID]]; old != nil {
				return c.replaceStatic(g, old, req, cl, session, rebalance, ch)
			}
			m := c.newMember(newMemberID(*req.InstanceID), req, cl, session, rebalance)
			c.addMemberAndRebalance(g, m, ch)
			return nil
		}
		id := newMemberID(cl.ID)
		// Since v4 a new member first learns its id and joins again with
		// it, so a client that dies mid-join leaves no member behind.
		// Below v4 (segmentio/kafka-go among others) it joins at once.
		if req.Version >= 4 {
			c.addPending(g, id, session)
			return errJoin(kerr.MemberIDRequired.Code, id)
		}
		c.addMemberAndRebalance(g, c.newMember(id, req, cl, session, rebalance), ch)
		return nil
	}

	if t, ok := cg.pending[req.MemberID]; ok {
		t.Stop()
		delete(cg.pending, req.MemberID)
		c.addMemberAndRebalance(g, c.newMember(req.MemberID, req, cl, session, rebalance), ch)
		return nil
	}
	if code := cg.validateMember(req.MemberID, req.InstanceID); code != 0 {
		return errJoin(code, req.MemberID)
	}
	m := cg.members[req.MemberID]
	switch cg.state {
	case statePreparingRebalance:
		c.updateMemberAndRebalance(g, m, req, session, rebalance, ch)
		return nil
	case stateCompletingRebalance:
		if m.matches(req.Protocols) {
			// A retried join of this generation: answer it again.
			return cg.joinResponse(m, false)
		}
		c.updateMemberAndRebalance(g, m, req, session, rebalance, ch)
		return nil
	case stateStable:
		if m.id == cg.leader || !m.matches(req.Protocols) {
			// The leader rejoins to force a new assignment (for example
			// after a metadata change); anyone may change its metadata.
			c.updateMemberAndRebalance(g, m, req, session, rebalance, ch)
			return nil
		}
		return cg.joinResponse(m, false)
	}
	return errJoin(kerr.UnknownMemberID.Code, req.MemberID)
}

func (c *Coordinator) newMember(id string, req *kmsg.JoinGroupRequest, cl Client, session, rebalance time.Duration) *member {
	return &member{
		id:               id,
		instanceID:       req.InstanceID,
		clientID:         cl.ID,
		clientHost:       cl.Host,
		protocolType:     req.ProtocolType,
		sessionTimeout:   session,
		rebalanceTimeout: rebalance,
		protocols:        cloneProtocols(req.Protocols),
		isNew:            true,
	}
}

func cloneProtocols(ps []kmsg.JoinGroupRequestProtocol) []kmsg.JoinGroupRequestProtocol {
	out := make([]kmsg.JoinGroupRequestProtocol, len(ps))
	for i, p := range ps {
		out[i] = kmsg.JoinGroupRequestProtocol{Name: p.Name, Metadata: slices.Clone(p.Metadata)}
	}
	return out
}

// matches reports whether a rejoin carries the same protocols and metadata.
func (m *member) matches(ps []kmsg.JoinGroupRequestProtocol) bool {
	return slices.EqualFunc(m.protocols, ps, func(a, b kmsg.JoinGroupRequestProtocol) bool {
		return a.Name == b.Name && bytes.Equal(a.Metadata, b.Metadata)
	})
}

func (m *member) metadataFor(protocol string) []byte {
	for _, p := range m.protocols {
		if p.Name == protocol {
			return p.Metadata
		}
	}
	return nil
}

// supportsProtocols is Kafka's admission rule: the first member sets the
// protocol type; later ones must share it and support a protocol every
// current member supports.
func (cg *classicGroup) supportsProtocols(protocolType string, ps []kmsg.JoinGroupRequestProtocol) bool {
	if protocolType == "" || len(ps) == 0 {
		return false
	}
	if len(cg.members) == 0 {
		return true
	}
	if protocolType != cg.protocolType {
		return false
	}
	counts := cg.protocolCounts()
	for _, p := range ps {
		if counts[p.Name] == len(cg.members) {
			return true
		}
	}
	return false
}

func (cg *classicGroup) protocolCounts() map[string]int {
	counts := make(map[string]int)
	for _, m := range cg.members {
		seen := make(map[string]bool, len(m.protocols))
		for _, p := range m.protocols {
			if !seen[p.Name] {
				seen[p.Name] = true
				counts[p.Name]++
			}
		}
	}
	return counts
}

// selectProtocol picks the protocol for the next generation: among those
// every member supports, the one most members prefer (ties to the smallest
// name, so the choice is deterministic).
func (cg *classicGroup) selectProtocol() string {
	counts := cg.protocolCounts()
	votes := make(map[string]int)
	for _, m := range cg.members {
		for _, p := range m.protocols {
			if counts[p.Name] == len(cg.members) {
				votes[p.Name]++
				break
			}
		}
	}
	best, bestVotes := "", 0
	for _, name := range sortedKeys(votes) {
		if votes[name] > bestVotes {
			best, bestVotes = name, votes[name]
		}
	}
	return best
}

// validateMember is Kafka's check for requests naming a member: a static
// member's instance id must map to that member id (else FENCED_INSTANCE_ID,
// the sender is a stale incarnation), and the member must exist.
func (cg *classicGroup) validateMember(memberID string, instanceID *string) int16 {
	if instanceID != nil {
		holder, ok := cg.static[*instanceID]
		if !ok {
			return kerr.UnknownMemberID.Code
		}
		if holder != memberID {
			return kerr.FencedInstanceID.Code
		}
	}
	if cg.members[memberID] == nil {
		return kerr.UnknownMemberID.Code
	}
	return 0
}

// joinResponse is the successful JoinGroup answer of the current generation.
// The leader gets every member's metadata for the chosen protocol.
func (cg *classicGroup) joinResponse(m *member, skipAssignment bool) *kmsg.JoinGroupResponse {
	r := kmsg.NewPtrJoinGroupResponse()
	r.Generation = cg.generation
	r.ProtocolType = kmsg.StringPtr(cg.protocolType)
	r.Protocol = kmsg.StringPtr(cg.protocol)
	r.LeaderID = cg.leader
	r.MemberID = m.id
	r.SkipAssignment = skipAssignment
	if m.id == cg.leader {
		for _, id := range sortedKeys(cg.members) {
			o := cg.members[id]
			rm := kmsg.NewJoinGroupResponseMember()
			rm.MemberID, rm.InstanceID, rm.ProtocolMetadata = o.id, o.instanceID, o.metadataFor(cg.protocol)
			r.Members = append(r.Members, rm)
		}
	}
	return r
}

// addPending records a member id handed out with MEMBER_ID_REQUIRED; it
// expires after the session timeout if the member never joins with it.
func (c *Coordinator) addPending(g *group, id string, session time.Duration) {
	cg := g.classic
	var t *time.Timer
	t = c.afterFunc(session, func() {
		if c.groups[g.id] != g || g.classic != cg || cg.pending[id] != t {
			return
		}
		delete(cg.pending, id)
		c.tryCompleteJoin(g)
		c.maybeScheduleEmpty(g)
	})
	cg.pending[id] = t
}

func (c *Coordinator) addMemberAndRebalance(g *group, m *member, ch chan *kmsg.JoinGroupResponse) {
	cg := g.classic
	if len(cg.members) == 0 {
		cg.protocolType = m.protocolType
	}
	if cg.state == statePreparingRebalance && cg.generation == 0 {
		cg.newMemberAdded = true
	}
	m.joinWait = ch
	cg.members[m.id] = m
	if m.instanceID != nil {
		cg.static[*m.instanceID] = m.id
	}
	// A member that never completes its first join phase is dropped after
	// NewMemberJoinTimeout, not its session timeout.
	c.touch(g, m, c.cfg.NewMemberJoinTimeout)
	c.log.Info("member joined group", "group", g.id, "member", m.id, "client_id", m.clientID)
	c.maybePrepareRebalanceOrCompleteJoin(g, "member "+m.id+" joined")
}

func (c *Coordinator) updateMemberAndRebalance(g *group, m *member, req *kmsg.JoinGroupRequest, session, rebalance time.Duration, ch chan *kmsg.JoinGroupResponse) {
	m.protocols = cloneProtocols(req.Protocols)
	m.sessionTimeout, m.rebalanceTimeout = session, rebalance
	// An earlier join of this member still parked (its connection was
	// probably lost) is superseded.
	answerJoin(m, errJoin(kerr.RebalanceInProgress.Code, m.id))
	m.joinWait = ch
	c.maybePrepareRebalanceOrCompleteJoin(g, "member "+m.id+" rejoined")
}

func (c *Coordinator) maybePrepareRebalanceOrCompleteJoin(g *group, reason string) {
	switch g.classic.state {
	case stateStable, stateCompletingRebalance, stateEmpty:
		c.prepareRebalance(g, reason)
	case statePreparingRebalance:
		c.tryCompleteJoin(g)
	}
}

// replaceStatic lets a restarted static member take over its instance id
// under a new member id. The old member id is fenced. In a Stable group whose
// protocol choice does not change, no rebalance happens (KIP-345): the member
// resumes with its previous assignment, and a replaced leader is told to skip
// assignment (KIP-814).
func (c *Coordinator) replaceStatic(g *group, old *member, req *kmsg.JoinGroupRequest, cl Client, session, rebalance time.Duration, ch chan *kmsg.JoinGroupResponse) *kmsg.JoinGroupResponse {
	cg := g.classic
	answerJoin(old, errJoin(kerr.FencedInstanceID.Code, old.id))
	answerSync(old, errSync(kerr.FencedInstanceID.Code))
	stopTimer(&old.timer)
	old.removedOrReplaced = true
	delete(cg.members, old.id)

	m := &member{
		id:               newMemberID(*req.InstanceID),
		instanceID:       req.InstanceID,
		clientID:         cl.ID,
		clientHost:       cl.Host,
		protocolType:     req.ProtocolType,
		sessionTimeout:   session,
		rebalanceTimeout: rebalance,
		protocols:        cloneProtocols(req.Protocols),
		assignment:       old.assignment,
	}
	cg.members[m.id] = m
	cg.static[*req.InstanceID] = m.id
	if cg.leader == old.id {
		cg.leader = m.id
	}
	if _, ok := cg.pendingSync[old.id]; ok {
		delete(cg.pendingSync, old.id)
		cg.pendingSync[m.id] = struct{}{}
	}
	c.touch(g, m, m.sessionTimeout)
	c.log.Info("static member replaced", "group", g.id, "instance_id", *req.InstanceID, "old_member", old.id, "member", m.id)

	switch cg.state {
	case stateStable:
		if cg.selectProtocol() == cg.protocol {
			return cg.joinResponse(m, m.id == cg.leader)
		}
		m.joinWait = ch
		c.prepareRebalance(g, "static member "+m.id+" changed the group's protocol")
	case stateCompletingRebalance:
		// The leader may already be assigning for the old member id.
		m.joinWait = ch
		c.prepareRebalance(g, "static member "+m.id+" replaced during sync")
	default:
		m.joinWait = ch
		c.tryCompleteJoin(g)
	}
	return nil
}

// prepareRebalance starts a join phase: members must rejoin within the
// largest rebalance timeout among them.
func (c *Coordinator) prepareRebalance(g *group, reason string) {
	cg := g.classic
	if cg.state == stateCompletingRebalance {
		for _, m := range cg.members {
			m.assignment = nil
			answerSync(m, errSync(kerr.RebalanceInProgress.Code))
		}
	}
	stopTimer(&cg.syncTimer)
	cg.pendingSync = nil
	initial := cg.state == stateEmpty
	cg.state = statePreparingRebalance
	c.log.Info("preparing rebalance", "group", g.id, "generation", cg.generation, "reason", reason)

	timeout := cg.maxRebalanceTimeout()
	stopTimer(&cg.joinTimer)
	cg.phase++
	phase := cg.phase
	if initial && c.cfg.InitialRebalanceDelay > 0 {
		cg.initialDelay, cg.newMemberAdded = true, false
		c.armInitialDelay(g, phase, min(c.cfg.InitialRebalanceDelay, timeout), timeout-c.cfg.InitialRebalanceDelay)
		return
	}
	cg.initialDelay = false
	cg.joinTimer = c.afterFunc(timeout, func() {
		if c.groups[g.id] == g && g.classic == cg && cg.phase == phase && cg.state == statePreparingRebalance {
			c.completeJoin(g)
		}
	})
	c.tryCompleteJoin(g)
}

// armInitialDelay holds the first join phase open for delay, extending it
// by another delay while new members keep arriving and time remains.
func (c *Coordinator) armInitialDelay(g *group, phase uint64, delay, remaining time.Duration) {
	cg := g.classic
	cg.joinTimer = c.afterFunc(delay, func() {
		if c.groups[g.id] != g || g.classic != cg || cg.phase != phase || cg.state != statePreparingRebalance {
			return
		}
		if cg.newMemberAdded && remaining > 0 {
			cg.newMemberAdded = false
			next := min(c.cfg.InitialRebalanceDelay, remaining)
			c.armInitialDelay(g, phase, next, remaining-next)
			return
		}
		cg.initialDelay = false
		c.completeJoin(g)
	})
}

func (cg *classicGroup) maxRebalanceTimeout() time.Duration {
	var d time.Duration
	for _, m := range cg.members {
		d = max(d, m.rebalanceTimeout)
	}
	return d
}

// tryCompleteJoin ends the join phase early once every member has rejoined
// and no handed-out member id is still outstanding.
func (c *Coordinator) tryCompleteJoin(g *group) {
	cg := g.classic
	if cg.state != statePreparingRebalance || cg.initialDelay || len(cg.pending) > 0 {
		return
	}
	for _, m := range cg.members {
		if m.joinWait == nil {
			return
		}
	}
	c.completeJoin(g)
}

// completeJoin ends the join phase: members that did not rejoin are removed,
// the generation advances, and every member gets its JoinGroup answer.
func (c *Coordinator) completeJoin(g *group) {
	cg := g.classic
	stopTimer(&cg.joinTimer)
	cg.initialDelay = false
	for _, id := range sortedKeys(cg.members) {
		if m := cg.members[id]; m.joinWait == nil {
			c.log.Info("removing member that did not rejoin in time", "group", g.id, "member", id)
			c.dropMember(g, m)
		}
	}
	cg.generation++
	if len(cg.members) == 0 {
		cg.state, cg.protocol, cg.leader = stateEmpty, "", ""
		c.log.Info("group is empty", "group", g.id, "generation", cg.generation)
		c.maybeScheduleEmpty(g)
		return
	}
	cg.protocol = cg.selectProtocol()
	cg.state = stateCompletingRebalance
	if cg.members[cg.leader] == nil {
		cg.leader = sortedKeys(cg.members)[0]
	}
	cg.pendingSync = make(map[string]struct{}, len(cg.members))
	for _, id := range sortedKeys(cg.members) {
		m := cg.members[id]
		answerJoin(m, cg.joinResponse(m, false))
		m.isNew = false
		cg.pendingSync[id] = struct{}{}
		c.touch(g, m, m.sessionTimeout)
	}
	c.log.Info("join phase complete", "group", g.id, "generation", cg.generation, "members", len(cg.members), "leader", cg.leader, "protocol", cg.protocol)

	// Members that never sync are removed once the rebalance timeout passes.
	cg.phase++
	phase, gen := cg.phase, cg.generation
	cg.syncTimer = c.afterFunc(cg.maxRebalanceTimeout(), func() {
		if c.groups[g.id] != g || g.classic != cg || cg.phase != phase || cg.generation != gen || len(cg.pendingSync) == 0 {
			return
		}
		if cg.state != stateCompletingRebalance && cg.state != stateStable {
			return
		}
		for _, id := range sortedKeys(cg.pendingSync) {
			if m := cg.members[id]; m != nil {
				c.log.Info("removing member that did not sync in time", "group", g.id, "member", id)
				c.dropMember(g, m)
			}
		}
		cg.pendingSync = nil
		c.prepareRebalance(g, "members did not sync in time")
	})
}

// touch (re)arms a member's session timer. On expiry a member that is not
// waiting in a join or sync phase (those are bounded by the phase timers) is
// removed and the group rebalances; a member that has never completed a join
// phase expires even while waiting.
func (c *Coordinator) touch(g *group, m *member, d time.Duration) {
	m.deadline = time.Now().Add(d)
	if m.timer != nil {
		m.timer.Reset(d)
		return
	}
	cg := g.classic
	m.timer = c.afterFunc(d, func() {
		if m.removedOrReplaced || c.groups[g.id] != g || g.classic != cg || cg.members[m.id] != m {
			return
		}
		if time.Now().Before(m.deadline) {
			return // touched after this firing was scheduled; a later one is due
		}
		if !m.isNew && (m.joinWait != nil || m.syncWait != nil) {
			return
		}
		c.log.Info("member session expired", "group", g.id, "member", m.id, "session_timeout", m.sessionTimeout)
		c.removeMember(g, m)
	})
}

// dropMember removes a member without starting a rebalance. Its parked
// requests are answered UNKNOWN_MEMBER_ID.
func (c *Coordinator) dropMember(g *group, m *member) {
	cg := g.classic
	stopTimer(&m.timer)
	m.removedOrReplaced = true
	answerJoin(m, errJoin(kerr.UnknownMemberID.Code, m.id))
	answerSync(m, errSync(kerr.UnknownMemberID.Code))
	delete(cg.members, m.id)
	delete(cg.pendingSync, m.id)
	if m.instanceID != nil && cg.static[*m.instanceID] == m.id {
		delete(cg.static, *m.instanceID)
	}
	if cg.leader == m.id {
		cg.leader = ""
		if len(cg.members) > 0 {
			cg.leader = sortedKeys(cg.members)[0]
		}
	}
}

// removeMember removes a member (leave, expiry) and moves the group on.
func (c *Coordinator) removeMember(g *group, m *member) {
	c.dropMember(g, m)
	switch g.classic.state {
	case stateStable, stateCompletingRebalance:
		c.prepareRebalance(g, "member "+m.id+" left")
	case statePreparingRebalance:
		c.tryCompleteJoin(g)
	}
	c.maybeScheduleEmpty(g)
}
