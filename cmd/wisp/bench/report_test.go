package bench

import (
	"bytes"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func fakeResult(system, kind string, flushMs float64, w1, w3, w2p99, rawBW, rawSmallP99 []float64) *Result {
	r := &Result{System: system, Label: system, Kind: kind, FlushIntervalMs: flushMs, Agents: 1, Started: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC),
		Settings: Settings{RecordBytes: 1024, ThroughputBytes: 2 << 30, Partitions: 12, RateBytesPerSec: 5 << 20, ManyPartitions: 1000}}
	if kind == KindWisp {
		r.Settings.RawPutObjectBytes, r.Settings.RawPutInflight = 8<<20, 4
	}
	for i := range w1 {
		run := RunResult{
			Throughput: &Throughput{MiBps: w1[i], ProduceP99Ms: 100},
			Catchup:    &Catchup{MiBps: w3[i]},
			Latency:    &Latency{ProduceP99Ms: w2p99[i], E2EP50Ms: 5, E2EP99Ms: 20, E2EP999Ms: 40},
			Partitions: &Partitions{ProduceP99Ms: w2p99[i], PeakRSSBytes: 300 << 20},
		}
		if kind == KindWisp {
			puts := 4.0
			run.Partitions.PutsPerSec = &puts
			run.RawPut = &RawPut{MiBps: rawBW[i], SmallP99Ms: rawSmallP99[i], P99Ms: 300}
		}
		r.Runs = append(r.Runs, run)
	}
	return r
}

// The report shows medians, the Wisp/Kafka ratio, n/a where Kafka has no
// such figure, and judges every target against the same run's figures.
func TestReportMediansRatiosAndTargets(t *testing.T) {
	dir := t.TempDir()
	results := []*Result{
		fakeResult("kafka", KindKafka, 0, []float64{90, 100, 300}, []float64{200, 200, 200}, []float64{5, 5, 5}, nil, nil),
		// median w1 150 = 1.5x Kafka, 0.75x raw 200: both pass; w3 100 = 0.5x: miss;
		// p99 400 > 250 + 1.5*50 = 325: miss.
		fakeResult("wisp-250ms", KindWisp, 250, []float64{150, 140, 160}, []float64{100, 100, 100}, []float64{400, 400, 400}, []float64{200, 200, 200}, []float64{50, 50, 50}),
		// p99 45 < 50 and <= 20 + 1.5*40: pass.
		fakeResult("wisp-20ms", KindWisp, 20, []float64{50, 50, 50}, []float64{300, 300, 300}, []float64{45, 45, 45}, []float64{200, 200, 200}, []float64{40, 40, 40}),
	}
	var paths []string
	for _, r := range results {
		p := filepath.Join(dir, r.System+".json")
		if err := WriteResult(p, r); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	var out bytes.Buffer
	if err := Report(paths, dir, &out); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(dir, "bench.md"))
	if err != nil {
		t.Fatal(err)
	}
	if out.String() != string(md) {
		t.Errorf("stdout and bench.md differ")
	}
	row := func(prefix string) string {
		for line := range strings.SplitSeq(string(md), "\n") {
			if strings.HasPrefix(line, "| "+prefix) {
				return line
			}
		}
		t.Fatalf("no row %q in:\n%s", prefix, md)
		return ""
	}
	if got, want := row("1. produce, 2 GiB, 12 partitions (MiB/s)"), "| 100.0 | 150.0 (1.50x) | 50.0 (0.50x) |"; !strings.HasSuffix(got, want) {
		t.Errorf("workload 1 row = %q, want it to end with %q", got, want)
	}
	if got := row("4. 1000 partitions at 5 MiB/s, PUTs/s"); !strings.Contains(got, "| n/a | 4.0 |") {
		t.Errorf("PUTs/s row = %q, want n/a for Kafka and no ratio for Wisp", got)
	}
	for _, want := range []string{
		"| wisp-250ms | workload 1 >= 1.0x Kafka | 1.50 x | 1.0 x | pass |",
		"| wisp-250ms | workload 1 >= 0.6x raw MinIO PUT bandwidth | 0.75 x | 0.6 x | pass |",
		"| wisp-250ms | workload 3 >= 1.0x Kafka | 0.50 x | 1.0 x | **miss** |",
		"| wisp-250ms | workload 2 produce p99 <= flush + 1.5x raw PUT p99 | 400.00 ms | 325.0 ms | **miss** |",
		"| wisp-20ms | workload 2 produce p99 < 50 ms at 20 ms flush | 45.00 ms | 50.0 ms | pass |",
		"| wisp-20ms | workload 4 produce p99 <= flush + 1.5x raw PUT p99 | 45.00 ms | 80.0 ms | pass |",
	} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(string(md), "| wisp-250ms | workload 2 produce p99 < 50 ms") {
		t.Errorf("the 50 ms target applies only at 20 ms flush:\n%s", md)
	}

	f, err := os.Open(filepath.Join(dir, "bench.png"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("bench.png is not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() < 800 || b.Dy() < 400 {
		t.Errorf("chart is %v, too small to read", b)
	}
}

func TestReportRejectsWhatIsNotAResult(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "x.json")
	if err := os.WriteFile(p, []byte(`{"hello": 1}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Report([]string{p}, dir, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "wisp bench run") {
		t.Fatalf("Report of a non-result = %v, want an error saying to rerun wisp bench run", err)
	}
	if err := Report(nil, dir, &bytes.Buffer{}); err == nil {
		t.Fatal("Report of no files succeeded")
	}
}

func TestQuantileAndMedian(t *testing.T) {
	d := []time.Duration{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 5}, {0.99, 10}, {0.1, 1}, {0, 1}} {
		if got := quantile(d, c.q); got != c.want {
			t.Errorf("quantile(%v) = %v, want %v", c.q, got, c.want)
		}
	}
	if quantile(nil, 0.5) != 0 {
		t.Error("quantile of nothing is not 0")
	}
	if m, _ := median([]float64{3, 1, 2}); m != 2 {
		t.Errorf("median odd = %v", m)
	}
	if m, _ := median([]float64{4, 1, 2, 3}); m != 2.5 {
		t.Errorf("median even = %v", m)
	}
	if _, ok := median(nil); ok {
		t.Error("median of nothing is ok")
	}
}
