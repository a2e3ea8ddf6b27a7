package fsm

import (
	"bytes"
	"cmp"
	"fmt"
	"maps"
	"math"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Transactions (KIP-98) live in the replicated state, so any agent can
// finish a transaction begun through another and a coordinator failover
// loses nothing. Per transactional id the state holds the producer id and
// epoch, the transaction's state, its partitions and the offsets it commits
// for consumer groups; per partition it holds the first offset of every
// ongoing transaction (the last stable offset is the smallest of them) and
// the index of aborted transactions that read_committed fetches return.
//
// A transaction ends in two steps, each one Raft command, so that a crash
// at any point leaves a state some agent can finish:
//
//  1. EndTxn records the decision: Ongoing becomes PrepareCommit or
//     PrepareAbort. From then on no data joins the transaction, and the
//     outcome cannot change.
//  2. The markers (one control batch per partition) go through the flusher
//     like any produce, and the CommitFile that indexes them carries the
//     TxnEnd. Applying it writes the markers, moves the last stable offsets,
//     indexes aborted ranges, makes the transaction's committed offsets
//     visible and completes the transaction, all at once. A transaction
//     without partitions completes with CompleteTxn instead.
//
// Whoever finds a prepared transaction (the client retrying EndTxn on any
// agent, a new producer instance calling InitProducerId, the leader's
// timeout loop) may write its markers again: only the first CommitFile whose
// TxnEnd matches the prepared state is accepted, later ones have their
// markers refused.

// MaxTxnTimeoutMs bounds a transaction's timeout, as Kafka's
// transaction.max.timeout.ms does by default (15 minutes).
const MaxTxnTimeoutMs = 900_000

// TxnState is the state of a transactional id's current (or last)
// transaction.
type TxnState uint8

// Transaction states, as Kafka's DescribeTransactions names them.
const (
	TxnEmpty TxnState = iota
	TxnOngoing
	TxnPrepareCommit
	TxnPrepareAbort
	TxnCompleteCommit
	TxnCompleteAbort
)

var txnStateNames = [...]string{"Empty", "Ongoing", "PrepareCommit", "PrepareAbort", "CompleteCommit", "CompleteAbort"}

func (st TxnState) String() string {
	if int(st) < len(txnStateNames) {
		return txnStateNames[st]
	}
	return fmt.Sprintf("TxnState(%d)", uint8(st))
}

// ParseTxnState reads a state name as Kafka spells it.
func ParseTxnState(name string) (TxnState, bool) {
	for i, n := range txnStateNames {
		if n == name {
			return TxnState(i), true
		}
	}
	return 0, false
}

// prepared returns the Prepare state for an outcome.
func prepared(commit bool) TxnState {
	if commit {
		return TxnPrepareCommit
	}
	return TxnPrepareAbort
}

// txn is one transactional id's state. It is never mutated once stored:
// writers store a modified copy (with new slices), so snapshots share it.
type txn struct {
	pid       int64
	epoch     int16
	lastEpoch int16 // the epoch before the last bump by this producer, -1 after a fence (KIP-360 retries)
	timeoutMs int32
	state     TxnState
	startMs   int64 // when the current (or last) transaction began; -1 before the first
	updateMs  int64 // last change
	parts     []PartitionKey
	groups    []txnGroup
}

// txnGroup is a consumer group in a transaction with the offsets the
// transaction commits for it, sorted by partition; the last write wins.
type txnGroup struct {
	group   string
	offsets []pendingOffset
}

type pendingOffset struct {
	key PartitionKey
	c   committed
}

// txnTable holds every transactional id. byPID is derived (rebuilt on
// Restore) and never read by a snapshot.
type txnTable struct {
	byID  map[string]*txn
	byPID map[int64]string
}

func (tt *txnTable) get(id string) *txn { return tt.byID[id] }

func (tt *txnTable) put(id string, t *txn) {
	if tt.byID == nil {
		tt.byID = make(map[string]*txn)
		tt.byPID = make(map[int64]string)
	}
	if old := tt.byID[id]; old != nil && old.pid != t.pid {
		delete(tt.byPID, old.pid)
	}
	tt.byID[id] = t
	tt.byPID[t.pid] = id
}

// clone copies the table for a snapshot: txns are immutable, so the map is
// enough.
func (tt txnTable) clone() txnTable { return txnTable{byID: maps.Clone(tt.byID)} }

func comparePartitionKeys(a, b PartitionKey) int {
	return cmp.Or(bytes.Compare(a.TopicID[:], b.TopicID[:]), cmp.Compare(a.Partition, b.Partition))
}

func (t *txn) hasPart(k PartitionKey) bool {
	_, ok := slices.BinarySearchFunc(t.parts, k, comparePartitionKeys)
	return ok
}

func (t *txn) group(name string) (txnGroup, bool) {
	i, ok := slices.BinarySearchFunc(t.groups, name, func(g txnGroup, n string) int { return cmp.Compare(g.group, n) })
	if !ok {
		return txnGroup{}, false
	}
	return t.groups[i], true
}

func (t *txn) pending(id string) *TxnPending {
	return &TxnPending{
		End:        TxnEnd{TransactionalID: id, ProducerID: t.pid, ProducerEpoch: t.epoch, Commit: t.state == TxnPrepareCommit},
		Partitions: slices.Clone(t.parts),
	}
}

func txnError(e *kerr.Error) TxnResult {
	return TxnResult{ErrorCode: e.Code, ProducerID: -1, ProducerEpoch: -1}
}

func (t *txn) ok() TxnResult { return TxnResult{ProducerID: t.pid, ProducerEpoch: t.epoch} }

// applyTxn dispatches the transaction commands.
func (s *state) applyTxn(_ uint64, cmd Command) (any, bool) {
	switch c := cmd.(type) {
	case InitTxnProducer:
		return s.initTxnProducer(c), true
	case AddToTxn:
		return s.addToTxn(c), true
	case TxnCommitOffsets:
		return s.txnCommitOffsets(c), true
	case EndTxn:
		return s.endTxn(c), true
	case CompleteTxn:
		return s.completeTxnCmd(c), true
	}
	return nil, false
}

// setEpoch records a transactional producer's epoch in the producer table
// too, where the produce path's fencing reads it.
func (s *state) setEpoch(pid int64, epoch int16, nowMs int64) {
	s.producers[pid] = producer{epoch: epoch, lastMs: nowMs}
}

func (s *state) initTxnProducer(c InitTxnProducer) TxnResult {
	if c.TransactionalID == "" {
		return txnError(kerr.InvalidRequest)
	}
	if c.TimeoutMs <= 0 || c.TimeoutMs > MaxTxnTimeoutMs {
		return txnError(kerr.InvalidTransactionTimeout)
	}
	cur := s.txns.get(c.TransactionalID)
	if cur == nil {
		r := s.allocProducer(c.NowMs)
		t := &txn{
			pid: r.ProducerID, epoch: r.ProducerEpoch, lastEpoch: -1, timeoutMs: c.TimeoutMs,
			state: TxnEmpty, startMs: -1, updateMs: c.NowMs,
		}
		s.txns.put(c.TransactionalID, t)
		return t.ok()
	}
	if c.ProducerID >= 0 && c.ProducerID != cur.pid {
		return txnError(kerr.InvalidProducerIDMapping)
	}
	switch cur.state {
	case TxnPrepareCommit, TxnPrepareAbort:
		r := txnError(kerr.ConcurrentTransactions)
		r.Pending = cur.pending(c.TransactionalID)
		return r
	case TxnOngoing:
		if c.ProducerID >= 0 && c.ProducerEpoch != cur.epoch && c.ProducerEpoch != cur.lastEpoch {
			return txnError(kerr.ProducerFenced)
		}
		// Abort the running transaction under a fenced epoch; the caller
		// writes the markers and retries, which bumps the epoch again.
		t := s.fence(cur, c.NowMs)
		s.txns.put(c.TransactionalID, t)
		r := txnError(kerr.ConcurrentTransactions)
		r.Pending = t.pending(c.TransactionalID)
		return r
	}

	t := *cur
	t.timeoutMs, t.state, t.updateMs = c.TimeoutMs, TxnEmpty, c.NowMs
	switch {
	case c.ProducerID < 0:
		// A new instance: nothing may resume with an older epoch.
		t.lastEpoch = -1
		t.epoch++
	case c.ProducerEpoch == cur.epoch:
		// The producer recovers from an error (KIP-360).
		t.lastEpoch = cur.epoch
		t.epoch++
	case c.ProducerEpoch == cur.lastEpoch && cur.lastEpoch >= 0:
		// A retry of a bump that succeeded: keep the epoch.
	default:
		return txnError(kerr.ProducerFenced)
	}
	if t.epoch >= math.MaxInt16 {
		// Epochs ran out: a fresh producer id, as Kafka rotates it.
		r := s.allocProducer(c.NowMs)
		t.pid, t.epoch, t.lastEpoch = r.ProducerID, r.ProducerEpoch, -1
	}
	s.txns.put(c.TransactionalID, &t)
	s.setEpoch(t.pid, t.epoch, c.NowMs)
	return t.ok()
}

// fence returns cur aborting under the next epoch, with no way back for the
// epoch it had: its producer is a zombie from now on.
func (s *state) fence(cur *txn, nowMs int64) *txn {
	t := *cur
	if t.epoch < math.MaxInt16 {
		t.epoch++
	}
	t.lastEpoch = -1
	t.state = TxnPrepareAbort
	t.updateMs = nowMs
	s.setEpoch(t.pid, t.epoch, nowMs)
	return &t
}

// checkProducer finds the transaction of a request's transactional id and
// checks the producer id and epoch the request carries.
func (s *state) checkProducer(id string, pid int64, epoch int16) (*txn, *kerr.Error) {
	t := s.txns.get(id)
	switch {
	case t == nil || t.pid != pid:
		return nil, kerr.InvalidProducerIDMapping
	case t.epoch != epoch:
		return nil, kerr.ProducerFenced
	}
	return t, nil
}

func (s *state) addToTxn(c AddToTxn) TxnResult {
	cur, e := s.checkProducer(c.TransactionalID, c.ProducerID, c.ProducerEpoch)
	if e != nil {
		return txnError(e)
	}
	switch cur.state {
	case TxnPrepareCommit, TxnPrepareAbort:
		return txnError(kerr.ConcurrentTransactions)
	}
	if len(c.Partitions) == 0 && len(c.Groups) == 0 {
		return txnError(kerr.InvalidRequest)
	}
	for _, k := range c.Partitions {
		if s.partition(k.TopicID, k.Partition) == nil {
			return txnError(kerr.UnknownTopicOrPartition)
		}
	}
	for _, g := range c.Groups {
		if g == "" {
			return txnError(kerr.InvalidGroupID)
		}
	}
	t := *cur
	if t.state != TxnOngoing {
		t.state, t.startMs, t.parts, t.groups = TxnOngoing, c.NowMs, nil, nil
	}
	parts := slices.Clone(t.parts)
	for _, k := range c.Partitions {
		if i, found := slices.BinarySearchFunc(parts, k, comparePartitionKeys); !found {
			parts = slices.Insert(parts, i, k)
		}
	}
	groups := slices.Clone(t.groups)
	for _, g := range c.Groups {
		i, found := slices.BinarySearchFunc(groups, g, func(x txnGroup, n string) int { return cmp.Compare(x.group, n) })
		if !found {
			groups = slices.Insert(groups, i, txnGroup{group: g})
		}
	}
	t.parts, t.groups, t.updateMs = parts, groups, c.NowMs
	s.txns.put(c.TransactionalID, &t)
	return t.ok()
}

func (s *state) txnCommitOffsets(c TxnCommitOffsets) CommitOffsetsResult {
	res := CommitOffsetsResult{ErrorCodes: make([]int16, len(c.Offsets))}
	fail := func(e *kerr.Error) CommitOffsetsResult {
		for i := range res.ErrorCodes {
			res.ErrorCodes[i] = e.Code
		}
		return res
	}
	cur, e := s.checkProducer(c.TransactionalID, c.ProducerID, c.ProducerEpoch)
	if e != nil {
		return fail(e)
	}
	g, inTxn := cur.group(c.Group)
	switch {
	case c.Group == "":
		return fail(kerr.InvalidGroupID)
	case cur.state == TxnPrepareCommit || cur.state == TxnPrepareAbort:
		return fail(kerr.ConcurrentTransactions)
	case cur.state != TxnOngoing || !inTxn:
		return fail(kerr.InvalidTxnState)
	}
	offsets := slices.Clone(g.offsets)
	for i, o := range c.Offsets {
		k := PartitionKey{TopicID: o.TopicID, Partition: o.Partition}
		switch {
		case s.partition(o.TopicID, o.Partition) == nil:
			res.ErrorCodes[i] = kerr.UnknownTopicOrPartition.Code
			continue
		case len(o.Metadata) > MaxOffsetMetadata:
			res.ErrorCodes[i] = kerr.OffsetMetadataTooLarge.Code
			continue
		}
		po := pendingOffset{key: k, c: committed{offset: o.Offset, leaderEpoch: o.LeaderEpoch, metadata: o.Metadata, commitMs: c.NowMs}}
		j, found := slices.BinarySearchFunc(offsets, k, func(p pendingOffset, k PartitionKey) int { return comparePartitionKeys(p.key, k) })
		if found {
			offsets[j] = po
		} else {
			offsets = slices.Insert(offsets, j, po)
		}
	}
	t := *cur
	t.groups = slices.Clone(cur.groups)
	for i := range t.groups {
		if t.groups[i].group == c.Group {
			t.groups[i].offsets = offsets
		}
	}
	t.updateMs = c.NowMs
	s.txns.put(c.TransactionalID, &t)
	return res
}

func (s *state) endTxn(c EndTxn) TxnResult {
	cur := s.txns.get(c.TransactionalID)
	if cur == nil || cur.pid != c.ProducerID {
		return txnError(kerr.InvalidProducerIDMapping)
	}
	if c.Expire {
		if c.Commit || cur.state != TxnOngoing || cur.epoch != c.ProducerEpoch || c.NowMs-cur.startMs < int64(cur.timeoutMs) {
			return txnError(kerr.InvalidTxnState) // the proposer's view was stale
		}
		t := s.fence(cur, c.NowMs)
		s.txns.put(c.TransactionalID, t)
		r := t.ok()
		r.Pending = t.pending(c.TransactionalID)
		return r
	}
	if cur.epoch != c.ProducerEpoch {
		return txnError(kerr.ProducerFenced)
	}
	switch cur.state {
	case TxnOngoing:
		t := *cur
		t.state, t.updateMs = prepared(c.Commit), c.NowMs
		s.txns.put(c.TransactionalID, &t)
		r := t.ok()
		r.Pending = t.pending(c.TransactionalID)
		return r
	case prepared(c.Commit):
		r := cur.ok()
		r.Pending = cur.pending(c.TransactionalID)
		return r
	case TxnCompleteCommit:
		if c.Commit {
			return cur.ok() // a retry of a commit that completed
		}
	case TxnCompleteAbort:
		if !c.Commit {
			return cur.ok()
		}
	}
	return txnError(kerr.InvalidTxnState)
}

// endMatches reports whether end completes the transaction as prepared.
func (s *state) endMatches(end TxnEnd) (*txn, bool) {
	t := s.txns.get(end.TransactionalID)
	if t == nil || t.pid != end.ProducerID || t.epoch != end.ProducerEpoch || t.state != prepared(end.Commit) {
		return nil, false
	}
	return t, true
}

func (s *state) completeTxnCmd(c CompleteTxn) TxnResult {
	t, ok := s.endMatches(c.End)
	if !ok {
		return txnError(kerr.InvalidTxnState)
	}
	for _, k := range t.parts {
		if s.partition(k.TopicID, k.Partition) != nil {
			return txnError(kerr.InvalidTxnState) // it has markers to write
		}
	}
	s.completeTxn(c.End, t, nil, c.NowMs)
	return s.txns.get(c.End.TransactionalID).ok()
}

// completeTxn ends a prepared transaction whose markers (if any) were just
// written at markers' offsets: the partitions' ongoing entries go, an
// abort's ranges join the aborted index, a commit's offsets become the
// groups' committed offsets.
func (s *state) completeTxn(end TxnEnd, cur *txn, markers map[PartitionKey]int64, nowMs int64) {
	for _, k := range cur.parts {
		p := s.partition(k.TopicID, k.Partition)
		if p == nil || p.tx == nil {
			continue
		}
		first, ok := p.tx.ongoing[end.ProducerID]
		if !ok {
			continue // added, but nothing was written there
		}
		delete(p.tx.ongoing, end.ProducerID)
		if !end.Commit {
			last, ok := markers[k]
			if !ok {
				last = p.hw - 1
			}
			p.tx.addAborted(AbortedTxn{ProducerID: end.ProducerID, FirstOffset: first, LastOffset: last}, p.logStart)
		}
		if p.tx.empty() {
			p.tx = nil
		}
	}
	if end.Commit {
		for _, g := range cur.groups {
			var w groupOffsets
			for _, o := range g.offsets {
				if s.partition(o.key.TopicID, o.key.Partition) == nil {
					continue // deleted since: no offsets for a later topic of the name
				}
				if w == nil {
					w = s.groupForWrite(g.group)
				}
				w[o.key] = o.c
			}
		}
	}
	t := *cur
	t.state = TxnCompleteAbort
	if end.Commit {
		t.state = TxnCompleteCommit
	}
	t.parts, t.groups, t.updateMs = nil, nil, nowMs
	s.txns.put(end.TransactionalID, &t)
}
