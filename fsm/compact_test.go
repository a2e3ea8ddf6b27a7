package fsm

import (
	"bytes"
	"io"
	"reflect"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

// trimState's partition 0 holds [0-1 f1] [2-3 f1] [4-5 f2] [6-9 f3] and
// partition 1 [0 f1]; every entry is 10 bytes except the merged 6-9 (20).

func run(id [16]byte, p int32, first, last, pos, length int64) CompactRun {
	return CompactRun{TopicID: id, Partition: p, FirstOffset: first, LastOffset: last, Pos: pos, Len: length}
}

func TestCompactFiles(t *testing.T) {
	id := topicID("t")
	tests := []struct {
		name     string
		runs     []CompactRun
		wantP0   []Entry
		wantDead []string
		wantRefs int64 // of f1 afterwards
	}{
		{"whole partition, shared file survives", []CompactRun{run(id, 0, 0, 9, 8, 50)},
			[]Entry{{0, 9, "c", 8, 50, 4000, false}}, []string{"f2", "f3"}, 1},
		{"middle run", []CompactRun{run(id, 0, 2, 5, 8, 20)},
			[]Entry{{0, 1, "f1", 0, 10, 4000, false}, {2, 5, "c", 8, 20, 4000, false}, {6, 9, "f3", 0, 20, 4000, false}}, []string{"f2"}, 2},
		{"two partitions kill the shared file", []CompactRun{run(id, 0, 0, 9, 8, 50), run(id, 1, 0, 0, 58, 10)},
			[]Entry{{0, 9, "c", 8, 50, 4000, false}}, []string{"f2", "f3", "f1"}, 0},
		{"two runs of one partition stay two entries", []CompactRun{run(id, 0, 4, 9, 38, 30), run(id, 0, 0, 3, 8, 20)},
			[]Entry{{0, 3, "c", 8, 20, 4000, false}, {4, 9, "c", 38, 30, 4000, false}}, []string{"f2", "f3"}, 1},
		{"runs of one partition side by side with another's", []CompactRun{run(id, 0, 0, 1, 8, 10), run(id, 1, 0, 0, 18, 10), run(id, 0, 2, 5, 28, 20)},
			[]Entry{{0, 1, "c", 8, 10, 4000, false}, {2, 5, "c", 28, 20, 4000, false}, {6, 9, "f3", 0, 20, 4000, false}}, []string{"f1", "f2"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, _ := trimState(t)
			res := h.apply(CompactFiles{Key: "c", Size: 100, NodeID: 2, Level: 1, NowMs: 888, Runs: tt.runs}).(CompactFilesResult)
			if res.ErrorCode != 0 {
				t.Fatalf("refused: %d %s", res.ErrorCode, res.ErrorMessage)
			}
			es, info, _ := h.f.Entries(id, 0, 0, 100)
			if !reflect.DeepEqual(es, tt.wantP0) {
				t.Fatalf("entries\n got %+v\nwant %+v", es, tt.wantP0)
			}
			if info.HighWatermark != 10 || info.LogStartOffset != 0 {
				t.Fatalf("partition %+v: offsets moved", info)
			}
			var dead []string
			for _, d := range h.f.DeadFiles() {
				dead = append(dead, d.Key)
				if d.DiedMs != 888 || d.DiedIndex != h.index {
					t.Fatalf("dead file %+v: want death at index %d, ms 888", d, h.index)
				}
			}
			if !reflect.DeepEqual(dead, tt.wantDead) {
				t.Fatalf("dead files %v, want %v", dead, tt.wantDead)
			}
			f1, _ := h.f.File("f1")
			if f1.Refs != tt.wantRefs {
				t.Fatalf("f1 has %d refs, want %d", f1.Refs, tt.wantRefs)
			}
			c, ok := h.f.File("c")
			if !ok || c.Level != 1 || c.Refs != int64(len(tt.runs)) || c.Size != 100 || c.CreatedMs != 888 {
				t.Fatalf("new file %+v live=%v", c, ok)
			}
			// Every offset is still found, in the file the manifest names.
			for off := int64(0); off < 10; off++ {
				got, _, _ := h.f.Entries(id, 0, off, 1)
				if len(got) != 1 || got[0].BaseOffset > off || got[0].LastOffset < off {
					t.Fatalf("offset %d: entry %+v", off, got)
				}
			}
		})
	}
}

func TestCompactFilesRefused(t *testing.T) {
	id := topicID("t")
	tests := []struct {
		name   string
		before func(h *harness)
		cmd    CompactFiles
		code   int16
	}{
		{"retention trimmed the run meanwhile", func(h *harness) {
			h.apply(TrimLog{TopicID: id, Partition: 0, NewLogStart: 4, NowMs: 1})
		}, CompactFiles{Key: "c", Size: 100, Level: 1, Runs: []CompactRun{run(id, 0, 0, 9, 8, 50)}}, kerr.OffsetOutOfRange.Code},
		{"another compaction replaced part of it", func(h *harness) {
			h.apply(CompactFiles{Key: "c0", Size: 100, Level: 1, Runs: []CompactRun{run(id, 0, 2, 5, 8, 20)}})
		}, CompactFiles{Key: "c", Size: 100, Level: 1, Runs: []CompactRun{run(id, 0, 0, 3, 8, 20)}}, kerr.OffsetOutOfRange.Code},
		{"first offset inside an entry", nil,
			CompactFiles{Key: "c", Size: 100, Level: 1, Runs: []CompactRun{run(id, 0, 1, 9, 8, 50)}}, kerr.OffsetOutOfRange.Code},
		{"last offset inside an entry", nil,
			CompactFiles{Key: "c", Size: 100, Level: 1, Runs: []CompactRun{run(id, 0, 0, 8, 8, 50)}}, kerr.OffsetOutOfRange.Code},
		{"past the high watermark", nil,
			CompactFiles{Key: "c", Size: 100, Level: 1, Runs: []CompactRun{run(id, 0, 0, 10, 8, 50)}}, kerr.OffsetOutOfRange.Code},
		{"one stale run refuses the valid ones", nil,
			CompactFiles{Key: "c", Size: 100, Level: 1, Runs: []CompactRun{run(id, 1, 0, 0, 58, 10), run(id, 0, 0, 8, 8, 50)}}, kerr.OffsetOutOfRange.Code},
		{"key already live", nil,
			CompactFiles{Key: "f2", Size: 100, Level: 1, Runs: []CompactRun{run(id, 0, 0, 9, 8, 50)}}, kerr.DuplicateResource.Code},
		{"key already dead", func(h *harness) {
			h.apply(TrimLog{TopicID: id, Partition: 0, NewLogStart: 6, NowMs: 1})
		}, CompactFiles{Key: "f2", Size: 100, Level: 1, Runs: []CompactRun{run(id, 0, 6, 9, 8, 20)}}, kerr.DuplicateResource.Code},
		{"runs of one partition overlap", nil,
			CompactFiles{Key: "c", Size: 100, Level: 2, Runs: []CompactRun{run(id, 0, 0, 3, 8, 20), run(id, 0, 2, 5, 28, 20)}}, kerr.InvalidRequest.Code},
		{"one run named twice", nil,
			CompactFiles{Key: "c", Size: 100, Level: 2, Runs: []CompactRun{run(id, 0, 4, 5, 8, 10), run(id, 0, 4, 5, 18, 10)}}, kerr.InvalidRequest.Code},
		{"second run of a partition stale", nil,
			CompactFiles{Key: "c", Size: 100, Level: 2, Runs: []CompactRun{run(id, 0, 0, 3, 8, 20), run(id, 0, 4, 8, 28, 20)}}, kerr.OffsetOutOfRange.Code},
		{"run outside the file", nil,
			CompactFiles{Key: "c", Size: 50, Level: 1, Runs: []CompactRun{run(id, 0, 0, 9, 8, 50)}}, kerr.InvalidRequest.Code},
		{"no runs", nil, CompactFiles{Key: "c", Size: 50, Level: 1}, kerr.InvalidRequest.Code},
		{"unknown partition", nil,
			CompactFiles{Key: "c", Size: 100, Level: 1, Runs: []CompactRun{run(id, 2, 0, 9, 8, 50)}}, kerr.UnknownTopicOrPartition.Code},
	}
	keys := []string{"f1", "f2", "f3", "c", "c0"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, _ := trimState(t)
			if tt.before != nil {
				tt.before(h)
			}
			before := viewOf(h.f, keys...)
			res := h.apply(tt.cmd).(CompactFilesResult)
			if res.ErrorCode != tt.code || res.ErrorMessage == "" {
				t.Fatalf("result %+v, want code %d with a message", res, tt.code)
			}
			after := viewOf(h.f, keys...)
			after.Applied = before.Applied
			if !reflect.DeepEqual(after, before) {
				t.Fatalf("refused command changed the state:\n got %+v\nwant %+v", after, before)
			}
		})
	}
}

func TestLevelWindowAndLevels(t *testing.T) {
	h, id := trimState(t)
	// Partition 0: [0-1 f1] [2-3 f1] [4-5 f2] [6-9 f3], 10 bytes each but
	// the last (20), all level 0.
	offsets := func(es []Entry) [][2]int64 {
		var out [][2]int64
		for _, e := range es {
			out = append(out, [2]int64{e.BaseOffset, e.LastOffset})
		}
		return out
	}
	tests := []struct {
		name       string
		level      int32
		minEntries int
		maxBytes   int64
		want       [][2]int64
		atLevel    int
	}{
		{"all of it", 0, 2, 1 << 20, [][2]int64{{0, 1}, {2, 3}, {4, 5}, {6, 9}}, 4},
		{"as far as the bytes allow", 0, 2, 25, [][2]int64{{0, 1}, {2, 3}}, 4},
		{"too few entries within the bytes", 0, 3, 25, nil, 4},
		{"no two entries within the bytes", 0, 2, 15, nil, 4},
		{"one entry asked for", 0, 1, 15, [][2]int64{{0, 1}}, 4},
		{"fewer entries than asked", 0, 5, 1 << 20, nil, 4},
		{"no entry at the level", 1, 1, 1 << 20, nil, 0},
	}
	for _, tt := range tests {
		got, at := h.f.LevelWindow(id, 0, tt.level, tt.minEntries, tt.maxBytes)
		if !reflect.DeepEqual(offsets(got), tt.want) || at != tt.atLevel {
			t.Errorf("%s: window %v (%d at level), want %v (%d)", tt.name, offsets(got), at, tt.want, tt.atLevel)
		}
	}
	if got, _ := h.f.LevelWindow(id, 5, 0, 1, 1<<20); got != nil {
		t.Fatalf("window of a missing partition %+v", got)
	}

	// A level-1 entry in the middle splits the level-0 entries into two
	// runs; a window never spans it.
	h.apply(CompactFiles{Key: "c", Size: 100, Level: 1, NowMs: 9, Runs: []CompactRun{run(id, 0, 2, 3, 8, 10)}})
	if got, at := h.f.LevelWindow(id, 0, 0, 2, 1<<20); !reflect.DeepEqual(offsets(got), [][2]int64{{4, 5}, {6, 9}}) || at != 3 {
		t.Fatalf("level-0 window %v (%d at level), want 4..9 after the level-1 entry", offsets(got), at)
	}
	if got, at := h.f.LevelWindow(id, 0, 1, 1, 1<<20); len(got) != 1 || got[0].Key != "c" || at != 1 {
		t.Fatalf("level-1 window %+v (%d)", got, at)
	}
	// Small entries after big ones: the window starts past the big ones.
	h.apply(CompactFiles{Key: "c2", Size: 100, Level: 1, NowMs: 9, Runs: []CompactRun{run(id, 0, 4, 5, 0, 90), run(id, 0, 6, 9, 90, 5)}})
	h.mustCommit("f4", plain(id, 0, 0, 10, 2))
	h.apply(CompactFiles{Key: "c3", Size: 100, Level: 1, NowMs: 9, Runs: []CompactRun{run(id, 0, 10, 11, 0, 5)}})
	if got, _ := h.f.LevelWindow(id, 0, 1, 2, 20); !reflect.DeepEqual(offsets(got), [][2]int64{{6, 9}, {10, 11}}) {
		t.Fatalf("level-1 window %v, want the two small entries after the big ones", offsets(got))
	}

	// f1 (30 bytes) is level 0; f2 and f3 died.
	want := []LevelStat{{Level: 0, Files: 1, Bytes: 30}, {Level: 1, Files: 3, Bytes: 300}}
	if got := h.f.Levels(); !reflect.DeepEqual(got, want) {
		t.Fatalf("levels %+v, want %+v", got, want)
	}
}

func TestCompactFilesSnapshotRoundTrip(t *testing.T) {
	h, id := trimState(t)
	h.apply(CompactFiles{Key: "c", Size: 100, NodeID: 4, Level: 1, NowMs: 9, Runs: []CompactRun{run(id, 0, 2, 9, 8, 40)}})
	h.apply(CompactFiles{Key: "c2", Size: 200, NodeID: 4, Level: 2, NowMs: 10, Runs: []CompactRun{run(id, 1, 0, 0, 8, 10)}})
	keys := []string{"f1", "f2", "f3", "c", "c2"}
	want := viewOf(h.f, keys...)
	restored := New(nil)
	if err := restored.Restore(io.NopCloser(bytes.NewReader(snapshotBytes(t, h.f)))); err != nil {
		t.Fatal(err)
	}
	if got := viewOf(restored, keys...); !reflect.DeepEqual(got, want) {
		t.Fatalf("restored\n got %+v\nwant %+v", got, want)
	}
	if got, want := restored.Levels(), h.f.Levels(); !reflect.DeepEqual(got, want) || len(got) != 3 {
		t.Fatalf("restored levels %+v, want %+v over three levels", got, want)
	}
	// A version-2 snapshot has no levels: every file reads back as level 0.
	var v2 bytes.Buffer
	if err := h.f.s.writeSnapshotAs(&v2, 2); err != nil {
		t.Fatal(err)
	}
	old := New(nil)
	if err := old.Restore(io.NopCloser(bytes.NewReader(v2.Bytes()))); err != nil {
		t.Fatal(err)
	}
	if got := old.Levels(); len(got) != 1 || got[0].Level != 0 || got[0].Files != 3 {
		t.Fatalf("levels from a v2 snapshot %+v, want all level 0", got)
	}
	if !slices.EqualFunc(old.DeadFiles(), h.f.DeadFiles(), func(a, b DeadFile) bool { return a == b }) {
		t.Fatal("dead files differ after a v2 restore")
	}
}

// A level-2 output holds several entries of one partition back to back in
// one file. They stay separate entries (a fetch reads an entry whole) in the
// manifest, through the Raft command and through a snapshot.
func TestCompactFilesSeveralEntriesOfOnePartition(t *testing.T) {
	h, id := trimState(t)
	cf := CompactFiles{Key: "c", Size: 100, NodeID: 3, Level: 2, NowMs: 77, Runs: []CompactRun{
		run(id, 0, 0, 3, 8, 20), run(id, 1, 0, 0, 28, 10), run(id, 0, 4, 9, 38, 30),
	}}
	b, err := Encode(cf)
	if err != nil {
		t.Fatal(err)
	}
	if b[1] != 3 {
		t.Fatalf("encoded as version %d, want 3", b[1])
	}
	got, err := Decode(b)
	if err != nil || !reflect.DeepEqual(got, cf) {
		t.Fatalf("round trip %+v, %v", got, err)
	}
	// The same bytes as version 2 (whose proposers named each partition
	// once) still decode.
	v2 := CompactFiles{Key: "c", Size: 100, NodeID: 3, Level: 1, NowMs: 77, Runs: cf.Runs[:2]}
	b2, _ := Encode(v2)
	b2[1] = 2
	if got, err := Decode(b2); err != nil || !reflect.DeepEqual(got, v2) {
		t.Fatalf("v2 decode %+v, %v", got, err)
	}

	if res := h.apply(cf).(CompactFilesResult); res.ErrorCode != 0 || res.Replaced != 5 {
		t.Fatalf("result %+v, want 5 entries replaced", res)
	}
	want := []Entry{{0, 3, "c", 8, 20, 4000, false}, {4, 9, "c", 38, 30, 4000, false}}
	if es, _, _ := h.f.Entries(id, 0, 0, 100); !reflect.DeepEqual(es, want) {
		t.Fatalf("entries %+v, want %+v", es, want)
	}
	if f, _ := h.f.File("c"); f.Refs != 3 || f.Level != 2 {
		t.Fatalf("new file %+v, want 3 refs at level 2", f)
	}
	// Entries next to each other in one file are not merged by a later
	// commit or by a snapshot.
	h.mustCommit("f4", plain(id, 0, 0, 10, 2))
	keys := []string{"c", "f1", "f2", "f3", "f4"}
	before := viewOf(h.f, keys...)
	restored := New(nil)
	if err := restored.Restore(io.NopCloser(bytes.NewReader(snapshotBytes(t, h.f)))); err != nil {
		t.Fatal(err)
	}
	if after := viewOf(restored, keys...); !reflect.DeepEqual(after, before) {
		t.Fatalf("restored\n got %+v\nwant %+v", after, before)
	}
	if es, _, _ := restored.Entries(id, 0, 0, 100); len(es) != 3 {
		t.Fatalf("restored entries %+v, want 3", es)
	}

	// Retention trimming the first entry leaves the file live through the
	// others; trimming all kills it.
	h.apply(TrimLog{TopicID: id, Partition: 0, NewLogStart: 4, NowMs: 80})
	if f, ok := h.f.File("c"); !ok || f.Refs != 2 {
		t.Fatalf("after trimming one entry: %+v live=%v, want 2 refs", f, ok)
	}
	h.apply(TrimLog{TopicID: id, Partition: 0, NewLogStart: 12, NowMs: 81})
	h.apply(TrimLog{TopicID: id, Partition: 1, NewLogStart: 1, NowMs: 81})
	if h.f.FileLive("c") {
		t.Fatal("file still live after every entry was trimmed")
	}
}
