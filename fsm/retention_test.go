package fsm

import (
	"bytes"
	"io"
	"math"
	"reflect"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

func TestAlterTopicConfigs(t *testing.T) {
	tests := []struct {
		name    string
		initial map[string]string
		cmd     AlterTopicConfigs
		want    map[string]string
	}{
		{"replace drops what is not named", map[string]string{"a": "1", "b": "2"},
			AlterTopicConfigs{Replace: true, Set: map[string]string{"b": "3"}}, map[string]string{"b": "3"}},
		{"replace with nothing clears", map[string]string{"a": "1"},
			AlterTopicConfigs{Replace: true}, nil},
		{"incremental merges", map[string]string{"a": "1", "b": "2"},
			AlterTopicConfigs{Set: map[string]string{"b": "3", "c": "4"}}, map[string]string{"a": "1", "b": "3", "c": "4"}},
		{"incremental deletes", map[string]string{"a": "1", "b": "2"},
			AlterTopicConfigs{Delete: []string{"a", "absent"}}, map[string]string{"b": "2"}},
		{"deleting the last override leaves none", map[string]string{"a": "1"},
			AlterTopicConfigs{Delete: []string{"a"}}, nil},
		{"incremental on a topic without overrides", nil,
			AlterTopicConfigs{Set: map[string]string{"retention.ms": "5"}}, map[string]string{"retention.ms": "5"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			res := h.apply(CreateTopic{Name: "t", ID: topicID("t"), Partitions: 1, Configs: tt.initial}).(TopicResult)
			if res.ErrorCode != 0 {
				t.Fatal(res.ErrorMessage)
			}
			before, _ := h.f.Topic("t")
			snap, err := h.f.Snapshot() // shares the config map
			if err != nil {
				t.Fatal(err)
			}
			defer snap.Release()
			tt.cmd.Name = "t"
			res = h.apply(tt.cmd).(TopicResult)
			if res.ErrorCode != 0 || !reflect.DeepEqual(res.Topic.Configs, tt.want) {
				t.Fatalf("result %+v, want configs %v", res, tt.want)
			}
			if got, _ := h.f.Topic("t"); !reflect.DeepEqual(got.Configs, tt.want) {
				t.Fatalf("configs %v, want %v", got.Configs, tt.want)
			}
			var sink memSink
			if err := snap.Persist(&sink); err != nil {
				t.Fatal(err)
			}
			old := New(nil)
			if err := old.Restore(io.NopCloser(bytes.NewReader(sink.Bytes()))); err != nil {
				t.Fatal(err)
			}
			if got, _ := old.Topic("t"); !reflect.DeepEqual(got.Configs, before.Configs) {
				t.Fatalf("snapshot taken before the change shows %v, want %v", got.Configs, before.Configs)
			}
		})
	}

	h := newHarness(t)
	if res := h.apply(AlterTopicConfigs{Name: "missing", Replace: true}).(TopicResult); res.ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("alter of a missing topic: code %d", res.ErrorCode)
	}
}

// trimState holds topic "t" partition 0 with offsets 0-9 in five entries:
// f1 holds 0-1 and 2-3 (two entries, as a file shared with partition 1),
// f2 holds 4-5, f3 6-7 and 8-9 in one merged entry.
func trimState(t *testing.T) (*harness, [16]byte) {
	h := newHarness(t)
	id := h.createTopic("t", 2)
	h.mustCommit("f1", plain(id, 0, 0, 10, 2), plain(id, 1, 10, 10, 1), plain(id, 0, 20, 10, 2))
	h.mustCommit("f2", plain(id, 0, 0, 10, 2))
	h.mustCommit("f3", plain(id, 0, 0, 10, 2), plain(id, 0, 10, 10, 2))
	return h, id
}

func TestTrimLog(t *testing.T) {
	tests := []struct {
		name       string
		to         []int64 // successive targets
		wantCode   int16
		wantStart  int64
		wantFirst  int64 // base offset of the first entry left, -1 for none
		wantDead   []string
		wantBytesP int64
	}{
		{"inside the first entry keeps it whole", []int64{1}, 0, 1, 0, nil, 50},
		{"at an entry boundary drops the entry below", []int64{2}, 0, 2, 2, nil, 40},
		{"past a whole file kills it only once unreferenced", []int64{4}, 0, 4, 4, nil, 30},
		{"file dies when its last entry goes", []int64{6}, 0, 6, 6, []string{"f2"}, 20},
		{"inside a merged entry keeps it", []int64{9}, 0, 9, 6, []string{"f2"}, 20},
		{"to the high watermark empties the manifest", []int64{10}, 0, 10, -1, []string{"f2", "f3"}, 0},
		{"never backwards", []int64{6, 3}, 0, 6, 6, []string{"f2"}, 20},
		{"beyond the high watermark is refused", []int64{11}, kerr.OffsetOutOfRange.Code, 0, 0, nil, 50},
		{"negative is refused", []int64{-1}, kerr.OffsetOutOfRange.Code, 0, 0, nil, 50},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, id := trimState(t)
			var res TrimLogResult
			for _, to := range tt.to {
				res = h.apply(TrimLog{TopicID: id, Partition: 0, NewLogStart: to, NowMs: 777}).(TrimLogResult)
			}
			if res.ErrorCode != tt.wantCode {
				t.Fatalf("code %d, want %d", res.ErrorCode, tt.wantCode)
			}
			info, _ := h.f.Partition(id, 0)
			if info.LogStartOffset != tt.wantStart || info.HighWatermark != 10 || info.Bytes != tt.wantBytesP {
				t.Fatalf("partition %+v, want log start %d, hw 10, bytes %d", info, tt.wantStart, tt.wantBytesP)
			}
			if tt.wantCode == 0 && res.LogStartOffset != tt.wantStart {
				t.Fatalf("result log start %d, want %d", res.LogStartOffset, tt.wantStart)
			}
			es, _, _ := h.f.Entries(id, 0, 0, 100)
			switch {
			case tt.wantFirst < 0 && len(es) != 0:
				t.Fatalf("entries left: %+v", es)
			case tt.wantFirst >= 0 && (len(es) == 0 || es[0].BaseOffset != tt.wantFirst):
				t.Fatalf("entries %+v, want the first at %d", es, tt.wantFirst)
			}
			var dead []string
			for _, d := range h.f.DeadFiles() {
				dead = append(dead, d.Key)
				if d.DiedMs != 777 {
					t.Fatalf("dead file %+v: died at %d, want the command's NowMs", d, d.DiedMs)
				}
			}
			if !reflect.DeepEqual(dead, tt.wantDead) {
				t.Fatalf("dead files %v, want %v", dead, tt.wantDead)
			}
			if !h.f.FileLive("f1") {
				t.Fatal("f1 died although partition 1 still references it")
			}
		})
	}

	h, _ := trimState(t)
	for _, c := range []TrimLog{{TopicID: topicID("nope")}, {TopicID: topicID("t"), Partition: 2}} {
		if res := h.apply(c).(TrimLogResult); res.ErrorCode != kerr.UnknownTopicOrPartition.Code || res.LogStartOffset != -1 {
			t.Fatalf("%+v: %+v", c, res)
		}
	}
}

// TestTrimLogSnapshot: a trimmed partition round-trips through a snapshot,
// and a snapshot taken before a trim keeps the entries it saw.
func TestTrimLogSnapshot(t *testing.T) {
	h, id := trimState(t)
	h.apply(TrimLog{TopicID: id, Partition: 0, NewLogStart: 3, NowMs: 1})
	snap, err := h.f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Release()
	at3 := viewOf(h.f, "f1", "f2", "f3")
	h.apply(TrimLog{TopicID: id, Partition: 0, NewLogStart: 7, NowMs: 2})
	h.mustCommit("f4", plain(id, 0, 0, 10, 1))

	var sink memSink
	if err := snap.Persist(&sink); err != nil {
		t.Fatal(err)
	}
	old := New(nil)
	if err := old.Restore(io.NopCloser(bytes.NewReader(sink.Bytes()))); err != nil {
		t.Fatal(err)
	}
	if got := viewOf(old, "f1", "f2", "f3"); !reflect.DeepEqual(got, at3) {
		t.Fatalf("snapshot before the trim:\n got %+v\nwant %+v", got, at3)
	}

	restored := New(nil)
	if err := restored.Restore(io.NopCloser(bytes.NewReader(snapshotBytes(t, h.f)))); err != nil {
		t.Fatal(err)
	}
	keys := []string{"f1", "f2", "f3", "f4"}
	if got, want := viewOf(restored, keys...), viewOf(h.f, keys...); !reflect.DeepEqual(got, want) {
		t.Fatalf("restored:\n got %+v\nwant %+v", got, want)
	}
	// Both replicas kill the same files on the same next trim.
	r := &harness{t: t, f: restored, index: h.index}
	c := TrimLog{TopicID: id, Partition: 0, NewLogStart: 11, NowMs: 3}
	if got, want := r.apply(c), h.apply(c); !reflect.DeepEqual(got, want) {
		t.Fatalf("restored answered %+v, original %+v", got, want)
	}
	if got, want := restored.DeadFiles(), h.f.DeadFiles(); !reflect.DeepEqual(got, want) || len(want) != 3 {
		t.Fatalf("dead files: restored %+v, original %+v", got, want)
	}
}

func TestRetentionTarget(t *testing.T) {
	ts := func(id [16]byte, pos int64, records int32, maxTs int64) BatchMeta {
		b := plain(id, 0, pos, 10, records)
		b.MaxTimestamp = maxTs
		return b
	}
	tests := []struct {
		name        string
		trimFirst   int64
		expireBelow int64
		maxBytes    int64
		want        int64
	}{
		{"nothing due", 0, math.MinInt64, -1, 0},
		{"expired prefix", 0, 300, -1, 4},
		{"expiry stops at the first live entry", 0, 400, -1, 4}, // 4-5 is at 500, 6-7 at 300 waits
		{"everything expired reaches the high watermark", 0, 10_000, -1, 10},
		{"bytes keep at least the limit", 0, math.MinInt64, 25, 4},
		{"bytes exactly at the limit", 0, math.MinInt64, 50, 0},
		{"bytes limit zero drops everything", 0, math.MinInt64, 0, 10},
		{"bytes after time expiry", 0, 200, 15, 6},
		{"never below the current log start", 3, 200, -1, 3},
		{"from inside a trimmed entry", 3, 300, -1, 4},
		{"untimestamped entries age from their file", 0, 5001, -1, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			id := h.createTopic("t", 1)
			if tt.name == "untimestamped entries age from their file" {
				h.mustCommit("u", ts(id, 0, 10, -1)) // file created at 5000
			} else {
				// offsets 0-1 @100, 2-3 @200, 4-5 @500, 6-7 @300, 8-9 @600
				h.mustCommit("a", ts(id, 0, 2, 100), ts(id, 20, 2, 200)) // apart: two entries
				h.mustCommit("b", ts(id, 0, 2, 500))
				h.mustCommit("c", ts(id, 0, 2, 300))
				h.mustCommit("d", ts(id, 0, 2, 600))
			}
			if tt.trimFirst > 0 {
				h.apply(TrimLog{TopicID: id, NewLogStart: tt.trimFirst})
			}
			start, got, ok := h.f.RetentionTarget(id, 0, tt.expireBelow, tt.maxBytes)
			if !ok || start != max(tt.trimFirst, 0) || got != tt.want {
				t.Fatalf("RetentionTarget = %d, %d, %v; want %d, %d", start, got, ok, tt.trimFirst, tt.want)
			}
		})
	}
	if _, _, ok := New(nil).RetentionTarget(topicID("x"), 0, 0, 0); ok {
		t.Fatal("found a partition in an empty FSM")
	}
}
