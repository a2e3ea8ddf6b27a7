package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/wisp-stream/wisp/fsm"
)

// DeleteAcls v0-v3 (v0 filters are LITERAL). Every binding matched by a
// filter is removed in one Raft command and listed under that filter. Needs
// ALTER on the cluster.
func init() {
	register(api{key: 31, min: 0, max: 3, handle: immediate(handleDeleteACLs)})
}

func handleDeleteACLs(c *clientConn, kreq kmsg.Request) kmsg.Response {
	req := kreq.(*kmsg.DeleteACLsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteACLsResponse)
	resp.Results = make([]kmsg.DeleteACLsResponseResult, len(req.Filters))
	fail := func(i int, code int16, msg string) {
		resp.Results[i].ErrorCode, resp.Results[i].ErrorMessage = code, kmsg.StringPtr(msg)
	}
	if !c.authorized(opAlter, resCluster, "") {
		for i := range resp.Results {
			fail(i, kerr.ClusterAuthorizationFailed.Code, "deleting ACLs needs ALTER on the cluster")
		}
		return resp
	}
	var cmd fsm.DeleteACLs
	var at []int
	for i, rf := range req.Filters {
		f := fsm.ACLFilter{
			ResourceType: int8(rf.ResourceType), ResourceName: rf.ResourceName, PatternType: int8(rf.ResourcePatternType),
			Principal: rf.Principal, Host: rf.Host, Operation: int8(rf.Operation), Permission: int8(rf.PermissionType),
		}
		if err := f.Validate(); err != nil {
			fail(i, kerr.InvalidRequest.Code, err.Error())
			continue
		}
		cmd.Filters = append(cmd.Filters, f)
		at = append(at, i)
	}
	if len(cmd.Filters) == 0 {
		return resp
	}
	res, err := c.s.backend.Apply(c.ctx, cmd)
	r, ok := res.(fsm.DeleteACLsResult)
	for j, i := range at {
		if err != nil || !ok {
			fail(i, kerr.RequestTimedOut.Code, "could not commit the deletion; retry")
			continue
		}
		if r.ErrorCodes[j] != 0 {
			fail(i, r.ErrorCodes[j], "the filter was refused")
			continue
		}
		for _, a := range r.Deleted[j] {
			m := kmsg.NewDeleteACLsResponseResultMatchingACL()
			m.ResourceType, m.ResourceName, m.ResourcePatternType = kmsg.ACLResourceType(a.ResourceType), a.ResourceName, kmsg.ACLResourcePatternType(a.PatternType)
			m.Principal, m.Host = a.Principal, a.Host
			m.Operation, m.PermissionType = kmsg.ACLOperation(a.Operation), kmsg.ACLPermissionType(a.Permission)
			resp.Results[i].MatchingACLs = append(resp.Results[i].MatchingACLs, m)
		}
	}
	return resp
}
