package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// SyncGroup v0-v5. A follower's sync waits for the leader's, so the answer
// comes on the writer goroutine. v5 checks the protocol type and name.
func init() {
	register(api{key: 14, min: 0, max: 5, handle: handleSyncGroup})
}

func handleSyncGroup(c *clientConn, kreq kmsg.Request, _ *inflight) respond {
	req := kreq.(*kmsg.SyncGroupRequest)
	if !c.s.coordinates(req.Group) {
		resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
		resp.ErrorCode = kerr.NotCoordinator.Code
		return func() kmsg.Response { return resp }
	}
	ch := c.s.groups.Sync(req)
	return func() kmsg.Response {
		select {
		case r := <-ch:
			return r
		case <-c.ctx.Done():
			return nil
		}
	}
}
