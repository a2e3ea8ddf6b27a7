package tests

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/wisp-stream/wisp/objstore"
	"github.com/wisp-stream/wisp/objstore/miniotest"
)

// BenchmarkMinIO measures, in one run against one real MinIO:
//   - raw-put: MinIO PUT bandwidth for flush-sized objects with as many
//     uploads in flight as the agent uses (the physical limit), and its p99;
//   - Wisp produce throughput through franz-go (1 KiB records, 12
//     partitions, acks=all, idempotent) as MiB/s and as a ratio to raw-put;
//   - produce latency p50/p99 at 2 MiB/s, against flush + 1.5x raw PUT p99;
//   - PUTs per second of one agent at 1 and at 1,000 partitions.
//
// Run it with:
//
//	go test ./tests -run '^$' -bench BenchmarkMinIO -benchtime 300000x
func BenchmarkMinIO(b *testing.B) {
	m := miniotest.Start(b)
	const flush = 250 * time.Millisecond
	cfg := testConfig(b, withFlushInterval(flush), withBucket(m.URL("bench")))

	rawMiBps, rawP99 := rawMinIOPuts(b, m, cfg.FlushBytes, 4, 3*time.Second)

	ta := startAgent(b, cfg)
	cl := ta.client(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.MaxBufferedRecords(100_000), kgo.ProducerBatchMaxBytes(1<<20))
	createTopic(b, cl, "bench", 12)
	b.ResetTimer()
	_ = produceBench(b, cl, 0) // reports MiB/s
	b.StopTimer()
	wispMiBps := b.Elapsed().Seconds()
	wispMiBps = float64(b.N) * 1024 / (1 << 20) / wispMiBps

	lat := pacedLatency(b, cl, "bench", 2000, 4*time.Second)
	p50, p99 := lat[len(lat)/2], lat[len(lat)*99/100]

	puts1 := putsPerSecond(b, ta, cl, 1, 3*time.Second)
	puts1000 := putsPerSecond(b, ta, cl, 1000, 3*time.Second)

	b.ReportMetric(rawMiBps, "raw-put-MiB/s")
	b.ReportMetric(float64(rawP99.Microseconds())/1000, "raw-put-p99-ms")
	b.ReportMetric(wispMiBps/rawMiBps, "wisp/raw")
	b.ReportMetric(float64(p50.Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64((flush+rawP99*3/2).Microseconds())/1000, "p99-target-ms")
	b.ReportMetric(puts1, "puts/s@1p")
	b.ReportMetric(puts1000, "puts/s@1000p")
	b.ReportMetric(puts1000/puts1, "puts-1000p/1p")
}

// rawMinIOPuts uploads size-byte objects with inflight concurrent uploaders
// for d and returns MiB/s and the p99 PUT latency.
func rawMinIOPuts(b *testing.B, m *miniotest.Server, size int64, inflight int, d time.Duration) (float64, time.Duration) {
	st, err := objstore.Open(context.Background(), m.URL("raw"))
	if err != nil {
		b.Fatal(err)
	}
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i * 7)
	}
	var mu sync.Mutex
	var lats []time.Duration
	var wg sync.WaitGroup
	start := time.Now()
	for w := range inflight {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Since(start) < d; i++ {
				t0 := time.Now()
				if err := st.Put(context.Background(), fmt.Sprintf("raw/%d-%d", w, i), data); err != nil {
					b.Error(err)
					return
				}
				mu.Lock()
				lats = append(lats, time.Since(t0))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(lats)
	return float64(int64(len(lats))*size) / (1 << 20) / elapsed.Seconds(), lats[len(lats)*99/100]
}

// pacedLatency produces 1 KiB records at perSecond for d and returns the
// sorted ack latencies.
func pacedLatency(b *testing.B, cl *kgo.Client, topic string, perSecond int, d time.Duration) []time.Duration {
	n := int(d.Seconds() * float64(perSecond))
	lat := make([]time.Duration, n)
	value := make([]byte, 1024)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		if wait := time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(perSecond))); wait > 0 {
			time.Sleep(wait)
		}
		wg.Add(1)
		sent := time.Now()
		cl.Produce(context.Background(), &kgo.Record{Topic: topic, Value: value}, func(_ *kgo.Record, err error) {
			if err != nil {
				b.Error(err)
			}
			lat[i] = time.Since(sent)
			wg.Done()
		})
	}
	wg.Wait()
	slices.Sort(lat)
	return lat
}

// putsPerSecond produces 2 MiB/s spread over a topic of `partitions`
// partitions for d and returns the agent's PUT rate.
func putsPerSecond(b *testing.B, ta *testAgent, cl *kgo.Client, partitions int32, d time.Duration) float64 {
	topic := fmt.Sprintf("puts-%d", partitions)
	createTopic(b, cl, topic, partitions)
	before := ta.StoreStats()[objstore.OpPut].Requests
	start := time.Now()
	pacedLatency(b, cl, topic, 2000, d)
	return float64(ta.StoreStats()[objstore.OpPut].Requests-before) / time.Since(start).Seconds()
}
