package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/wisp-stream/wisp/agent"
)

// demoOptions are `wisp demo`'s flags.
type demoOptions struct {
	agents     int
	duration   time.Duration
	dataDir    string
	kafkaAddr  string
	httpAddr   string
	gossipAddr string
	raftAddr   string
	topic      string
	partitions int32
	group      string
	producers  int
	consumers  int
	rate       int
	recordSize int
	logLevel   string
	prices     agent.Prices
}

func newDemoCommand() *cobra.Command {
	o := demoOptions{}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run local agents with producers and consumers generating traffic, and print the console URL",
		Long: `Run a playground agent (or --agents N local agents joined into one cluster), create a
demo topic, and run producers and a consumer group inside this process for --duration
(default 1h), so the console (printed URL) shows a working cluster. Everything is
local: the bucket is a directory, by default a temporary one removed at exit
(--data-dir keeps it). Agent i (from 0) uses the Kafka and HTTP ports plus i and the
gossip and Raft ports plus 10*i; port 0 picks free ports. Ctrl-C stops it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.validate(); err != nil {
				return usageError{err}
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runDemo(ctx, o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	d := agent.DefaultPrices()
	f.IntVar(&o.agents, "agents", 1, "local agents to run, joined into one cluster")
	f.DurationVar(&o.duration, "duration", time.Hour, "how long to generate traffic before stopping")
	f.StringVar(&o.dataDir, "data-dir", "", "directory for the agents' Raft data and the bucket (default: a temporary directory removed at exit)")
	f.StringVar(&o.kafkaAddr, "kafka-addr", "127.0.0.1:9092", "Kafka listener of the first agent; agent i adds i to the port")
	f.StringVar(&o.httpAddr, "http-addr", "127.0.0.1:8080", "HTTP listener (console, API, metrics) of the first agent; agent i adds i to the port")
	f.StringVar(&o.gossipAddr, "gossip-addr", "127.0.0.1:7946", "gossip address of the first agent; agent i adds 10*i to the port")
	f.StringVar(&o.raftAddr, "raft-addr", "127.0.0.1:7947", "Raft address of the first agent; agent i adds 10*i to the port")
	f.StringVar(&o.topic, "topic", "demo", "topic the producers write and the consumers read")
	f.Int32Var(&o.partitions, "partitions", 6, "partitions of the demo topic")
	f.StringVar(&o.group, "group", "demo-consumers", "consumer group of the consumers")
	f.IntVar(&o.producers, "producers", 2, "producer clients")
	f.IntVar(&o.consumers, "consumers", 2, "consumer clients in the group")
	f.IntVar(&o.rate, "rate", 500, "records per second, over all producers")
	f.IntVar(&o.recordSize, "record-size", 1024, "bytes per record value")
	f.StringVar(&o.logLevel, "log-level", "error", "agents' log level: debug, info, warn or error (logs go to stderr)")
	f.Float64Var(&o.prices.PutPer1000, "price-put-per-1000", d.PutPer1000, "dollars per 1,000 PUT (and LIST) requests, for the console's cost estimate")
	f.Float64Var(&o.prices.GetPer1000, "price-get-per-1000", d.GetPer1000, "dollars per 1,000 GET requests, for the console's cost estimate")
	return cmd
}

func (o demoOptions) validate() error {
	switch {
	case o.agents < 1 || o.agents > 9:
		return fmt.Errorf("--agents must be from 1 to 9, got %d", o.agents)
	case o.duration <= 0:
		return fmt.Errorf("--duration must be positive, got %s", o.duration)
	case o.partitions < 1:
		return fmt.Errorf("--partitions must be at least 1, got %d", o.partitions)
	case o.producers < 0 || o.consumers < 0:
		return errors.New("--producers and --consumers must not be negative")
	case o.rate < 1:
		return fmt.Errorf("--rate must be at least 1 record per second, got %d", o.rate)
	case o.recordSize < 1 || o.recordSize > 1<<20:
		return fmt.Errorf("--record-size must be from 1 to 1048576 bytes, got %d", o.recordSize)
	case o.topic == "" || o.group == "":
		return errors.New("--topic and --group must not be empty")
	}
	for _, a := range []struct{ flag, addr string }{{"kafka-addr", o.kafkaAddr}, {"http-addr", o.httpAddr}, {"gossip-addr", o.gossipAddr}, {"raft-addr", o.raftAddr}} {
		if _, err := shiftPort(a.addr, 0); err != nil {
			return fmt.Errorf("--%s: %w", a.flag, err)
		}
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	return nil
}

// shiftPort adds delta to addr's port; port 0 stays 0 (a free port).
func shiftPort(addr string, delta int) (string, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("%q is not host:port: %w", addr, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port+delta > 65535 {
		return "", fmt.Errorf("%q has an invalid port", addr)
	}
	if port == 0 {
		return addr, nil
	}
	return net.JoinHostPort(host, strconv.Itoa(port+delta)), nil
}

// stepper prints the start-up steps, each with how long it took.
type stepper struct {
	w     io.Writer
	start time.Time
	t     time.Time
}

func (s *stepper) begin(format string, args ...any) {
	s.t = time.Now()
	fmt.Fprintf(s.w, "demo: "+format+"... ", args...)
}

func (s *stepper) done() { fmt.Fprintf(s.w, "ok (%s)\n", time.Since(s.t).Round(10*time.Millisecond)) }

func runDemo(ctx context.Context, o demoOptions, stdout, stderr io.Writer) (err error) {
	steps := &stepper{w: stderr, start: time.Now()}
	dir := o.dataDir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "wisp-demo-"); err != nil {
			return fmt.Errorf("create a temporary data dir (set --data-dir instead): %w", err)
		}
		defer os.RemoveAll(dir)
	} else if dir, err = filepath.Abs(dir); err != nil {
		return usageError{fmt.Errorf("--data-dir: %w", err)}
	}
	var level slog.Level
	_ = level.UnmarshalText([]byte(o.logLevel))
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	var agents []*agent.Agent
	defer func() {
		// Stop in reverse: the first agent (the bootstrap) goes last.
		for i := len(agents) - 1; i >= 0; i-- {
			steps.begin("stopping agent %d", agents[i].NodeID())
			sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			if serr := agents[i].Shutdown(sctx); serr != nil {
				fmt.Fprintf(stderr, "failed: %v\n", serr)
			} else {
				steps.done()
			}
			cancel()
		}
	}()
	for i := 0; i < o.agents; i++ {
		cfg := agent.DefaultConfig()
		cfg.Prices = o.prices
		cfg.NodeID = int32(i + 1)
		cfg.DataDir = filepath.Join(dir, fmt.Sprintf("agent-%d", i+1))
		cfg.BucketURL = "file://" + filepath.Join(dir, "bucket")
		cfg.KafkaAddr, _ = shiftPort(o.kafkaAddr, i)
		cfg.HTTPAddr, _ = shiftPort(o.httpAddr, i)
		cfg.GossipAddr, _ = shiftPort(o.gossipAddr, 10*i)
		cfg.RaftAddr, _ = shiftPort(o.raftAddr, 10*i)
		cfg.Logger = logger.With("agent", i+1)
		if i > 0 {
			cfg.Join = []string{agents[0].GossipAddr()}
			cfg.RetryJoin = true
		}
		steps.begin("starting agent %d of %d", i+1, o.agents)
		a, err := agent.Start(ctx, cfg)
		if err != nil {
			fmt.Fprintln(stderr, "failed")
			return err
		}
		agents = append(agents, a)
		steps.done()
	}
	seeds := make([]string, len(agents))
	for i, a := range agents {
		seeds[i] = a.AdvertisedAddr()
	}

	steps.begin("creating topic %q with %d partitions", o.topic, o.partitions)
	if err := createDemoTopic(ctx, seeds, o); err != nil {
		fmt.Fprintln(stderr, "failed")
		return err
	}
	steps.done()

	steps.begin("starting %d producers and %d consumers in group %q", o.producers, o.consumers, o.group)
	traffic, err := startTraffic(ctx, seeds, o)
	if err != nil {
		fmt.Fprintln(stderr, "failed")
		return err
	}
	defer func() {
		steps.begin("stopping producers and consumers")
		traffic.stop()
		steps.done()
	}()
	steps.done()

	fmt.Fprintf(stdout, "Wisp demo: %d agent(s), topic %q (%d partitions), group %q, %d records/s of %d bytes, for %s\n",
		o.agents, o.topic, o.partitions, o.group, o.rate, o.recordSize, o.duration)
	fmt.Fprintf(stdout, "  Console:   http://%s/\n", agents[0].HTTPAddr())
	fmt.Fprintf(stdout, "  Bootstrap: %s\n", strings.Join(seeds, ","))
	fmt.Fprintf(stdout, "  Data:      %s\n", dir)
	fmt.Fprintf(stdout, "  Started in %s. Ctrl-C stops.\n", time.Since(steps.start).Round(10*time.Millisecond))

	done := time.After(o.duration)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	tty := isTerminal(stdout)
	began := time.Now()
	prev := traffic.snapshot()
	ticks := 0
	for {
		select {
		case <-ctx.Done():
		case <-done:
		case <-tick.C:
			cur := traffic.snapshot()
			line := progressLine(time.Since(began), prev, cur, groupLag(agents[0], o))
			prev = cur
			ticks++
			switch {
			case tty:
				fmt.Fprintf(stdout, "\r\033[K%s", line)
			case ticks%10 == 0: // a log, not a screen: one line every 10s
				fmt.Fprintln(stdout, line)
			}
			continue
		}
		break
	}
	if tty {
		fmt.Fprintln(stdout)
	}
	final := traffic.snapshot()
	fmt.Fprintf(stdout, "Wisp demo stopping after %s: produced %d records (%d failed), consumed %d.\n",
		time.Since(began).Round(time.Second), final.produced, final.failed, final.consumed)
	return nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// groupLag is the demo group's lag in the demo topic, from the metadata.
func groupLag(a *agent.Agent, o demoOptions) int64 {
	md := a.Metadata()
	t, ok := md.Topic(o.topic)
	if !ok {
		return 0
	}
	var lag int64
	for p := int32(0); p < t.Partitions; p++ {
		info, ok := md.Partition(t.ID, p)
		if !ok {
			continue
		}
		committed := info.LogStartOffset
		if c, ok := md.CommittedOffset(o.group, t.ID, p); ok {
			committed = c.Offset
		}
		lag += max(info.HighWatermark-committed, 0)
	}
	return lag
}

func progressLine(elapsed time.Duration, prev, cur trafficCounts, lag int64) string {
	secs := cur.at.Sub(prev.at).Seconds()
	if secs <= 0 {
		secs = 1
	}
	rate := func(a, b int64) float64 { return float64(b-a) / secs }
	return fmt.Sprintf("%s  produced %d (%.0f rec/s, %.2f MiB/s)  consumed %d (%.0f rec/s)  lag %d  errors %d",
		elapsed.Round(time.Second), cur.produced, rate(prev.produced, cur.produced),
		rate(prev.producedBytes, cur.producedBytes)/(1<<20), cur.consumed, rate(prev.consumed, cur.consumed), lag, cur.failed)
}

func createDemoTopic(ctx context.Context, seeds []string, o demoOptions) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ClientID("wisp-demo-admin"))
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	res, err := kadm.NewClient(cl).CreateTopic(ctx, o.partitions, -1, nil, o.topic)
	if err == nil {
		err = res.Err
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("create the demo topic %q: %w", o.topic, err)
	}
	return nil
}

// trafficCounts is one reading of the demo clients' counters.
type trafficCounts struct {
	at                                        time.Time
	produced, producedBytes, failed, consumed int64
}

// demoTraffic is the producers and consumers running inside the process.
type demoTraffic struct {
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	clients []*kgo.Client

	produced, producedBytes, failed, consumed atomic.Int64
}

func (t *demoTraffic) snapshot() trafficCounts {
	return trafficCounts{at: time.Now(), produced: t.produced.Load(), producedBytes: t.producedBytes.Load(), failed: t.failed.Load(), consumed: t.consumed.Load()}
}

func startTraffic(ctx context.Context, seeds []string, o demoOptions) (*demoTraffic, error) {
	ctx, cancel := context.WithCancel(ctx)
	t := &demoTraffic{cancel: cancel}
	payload := make([]byte, o.recordSize+4096)
	rand.Read(payload)
	for i := 0; i < o.producers; i++ {
		cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ClientID(fmt.Sprintf("wisp-demo-producer-%d", i+1)),
			kgo.DefaultProduceTopic(o.topic), kgo.ProducerLinger(20*time.Millisecond))
		if err != nil {
			t.stop()
			return nil, err
		}
		t.clients = append(t.clients, cl)
		share := float64(o.rate) / float64(o.producers)
		t.wg.Add(1)
		go func() {
			defer t.wg.Done()
			t.produce(ctx, cl, i, share, payload, o.recordSize)
		}()
	}
	for i := 0; i < o.consumers; i++ {
		cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ClientID(fmt.Sprintf("wisp-demo-consumer-%d", i+1)),
			kgo.ConsumerGroup(o.group), kgo.ConsumeTopics(o.topic), kgo.AutoCommitInterval(time.Second),
			kgo.FetchMaxWait(500*time.Millisecond))
		if err != nil {
			t.stop()
			return nil, err
		}
		t.clients = append(t.clients, cl)
		t.wg.Add(1)
		go func() {
			defer t.wg.Done()
			for ctx.Err() == nil {
				fs := cl.PollFetches(ctx)
				t.consumed.Add(int64(fs.NumRecords()))
			}
		}()
	}
	return t, nil
}

// produce sends records at perSec, in small bursts twenty times a second.
func (t *demoTraffic) produce(ctx context.Context, cl *kgo.Client, id int, perSec float64, payload []byte, size int) {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	start := time.Now()
	var sent int64
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		due := int64(time.Since(start).Seconds() * perSec)
		for ; sent < due; sent++ {
			off := int(sent*7919) % (len(payload) - size)
			r := &kgo.Record{Key: []byte(fmt.Sprintf("key-%d-%d", id, sent%64)), Value: payload[off : off+size]}
			cl.Produce(ctx, r, func(r *kgo.Record, err error) {
				if err != nil {
					if ctx.Err() == nil {
						t.failed.Add(1)
					}
					return
				}
				t.produced.Add(1)
				t.producedBytes.Add(int64(len(r.Value)))
			})
		}
	}
}

// stop ends the traffic: producers flush what they have, consumers commit
// and leave the group.
func (t *demoTraffic) stop() {
	t.cancel()
	t.wg.Wait()
	for _, cl := range t.clients {
		cl.Close()
	}
	t.clients = nil
}
