package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hashicorp/raft"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/wisp-stream/wisp/fsm"
)

// Transaction timeouts run on the Raft leader: the loop aborts every
// transaction older than its timeout (transaction.timeout.ms of its
// producer) with a fenced epoch, so a producer that hung or died cannot
// hold back read_committed consumers, and cannot commit once it wakes up.
// It also finishes prepared transactions whose markers were lost with a
// crashed agent. The decision to abort is a Raft command stamped with the
// leader's clock (Apply never reads one), and the markers go through the
// flusher like any produce, so a leader change mid-way loses nothing: the
// next leader finds the transaction prepared and finishes it.

func init() {
	registerResult(fsm.TxnResult{})
}

// TxnConfig tunes the transaction loop.
type TxnConfig struct {
	// Interval is how often the leader looks for expired transactions.
	Interval time.Duration
	// PreparedGrace is how long a prepared transaction may wait for its
	// markers before the loop writes them itself: longer than the slowest
	// flush, since the agent that prepared it is normally writing them.
	PreparedGrace time.Duration
}

func defaultTxnConfig(flush time.Duration) TxnConfig {
	return TxnConfig{Interval: time.Second, PreparedGrace: max(10*time.Second, 20*flush)}
}

// txnReaper is the leader-only transaction loop.
type txnReaper struct {
	cfg    TxnConfig
	fsm    *fsm.FSM
	raft   *raftNode
	finish func(ctx context.Context, p fsm.TxnPending) error // writes markers (kafka.Server.FinishTxn)
	log    *slog.Logger
	now    func() time.Time
}

// startTxnReaper starts the loop; it stops with ctx.
func (a *Agent) startTxnReaper(ctx context.Context) {
	r := &txnReaper{
		cfg:    defaultTxnConfig(a.cfg.FlushInterval),
		fsm:    a.fsm,
		raft:   a.raft,
		finish: a.kafka.FinishTxn,
		log:    a.log.With("component", "txn"),
		now:    time.Now,
	}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		r.run(ctx)
	}()
}

func (r *txnReaper) run(ctx context.Context) {
	t := time.NewTicker(r.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if r.raft.raft.State() != raft.Leader {
			continue
		}
		if err := r.pass(ctx); err != nil && ctx.Err() == nil {
			r.log.Warn("transaction timeout pass failed; will retry", "err", err, "retry_in", r.cfg.Interval)
		}
	}
}

// pass aborts the expired transactions and finishes the stale prepared
// ones. Each is independent: one failure does not stop the others.
func (r *txnReaper) pass(ctx context.Context) error {
	now := r.now()
	expired, prepared := r.fsm.TxnsToFinish(now.UnixMilli(), now.Add(-r.cfg.PreparedGrace).UnixMilli())
	var errs []error
	for _, ti := range expired {
		res, err := r.raft.apply(ctx, &fsm.EndTxn{
			TransactionalID: ti.TransactionalID,
			ProducerID:      ti.ProducerID,
			ProducerEpoch:   ti.ProducerEpoch,
			Expire:          true,
			NowMs:           now.UnixMilli(),
		})
		tr, ok := res.(fsm.TxnResult)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("abort expired transaction %q: %w", ti.TransactionalID, err))
			continue
		case !ok:
			errs = append(errs, fmt.Errorf("abort expired transaction %q: unexpected fsm response %T", ti.TransactionalID, res))
			continue
		case tr.ErrorCode == kerr.InvalidTxnState.Code || tr.Pending == nil:
			continue // it ended or moved on since we looked
		case tr.ErrorCode != 0:
			errs = append(errs, fmt.Errorf("abort expired transaction %q: %w", ti.TransactionalID, kerr.ErrorForCode(tr.ErrorCode)))
			continue
		}
		r.log.Info("aborting a transaction that outlived its timeout; its producer is fenced",
			"transactional_id", ti.TransactionalID, "producer_id", ti.ProducerID, "timeout", time.Duration(ti.TimeoutMs)*time.Millisecond,
			"running_for", now.Sub(time.UnixMilli(ti.StartMs)).Round(time.Millisecond), "partitions", len(ti.Partitions))
		if err := r.finish(ctx, *tr.Pending); err != nil {
			errs = append(errs, err)
		}
	}
	for _, ti := range prepared {
		r.log.Info("finishing a prepared transaction whose markers were not written",
			"transactional_id", ti.TransactionalID, "state", ti.State, "prepared_at", time.UnixMilli(ti.UpdateMs))
		if err := r.finish(ctx, ti.Pending()); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
