package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/wisp-stream/wisp/fsm"
)

// DescribeTransactions v0: state, producer, timeout, start time and
// partitions of transactional ids, read from the local replica (any agent
// knows every id).
func init() {
	register(api{key: 65, min: 0, max: 0, handle: immediate(handleDescribeTransactions)})
}

func handleDescribeTransactions(c *clientConn, kreq kmsg.Request) kmsg.Response {
	req := kreq.(*kmsg.DescribeTransactionsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeTransactionsResponse)
	md := c.s.backend.Metadata()
	for _, id := range req.TransactionalIDs {
		st := kmsg.NewDescribeTransactionsResponseTransactionState()
		st.TransactionalID = id
		ti, ok := md.Txn(id)
		if !ok && c.s.backend.SyncMetadata(c.ctx) == nil {
			ti, ok = md.Txn(id)
		}
		if !ok {
			st.ErrorCode = kerr.TransactionalIDNotFound.Code
			resp.TransactionStates = append(resp.TransactionStates, st)
			continue
		}
		st.State, st.TimeoutMillis, st.ProducerID, st.ProducerEpoch = ti.State.String(), ti.TimeoutMs, ti.ProducerID, ti.ProducerEpoch
		st.StartTimestamp = -1
		if running(ti.State) {
			st.StartTimestamp = ti.StartMs
		}
		st.Topics = txnTopics(md, ti.Partitions)
		resp.TransactionStates = append(resp.TransactionStates, st)
	}
	return resp
}

// txnTopics groups a transaction's partitions by topic name, in partition
// order; partitions of deleted topics are left out.
func txnTopics(md *fsm.FSM, keys []fsm.PartitionKey) []kmsg.DescribeTransactionsResponseTransactionStateTopic {
	var out []kmsg.DescribeTransactionsResponseTransactionStateTopic
	for _, k := range keys { // sorted by topic id, then partition
		info, ok := md.TopicByID(k.TopicID)
		if !ok {
			continue
		}
		if n := len(out); n == 0 || out[n-1].Topic != info.Name {
			t := kmsg.NewDescribeTransactionsResponseTransactionStateTopic()
			t.Topic = info.Name
			out = append(out, t)
		}
		out[len(out)-1].Partitions = append(out[len(out)-1].Partitions, k.Partition)
	}
	return out
}
