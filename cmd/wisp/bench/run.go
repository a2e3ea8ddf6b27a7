package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Options are the flags of `wisp bench run`.
type Options struct {
	Bootstrap     []string
	System        string
	Label         string
	Kind          string
	FlushInterval time.Duration // Wisp's --flush-interval; 0 for Kafka
	Agents        int

	Runs      int
	Workloads []int // subset of 1-4; 3 needs 1

	RecordBytes     int
	ThroughputBytes int64
	Partitions      int32
	RateBytes       int64 // per second, workloads 2 and 4
	LatencyDuration time.Duration
	Warmup          time.Duration
	ManyPartitions  int32
	ManyDuration    time.Duration

	// MetricsURLs are the /metrics of every Wisp agent: PUTs per second.
	MetricsURLs []string
	// PIDs are the system's processes: their peak RSS in workload 4.
	PIDs []int
	// PprofURLs are HTTP base URLs of agents started with --pprof; CPU and
	// allocation profiles of PprofDuration are taken during workload 1 of
	// the first run and written to PprofDir.
	PprofURLs     []string
	PprofDuration time.Duration
	PprofDir      string

	// RawPutURL is the bucket (s3://...) whose raw PUTs are measured at the
	// start of every run; empty for Kafka.
	RawPutURL      string
	RawPutSize     int64
	RawPutInflight int
	RawPutDuration time.Duration

	// Progress receives one line per step and periodic progress (stderr).
	Progress io.Writer
}

func (o *Options) validate() error {
	switch {
	case len(o.Bootstrap) == 0:
		return errors.New("--bootstrap is required (host:port of the broker or agents)")
	case o.System == "":
		return errors.New("--system is required (a short id such as kafka or wisp-250ms)")
	case o.Kind != KindKafka && o.Kind != KindWisp:
		return fmt.Errorf("--kind must be %s or %s, got %q", KindKafka, KindWisp, o.Kind)
	case o.Runs < 1:
		return fmt.Errorf("--runs must be at least 1, got %d", o.Runs)
	case o.RecordBytes < 24:
		return fmt.Errorf("--record-bytes must be at least 24 (the latency stamp), got %d", o.RecordBytes)
	case o.ThroughputBytes < int64(o.RecordBytes):
		return fmt.Errorf("--throughput-bytes must hold at least one record, got %d", o.ThroughputBytes)
	case o.Partitions < 1 || o.ManyPartitions < 1:
		return errors.New("--partitions and --many-partitions must be at least 1")
	case o.RateBytes < int64(o.RecordBytes):
		return fmt.Errorf("--rate must be at least one record per second, got %d bytes/s", o.RateBytes)
	case o.LatencyDuration <= 0 || o.ManyDuration <= 0 || o.Warmup < 0:
		return errors.New("--latency-duration and --many-duration must be positive, --warmup not negative")
	}
	for _, w := range o.Workloads {
		if w < 1 || w > 4 {
			return fmt.Errorf("--workloads takes numbers 1-4, got %d", w)
		}
	}
	if slices.Contains(o.Workloads, 3) && !slices.Contains(o.Workloads, 1) {
		return errors.New("--workloads 3 reads the data of workload 1: select 1 too")
	}
	if o.Label == "" {
		o.Label = o.System
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	return nil
}

// bencher runs the workloads of one system.
type bencher struct {
	o   Options
	adm *kadm.Client
	tag string // makes topic names unique per invocation
}

func (b *bencher) say(format string, args ...any) {
	fmt.Fprintf(b.o.Progress, "bench %s: %s\n", b.o.System, fmt.Sprintf(format, args...))
}

// Run runs the selected workloads o.Runs times against o.Bootstrap and
// returns the measurements. It fails on the first error: a benchmark with a
// failed workload has no figure to report.
func Run(ctx context.Context, o Options) (*Result, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	admCl, err := kgo.NewClient(kgo.SeedBrokers(o.Bootstrap...))
	if err != nil {
		return nil, fmt.Errorf("bench client for %v: %w", o.Bootstrap, err)
	}
	defer admCl.Close()
	b := &bencher{o: o, adm: kadm.NewClient(admCl), tag: fmt.Sprintf("%x", time.Now().Unix()&0xffffff)}
	if err := b.waitReachable(ctx); err != nil {
		return nil, err
	}

	res := &Result{
		System: o.System, Label: o.Label, Kind: o.Kind, Agents: o.Agents, Started: time.Now().UTC(),
		FlushIntervalMs: float64(o.FlushInterval) / float64(time.Millisecond),
		Settings: Settings{
			RecordBytes: o.RecordBytes, ThroughputBytes: o.ThroughputBytes, Partitions: o.Partitions,
			RateBytesPerSec: o.RateBytes, LatencySeconds: o.LatencyDuration.Seconds(), WarmupSeconds: o.Warmup.Seconds(),
			ManyPartitions: o.ManyPartitions, ManySeconds: o.ManyDuration.Seconds(),
		},
	}
	if o.RawPutURL != "" {
		res.Settings.RawPutObjectBytes, res.Settings.RawPutInflight = o.RawPutSize, o.RawPutInflight
	}
	has := func(w int) bool { return slices.Contains(o.Workloads, w) }
	for run := 1; run <= o.Runs; run++ {
		var r RunResult
		step := func(what string) { b.say("run %d/%d: %s", run, o.Runs, what) }
		if o.RawPutURL != "" {
			step("raw PUTs to " + redactURL(o.RawPutURL))
			if r.RawPut, err = b.rawPut(ctx); err != nil {
				return nil, err
			}
		}
		if has(1) {
			step("workload 1, max throughput")
			var topic string
			if r.Throughput, topic, err = b.throughput(ctx, run); err != nil {
				return nil, err
			}
			if has(3) {
				step("workload 3, catch-up read of workload 1")
				if r.Catchup, err = b.catchup(ctx, topic, r.Throughput.Records+r.Throughput.Primed); err != nil {
					return nil, err
				}
			}
			b.deleteTopic(ctx, topic)
		}
		if has(2) {
			step("workload 2, end-to-end latency")
			if r.Latency, err = b.latency(ctx, run); err != nil {
				return nil, err
			}
		}
		if has(4) {
			step(fmt.Sprintf("workload 4, %d partitions", o.ManyPartitions))
			if r.Partitions, err = b.manyPartitions(ctx, run); err != nil {
				return nil, err
			}
		}
		res.Runs = append(res.Runs, r)
		b.say("run %d/%d: %s", run, o.Runs, r.summary())
	}
	return res, nil
}

// waitReachable waits until the cluster answers Metadata with a broker, so
// a system that is still starting is not measured as slow.
func (b *bencher) waitReachable(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var last error
	for {
		m, err := b.adm.BrokerMetadata(ctx)
		if err == nil && len(m.Brokers) > 0 {
			return nil
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("%v did not answer Metadata within 60s (last error: %v); is the system running?", b.o.Bootstrap, last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// createTopic creates a topic and waits until its every partition has a
// leader in Metadata, so no workload starts while the cluster catches up.
func (b *bencher) createTopic(ctx context.Context, topic string, partitions int32) error {
	resp, err := b.adm.CreateTopic(ctx, partitions, 1, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		return fmt.Errorf("create topic %s with %d partitions: %w", topic, partitions, err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		md, err := b.adm.Metadata(ctx, topic)
		if err == nil {
			if t, ok := md.Topics[topic]; ok && t.Err == nil && int32(len(t.Partitions)) == partitions {
				ready := true
				for _, p := range t.Partitions {
					ready = ready && p.Leader >= 0 && p.Err == nil
				}
				if ready {
					return nil
				}
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("topic %s has no leader for every partition after 60s (last error: %v)", topic, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// deleteTopic frees the disk of a finished workload; failing to is logged,
// not fatal.
func (b *bencher) deleteTopic(ctx context.Context, topic string) {
	resp, err := b.adm.DeleteTopic(ctx, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		b.say("could not delete topic %s (its data stays until the system is removed): %v", topic, err)
	}
}

func (r RunResult) summary() string {
	s := ""
	if r.RawPut != nil {
		s += fmt.Sprintf("raw PUT %.0f MiB/s p99 %.0f ms (%d B: p99 %.1f ms), GET %.0f MiB/s; ", r.RawPut.MiBps, r.RawPut.P99Ms, r.RawPut.SmallObjectBytes, r.RawPut.SmallP99Ms, r.RawPut.GetMiBps)
	}
	if r.Throughput != nil {
		s += fmt.Sprintf("w1 %.1f MiB/s; ", r.Throughput.MiBps)
	}
	if r.Catchup != nil {
		s += fmt.Sprintf("w3 %.1f MiB/s; ", r.Catchup.MiBps)
	}
	if r.Latency != nil {
		s += fmt.Sprintf("w2 e2e p50/p99/p999 %.1f/%.1f/%.1f ms, produce p99 %.1f ms; ", r.Latency.E2EP50Ms, r.Latency.E2EP99Ms, r.Latency.E2EP999Ms, r.Latency.ProduceP99Ms)
	}
	if r.Partitions != nil {
		s += fmt.Sprintf("w4 produce p99 %.1f ms, RSS %.0f MiB", r.Partitions.ProduceP99Ms, float64(r.Partitions.PeakRSSBytes)/(1<<20))
		if r.Partitions.PutsPerSec != nil {
			s += fmt.Sprintf(", %.1f PUTs/s", *r.Partitions.PutsPerSec)
		}
	}
	return s
}
