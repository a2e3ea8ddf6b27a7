package tests

import (
	"context"
	"encoding/binary"
	"hash/fnv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// recordDigest is one record read back: its offset and a hash of its key,
// value, headers and timestamp (a million kgo.Records would not fit the
// race detector's memory comfortably).
type recordDigest struct {
	offset int64
	sum    uint64
}

func digestOf(key, value []byte, ts time.Time, headers []kgo.RecordHeader) uint64 {
	h := fnv.New64a()
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(key)))
	h.Write(n[:])
	h.Write(key)
	binary.BigEndian.PutUint64(n[:], uint64(len(value)))
	h.Write(n[:])
	h.Write(value)
	binary.BigEndian.PutUint64(n[:], uint64(ts.UnixMilli()))
	h.Write(n[:])
	for _, hd := range headers {
		h.Write([]byte(hd.Key))
		h.Write(hd.Value)
	}
	return h.Sum64()
}

// digestEverything reads every partition of topic from its start to its high
// watermark, as a catch-up consumer does, and returns the records' digests
// by partition and the seconds the read took.
func digestEverything(t testing.TB, ta *testAgent, topic string, partitions int32) (map[int32][]recordDigest, float64) {
	t.Helper()
	id := topicIDOf(t, ta, topic)
	ends := map[int32]int64{}
	starts := map[int32]kgo.Offset{}
	for p := range partitions {
		info, _ := ta.Metadata().Partition(id, p)
		ends[p] = info.HighWatermark
		starts[p] = kgo.NewOffset().AtStart()
	}
	cl := ta.client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: starts}))
	defer cl.Close() // a lingering long-poll fetch would hold up a restart
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out := map[int32][]recordDigest{}
	remaining := len(ends)
	for _, end := range ends {
		if end == 0 {
			remaining--
		}
	}
	start := time.Now()
	for remaining > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("full read of %s timed out: %v", topic, err)
		}
		fs.EachError(func(_ string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", topic, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			out[r.Partition] = append(out[r.Partition], recordDigest{r.Offset, digestOf(r.Key, r.Value, r.Timestamp, r.Headers)})
			if r.Offset == ends[r.Partition]-1 {
				remaining--
			}
		})
	}
	return out, time.Since(start).Seconds()
}

// sameDigestsAt fails unless got holds exactly want, offset for offset.
func sameDigestsAt(t testing.TB, what string, want, got map[int32][]recordDigest) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d partitions, want %d", what, len(got), len(want))
	}
	for p, ws := range want {
		gs := got[p]
		if len(gs) != len(ws) {
			t.Fatalf("%s: partition %d has %d records, want %d", what, p, len(gs), len(ws))
		}
		for i := range ws {
			if gs[i] != ws[i] {
				t.Fatalf("%s: partition %d record %d: offset %d digest %x, want offset %d digest %x",
					what, p, i, gs[i].offset, gs[i].sum, ws[i].offset, ws[i].sum)
			}
		}
	}
}
