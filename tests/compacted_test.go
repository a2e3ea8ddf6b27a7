package tests

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/wisp-stream/wisp/kafka/recordbatch"
)

// fetchedRecord is one record of a raw fetch, at its absolute offset.
type fetchedRecord struct {
	offset     int64
	key, value []byte
}

// rawFetch fetches partition 0 of topic at offset and returns the batches'
// (base, last) offsets and their records.
func rawFetch(t testing.TB, cl *kgo.Client, topic string, id [16]byte, offset int64) (spans [][2]int64, recs []fetchedRecord) {
	t.Helper()
	p := fetchAt(t, cl, topic, id, offset)
	if p.ErrorCode != 0 {
		t.Fatalf("fetch at %d: error %d", offset, p.ErrorCode)
	}
	err := recordbatch.Walk(p.RecordBatches, func(h recordbatch.Header, raw []byte) bool {
		spans = append(spans, [2]int64{h.BaseOffset, h.LastOffset()})
		rs, err := recordbatch.Records(raw)
		if err != nil {
			t.Fatalf("fetch at %d: batch at %d: %v", offset, h.BaseOffset, err)
		}
		for _, r := range rs {
			recs = append(recs, fetchedRecord{offset: h.BaseOffset + int64(r.OffsetDelta), key: r.Key, value: r.Value})
		}
		return true
	})
	if err != nil {
		t.Fatalf("fetch at %d: %v", offset, err)
	}
	return spans, recs
}

// rawReadAll reads partition 0 from offset 0 to the high watermark, moving on
// past each batch's last offset as a consumer does, and fails if a fetch
// below the high watermark makes no progress.
func rawReadAll(t testing.TB, cl *kgo.Client, topic string, id [16]byte, hw int64) []fetchedRecord {
	t.Helper()
	var out []fetchedRecord
	for off := int64(0); off < hw; {
		spans, recs := rawFetch(t, cl, topic, id, off)
		if len(spans) == 0 {
			t.Fatalf("fetch at %d below the high watermark %d returned no batch", off, hw)
		}
		for _, r := range recs {
			if r.offset >= off {
				out = append(out, r)
			}
		}
		off = spans[len(spans)-1][1] + 1
	}
	return out
}

// TestCompactedTopicKeepsLatestPerKey: a cleanup.policy=compact topic with
// delete.retention.ms=0 gets several values per key over many flushes and
// tombstones for some keys, the very last records included. After
// compaction a full read returns exactly the newest value of every live key,
// each at the offset its produce was acked with, with gaps between them;
// tombstoned keys are gone; franz-go consumes it; ListOffsets still answers
// the same earliest and latest offsets.
func TestCompactedTopicKeepsLatestPerKey(t *testing.T) {
	const (
		topic  = "ckeys"
		keys   = 12
		rounds = 30
	)
	ta := startAgent(t, compactionConfig(t, 2, nil))
	cl := ta.client(manualPartitioner(), kgo.ProducerBatchCompression(kgo.NoCompression()))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	adm := kadm.NewClient(cl)
	resp, err := adm.CreateTopics(ctx, 1, 1, map[string]*string{
		"cleanup.policy": strp("compact"), "delete.retention.ms": strp("0"),
	}, topic)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		t.Fatalf("create topic: %v", err)
	}

	latest := map[string]fetchedRecord{} // by key; tombstones deleted
	produce := func(recs ...*kgo.Record) {
		t.Helper()
		res := cl.ProduceSync(ctx, recs...)
		if err := res.FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
		for _, r := range res {
			k := string(r.Record.Key)
			if r.Record.Value == nil {
				delete(latest, k)
			} else {
				latest[k] = fetchedRecord{offset: r.Record.Offset, key: r.Record.Key, value: r.Record.Value}
			}
		}
	}
	for r := range rounds {
		recs := make([]*kgo.Record, 0, keys)
		for k := range keys {
			if (k+r)%3 == 0 { // not every key in every round
				continue
			}
			recs = append(recs, &kgo.Record{Topic: topic, Key: fmt.Appendf(nil, "k%02d", k), Value: fmt.Appendf(nil, "v%02d-%03d", k, r)})
		}
		produce(recs...)
		if r == rounds/2 { // a key deleted mid-way, then written again
			produce(&kgo.Record{Topic: topic, Key: []byte("k05")})
		}
	}
	// Tombstones last: the compacted tail is a gap.
	produce(&kgo.Record{Topic: topic, Key: []byte("k00")}, &kgo.Record{Topic: topic, Key: []byte("k01")})

	id := topicIDOf(t, ta, topic)
	var want []fetchedRecord
	for _, r := range latest {
		want = append(want, r)
	}
	sortByOffset(want)
	if len(want) != keys-2 {
		t.Fatalf("%d live keys, want %d", len(want), keys-2)
	}

	var (
		got []fetchedRecord
		hw  int64
	)
	waitFor(t, 60*time.Second, "compaction to leave one record per key", func() bool {
		switch levelFiles(ta, 0) {
		case 0:
		case 1:
			// A lone level-0 file is below the fan-in and would wait
			// forever: give it a partner, one more (expired) tombstone.
			produce(&kgo.Record{Topic: topic, Key: []byte("k00")})
			return false
		default:
			return false
		}
		info, _ := ta.Metadata().Partition(id, 0)
		hw = info.HighWatermark
		got = rawReadAll(t, cl, topic, id, hw)
		return len(got) == len(want)
	})
	for i, w := range want {
		g := got[i]
		if g.offset != w.offset || string(g.key) != string(w.key) || string(g.value) != string(w.value) {
			t.Fatalf("record %d: got %q=%q at %d, want %q=%q at %d", i, g.key, g.value, g.offset, w.key, w.value, w.offset)
		}
	}
	if got[len(got)-1].offset >= hw-1 {
		t.Fatalf("last record at %d, high watermark %d: the tombstones at the tail were not dropped", got[len(got)-1].offset, hw)
	}

	// A fetch inside a gap gets the next record (batches come whole, so
	// records below the fetch offset may come along, as from Kafka); one
	// inside the tail gap gets a batch that carries the consumer to the high
	// watermark.
	gap := want[0].offset + 1
	if gap == want[1].offset {
		t.Fatalf("no gap after offset %d", want[0].offset)
	}
	_, recs := rawFetch(t, cl, topic, id, gap)
	for len(recs) > 0 && recs[0].offset < gap {
		recs = recs[1:]
	}
	if len(recs) == 0 || recs[0].offset != want[1].offset {
		t.Fatalf("fetch at %d (a gap) returned %+v, want the record at %d first", gap, recs, want[1].offset)
	}
	if spans, _ := rawFetch(t, cl, topic, id, hw-1); len(spans) == 0 || spans[len(spans)-1][1] != hw-1 {
		t.Fatalf("fetch at %d (the tail gap) returned batches %v, want one ending at %d", hw-1, spans, hw-1)
	}

	// ListOffsets is unchanged.
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := starts.Lookup(topic, 0); s.Offset != 0 {
		t.Fatalf("earliest offset %d, want 0", s.Offset)
	}
	if e, _ := ends.Lookup(topic, 0); e.Offset != hw {
		t.Fatalf("latest offset %d, want %d", e.Offset, hw)
	}

	// franz-go consumes the compacted partition without error and sees the
	// same records.
	cons := ta.client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
	defer cons.Close()
	var consumed []fetchedRecord
	for len(consumed) < len(want) {
		fs := cons.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consume: %v after %d records", err, len(consumed))
		}
		fs.EachError(func(_ string, p int32, err error) { t.Fatalf("consume %d: %v", p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			consumed = append(consumed, fetchedRecord{offset: r.Offset, key: r.Key, value: r.Value})
		})
	}
	for i, w := range want {
		if c := consumed[i]; c.offset != w.offset || string(c.value) != string(w.value) {
			t.Fatalf("consumed record %d: %q=%q at %d, want %q=%q at %d", i, c.key, c.value, c.offset, w.key, w.value, w.offset)
		}
	}
}

func sortByOffset(rs []fetchedRecord) {
	for i := 1; i < len(rs); i++ {
		for j := i; j > 0 && rs[j].offset < rs[j-1].offset; j-- {
			rs[j], rs[j-1] = rs[j-1], rs[j]
		}
	}
}

// TestCompactedTopicThroughLevel2: a compacted topic bigger than one
// level-1 entry (8 MiB), so its runs stop being rewritten from the start at
// level 1 and pile up there, then get merged and deduplicated at level 2
// from the partition's start. Once all its data is at level 2, a full read
// returns exactly the newest value of every live key at its acked offset,
// expired tombstones gone, and no entry is bigger than 8 MiB.
func TestCompactedTopicThroughLevel2(t *testing.T) {
	const (
		topic       = "ckeys2"
		rounds      = 20
		unique      = 500 // new keys per round, 1 KB values: about 10 MiB in all
		hot         = 20  // keys rewritten every round
		maxRunBytes = 8 << 20
	)
	ta := startAgent(t, compactionConfig(t, 2, nil))
	cl := ta.client(manualPartitioner(), kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.ProducerBatchMaxBytes(4<<20))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	adm := kadm.NewClient(cl)
	resp, err := adm.CreateTopics(ctx, 1, 1, map[string]*string{
		"cleanup.policy": strp("compact"), "delete.retention.ms": strp("0"),
	}, topic)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		t.Fatalf("create topic: %v", err)
	}
	latest := map[string]fetchedRecord{}
	produce := func(recs ...*kgo.Record) {
		t.Helper()
		res := cl.ProduceSync(ctx, recs...)
		if err := res.FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
		for _, r := range res {
			k := string(r.Record.Key)
			if r.Record.Value == nil {
				delete(latest, k)
			} else {
				latest[k] = fetchedRecord{offset: r.Record.Offset, key: r.Record.Key, value: r.Record.Value}
			}
		}
	}
	round := 0
	for ; round < rounds; round++ {
		recs := make([]*kgo.Record, 0, unique+hot+3)
		for i := range unique {
			recs = append(recs, &kgo.Record{Topic: topic, Key: fmt.Appendf(nil, "u%03d-%04d", round, i), Value: fmt.Appendf(nil, "%01000d", round*unique+i)})
		}
		for h := range hot {
			recs = append(recs, &kgo.Record{Topic: topic, Key: fmt.Appendf(nil, "hot%02d", h), Value: fmt.Appendf(nil, "hot%02d-%03d", h, round)})
		}
		if round >= 10 { // tombstones for some keys of an older round
			for i := range 3 {
				recs = append(recs, &kgo.Record{Topic: topic, Key: fmt.Appendf(nil, "u%03d-%04d", round-10, i)})
			}
		}
		produce(recs...)
	}
	id := topicIDOf(t, ta, topic)

	// Wait until every entry is at level 2. A lone level-0 or level-1 entry
	// is below the fan-in and would wait forever: when compaction is idle,
	// give it a partner, one more value of a hot key.
	waitFor(t, 90*time.Second, "all of the topic's data at level 2", func() bool {
		l0, l1 := levelFiles(ta, 0), levelFiles(ta, 1)
		if l0 == 0 && l1 == 0 {
			return true
		}
		if (l0 == 1 || l0 == 0 && l1 == 1) && scrape(t, ta)("wisp_compaction_in_flight", "", "") == 0 {
			produce(&kgo.Record{Topic: topic, Key: []byte("hot00"), Value: fmt.Appendf(nil, "hot00-%03d", round)})
			round++
		}
		time.Sleep(100 * time.Millisecond)
		return false
	})
	es, info, _ := ta.Metadata().Entries(id, 0, 0, 1<<20)
	files := map[string]bool{}
	for _, e := range es {
		if e.Len > maxRunBytes {
			t.Fatalf("entry %d..%d is %d bytes, over %d", e.BaseOffset, e.LastOffset, e.Len, maxRunBytes)
		}
		files[e.Key] = true
	}
	if len(es) < 2 {
		t.Fatalf("%d entries for more than 8 MiB of live records", len(es))
	}

	var want []fetchedRecord
	for _, r := range latest {
		want = append(want, r)
	}
	sortByOffset(want)
	got := rawReadAll(t, cl, topic, id, info.HighWatermark)
	if len(got) != len(want) {
		t.Fatalf("read %d records, want %d (one per live key)", len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.offset != w.offset || string(g.key) != string(w.key) || string(g.value) != string(w.value) {
			t.Fatalf("record %d: got %q=%q at %d, want %q=%q at %d", i, g.key, g.value, g.offset, w.key, w.value, w.offset)
		}
	}
	t.Logf("%d live keys of %d records produced, in %d level-2 entries across %d files", len(want), info.HighWatermark, len(es), len(files))
}
