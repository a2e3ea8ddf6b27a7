package kafka

import (
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeClientQuotas v0-v1. Wisp enforces no client quotas, so every
// filter matches nothing and the answer is an empty list. Answering (rather
// than closing the connection on an unknown key) lets `kafka-configs
// --describe --entity-type users` show SCRAM credentials, which it asks for
// together with quotas.
func init() {
	register(api{key: 48, min: 0, max: 1, handle: immediate(handleDescribeClientQuotas)})
	// An empty list reveals nothing, so no ACL is needed to receive it.
	authRules[48] = allowAll
}

func handleDescribeClientQuotas(_ *clientConn, kreq kmsg.Request) kmsg.Response {
	req := kreq.(*kmsg.DescribeClientQuotasRequest)
	resp := req.ResponseKind().(*kmsg.DescribeClientQuotasResponse)
	resp.Entries = []kmsg.DescribeClientQuotasResponseEntry{}
	return resp
}
