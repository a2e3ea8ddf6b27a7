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
	resp.Groups = describeCoordinated(c.s, req.Groups, c.s.groups.Describe, func(id string) kmsg.DescribeGroupsResponseGroup {
		g := kmsg.NewDescribeGroupsResponseGroup()
		g.Group, g.ErrorCode = id, kerr.NotCoordinator.Code
		return g
	})
	return resp
}
