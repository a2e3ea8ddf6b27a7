package bench

import (
	"bytes"
	"fmt"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// figure is one row of the table: how to read it from a RunResult, and whether
// Kafka has it at all.
type figure struct {
	id      string // stable key: w1, w2p99, raw...
	name    string
	unit    string
	get     func(RunResult) (float64, bool)
	noKafka bool // PUTs and the bucket's own figures: n/a for Kafka
	digits  int
}

func figures(s Settings) []figure {
	rate := float64(s.RateBytesPerSec) / (1 << 20)
	thr := func(f func(*Throughput) float64) func(RunResult) (float64, bool) {
		return func(r RunResult) (float64, bool) {
			if r.Throughput == nil {
				return 0, false
			}
			return f(r.Throughput), true
		}
	}
	lat := func(f func(*Latency) float64) func(RunResult) (float64, bool) {
		return func(r RunResult) (float64, bool) {
			if r.Latency == nil {
				return 0, false
			}
			return f(r.Latency), true
		}
	}
	many := func(f func(*Partitions) (float64, bool)) func(RunResult) (float64, bool) {
		return func(r RunResult) (float64, bool) {
			if r.Partitions == nil {
				return 0, false
			}
			return f(r.Partitions)
		}
	}
	raw := func(f func(*RawPut) float64) func(RunResult) (float64, bool) {
		return func(r RunResult) (float64, bool) {
			if r.RawPut == nil {
				return 0, false
			}
			return f(r.RawPut), true
		}
	}
	w1 := fmt.Sprintf("1. produce, %s, %d partitions", sizeString(s.ThroughputBytes), s.Partitions)
	w2 := fmt.Sprintf("2. at %.0f MiB/s", rate)
	w4 := fmt.Sprintf("4. %d partitions at %.0f MiB/s", s.ManyPartitions, rate)
	return []figure{
		{id: "w1", name: w1, unit: "MiB/s", get: thr(func(t *Throughput) float64 { return t.MiBps }), digits: 1},
		{id: "w1p99", name: w1 + ", produce p99", unit: "ms", get: thr(func(t *Throughput) float64 { return t.ProduceP99Ms })},
		{id: "e2e50", name: w2 + ", end-to-end p50", unit: "ms", get: lat(func(l *Latency) float64 { return l.E2EP50Ms }), digits: 1},
		{id: "e2e99", name: w2 + ", end-to-end p99", unit: "ms", get: lat(func(l *Latency) float64 { return l.E2EP99Ms }), digits: 1},
		{id: "e2e999", name: w2 + ", end-to-end p999", unit: "ms", get: lat(func(l *Latency) float64 { return l.E2EP999Ms }), digits: 1},
		{id: "w2p50", name: w2 + ", produce p50", unit: "ms", get: lat(func(l *Latency) float64 { return l.ProduceP50Ms }), digits: 1},
		{id: "w2p99", name: w2 + ", produce p99", unit: "ms", get: lat(func(l *Latency) float64 { return l.ProduceP99Ms }), digits: 1},
		{id: "w2p999", name: w2 + ", produce p999", unit: "ms", get: lat(func(l *Latency) float64 { return l.ProduceP999Ms }), digits: 1},
		{id: "w3", name: "3. catch-up read of workload 1", unit: "MiB/s", get: func(r RunResult) (float64, bool) {
			if r.Catchup == nil {
				return 0, false
			}
			return r.Catchup.MiBps, true
		}, digits: 1},
		{id: "w4p99", name: w4 + ", produce p99", unit: "ms", get: many(func(p *Partitions) (float64, bool) { return p.ProduceP99Ms, true }), digits: 1},
		{id: "w4puts", name: w4 + ", PUTs/s", unit: "/s", noKafka: true, get: many(func(p *Partitions) (float64, bool) {
			if p.PutsPerSec == nil {
				return 0, false
			}
			return *p.PutsPerSec, true
		}), digits: 1},
		{id: "w4rss", name: w4 + ", peak RSS per process", unit: "MiB", get: many(func(p *Partitions) (float64, bool) {
			return float64(p.PeakRSSBytes) / (1 << 20), p.PeakRSSBytes > 0
		})},
		{id: "rawbw", name: fmt.Sprintf("raw MinIO PUT bandwidth, %s objects x%d", sizeString(s.RawPutObjectBytes), s.RawPutInflight), unit: "MiB/s", noKafka: true, get: raw(func(p *RawPut) float64 { return p.MiBps }), digits: 1},
		{id: "rawp99", name: fmt.Sprintf("raw MinIO PUT p99, %s objects x%d", sizeString(s.RawPutObjectBytes), s.RawPutInflight), unit: "ms", noKafka: true, get: raw(func(p *RawPut) float64 { return p.P99Ms })},
		{id: "rawgetbw", name: fmt.Sprintf("raw MinIO GET bandwidth, %s ranges of those objects x%d", sizeString(rawGetRange), rawGetInflight), unit: "MiB/s", noKafka: true, get: func(r RunResult) (float64, bool) {
			if r.RawPut == nil || r.RawPut.GetMiBps == 0 {
				return 0, false
			}
			return r.RawPut.GetMiBps, true
		}, digits: 1},
		{id: "rawsmallp99", name: "raw MinIO PUT p99, flush-sized objects (rate x flush / agents), one at a time", unit: "ms", noKafka: true, get: raw(func(p *RawPut) float64 { return p.SmallP99Ms }), digits: 1},
	}
}

// summary is one system's medians.
type summary struct {
	r    *Result
	vals map[string]float64 // by figure id; absent = not measured
	runs int
}

func summarize(r *Result, figs []figure) *summary {
	s := &summary{r: r, vals: map[string]float64{}, runs: len(r.Runs)}
	for _, f := range figs {
		var v []float64
		for _, run := range r.Runs {
			if x, ok := f.get(run); ok {
				v = append(v, x)
			}
		}
		if m, ok := median(v); ok {
			s.vals[f.id] = m
		}
	}
	return s
}

// target is one pass/miss line of the report.
type target struct {
	system, what string
	value, limit float64
	unit         string
	pass         bool
}

// targets are issue 8's goals for every Wisp system, against the Kafka
// medians and the same system's raw PUT medians.
func targets(sums []*summary, kafka *summary) []target {
	var out []target
	for _, s := range sums {
		if s.r.Kind != KindWisp {
			continue
		}
		sys := s.r.Label
		add := func(what string, value, limit float64, unit string, pass bool) {
			out = append(out, target{sys, what, value, limit, unit, pass})
		}
		vsKafka := func(id, what string) {
			v, ok := s.vals[id]
			if kafka == nil || !ok {
				return
			}
			if k, ok := kafka.vals[id]; ok && k > 0 {
				add(what, v/k, 1.0, "x", v/k >= 1.0)
			}
		}
		vsKafka("w1", "workload 1 >= 1.0x Kafka")
		if v, ok := s.vals["w1"]; ok {
			if raw, ok := s.vals["rawbw"]; ok && raw > 0 {
				add("workload 1 >= 0.6x raw MinIO PUT bandwidth", v/raw, 0.6, "x", v/raw >= 0.6)
			}
		}
		vsKafka("w3", "workload 3 >= 1.0x Kafka")
		flush := s.r.FlushIntervalMs
		for _, w := range []struct{ label, id string }{{"workload 2", "w2p99"}, {"workload 4", "w4p99"}} {
			v, ok := s.vals[w.id]
			if !ok {
				continue
			}
			if raw, ok := s.vals["rawsmallp99"]; ok {
				limit := flush + 1.5*raw
				add(w.label+" produce p99 <= flush + 1.5x raw PUT p99", v, limit, "ms", v <= limit)
			}
			if flush > 0 && flush <= 20 {
				add(w.label+" produce p99 < 50 ms at 20 ms flush", v, 50, "ms", v < 50)
			}
		}
	}
	return out
}

// Report reads the Results at paths (in column order), prints the table to
// w, and writes it as outDir/bench.md with the chart outDir/bench.png.
func Report(paths []string, outDir string, w io.Writer) error {
	if len(paths) == 0 {
		return fmt.Errorf("no result files given: pass the JSON files `wisp bench run --out` wrote")
	}
	var results []*Result
	for _, p := range paths {
		r, err := ReadResult(p)
		if err != nil {
			return err
		}
		results = append(results, r)
	}
	figs := figures(results[0].Settings)
	for _, r := range results {
		if r.Kind == KindWisp && r.Settings.RawPutObjectBytes > 0 {
			figs = figures(mergeRaw(results[0].Settings, r.Settings))
			break
		}
	}
	var sums []*summary
	var kafka *summary
	for _, r := range results {
		s := summarize(r, figs)
		sums = append(sums, s)
		if kafka == nil && r.Kind == KindKafka {
			kafka = s
		}
	}
	md := markdown(sums, kafka, figs, targets(sums, kafka))
	if _, err := io.WriteString(w, md); err != nil {
		return err
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return fmt.Errorf("report dir: %w", err)
	}
	if err := os.WriteFile(filepath.Join(outDir, "bench.md"), []byte(md), 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, drawChart(sums, figs)); err != nil {
		return fmt.Errorf("encode chart: %w", err)
	}
	if err := os.WriteFile(filepath.Join(outDir, "bench.png"), buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write chart: %w", err)
	}
	return nil
}

func mergeRaw(s, raw Settings) Settings {
	s.RawPutObjectBytes, s.RawPutInflight = raw.RawPutObjectBytes, raw.RawPutInflight
	return s
}

func markdown(sums []*summary, kafka *summary, figs []figure, tgs []target) string {
	var b strings.Builder
	minRuns := sums[0].runs
	for _, s := range sums {
		minRuns = min(minRuns, s.runs)
	}
	set := sums[0].r.Settings
	fmt.Fprintf(&b, "Measured %s on %s (%d CPUs), one system at a time; each figure is the median of %d run(s); "+
		"(x) is Wisp/Kafka. Client: franz-go, %d-byte random records, acks=all, idempotent, no compression.\n\n",
		sums[0].r.Started.Format(time.DateOnly), cpuModel(), runtime.NumCPU(), minRuns, set.RecordBytes)
	b.WriteString("| figure |")
	for _, s := range sums {
		fmt.Fprintf(&b, " %s |", s.r.Label)
	}
	b.WriteString("\n|---|")
	for range sums {
		b.WriteString("---:|")
	}
	b.WriteString("\n")
	for _, f := range figs {
		fmt.Fprintf(&b, "| %s (%s) |", f.name, f.unit)
		for _, s := range sums {
			v, ok := s.vals[f.id]
			switch {
			case s.r.Kind == KindKafka && f.noKafka:
				b.WriteString(" n/a |")
			case !ok:
				b.WriteString(" - |")
			default:
				cell := formatNum(v, f.digits)
				if s.r.Kind == KindWisp && kafka != nil && !f.noKafka {
					if k, ok := kafka.vals[f.id]; ok && k > 0 {
						cell += fmt.Sprintf(" (%.2fx)", v/k)
					}
				}
				fmt.Fprintf(&b, " %s |", cell)
			}
		}
		b.WriteString("\n")
	}
	if len(tgs) > 0 {
		b.WriteString("\n| system | target | value | limit | result |\n|---|---|---:|---:|---|\n")
		for _, t := range tgs {
			res := "pass"
			if !t.pass {
				res = "**miss**"
			}
			fmt.Fprintf(&b, "| %s | %s | %s %s | %s %s | %s |\n", t.system, t.what, formatNum(t.value, 2), t.unit, formatNum(t.limit, 1), t.unit, res)
		}
	}
	return b.String()
}

func formatNum(v float64, digits int) string {
	if digits == 0 && v < 10 {
		digits = 1
	}
	return fmt.Sprintf("%.*f", digits, v)
}

func sizeString(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}

// cpuModel names the processor for the report header (Linux; "unknown CPU"
// elsewhere).
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}
