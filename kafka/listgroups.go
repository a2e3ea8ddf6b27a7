package kafka

import (
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ListGroups v0-v5: the groups this agent coordinates. v4 filters by state,
// v5 by type ("classic", "consumer"), both case-insensitively.
func init() {
	register(api{key: 16, min: 0, max: 5, handle: immediate(handleListGroups)})
}

func handleListGroups(c *clientConn, kreq kmsg.Request) kmsg.Response {
	req := kreq.(*kmsg.ListGroupsRequest)
	resp := req.ResponseKind().(*kmsg.ListGroupsResponse)
	for _, g := range c.s.groups.List(req.StatesFilter, req.TypesFilter) {
		// Groups known by their offsets are in every agent's replica;
		// each is listed by its coordinator only.
		if c.s.coordinates(g.Group) {
			resp.Groups = append(resp.Groups, g)
		}
	}
	return resp
}
