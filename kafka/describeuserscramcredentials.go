package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeUserScramCredentials v0: which SCRAM mechanisms (and iteration
// counts) each user has, never the credentials themselves. Needs DESCRIBE on
// the cluster.
func init() {
	register(api{key: 50, min: 0, max: 0, handle: immediate(handleDescribeUserSCRAMCredentials)})
}

func handleDescribeUserSCRAMCredentials(c *clientConn, kreq kmsg.Request) kmsg.Response {
	req := kreq.(*kmsg.DescribeUserSCRAMCredentialsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeUserSCRAMCredentialsResponse)
	if !c.authorized(opDescribe, resCluster, "") {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		resp.ErrorMessage = kmsg.StringPtr("describing SCRAM credentials needs DESCRIBE on the cluster")
		return resp
	}
	byUser := map[string][]kmsg.DescribeUserSCRAMCredentialsResponseResultCredentialInfo{}
	var users []string
	for _, cred := range c.s.backend.Metadata().ScramCredentials() {
		if _, ok := byUser[cred.User]; !ok {
			users = append(users, cred.User)
		}
		ci := kmsg.NewDescribeUserSCRAMCredentialsResponseResultCredentialInfo()
		ci.Mechanism, ci.Iterations = cred.Mechanism, cred.Iterations
		byUser[cred.User] = append(byUser[cred.User], ci)
	}
	if len(req.Users) > 0 {
		users = users[:0]
		count := map[string]int{}
		for _, u := range req.Users {
			count[u.Name]++
		}
		for _, u := range req.Users {
			n := count[u.Name]
			if n == 0 {
				continue // a duplicate already answered
			}
			count[u.Name] = 0
			r := kmsg.NewDescribeUserSCRAMCredentialsResponseResult()
			r.User = u.Name
			switch {
			case n > 1:
				r.ErrorCode = kerr.DuplicateResource.Code
				r.ErrorMessage = kmsg.StringPtr("cannot describe SCRAM credentials for the same user twice in a single request")
			case len(byUser[u.Name]) == 0:
				r.ErrorCode = kerr.ResourceNotFound.Code
				r.ErrorMessage = kmsg.StringPtr("attempt to describe a user credential that does not exist")
			default:
				r.CredentialInfos = byUser[u.Name]
			}
			resp.Results = append(resp.Results, r)
		}
		return resp
	}
	for _, u := range users {
		r := kmsg.NewDescribeUserSCRAMCredentialsResponseResult()
		r.User, r.CredentialInfos = u, byUser[u]
		resp.Results = append(resp.Results, r)
	}
	return resp
}
