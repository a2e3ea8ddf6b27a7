package tests

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/wisp-stream/wisp/objstore"
	"github.com/wisp-stream/wisp/objstore/miniotest"
)

// holdingProxy stands between an agent and MinIO. While hold is set, the
// first upload of a compaction output reaches MinIO (the object exists) but
// its answer is held until the agent hangs up: the agent is then exactly
// between its PUT and its CompactFiles commit, the window a crash turns the
// output into an orphan.
type holdingProxy struct {
	srv  *httptest.Server
	hold atomic.Bool
	held chan string // base names of held uploads
}

func startHoldingProxy(t *testing.T, endpoint string) *holdingProxy {
	t.Helper()
	p := &holdingProxy{held: make(chan string, 1)}
	rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: endpoint})
	// The Host header stays the proxy's, which the agent signed its
	// requests for; MinIO checks signatures against the header it gets.
	rp.ModifyResponse = func(resp *http.Response) error {
		req := resp.Request
		if !p.hold.Load() || req.Method != http.MethodPut || resp.StatusCode != http.StatusOK || !isCompactionOutput(req.URL.Path) {
			return nil
		}
		select {
		case p.held <- path.Base(req.URL.Path):
		default:
		}
		<-req.Context().Done() // the agent died (or gave up on the answer)
		return req.Context().Err()
	}
	rp.ErrorHandler = func(w http.ResponseWriter, _ *http.Request, _ error) {
		w.WriteHeader(http.StatusBadGateway) // the killed agent will not read it
	}
	p.srv = httptest.NewServer(rp)
	t.Cleanup(p.srv.Close)
	return p
}

func (p *holdingProxy) endpoint() string { return strings.TrimPrefix(p.srv.URL, "http://") }

// startAgentIn starts `wisp agent` on the data dir and addresses of like
// (Raft keeps its address in its configuration, so a restart must reuse
// them), with env added to the environment.
func startAgentIn(t *testing.T, like *agentProcess, dataDir, bucket string, env []string, extra ...string) *agentProcess {
	t.Helper()
	p := &agentProcess{name: like.name, kafka: like.kafka, http: like.http, gossip: like.gossip, raft: like.raft,
		logPath: filepath.Join(t.TempDir(), "agent.log"), done: make(chan struct{})}
	args := append([]string{"agent", "--data-dir", dataDir, "--bucket-url", bucket,
		"--kafka-addr", p.kafka, "--http-addr", p.http, "--gossip-addr", p.gossip, "--raft-addr", p.raft}, extra...)
	logf, err := os.Create(p.logPath)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(wispBinary(t), args...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("%s log (%s):\n%s", p.name, p.logPath, p.logTail(40))
		}
	})
	return p
}

// TestCompactionKilledMidJobLeavesOrphan runs the real `wisp agent` on a real
// MinIO, lets compaction upload its first output, and kills the agent with
// SIGKILL before the commit (while /metrics says a job is in flight).
// Restarted on the same data dir and bucket, the agent serves every acked
// record at its acked offset exactly once, its orphan scan deletes the
// half-done output, and compaction then completes.
func TestCompactionKilledMidJobLeavesOrphan(t *testing.T) {
	const (
		topic      = "killed"
		partitions = 2
		rounds     = 60
		perRound   = 20
	)
	srv := miniotest.Start(t)
	proxy := startHoldingProxy(t, srv.Endpoint)
	proxy.hold.Store(true)
	bucket := fmt.Sprintf("s3://%s/killtest?endpoint=%s&region=us-east-1&secure=false", srv.Bucket, proxy.endpoint())
	direct, err := objstore.Open(context.Background(), srv.URL("killtest"))
	if err != nil {
		t.Fatal(err)
	}
	flags := []string{"--flush-interval", "5ms", "--compaction-fan-in", "4", "--dead-file-grace", "1s",
		"--orphan-grace", "1s", "--orphan-scan-interval", "1s"}
	ip := "127.0.0.1"
	like := &agentProcess{name: "agent",
		kafka:  fmt.Sprintf("%s:%d", ip, freePortOn(t, ip, false)),
		http:   fmt.Sprintf("%s:%d", ip, freePortOn(t, ip, false)),
		gossip: fmt.Sprintf("%s:%d", ip, freePortOn(t, ip, true)),
		raft:   fmt.Sprintf("%s:%d", ip, freePortOn(t, ip, false)),
	}
	dataDir := filepath.Join(t.TempDir(), "data")
	a := startAgentIn(t, like, dataDir, bucket, srv.Env(), flags...)
	a.waitReady(t, 30*time.Second)

	cl, err := kgo.NewClient(kgo.SeedBrokers(a.kafka), manualPartitioner())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	createTopicIfMissing(t, cl, topic, partitions)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	type at struct {
		p   int32
		off int64
	}
	acked := map[at]string{}
	for r := range rounds {
		recs := make([]*kgo.Record, perRound)
		for i := range recs {
			recs[i] = &kgo.Record{Topic: topic, Partition: int32(i % partitions), Value: fmt.Appendf(nil, "r%03d-i%02d", r, i)}
		}
		res := cl.ProduceSync(ctx, recs...)
		if err := res.FirstErr(); err != nil {
			t.Fatalf("produce round %d: %v", r, err)
		}
		for _, pr := range res {
			acked[at{pr.Record.Partition, pr.Record.Offset}] = string(pr.Record.Value)
		}
	}
	cl.Close()

	var orphan string
	select {
	case orphan = <-proxy.held:
	case <-time.After(30 * time.Second):
		t.Fatal("no compaction output was uploaded within 30s")
	}
	if got := scrapeHTTP(t, a.http)("wisp_compaction_in_flight", "", ""); got != 1 {
		t.Fatalf("wisp_compaction_in_flight = %v while the output's upload is held, want 1", got)
	}
	if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-a.done
	inBucket := func() bool {
		return slices.ContainsFunc(dataFiles(t, direct), func(k string) bool { return path.Base(k) == orphan })
	}
	if !inBucket() {
		t.Fatalf("the held upload %s is not in the bucket", orphan)
	}
	t.Logf("killed the agent between the upload of %s and its commit", orphan)

	proxy.hold.Store(false)
	a = startAgentIn(t, like, dataDir, bucket, srv.Env(), flags...)
	a.waitReady(t, 30*time.Second)
	checkAcked := func(when string) {
		t.Helper()
		got := consumeToEnd(t, a.kafka, topic, 30*time.Second)
		seen := map[at]bool{}
		for _, r := range got {
			k := at{r.Partition, r.Offset}
			if seen[k] {
				t.Fatalf("%s: partition %d offset %d read twice", when, k.p, k.off)
			}
			seen[k] = true
			if v, ok := acked[k]; !ok || v != string(r.Value) {
				t.Fatalf("%s: partition %d offset %d holds %q, acked %q", when, k.p, k.off, r.Value, v)
			}
		}
		if len(seen) != len(acked) {
			t.Fatalf("%s: read %d records, %d acked", when, len(seen), len(acked))
		}
	}
	checkAcked("after the restart")

	waitFor(t, 30*time.Second, "the orphan scan to delete "+orphan, func() bool { return !inBucket() })
	b, _ := os.ReadFile(a.logPath)
	if !slices.ContainsFunc(strings.Split(string(b), "\n"), func(l string) bool {
		return strings.Contains(l, "deleted orphaned object") && strings.Contains(l, orphan)
	}) {
		t.Fatalf("%s left the bucket without an orphan-scan log line:\n%s", orphan, a.logTail(30))
	}
	waitFor(t, 30*time.Second, "compaction to complete after the restart", func() bool {
		m := scrapeHTTP(t, a.http)
		return m("wisp_compaction_runs_total", "", "") >= 1 && m("wisp_level_files", "level", "0") == 0
	})
	checkAcked("after compaction")
}
