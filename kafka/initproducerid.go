package kafka

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/wisp-stream/wisp/fsm"
)

// InitProducerID v0-v5. Producer ids come from the Raft state machine, so two
// agents can never hand out the same one.
func init() {
	register(api{key: 22, min: 0, max: 5, handle: immediate(handleInitProducerID)})
}

func handleInitProducerID(c *clientConn, kreq kmsg.Request) kmsg.Response {
	req := kreq.(*kmsg.InitProducerIDRequest)
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	if req.TransactionalID != nil && *req.TransactionalID != "" {
		c.log.Warn("refusing transactional producer: transactions are not supported yet", "transactional_id", *req.TransactionalID)
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
		return resp
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
