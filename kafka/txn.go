package kafka

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/wisp-stream/wisp/fsm"
	"github.com/wisp-stream/wisp/kafka/recordbatch"
)

// Transactions: the state of every transactional id is in Raft (fsm/txn.go),
// so any agent serves any transactional id. FindCoordinator still spreads
// the ids over the live agents by hash, like groups, so their requests
// spread too; an agent asked about an id it does not "coordinate" serves it
// anyway, which keeps clients working while agents join and leave.
//
// Ending a transaction takes two Raft commands: EndTxn records the outcome
// (PrepareCommit or PrepareAbort), then the markers are appended to the
// flusher like a produce request, and the CommitFile that indexes them also
// completes the transaction. FinishTxn is that second step; EndTxn,
// InitProducerId (which aborts a running transaction first) and the
// leader's timeout loop call it, and so may any agent that finds a prepared
// transaction whose markers were lost with a crashed agent.

// txnWriteTimeout bounds one transaction request's Raft writes and marker
// flush.
const txnWriteTimeout = 30 * time.Second

// applyTxn applies a transaction command that answers with a TxnResult.
func (s *Server) applyTxn(ctx context.Context, cmd fsm.Command) (fsm.TxnResult, error) {
	res, err := s.backend.Apply(ctx, cmd)
	if err != nil {
		return fsm.TxnResult{}, err
	}
	r, ok := res.(fsm.TxnResult)
	if !ok {
		return fsm.TxnResult{}, fmt.Errorf("unexpected fsm response %T to %T", res, cmd)
	}
	return r, nil
}

// errMarkersNotWritten is FinishTxn's error when the markers did not reach
// the bucket and Raft: the transaction stays prepared, and a retry (or the
// leader's timeout loop) finishes it.
var errMarkersNotWritten = errors.New("transaction markers not written")

// FinishTxn completes a prepared transaction: one control batch with the
// outcome into each of its partitions, committed together with the
// completion, or CompleteTxn when it has no partitions. It returns nil once
// the transaction is complete, also when another agent completed it first
// (its markers are then refused by the state machine, and nothing is
// written twice). It waits for the flush that carries the markers, so it
// takes about one flush interval.
func (s *Server) FinishTxn(ctx context.Context, p fsm.TxnPending) error {
	ctx, cancel := context.WithTimeout(ctx, txnWriteTimeout)
	defer cancel()
	now := time.Now().UnixMilli()
	if len(p.Partitions) == 0 {
		r, err := s.applyTxn(ctx, &fsm.CompleteTxn{End: p.End, NowMs: now})
		if err != nil {
			return fmt.Errorf("complete transaction %q: %w", p.End.TransactionalID, err)
		}
		if r.ErrorCode != 0 && r.ErrorCode != kerr.InvalidTxnState.Code {
			return fmt.Errorf("complete transaction %q: %w", p.End.TransactionalID, kerr.ErrorForCode(r.ErrorCode))
		}
		return nil // INVALID_TXN_STATE: no longer prepared, someone else completed it
	}
	raw := txnMarker(p.End, now)
	h, err := recordbatch.ParseHeader(raw)
	if err != nil {
		return fmt.Errorf("build the markers of transaction %q: %w", p.End.TransactionalID, err)
	}
	batches := make([]ProduceBatch, len(p.Partitions))
	for i, k := range p.Partitions {
		batches[i] = ProduceBatch{TopicID: k.TopicID, Partition: k.Partition, Header: h, Raw: raw}
	}
	end := p.End
	batches[0].TxnEnd = &end
	t, err := s.backend.Append(ctx, batches)
	if err != nil {
		return fmt.Errorf("%w: transaction %q: %w", errMarkersNotWritten, p.End.TransactionalID, err)
	}
	select {
	case <-t.Done():
	case <-ctx.Done():
		return fmt.Errorf("%w: transaction %q: waiting for the flush: %w", errMarkersNotWritten, p.End.TransactionalID, ctx.Err())
	}
	if _, err := t.Results(); err != nil {
		return fmt.Errorf("%w: transaction %q: %w", errMarkersNotWritten, p.End.TransactionalID, err)
	}
	s.log.Debug("transaction completed", "transactional_id", p.End.TransactionalID, "commit", p.End.Commit, "partitions", len(p.Partitions))
	return nil
}

// txnMarker is the control batch that ends a transaction in one partition,
// in Kafka's format: control and transactional attributes, one record whose
// key is (version 0, type: 0 abort, 1 commit) and whose value is (version 0,
// coordinator epoch). Wisp has no coordinator epochs: the state machine
// orders every coordinator action, so the epoch is always 0.
func txnMarker(end fsm.TxnEnd, nowMs int64) []byte {
	var typ byte // ABORT
	if end.Commit {
		typ = 1 // COMMIT
	}
	return recordbatch.Build(recordbatch.BuildOptions{
		FirstTimestamp: nowMs,
		ProducerID:     end.ProducerID,
		ProducerEpoch:  end.ProducerEpoch,
		BaseSequence:   -1,
		Transactional:  true,
		Control:        true,
	}, []recordbatch.Record{{Key: []byte{0, 0, 0, typ}, Value: []byte{0, 0, 0, 0, 0, 0}}})
}

// fencedCode maps PRODUCER_FENCED to INVALID_PRODUCER_EPOCH for request
// versions from before KIP-588 added it (since is the first version that
// may carry it), as Kafka does, so older clients fence the same way.
func fencedCode(code int16, version, since int16) int16 {
	if code == kerr.ProducerFenced.Code && version < since {
		return kerr.InvalidProducerEpoch.Code
	}
	return code
}

// txnCodeForError answers a transaction request whose Raft write failed:
// the client retries on COORDINATOR_NOT_AVAILABLE and CONCURRENT_TRANSACTIONS.
func txnCodeForError(err error) int16 {
	if errors.Is(err, errMarkersNotWritten) {
		return kerr.ConcurrentTransactions.Code
	}
	return kerr.CoordinatorNotAvailable.Code
}
