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

// entriesOf makes consecutive manifest entries of the given offset counts
// and byte lengths.
func entriesOf(counts []int64, lens []int64, abs ...bool) []fsm.Entry {
	var es []fsm.Entry
	next := int64(0)
	for i, n := range counts {
		e := fsm.Entry{BaseOffset: next, LastOffset: next + n - 1, Key: fmt.Sprintf("f%d", i), Len: lens[i]}
		if i < len(abs) {
			e.AbsoluteOffsets = abs[i]
		}
		es = append(es, e)
		next += n
	}
	return es
}

func TestSplitRun(t *testing.T) {
	type span struct {
		first, last, pos, len int64
		abs                   bool
	}
	tests := []struct {
		name  string
		run   partRun
		cuts  []int64 // builder length after each entry, from pos 100
		limit int64
		want  []span
	}{
		{"all fit one entry", partRun{entries: entriesOf([]int64{2, 3, 1}, []int64{10, 10, 10})},
			[]int64{110, 120, 130}, 30, []span{{0, 5, 100, 30, false}}},
		{"split at the limit", partRun{entries: entriesOf([]int64{2, 3, 1, 4}, []int64{10, 10, 10, 10})},
			[]int64{110, 120, 130, 140}, 25, []span{{0, 4, 100, 20, false}, {5, 9, 120, 20, false}}},
		{"an entry over the limit stands alone", partRun{entries: entriesOf([]int64{1, 1, 1}, []int64{5, 50, 5})},
			[]int64{105, 155, 160}, 20, []span{{0, 0, 100, 5, false}, {1, 1, 105, 50, false}, {2, 2, 155, 5, false}}},
		{"absolute entries never join copied ones", partRun{entries: entriesOf([]int64{1, 1, 1, 1}, []int64{5, 5, 5, 5}, false, true, true, false)},
			[]int64{105, 110, 115, 120}, 100, []span{{0, 0, 100, 5, false}, {1, 2, 105, 10, true}, {3, 3, 115, 5, false}}},
		{"keyed output may shrink to nothing", partRun{keyed: true, entries: entriesOf([]int64{3, 3}, []int64{40, 40})},
			[]int64{100, 100}, 100, []span{{0, 5, 100, 0, true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []span
			for _, r := range splitRun(tt.run, 100, tt.cuts, tt.limit) {
				got = append(got, span{r.FirstOffset, r.LastOffset, r.Pos, r.Len, r.AbsoluteOffsets})
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("runs %+v, want %+v", got, tt.want)
			}
		})
	}
}

// Key compaction over several input entries reports where each entry's
// output ends, and every output batch lies within the offsets of its entry,
// so the output can become several manifest entries.
func TestCompactKeysCutsAtEntries(t *testing.T) {
	// Three entries of two batches each; key "a" is rewritten in every
	// batch, so only its last value (offset 10, in entry 2) survives, and
	// entry 2's last record is a removed tombstone.
	files := map[string][]byte{}
	var es []fsm.Entry
	off := int64(0)
	for e := range 3 {
		var data []byte
		first := off
		for range 2 {
			recs := []recordbatch.Record{{Key: []byte("a"), Value: fmt.Appendf(nil, "%d", off)}, {Key: []byte(fmt.Sprintf("k%d", off)), Value: []byte("x")}}
			if e == 2 && len(data) > 0 {
				recs[1] = recordbatch.Record{Key: []byte("gone")} // tombstone, expired
			}
			data = append(data, recordbatch.Build(recordbatch.BuildOptions{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}, recs)...)
			off += 2
		}
		key := fmt.Sprintf("f%d", e)
		files[key] = data
		es = append(es, fsm.Entry{BaseOffset: first, LastOffset: off - 1, Key: key, Len: int64(len(data))})
	}
	read := func(_ context.Context, key string, pos, n int64) ([]byte, error) {
		return files[key][pos : pos+n], nil
	}
	b := datafile.NewBuilder()
	b.Append([16]byte{}, 0, recordbatch.Build(recordbatch.BuildOptions{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1},
		[]recordbatch.Record{{Value: []byte("another partition's batch first")}}))
	pos := b.Len()
	r := partRun{entries: es, keyed: true, fromStart: true}
	cuts, err := compactKeys(context.Background(), read, b, r, 1<<40)
	if err != nil {
		t.Fatal(err)
	}
	if len(cuts) != 3 || cuts[2] != b.Len() {
		t.Fatalf("cuts %v, builder at %d", cuts, b.Len())
	}
	data := b.Finish()
	from := pos
	for k, e := range es {
		var offsets []int64
		err := recordbatch.Walk(data[from:cuts[k]], func(h recordbatch.Header, _ []byte) bool {
			if h.BaseOffset < e.BaseOffset || h.LastOffset() > e.LastOffset {
				t.Errorf("entry %d (%d..%d) got a batch %d..%d", k, e.BaseOffset, e.LastOffset, h.BaseOffset, h.LastOffset())
			}
			offsets = append(offsets, h.BaseOffset)
			return true
		})
		if err != nil {
			t.Fatalf("entry %d output: %v", k, err)
		}
		if len(offsets) == 0 {
			t.Errorf("entry %d: no output batch (each keeps a k%%d key)", k)
		}
		from = cuts[k]
	}
	// The tail tombstone (offset 11) went: an empty batch claims it.
	var lastEnd int64
	recordbatch.Walk(data[cuts[1]:cuts[2]], func(h recordbatch.Header, _ []byte) bool {
		lastEnd = h.LastOffset()
		return true
	})
	if lastEnd != es[2].LastOffset {
		t.Fatalf("last entry's batches end at %d, want %d", lastEnd, es[2].LastOffset)
	}
}
