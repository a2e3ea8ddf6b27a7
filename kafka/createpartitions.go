package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/wisp-stream/wisp/fsm"
)

// CreatePartitions v0-v3.
func init() {
	register(api{key: 37, min: 0, max: 3, handle: immediate(handleCreatePartitions)})
}

func handleCreatePartitions(c *clientConn, kreq kmsg.Request) kmsg.Response {
	req := kreq.(*kmsg.CreatePartitionsRequest)
	resp := req.ResponseKind().(*kmsg.CreatePartitionsResponse)
	md := c.s.backend.Metadata()
	for _, rt := range req.Topics {
		t := kmsg.NewCreatePartitionsResponseTopic()
		t.Topic = rt.Topic
		fail := func(code int16, msg string) {
			t.ErrorCode = code
			t.ErrorMessage = &msg
		}
		info, ok := md.Topic(rt.Topic)
		switch {
		case !ok:
			fail(kerr.UnknownTopicOrPartition.Code, "topic "+rt.Topic+" does not exist")
		case rt.Count <= info.Partitions:
			fail(kerr.InvalidPartitions.Code, "a topic can only grow: it has more partitions than requested or the same number")
		case req.ValidateOnly:
		default:
			res, err := c.s.applyTopic(c.ctx, &fsm.CreatePartitions{Name: rt.Topic, Count: rt.Count})
			if err != nil {
				fail(kerr.RequestTimedOut.Code, "could not commit partition creation: "+err.Error())
			} else if res.ErrorCode != 0 {
				fail(res.ErrorCode, res.ErrorMessage)
			}
		}
		resp.Topics = append(resp.Topics, t)
	}
	return resp
}
