package kafka

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/wisp-stream/wisp/fsm"
)

// AddPartitionsToTxn v0-v5. v0-v3 add one producer's partitions; v4+ is the
// batched form of KIP-890 (many transactions per request, and VerifyOnly,
// which checks that partitions are in a transaction without adding them).
// As in Kafka, one unknown partition fails the whole transaction's request:
// it answers UNKNOWN_TOPIC_OR_PARTITION and the others OPERATION_NOT_ATTEMPTED.
func init() {
	register(api{key: 24, min: 0, max: 5, handle: immediate(handleAddPartitionsToTxn)})
}

// txnTopicParts is one topic's partitions in a request.
type txnTopicParts struct {
	topic      string
	partitions []int32
}

func handleAddPartitionsToTxn(c *clientConn, kreq kmsg.Request) kmsg.Response {
	req := kreq.(*kmsg.AddPartitionsToTxnRequest)
	resp := req.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
	if req.Version < 4 {
		topics := make([]txnTopicParts, len(req.Topics))
		for i, t := range req.Topics {
			topics[i] = txnTopicParts{t.Topic, t.Partitions}
		}
		codes := c.s.addPartitionsToTxn(c.ctx, req.TransactionalID, req.ProducerID, req.ProducerEpoch, topics, false)
		for i, t := range topics {
			rt := kmsg.NewAddPartitionsToTxnResponseTopic()
			rt.Topic = t.topic
			for j, p := range t.partitions {
				rp := kmsg.NewAddPartitionsToTxnResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p, fencedCode(codes[i][j], req.Version, 2)
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp
	}
	for _, tx := range req.Transactions {
		topics := make([]txnTopicParts, len(tx.Topics))
		for i, t := range tx.Topics {
			topics[i] = txnTopicParts{t.Topic, t.Partitions}
		}
		codes := c.s.addPartitionsToTxn(c.ctx, tx.TransactionalID, tx.ProducerID, tx.ProducerEpoch, topics, tx.VerifyOnly)
		rtx := kmsg.NewAddPartitionsToTxnResponseTransaction()
		rtx.TransactionalID = tx.TransactionalID
		for i, t := range topics {
			rt := kmsg.NewAddPartitionsToTxnResponseTransactionTopic()
			rt.Topic = t.topic
			for j, p := range t.partitions {
				rp := kmsg.NewAddPartitionsToTxnResponseTransactionTopicPartition()
				rp.Partition, rp.ErrorCode = p, codes[i][j]
				rt.Partitions = append(rt.Partitions, rp)
			}
			rtx.Topics = append(rtx.Topics, rt)
		}
		resp.Transactions = append(resp.Transactions, rtx)
	}
	return resp
}

// addPartitionsToTxn answers one transaction's partitions: an error code
// per partition, in request order.
func (s *Server) addPartitionsToTxn(ctx context.Context, id string, pid int64, epoch int16, topics []txnTopicParts, verifyOnly bool) [][]int16 {
	codes := make([][]int16, len(topics))
	for i, t := range topics {
		codes[i] = make([]int16, len(t.partitions))
	}
	all := func(code int16) [][]int16 {
		for _, cs := range codes {
			for j := range cs {
				cs[j] = code
			}
		}
		return codes
	}
	keys := make([][]fsm.PartitionKey, len(topics))
	var cmd fsm.AddToTxn
	unknown := false
	for i, t := range topics {
		info, ok := s.topicByName(ctx, t.topic)
		for j, p := range t.partitions {
			if !ok || p < 0 || p >= info.Partitions {
				codes[i][j] = kerr.UnknownTopicOrPartition.Code
				unknown = true
				continue
			}
			k := fsm.PartitionKey{TopicID: info.ID, Partition: p}
			keys[i] = append(keys[i], k)
			cmd.Partitions = append(cmd.Partitions, k)
		}
	}
	if unknown {
		for _, cs := range codes {
			for j := range cs {
				if cs[j] == 0 {
					cs[j] = kerr.OperationNotAttempted.Code
				}
			}
		}
		return codes
	}
	if len(cmd.Partitions) == 0 {
		return codes
	}
	if verifyOnly {
		return all(s.verifyTxnPartitions(id, pid, epoch, cmd.Partitions))
	}
	cmd.TransactionalID, cmd.ProducerID, cmd.ProducerEpoch = id, pid, epoch
	cmd.NowMs = time.Now().UnixMilli()
	ctx, cancel := context.WithTimeout(ctx, txnWriteTimeout)
	defer cancel()
	r, err := s.applyTxn(ctx, &cmd)
	if err != nil {
		s.log.Warn("adding partitions to a transaction failed", "transactional_id", id, "err", err)
		return all(kerr.CoordinatorNotAvailable.Code)
	}
	return all(r.ErrorCode)
}

// verifyTxnPartitions answers VerifyOnly: whether every partition is in the
// producer's ongoing transaction, read from the local replica.
func (s *Server) verifyTxnPartitions(id string, pid int64, epoch int16, keys []fsm.PartitionKey) int16 {
	ti, ok := s.backend.Metadata().Txn(id)
	switch {
	case !ok || ti.ProducerID != pid:
		return kerr.InvalidProducerIDMapping.Code
	case ti.ProducerEpoch != epoch:
		return kerr.ProducerFenced.Code
	case ti.State != fsm.TxnOngoing:
		return kerr.InvalidTxnState.Code
	}
	in := make(map[fsm.PartitionKey]bool, len(ti.Partitions))
	for _, k := range ti.Partitions {
		in[k] = true
	}
	for _, k := range keys {
		if !in[k] {
			return kerr.InvalidTxnState.Code
		}
	}
	return 0
}
