package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// JoinGroup v0-v9. A join waits for the group's join phase, so the answer
// comes on the writer goroutine; the join itself is registered in request
// order. MEMBER_ID_REQUIRED is only used from v4: older clients
// (segmentio/kafka-go among them) cannot handle it.
func init() {
	register(api{key: 11, min: 0, max: 9, handle: handleJoinGroup})
}

func handleJoinGroup(c *clientConn, kreq kmsg.Request, _ *inflight) respond {
	req := kreq.(*kmsg.JoinGroupRequest)
	if !c.s.coordinates(req.Group) {
		resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
		resp.ErrorCode, resp.Generation, resp.MemberID = kerr.NotCoordinator.Code, -1, req.MemberID
		return func() kmsg.Response { return resp }
	}
	ch := c.s.groups.Join(req, c.groupClient())
	return func() kmsg.Response {
		select {
		case r := <-ch:
			return r
		case <-c.ctx.Done():
			return nil // the connection is closing; Kafka drops the answer too
		}
	}
}
