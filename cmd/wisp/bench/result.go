// Package bench runs the workloads of `wisp bench` against any
// Kafka-compatible bootstrap (Apache Kafka or Wisp) with one client,
// franz-go, configured the same way for every system, and turns the results
// of several systems into a table (markdown) and a PNG chart.
//
// The four workloads (issue 8):
//  1. max throughput: RecordBytes records to Partitions partitions, acks=all,
//     idempotent, ThroughputBytes in total;
//  2. end-to-end latency at a fixed rate: produce-to-consume p50/p99/p999,
//     and the produce (ack) latency of the same records;
//  3. catch-up read of workload 1's topic from the beginning;
//  4. ManyPartitions partitions at the same fixed rate: produce p99, object
//     store PUTs per second (Wisp's /metrics) and the peak RSS of the
//     system's processes.
//
// Every run of a system writes one Result (JSON); Report reads the Results of
// all systems and shows medians over runs with the Wisp/Kafka ratio.
package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"time"
)

// Kinds of systems; ratios in the report are against the first KindKafka.
const (
	KindKafka = "kafka"
	KindWisp  = "wisp"
)

// Result is everything one `wisp bench run` measured for one system.
type Result struct {
	System          string      `json:"system"` // short id, e.g. "wisp-250ms"
	Label           string      `json:"label"`  // column title, e.g. "Wisp, 1 agent, flush 250ms"
	Kind            string      `json:"kind"`   // KindKafka or KindWisp
	FlushIntervalMs float64     `json:"flush_interval_ms,omitempty"`
	Agents          int         `json:"agents"`
	Started         time.Time   `json:"started"`
	Settings        Settings    `json:"settings"`
	Runs            []RunResult `json:"runs"`
}

// Settings are the workload sizes a Result was measured with.
type Settings struct {
	RecordBytes       int     `json:"record_bytes"`
	ThroughputBytes   int64   `json:"throughput_bytes"`
	Partitions        int32   `json:"partitions"`
	RateBytesPerSec   int64   `json:"rate_bytes_per_sec"`
	LatencySeconds    float64 `json:"latency_seconds"`
	WarmupSeconds     float64 `json:"warmup_seconds"`
	ManyPartitions    int32   `json:"many_partitions"`
	ManySeconds       float64 `json:"many_seconds"`
	RawPutObjectBytes int64   `json:"raw_put_object_bytes,omitempty"`
	RawPutInflight    int     `json:"raw_put_inflight,omitempty"`
}

// RunResult is one repetition of the selected workloads; a nil field was not run.
type RunResult struct {
	RawPut     *RawPut     `json:"raw_put,omitempty"`
	Throughput *Throughput `json:"throughput,omitempty"`
	Latency    *Latency    `json:"latency,omitempty"`
	Catchup    *Catchup    `json:"catchup,omitempty"`
	Partitions *Partitions `json:"partitions,omitempty"`
}

// RawPut is the bucket's own PUT performance, measured in the same run: the
// bandwidth of flush-sized objects with as many uploads in flight as an
// agent uses (the physical limit of workload 1), and the latency of objects
// of the size an agent uploads at the fixed rate (rate x flush interval per
// agent), one at a time (the floor of workloads 2 and 4).
type RawPut struct {
	ObjectBytes      int64   `json:"object_bytes"`
	Inflight         int     `json:"inflight"`
	MiBps            float64 `json:"mibps"`
	P50Ms            float64 `json:"p50_ms"`
	P99Ms            float64 `json:"p99_ms"`
	SmallObjectBytes int64   `json:"small_object_bytes"`
	SmallP50Ms       float64 `json:"small_p50_ms"`
	SmallP99Ms       float64 `json:"small_p99_ms"`
	// GetMiBps is the bandwidth of reading the bandwidth probe's objects
	// back in GetRangeBytes ranges (an agent's cache block), GetInflight at
	// a time: the bucket's side of workload 3, which reads through the cache.
	GetRangeBytes int64   `json:"get_range_bytes,omitempty"`
	GetInflight   int     `json:"get_inflight,omitempty"`
	GetMiBps      float64 `json:"get_mibps,omitempty"`
}

// Throughput is workload 1.
type Throughput struct {
	Topic        string  `json:"topic"`
	Records      int64   `json:"records"` // measured; Primed more precede them
	Primed       int64   `json:"primed"`
	Bytes        int64   `json:"bytes"`
	Seconds      float64 `json:"seconds"`
	MiBps        float64 `json:"mibps"`
	ProduceP50Ms float64 `json:"produce_p50_ms"`
	ProduceP99Ms float64 `json:"produce_p99_ms"`
}

// Latency is workload 2; figures cover the records sent after the warm-up.
type Latency struct {
	RateMiBps     float64 `json:"rate_mibps"`
	Records       int     `json:"records"`
	ProduceP50Ms  float64 `json:"produce_p50_ms"`
	ProduceP99Ms  float64 `json:"produce_p99_ms"`
	ProduceP999Ms float64 `json:"produce_p999_ms"`
	E2EP50Ms      float64 `json:"e2e_p50_ms"`
	E2EP99Ms      float64 `json:"e2e_p99_ms"`
	E2EP999Ms     float64 `json:"e2e_p999_ms"`
}

// Catchup is workload 3.
type Catchup struct {
	Records int64   `json:"records"`
	Bytes   int64   `json:"bytes"`
	Seconds float64 `json:"seconds"`
	MiBps   float64 `json:"mibps"`
}

// Partitions is workload 4. PutsPerSec is nil when the system has no object
// store counters (Kafka).
type Partitions struct {
	Partitions    int32    `json:"partitions"`
	RateMiBps     float64  `json:"rate_mibps"`
	Records       int      `json:"records"`
	ProduceP50Ms  float64  `json:"produce_p50_ms"`
	ProduceP99Ms  float64  `json:"produce_p99_ms"`
	PutsPerSec    *float64 `json:"puts_per_sec,omitempty"`
	FlushesPerSec *float64 `json:"flushes_per_sec,omitempty"`
	PeakRSSBytes  int64    `json:"peak_rss_bytes"`
}

// ReadResult loads a Result written by `wisp bench run`.
func ReadResult(path string) (*Result, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read bench result: %w", err)
	}
	var r Result
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s is not a wisp bench result (%w); rerun `wisp bench run --out %s`", path, err, path)
	}
	if r.System == "" || (r.Kind != KindKafka && r.Kind != KindWisp) {
		return nil, fmt.Errorf("%s lacks a system id or kind (%q); rerun `wisp bench run`", path, r.Kind)
	}
	return &r, nil
}

// WriteResult writes r as indented JSON.
func WriteResult(path string, r *Result) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write bench result: %w", err)
	}
	return nil
}
