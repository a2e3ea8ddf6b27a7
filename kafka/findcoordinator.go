package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// FindCoordinator v0-v6. v4+ asks for many keys at once. Key type 0 is a
// consumer group, type 1 a transactional id; both are spread over the live
// agents by hashing the key (see coordinatorFor). A transactional id's state
// is in Raft, so the agent named is a preference, not an owner.
func init() {
	register(api{key: 10, min: 0, max: 6, handle: immediate(handleFindCoordinator)})
}

const (
	coordinatorGroup       = 0
	coordinatorTransaction = 1
)

func handleFindCoordinator(c *clientConn, kreq kmsg.Request) kmsg.Response {
	req := kreq.(*kmsg.FindCoordinatorRequest)
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	keys := req.CoordinatorKeys
	if req.Version < 4 {
		keys = []string{req.CoordinatorKey}
	}
	for _, key := range keys {
		rc := kmsg.NewFindCoordinatorResponseCoordinator()
		rc.Key, rc.NodeID = key, -1
		switch req.CoordinatorType {
		case coordinatorGroup, coordinatorTransaction:
			b, ok := c.endpoint(c.s.coordinatorFor(key))
			if !ok {
				rc.ErrorCode = kerr.CoordinatorNotAvailable.Code
				rc.ErrorMessage = kmsg.StringPtr("the coordinator does not serve this listener")
				break
			}
			rc.NodeID, rc.Host, rc.Port = b.NodeID, b.Host, b.Port
		default:
			rc.ErrorCode = kerr.InvalidRequest.Code
			rc.ErrorMessage = kmsg.StringPtr("unknown coordinator type")
		}
		resp.Coordinators = append(resp.Coordinators, rc)
	}
	if req.Version < 4 && len(resp.Coordinators) == 1 {
		rc := resp.Coordinators[0]
		resp.ErrorCode, resp.ErrorMessage = rc.ErrorCode, rc.ErrorMessage
		resp.NodeID, resp.Host, resp.Port = rc.NodeID, rc.Host, rc.Port
		resp.Coordinators = nil
	}
	return resp
}
