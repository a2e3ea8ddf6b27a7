package kafka

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Per-API authorization, Kafka's rules (KafkaApis): which operation on which
// resource each request needs, and which error a refused part gets. A rule
// runs in decode, before the handler, only when the authorizer is on and the
// principal is not a super user. It may
//
//   - refuse the whole request: the handler does not run and deny answers
//     (or, with skip, nothing is answered: acks=0 produce);
//   - drop the unauthorized parts from the request (so the handler never
//     acts on them, not even to auto-create a topic) and return a patch that
//     adds their errors to the handler's response, or hides what the
//     principal may not see in a read-only answer;
//   - let it through.
//
// Handlers therefore need no authorization code of their own, except the
// security admin APIs (ACLs, SCRAM), which check c.authorized themselves.
// Every served API must have a rule: decode refuses a request of an API
// without one (TestEveryAPIHasAnAuthRule keeps the table complete).

type authResult struct {
	deny  kmsg.Response
	skip  bool // answer nothing (acks=0)
	patch func(kmsg.Response)
}

type authRule func(c *clientConn, req kmsg.Request, in *inflight) authResult

var authRules = map[int16]authRule{}

// allowAll marks APIs that need no authorization (ApiVersions, SASL,
// DescribeCluster) or whose handler authorizes itself.
func allowAll(*clientConn, kmsg.Request, *inflight) authResult { return authResult{} }

func init() {
	for _, k := range []int16{apiVersionsKey, saslHandshakeKey, saslAuthenticateKey, 60, // DescribeCluster
		29, 30, 31, 50, 51} { // ACL and SCRAM admin: checked in their handlers
		authRules[k] = allowAll
	}
}

// authorize applies the API's rule to a decoded request and returns the
// handler's answer with the rule's effect.
func (c *clientConn) authorize(a api, req kmsg.Request, in *inflight) (respond, error) {
	if !c.authorizing() || c.superUser() {
		return a.handle(c, req, in), nil
	}
	rule, ok := authRules[a.key]
	if !ok {
		c.log.Error("refusing a request of an API without an authorization rule; this is a bug to report", "api", kmsg.NameForKey(a.key))
		return nil, fmt.Errorf("%w: %s has no authorization rule", errFrame, kmsg.NameForKey(a.key))
	}
	res := rule(c, req, in)
	switch {
	case res.skip:
		return func() kmsg.Response { return nil }, nil
	case res.deny != nil:
		return func() kmsg.Response { return res.deny }, nil
	}
	h := a.handle(c, req, in)
	if res.patch == nil {
		return h, nil
	}
	return func() kmsg.Response {
		r := h()
		if r != nil {
			res.patch(r)
		}
		return r
	}, nil
}

// refuseParts ends a rule that took the refused parts out of a request
// (left is how many parts remain, errs the refused parts' answers, field the
// list of the response they belong in): with none refused the request goes
// through; with none left errs alone answer it, without the handler; else
// the handler answers the rest and errs are appended.
func refuseParts[E any](req kmsg.Request, left int, errs []E, field func(kmsg.Response) *[]E) authResult {
	switch {
	case len(errs) == 0:
		return authResult{}
	case left == 0:
		resp := req.ResponseKind()
		*field(resp) = errs
		return authResult{deny: resp}
	}
	return authResult{patch: func(r kmsg.Response) {
		f := field(r)
		*f = append(*f, errs...)
	}}
}

// filterParts splits items into the authorized ones, to keep in the
// request, and the answers of the refused ones.
func filterParts[Req, Err any](items []Req, allowed func(Req) bool, errOf func(Req) Err) (kept []Req, errs []Err) {
	for _, it := range items {
		if allowed(it) {
			kept = append(kept, it)
		} else {
			errs = append(errs, errOf(it))
		}
	}
	return kept, errs
}

// topicName resolves a topic named by name or, when name is empty, by id.
// ok is false for an unknown id: the handler answers UNKNOWN_TOPIC_ID for it
// and no authorization is needed to learn that.
func (c *clientConn) topicName(name string, id [16]byte) (string, bool) {
	if name != "" {
		return name, true
	}
	if t, ok := c.s.topicByID(c.ctx, id); ok {
		return t.Name, true
	}
	return "", false
}

// topicAllowed reports whether op is allowed on the topic; topics named by
// an unknown id pass (they are answered unknown).
func (c *clientConn) topicAllowed(op int8, name string, id [16]byte) bool {
	n, ok := c.topicName(name, id)
	return !ok || c.authorized(op, resTopic, n)
}

// Group membership APIs: READ on the group, or GROUP_AUTHORIZATION_FAILED.
func init() {
	code := kerr.GroupAuthorizationFailed.Code
	authRules[11] = func(c *clientConn, kreq kmsg.Request, _ *inflight) authResult { // JoinGroup
		req := kreq.(*kmsg.JoinGroupRequest)
		if c.authorized(opRead, resGroup, req.Group) {
			return authResult{}
		}
		resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
		resp.ErrorCode, resp.MemberID = code, req.MemberID
		return authResult{deny: resp}
	}
	authRules[12] = func(c *clientConn, kreq kmsg.Request, _ *inflight) authResult { // Heartbeat
		req := kreq.(*kmsg.HeartbeatRequest)
		if c.authorized(opRead, resGroup, req.Group) {
			return authResult{}
		}
		resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
		resp.ErrorCode = code
		return authResult{deny: resp}
	}
	authRules[13] = func(c *clientConn, kreq kmsg.Request, _ *inflight) authResult { // LeaveGroup
		req := kreq.(*kmsg.LeaveGroupRequest)
		if c.authorized(opRead, resGroup, req.Group) {
			return authResult{}
		}
		resp := req.ResponseKind().(*kmsg.LeaveGroupResponse)
		resp.ErrorCode = code
		return authResult{deny: resp}
	}
	authRules[14] = func(c *clientConn, kreq kmsg.Request, _ *inflight) authResult { // SyncGroup
		req := kreq.(*kmsg.SyncGroupRequest)
		if c.authorized(opRead, resGroup, req.Group) {
			return authResult{}
		}
		resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
		resp.ErrorCode = code
		return authResult{deny: resp}
	}
	authRules[68] = func(c *clientConn, kreq kmsg.Request, _ *inflight) authResult { // ConsumerGroupHeartbeat
		req := kreq.(*kmsg.ConsumerGroupHeartbeatRequest)
		resp := req.ResponseKind().(*kmsg.ConsumerGroupHeartbeatResponse)
		if !c.authorized(opRead, resGroup, req.Group) {
			resp.ErrorCode = code
			return authResult{deny: resp}
		}
		for _, t := range req.SubscribedTopicNames {
			if !c.authorized(opDescribe, resTopic, t) {
				resp.ErrorCode = kerr.TopicAuthorizationFailed.Code
				resp.ErrorMessage = kmsg.StringPtr("not authorized to describe subscribed topic " + t)
				return authResult{deny: resp}
			}
		}
		return authResult{}
	}
}

// InitProducerId: WRITE on the transactional id, or for an idempotent
// producer IDEMPOTENT_WRITE on the cluster or WRITE on any topic (KIP-679).
func init() {
	authRules[22] = func(c *clientConn, kreq kmsg.Request, _ *inflight) authResult {
		req := kreq.(*kmsg.InitProducerIDRequest)
		resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
		resp.ProducerEpoch = -1
		if req.TransactionalID != nil {
			if c.authorized(opWrite, resTxnID, *req.TransactionalID) {
				return authResult{}
			}
			resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
			return authResult{deny: resp}
		}
		if c.authorized(opIdempotentWrite, resCluster, "") || c.authorizedAnyOfType(opWrite, resTopic) {
			return authResult{}
		}
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return authResult{deny: resp}
	}
}
