package agent

import (
	"sort"

	"github.com/wisp-stream/wisp/fsm"
	"github.com/wisp-stream/wisp/kafka/recordbatch"
)

// Key compaction and transactions, as Kafka's log cleaner treats them.
//
// Only decided data is key-compacted. A keyed run ends below the partition's
// last stable offset (stableRun), so every transaction with records in it
// has completed: an undecided value never supersedes a committed one, and an
// open transaction's records are never rewritten before their fate is
// known. Copied (non-keyed) runs need no such bound: they move whole batches
// byte for byte with their offsets and flags, and the ongoing transactions'
// first offsets, the aborted index and the read_committed cut at the last
// stable offset are all by offset and by batch, which a copy keeps.
//
// Records of aborted transactions are dropped from keyed output and never
// count as a key's newest value (abortedIndex). Markers are always kept, and
// so is the aborted index (the FSM still lists the range): a read_committed
// consumer then finds nothing of the producer's to skip between the range's
// first offset and its ABORT marker, and the marker closes the range as
// before. Dropping the marker while the index still named the range would be
// wrong: clients (Java's consumer, franz-go) treat every later transactional
// batch of that producer as aborted until they see the marker, so its next,
// committed transaction would vanish for read_committed. Removing both would
// need a new Raft command to edit the index; keeping both costs a few bytes
// per aborted transaction and is always consistent.
//
// The planner reads the last stable offset first and the aborted index
// after (planKeyedRun). Every transaction with records below that offset was
// completed by the Apply that moved the offset past them, the same Apply that
// indexed the range if it aborted; the index only grows after that, by
// ranges that begin at or above the offset read (a transaction's first
// offset is the high watermark when it begins, never below the last stable
// offset). So the ranges read describe the run's records exactly, however
// long the job takes. The other way round, a transaction completing between
// the two reads could look committed.
//
// Why CompactFiles still needs no transactional check: between planning
// and commit a transaction can complete only by a CommitFile that appends
// its markers at the high watermark, beyond every run; a run's entries are
// then unchanged and the swap is as valid as before. The aborted index of a
// run's offsets cannot change meanwhile (new ranges start above the last
// stable offset the plan saw, hence above the run). The index drops only
// ranges wholly below the log start, whose records no fetch can reach; the
// retention or DeleteRecords that moved the log start either removed whole
// entries, and the run no longer matches them and is refused, or left the
// run's records below the log start unreadable whatever the output holds.
// The fsm's AbortedTxns also clamps to the log start: a range missing for
// that reason holds only offsets below it, and a record there can supersede
// only older records, all equally unreadable.

// stableRun returns the longest prefix of run whose entries all end below
// lso, or nil if it has fewer than minEntries: entries at or above the last
// stable offset may hold records of an undecided transaction, and a keyed
// run waits for them. The last stable offset never moves back (a
// transaction begins at the high watermark), so a later pass takes them.
func stableRun(run []fsm.Entry, lso int64, minEntries int) []fsm.Entry {
	n := 0
	for n < len(run) && run[n].LastOffset < lso {
		n++
	}
	if n == 0 || n < minEntries {
		return nil
	}
	return run[:n]
}

// planKeyedRun turns a keyed partition's compaction window into its run:
// trimmed below the last stable offset, widened to the partition's start
// when it fits maxBytes (keyedRun), with the aborted transactions it covers.
// ok is false when nothing of the window may be key-compacted yet.
func (c *collector) planKeyedRun(pr *partRun, window []fsm.Entry, minEntries int, maxBytes int64) (ok bool) {
	lso, _, exists := c.fsm.LastStableOffset(pr.topicID, pr.partition)
	if !exists {
		return false
	}
	run := stableRun(window, lso, minEntries)
	if run == nil {
		return false
	}
	pr.entries, pr.fromStart = c.keyedRun(pr.topicID, pr.partition, run, maxBytes)
	// Read after the last stable offset: see the comment at the top.
	first, last := pr.entries[0].BaseOffset, pr.entries[len(pr.entries)-1].LastOffset
	pr.aborted = newAbortedIndex(c.fsm.AbortedTxns(pr.topicID, pr.partition, first, last))
	return true
}

// abortedIndex holds a partition's aborted transaction ranges by producer
// id, each producer's sorted by first offset. A producer has one
// transaction at a time, so its ranges never overlap.
type abortedIndex map[int64][]fsm.AbortedTxn

func newAbortedIndex(as []fsm.AbortedTxn) abortedIndex {
	if len(as) == 0 {
		return nil
	}
	ai := abortedIndex{}
	for _, a := range as { // already sorted by first offset
		ai[a.ProducerID] = append(ai[a.ProducerID], a)
	}
	return ai
}

// aborted reports whether the data batch h, at real offset base, belongs to
// an aborted transaction. Control batches (markers) never do: they stay.
// A transactional batch lies wholly inside its transaction's range, which
// ends at the marker after it, so its base offset decides.
func (ai abortedIndex) aborted(h recordbatch.Header, base int64) bool {
	if len(ai) == 0 || !h.Transactional() || h.Control() {
		return false
	}
	rs := ai[h.ProducerID]
	i := sort.Search(len(rs), func(i int) bool { return rs[i].FirstOffset > base }) - 1
	return i >= 0 && base <= rs[i].LastOffset
}
