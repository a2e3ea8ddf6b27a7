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
	var mine []string
	for _, id := range req.Groups {
		if c.s.coordinates(id) {
			mine = append(mine, id)
		}
	}
	described := c.s.groups.DescribeConsumer(mine)
	for _, id := range req.Groups {
		if c.s.coordinates(id) {
			resp.Groups = append(resp.Groups, described[0])
			described = described[1:]
			continue
		}
		dg := kmsg.NewConsumerGroupDescribeResponseGroup()
		dg.Group, dg.ErrorCode = id, kerr.NotCoordinator.Code
		resp.Groups = append(resp.Groups, dg)
	}
	return resp
}
