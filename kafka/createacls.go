package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/wisp-stream/wisp/fsm"
)

// CreateAcls v0-v3 (v0 bindings are LITERAL). Bindings are replicated
// through Raft, so every agent enforces them. Needs ALTER on the cluster.
func init() {
	register(api{key: 30, min: 0, max: 3, handle: immediate(handleCreateACLs)})
}

func aclFromCreation(c kmsg.CreateACLsRequestCreation) fsm.ACL {
	return fsm.ACL{
		ResourceType: int8(c.ResourceType), ResourceName: c.ResourceName, PatternType: int8(c.ResourcePatternType),
		Principal: c.Principal, Host: c.Host, Operation: int8(c.Operation), Permission: int8(c.PermissionType),
	}
}

func handleCreateACLs(c *clientConn, kreq kmsg.Request) kmsg.Response {
	req := kreq.(*kmsg.CreateACLsRequest)
	resp := req.ResponseKind().(*kmsg.CreateACLsResponse)
	resp.Results = make([]kmsg.CreateACLsResponseResult, len(req.Creations))
	fail := func(i int, code int16, msg string) {
		resp.Results[i].ErrorCode, resp.Results[i].ErrorMessage = code, kmsg.StringPtr(msg)
	}
	if !c.authorized(opAlter, resCluster, "") {
		for i := range resp.Results {
			fail(i, kerr.ClusterAuthorizationFailed.Code, "creating ACLs needs ALTER on the cluster")
		}
		return resp
	}
	var cmd fsm.CreateACLs
	var at []int
	for i, cr := range req.Creations {
		a := aclFromCreation(cr)
		if err := a.Validate(); err != nil {
			fail(i, kerr.InvalidRequest.Code, err.Error())
			continue
		}
		cmd.ACLs = append(cmd.ACLs, a)
		at = append(at, i)
	}
	if len(cmd.ACLs) == 0 {
		return resp
	}
	res, err := c.s.backend.Apply(c.ctx, cmd)
	r, ok := res.(fsm.CreateACLsResult)
	for j, i := range at {
		switch {
		case err != nil || !ok:
			fail(i, kerr.RequestTimedOut.Code, "could not commit the ACL; retry")
		case r.ErrorCodes[j] != 0:
			fail(i, r.ErrorCodes[j], "the ACL was refused")
		}
	}
	return resp
}
