package kafka

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/wisp-stream/wisp/fsm"
)

// InitProducerID v0-v5. Producer ids come from the Raft state machine, so two
// agents can never hand out the same one. With a transactional id the id
// keeps its producer id and every call bumps the epoch, fencing older
// instances; a transaction the old instance left running is aborted first
// (its markers written here), so the new instance starts clean.
func init() {
	register(api{key: 22, min: 0, max: 5, handle: immediate(handleInitProducerID)})
}

func handleInitProducerID(c *clientConn, kreq kmsg.Request) kmsg.Response {
	req := kreq.(*kmsg.InitProducerIDRequest)
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	if req.TransactionalID != nil && *req.TransactionalID != "" {
		r := c.s.initTxnProducer(c.ctx, req)
		resp.ErrorCode = fencedCode(r.ErrorCode, req.Version, 4)
		if r.ErrorCode == 0 {
			resp.ProducerID, resp.ProducerEpoch = r.ProducerID, r.ProducerEpoch
		}
		return resp
	}
	if req.ProducerID >= 0 {
		if id, ok := c.s.backend.Metadata().TxnForProducer(req.ProducerID); ok {
			// Bumping a transactional producer's epoch outside its
			// transactional id would desynchronise the two.
			c.log.Debug("refusing an idempotent epoch bump of a transactional producer", "producer_id", req.ProducerID, "transactional_id", id)
			resp.ErrorCode = kerr.InvalidProducerIDMapping.Code
			return resp
		}
	}
	res, err := c.s.backend.Apply(c.ctx, &fsm.InitProducerID{
		ProducerID:    req.ProducerID,
		ProducerEpoch: req.ProducerEpoch,
		NowMs:         time.Now().UnixMilli(),
	})
	if err != nil {
		c.log.Warn("init producer id failed", "err", err)
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return resp
	}
	r, ok := res.(fsm.InitProducerIDResult)
	if !ok {
		resp.ErrorCode = kerr.UnknownServerError.Code
		return resp
	}
	resp.ErrorCode, resp.ProducerID, resp.ProducerEpoch = r.ErrorCode, r.ProducerID, r.ProducerEpoch
	return resp
}

// initTxnProducer runs InitTxnProducer, finishing a prepared or fenced
// transaction of the id when the state machine asks for it, and retries.
// Kafka answers CONCURRENT_TRANSACTIONS and lets the client retry; doing the
// abort here saves the client its backoff. If finishing fails, the client
// gets CONCURRENT_TRANSACTIONS and retries.
func (s *Server) initTxnProducer(ctx context.Context, req *kmsg.InitProducerIDRequest) fsm.TxnResult {
	ctx, cancel := context.WithTimeout(ctx, txnWriteTimeout)
	defer cancel()
	cmd := &fsm.InitTxnProducer{
		TransactionalID: *req.TransactionalID,
		TimeoutMs:       req.TransactionTimeoutMillis,
		ProducerID:      -1,
		ProducerEpoch:   -1,
	}
	if req.Version >= 3 && req.ProducerID >= 0 {
		cmd.ProducerID, cmd.ProducerEpoch = req.ProducerID, req.ProducerEpoch
	}
	for attempt := 0; ; attempt++ {
		cmd.NowMs = time.Now().UnixMilli()
		r, err := s.applyTxn(ctx, cmd)
		if err != nil {
			s.log.Warn("init transactional producer failed", "transactional_id", cmd.TransactionalID, "err", err)
			return fsm.TxnResult{ErrorCode: kerr.CoordinatorNotAvailable.Code}
		}
		if r.ErrorCode != kerr.ConcurrentTransactions.Code || r.Pending == nil || attempt == 3 {
			return r
		}
		s.log.Info("aborting the transaction a previous producer instance left running",
			"transactional_id", cmd.TransactionalID, "producer_id", r.Pending.End.ProducerID, "commit", r.Pending.End.Commit)
		if err := s.FinishTxn(ctx, *r.Pending); err != nil {
			s.log.Warn("finishing the previous transaction failed; the producer will retry", "transactional_id", cmd.TransactionalID, "err", err)
			return fsm.TxnResult{ErrorCode: kerr.ConcurrentTransactions.Code}
		}
	}
}
