package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/wisp-stream/wisp/cmd/wisp/bench"
)

func newBenchCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Benchmark a Kafka-compatible system (Wisp or Apache Kafka) and report side by side",
		Long: `wisp bench run measures one running system through one client (franz-go):
  1. max produce throughput, 2. end-to-end latency at a fixed rate,
  3. catch-up read of workload 1's data, 4. many partitions at the fixed rate
(produce p99, object-store PUTs per second from Wisp's /metrics, peak RSS).
wisp bench report turns the results of several systems into a table
(stdout and bench.md) and a chart (bench.png).

scripts/bench.sh starts Apache Kafka and Wisp one after the other and runs both.`,
	}
	cmd.AddCommand(newBenchRunCommand(), newBenchReportCommand())
	return cmd
}

func newBenchRunCommand() *cobra.Command {
	var (
		o                                  bench.Options
		bootstrap, workloads               string
		throughput, rate, rawSize, outPath string
		pids                               []int
	)
	cmd := &cobra.Command{
		Use:   "run --bootstrap HOST:PORT --system ID [flags]",
		Short: "Run the workloads against one system; print its result as JSON",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			bad := func(flag string, err error) error {
				return usageError{fmt.Errorf("--%s: %w", flag, err)}
			}
			o.Bootstrap = splitList(bootstrap)
			o.PIDs = pids
			var err error
			if o.ThroughputBytes, err = parseBytes(throughput); err != nil {
				return bad("throughput-bytes", err)
			}
			if o.RateBytes, err = parseBytes(rate); err != nil {
				return bad("rate", err)
			}
			if o.RawPutSize, err = parseBytes(rawSize); err != nil {
				return bad("raw-put-size", err)
			}
			for _, w := range splitList(workloads) {
				n, err := strconv.Atoi(w)
				if err != nil {
					return bad("workloads", fmt.Errorf("%q is not a workload number (1-4)", w))
				}
				o.Workloads = append(o.Workloads, n)
			}
			o.Progress = os.Stderr
			res, err := bench.Run(cmd.Context(), o)
			if err != nil {
				return err
			}
			if outPath != "" {
				if err := bench.WriteResult(outPath, res); err != nil {
					return err
				}
			}
			enc := json.NewEncoder(os.Stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(res)
		},
	}
	f := cmd.Flags()
	f.StringVar(&bootstrap, "bootstrap", "127.0.0.1:9092", "bootstrap servers of the system under test (comma-separated host:port)")
	f.StringVar(&o.System, "system", "", "short id of the system, e.g. kafka or wisp-250ms (names profiles and files)")
	f.StringVar(&o.Label, "label", "", "column title in the report (default: --system)")
	f.StringVar(&o.Kind, "kind", bench.KindWisp, "kafka or wisp: the report compares every wisp system with the kafka one")
	f.DurationVar(&o.FlushInterval, "flush-interval", 0, "the agents' --flush-interval (sizes the raw PUT latency probe and the latency targets)")
	f.IntVar(&o.Agents, "agents", 1, "agents (or brokers) in the system")
	f.IntVar(&o.Runs, "runs", 3, "repetitions of every workload; the report shows medians")
	f.StringVar(&workloads, "workloads", "1,2,3,4", "workloads to run (3 needs 1)")
	f.IntVar(&o.RecordBytes, "record-bytes", 1024, "bytes per record value")
	f.StringVar(&throughput, "throughput-bytes", "2GiB", "bytes produced by workload 1 (and read back by workload 3)")
	f.Int32Var(&o.Partitions, "partitions", 12, "partitions of the topics of workloads 1-3")
	f.StringVar(&rate, "rate", "5MiB", "bytes per second produced by workloads 2 and 4")
	f.DurationVar(&o.LatencyDuration, "latency-duration", 20*time.Second, "measured length of workload 2")
	f.DurationVar(&o.Warmup, "warmup", 3*time.Second, "first part of workloads 2 and 4 left out of their figures")
	f.Int32Var(&o.ManyPartitions, "many-partitions", 1000, "partitions of workload 4's topic")
	f.DurationVar(&o.ManyDuration, "many-duration", 20*time.Second, "measured length of workload 4")
	f.StringSliceVar(&o.MetricsURLs, "metrics-url", nil, "/metrics URL of every Wisp agent (object-store PUTs per second)")
	f.IntSliceVar(&pids, "pid", nil, "process ids of the brokers or agents (peak RSS in workload 4)")
	f.StringSliceVar(&o.PprofURLs, "pprof-url", nil, "HTTP base URL of agents started with --pprof: CPU and allocation profiles during workload 1")
	f.DurationVar(&o.PprofDuration, "pprof-duration", 10*time.Second, "length of the profiles")
	f.StringVar(&o.PprofDir, "pprof-dir", ".", "directory for the profiles")
	f.StringVar(&o.RawPutURL, "raw-put-url", "", "bucket URL (s3://...) whose raw PUTs are measured in every run; credentials from WISP_S3_*")
	f.StringVar(&rawSize, "raw-put-size", "8MiB", "object size of the raw PUT bandwidth probe (the agents' --flush-bytes)")
	f.IntVar(&o.RawPutInflight, "raw-put-inflight", 4, "uploads in flight in the raw PUT bandwidth probe (as an agent)")
	f.DurationVar(&o.RawPutDuration, "raw-put-duration", 5*time.Second, "length of each raw PUT probe")
	f.StringVar(&outPath, "out", "", "also write the JSON result to this file")
	return cmd
}

func newBenchReportCommand() *cobra.Command {
	var outDir string
	cmd := &cobra.Command{
		Use:   "report [--out DIR] RESULT.json...",
		Short: "Print the results of several systems as a table; write DIR/bench.md and DIR/bench.png",
		Long: `Columns follow the order of the files; every wisp column shows its ratio to the
first kafka one, and a second table says which of issue 8's targets pass.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return bench.Report(args, outDir, os.Stdout)
		},
	}
	cmd.Flags().StringVar(&outDir, "out", ".", "directory for bench.md and bench.png")
	return cmd
}

func splitList(s string) []string {
	var out []string
	for p := range strings.SplitSeq(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
