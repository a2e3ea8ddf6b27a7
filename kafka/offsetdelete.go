package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/wisp-stream/wisp/fsm"
)

// OffsetDelete v0: drops committed offsets of topics the group's members do
// not subscribe to (GROUP_SUBSCRIBED_TO_TOPIC for the others).
func init() {
	register(api{key: 47, min: 0, max: 0, handle: immediate(handleOffsetDelete)})
}

func handleOffsetDelete(c *clientConn, kreq kmsg.Request) kmsg.Response {
	req := kreq.(*kmsg.OffsetDeleteRequest)
	resp := req.ResponseKind().(*kmsg.OffsetDeleteResponse)
	switch {
	case req.Group == "":
		resp.ErrorCode = kerr.InvalidGroupID.Code
		return resp
	case !c.s.coordinates(req.Group):
		resp.ErrorCode = kerr.NotCoordinator.Code
		return resp
	}
	code, subscribed := c.s.groups.CheckOffsetDelete(req.Group)
	if code != 0 {
		resp.ErrorCode = code
		return resp
	}
	md := c.s.backend.Metadata()
	cmd := fsm.DeleteOffsets{Group: req.Group}
	for _, rt := range req.Topics {
		t := kmsg.NewOffsetDeleteResponseTopic()
		t.Topic = rt.Topic
		info, known := md.Topic(rt.Topic)
		isSubscribed := subscribed(rt.Topic)
		for _, rp := range rt.Partitions {
			p := kmsg.NewOffsetDeleteResponseTopicPartition()
			p.Partition = rp.Partition
			switch {
			case !known || rp.Partition < 0 || rp.Partition >= info.Partitions:
				p.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case isSubscribed:
				p.ErrorCode = kerr.GroupSubscribedToTopic.Code
			default:
				cmd.Partitions = append(cmd.Partitions, fsm.PartitionKey{TopicID: info.ID, Partition: rp.Partition})
			}
			t.Partitions = append(t.Partitions, p)
		}
		resp.Topics = append(resp.Topics, t)
	}
	if len(cmd.Partitions) == 0 {
		return resp
	}
	ctx, cancel := context.WithTimeout(c.ctx, groupWriteTimeout)
	_, err := c.s.backend.Apply(ctx, &cmd)
	cancel()
	if err != nil {
		c.log.Warn("deleting offsets failed", "group", req.Group, "err", err)
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
	}
	return resp
}
