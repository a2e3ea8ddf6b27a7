package agent

import (
	"context"
	"fmt"
	"reflect"
	"testing"

	"github.com/wisp-stream/wisp/fsm"
	"github.com/wisp-stream/wisp/kafka/recordbatch"
	"github.com/wisp-stream/wisp/objstore/datafile"
)

func TestCompactionStableRun(t *testing.T) {
	run := entriesOf([]int64{2, 3, 1, 4}, []int64{10, 10, 10, 10}) // offsets 0-1, 2-4, 5, 6-9
	tests := []struct {
		name     string
		lso      int64
		min      int
		wantLast int64 // last offset of the run kept; -1 for none
	}{
		{"nothing open: the whole window", 10, 2, 9},
		{"open transaction in the last entry", 8, 2, 5},
		{"open transaction starting an entry", 5, 2, 4},
		{"open transaction inside the first entry", 1, 1, -1},
		{"too few entries left for the fan-in", 2, 2, -1},
		{"one entry is enough for a fan-in of one", 2, 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := stableRun(run, tt.lso, tt.min)
			last := int64(-1)
			if len(got) > 0 {
				last = got[len(got)-1].LastOffset
				if got[0].BaseOffset != 0 {
					t.Fatalf("run starts at %d, want the window's start", got[0].BaseOffset)
				}
			}
			if last != tt.wantLast {
				t.Fatalf("stableRun(lso %d, min %d) ends at %d, want %d", tt.lso, tt.min, last, tt.wantLast)
			}
		})
	}
}

// txnBatch is a produced batch of a transaction test: pid -1 is a plain
// producer; marker "commit" or "abort" makes it pid's control batch.
type txnBatch struct {
	pid    int64
	marker string
	recs   []kv
}

func (tb txnBatch) build() (raw []byte, n int64) {
	if tb.marker != "" {
		typ := byte(0) // abort
		if tb.marker == "commit" {
			typ = 1
		}
		rec := recordbatch.Record{Key: []byte{0, 0, 0, typ}, Value: []byte{0, 0, 0, 0, 0, 0}}
		return recordbatch.Build(recordbatch.BuildOptions{ProducerID: tb.pid, BaseSequence: -1, Transactional: true, Control: true},
			[]recordbatch.Record{rec}), 1
	}
	recs := make([]recordbatch.Record, len(tb.recs))
	for i, r := range tb.recs {
		recs[i] = recordbatch.Record{Key: []byte(r.key), TimestampDelta: r.ts}
		if !r.tombstone {
			recs[i].Value = []byte(r.value)
		}
	}
	opts := recordbatch.BuildOptions{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}
	if tb.pid >= 0 {
		opts = recordbatch.BuildOptions{ProducerID: tb.pid, BaseSequence: 0, Transactional: true}
	}
	return recordbatch.Build(opts, recs), int64(len(recs))
}

// TestCompactKeysAbortedTxns: records of aborted transactions are dropped
// and never supersede a committed value, committed transactional records
// compete like any other, markers all stay, and the output still covers
// every offset of the run within its entries.
func TestCompactKeysAbortedTxns(t *testing.T) {
	plain := func(recs ...kv) txnBatch { return txnBatch{pid: -1, recs: recs} }
	data := func(pid int64, recs ...kv) txnBatch { return txnBatch{pid: pid, recs: recs} }
	commit := func(pid int64) txnBatch { return txnBatch{pid: pid, marker: "commit"} }
	abort := func(pid int64) txnBatch { return txnBatch{pid: pid, marker: "abort"} }
	val := func(k, v string) kv { return kv{key: k, value: v, ts: 1} }
	tomb := func(k string) kv { return kv{key: k, tombstone: true, ts: 1} }
	tests := []struct {
		name      string
		batches   []txnBatch // offsets from 0 in order
		perEntry  []int      // batches per manifest entry; nil: all in one
		aborted   []fsm.AbortedTxn
		want      map[int64]string // offset -> value of the data records kept
		wantMarks []int64          // offsets of the markers kept
	}{
		{"aborted value never supersedes the committed one",
			[]txnBatch{data(1, val("K", "v1")), commit(1), data(1, val("K", "v2"), val("X", "x")), abort(1), plain(val("A", "a"))},
			nil, []fsm.AbortedTxn{{ProducerID: 1, FirstOffset: 2, LastOffset: 4}},
			map[int64]string{0: "v1", 5: "a"}, []int64{1, 4}},
		{"the same over two entries",
			[]txnBatch{data(1, val("K", "v1")), commit(1), data(1, val("K", "v2"), val("X", "x")), abort(1), plain(val("A", "a"))},
			[]int{2, 3}, []fsm.AbortedTxn{{ProducerID: 1, FirstOffset: 2, LastOffset: 4}},
			map[int64]string{0: "v1", 5: "a"}, []int64{1, 4}},
		{"another producer inside an aborted range is kept",
			[]txnBatch{data(1, val("K", "v1")), data(2, val("K", "v2")), data(1, val("K", "v3")), abort(1), commit(2)},
			nil, []fsm.AbortedTxn{{ProducerID: 1, FirstOffset: 0, LastOffset: 3}},
			map[int64]string{1: "v2"}, []int64{3, 4}},
		{"a committed transaction supersedes a plain value",
			[]txnBatch{plain(val("K", "v1")), data(1, val("K", "v2")), commit(1)},
			nil, nil,
			map[int64]string{1: "v2"}, []int64{2}},
		{"an aborted tombstone deletes nothing",
			[]txnBatch{plain(val("K", "v1")), data(1, tomb("K")), abort(1)},
			nil, []fsm.AbortedTxn{{ProducerID: 1, FirstOffset: 1, LastOffset: 2}},
			map[int64]string{0: "v1"}, []int64{2}},
		{"aborted records at the tail, marker beyond the run",
			[]txnBatch{plain(val("A", "a")), data(1, val("K", "v2"), val("K2", "w"))},
			nil, []fsm.AbortedTxn{{ProducerID: 1, FirstOffset: 1, LastOffset: 7}},
			map[int64]string{0: "a"}, nil},
		{"one producer: aborted, committed, aborted again",
			[]txnBatch{data(1, val("K", "v1")), abort(1), data(1, val("K", "v2")), commit(1), data(1, val("K", "v3")), abort(1)},
			[]int{3, 3}, []fsm.AbortedTxn{{ProducerID: 1, FirstOffset: 0, LastOffset: 1}, {ProducerID: 1, FirstOffset: 4, LastOffset: 5}},
			map[int64]string{2: "v2"}, []int64{1, 3, 5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			per := tt.perEntry
			if per == nil {
				per = []int{len(tt.batches)}
			}
			files := map[string][]byte{}
			var es []fsm.Entry
			off, bi := int64(0), 0
			for i, nb := range per {
				var data []byte
				first := off
				for range nb {
					raw, n := tt.batches[bi].build()
					data = append(data, raw...)
					off += n
					bi++
				}
				key := fmt.Sprintf("f%d", i)
				files[key] = data
				es = append(es, fsm.Entry{BaseOffset: first, LastOffset: off - 1, Key: key, Len: int64(len(data))})
			}
			read := func(_ context.Context, key string, pos, n int64) ([]byte, error) {
				return files[key][pos : pos+n], nil
			}
			b := datafile.NewBuilder()
			pos := b.Len()
			r := partRun{entries: es, keyed: true, fromStart: true, aborted: newAbortedIndex(tt.aborted)}
			cuts, err := compactKeys(context.Background(), read, b, r, 10_000)
			if err != nil {
				t.Fatal(err)
			}
			out := b.Finish()

			got := map[int64]string{}
			var marks []int64
			covered := int64(0)
			from := pos
			for k, e := range es {
				err := recordbatch.Walk(out[from:cuts[k]], func(h recordbatch.Header, raw []byte) bool {
					if h.BaseOffset < covered || h.BaseOffset < e.BaseOffset || h.LastOffset() > e.LastOffset {
						t.Fatalf("entry %d (%d..%d): batch %d..%d overlaps or leaves it (covered to %d)",
							k, e.BaseOffset, e.LastOffset, h.BaseOffset, h.LastOffset(), covered)
					}
					covered = h.LastOffset() + 1
					if h.Control() {
						marks = append(marks, h.BaseOffset)
						return true
					}
					recs, err := recordbatch.Records(raw)
					if err != nil {
						t.Fatal(err)
					}
					for _, rec := range recs {
						v := "<nil>"
						if rec.Value != nil {
							v = string(rec.Value)
						}
						got[h.BaseOffset+int64(rec.OffsetDelta)] = v
					}
					return true
				})
				if err != nil {
					t.Fatalf("entry %d output: %v", k, err)
				}
				from = cuts[k]
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("kept %v, want %v", got, tt.want)
			}
			if !reflect.DeepEqual(marks, tt.wantMarks) {
				t.Errorf("markers kept at %v, want %v", marks, tt.wantMarks)
			}
			if covered != off {
				t.Errorf("batches cover offsets up to %d, want %d", covered-1, off-1)
			}
		})
	}
}

func TestCompactionAbortedIndex(t *testing.T) {
	ai := newAbortedIndex([]fsm.AbortedTxn{
		{ProducerID: 1, FirstOffset: 0, LastOffset: 3},
		{ProducerID: 2, FirstOffset: 2, LastOffset: 9},
		{ProducerID: 1, FirstOffset: 6, LastOffset: 8},
	})
	txn := func(pid int64) recordbatch.Header {
		return recordbatch.Header{ProducerID: pid, Attributes: 1 << 4}
	}
	tests := []struct {
		name string
		h    recordbatch.Header
		base int64
		want bool
	}{
		{"inside the first range", txn(1), 2, true},
		{"between a producer's ranges", txn(1), 4, false},
		{"inside the second range", txn(1), 7, true},
		{"past every range", txn(1), 9, false},
		{"another producer's range", txn(2), 5, true},
		{"a producer with no aborts", txn(3), 5, false},
		{"not transactional", recordbatch.Header{ProducerID: 1}, 2, false},
		{"a marker", recordbatch.Header{ProducerID: 1, Attributes: 3 << 4}, 3, false},
	}
	for _, tt := range tests {
		if got := ai.aborted(tt.h, tt.base); got != tt.want {
			t.Errorf("%s: aborted(pid %d at %d) = %v, want %v", tt.name, tt.h.ProducerID, tt.base, got, tt.want)
		}
	}
	if abortedIndex(nil).aborted(txn(1), 2) {
		t.Error("an empty index aborted a batch")
	}
}
