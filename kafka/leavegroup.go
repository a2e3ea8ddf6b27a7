package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// LeaveGroup v0-v5. v3+ removes a batch of members, by member id or, for
// static members, by instance id.
func init() {
	register(api{key: 13, min: 0, max: 5, handle: immediate(handleLeaveGroup)})
}

func handleLeaveGroup(c *clientConn, kreq kmsg.Request) kmsg.Response {
	req := kreq.(*kmsg.LeaveGroupRequest)
	if !c.s.coordinates(req.Group) {
		resp := req.ResponseKind().(*kmsg.LeaveGroupResponse)
		resp.ErrorCode = kerr.NotCoordinator.Code
		return resp
	}
	return c.s.groups.Leave(req)
}
