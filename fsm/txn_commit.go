package fsm

import (
	"cmp"
	"maps"
	"slices"
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
)

// AbortedTxn is one aborted transaction's range in a partition: the
// producer's records from FirstOffset up to its ABORT marker at LastOffset
// are not to be shown to read_committed consumers.
type AbortedTxn struct {
	ProducerID  int64
	FirstOffset int64
	LastOffset  int64
}

// partTxn is a partition's transaction state. It lives with the partition,
// so deleting the topic drops it.
type partTxn struct {
	// ongoing maps the producer id of every ongoing transaction that wrote
	// here to its first offset here. The last stable offset is the
	// smallest of them.
	ongoing map[int64]int64
	// aborted is in marker (LastOffset) order, as markers are written.
	// Entries wholly below the log start are dropped as new ones come.
	aborted []abortedEntry
}

type abortedEntry struct {
	AbortedTxn
	// minFirst is the smallest FirstOffset of this and every later entry,
	// so a lookup stops as soon as nothing further can reach its range.
	minFirst int64
}

func (pt *partTxn) empty() bool { return len(pt.ongoing) == 0 && len(pt.aborted) == 0 }

// clone copies pt for a snapshot; nil stays nil.
func (pt *partTxn) clone() *partTxn {
	if pt == nil {
		return nil
	}
	return &partTxn{ongoing: maps.Clone(pt.ongoing), aborted: slices.Clone(pt.aborted)}
}

// lso is the last stable offset given the high watermark.
func (pt *partTxn) lso(hw int64) int64 {
	if pt == nil {
		return hw
	}
	out := hw
	for _, first := range pt.ongoing {
		out = min(out, first)
	}
	return out
}

// addAborted appends an aborted range and drops the ranges that ended below
// the log start: nothing can fetch them any more.
func (pt *partTxn) addAborted(a AbortedTxn, logStart int64) {
	k := 0
	for k < len(pt.aborted) && pt.aborted[k].LastOffset < logStart {
		k++
	}
	if k > 0 {
		pt.aborted = slices.Clone(pt.aborted[k:])
	}
	pt.aborted = append(pt.aborted, abortedEntry{AbortedTxn: a, minFirst: a.FirstOffset})
	for i := len(pt.aborted) - 2; i >= 0 && pt.aborted[i].minFirst > a.FirstOffset; i-- {
		pt.aborted[i].minFirst = a.FirstOffset
	}
}

// abortedIn returns the aborted ranges that overlap [from, to], sorted by
// first offset.
func (pt *partTxn) abortedIn(from, to int64) []AbortedTxn {
	if pt == nil {
		return nil
	}
	i := sort.Search(len(pt.aborted), func(i int) bool { return pt.aborted[i].LastOffset >= from })
	var out []AbortedTxn
	for ; i < len(pt.aborted) && pt.aborted[i].minFirst <= to; i++ {
		if pt.aborted[i].FirstOffset <= to {
			out = append(out, pt.aborted[i].AbortedTxn)
		}
	}
	slices.SortStableFunc(out, func(a, b AbortedTxn) int { return cmp.Compare(a.FirstOffset, b.FirstOffset) })
	return out
}

// txnCommit carries a CommitFile's transactional work through commitFile:
// the TxnEnds it completes and the marker offsets they get. A CommitFile
// without transactional batches costs nothing here (nil receiver).
type txnCommit struct {
	ends    []TxnEnd
	txns    []*txn                   // per end: the prepared transaction, nil if the end does not match
	byPID   map[int64]int            // index of a matching end by producer id
	markers []map[PartitionKey]int64 // per end: offset of its marker in each partition
}

// beginTxnCommit checks c's TxnEnds before any batch is applied. An end
// matches when its transaction is prepared with that outcome at that epoch
// and c holds exactly one marker of it for every existing partition of the
// transaction and none elsewhere; the markers of an end that does not match
// are refused, so a transaction finished twice gets one set of markers.
func (s *state) beginTxnCommit(c CommitFile) *txnCommit {
	hasTxn := len(c.TxnEnds) > 0
	for _, b := range c.Batches {
		hasTxn = hasTxn || b.Transactional || b.Control
	}
	if !hasTxn {
		return nil
	}
	tc := &txnCommit{ends: c.TxnEnds, txns: make([]*txn, len(c.TxnEnds)), byPID: map[int64]int{},
		markers: make([]map[PartitionKey]int64, len(c.TxnEnds))}
	for i, end := range c.TxnEnds {
		t, ok := s.endMatches(end)
		if _, dup := tc.byPID[end.ProducerID]; !ok || dup {
			continue
		}
		// Markers into partitions that no longer exist are refused by the
		// batch checks and are not needed.
		got := map[PartitionKey]int{}
		for _, b := range c.Batches {
			if b.Control && b.ProducerID == end.ProducerID && s.partition(b.TopicID, b.Partition) != nil {
				if b.ProducerEpoch != end.ProducerEpoch {
					ok = false
				}
				got[PartitionKey{TopicID: b.TopicID, Partition: b.Partition}]++
			}
		}
		want := 0
		for _, k := range t.parts {
			if s.partition(k.TopicID, k.Partition) == nil {
				continue
			}
			if got[k] != 1 {
				ok = false
			}
			want++
		}
		if !ok || len(got) != want {
			continue
		}
		tc.txns[i] = t
		tc.byPID[end.ProducerID] = i
		tc.markers[i] = make(map[PartitionKey]int64, want)
	}
	return tc
}

// check decides whether a transactional batch or marker may be indexed, on
// top of the checks every batch gets. Data must belong to the producer's
// ongoing transaction at its epoch, in a partition added to it; a marker
// must belong to a matching end.
func (tc *txnCommit) check(s *state, k PartitionKey, b BatchMeta) *kerr.Error {
	if b.Control {
		i, ok := tc.byPID[b.ProducerID]
		if !ok || b.ProducerEpoch != tc.ends[i].ProducerEpoch {
			return kerr.InvalidTxnState
		}
		return nil
	}
	id, ok := s.txns.byPID[b.ProducerID]
	if !ok {
		return kerr.InvalidTxnState
	}
	t := s.txns.get(id)
	switch {
	case b.ProducerEpoch != t.epoch:
		return kerr.InvalidProducerEpoch
	case t.state != TxnOngoing || !t.hasPart(k):
		return kerr.InvalidTxnState
	}
	return nil
}

// accepted notes a transactional batch or marker that was indexed at base.
func (tc *txnCommit) accepted(p *partition, k PartitionKey, b BatchMeta, base int64) {
	if b.Control {
		tc.markers[tc.byPID[b.ProducerID]][k] = base
		return
	}
	if p.tx == nil {
		p.tx = &partTxn{}
	}
	if p.tx.ongoing == nil {
		p.tx.ongoing = make(map[int64]int64)
	}
	if _, ok := p.tx.ongoing[b.ProducerID]; !ok {
		p.tx.ongoing[b.ProducerID] = base
	}
}

// finish completes the transactions of the matching ends, after every batch
// of the command got its offset.
func (tc *txnCommit) finish(s *state, nowMs int64) {
	if tc == nil {
		return
	}
	for i, t := range tc.txns {
		if t != nil {
			s.completeTxn(tc.ends[i], t, tc.markers[i], nowMs)
		}
	}
}
