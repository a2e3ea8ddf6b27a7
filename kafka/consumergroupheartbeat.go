package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ConsumerGroupHeartbeat v0-v1: the KIP-848 consumer protocol, with
// server-side assignment. v1 (Kafka 4) has clients name their own member id
// and may subscribe by regular expression.
func init() {
	register(api{key: 68, min: 0, max: 1, handle: immediate(handleConsumerGroupHeartbeat)})
}

func handleConsumerGroupHeartbeat(c *clientConn, kreq kmsg.Request) kmsg.Response {
	req := kreq.(*kmsg.ConsumerGroupHeartbeatRequest)
	if !c.s.coordinates(req.Group) {
		resp := req.ResponseKind().(*kmsg.ConsumerGroupHeartbeatResponse)
		resp.ErrorCode = kerr.NotCoordinator.Code
		return resp
	}
	return c.s.groups.ConsumerHeartbeat(req, c.groupClient())
}
