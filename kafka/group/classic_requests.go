package group

import (
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The classic protocol's requests after JoinGroup: SyncGroup, Heartbeat and
// LeaveGroup. The state machine they drive is in classic.go.

// Sync handles SyncGroup. The leader's sync carries every member's
// assignment and makes the group Stable; the others wait for it.
func (c *Coordinator) Sync(req *kmsg.SyncGroupRequest) <-chan *kmsg.SyncGroupResponse {
	ch := make(chan *kmsg.SyncGroupResponse, 1)
	if r := c.sync(req, ch); r != nil {
		ch <- r
	}
	return ch
}

func (c *Coordinator) sync(req *kmsg.SyncGroupRequest, ch chan *kmsg.SyncGroupResponse) *kmsg.SyncGroupResponse {
	if req.Group == "" {
		return errSync(kerr.InvalidGroupID.Code)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return errSync(kerr.NotCoordinator.Code)
	}
	g := c.lookup(req.Group, false)
	if g == nil || g.classic == nil {
		return errSync(kerr.UnknownMemberID.Code)
	}
	cg := g.classic
	if code := cg.validateMember(req.MemberID, req.InstanceID); code != 0 {
		return errSync(code)
	}
	if req.Generation != cg.generation {
		return errSync(kerr.IllegalGeneration.Code)
	}
	if (req.ProtocolType != nil && *req.ProtocolType != cg.protocolType) || (req.Protocol != nil && *req.Protocol != cg.protocol) {
		return errSync(kerr.InconsistentGroupProtocol.Code)
	}
	m := cg.members[req.MemberID]
	switch cg.state {
	case statePreparingRebalance:
		return errSync(kerr.RebalanceInProgress.Code)
	case stateCompletingRebalance:
		answerSync(m, errSync(kerr.RebalanceInProgress.Code)) // superseded retry
		m.syncWait = ch
		delete(cg.pendingSync, m.id)
		if m.id == cg.leader {
			given := make(map[string][]byte, len(req.GroupAssignment))
			for _, a := range req.GroupAssignment {
				given[a.MemberID] = a.MemberAssignment
			}
			for _, o := range cg.members {
				o.assignment = slices.Clone(given[o.id])
				if o.assignment == nil {
					o.assignment = []byte{}
				}
			}
			cg.state = stateStable
			c.log.Info("group is stable", "group", g.id, "generation", cg.generation, "members", len(cg.members))
			for _, o := range cg.members {
				answerSync(o, cg.syncResponse(o))
			}
		}
		return nil
	case stateStable:
		delete(cg.pendingSync, m.id)
		return cg.syncResponse(m)
	}
	return errSync(kerr.UnknownMemberID.Code)
}

func (cg *classicGroup) syncResponse(m *member) *kmsg.SyncGroupResponse {
	r := kmsg.NewPtrSyncGroupResponse()
	r.ProtocolType = kmsg.StringPtr(cg.protocolType)
	r.Protocol = kmsg.StringPtr(cg.protocol)
	r.MemberAssignment = m.assignment
	return r
}

// Heartbeat handles a classic Heartbeat: it keeps the member's session
// alive and tells it when a rebalance needs it to rejoin.
func (c *Coordinator) Heartbeat(req *kmsg.HeartbeatRequest) *kmsg.HeartbeatResponse {
	r := kmsg.NewPtrHeartbeatResponse()
	if req.Group == "" {
		r.ErrorCode = kerr.InvalidGroupID.Code
		return r
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		r.ErrorCode = kerr.NotCoordinator.Code
		return r
	}
	g := c.lookup(req.Group, false)
	if g == nil || g.classic == nil {
		r.ErrorCode = kerr.UnknownMemberID.Code
		return r
	}
	cg := g.classic
	if code := cg.validateMember(req.MemberID, req.InstanceID); code != 0 {
		r.ErrorCode = code
		return r
	}
	if req.Generation != cg.generation {
		r.ErrorCode = kerr.IllegalGeneration.Code
		return r
	}
	m := cg.members[req.MemberID]
	switch cg.state {
	case statePreparingRebalance:
		c.touch(g, m, m.sessionTimeout)
		r.ErrorCode = kerr.RebalanceInProgress.Code
	case stateCompletingRebalance, stateStable:
		c.touch(g, m, m.sessionTimeout)
	default:
		r.ErrorCode = kerr.UnknownMemberID.Code
	}
	return r
}

// Leave handles LeaveGroup: one member below v3, a batch of members (by
// member id or, for static members, instance id) from v3.
func (c *Coordinator) Leave(req *kmsg.LeaveGroupRequest) *kmsg.LeaveGroupResponse {
	r := kmsg.NewPtrLeaveGroupResponse()
	if req.Group == "" {
		r.ErrorCode = kerr.InvalidGroupID.Code
		return r
	}
	members := req.Members
	if req.Version < 3 {
		members = []kmsg.LeaveGroupRequestMember{{MemberID: req.MemberID}}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		r.ErrorCode = kerr.NotCoordinator.Code
		return r
	}
	g := c.lookup(req.Group, false)
	if g == nil {
		r.ErrorCode = kerr.UnknownMemberID.Code
		return r
	}
	for _, lm := range members {
		rm := kmsg.NewLeaveGroupResponseMember()
		rm.MemberID, rm.InstanceID = lm.MemberID, lm.InstanceID
		rm.ErrorCode = c.leaveOne(g, &rm)
		r.Members = append(r.Members, rm)
	}
	if req.Version < 3 {
		r.ErrorCode = r.Members[0].ErrorCode
		r.Members = nil
	}
	return r
}

func (c *Coordinator) leaveOne(g *group, rm *kmsg.LeaveGroupResponseMember) int16 {
	cg := g.classic
	if cg == nil {
		return kerr.UnknownMemberID.Code
	}
	if rm.InstanceID != nil {
		holder, ok := cg.static[*rm.InstanceID]
		if !ok {
			return kerr.UnknownMemberID.Code
		}
		if rm.MemberID != "" && rm.MemberID != holder {
			return kerr.FencedInstanceID.Code
		}
		rm.MemberID = holder
	}
	if t, ok := cg.pending[rm.MemberID]; ok {
		t.Stop()
		delete(cg.pending, rm.MemberID)
		c.tryCompleteJoin(g)
		c.maybeScheduleEmpty(g)
		return 0
	}
	m := cg.members[rm.MemberID]
	if m == nil {
		return kerr.UnknownMemberID.Code
	}
	c.log.Info("member left group", "group", g.id, "member", m.id)
	c.removeMember(g, m)
	return 0
}
