package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/wisp-stream/wisp/fsm"
)

// DeleteGroups v0-v2. A group with members answers NON_EMPTY_GROUP; an
// empty one is forgotten with its committed offsets.
func init() {
	register(api{key: 42, min: 0, max: 2, handle: immediate(handleDeleteGroups)})
}

func handleDeleteGroups(c *clientConn, kreq kmsg.Request) kmsg.Response {
	req := kreq.(*kmsg.DeleteGroupsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteGroupsResponse)
	for _, id := range req.Groups {
		rg := kmsg.NewDeleteGroupsResponseGroup()
		rg.Group = id
		switch {
		case id == "":
			rg.ErrorCode = kerr.InvalidGroupID.Code
		case !c.s.coordinates(id):
			rg.ErrorCode = kerr.NotCoordinator.Code
		default:
			rg.ErrorCode = c.s.groups.Delete(id)
		}
		if rg.ErrorCode == 0 {
			ctx, cancel := context.WithTimeout(c.ctx, groupWriteTimeout)
			_, err := c.s.backend.Apply(ctx, &fsm.DeleteGroup{Group: id})
			cancel()
			if err != nil {
				c.log.Warn("deleting group offsets failed", "group", id, "err", err)
				rg.ErrorCode = kerr.CoordinatorNotAvailable.Code
			} else {
				c.s.log.Info("deleted consumer group", "group", id)
			}
		}
		resp.Groups = append(resp.Groups, rg)
	}
	return resp
}
