package tests

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// record is what a consumer must see again: per partition, in order.
type record struct {
	key, value string
}

func createTopic(t testing.TB, cl *kgo.Client, topic string, partitions int32) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := kadm.NewClient(cl).CreateTopics(ctx, partitions, 1, nil, topic)
	if err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
	if err := resp[topic].Err; err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
}

// produceAll produces recs synchronously in one ProduceSync call and
// returns, per partition, the records in offset order.
func produceAll(t testing.TB, cl *kgo.Client, recs []*kgo.Record) map[int32][]*kgo.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	byPart := map[int32][]*kgo.Record{}
	for _, r := range recs {
		byPart[r.Partition] = append(byPart[r.Partition], r)
	}
	return byPart
}

// consumeN reads n records of topic from the start.
func consumeN(t testing.TB, ta *testAgent, topic string, n int, opts ...kgo.Opt) []*kgo.Record {
	t.Helper()
	cl := ta.client(append([]kgo.Opt{kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200 * time.Millisecond)}, opts...)...)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d records before timing out", len(out), n)
		}
		fs.EachError(func(topic string, p int32, err error) {
			t.Fatalf("fetch %s/%d: %v", topic, p, err)
		})
		out = append(out, fs.Records()...)
	}
	if len(out) != n {
		t.Fatalf("consumed %d records, want exactly %d", len(out), n)
	}
	return out
}

// checkSame asserts that got holds exactly want, per partition in order, at
// the offsets the producer was acked with.
func checkSame(t testing.TB, want map[int32][]*kgo.Record, got []*kgo.Record) {
	t.Helper()
	gotBy := map[int32][]*kgo.Record{}
	for _, r := range got {
		gotBy[r.Partition] = append(gotBy[r.Partition], r)
	}
	if len(gotBy) != len(want) {
		t.Fatalf("records came back from %d partitions, produced to %d", len(gotBy), len(want))
	}
	for p, ws := range want {
		gs := gotBy[p]
		if len(gs) != len(ws) {
			t.Fatalf("partition %d: consumed %d records, produced %d", p, len(gs), len(ws))
		}
		for i := range ws {
			w, g := ws[i], gs[i]
			if string(w.Key) != string(g.Key) || string(w.Value) != string(g.Value) || w.Offset != g.Offset {
				t.Fatalf("partition %d record %d: consumed key=%q value=%q offset=%d, produced key=%q value=%q acked offset=%d",
					p, i, g.Key, g.Value, g.Offset, w.Key, w.Value, w.Offset)
			}
		}
	}
}

func TestProduceConsume100kIdempotentLZ4(t *testing.T) {
	onBackends(t, testProduceConsume100k)
}

func testProduceConsume100k(t *testing.T, bucket string) {
	ta := startAgent(t, testConfig(t, withBucket(bucket)))
	const topic, n, parts = "orders", 100_000, 12
	cl := ta.client(
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerBatchCompression(kgo.Lz4Compression()),
		kgo.ProducerLinger(5*time.Millisecond),
	)
	createTopic(t, cl, topic, parts)
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: topic, Key: fmt.Appendf(nil, "k%06d", i), Value: fmt.Appendf(nil, "value-%d-%0100d", i, i)}
	}
	want := produceAll(t, cl, recs)
	if len(want) != parts {
		t.Fatalf("producer spread records over %d partitions, want %d", len(want), parts)
	}
	for p, rs := range want {
		for i, r := range rs {
			if r.Offset != int64(i) {
				t.Fatalf("partition %d: record %d acked at offset %d, offsets must be dense from 0", p, i, r.Offset)
			}
		}
	}
	checkSame(t, want, consumeN(t, ta, topic, n))
}

func TestConcurrentProducers(t *testing.T) {
	onBackends(t, testConcurrentProducers)
}

func testConcurrentProducers(t *testing.T, bucket string) {
	ta := startAgent(t, testConfig(t, withBucket(bucket)))
	const topic, producers, each = "shared", 4, 2000
	createTopic(t, ta.client(), topic, 3)
	var mu sync.Mutex
	want := map[int32][]*kgo.Record{}
	var wg sync.WaitGroup
	for p := range producers {
		wg.Add(1)
		cl := ta.client()
		go func() {
			defer wg.Done()
			recs := make([]*kgo.Record, each)
			for i := range recs {
				recs[i] = &kgo.Record{Topic: topic, Key: fmt.Appendf(nil, "p%d", p), Value: fmt.Appendf(nil, "p%d-%d", p, i)}
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
				t.Errorf("producer %d: %v", p, err)
				return
			}
			mu.Lock()
			for _, r := range recs {
				want[r.Partition] = append(want[r.Partition], r)
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	got := consumeN(t, ta, topic, producers*each)
	// Offsets are the arbiter of order across producers: check every acked
	// record sits at its acked offset, and each producer's order holds.
	at := map[int32]map[int64]*kgo.Record{}
	for _, r := range got {
		if at[r.Partition] == nil {
			at[r.Partition] = map[int64]*kgo.Record{}
		}
		if at[r.Partition][r.Offset] != nil {
			t.Fatalf("partition %d offset %d consumed twice", r.Partition, r.Offset)
		}
		at[r.Partition][r.Offset] = r
	}
	for p, rs := range want {
		for _, w := range rs {
			g := at[p][w.Offset]
			if g == nil || string(g.Value) != string(w.Value) {
				t.Fatalf("partition %d offset %d: acked %q, consumed %v", p, w.Offset, w.Value, g)
			}
		}
	}
	last := map[string]int64{}
	for _, r := range got {
		k := fmt.Sprintf("%d/%s", r.Partition, r.Key)
		if prev, ok := last[k]; ok && r.Offset < prev {
			t.Fatalf("producer %s records out of order", r.Key)
		}
		last[k] = r.Offset
	}
}

func TestRestartKeepsEverything(t *testing.T) {
	onBackends(t, testRestartKeepsEverything)
}

func testRestartKeepsEverything(t *testing.T, bucket string) {
	ta := startAgent(t, testConfig(t, withBucket(bucket)))
	const topic = "durable"
	cl := ta.client()
	createTopic(t, cl, topic, 4)
	var recs []*kgo.Record
	for i := range 500 {
		recs = append(recs, &kgo.Record{Topic: topic, Key: fmt.Appendf(nil, "%d", i%7), Value: fmt.Appendf(nil, "before-%d", i)})
	}
	want := produceAll(t, cl, recs)
	cl.Close()

	ta = ta.restart()
	cl = ta.client()
	var more []*kgo.Record
	for i := range 100 {
		more = append(more, &kgo.Record{Topic: topic, Key: fmt.Appendf(nil, "%d", i%7), Value: fmt.Appendf(nil, "after-%d", i)})
	}
	after := produceAll(t, cl, more)
	for p, rs := range after {
		first := rs[0].Offset
		if first != int64(len(want[p])) {
			t.Fatalf("partition %d: first offset after restart is %d, want %d (offsets must continue)", p, first, len(want[p]))
		}
		want[p] = append(want[p], rs...)
	}
	checkSame(t, want, consumeN(t, ta, topic, 600))
}

func TestAutoCreateTopics(t *testing.T) {
	t.Run("enabled", func(t *testing.T) {
		ta := startAgent(t, testConfig(t))
		cl := ta.client(kgo.AllowAutoTopicCreation())
		rs := produceAll(t, cl, []*kgo.Record{{Topic: "fresh", Value: []byte("v")}})
		if len(rs[0]) != 1 || rs[0][0].Offset != 0 {
			t.Fatalf("auto-created topic: record at %v, want partition 0 offset 0", rs)
		}
		if _, ok := ta.Metadata().Topic("fresh"); !ok {
			t.Fatal("topic was not created in the metadata")
		}
	})
	t.Run("disabled", func(t *testing.T) {
		ta := startAgent(t, testConfig(t, func(c *agentConfig) { c.AutoCreateTopics = false }))
		cl := ta.client(kgo.AllowAutoTopicCreation(), kgo.RecordRetries(2), kgo.RecordDeliveryTimeout(2*time.Second))
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err := cl.ProduceSync(ctx, &kgo.Record{Topic: "nope", Value: []byte("v")}).FirstErr()
		if err == nil {
			t.Fatal("produce to an unknown topic succeeded with --auto-create-topics=false")
		}
		if _, ok := ta.Metadata().Topic("nope"); ok {
			t.Fatal("topic was created although auto-creation is off")
		}
	})
}

func TestLogAppendTimeTopic(t *testing.T) {
	ta := startAgent(t, testConfig(t))
	cl := ta.client()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	typ := "LogAppendTime"
	resp, err := kadm.NewClient(cl).CreateTopics(ctx, 1, 1, map[string]*string{"message.timestamp.type": &typ}, "stamped")
	if err != nil || resp["stamped"].Err != nil {
		t.Fatalf("create: %v %v", err, resp["stamped"].Err)
	}
	old := time.Now().Add(-48 * time.Hour)
	before := time.Now().Add(-time.Second)
	produceAll(t, cl, []*kgo.Record{{Topic: "stamped", Value: []byte("v"), Timestamp: old}})
	got := consumeN(t, ta, "stamped", 1)[0]
	if got.Timestamp.Before(before) || got.Timestamp.After(time.Now().Add(time.Second)) {
		t.Fatalf("record timestamp %v: a LogAppendTime topic must stamp the append time, not the producer's %v", got.Timestamp, old)
	}
	if got.Attrs.TimestampType() != 1 {
		t.Fatal("record does not carry the LogAppendTime attribute")
	}
}
