package fsm

import (
	"bytes"
	"io"
	"reflect"
	"testing"
)

// Runs rewritten by key compaction carry AbsoluteOffsets through the Raft
// command, the manifest and snapshots; older encodings still decode.

func TestCompactFilesCodecAbsoluteOffsets(t *testing.T) {
	id := topicID("t")
	cf := CompactFiles{Key: "c", Size: 100, NodeID: 2, Level: 1, NowMs: 9, Runs: []CompactRun{
		{TopicID: id, Partition: 0, FirstOffset: 0, LastOffset: 9, Pos: 8, Len: 50, AbsoluteOffsets: true},
		{TopicID: id, Partition: 1, FirstOffset: 0, LastOffset: 0, Pos: 58, Len: 10},
	}}
	b, err := Encode(cf)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, cf) {
		t.Fatalf("round trip\n got %+v\nwant %+v", got, cf)
	}

	// Version 1 is version 2 without the flags byte after each run.
	one := CompactFiles{Key: "c", Size: 100, NodeID: 2, Level: 1, NowMs: 9, Runs: cf.Runs[1:]}
	b, err = Encode(one)
	if err != nil {
		t.Fatal(err)
	}
	if b[len(b)-1] != 0 {
		t.Fatalf("last byte %#x, want the zero flags of the run", b[len(b)-1])
	}
	v1 := append([]byte{b[0], 1}, b[2:len(b)-1]...)
	got, err = Decode(v1)
	if err != nil {
		t.Fatalf("decode v1: %v", err)
	}
	if !reflect.DeepEqual(got, one) {
		t.Fatalf("v1\n got %+v\nwant %+v", got, one)
	}

	// Unknown flags are refused, not ignored.
	bad := append([]byte(nil), b...)
	bad[len(bad)-1] = 2
	if _, err := Decode(bad); err == nil {
		t.Fatal("unknown run flags decoded")
	}
}

func TestCompactFilesAbsoluteOffsetsEntries(t *testing.T) {
	tests := []struct {
		name     string
		run      CompactRun
		wantCode bool // refused
	}{
		{"absolute run", CompactRun{FirstOffset: 0, LastOffset: 9, Pos: 8, Len: 30, AbsoluteOffsets: true}, false},
		{"empty absolute run", CompactRun{FirstOffset: 0, LastOffset: 9, Pos: 8, Len: 0, AbsoluteOffsets: true}, false},
		{"empty copied run", CompactRun{FirstOffset: 0, LastOffset: 9, Pos: 8, Len: 0}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, id := trimState(t)
			tt.run.TopicID = id
			res := h.apply(CompactFiles{Key: "c", Size: 100, NodeID: 2, Level: 1, NowMs: 888, Runs: []CompactRun{tt.run}}).(CompactFilesResult)
			if refused := res.ErrorCode != 0; refused != tt.wantCode {
				t.Fatalf("refused %v (%s), want %v", refused, res.ErrorMessage, tt.wantCode)
			}
			if tt.wantCode {
				return
			}
			want := []Entry{{BaseOffset: 0, LastOffset: 9, Key: "c", Pos: 8, Len: tt.run.Len, MaxTimestamp: 4000, AbsoluteOffsets: true}}
			es, _, _ := h.f.Entries(id, 0, 0, 100)
			if !reflect.DeepEqual(es, want) {
				t.Fatalf("entries\n got %+v\nwant %+v", es, want)
			}

			// A new commit after an absolute entry stays its own entry.
			h.mustCommit("f4", plain(id, 0, 0, 10, 2))
			es, _, _ = h.f.Entries(id, 0, 0, 100)
			if len(es) != 2 || es[1].AbsoluteOffsets || es[1].BaseOffset != 10 {
				t.Fatalf("entries after a commit %+v", es)
			}

			// Snapshots keep the flag (and the empty entry).
			restored := New(nil)
			if err := restored.Restore(io.NopCloser(bytes.NewReader(snapshotBytes(t, h.f)))); err != nil {
				t.Fatal(err)
			}
			got, _, _ := restored.Entries(id, 0, 0, 100)
			if !reflect.DeepEqual(got, es) {
				t.Fatalf("restored\n got %+v\nwant %+v", got, es)
			}
		})
	}
}

// A version-3 snapshot has no entry flags: entries read back as copied ones.
func TestRestoreVersion3Entries(t *testing.T) {
	h, id := trimState(t)
	var v3 bytes.Buffer
	if err := h.f.s.writeSnapshotAs(&v3, 3); err != nil {
		t.Fatal(err)
	}
	restored := New(nil)
	if err := restored.Restore(io.NopCloser(bytes.NewReader(v3.Bytes()))); err != nil {
		t.Fatal(err)
	}
	want, _, _ := h.f.Entries(id, 0, 0, 100)
	got, _, _ := restored.Entries(id, 0, 0, 100)
	if !reflect.DeepEqual(got, want) || len(got) == 0 {
		t.Fatalf("v3 restore\n got %+v\nwant %+v", got, want)
	}
	if got, want := restored.Levels(), h.f.Levels(); !reflect.DeepEqual(got, want) {
		t.Fatalf("v3 levels %+v, want %+v", got, want)
	}
}
