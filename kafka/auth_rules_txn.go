package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Authorization rules of the transaction APIs (see auth_rules.go), Kafka's:
// a transactional producer needs WRITE on its transactional id, plus WRITE
// on the topics it adds and READ on the group whose offsets it commits.

var txnDenied = kerr.TransactionalIDAuthorizationFailed.Code

func init() {
	authRules[24] = authorizeAddPartitionsToTxn
	authRules[25] = authorizeAddOffsetsToTxn
	authRules[26] = authorizeEndTxn
	authRules[28] = authorizeTxnOffsetCommit
	authRules[61] = authorizeDescribeProducers
	authRules[65] = authorizeDescribeTransactions
	authRules[66] = authorizeListTransactions
}

// AddPartitionsToTxn v0-v3 (clients): WRITE on the transactional id, else
// every partition TRANSACTIONAL_ID_AUTHORIZATION_FAILED; WRITE on each
// topic, else its partitions TOPIC_AUTHORIZATION_FAILED and the others
// OPERATION_NOT_ATTEMPTED. v4+ is the brokers' batched form: CLUSTER_ACTION
// on the cluster.
func authorizeAddPartitionsToTxn(c *clientConn, kreq kmsg.Request, _ *inflight) authResult {
	req := kreq.(*kmsg.AddPartitionsToTxnRequest)
	resp := req.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
	if req.Version >= 4 {
		if c.authorized(opClusterAction, resCluster, "") {
			return authResult{}
		}
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return authResult{deny: resp}
	}
	txnOK := c.authorized(opWrite, resTxnID, req.TransactionalID)
	refused := map[string]bool{}
	for _, t := range req.Topics {
		if !txnOK || !c.authorized(opWrite, resTopic, t.Topic) {
			refused[t.Topic] = true
		}
	}
	if len(refused) == 0 {
		return authResult{}
	}
	for _, t := range req.Topics {
		rt := kmsg.NewAddPartitionsToTxnResponseTopic()
		rt.Topic = t.Topic
		code := kerr.OperationNotAttempted.Code
		switch {
		case !txnOK:
			code = txnDenied
		case refused[t.Topic]:
			code = topicDenied
		}
		for _, p := range t.Partitions {
			rp := kmsg.NewAddPartitionsToTxnResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p, code
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return authResult{deny: resp}
}

// AddOffsetsToTxn: WRITE on the transactional id, READ on the group.
func authorizeAddOffsetsToTxn(c *clientConn, kreq kmsg.Request, _ *inflight) authResult {
	req := kreq.(*kmsg.AddOffsetsToTxnRequest)
	resp := req.ResponseKind().(*kmsg.AddOffsetsToTxnResponse)
	switch {
	case !c.authorized(opWrite, resTxnID, req.TransactionalID):
		resp.ErrorCode = txnDenied
	case !c.authorized(opRead, resGroup, req.Group):
		resp.ErrorCode = groupDenied
	default:
		return authResult{}
	}
	return authResult{deny: resp}
}

// EndTxn: WRITE on the transactional id.
func authorizeEndTxn(c *clientConn, kreq kmsg.Request, _ *inflight) authResult {
	req := kreq.(*kmsg.EndTxnRequest)
	if c.authorized(opWrite, resTxnID, req.TransactionalID) {
		return authResult{}
	}
	resp := req.ResponseKind().(*kmsg.EndTxnResponse)
	resp.ErrorCode, resp.ProducerID, resp.ProducerEpoch = txnDenied, -1, -1
	return authResult{deny: resp}
}

// TxnOffsetCommit: WRITE on the transactional id and READ on the group
// (every partition refused otherwise), READ on each topic.
func authorizeTxnOffsetCommit(c *clientConn, kreq kmsg.Request, _ *inflight) authResult {
	req := kreq.(*kmsg.TxnOffsetCommitRequest)
	errOf := func(t kmsg.TxnOffsetCommitRequestTopic, code int16) kmsg.TxnOffsetCommitResponseTopic {
		rt := kmsg.NewTxnOffsetCommitResponseTopic()
		rt.Topic, rt.TopicID = t.Topic, t.TopicID
		for _, p := range t.Partitions {
			rp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p.Partition, code
			rt.Partitions = append(rt.Partitions, rp)
		}
		return rt
	}
	resp := req.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
	code := int16(0)
	switch {
	case !c.authorized(opWrite, resTxnID, req.TransactionalID):
		code = txnDenied
	case !c.authorized(opRead, resGroup, req.Group):
		code = groupDenied
	}
	if code != 0 {
		for _, t := range req.Topics {
			resp.Topics = append(resp.Topics, errOf(t, code))
		}
		return authResult{deny: resp}
	}
	var errs []kmsg.TxnOffsetCommitResponseTopic
	req.Topics, errs = filterParts(req.Topics,
		func(t kmsg.TxnOffsetCommitRequestTopic) bool { return c.topicAllowed(opRead, t.Topic, t.TopicID) },
		func(t kmsg.TxnOffsetCommitRequestTopic) kmsg.TxnOffsetCommitResponseTopic {
			return errOf(t, topicDenied)
		})
	return refuseParts(req, len(req.Topics), errs, func(r kmsg.Response) *[]kmsg.TxnOffsetCommitResponseTopic {
		return &r.(*kmsg.TxnOffsetCommitResponse).Topics
	})
}

// DescribeProducers: READ on each topic; refused partitions are blanked.
func authorizeDescribeProducers(c *clientConn, kreq kmsg.Request, _ *inflight) authResult {
	return authResult{patch: func(r kmsg.Response) {
		resp := r.(*kmsg.DescribeProducersResponse)
		for i := range resp.Topics {
			t := &resp.Topics[i]
			if c.authorized(opRead, resTopic, t.Topic) {
				continue
			}
			for j := range t.Partitions {
				p := &t.Partitions[j]
				p.ErrorCode, p.ErrorMessage, p.ActiveProducers = topicDenied, nil, nil
			}
		}
	}}
}

// DescribeTransactions: DESCRIBE on each transactional id; a described
// transaction lists only the topics the principal may describe.
func authorizeDescribeTransactions(c *clientConn, kreq kmsg.Request, _ *inflight) authResult {
	return authResult{patch: func(r kmsg.Response) {
		resp := r.(*kmsg.DescribeTransactionsResponse)
		for i := range resp.TransactionStates {
			st := &resp.TransactionStates[i]
			if !c.authorized(opDescribe, resTxnID, st.TransactionalID) {
				id := st.TransactionalID
				*st = kmsg.NewDescribeTransactionsResponseTransactionState()
				st.TransactionalID, st.ErrorCode = id, txnDenied
				continue
			}
			kept := st.Topics[:0]
			for _, t := range st.Topics {
				if c.authorized(opDescribe, resTopic, t.Topic) {
					kept = append(kept, t)
				}
			}
			st.Topics = kept
		}
	}}
}

// ListTransactions: only the transactional ids the principal may describe.
func authorizeListTransactions(c *clientConn, kreq kmsg.Request, _ *inflight) authResult {
	return authResult{patch: func(r kmsg.Response) {
		resp := r.(*kmsg.ListTransactionsResponse)
		kept := resp.TransactionStates[:0]
		for _, st := range resp.TransactionStates {
			if c.authorized(opDescribe, resTxnID, st.TransactionalID) {
				kept = append(kept, st)
			}
		}
		resp.TransactionStates = kept
	}}
}
