package fsm

import (
	"maps"
	"slices"
	"strings"
)

// TxnInfo describes a transactional id and its current (or last)
// transaction.
type TxnInfo struct {
	TransactionalID string
	ProducerID      int64
	ProducerEpoch   int16
	State           TxnState
	TimeoutMs       int32
	StartMs         int64 // when the transaction began; -1 before the first
	UpdateMs        int64 // last change of state
	Partitions      []PartitionKey
	Groups          []string
}

func (t *txn) info(id string) TxnInfo {
	ti := TxnInfo{
		TransactionalID: id, ProducerID: t.pid, ProducerEpoch: t.epoch, State: t.state,
		TimeoutMs: t.timeoutMs, StartMs: t.startMs, UpdateMs: t.updateMs, Partitions: slices.Clone(t.parts),
	}
	for _, g := range t.groups {
		ti.Groups = append(ti.Groups, g.group)
	}
	return ti
}

// Pending is what finishing the transaction takes, for one in a Prepare
// state.
func (ti TxnInfo) Pending() TxnPending {
	return TxnPending{
		End:        TxnEnd{TransactionalID: ti.TransactionalID, ProducerID: ti.ProducerID, ProducerEpoch: ti.ProducerEpoch, Commit: ti.State == TxnPrepareCommit},
		Partitions: slices.Clone(ti.Partitions),
	}
}

// Txn describes one transactional id; false if it is unknown.
func (f *FSM) Txn(id string) (TxnInfo, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	t := f.s.txns.get(id)
	if t == nil {
		return TxnInfo{}, false
	}
	return t.info(id), true
}

// Txns lists the transactional ids for which keep returns true (nil keeps
// all), sorted by id. keep runs under the state's read lock: it must not
// call back into the FSM.
func (f *FSM) Txns(keep func(TxnInfo) bool) []TxnInfo {
	f.mu.RLock()
	defer f.mu.RUnlock()
	var out []TxnInfo
	for _, id := range slices.Sorted(maps.Keys(f.s.txns.byID)) {
		ti := f.s.txns.byID[id].info(id)
		if keep == nil || keep(ti) {
			out = append(out, ti)
		}
	}
	return out
}

// TxnForProducer returns the transactional id a producer id belongs to;
// false for idempotent-only producers and unknown ids.
func (f *FSM) TxnForProducer(pid int64) (string, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	id, ok := f.s.txns.byPID[pid]
	return id, ok
}

// LastStableOffset is the offset below which every transaction in the
// partition is decided: the first offset of its oldest ongoing
// transaction, or the high watermark when none is ongoing. read_committed
// consumers read up to it. It also returns the high watermark of the same
// moment; false if the partition does not exist.
func (f *FSM) LastStableOffset(topicID [16]byte, p int32) (lso, hw int64, ok bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	part := f.s.partition(topicID, p)
	if part == nil {
		return 0, 0, false
	}
	return part.tx.lso(part.hw), part.hw, true
}

// AbortedTxns returns the aborted transactions of a partition whose ranges
// overlap offsets [from, to], sorted by first offset: what a read_committed
// fetch of those offsets needs to skip the aborted records.
func (f *FSM) AbortedTxns(topicID [16]byte, p int32, from, to int64) []AbortedTxn {
	f.mu.RLock()
	defer f.mu.RUnlock()
	part := f.s.partition(topicID, p)
	if part == nil {
		return nil
	}
	return part.tx.abortedIn(max(from, part.logStart), to)
}

// UnstableOffsets returns the partitions for which a transaction not yet
// completed commits an offset of group: an OffsetFetch that requires stable
// offsets must wait for them (KIP-447). It walks every transactional id;
// OffsetFetch is rare enough for that.
func (f *FSM) UnstableOffsets(group string) map[PartitionKey]bool {
	f.mu.RLock()
	defer f.mu.RUnlock()
	var out map[PartitionKey]bool
	for _, t := range f.s.txns.byID {
		if t.state != TxnOngoing && t.state != TxnPrepareCommit && t.state != TxnPrepareAbort {
			continue
		}
		g, ok := t.group(group)
		if !ok {
			continue
		}
		for _, o := range g.offsets {
			if out == nil {
				out = map[PartitionKey]bool{}
			}
			out[o.key] = true
		}
	}
	return out
}

// ProducerState is one producer's state in a partition, as
// DescribeProducers shows it.
type ProducerState struct {
	ProducerID    int64
	ProducerEpoch int16
	LastSequence  int32
	LastMs        int64
	// TxnStartOffset is the first offset of the producer's ongoing
	// transaction here, or -1.
	TxnStartOffset int64
}

// PartitionProducers lists the producers with state in a partition (their
// sequence windows and ongoing transactions), sorted by producer id; false
// if the partition does not exist.
func (f *FSM) PartitionProducers(topicID [16]byte, p int32) ([]ProducerState, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	part := f.s.partition(topicID, p)
	if part == nil {
		return nil, false
	}
	var out []ProducerState
	for _, pid := range slices.Sorted(maps.Keys(part.windows)) {
		w := part.windows[pid]
		ps := ProducerState{ProducerID: pid, ProducerEpoch: w.epoch, LastSequence: -1, LastMs: f.s.producers[pid].lastMs, TxnStartOffset: -1}
		if w.n > 0 {
			ps.LastSequence = w.b[w.n-1].last
		}
		if part.tx != nil {
			if first, ok := part.tx.ongoing[pid]; ok {
				ps.TxnStartOffset = first
			}
		}
		out = append(out, ps)
	}
	return out, true
}

// TxnsToFinish returns, sorted by id, the ongoing transactions that have
// outlived their timeout at nowMs (the timeout loop aborts them) and the
// prepared ones whose last change is older than preparedBeforeMs (their
// markers were probably lost with a crashed agent; the loop writes them).
func (f *FSM) TxnsToFinish(nowMs, preparedBeforeMs int64) (expired, prepared []TxnInfo) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	for id, t := range f.s.txns.byID {
		switch {
		case t.state == TxnOngoing && nowMs-t.startMs >= int64(t.timeoutMs):
			expired = append(expired, t.info(id))
		case (t.state == TxnPrepareCommit || t.state == TxnPrepareAbort) && t.updateMs < preparedBeforeMs:
			prepared = append(prepared, t.info(id))
		}
	}
	byID := func(a, b TxnInfo) int { return strings.Compare(a.TransactionalID, b.TransactionalID) }
	slices.SortFunc(expired, byID)
	slices.SortFunc(prepared, byID)
	return expired, prepared
}
