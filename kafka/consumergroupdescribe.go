package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ConsumerGroupDescribe v0. Classic groups answer GROUP_ID_NOT_FOUND:
// kafka-consumer-groups then falls back to DescribeGroups.
func init() {
	register(api{key: 69, min: 0, max: 0, handle: immediate(handleConsumerGroupDescribe)})
}

func handleConsumerGroupDescribe(c *clientConn, kreq kmsg.Request) kmsg.Response {
	req := kreq.(*kmsg.ConsumerGroupDescribeRequest)
	resp := req.ResponseKind().(*kmsg.ConsumerGroupDescribeResponse)
	resp.Groups = describeCoordinated(c.s, req.Groups, c.s.groups.DescribeConsumer, func(id string) kmsg.ConsumerGroupDescribeResponseGroup {
		g := kmsg.NewConsumerGroupDescribeResponseGroup()
		g.Group, g.ErrorCode = id, kerr.NotCoordinator.Code
		return g
	})
	return resp
}
