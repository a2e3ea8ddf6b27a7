package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeGroups v0-v5. States are Kafka's exact strings; a group that does
// not exist is "Dead" with no error, as Kafka answers below v6.
func init() {
	register(api{key: 15, min: 0, max: 5, handle: immediate(handleDescribeGroups)})
}

func handleDescribeGroups(c *clientConn, kreq kmsg.Request) kmsg.Response {
	req := kreq.(*kmsg.DescribeGroupsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeGroupsResponse)
	var mine []string
	for _, id := range req.Groups {
		if c.s.coordinates(id) {
			mine = append(mine, id)
		}
	}
	described := c.s.groups.Describe(mine)
	for _, id := range req.Groups {
		if c.s.coordinates(id) {
			resp.Groups = append(resp.Groups, described[0])
			described = described[1:]
			continue
		}
		dg := kmsg.NewDescribeGroupsResponseGroup()
		dg.Group, dg.ErrorCode = id, kerr.NotCoordinator.Code
		resp.Groups = append(resp.Groups, dg)
	}
	return resp
}
