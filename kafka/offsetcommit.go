package kafka

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/wisp-stream/wisp/fsm"
	"github.com/wisp-stream/wisp/kafka/group"
)

// OffsetCommit v0-v9. Committed offsets are a Raft command; the commit is
// applied before the answer and on the reader goroutine, so a later
// OffsetFetch on the same connection sees it. Partitions of unknown topics
// answer UNKNOWN_TOPIC_OR_PARTITION before the group is looked at, as in
// Kafka; the rest get the coordinator's verdict.
func init() {
	register(api{key: 8, min: 0, max: 9, handle: immediate(handleOffsetCommit)})
}

// groupWriteTimeout bounds a Raft write made for a group request.
const groupWriteTimeout = 10 * time.Second

func handleOffsetCommit(c *clientConn, kreq kmsg.Request) kmsg.Response {
	req := kreq.(*kmsg.OffsetCommitRequest)
	resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
	md := c.s.backend.Metadata()

	type slot struct {
		part *kmsg.OffsetCommitResponseTopicPartition
		cmd  int // index in cmd.Offsets, or -1
	}
	var slots []slot
	cmd := fsm.CommitOffsets{Group: req.Group, NowMs: time.Now().UnixMilli()}
	coordinates := c.s.coordinates(req.Group)
	var verdict group.CommitVerdict
	if coordinates {
		verdict = c.s.groups.ValidateCommit(req)
	}
	resp.Topics = make([]kmsg.OffsetCommitResponseTopic, len(req.Topics))
	for i, rt := range req.Topics {
		t := &resp.Topics[i]
		*t = kmsg.NewOffsetCommitResponseTopic()
		t.Topic = rt.Topic
		info, known := md.Topic(rt.Topic)
		t.Partitions = make([]kmsg.OffsetCommitResponseTopicPartition, len(rt.Partitions))
		for j, rp := range rt.Partitions {
			p := &t.Partitions[j]
			*p = kmsg.NewOffsetCommitResponseTopicPartition()
			p.Partition = rp.Partition
			switch {
			case !coordinates:
				p.ErrorCode = kerr.NotCoordinator.Code
			case !known || rp.Partition < 0 || rp.Partition >= info.Partitions:
				p.ErrorCode = kerr.UnknownTopicOrPartition.Code
			default:
				p.ErrorCode = verdict.PartitionCode(info.ID, rp.Partition)
			}
			if p.ErrorCode != 0 {
				continue
			}
			meta := ""
			if rp.Metadata != nil {
				meta = *rp.Metadata
			}
			slots = append(slots, slot{part: p, cmd: len(cmd.Offsets)})
			cmd.Offsets = append(cmd.Offsets, fsm.OffsetCommit{
				TopicID: info.ID, Partition: rp.Partition, Offset: rp.Offset, LeaderEpoch: rp.LeaderEpoch, Metadata: meta,
			})
		}
	}
	if len(cmd.Offsets) == 0 {
		return resp
	}
	ctx, cancel := context.WithTimeout(c.ctx, groupWriteTimeout)
	res, err := c.s.backend.Apply(ctx, &cmd)
	cancel()
	r, ok := res.(fsm.CommitOffsetsResult)
	if err != nil || !ok || len(r.ErrorCodes) != len(cmd.Offsets) {
		c.log.Warn("committing offsets failed", "group", req.Group, "err", err)
		for _, s := range slots {
			s.part.ErrorCode = kerr.CoordinatorNotAvailable.Code
		}
		return resp
	}
	for _, s := range slots {
		s.part.ErrorCode = r.ErrorCodes[s.cmd]
	}
	return resp
}
