package group

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// CommitVerdict is the coordinator's decision on an OffsetCommit. The
// commit itself is written by the caller.
type CommitVerdict struct {
	// Code, when not 0, is the answer for every partition of the request.
	Code int16
	// For a consumer-group member committing with an older member epoch,
	// heldSince lists the partitions it still holds with the epoch it got
	// each at: it may commit those it already had at the epoch it sent
	// (KIP-1251), and nothing else.
	olderEpoch bool
	reqEpoch   int32
	heldSince  map[tp]int32
}

// PartitionCode is the answer for one partition of an accepted request: 0,
// or STALE_MEMBER_EPOCH for a partition a consumer-group member commits with
// an epoch older than the one it received the partition at.
func (v CommitVerdict) PartitionCode(topicID [16]byte, partition int32) int16 {
	if v.Code != 0 {
		return v.Code
	}
	if !v.olderEpoch {
		return 0
	}
	if at, ok := v.heldSince[tp{topicID, partition}]; ok && at <= v.reqEpoch {
		return 0
	}
	return kerr.StaleMemberEpoch.Code
}

// ValidateCommit checks an OffsetCommit against the group's membership as
// Kafka does:
//   - generation -1 (admin tools, consumers without group management) may
//     commit to a group without members, and creates the group if needed;
//   - otherwise the member must exist (UNKNOWN_MEMBER_ID, or
//     FENCED_INSTANCE_ID for a stale static member) and the generation must
//     be the group's (ILLEGAL_GENERATION); a group still waiting for the
//     leader's assignment answers REBALANCE_IN_PROGRESS;
//   - a commit to a group that does not exist answers GROUP_ID_NOT_FOUND
//     from v9, ILLEGAL_GENERATION before;
//   - a consumer-protocol member must use v9+ and commit with its current
//     member epoch, or an older one for partitions it already had then.
//
// A valid commit from a member also counts as its heartbeat.
func (c *Coordinator) ValidateCommit(req *kmsg.OffsetCommitRequest) CommitVerdict {
	if req.Group == "" {
		return CommitVerdict{Code: kerr.InvalidGroupID.Code}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return CommitVerdict{Code: kerr.NotCoordinator.Code}
	}
	g := c.lookup(req.Group, false)
	if g == nil {
		if req.Generation >= 0 {
			if req.Version >= 9 {
				return CommitVerdict{Code: kerr.GroupIDNotFound.Code}
			}
			return CommitVerdict{Code: kerr.IllegalGeneration.Code}
		}
		// A "simple" group: no members, only offsets.
		c.lookup(req.Group, true)
		return CommitVerdict{}
	}
	if g.consumer != nil {
		return c.validateConsumerCommit(g, req)
	}
	cg := g.classic
	if req.Generation < 0 && cg.state == stateEmpty {
		return CommitVerdict{}
	}
	if req.Generation >= 0 || req.MemberID != "" || req.InstanceID != nil {
		if code := cg.validateMember(req.MemberID, req.InstanceID); code != 0 {
			return CommitVerdict{Code: code}
		}
		if req.Generation != cg.generation {
			return CommitVerdict{Code: kerr.IllegalGeneration.Code}
		}
	} else if cg.state != stateEmpty {
		return CommitVerdict{Code: kerr.UnknownMemberID.Code}
	}
	m := cg.members[req.MemberID]
	switch cg.state {
	case stateCompletingRebalance:
		return CommitVerdict{Code: kerr.RebalanceInProgress.Code}
	case stateStable, statePreparingRebalance:
		if m != nil {
			c.touch(g, m, m.sessionTimeout)
		}
	}
	return CommitVerdict{}
}

func (c *Coordinator) validateConsumerCommit(g *group, req *kmsg.OffsetCommitRequest) CommitVerdict {
	cg := g.consumer
	if req.Generation < 0 && len(cg.members) == 0 {
		return CommitVerdict{}
	}
	m := cg.members[req.MemberID]
	if m == nil {
		return CommitVerdict{Code: kerr.UnknownMemberID.Code}
	}
	if req.Version < 9 {
		return CommitVerdict{Code: kerr.UnsupportedVersion.Code}
	}
	if req.Generation > m.epoch || m.away {
		return CommitVerdict{Code: kerr.StaleMemberEpoch.Code}
	}
	if req.Generation == m.epoch {
		return CommitVerdict{}
	}
	v := CommitVerdict{olderEpoch: true, reqEpoch: req.Generation, heldSince: make(map[tp]int32, len(m.assigned)+len(m.revokingSet))}
	for k, at := range m.assigned {
		v.heldSince[k] = at
	}
	for k := range m.revokingSet {
		v.heldSince[k] = -1 // held since before the epoch that revokes it
	}
	return v
}

// ValidateFetch checks the member fields of an OffsetFetch group (v9+).
// Only consumer-protocol groups check them: a fetch without a member id and
// with a negative epoch is an admin fetch; otherwise the member must exist
// (UNKNOWN_MEMBER_ID) at that epoch (STALE_MEMBER_EPOCH).
func (c *Coordinator) ValidateFetch(groupID string, memberID *string, memberEpoch int32) int16 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return kerr.NotCoordinator.Code
	}
	g := c.groups[groupID]
	if g == nil || g.consumer == nil || (memberID == nil && memberEpoch < 0) {
		return 0
	}
	m := g.consumer.members[derefString(memberID)]
	if m == nil {
		return kerr.UnknownMemberID.Code
	}
	if memberEpoch != m.epoch {
		return kerr.StaleMemberEpoch.Code
	}
	return 0
}

func derefString(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
