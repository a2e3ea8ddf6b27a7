package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Heartbeat v0-v4 (classic protocol).
func init() {
	register(api{key: 12, min: 0, max: 4, handle: immediate(handleHeartbeat)})
}

func handleHeartbeat(c *clientConn, kreq kmsg.Request) kmsg.Response {
	req := kreq.(*kmsg.HeartbeatRequest)
	if !c.s.coordinates(req.Group) {
		resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
		resp.ErrorCode = kerr.NotCoordinator.Code
		return resp
	}
	return c.s.groups.Heartbeat(req)
}
