package tests

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/wisp-stream/wisp/kafka/recordbatch"
	"github.com/wisp-stream/wisp/objstore"
)

// Produce benchmarks: 1 KiB records to 12 partitions through franz-go,
// acks=all, idempotent, against one agent on a file:// bucket, at flush
// intervals of 250ms and 20ms. Each reports the raw PUT bandwidth of the
// same bucket, measured in the same run, as the physical limit. Run:
//
//	go test ./tests -run '^$' -bench 'BenchmarkProduce' -benchtime 200000x
//
// BenchmarkProduceLatency paces records at 2,000/s (2 MiB/s), so -benchtime
// Nx runs N/2000 seconds; latency is from Produce to the ack callback.

func BenchmarkProduceThroughput(b *testing.B) {
	for _, flush := range []time.Duration{250 * time.Millisecond, 20 * time.Millisecond} {
		b.Run(fmt.Sprintf("flush=%s", flush), func(b *testing.B) {
			_, cl := benchAgent(b, flush)
			lat := produceBench(b, cl, 0)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}

func BenchmarkProduceLatency(b *testing.B) {
	for _, flush := range []time.Duration{250 * time.Millisecond, 20 * time.Millisecond} {
		b.Run(fmt.Sprintf("flush=%s", flush), func(b *testing.B) {
			_, cl := benchAgent(b, flush)
			lat := produceBench(b, cl, 2000)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
			b.ReportMetric(float64(flush.Microseconds())/1000, "flush-ms")
		})
	}
}

func benchAgent(b *testing.B, flush time.Duration) (*testAgent, *kgo.Client) {
	cfg := testConfig(b, withFlushInterval(flush))
	dir := filepath.Join(b.TempDir(), "bucket")
	cfg.BucketURL = "file://" + dir
	raw := rawPutMiBps(b, dir, cfg.FlushBytes)
	// ResetTimer drops metrics reported before it: report at the end.
	b.Cleanup(func() { b.ReportMetric(raw, "raw-put-MiB/s") })
	ta := startAgent(b, cfg)
	cl := ta.client(
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.MaxBufferedRecords(100_000),
		kgo.ProducerBatchMaxBytes(1<<20),
	)
	createTopic(b, cl, "bench", 12)
	return ta, cl
}

// rawPutMiBps is the bandwidth of sequential PUTs of flush-sized objects to
// a file:// bucket in dir: what Wisp's produce path cannot exceed.
func rawPutMiBps(b *testing.B, dir string, size int64) float64 {
	st, err := objstore.Open(context.Background(), "file://"+dir+"-raw")
	if err != nil {
		b.Fatal(err)
	}
	data := make([]byte, size)
	const n = 16
	start := time.Now()
	for i := range n {
		if err := st.Put(context.Background(), fmt.Sprintf("raw/%d", i), data); err != nil {
			b.Fatal(err)
		}
	}
	return float64(n*size) / (1 << 20) / time.Since(start).Seconds()
}

// produceBench produces b.N 1 KiB records, at perSecond if non-zero, and
// returns the sorted ack latencies.
func produceBench(b *testing.B, cl *kgo.Client, perSecond int) []time.Duration {
	value := make([]byte, 1024)
	lat := make([]time.Duration, b.N)
	var wg sync.WaitGroup
	var firstErr error
	var errOnce sync.Once
	ctx := context.Background()
	b.SetBytes(int64(len(value)))
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if perSecond > 0 {
			if wait := time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(perSecond))); wait > 0 {
				time.Sleep(wait)
			}
		}
		wg.Add(1)
		sent := time.Now()
		cl.Produce(ctx, &kgo.Record{Topic: "bench", Value: value}, func(_ *kgo.Record, err error) {
			lat[i] = time.Since(sent)
			if err != nil {
				errOnce.Do(func() { firstErr = err })
			}
			wg.Done()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if firstErr != nil {
		b.Fatalf("produce: %v", firstErr)
	}
	b.ReportMetric(float64(b.N)*float64(len(value))/(1<<20)/elapsed.Seconds(), "MiB/s")
	slices.Sort(lat)
	return lat
}

// TestPipelinedAcksAreNotHeldBack: a producer with several requests in flight
// gets each ack once its data is committed, not once a later request's flush
// is. Request 1 carries records produced long ago, so its file is sealed at
// once (their client held them); request 2, fresh, waits for a 20 s
// interval. Before the fix, the connection kept ack 1 in its write buffer
// while it waited for request 2, so both arrived 20 s later.
func TestPipelinedAcksAreNotHeldBack(t *testing.T) {
	const interval = 20 * time.Second
	slowPut := func(s objstore.Store) objstore.Store {
		f := objstore.NewFaulty(s)
		f.SetLatency(objstore.OpPut, 300*time.Millisecond) // request 2 arrives while file 1 uploads
		return f
	}
	ta := startAgent(t, testConfig(t, withFlushInterval(interval), withStore(slowPut)))
	createTopic(t, ta.client(), "pipelined", 1)

	produce := func(producedAt time.Time) *kmsg.ProduceRequest {
		req := kmsg.NewPtrProduceRequest()
		req.SetVersion(7)
		req.Acks, req.TimeoutMillis = -1, 60_000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = "pipelined"
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Records = recordbatch.Build(recordbatch.BuildOptions{FirstTimestamp: producedAt.UnixMilli(), ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1},
			[]recordbatch.Record{{Value: []byte("v")}})
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		return req
	}
	c := dialRaw(t, ta.KafkaAddr())
	start := time.Now()
	c.send(c.frame(produce(start.Add(-interval - 5*time.Second))))
	time.Sleep(100 * time.Millisecond) // past the early seal's grace: request 2 opens a new file
	c.send(c.frame(produce(time.Now())))

	c.nc.SetReadDeadline(time.Now().Add(interval / 2))
	corr, body, err := c.readFrame()
	if err != nil {
		t.Fatalf("no ack for request 1 within %s (request 2 waits %s for its flush): %v", interval/2, interval, err)
	}
	resp := kmsg.NewPtrProduceResponse()
	resp.SetVersion(7)
	if err := resp.ReadFrom(body); err != nil || corr != 1 {
		t.Fatalf("response 1: correlation id %d, %v", corr, err)
	}
	if p := resp.Topics[0].Partitions[0]; p.ErrorCode != 0 || p.BaseOffset != 0 {
		t.Fatalf("request 1: error %d, base offset %d", p.ErrorCode, p.BaseOffset)
	}
	t.Logf("ack 1 after %v", time.Since(start))
}
