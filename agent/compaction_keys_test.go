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

func TestTopicCompacts(t *testing.T) {
	tests := []struct {
		configs  map[string]string
		keyed    bool
		deleteMs int64
	}{
		{nil, false, 0},
		{map[string]string{"cleanup.policy": "delete"}, false, 0},
		{map[string]string{"cleanup.policy": "compact"}, true, 86_400_000},
		{map[string]string{"cleanup.policy": "compact,delete", "delete.retention.ms": "5"}, true, 5},
	}
	for _, tt := range tests {
		keyed, ms := topicCompacts(tt.configs)
		if keyed != tt.keyed || ms != tt.deleteMs {
			t.Errorf("topicCompacts(%v) = %v, %d; want %v, %d", tt.configs, keyed, ms, tt.keyed, tt.deleteMs)
		}
	}
}

// kv is a record of a test batch: a nil value is a tombstone; ts is its
// timestamp.
type kv struct {
	key, value string
	tombstone  bool
	ts         int64
}

func TestCompactKeys(t *testing.T) {
	const now = 10_000
	tests := []struct {
		name      string
		batches   [][]kv // each produced batch, offsets from 0 in order
		fromStart bool
		deleteMs  int64
		want      map[int64]string // offset -> value ("<nil>" for a tombstone)
	}{
		{"newest per key", [][]kv{{{"a", "1", false, 1}, {"b", "1", false, 1}}, {{"a", "2", false, 2}, {"c", "1", false, 2}}, {{"b", "2", false, 3}}},
			true, 100, map[int64]string{2: "2", 3: "1", 4: "2"}},
		{"expired tombstone goes, tail covered", [][]kv{{{"a", "1", false, 1}}, {{"b", "1", false, 1}, {"a", "", true, 2}}},
			true, 100, map[int64]string{1: "1"}},
		{"recent tombstone stays", [][]kv{{{"a", "1", false, 1}}, {{"a", "", true, now - 50}}},
			true, 100, map[int64]string{1: "<nil>"}},
		{"tombstone stays when older runs may hold the key", [][]kv{{{"a", "1", false, 1}}, {{"a", "", true, 2}}},
			false, 100, map[int64]string{1: "<nil>"}},
		{"everything removed", [][]kv{{{"a", "1", false, 1}}, {{"a", "", true, 2}}},
			true, 0, map[int64]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var data []byte
			n := int64(0)
			for _, bs := range tt.batches {
				recs := make([]recordbatch.Record, len(bs))
				for i, r := range bs {
					recs[i] = recordbatch.Record{Key: []byte(r.key), TimestampDelta: r.ts}
					if !r.tombstone {
						recs[i].Value = []byte(r.value)
					}
				}
				data = append(data, recordbatch.Build(recordbatch.BuildOptions{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}, recs)...)
				n += int64(len(bs))
			}
			read := func(_ context.Context, key string, off, l int64) ([]byte, error) {
				if key != "f" || off != 0 || l != int64(len(data)) {
					return nil, fmt.Errorf("read %s [%d,+%d)", key, off, l)
				}
				return data, nil
			}
			b := datafile.NewBuilder()
			pos := b.Len()
			r := partRun{entries: []fsm.Entry{{BaseOffset: 0, LastOffset: n - 1, Key: "f", Len: int64(len(data))}},
				keyed: true, deleteRetentionMs: tt.deleteMs, fromStart: tt.fromStart}
			if _, err := compactKeys(context.Background(), read, b, r, now); err != nil {
				t.Fatal(err)
			}
			end := b.Len()
			out := b.Finish()[pos:end]

			got := map[int64]string{}
			covered := int64(0)
			err := recordbatch.Walk(out, func(h recordbatch.Header, raw []byte) bool {
				if h.BaseOffset < covered {
					t.Fatalf("batch at %d overlaps offsets below %d", h.BaseOffset, covered)
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
				covered = h.LastOffset() + 1
				return true
			})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("kept %v, want %v", got, tt.want)
			}
			if covered != n {
				t.Fatalf("batches cover offsets up to %d, want %d", covered-1, n-1)
			}
		})
	}
}
