package fsm

import (
	"reflect"
	"testing"
)

// threeFiles builds partition 0 of topic "t" from three files:
//
//	a: offsets 0-9 (two merged batches), MaxTimestamp 100
//	b: offsets 10-14, MaxTimestamp 50
//	c: offsets 15-29, MaxTimestamp 300
func threeFiles(t *testing.T) (*harness, [16]byte, []Entry) {
	h := newHarness(t)
	id := h.createTopic("t", 2)
	ts := func(b BatchMeta, ts int64) BatchMeta { b.MaxTimestamp = ts; return b }
	h.mustCommit("a", ts(plain(id, 0, 0, 40, 4), 90), ts(plain(id, 0, 40, 60, 6), 100))
	h.mustCommit("b", ts(plain(id, 1, 0, 10, 1), 0), ts(plain(id, 0, 10, 50, 5), 50))
	h.mustCommit("c", ts(plain(id, 0, 0, 150, 15), 300))
	return h, id, []Entry{
		{BaseOffset: 0, LastOffset: 9, Key: "a", Pos: 0, Len: 100, MaxTimestamp: 100},
		{BaseOffset: 10, LastOffset: 14, Key: "b", Pos: 10, Len: 50, MaxTimestamp: 50},
		{BaseOffset: 15, LastOffset: 29, Key: "c", Pos: 0, Len: 150, MaxTimestamp: 300},
	}
}

func TestEntries(t *testing.T) {
	h, id, all := threeFiles(t)
	info := PartitionInfo{LogStartOffset: 0, HighWatermark: 30, Bytes: 300, Entries: 3}
	tests := []struct {
		name string
		from int64
		max  int
		want []Entry
	}{
		{"from the start", 0, 10, all},
		{"below the log start", -5, 10, all},
		{"middle of the first entry", 7, 10, all},
		{"last offset of an entry", 9, 10, all},
		{"first offset of the second file", 10, 10, all[1:]},
		{"middle of the last entry", 20, 10, all[2:]},
		{"last offset", 29, 10, all[2:]},
		{"at the high watermark", 30, 10, nil},
		{"beyond the high watermark", 1000, 10, nil},
		{"max limits", 0, 2, all[:2]},
		{"max one across files", 12, 1, all[1:2]},
		{"max zero", 0, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, gotInfo, ok := h.f.Entries(id, 0, tt.from, tt.max)
			if !ok || !reflect.DeepEqual(got, tt.want) || gotInfo != info {
				t.Fatalf("Entries(%d, %d) = %+v, %+v, %v;\nwant %+v, %+v", tt.from, tt.max, got, gotInfo, ok, tt.want, info)
			}
		})
	}

	if _, _, ok := h.f.Entries(id, 2, 0, 10); ok {
		t.Fatal("Entries of a missing partition reported ok")
	}
	if _, _, ok := h.f.Entries(topicID("nope"), 0, 0, 10); ok {
		t.Fatal("Entries of a missing topic reported ok")
	}

	// Results are copies.
	got, _, _ := h.f.Entries(id, 0, 0, 10)
	got[0].Key = "changed"
	if again, _, _ := h.f.Entries(id, 0, 0, 1); again[0].Key != "a" {
		t.Fatal("Entries returned internal storage")
	}
}

func TestEntryForTimestamp(t *testing.T) {
	h, id, all := threeFiles(t)
	tests := []struct {
		ts    int64
		want  Entry
		found bool
	}{
		{-1, all[0], true},
		{50, all[0], true}, // b has 50 but a, earlier, already reaches it
		{100, all[0], true},
		{101, all[2], true}, // b's 50 is too small
		{300, all[2], true},
		{301, Entry{}, false},
	}
	for _, tt := range tests {
		got, found := h.f.EntryForTimestamp(id, 0, tt.ts)
		if found != tt.found || got != tt.want {
			t.Errorf("EntryForTimestamp(%d) = %+v, %v; want %+v, %v", tt.ts, got, found, tt.want, tt.found)
		}
	}
	if _, found := h.f.EntryForTimestamp(id, 1, 0); !found {
		t.Error("partition 1 has an entry at timestamp 0")
	}
	if _, found := h.f.EntryForTimestamp(id, 5, 0); found {
		t.Error("missing partition reported an entry")
	}
}
