package group

import (
	"bytes"
	"cmp"
	"crypto/rand"
	"encoding/base64"
	"regexp"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Server-side assignors a KIP-848 member may name.
const (
	AssignorUniform = "uniform"
	AssignorRange   = "range"
)

// Member epochs with a special meaning in ConsumerGroupHeartbeat.
const (
	epochJoin        = 0
	epochLeave       = -1
	epochStaticLeave = -2
)

// tp names a partition by topic id.
type tp struct {
	id [16]byte
	p  int32
}

func cmpTP(a, b tp) int {
	return cmp.Or(bytes.Compare(a.id[:], b.id[:]), cmp.Compare(a.p, b.p))
}

type tpSet map[tp]struct{}

func (s tpSet) sorted() []tp {
	out := make([]tp, 0, len(s))
	for k := range s {
		out = append(out, k)
	}
	slices.SortFunc(out, cmpTP)
	return out
}

// memberState is where a KIP-848 member is in reconciling its assignment
// towards its target.
type memberState int8

const (
	// reconciled: the member owns what it may of its target at the
	// group's assignment epoch.
	reconciled memberState = iota
	// revoking: the member was told to give up partitions and has not
	// confirmed yet; its epoch stays until it does.
	revoking
	// waitingRelease: the member is at the assignment epoch but some
	// target partitions are still held by other members.
	waitingRelease
)

// cmember is a KIP-848 consumer group member.
type cmember struct {
	id               string
	instanceID       *string
	rackID           *string
	clientID         string
	clientHost       string
	epoch            int32
	prevEpoch        int32
	state            memberState
	rebalanceTimeout time.Duration
	topics           []string // subscribed topic names, sorted
	regex            *regexp.Regexp
	regexSrc         string
	assignor         string
	// target is what the assignor wants the member to own; assigned is
	// what the member has been told it owns, with the member epoch at
	// which each partition was given to it; revokingSet is what it was
	// told to give up and still holds.
	target      tpSet
	assigned    map[tp]int32
	revokingSet tpSet
	// away is set for a static member that left with epoch -2: it keeps
	// its assignment until it comes back or its session expires.
	away bool

	deadline    time.Time
	timer       *time.Timer // session
	revokeTimer *time.Timer // rebalance timeout while revoking
	gone        bool        // removed: its timers do nothing
}

func (m *cmember) subscribes(topic string) bool {
	if _, ok := slices.BinarySearch(m.topics, topic); ok {
		return true
	}
	return m.regex != nil && m.regex.MatchString(topic)
}

// consumerGroup is a KIP-848 group. The coordinator computes the target
// assignment whenever the group epoch moves (membership, subscriptions or
// subscribed topics' metadata changed) and hands it out incrementally: a
// partition moves to its new owner only once the old owner has confirmed,
// by no longer listing it in a heartbeat, that it released it.
type consumerGroup struct {
	epoch           int32 // group epoch
	assignmentEpoch int32 // epoch of the current target assignment
	assignor        string
	members         map[string]*cmember
	static          map[string]string // instance id -> member id
	owners          map[tp]string     // member that holds each assigned or revoking partition
	metaHash        uint64            // subscribed topics' metadata at the last target computation
}

func newConsumerGroup() *consumerGroup {
	return &consumerGroup{
		assignor: AssignorUniform,
		members:  make(map[string]*cmember),
		static:   make(map[string]string),
		owners:   make(map[tp]string),
	}
}

func (cg *consumerGroup) stop() {
	for _, m := range cg.members {
		m.gone = true
		stopTimer(&m.timer)
		stopTimer(&m.revokeTimer)
	}
}

// state is the group state as ConsumerGroupDescribe and ListGroups name it.
// The target is computed as soon as the epoch moves, so "Assigning" is never
// observed.
func (cg *consumerGroup) state() string {
	if len(cg.members) == 0 {
		return "Empty"
	}
	for _, m := range cg.members {
		if !m.away && (m.state != reconciled || m.epoch != cg.assignmentEpoch) {
			return "Reconciling"
		}
	}
	return "Stable"
}

func validAssignor(name string) bool { return name == AssignorUniform || name == AssignorRange }

func hbError(code int16, msg string) *kmsg.ConsumerGroupHeartbeatResponse {
	r := kmsg.NewPtrConsumerGroupHeartbeatResponse()
	r.ErrorCode = code
	if msg != "" {
		r.ErrorMessage = kmsg.StringPtr(msg)
	}
	return r
}

// validateHeartbeat applies Kafka's request checks before any state is
// looked at.
func validateHeartbeat(req *kmsg.ConsumerGroupHeartbeatRequest) (*regexp.Regexp, *kmsg.ConsumerGroupHeartbeatResponse) {
	switch {
	case req.Group == "":
		return nil, hbError(kerr.InvalidGroupID.Code, "GroupId can't be empty.")
	case req.MemberID == "" && (req.Version >= 1 || req.MemberEpoch != epochJoin):
		return nil, hbError(kerr.InvalidRequest.Code, "MemberId can't be empty.")
	case req.InstanceID != nil && *req.InstanceID == "":
		return nil, hbError(kerr.InvalidRequest.Code, "InstanceId can't be empty.")
	case req.RackID != nil && *req.RackID == "":
		return nil, hbError(kerr.InvalidRequest.Code, "RackId can't be empty.")
	case req.MemberEpoch < epochStaticLeave:
		return nil, hbError(kerr.InvalidRequest.Code, "MemberEpoch is invalid.")
	case req.MemberEpoch == epochStaticLeave && req.InstanceID == nil:
		return nil, hbError(kerr.InvalidRequest.Code, "InstanceId can't be null.")
	}
	if req.MemberEpoch == epochJoin {
		switch {
		case req.RebalanceTimeoutMillis == -1:
			return nil, hbError(kerr.InvalidRequest.Code, "RebalanceTimeoutMs must be provided in first request.")
		case req.Topics == nil || len(req.Topics) > 0:
			return nil, hbError(kerr.InvalidRequest.Code, "TopicPartitions must be empty when (re-)joining.")
		case req.SubscribedTopicNames == nil && req.SubscribedTopicRegex == nil:
			return nil, hbError(kerr.InvalidRequest.Code, "SubscribedTopicNames or SubscribedTopicRegex must be set in first request.")
		}
	}
	if req.ServerAssignor != nil && !validAssignor(*req.ServerAssignor) {
		return nil, hbError(kerr.UnsupportedAssignor.Code, "ServerAssignor "+*req.ServerAssignor+" is not supported. Supported assignors: uniform, range.")
	}
	var re *regexp.Regexp
	if req.SubscribedTopicRegex != nil && *req.SubscribedTopicRegex != "" {
		var err error
		// Kafka matches the whole topic name.
		if re, err = regexp.Compile("^(?:" + *req.SubscribedTopicRegex + ")$"); err != nil {
			return nil, hbError(kerr.InvalidRegularExpression.Code, "SubscribedTopicRegex "+*req.SubscribedTopicRegex+" is not a valid regular expression: "+err.Error())
		}
	}
	return re, nil
}

// ConsumerHeartbeat handles ConsumerGroupHeartbeat: a join (epoch 0), a
// leave (-1, or -2 for a static member that will come back), or a
// heartbeat that reports owned partitions and receives the next step of the
// member's assignment.
func (c *Coordinator) ConsumerHeartbeat(req *kmsg.ConsumerGroupHeartbeatRequest, cl Client) *kmsg.ConsumerGroupHeartbeatResponse {
	re, bad := validateHeartbeat(req)
	if bad != nil {
		return bad
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return hbError(kerr.NotCoordinator.Code, "")
	}
	var r *kmsg.ConsumerGroupHeartbeatResponse
	switch req.MemberEpoch {
	case epochLeave, epochStaticLeave:
		r = c.consumerLeave(req)
	case epochJoin:
		r = c.consumerJoin(req, cl, re)
	default:
		r = c.consumerBeat(req, re)
	}
	if r.ErrorCode == 0 {
		r.HeartbeatIntervalMillis = int32(c.cfg.ConsumerHeartbeatInterval.Milliseconds())
	}
	return r
}

// consumerGroupFor returns the group as a consumer group: an empty classic
// group (for example one known only by its offsets) becomes one when create
// is set. nil with a response means the request cannot go on.
func (c *Coordinator) consumerGroupFor(id string, create bool) (*group, *kmsg.ConsumerGroupHeartbeatResponse) {
	g := c.lookup(id, create)
	if g == nil {
		return nil, hbError(kerr.UnknownMemberID.Code, "")
	}
	if g.consumer != nil {
		return g, nil
	}
	if !g.empty() {
		return nil, hbError(kerr.GroupIDNotFound.Code, "Group "+id+" is a classic group with members; it cannot be used with the consumer protocol.")
	}
	if !create {
		return nil, hbError(kerr.UnknownMemberID.Code, "")
	}
	g.classic.stop(kerr.NotCoordinator.Code)
	g.classic, g.consumer = nil, newConsumerGroup()
	return g, nil
}

func (c *Coordinator) consumerJoin(req *kmsg.ConsumerGroupHeartbeatRequest, cl Client, re *regexp.Regexp) *kmsg.ConsumerGroupHeartbeatResponse {
	created := c.groups[req.Group] == nil
	g, bad := c.consumerGroupFor(req.Group, true)
	if bad != nil {
		return bad
	}
	cg := g.consumer
	memberID := req.MemberID
	if memberID == "" {
		memberID = newUUID() // v0: the coordinator names the member
	}
	var inherit *cmember
	if req.InstanceID != nil {
		if holderID, ok := cg.static[*req.InstanceID]; ok && holderID != memberID {
			holder := cg.members[holderID]
			if holder != nil && !holder.away {
				return hbError(kerr.UnreleasedInstanceID.Code, "Static member "+*req.InstanceID+" is still in use by member "+holderID+"; it must leave first.")
			}
			inherit = holder
		}
	}
	m := cg.members[memberID]
	if m == nil && inherit == nil && c.cfg.MaxGroupSize > 0 && len(cg.members) >= c.cfg.MaxGroupSize {
		if created {
			c.remove(g)
		}
		return hbError(kerr.GroupMaxSizeReached.Code, "")
	}
	bump := false
	switch {
	case m != nil:
		// A member that lost its assignment (fenced, or a lost
		// response) joins again under its id: it keeps what the
		// coordinator still holds for it and is told so.
		m.away = false
	case inherit != nil:
		// A static member restarted under a new member id takes over
		// the assignment of its previous incarnation.
		m = &cmember{
			id: memberID, epoch: inherit.epoch, prevEpoch: inherit.prevEpoch, state: inherit.state,
			topics: inherit.topics, regex: inherit.regex, regexSrc: inherit.regexSrc, assignor: inherit.assignor,
			target: inherit.target, assigned: inherit.assigned, revokingSet: inherit.revokingSet,
		}
		for k := range m.assigned {
			cg.owners[k] = m.id
		}
		for k := range m.revokingSet {
			cg.owners[k] = m.id
		}
		c.dropConsumerMember(cg, inherit, false)
		c.log.Info("static member replaced", "group", g.id, "instance_id", *req.InstanceID, "old_member", inherit.id, "member", memberID)
	default:
		m = &cmember{id: memberID, assignor: AssignorUniform, target: tpSet{}, assigned: map[tp]int32{}, revokingSet: tpSet{}}
		bump = true
		c.log.Info("member joined consumer group", "group", g.id, "member", memberID, "client_id", cl.ID)
	}
	cg.members[memberID] = m
	m.instanceID, m.rackID, m.clientID, m.clientHost = req.InstanceID, req.RackID, cl.ID, cl.Host
	if req.InstanceID != nil {
		cg.static[*req.InstanceID] = memberID
	}
	if c.updateSubscription(cg, m, req, re) {
		bump = true
	}
	c.stopEmptyTimer(g)
	return c.finishBeat(g, m, bump, tpSet{}, true)
}

// updateSubscription applies the subscription fields a heartbeat carries
// (absent fields mean unchanged) and reports whether anything changed.
func (c *Coordinator) updateSubscription(cg *consumerGroup, m *cmember, req *kmsg.ConsumerGroupHeartbeatRequest, re *regexp.Regexp) bool {
	changed := false
	if req.RebalanceTimeoutMillis > 0 {
		m.rebalanceTimeout = ms(req.RebalanceTimeoutMillis)
	}
	if req.SubscribedTopicNames != nil {
		topics := slices.Clone(req.SubscribedTopicNames)
		slices.Sort(topics)
		topics = slices.Compact(topics)
		if !slices.Equal(topics, m.topics) {
			m.topics, changed = topics, true
		}
	}
	if req.SubscribedTopicRegex != nil && *req.SubscribedTopicRegex != m.regexSrc {
		m.regex, m.regexSrc, changed = re, *req.SubscribedTopicRegex, true
	}
	if req.ServerAssignor != nil && *req.ServerAssignor != m.assignor {
		m.assignor, changed = *req.ServerAssignor, true
	}
	return changed
}

func (c *Coordinator) consumerBeat(req *kmsg.ConsumerGroupHeartbeatRequest, re *regexp.Regexp) *kmsg.ConsumerGroupHeartbeatResponse {
	g, bad := c.consumerGroupFor(req.Group, false)
	if bad != nil {
		return bad
	}
	cg := g.consumer
	m := cg.members[req.MemberID]
	if m == nil {
		if req.InstanceID != nil {
			if holder, ok := cg.static[*req.InstanceID]; ok && holder != req.MemberID {
				return hbError(kerr.FencedInstanceID.Code, "")
			}
		}
		return hbError(kerr.UnknownMemberID.Code, "")
	}
	var owned tpSet
	if req.Topics != nil {
		owned = tpSet{}
		for _, t := range req.Topics {
			for _, p := range t.Partitions {
				owned[tp{t.TopicID, p}] = struct{}{}
			}
		}
	}
	epoch := m.epoch
	if m.away {
		epoch = epochStaticLeave
	}
	if req.MemberEpoch > epoch {
		return hbError(kerr.FencedMemberEpoch.Code, "The consumer group member has a greater member epoch than the one known by the group coordinator. The member must abandon all its partitions and rejoin.")
	}
	if req.MemberEpoch < epoch {
		// A member that missed the response bumping its epoch may come
		// back with the previous one, owning no more than it was given.
		if m.away || req.MemberEpoch != m.prevEpoch || owned == nil || !m.ownsAtMost(owned) {
			return hbError(kerr.FencedMemberEpoch.Code, "The consumer group member has a smaller member epoch than the one known by the group coordinator. The member must abandon all its partitions and rejoin.")
		}
	}
	bump := c.updateSubscription(cg, m, req, re)
	full := req.RebalanceTimeoutMillis != -1 && (req.SubscribedTopicNames != nil || req.SubscribedTopicRegex != nil) && req.Topics != nil
	return c.finishBeat(g, m, bump, owned, full)
}

// ownsAtMost reports whether every partition in owned was given to m.
func (m *cmember) ownsAtMost(owned tpSet) bool {
	for k := range owned {
		if _, ok := m.assigned[k]; !ok {
			return false
		}
	}
	return true
}

// finishBeat is the common end of a join and a heartbeat: recompute the
// target if needed, reconcile the member, and answer with its epoch and, when
// it changed or was asked for, its assignment.
func (c *Coordinator) finishBeat(g *group, m *cmember, bump bool, owned tpSet, full bool) *kmsg.ConsumerGroupHeartbeatResponse {
	cg := g.consumer
	c.touchConsumer(g, m)
	if bump || c.metadataChanged(cg) {
		c.computeTarget(g)
	}
	before := m.assignedSet()
	c.reconcile(g, m, owned)
	r := kmsg.NewPtrConsumerGroupHeartbeatResponse()
	r.MemberID = kmsg.StringPtr(m.id)
	r.MemberEpoch = m.epoch
	if full || !maps2Equal(before, m.assignedSet()) {
		a := kmsg.NewConsumerGroupHeartbeatResponseAssignment()
		a.Topics = groupByTopic(m.assignedSet(), func(id [16]byte, ps []int32) kmsg.ConsumerGroupHeartbeatResponseAssignmentTopic {
			t := kmsg.NewConsumerGroupHeartbeatResponseAssignmentTopic()
			t.TopicID, t.Partitions = id, ps
			return t
		})
		r.Assignment = &a
	}
	return r
}

func (m *cmember) assignedSet() tpSet {
	s := make(tpSet, len(m.assigned))
	for k := range m.assigned {
		s[k] = struct{}{}
	}
	return s
}

func maps2Equal(a, b tpSet) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if _, ok := b[k]; !ok {
			return false
		}
	}
	return true
}

// groupByTopic turns a partition set into per-topic lists, topics and
// partitions in order.
func groupByTopic[T any](s tpSet, mk func(id [16]byte, ps []int32) T) []T {
	var out []T
	var cur [16]byte
	var ps []int32
	for i, k := range s.sorted() {
		if i > 0 && k.id != cur {
			out = append(out, mk(cur, ps))
			ps = nil
		}
		cur = k.id
		ps = append(ps, k.p)
	}
	if len(ps) > 0 {
		out = append(out, mk(cur, ps))
	}
	return out
}

func (c *Coordinator) consumerLeave(req *kmsg.ConsumerGroupHeartbeatRequest) *kmsg.ConsumerGroupHeartbeatResponse {
	g, bad := c.consumerGroupFor(req.Group, false)
	if bad != nil {
		return bad
	}
	cg := g.consumer
	m := cg.members[req.MemberID]
	if m == nil {
		return hbError(kerr.UnknownMemberID.Code, "")
	}
	if req.InstanceID != nil && cg.static[*req.InstanceID] != m.id {
		return hbError(kerr.FencedInstanceID.Code, "")
	}
	r := kmsg.NewPtrConsumerGroupHeartbeatResponse()
	r.MemberID = kmsg.StringPtr(m.id)
	r.MemberEpoch = req.MemberEpoch
	if req.MemberEpoch == epochStaticLeave && m.instanceID != nil {
		// A static member going away briefly keeps its partitions
		// reserved, so its return needs no rebalance; its session
		// timeout still applies.
		m.away = true
		for k := range m.revokingSet {
			cg.release(k, m.id)
		}
		m.revokingSet = tpSet{}
		stopTimer(&m.revokeTimer)
		c.log.Info("static member left temporarily", "group", g.id, "member", m.id, "instance_id", *m.instanceID)
		return r
	}
	c.log.Info("member left consumer group", "group", g.id, "member", m.id)
	c.removeConsumerMember(g, m)
	return r
}

// newUUID returns a random id in the form Kafka clients use for KIP-848
// member ids: 16 random bytes, URL-safe base64.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
