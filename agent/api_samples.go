package agent

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wisp-stream/wisp/fsm"
	"github.com/wisp-stream/wisp/kafka"
	"github.com/wisp-stream/wisp/objstore"
)

// The console's charts need rates over time. Rather than have the browser
// difference counters it polls at uneven moments, every agent keeps a ring
// of per-second samples of its own counters; the API returns that series and
// sums the agents' series second by second.

// sampleRing is how many seconds of samples an agent keeps (10 minutes).
const sampleRing = 600

// storeOps are the object-store request kinds, in the order the API and the
// console show them.
var storeOps = []objstore.Op{objstore.OpPut, objstore.OpGet, objstore.OpDelete, objstore.OpList}

// Sample is one second of one agent's (or, summed, the cluster's) traffic,
// as rates per second over the second ending at T.
type Sample struct {
	// T is the Unix time in seconds at which the second ended.
	T                    int64   `json:"t"`
	ProduceBytesPerSec   float64 `json:"produceBytesPerSec"`
	ProduceRecordsPerSec float64 `json:"produceRecordsPerSec"`
	FetchBytesPerSec     float64 `json:"fetchBytesPerSec"`
	FetchRecordsPerSec   float64 `json:"fetchRecordsPerSec"`
	// ObjstoreRequestsPerSec has an entry for each kind: put, get, delete, list.
	ObjstoreRequestsPerSec map[string]float64 `json:"objstoreRequestsPerSec"`
}

// traffic counts the data the Kafka layer moved through this agent. The hot
// paths only add to atomics; the sampler and /metrics read them.
type traffic struct {
	produceBytes, produceRecords atomic.Int64
	fetchBytes, fetchRecords     atomic.Int64
}

// opsState is what the console, the JSON API and the extra metrics need
// from a running agent, kept together so the agent's struct gains one field.
type opsState struct {
	started time.Time
	traffic traffic

	// storeSeconds times every object-store request by kind; it wraps the
	// bucket before the metrics registry exists, which registers it later.
	storeSeconds *prometheus.HistogramVec

	mu      sync.Mutex
	samples []Sample // oldest first, at most sampleRing
	admin   adminClient
}

// initOps starts the clock of uptime and builds the instruments that must
// exist before the bucket is opened.
func (a *Agent) initOps() {
	a.ops.started = time.Now()
	a.ops.storeSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "wisp_objstore_request_seconds",
		Help:    "Object-store request latency by kind; each attempt of a retried request is timed on its own.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 18),
	}, []string{"op"})
}

// timedStore observes the latency of every request to the store it wraps.
type timedStore struct {
	objstore.Store
	seconds *prometheus.HistogramVec
}

func (a *Agent) timeStore(s objstore.Store) objstore.Store {
	return &timedStore{Store: s, seconds: a.ops.storeSeconds}
}

func (s *timedStore) observe(op objstore.Op, start time.Time) {
	s.seconds.WithLabelValues(string(op)).Observe(time.Since(start).Seconds())
}

func (s *timedStore) Put(ctx context.Context, key string, data []byte) error {
	defer s.observe(objstore.OpPut, time.Now())
	return s.Store.Put(ctx, key, data)
}

func (s *timedStore) Get(ctx context.Context, key string, off, length int64) ([]byte, error) {
	defer s.observe(objstore.OpGet, time.Now())
	return s.Store.Get(ctx, key, off, length)
}

func (s *timedStore) Delete(ctx context.Context, key string) error {
	defer s.observe(objstore.OpDelete, time.Now())
	return s.Store.Delete(ctx, key)
}

func (s *timedStore) List(ctx context.Context, prefix string) ([]objstore.ObjectInfo, error) {
	defer s.observe(objstore.OpList, time.Now())
	return s.Store.List(ctx, prefix)
}

// totals is one reading of the counters the sampler differences.
type totals struct {
	at                                                     time.Time
	produceBytes, produceRecords, fetchBytes, fetchRecords int64
	requests                                               map[objstore.Op]int64
}

func (a *Agent) readTotals(now time.Time) totals {
	t := totals{
		at:             now,
		produceBytes:   a.ops.traffic.produceBytes.Load(),
		produceRecords: a.ops.traffic.produceRecords.Load(),
		fetchBytes:     a.ops.traffic.fetchBytes.Load(),
		fetchRecords:   a.ops.traffic.fetchRecords.Load(),
		requests:       map[objstore.Op]int64{},
	}
	for op, s := range a.store.Snapshot() {
		t.requests[op] = s.Requests
	}
	return t
}

// sampleLoop appends one Sample per second until ctx is done. Ticks fall
// just after each whole second, so the samples of different agents cover
// the same seconds and can be summed by T.
func (a *Agent) sampleLoop(ctx context.Context) {
	prev := a.readTotals(time.Now())
	for {
		now := time.Now()
		next := now.Truncate(time.Second).Add(time.Second)
		timer := time.NewTimer(next.Sub(now))
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
		cur := a.readTotals(time.Now())
		a.ops.add(sampleBetween(prev, cur))
		prev = cur
	}
}

func sampleBetween(prev, cur totals) Sample {
	secs := cur.at.Sub(prev.at).Seconds()
	if secs <= 0 {
		secs = 1
	}
	rate := func(a, b int64) float64 { return float64(b-a) / secs }
	s := Sample{
		T:                      cur.at.Unix(),
		ProduceBytesPerSec:     rate(prev.produceBytes, cur.produceBytes),
		ProduceRecordsPerSec:   rate(prev.produceRecords, cur.produceRecords),
		FetchBytesPerSec:       rate(prev.fetchBytes, cur.fetchBytes),
		FetchRecordsPerSec:     rate(prev.fetchRecords, cur.fetchRecords),
		ObjstoreRequestsPerSec: make(map[string]float64, len(storeOps)),
	}
	for _, op := range storeOps {
		s.ObjstoreRequestsPerSec[string(op)] = rate(prev.requests[op], cur.requests[op])
	}
	return s
}

func (o *opsState) add(s Sample) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if n := len(o.samples); n > 0 && o.samples[n-1].T == s.T {
		o.samples[n-1] = s // a late tick: keep one sample per second
		return
	}
	if len(o.samples) == sampleRing {
		copy(o.samples, o.samples[1:])
		o.samples = o.samples[:sampleRing-1]
	}
	o.samples = append(o.samples, s)
}

// series returns copies of the last n samples, oldest first.
func (o *opsState) series(n int) []Sample {
	o.mu.Lock()
	defer o.mu.Unlock()
	if n <= 0 || n > len(o.samples) {
		n = len(o.samples)
	}
	out := make([]Sample, n)
	copy(out, o.samples[len(o.samples)-n:])
	return out
}

// observedTicket times a produce request from the moment its batches enter
// the write path until the Kafka layer reads its results (the commit).
type observedTicket struct {
	kafka.Ticket
	a     *Agent
	start time.Time
	once  sync.Once
}

func (t *observedTicket) Results() ([]fsm.BatchResult, error) {
	res, err := t.Ticket.Results()
	t.once.Do(func() {
		if err == nil && t.a.metrics != nil {
			t.a.metrics.produceSeconds.Observe(time.Since(t.start).Seconds())
		}
	})
	return res, err
}

// observeProduce counts a produce request's batches once they are accepted
// into the write path (so acks=0 traffic counts too) and wraps its ticket
// to time the commit.
func (a *Agent) observeProduce(t kafka.Ticket, batches []kafka.ProduceBatch, start time.Time) kafka.Ticket {
	var bytes, records int64
	for _, b := range batches {
		bytes += int64(len(b.Raw))
		records += int64(b.Header.NumRecords)
	}
	a.ops.traffic.produceBytes.Add(bytes)
	a.ops.traffic.produceRecords.Add(records)
	return &observedTicket{Ticket: t, a: a, start: start}
}
