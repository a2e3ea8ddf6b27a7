package kafka

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/wisp-stream/wisp/fsm"
)

// TxnOffsetCommit v0-v4: a consume-transform-produce loop commits its input
// offsets inside its transaction. Like OffsetCommit it goes to the group's
// coordinator, which checks the member (v3+ carries it); the offsets are
// stored in the transaction's Raft state and become the group's committed
// offsets only when the transaction commits.
func init() {
	register(api{key: 28, min: 0, max: 4, handle: immediate(handleTxnOffsetCommit)})
}

func handleTxnOffsetCommit(c *clientConn, kreq kmsg.Request) kmsg.Response {
	req := kreq.(*kmsg.TxnOffsetCommitRequest)
	resp := req.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
	code := int16(0)
	switch {
	case !c.s.coordinates(req.Group):
		code = kerr.NotCoordinator.Code
	case req.Version >= 3 && (req.MemberID != "" || req.Generation >= 0):
		// As Kafka: only a request naming its member is checked against
		// the group's membership.
		oc := kmsg.NewPtrOffsetCommitRequest()
		oc.Version, oc.Group, oc.Generation, oc.MemberID, oc.InstanceID = 9, req.Group, req.Generation, req.MemberID, req.InstanceID
		code = c.s.groups.ValidateCommit(oc).Code
		if code == kerr.GroupIDNotFound.Code {
			code = kerr.IllegalGeneration.Code // GROUP_ID_NOT_FOUND is TxnOffsetCommit v6+ (KIP-1319)
		}
	}

	type slot struct {
		part *kmsg.TxnOffsetCommitResponseTopicPartition
		cmd  int
	}
	var slots []slot
	cmd := fsm.TxnCommitOffsets{
		TransactionalID: req.TransactionalID, ProducerID: req.ProducerID, ProducerEpoch: req.ProducerEpoch,
		Group: req.Group, NowMs: time.Now().UnixMilli(),
	}
	resp.Topics = make([]kmsg.TxnOffsetCommitResponseTopic, len(req.Topics))
	for i, rt := range req.Topics {
		t := &resp.Topics[i]
		*t = kmsg.NewTxnOffsetCommitResponseTopic()
		t.Topic = rt.Topic
		info, known := c.s.topicByName(c.ctx, rt.Topic)
		t.Partitions = make([]kmsg.TxnOffsetCommitResponseTopicPartition, len(rt.Partitions))
		for j, rp := range rt.Partitions {
			p := &t.Partitions[j]
			*p = kmsg.NewTxnOffsetCommitResponseTopicPartition()
			p.Partition = rp.Partition
			switch {
			case code != 0:
				p.ErrorCode = code
				continue
			case !known || rp.Partition < 0 || rp.Partition >= info.Partitions:
				p.ErrorCode = kerr.UnknownTopicOrPartition.Code
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
	ctx, cancel := context.WithTimeout(c.ctx, txnWriteTimeout)
	defer cancel()
	res, err := c.s.backend.Apply(ctx, &cmd)
	r, ok := res.(fsm.CommitOffsetsResult)
	if err != nil || !ok || len(r.ErrorCodes) != len(cmd.Offsets) {
		c.log.Warn("committing transactional offsets failed", "group", req.Group, "transactional_id", req.TransactionalID, "err", err)
		for _, s := range slots {
			s.part.ErrorCode = kerr.CoordinatorNotAvailable.Code
		}
		return resp
	}
	for _, s := range slots {
		s.part.ErrorCode = fencedCode(r.ErrorCodes[s.cmd], req.Version, 2)
	}
	return resp
}
