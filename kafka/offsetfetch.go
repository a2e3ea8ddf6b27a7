package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/wisp-stream/wisp/fsm"
)

// OffsetFetch v0-v9, read from the local metadata replica once it has
// caught up with the Raft leader. v8+ fetches for
// many groups at once; v9 carries the member id and epoch of KIP-848
// consumers, which consumer groups check. A partition without a committed
// offset answers offset -1 without error, as does an unknown group.
// RequireStable (v7+) answers UNSTABLE_OFFSET_COMMIT for a partition whose
// offset a transaction not yet completed commits (KIP-447): the client
// retries until the transaction ends. Offsets committed in a transaction
// are stored with it and become visible here only when it commits.
func init() {
	register(api{key: 9, min: 0, max: 9, handle: immediate(handleOffsetFetch)})
}

func handleOffsetFetch(c *clientConn, kreq kmsg.Request) kmsg.Response {
	req := kreq.(*kmsg.OffsetFetchRequest)
	resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
	if req.Version >= 8 {
		for _, rg := range req.Groups {
			resp.Groups = append(resp.Groups, c.fetchGroupOffsets(rg, false, req.RequireStable))
		}
		return resp
	}

	// Before v8: one group, in the top-level fields.
	rg := kmsg.NewOffsetFetchRequestGroup()
	rg.Group, rg.MemberEpoch = req.Group, -1
	if req.Topics != nil {
		rg.Topics = make([]kmsg.OffsetFetchRequestGroupTopic, 0, len(req.Topics))
	}
	for _, t := range req.Topics {
		gt := kmsg.NewOffsetFetchRequestGroupTopic()
		gt.Topic, gt.Partitions = t.Topic, t.Partitions
		rg.Topics = append(rg.Topics, gt)
	}
	g := c.fetchGroupOffsets(rg, req.Version < 2, req.Version >= 7 && req.RequireStable)
	resp.ErrorCode = g.ErrorCode
	for _, gt := range g.Topics {
		t := kmsg.NewOffsetFetchResponseTopic()
		t.Topic = gt.Topic
		for _, gp := range gt.Partitions {
			p := kmsg.NewOffsetFetchResponseTopicPartition()
			p.Partition, p.Offset, p.LeaderEpoch, p.Metadata, p.ErrorCode = gp.Partition, gp.Offset, gp.LeaderEpoch, gp.Metadata, gp.ErrorCode
			if req.Version < 2 && g.ErrorCode != 0 {
				p.ErrorCode = g.ErrorCode // v0-v1 have no group-level error
			}
			t.Partitions = append(t.Partitions, p)
		}
		resp.Topics = append(resp.Topics, t)
	}
	return resp
}

// fetchGroupOffsets answers one group: the requested partitions, or with
// nil Topics every partition the group has an offset for. On a group-level
// error the requested partitions are listed only with listOnError (v0-v1
// carry errors per partition).
func (c *clientConn) fetchGroupOffsets(rg kmsg.OffsetFetchRequestGroup, listOnError, requireStable bool) kmsg.OffsetFetchResponseGroup {
	g := kmsg.NewOffsetFetchResponseGroup()
	g.Group = rg.Group
	switch {
	case !c.s.coordinates(rg.Group):
		g.ErrorCode = kerr.NotCoordinator.Code
	case c.s.backend.SyncMetadata(c.ctx) != nil:
		// Offsets are committed through whichever agent ends a
		// transaction or coordinated the group before: a consumer handed
		// stale ones would process records twice. Retriable.
		g.ErrorCode = kerr.CoordinatorLoadInProgress.Code
	default:
		g.ErrorCode = c.s.groups.ValidateFetch(rg.Group, rg.MemberID, rg.MemberEpoch)
	}
	if g.ErrorCode != 0 {
		if !listOnError {
			return g
		}
		for _, rt := range rg.Topics {
			t := kmsg.NewOffsetFetchResponseGroupTopic()
			t.Topic = rt.Topic
			for _, p := range rt.Partitions {
				t.Partitions = append(t.Partitions, noOffset(p))
			}
			g.Topics = append(g.Topics, t)
		}
		return g
	}
	md := c.s.backend.Metadata()
	var unstable map[fsm.PartitionKey]bool
	if requireStable {
		unstable = md.UnstableOffsets(rg.Group)
	}
	if rg.Topics == nil {
		var cur *kmsg.OffsetFetchResponseGroupTopic
		for _, o := range md.CommittedOffsets(rg.Group) {
			if cur == nil || cur.Topic != o.Topic {
				g.Topics = append(g.Topics, kmsg.NewOffsetFetchResponseGroupTopic())
				cur = &g.Topics[len(g.Topics)-1]
				cur.Topic = o.Topic
			}
			p := kmsg.NewOffsetFetchResponseGroupTopicPartition()
			p.Partition, p.Offset, p.LeaderEpoch, p.Metadata = o.Partition, o.Offset, o.LeaderEpoch, kmsg.StringPtr(o.Metadata)
			if unstable[fsm.PartitionKey{TopicID: o.TopicID, Partition: o.Partition}] {
				p = noOffset(o.Partition)
				p.ErrorCode = kerr.UnstableOffsetCommit.Code
			}
			cur.Partitions = append(cur.Partitions, p)
		}
		return g
	}
	for _, rt := range rg.Topics {
		t := kmsg.NewOffsetFetchResponseGroupTopic()
		t.Topic = rt.Topic
		info, known := md.Topic(rt.Topic)
		for _, part := range rt.Partitions {
			p := noOffset(part)
			if known && unstable[fsm.PartitionKey{TopicID: info.ID, Partition: part}] {
				p.ErrorCode = kerr.UnstableOffsetCommit.Code
			} else if known {
				if o, ok := md.CommittedOffset(rg.Group, info.ID, part); ok {
					p.Offset, p.LeaderEpoch, p.Metadata = o.Offset, o.LeaderEpoch, kmsg.StringPtr(o.Metadata)
				}
			}
			t.Partitions = append(t.Partitions, p)
		}
		g.Topics = append(g.Topics, t)
	}
	return g
}

func noOffset(partition int32) kmsg.OffsetFetchResponseGroupTopicPartition {
	p := kmsg.NewOffsetFetchResponseGroupTopicPartition()
	p.Partition, p.Offset, p.LeaderEpoch, p.Metadata = partition, -1, -1, kmsg.StringPtr("")
	return p
}
