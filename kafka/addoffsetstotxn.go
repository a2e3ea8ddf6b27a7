package kafka

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/wisp-stream/wisp/fsm"
)

// AddOffsetsToTxn v0-v4: the consumer group whose offsets the transaction
// will commit (with TxnOffsetCommit) joins the transaction.
func init() {
	register(api{key: 25, min: 0, max: 4, handle: immediate(handleAddOffsetsToTxn)})
}

func handleAddOffsetsToTxn(c *clientConn, kreq kmsg.Request) kmsg.Response {
	req := kreq.(*kmsg.AddOffsetsToTxnRequest)
	resp := req.ResponseKind().(*kmsg.AddOffsetsToTxnResponse)
	if req.Group == "" {
		resp.ErrorCode = kerr.InvalidGroupID.Code
		return resp
	}
	ctx, cancel := context.WithTimeout(c.ctx, txnWriteTimeout)
	defer cancel()
	r, err := c.s.applyTxn(ctx, &fsm.AddToTxn{
		TransactionalID: req.TransactionalID,
		ProducerID:      req.ProducerID,
		ProducerEpoch:   req.ProducerEpoch,
		Groups:          []string{req.Group},
		NowMs:           time.Now().UnixMilli(),
	})
	if err != nil {
		c.log.Warn("adding a group to a transaction failed", "transactional_id", req.TransactionalID, "group", req.Group, "err", err)
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return resp
	}
	resp.ErrorCode = fencedCode(r.ErrorCode, req.Version, 2)
	return resp
}
