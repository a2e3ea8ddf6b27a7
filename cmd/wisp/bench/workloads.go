package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// client is the one client configuration every system gets: franz-go's
// idempotent producer (acks=all, five requests in flight per broker), no
// linger, no compression (the payload is random), batches up to 1 MiB and
// enough buffered records to keep every partition's batch full.
func (b *bencher) client(extra ...kgo.Opt) (*kgo.Client, error) {
	opts := []kgo.Opt{
		kgo.SeedBrokers(b.o.Bootstrap...),
		kgo.ClientID("wisp-bench"),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
		// franz-go lingers 10 ms by default, which the latency workloads
		// would count against every system.
		kgo.ProducerLinger(0),
		kgo.ProducerBatchMaxBytes(1 << 20),
		kgo.MaxBufferedRecords(100_000),
	}
	cl, err := kgo.NewClient(append(opts, extra...)...)
	if err != nil {
		return nil, fmt.Errorf("bench client for %v: %w", b.o.Bootstrap, err)
	}
	return cl, nil
}

// payload is n random bytes: incompressible, so no system gains from it.
func payload(n int) []byte {
	p := make([]byte, n)
	r := rand.NewChaCha8([32]byte{'w', 'i', 's', 'p'})
	_, _ = r.Read(p)
	return p
}

// firstErr keeps the first error reported by concurrent callbacks.
type firstErr struct {
	once sync.Once
	err  error
	set  atomic.Bool
}

func (f *firstErr) put(err error) {
	if err != nil {
		f.once.Do(func() { f.err = err; f.set.Store(true) })
	}
}

// every calls fn every d until the returned stop is called.
func every(d time.Duration, fn func()) (stop func()) {
	t := time.NewTicker(d)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-t.C:
				fn()
			case <-done:
				return
			}
		}
	}()
	return func() { t.Stop(); close(done); wg.Wait() }
}

// throughput is workload 1: produce ThroughputBytes as fast as the client
// can, from the first Produce call to the last ack. It returns the topic for
// workload 3.
func (b *bencher) throughput(ctx context.Context, run int) (*Throughput, string, error) {
	topic := fmt.Sprintf("bench-%s-w1-r%d", b.tag, run)
	if err := b.createTopic(ctx, topic, b.o.Partitions); err != nil {
		return nil, "", err
	}
	primed, err := b.prime(ctx, topic, b.o.Partitions)
	if err != nil {
		return nil, "", err
	}
	cl, err := b.client()
	if err != nil {
		return nil, "", err
	}
	defer cl.Close()

	n := b.o.ThroughputBytes / int64(b.o.RecordBytes)
	value := payload(b.o.RecordBytes)
	lat := make([]time.Duration, n)
	var (
		wg    sync.WaitGroup
		acked atomic.Int64
		fail  firstErr
	)
	var profiles func() error
	if run == 1 && len(b.o.PprofURLs) > 0 {
		profiles = b.startProfiles(ctx)
	}
	start := time.Now()
	stop := every(5*time.Second, func() {
		done := float64(acked.Load()*int64(b.o.RecordBytes)) / (1 << 20)
		b.say("workload 1: %.0f of %.0f MiB acked, %.1f MiB/s", done, float64(n*int64(b.o.RecordBytes))/(1<<20), done/time.Since(start).Seconds())
	})
	for i := range n {
		if fail.set.Load() || ctx.Err() != nil {
			break
		}
		wg.Add(1)
		sent := time.Now()
		cl.Produce(ctx, &kgo.Record{Topic: topic, Value: value}, func(_ *kgo.Record, err error) {
			lat[i] = time.Since(sent)
			fail.put(err)
			acked.Add(1)
			wg.Done()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	stop()
	if profiles != nil {
		if err := profiles(); err != nil {
			return nil, "", err
		}
	}
	if fail.err != nil || ctx.Err() != nil {
		return nil, "", fmt.Errorf("workload 1 on %s: produce failed after %d acks: %w", topic, acked.Load(), errors.Join(fail.err, ctx.Err()))
	}
	sortDurations(lat)
	bytes := n * int64(b.o.RecordBytes)
	return &Throughput{
		Topic: topic, Records: n, Primed: primed, Bytes: bytes, Seconds: elapsed.Seconds(),
		MiBps:        float64(bytes) / (1 << 20) / elapsed.Seconds(),
		ProduceP50Ms: ms(quantile(lat, 0.50)), ProduceP99Ms: ms(quantile(lat, 0.99)),
	}, topic, nil
}

// catchup is workload 3: a new consumer reads workload 1's topic from the
// beginning until it has every record (the priming ones included).
func (b *bencher) catchup(ctx context.Context, topic string, records int64) (*Catchup, error) {
	cl, err := b.client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
	defer cancel()
	var got, bytes atomic.Int64
	start := time.Now()
	stop := every(5*time.Second, func() {
		b.say("workload 3: %d of %d records read, %.1f MiB/s", got.Load(), records, float64(bytes.Load())/(1<<20)/time.Since(start).Seconds())
	})
	defer stop()
	for got.Load() < records {
		fs := cl.PollFetches(ctx)
		var ferr error
		fs.EachError(func(t string, p int32, err error) { ferr = fmt.Errorf("fetch %s[%d]: %w", t, p, err) })
		if ferr != nil {
			return nil, fmt.Errorf("workload 3 read %d of %d records: %w", got.Load(), records, ferr)
		}
		fs.EachRecord(func(r *kgo.Record) {
			got.Add(1)
			bytes.Add(int64(len(r.Value)))
		})
	}
	elapsed := time.Since(start)
	return &Catchup{Records: got.Load(), Bytes: bytes.Load(), Seconds: elapsed.Seconds(), MiBps: float64(bytes.Load()) / (1 << 20) / elapsed.Seconds()}, nil
}

// stamp layout in a record value: nanoseconds since the workload's base
// time when Produce was called, then the record's index. primeIndex marks the
// record that proves the consumer is fetching before the clock starts.
const primeIndex = ^uint64(0)

func stampValue(tail []byte, sent time.Duration, idx uint64) []byte {
	v := make([]byte, len(tail))
	copy(v[16:], tail[16:])
	binary.BigEndian.PutUint64(v, uint64(sent))
	binary.BigEndian.PutUint64(v[8:], idx)
	return v
}

// pace hands send the record indexes 0..total-1 at perSec records per
// second, catching up after any stall so the mean rate holds.
func pace(ctx context.Context, total int, perSec float64, send func(i int)) error {
	start := time.Now()
	for i := 0; i < total; {
		due := min(total, int(time.Since(start).Seconds()*perSec)+1)
		for ; i < due; i++ {
			send(i)
		}
		if i < total {
			if err := ctx.Err(); err != nil {
				return err
			}
			time.Sleep(time.Millisecond)
		}
	}
	return nil
}

// latency is workload 2: records at RateBytes per second to Partitions
// partitions, each stamped with its send time; a consumer started (and
// proven to fetch) beforehand measures produce-to-consume latency, the
// producer's callbacks the produce latency. The first Warmup is left out.
func (b *bencher) latency(ctx context.Context, run int) (*Latency, error) {
	topic := fmt.Sprintf("bench-%s-w2-r%d", b.tag, run)
	if err := b.createTopic(ctx, topic, b.o.Partitions); err != nil {
		return nil, err
	}
	defer b.deleteTopic(ctx, topic)
	cons, err := b.client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return nil, err
	}
	defer cons.Close()
	prod, err := b.client()
	if err != nil {
		return nil, err
	}
	defer prod.Close()

	perSec := float64(b.o.RateBytes) / float64(b.o.RecordBytes)
	total := max(1, int((b.o.Warmup+b.o.LatencyDuration).Seconds()*perSec))
	sentAt := make([]time.Duration, total)
	ack := make([]time.Duration, total)
	e2e := make([]time.Duration, total)
	base := time.Now()
	tail := payload(b.o.RecordBytes)

	cctx, cancelCons := context.WithCancel(ctx)
	defer cancelCons()
	// The consumer must be fetching every partition before the clock
	// starts: it has, once it has seen the priming record of each.
	primed := make(chan struct{})
	consumed := make(chan error, 1)
	var received atomic.Int64
	go func() {
		seen := map[int32]bool{}
		for received.Load() < int64(total) {
			fs := cons.PollFetches(cctx)
			if cctx.Err() != nil {
				consumed <- cctx.Err()
				return
			}
			var ferr error
			fs.EachError(func(t string, p int32, err error) { ferr = fmt.Errorf("fetch %s[%d]: %w", t, p, err) })
			if ferr != nil {
				consumed <- ferr
				return
			}
			now := time.Since(base)
			fs.EachRecord(func(r *kgo.Record) {
				idx := binary.BigEndian.Uint64(r.Value[8:])
				if idx == primeIndex {
					if !seen[r.Partition] {
						seen[r.Partition] = true
						if len(seen) == int(b.o.Partitions) {
							close(primed)
						}
					}
					return
				}
				if idx < uint64(total) && e2e[idx] == 0 {
					e2e[idx] = max(now-time.Duration(binary.BigEndian.Uint64(r.Value)), 1)
					received.Add(1)
				}
			})
		}
		consumed <- nil
	}()

	if _, err := b.prime(ctx, topic, b.o.Partitions); err != nil {
		return nil, err
	}
	select {
	case <-primed:
	case err := <-consumed:
		return nil, fmt.Errorf("workload 2 on %s: consumer failed before it fetched every partition: %w", topic, err)
	case <-time.After(60 * time.Second):
		return nil, fmt.Errorf("workload 2 on %s: the consumer did not fetch from every partition within 60s", topic)
	}
	var wg sync.WaitGroup
	var fail firstErr
	err = pace(ctx, total, perSec, func(i int) {
		sent := time.Since(base)
		sentAt[i] = sent
		wg.Add(1)
		prod.Produce(ctx, &kgo.Record{Topic: topic, Value: stampValue(tail, sent, uint64(i))}, func(_ *kgo.Record, err error) {
			ack[i] = time.Since(base) - sent
			fail.put(err)
			wg.Done()
		})
	})
	wg.Wait()
	if err := errors.Join(err, fail.err); err != nil {
		return nil, fmt.Errorf("workload 2 on %s: produce failed: %w", topic, err)
	}
	select {
	case err := <-consumed:
		if err != nil {
			return nil, fmt.Errorf("workload 2 on %s: consumer failed after %d of %d records: %w", topic, received.Load(), total, err)
		}
	case <-time.After(60 * time.Second):
		return nil, fmt.Errorf("workload 2 on %s: consumer received %d of %d acked records within 60s of the last ack", topic, received.Load(), total)
	}

	var acks, ends []time.Duration
	for i := range total {
		if sentAt[i] >= sentAt[0]+b.o.Warmup {
			acks = append(acks, ack[i])
			ends = append(ends, e2e[i])
		}
	}
	sortDurations(acks)
	sortDurations(ends)
	return &Latency{
		RateMiBps: float64(b.o.RateBytes) / (1 << 20), Records: len(acks),
		ProduceP50Ms: ms(quantile(acks, 0.50)), ProduceP99Ms: ms(quantile(acks, 0.99)), ProduceP999Ms: ms(quantile(acks, 0.999)),
		E2EP50Ms: ms(quantile(ends, 0.50)), E2EP99Ms: ms(quantile(ends, 0.99)), E2EP999Ms: ms(quantile(ends, 0.999)),
	}, nil
}

// prime produces one marker record (of RecordBytes) to every partition of a
// new topic through a client of its own, and waits for every ack: a broker
// that has just created a partition may still refuse writes to it, and a
// client that hits that backs off for seconds, which no workload should
// measure. It returns the records written.
func (b *bencher) prime(ctx context.Context, topic string, partitions int32) (int64, error) {
	cl, err := b.client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	tail := payload(b.o.RecordBytes)
	var recs []*kgo.Record
	for p := range partitions {
		recs = append(recs, &kgo.Record{Topic: topic, Partition: p, Value: stampValue(tail, 0, primeIndex)})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return 0, fmt.Errorf("priming the %d partitions of %s: %w", partitions, topic, err)
	}
	return int64(partitions), nil
}

// manyPartitions is workload 4: the fixed rate spread round-robin over
// ManyPartitions partitions (every produce request carries many tiny
// batches). After the warm-up it counts the object store's PUTs through
// Wisp's /metrics; throughout it samples the RSS of the system's processes.
func (b *bencher) manyPartitions(ctx context.Context, run int) (*Partitions, error) {
	topic := fmt.Sprintf("bench-%s-w4-r%d", b.tag, run)
	if err := b.createTopic(ctx, topic, b.o.ManyPartitions); err != nil {
		return nil, err
	}
	defer b.deleteTopic(ctx, topic)
	if _, err := b.prime(ctx, topic, b.o.ManyPartitions); err != nil {
		return nil, err
	}
	// Round-robin: franz-go's default sticks to one partition per batch,
	// which would leave most of them idle.
	prod, err := b.client(kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	if err != nil {
		return nil, err
	}
	defer prod.Close()

	rss := b.sampleRSS()
	perSec := float64(b.o.RateBytes) / float64(b.o.RecordBytes)
	total := max(1, int((b.o.Warmup+b.o.ManyDuration).Seconds()*perSec))
	warm := int(b.o.Warmup.Seconds() * perSec)
	value := payload(b.o.RecordBytes)
	ack := make([]time.Duration, total)

	type counters struct {
		at            time.Time
		puts, flushes float64
		err           error
	}
	snap := func() counters {
		c := counters{at: time.Now()}
		if len(b.o.MetricsURLs) > 0 {
			c.puts, c.err = scrapeSum(ctx, b.o.MetricsURLs, `wisp_objstore_requests_total{op="put"}`)
			if c.err == nil {
				c.flushes, c.err = scrapeSum(ctx, b.o.MetricsURLs, "wisp_flush_files_total")
			}
		}
		return c
	}
	var first, last counters
	var wg sync.WaitGroup
	var fail firstErr
	err = pace(ctx, total, perSec, func(i int) {
		if i == warm {
			first = snap()
		}
		wg.Add(1)
		sent := time.Now()
		prod.Produce(ctx, &kgo.Record{Topic: topic, Value: value}, func(_ *kgo.Record, err error) {
			ack[i] = time.Since(sent)
			fail.put(err)
			wg.Done()
		})
	})
	last = snap()
	wg.Wait()
	peak := rss()
	if err := errors.Join(err, fail.err, first.err, last.err); err != nil {
		return nil, fmt.Errorf("workload 4 on %s: %w", topic, err)
	}
	lat := ack[warm:]
	sortDurations(lat)
	out := &Partitions{
		Partitions: b.o.ManyPartitions, RateMiBps: float64(b.o.RateBytes) / (1 << 20), Records: len(lat),
		ProduceP50Ms: ms(quantile(lat, 0.50)), ProduceP99Ms: ms(quantile(lat, 0.99)), PeakRSSBytes: peak,
	}
	if len(b.o.MetricsURLs) > 0 {
		secs := last.at.Sub(first.at).Seconds()
		puts, flushes := (last.puts-first.puts)/secs, (last.flushes-first.flushes)/secs
		out.PutsPerSec, out.FlushesPerSec = &puts, &flushes
	}
	return out, nil
}
