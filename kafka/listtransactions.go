package kafka

import (
	"regexp"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/wisp-stream/wisp/fsm"
)

// ListTransactions v0-v2, with the state, producer id, duration (v1) and
// transactional id pattern (v2) filters. Admin clients ask every broker and
// concatenate the answers, so each agent lists only the transactional ids it
// coordinates by hash (see FindCoordinator): every id is listed once.
func init() {
	register(api{key: 66, min: 0, max: 2, handle: immediate(handleListTransactions)})
}

func handleListTransactions(c *clientConn, kreq kmsg.Request) kmsg.Response {
	req := kreq.(*kmsg.ListTransactionsRequest)
	resp := req.ResponseKind().(*kmsg.ListTransactionsResponse)
	states := map[fsm.TxnState]bool{}
	for _, name := range req.StateFilters {
		st, ok := fsm.ParseTxnState(name)
		if !ok {
			resp.UnknownStateFilters = append(resp.UnknownStateFilters, name)
			continue
		}
		states[st] = true
	}
	if len(req.StateFilters) > 0 && len(states) == 0 {
		return resp // only unknown states asked for: nothing matches
	}
	pids := map[int64]bool{}
	for _, pid := range req.ProducerIDFilters {
		pids[pid] = true
	}
	var pattern *regexp.Regexp
	if req.Version >= 2 && req.TransactionalIDPattern != nil && *req.TransactionalIDPattern != "" {
		var err error
		if pattern, err = regexp.Compile(*req.TransactionalIDPattern); err != nil {
			resp.ErrorCode = kerr.InvalidRegularExpression.Code
			return resp
		}
	}
	nowMs := time.Now().UnixMilli()
	txns := c.s.backend.Metadata().Txns(func(ti fsm.TxnInfo) bool {
		switch {
		case len(states) > 0 && !states[ti.State],
			len(pids) > 0 && !pids[ti.ProducerID],
			req.Version >= 1 && req.DurationFilterMillis >= 0 && (ti.StartMs < 0 || !running(ti.State) || nowMs-ti.StartMs < req.DurationFilterMillis),
			pattern != nil && !pattern.MatchString(ti.TransactionalID):
			return false
		}
		return true
	})
	for _, ti := range txns {
		if !c.s.coordinates(ti.TransactionalID) {
			continue
		}
		ts := kmsg.NewListTransactionsResponseTransactionState()
		ts.TransactionalID, ts.ProducerID, ts.TransactionState = ti.TransactionalID, ti.ProducerID, ti.State.String()
		resp.TransactionStates = append(resp.TransactionStates, ts)
	}
	return resp
}

// running reports whether a transaction in state st has not completed.
func running(st fsm.TxnState) bool {
	return st == fsm.TxnOngoing || st == fsm.TxnPrepareCommit || st == fsm.TxnPrepareAbort
}
