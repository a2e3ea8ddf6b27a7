package tests

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/wisp-stream/wisp/agent"
	"github.com/wisp-stream/wisp/objstore"
	"github.com/wisp-stream/wisp/objstore/miniotest"
)

var bucketSeq atomic.Int64

// testAgent is one in-process agent on random loopback ports.
type testAgent struct {
	*agent.Agent
	t       testing.TB
	cfg     agent.Config
	crashed bool
}

// agentOption adjusts a test agent's config before start.
type agentConfig = agent.Config

// agentOption adjusts a test agent config.
type agentOption func(*agentConfig)

func withFlushInterval(d time.Duration) agentOption {
	return func(c *agent.Config) { c.FlushInterval = d }
}

func withStore(wrap func(objstore.Store) objstore.Store) agentOption {
	return func(c *agent.Config) { c.WrapStore = wrap }
}

// testConfig is an agent config on random loopback ports, a fresh data dir
// and a fresh in-memory bucket, with short Raft timers.
func testConfig(t testing.TB, opts ...agentOption) agent.Config {
	t.Helper()
	cfg := agent.DefaultConfig()
	cfg.KafkaAddr = "127.0.0.1:0"
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.RaftAddr = freeAddr(t)
	cfg.GossipAddr = "127.0.0.1:0"
	cfg.GossipFast = true
	cfg.DeadTimeout = 2 * time.Second
	cfg.DataDir = filepath.Join(t.TempDir(), "data")
	cfg.BucketURL = fmt.Sprintf("mem://test-%d-%d", os.Getpid(), bucketSeq.Add(1))
	cfg.FlushInterval = 20 * time.Millisecond
	cfg.RaftTimeoutScale = 0.2
	cfg.Logger = testLogger(t)
	for _, o := range opts {
		o(&cfg)
	}
	return cfg
}

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("WISP_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// freeAddr reserves a loopback port for listeners whose address must stay the
// same across restarts (Raft stores it in its configuration).
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// backend is one kind of bucket the data-path tests run against.
type backend struct {
	name string
	// bucket returns a fresh bucket URL for one test.
	bucket func(t testing.TB) string
}

// backends are the real stores every data-path test runs on: a file://
// directory and a MinIO server (built by scripts/install-minio.sh; a missing
// binary fails the test, it never skips).
var backends = []backend{
	{"file", func(t testing.TB) string { return "file://" + filepath.Join(t.TempDir(), "bucket") }},
	{"minio", func(t testing.TB) string { return miniotest.Start(t).URL("wisp-test") }},
}

// onBackends runs fn once per backend as subtests.
func onBackends(t *testing.T, fn func(t *testing.T, bucketURL string)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { fn(t, b.bucket(t)) })
	}
}

func withBucket(url string) agentOption {
	return func(c *agentConfig) { c.BucketURL = url }
}

// startAgent starts an agent and stops it when the test ends.
func startAgent(t testing.TB, cfg agent.Config) *testAgent {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, err := agent.Start(ctx, cfg)
	for try := 0; err != nil && strings.Contains(err.Error(), "address already in use") && try < 3; try++ {
		// freeAddr's port was taken by another process before we bound it.
		cfg.RaftAddr = freeAddrOn(t, hostOf(cfg.RaftAddr))
		a, err = agent.Start(ctx, cfg)
	}
	if err != nil {
		t.Fatalf("start agent: %v", err)
	}
	ta := &testAgent{Agent: a, t: t, cfg: cfg}
	t.Cleanup(func() { ta.stop() })
	return ta
}

func (ta *testAgent) stop() {
	if ta.crashed {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := ta.Shutdown(ctx); err != nil {
		ta.t.Errorf("shutdown: %v", err)
	}
}

// crash stops the agent abruptly, as kill -9 would.
func (ta *testAgent) crash() {
	ta.crashed = true
	ta.Crash()
}

// restart stops the agent and starts a new one on the same data dir and bucket.
func (ta *testAgent) restart() *testAgent {
	ta.t.Helper()
	ta.stop()
	cfg := ta.cfg
	cfg.KafkaAddr, cfg.HTTPAddr = "127.0.0.1:0", "127.0.0.1:0"
	// Raft's address is part of its stored configuration: keep it.
	return startAgent(ta.t, cfg)
}

// client returns a franz-go client seeded with the agent, closed at test end.
func (ta *testAgent) client(opts ...kgo.Opt) *kgo.Client {
	ta.t.Helper()
	opts = append([]kgo.Opt{kgo.SeedBrokers(ta.AdvertisedAddr())}, opts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		ta.t.Fatalf("new client: %v", err)
	}
	ta.t.Cleanup(cl.Close)
	return cl
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
