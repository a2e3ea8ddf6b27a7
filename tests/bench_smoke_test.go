package tests

import (
	"bytes"
	"context"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wisp-stream/wisp/cmd/wisp/bench"
)

// TestBenchSmoke runs `scripts/bench.sh --smoke` against the real peers: an
// Apache Kafka broker from the Maven Central jars, MinIO, one Wisp agent at
// 250ms and at 20ms, and the three agents of scripts/cluster.sh. Tiny sizes,
// one run: it checks that every workload ran on every system and that the
// table, its markdown and the chart were produced, never what they say.
func TestBenchSmoke(t *testing.T) {
	out := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "../scripts/bench.sh", "--smoke", "--out", out)
	// SIGTERM, not SIGKILL: bench.sh then stops what it started.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = time.Minute
	cmd.Env = append(os.Environ(), "WISP_BENCH_BIN="+wispBinary(t))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("scripts/bench.sh --smoke: %v\nstderr:\n%s", err, lastLines(stderr.String(), 40))
	}

	systems := []struct{ file, kind, label string }{
		{"1-kafka.json", bench.KindKafka, "Apache Kafka 4.2.1, 1 broker"},
		{"2-wisp-250ms.json", bench.KindWisp, "Wisp, 1 agent, flush 250ms"},
		{"3-wisp-20ms.json", bench.KindWisp, "Wisp, 1 agent, flush 20ms"},
		{"4-wisp-3x.json", bench.KindWisp, "Wisp, 3 agents, flush 250ms"},
	}
	for _, s := range systems {
		r, err := bench.ReadResult(filepath.Join(out, "results", s.file))
		if err != nil {
			t.Errorf("%s: %v", s.file, err)
			continue
		}
		if r.Kind != s.kind || r.Label != s.label || len(r.Runs) != 1 {
			t.Errorf("%s: kind %q label %q with %d runs, want %q %q with 1", s.file, r.Kind, r.Label, len(r.Runs), s.kind, s.label)
			continue
		}
		run := r.Runs[0]
		if run.Throughput == nil || run.Throughput.Records == 0 || run.Catchup == nil || run.Catchup.Records < run.Throughput.Records ||
			run.Latency == nil || run.Latency.Records == 0 || run.Partitions == nil || run.Partitions.Records == 0 || run.Partitions.PeakRSSBytes == 0 {
			t.Errorf("%s: a workload did not run: %+v", s.file, run)
		}
		if s.kind == bench.KindWisp {
			if run.RawPut == nil || run.RawPut.MiBps == 0 || run.RawPut.GetMiBps == 0 || run.Partitions == nil || run.Partitions.PutsPerSec == nil {
				t.Errorf("%s: no raw PUT or GET figures or no PUTs per second: %+v", s.file, run)
			}
			matches, _ := filepath.Glob(filepath.Join(out, "pprof", strings.TrimSuffix(s.file[2:], ".json")+"-agent*-*.pprof"))
			want := 2 * r.Agents // CPU and allocations of every agent
			if len(matches) != want {
				t.Errorf("%s: %d profiles %v, want %d", s.file, len(matches), matches, want)
			}
			for _, m := range matches {
				if fi, err := os.Stat(m); err != nil || fi.Size() == 0 {
					t.Errorf("profile %s is empty or missing: %v", m, err)
				}
			}
		}
	}

	md, err := os.ReadFile(filepath.Join(out, "bench.md"))
	if err != nil {
		t.Fatalf("no bench.md: %v", err)
	}
	if !strings.Contains(stdout.String(), string(md)) {
		t.Errorf("stdout does not carry the table of bench.md:\nstdout:\n%s\nbench.md:\n%s", stdout.String(), md)
	}
	header := "| figure |"
	for _, s := range systems {
		header += " " + s.label + " |"
	}
	for _, want := range []string{header, "| 1. produce", "| 2. at", "| 3. catch-up", "| 4. 50 partitions", "| raw MinIO PUT bandwidth", "| raw MinIO GET bandwidth",
		"| Wisp, 1 agent, flush 20ms | workload 2 produce p99 < 50 ms at 20 ms flush |", "| Wisp, 3 agents, flush 250ms | workload 1 >= 1.0x Kafka |"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("bench.md lacks %q:\n%s", want, md)
		}
	}
	f, err := os.Open(filepath.Join(out, "bench.png"))
	if err != nil {
		t.Fatalf("no bench.png: %v", err)
	}
	defer f.Close()
	if _, err := png.Decode(f); err != nil {
		t.Errorf("bench.png is not a PNG: %v", err)
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
