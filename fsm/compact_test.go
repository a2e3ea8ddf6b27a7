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
		{"partition named twice", nil,
			CompactFiles{Key: "c", Size: 100, Level: 1, Runs: []CompactRun{run(id, 0, 0, 1, 8, 10), run(id, 0, 2, 3, 18, 10)}}, kerr.InvalidRequest.Code},
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

func TestLevelRunAndLevels(t *testing.T) {
	h, id := trimState(t)
	if got := h.f.LevelRun(id, 0, 0, 1<<20); len(got) != 4 {
		t.Fatalf("level-0 run %+v, want all 4 entries", got)
	}
	if got := h.f.LevelRun(id, 0, 0, 25); len(got) != 2 || got[1].LastOffset != 3 {
		t.Fatalf("level-0 run within 25 bytes %+v, want offsets 0-3", got)
	}
	if got := h.f.LevelRun(id, 0, 0, 1); len(got) != 1 {
		t.Fatalf("run of a 1-byte budget %+v, want the first entry anyway", got)
	}
	h.apply(CompactFiles{Key: "c", Size: 100, Level: 1, NowMs: 9, Runs: []CompactRun{run(id, 0, 2, 5, 8, 20)}})
	if got := h.f.LevelRun(id, 0, 0, 1<<20); len(got) != 1 || got[0].Key != "f1" {
		t.Fatalf("oldest level-0 run %+v, want only [0-1] before the level-1 entry", got)
	}
	if got := h.f.LevelRun(id, 0, 1, 1<<20); len(got) != 1 || got[0].Key != "c" {
		t.Fatalf("level-1 run %+v", got)
	}
	if got := h.f.LevelRun(id, 0, 2, 1<<20); got != nil {
		t.Fatalf("level-2 run %+v, want none", got)
	}
	if got := h.f.LevelRun(id, 5, 0, 1<<20); got != nil {
		t.Fatalf("run of a missing partition %+v", got)
	}
	// f1 (30 bytes) and f3 (20) are level 0; f2 died.
	want := []LevelStat{{Level: 0, Files: 2, Bytes: 50}, {Level: 1, Files: 1, Bytes: 100}}
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
