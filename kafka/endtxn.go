package kafka

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/wisp-stream/wisp/fsm"
)

// EndTxn v0-v4 commits or aborts the producer's transaction. The decision is
// recorded in Raft on the connection's reader goroutine (so it is ordered
// with the connection's other requests); the markers are written by the
// response, which waits for their flush. A retry finds the transaction
// prepared (and finishes it) or complete (and succeeds). v5 (KIP-890 part
// 2, an epoch bump on every EndTxn) is not served: Wisp does not advertise
// transaction.version 2, so clients use the classic protocol.
func init() {
	register(api{key: 26, min: 0, max: 4, handle: handleEndTxn})
}

func handleEndTxn(c *clientConn, kreq kmsg.Request, _ *inflight) respond {
	req := kreq.(*kmsg.EndTxnRequest)
	resp := req.ResponseKind().(*kmsg.EndTxnResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	answer := func(code int16) respond {
		resp.ErrorCode = fencedCode(code, req.Version, 2)
		return func() kmsg.Response { return resp }
	}
	ctx, cancel := context.WithTimeout(c.ctx, txnWriteTimeout)
	r, err := c.s.applyTxn(ctx, &fsm.EndTxn{
		TransactionalID: req.TransactionalID,
		ProducerID:      req.ProducerID,
		ProducerEpoch:   req.ProducerEpoch,
		Commit:          req.Commit,
		NowMs:           time.Now().UnixMilli(),
	})
	cancel()
	if err != nil {
		c.log.Warn("ending a transaction failed", "transactional_id", req.TransactionalID, "err", err)
		return answer(kerr.CoordinatorNotAvailable.Code)
	}
	if r.ErrorCode != 0 || r.Pending == nil {
		return answer(r.ErrorCode)
	}
	pending := *r.Pending
	return func() kmsg.Response {
		if err := c.s.FinishTxn(c.ctx, pending); err != nil {
			// The outcome is decided and in Raft: the client's retry (or
			// the leader's loop) writes the markers.
			c.log.Warn("writing transaction markers failed; the client will retry", "transactional_id", req.TransactionalID, "err", err)
			resp.ErrorCode = txnCodeForError(err)
		}
		return resp
	}
}
