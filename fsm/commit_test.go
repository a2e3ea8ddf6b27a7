package fsm

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"reflect"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

func TestCommitFileAssignsOffsetsInOrder(t *testing.T) {
	h := newHarness(t)
	a := h.createTopic("a", 2)
	b := h.createTopic("b", 1)
	res := h.mustCommit("f1",
		plain(a, 0, 0, 10, 3),
		plain(b, 0, 10, 10, 5),
		plain(a, 1, 20, 10, 1),
		plain(a, 0, 30, 10, 2),
	)
	want := []int64{0, 0, 0, 3}
	for i, r := range res {
		if r.BaseOffset != want[i] || r.LogStartOffset != 0 || r.Duplicate {
			t.Fatalf("batch %d: %+v, want base %d", i, r, want[i])
		}
	}
	res = h.mustCommit("f2", plain(a, 0, 0, 10, 4))
	if res[0].BaseOffset != 5 {
		t.Fatalf("second file base = %d, want 5", res[0].BaseOffset)
	}
	for _, tc := range []struct {
		id   [16]byte
		p    int32
		want int64
	}{{a, 0, 9}, {a, 1, 1}, {b, 0, 5}} {
		if info, _ := h.f.Partition(tc.id, tc.p); info.HighWatermark != tc.want {
			t.Fatalf("partition %d high watermark %d, want %d", tc.p, info.HighWatermark, tc.want)
		}
	}
}

func TestCommitFileBatchErrors(t *testing.T) {
	unknown := topicID("unknown")
	tests := []struct {
		name  string
		batch func(id [16]byte) BatchMeta
		want  *kerr.Error
	}{
		{"unknown topic", func([16]byte) BatchMeta { return plain(unknown, 0, 0, 10, 1) }, kerr.UnknownTopicOrPartition},
		{"partition past count", func(id [16]byte) BatchMeta { return plain(id, 2, 0, 10, 1) }, kerr.UnknownTopicOrPartition},
		{"negative partition", func(id [16]byte) BatchMeta { return plain(id, -1, 0, 10, 1) }, kerr.UnknownTopicOrPartition},
		{"no records", func(id [16]byte) BatchMeta { return plain(id, 0, 0, 10, 0) }, kerr.InvalidRecord},
		{"no bytes", func(id [16]byte) BatchMeta { return plain(id, 0, 0, 0, 1) }, kerr.InvalidRecord},
		{"negative position", func(id [16]byte) BatchMeta { return plain(id, 0, -1, 10, 1) }, kerr.InvalidRecord},
		{"past end of file", func(id [16]byte) BatchMeta { return plain(id, 0, 95, 10, 1) }, kerr.InvalidRecord},
		{"position overflow", func(id [16]byte) BatchMeta { return plain(id, 0, math.MaxInt64, 10, 1) }, kerr.InvalidRecord},
		{"idempotent negative sequence", func(id [16]byte) BatchMeta { return idem(id, 0, 0, 10, 1, 5, 0, -1) }, kerr.InvalidRecord},
		{"idempotent negative epoch", func(id [16]byte) BatchMeta { return idem(id, 0, 0, 10, 1, 5, -1, 0) }, kerr.InvalidRecord},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			id := h.createTopic("t", 2)
			good := plain(id, 1, 0, 10, 1)
			res := h.apply(CommitFile{Key: "f", Size: 100, NowMs: 1, Batches: []BatchMeta{tt.batch(id), good}}).(CommitFileResult)
			want := []BatchResult{
				{ErrorCode: tt.want.Code, BaseOffset: -1, LogStartOffset: -1},
				{BaseOffset: 0},
			}
			if !reflect.DeepEqual(res.Batches, want) {
				t.Fatalf("results %+v, want %+v", res.Batches, want)
			}
			if p, _ := h.f.Partition(id, 0); p != (PartitionInfo{}) {
				t.Fatalf("rejected batch was indexed: %+v", p)
			}
		})
	}
}

func TestCommitFileRejectsWholeFile(t *testing.T) {
	h := newHarness(t)
	id := h.createTopic("t", 1)
	h.mustCommit("live", plain(id, 0, 0, 10, 1))
	h.commit("dead", plain(topicID("gone"), 0, 0, 10, 1))

	tests := []struct {
		name string
		cmd  CommitFile
		want *kerr.Error
	}{
		{"empty key", CommitFile{Key: "", Size: 10}, kerr.InvalidRecord},
		{"negative size", CommitFile{Key: "neg", Size: -1}, kerr.InvalidRecord},
		{"live key again", CommitFile{Key: "live", Size: 10}, kerr.DuplicateResource},
		{"dead key again", CommitFile{Key: "dead", Size: 10}, kerr.DuplicateResource},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cmd.Batches = []BatchMeta{plain(id, 0, 0, 10, 1), plain(id, 0, 10, 10, 1)}
			res := h.apply(tt.cmd).(CommitFileResult)
			for i, r := range res.Batches {
				if r.ErrorCode != tt.want.Code || r.BaseOffset != -1 {
					t.Fatalf("batch %d: %+v, want code %d", i, r, tt.want.Code)
				}
			}
			if p, _ := h.f.Partition(id, 0); p.HighWatermark != 1 {
				t.Fatalf("high watermark %d, want 1", p.HighWatermark)
			}
			if got := len(h.f.DeadFiles()); got != 1 {
				t.Fatalf("%d dead files, want 1", got)
			}
		})
	}
	if !h.f.FileLive("live") {
		t.Fatal("live file no longer live")
	}
}

func TestCommitFileRefcounts(t *testing.T) {
	h := newHarness(t)
	id := h.createTopic("t", 3)

	// Three entries: p0 (two merged batches), p1, p2.
	h.mustCommit("three", plain(id, 0, 0, 10, 1), plain(id, 0, 10, 10, 1), plain(id, 1, 20, 10, 1), plain(id, 2, 30, 10, 1))
	fi, ok := h.f.File("three")
	if want := (FileInfo{Key: "three", Size: 40, NodeID: 1, CreatedMs: 5000, Refs: 3}); !ok || fi != want {
		t.Fatalf("File = %+v, %v; want %+v", fi, ok, want)
	}

	// Nothing accepted: dead at once, at this index.
	h.commit("none", plain(topicID("gone"), 0, 0, 10, 1))
	noneIndex := h.index
	// No batches at all: dead too.
	h.apply(CommitFile{Key: "empty", Size: 0, NowMs: 77})
	emptyIndex := h.index
	if h.f.FileLive("none") || h.f.FileLive("empty") {
		t.Fatal("unreferenced file is live")
	}
	want := []DeadFile{
		{Key: "none", Size: 10, DiedIndex: noneIndex, DiedMs: 5000},
		{Key: "empty", Size: 0, DiedIndex: emptyIndex, DiedMs: 77},
	}
	if got := h.f.DeadFiles(); !reflect.DeepEqual(got, want) {
		t.Fatalf("DeadFiles = %+v, want %+v", got, want)
	}

	// Only duplicates: nothing new is referenced, so the file is dead.
	h.mustCommit("idem", idem(id, 0, 0, 10, 1, 9, 0, 0))
	res := h.commit("idem-again", idem(id, 0, 0, 10, 1, 9, 0, 0))
	if !res[0].Duplicate || h.f.FileLive("idem-again") {
		t.Fatalf("duplicate-only file: %+v, live %v", res[0], h.f.FileLive("idem-again"))
	}

	// ForgetFiles drops the named keys, ignoring unknown ones, and keeps order.
	if r := h.apply(ForgetFiles{Keys: []string{"none", "never-heard-of", "three"}}); r != nil {
		t.Fatalf("ForgetFiles returned %#v", r)
	}
	got := h.f.DeadFiles()
	if len(got) != 2 || got[0].Key != "empty" || got[1].Key != "idem-again" {
		t.Fatalf("DeadFiles after forget = %+v", got)
	}
	if !h.f.FileLive("three") {
		t.Fatal("ForgetFiles of a live key killed it")
	}
	// A forgotten key is unknown again and can be committed.
	if r := h.mustCommit("none", plain(id, 1, 0, 10, 1)); r[0].BaseOffset != 1 {
		t.Fatalf("recommit of forgotten key: %+v", r)
	}
}

func TestManifestMerging(t *testing.T) {
	type want struct {
		p       int32
		entries []Entry
	}
	tests := []struct {
		name    string
		batches func(id [16]byte) []BatchMeta
		want    []want
	}{
		{
			name: "contiguous batches merge",
			batches: func(id [16]byte) []BatchMeta {
				return []BatchMeta{plain(id, 0, 0, 10, 2), plain(id, 0, 10, 20, 3), plain(id, 0, 30, 5, 1)}
			},
			want: []want{{0, []Entry{{BaseOffset: 0, LastOffset: 5, Key: "f", Pos: 0, Len: 35, MaxTimestamp: 4000}}}},
		},
		{
			name: "gap in file splits",
			batches: func(id [16]byte) []BatchMeta {
				return []BatchMeta{plain(id, 0, 0, 10, 2), plain(id, 0, 15, 10, 1)}
			},
			want: []want{{0, []Entry{
				{BaseOffset: 0, LastOffset: 1, Key: "f", Pos: 0, Len: 10, MaxTimestamp: 4000},
				{BaseOffset: 2, LastOffset: 2, Key: "f", Pos: 15, Len: 10, MaxTimestamp: 4000},
			}}},
		},
		{
			name: "other partition between splits",
			batches: func(id [16]byte) []BatchMeta {
				return []BatchMeta{plain(id, 0, 0, 10, 1), plain(id, 1, 10, 10, 1), plain(id, 0, 20, 10, 1)}
			},
			want: []want{
				{0, []Entry{
					{BaseOffset: 0, LastOffset: 0, Key: "f", Pos: 0, Len: 10, MaxTimestamp: 4000},
					{BaseOffset: 1, LastOffset: 1, Key: "f", Pos: 20, Len: 10, MaxTimestamp: 4000},
				}},
				{1, []Entry{{BaseOffset: 0, LastOffset: 0, Key: "f", Pos: 10, Len: 10, MaxTimestamp: 4000}}},
			},
		},
		{
			name: "rejected batch between splits",
			batches: func(id [16]byte) []BatchMeta {
				bad := plain(id, 0, 10, 10, 0)
				return []BatchMeta{plain(id, 0, 0, 10, 1), bad, plain(id, 0, 20, 10, 1)}
			},
			want: []want{{0, []Entry{
				{BaseOffset: 0, LastOffset: 0, Key: "f", Pos: 0, Len: 10, MaxTimestamp: 4000},
				{BaseOffset: 1, LastOffset: 1, Key: "f", Pos: 20, Len: 10, MaxTimestamp: 4000},
			}}},
		},
		{
			name: "merged entry keeps the largest timestamp",
			batches: func(id [16]byte) []BatchMeta {
				b1, b2 := plain(id, 0, 0, 10, 1), plain(id, 0, 10, 10, 1)
				b1.MaxTimestamp, b2.MaxTimestamp = 900, 800
				return []BatchMeta{b1, b2}
			},
			want: []want{{0, []Entry{{BaseOffset: 0, LastOffset: 1, Key: "f", Pos: 0, Len: 20, MaxTimestamp: 900}}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			id := h.createTopic("t", 2)
			h.commit("f", tt.batches(id)...)
			refs := int64(0)
			for _, w := range tt.want {
				got, info, _ := h.f.Entries(id, w.p, 0, 100)
				if !reflect.DeepEqual(got, w.entries) {
					t.Fatalf("partition %d entries:\n got %+v\nwant %+v", w.p, got, w.entries)
				}
				if info.Entries != len(w.entries) {
					t.Fatalf("info.Entries = %d, want %d", info.Entries, len(w.entries))
				}
				refs += int64(len(w.entries))
			}
			if fi, _ := h.f.File("f"); fi.Refs != refs {
				t.Fatalf("refs = %d, want %d (one per entry)", fi.Refs, refs)
			}
		})
	}

	t.Run("files never merge", func(t *testing.T) {
		h := newHarness(t)
		id := h.createTopic("t", 1)
		h.mustCommit("f1", plain(id, 0, 0, 10, 1))
		h.mustCommit("f2", plain(id, 0, 10, 10, 1))
		if info, _ := h.f.Partition(id, 0); info.Entries != 2 || info.Bytes != 20 {
			t.Fatalf("info = %+v, want 2 entries of 20 bytes", info)
		}
	})
}

// A proposer retries a commit when it cannot tell whether the first attempt
// was applied (the leader died before answering). The retry must get the
// first attempt's answer, not an error for records that are in the log, and
// must index nothing again.
func TestRetriedCommitGetsItsFirstAnswer(t *testing.T) {
	const pid = 7
	tests := []struct {
		name    string
		batches func(id [16]byte) []BatchMeta
		before  func(h *harness, id [16]byte) // commits ahead of the one retried
	}{
		{"plain batches", func(id [16]byte) []BatchMeta {
			return []BatchMeta{plain(id, 0, 0, 10, 4), plain(id, 1, 10, 10, 3)}
		}, nil},
		{"one batch refused", func(id [16]byte) []BatchMeta {
			return []BatchMeta{plain(topicID("gone"), 0, 0, 10, 1), plain(id, 1, 10, 10, 3)}
		}, nil},
		{"nothing accepted, the file died at once", func(id [16]byte) []BatchMeta {
			return []BatchMeta{plain(topicID("gone"), 0, 0, 10, 1)}
		}, nil},
		{"an idempotent batch the first attempt found a duplicate", func(id [16]byte) []BatchMeta {
			return []BatchMeta{idem(id, 0, 0, 10, 2, pid, 0, 0)}
		}, func(h *harness, id [16]byte) {
			h.mustCommit("earlier", plain(id, 0, 0, 10, 5), idem(id, 0, 10, 10, 2, pid, 0, 0))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			id := h.createTopic("t", 2)
			if tt.before != nil {
				tt.before(h, id)
			}
			first := h.commit("f", tt.batches(id)...)
			if tt.before != nil && !first[0].Duplicate {
				t.Fatalf("first attempt %+v, want a duplicate", first)
			}
			h.mustCommit("later", plain(id, 0, 0, 10, 6), plain(id, 1, 10, 10, 6))
			p0, _ := h.f.Partition(id, 0)
			p1, _ := h.f.Partition(id, 1)

			again := h.commit("f", tt.batches(id)...)
			if !reflect.DeepEqual(again, first) {
				t.Fatalf("retry answered %+v, the first attempt %+v", again, first)
			}
			if q0, _ := h.f.Partition(id, 0); q0 != p0 {
				t.Fatalf("the retry changed partition 0: %+v, was %+v", q0, p0)
			}
			if q1, _ := h.f.Partition(id, 1); q1 != p1 {
				t.Fatalf("the retry changed partition 1: %+v, was %+v", q1, p1)
			}
		})
	}
}

// The outcomes are kept for a bounded window and not in snapshots: a retry at
// the window's edge still gets its answer, one past it (or on a replica
// restored from a snapshot) is refused whole with DUPLICATE_RESOURCE, which
// tells the proposer the outcome is unknown.
func TestRetriedCommitIsAnsweredUpToTheWindowAndRefusedPastIt(t *testing.T) {
	batchesOf := func(id [16]byte, n int) []BatchMeta {
		bs := make([]BatchMeta, n)
		for i := range bs {
			bs[i] = plain(id, 1, int64(i)*10, 10, 1)
		}
		return bs
	}
	tests := []struct {
		name         string
		within, past func(h *harness, id [16]byte) // within may be nil
	}{
		{"newer commits",
			func(h *harness, id [16]byte) { // the retried one is the oldest remembered
				for i := range recentFiles - 1 {
					h.mustCommit(fmt.Sprintf("n%d", i), plain(id, 1, 0, 10, 1))
				}
			},
			func(h *harness, id [16]byte) { h.mustCommit("last", plain(id, 1, 0, 10, 1)) }},
		{"newer batch outcomes",
			func(h *harness, id [16]byte) { // all but one of the outcomes remembered are newer
				for i := range 15 {
					h.mustCommit(fmt.Sprintf("n%d", i), batchesOf(id, recentBatches/16)...)
				}
				h.mustCommit("n15", batchesOf(id, recentBatches/16-1)...)
			},
			func(h *harness, id [16]byte) { h.mustCommit("last", plain(id, 1, 0, 10, 1)) }},
		{"a replica restored from a snapshot", nil, func(h *harness, id [16]byte) {
			restored := New(nil)
			if err := restored.Restore(io.NopCloser(bytes.NewReader(snapshotBytes(t, h.f)))); err != nil {
				t.Fatal(err)
			}
			h.f = restored
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			id := h.createTopic("t", 2)
			h.mustCommit("f", plain(id, 0, 0, 10, 4))
			if tt.within != nil {
				tt.within(h, id)
			}
			if again := h.commit("f", plain(id, 0, 0, 10, 4)); again[0].ErrorCode != 0 || again[0].BaseOffset != 0 {
				t.Fatalf("retry at the window's edge answered %+v, want base offset 0", again)
			}
			tt.past(h, id)
			again := h.commit("f", plain(id, 0, 0, 10, 4))
			if again[0].ErrorCode != kerr.DuplicateResource.Code {
				t.Fatalf("retry past the window answered %+v, want DUPLICATE_RESOURCE", again)
			}
			if p, _ := h.f.Partition(id, 0); p.HighWatermark != 4 {
				t.Fatalf("partition 0 high watermark %d after the refused retry, want 4", p.HighWatermark)
			}
		})
	}
}

// A key committed again after ForgetFiles dropped it replaces its remembered
// outcome without counting twice: the window then still holds as many
// outcomes as it should.
func TestRecentCommitsCountAKeyOnce(t *testing.T) {
	var r recentCommits
	r.add("k", make([]BatchResult, 3))
	r.add("k", make([]BatchResult, 5))
	if len(r.order)-r.head != 1 || r.batches != 5 || len(r.byKey["k"]) != 5 {
		t.Fatalf("after two adds of one key: %d in order, %d batches counted, %d kept; want 1, 5, 5",
			len(r.order)-r.head, r.batches, len(r.byKey["k"]))
	}
	for i := range recentFiles {
		r.add(fmt.Sprint(i), make([]BatchResult, 1))
	}
	if _, ok := r.byKey["k"]; ok || r.batches != recentFiles {
		t.Fatalf("k still kept (%v) or %d batches counted after %d newer commits of one batch; want %d", ok, r.batches, recentFiles, recentFiles)
	}
}
