package kafka

import (
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeCluster v0-v2.
func init() {
	register(api{key: 60, min: 0, max: 2, handle: immediate(handleDescribeCluster)})
}

func handleDescribeCluster(c *clientConn, kreq kmsg.Request) kmsg.Response {
	req := kreq.(*kmsg.DescribeClusterRequest)
	resp := req.ResponseKind().(*kmsg.DescribeClusterResponse)
	brokers := c.brokers()
	resp.ClusterID = c.s.backend.Metadata().ClusterID()
	resp.ControllerID = brokers[0].NodeID
	resp.EndpointType = 1 // brokers
	resp.ClusterAuthorizedOperations = -2147483648
	for _, b := range brokers {
		rb := kmsg.NewDescribeClusterResponseBroker()
		rb.NodeID, rb.Host, rb.Port, rb.Rack = b.NodeID, b.Host, b.Port, b.Rack
		resp.Brokers = append(resp.Brokers, rb)
	}
	return resp
}
