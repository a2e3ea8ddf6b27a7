package tests

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/wisp-stream/wisp/cmd/wisp/kcmd"
)

// These tests run Wisp as users do, as separate `wisp agent` processes: a
// cluster on three loopback IPs started by hand, and the one
// scripts/cluster.sh starts.

// agentProcess is one `wisp agent` process, killed when the test ends.
type agentProcess struct {
	name                      string
	cmd                       *exec.Cmd
	kafka, http, gossip, raft string
	logPath                   string
	done                      chan struct{} // closed once the process has exited
}

// freePortOn returns a port that is free on ip for TCP and, with udp, for
// UDP as well (gossip uses both on one port).
func freePortOn(t *testing.T, ip string, udp bool) int {
	t.Helper()
	for range 50 {
		ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
		if err != nil {
			t.Fatalf("listen on %s: %v (this test needs the whole 127.0.0.0/8 on loopback, as Linux has)", ip, err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ok := true
		if udp {
			pc, err := net.ListenPacket("udp", net.JoinHostPort(ip, strconv.Itoa(port)))
			if err != nil {
				ok = false
			} else {
				pc.Close()
			}
		}
		ln.Close()
		if ok {
			return port
		}
	}
	t.Fatalf("no port free for TCP and UDP on %s", ip)
	return 0
}

// startAgentProcess starts `wisp agent` with every listener on ip.
func startAgentProcess(t *testing.T, name, ip, bucket string, extra ...string) *agentProcess {
	t.Helper()
	dir := t.TempDir()
	p := &agentProcess{
		name:    name,
		kafka:   net.JoinHostPort(ip, strconv.Itoa(freePortOn(t, ip, false))),
		http:    net.JoinHostPort(ip, strconv.Itoa(freePortOn(t, ip, false))),
		gossip:  net.JoinHostPort(ip, strconv.Itoa(freePortOn(t, ip, true))),
		raft:    net.JoinHostPort(ip, strconv.Itoa(freePortOn(t, ip, false))),
		logPath: filepath.Join(dir, "agent.log"),
		done:    make(chan struct{}),
	}
	args := append([]string{"agent", "--data-dir", filepath.Join(dir, "data"), "--bucket-url", bucket,
		"--kafka-addr", p.kafka, "--http-addr", p.http, "--gossip-addr", p.gossip, "--raft-addr", p.raft}, extra...)
	logf, err := os.Create(p.logPath)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(wispBinary(t), args...)
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

func (p *agentProcess) logTail(lines int) string {
	b, _ := os.ReadFile(p.logPath)
	l := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(l[max(0, len(l)-lines):], "\n")
}

func (p *agentProcess) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// waitReady waits until /readyz answers 200: the agent knows a Raft leader
// and the cluster id.
func (p *agentProcess) waitReady(t *testing.T, timeout time.Duration) {
	t.Helper()
	hc := &http.Client{Timeout: time.Second}
	waitFor(t, timeout, p.name+" /readyz", func() bool {
		if p.exited() {
			t.Fatalf("%s exited during start-up: %v\n%s", p.name, p.cmd.ProcessState, p.logTail(20))
		}
		resp, err := hc.Get("http://" + p.http + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// metadataFrom asks exactly the agent at addr (not any broker the client
// has learnt of) for the cluster's metadata.
func metadataFrom(ctx context.Context, addr string) (*kmsg.MetadataResponse, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	return kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl.SeedBrokers()[0])
}

// waitTopic waits until the agent at addr lists topic with its partitions.
func waitTopic(t *testing.T, addr, topic string, partitions int) {
	t.Helper()
	waitFor(t, 10*time.Second, topic+" in the metadata of "+addr, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		resp, err := metadataFrom(ctx, addr) // all topics: asking for one would auto-create it
		if err != nil {
			return false
		}
		for _, tp := range resp.Topics {
			if tp.Topic != nil && *tp.Topic == topic && tp.ErrorCode == 0 && len(tp.Partitions) == partitions {
				return true
			}
		}
		return false
	})
}

// consumeToEnd reads every partition of topic from the start to its end
// offset at the time of the call, through a client seeded only with seed.
func consumeToEnd(t *testing.T, seed, topic string, timeout time.Duration) []*kgo.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seed), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil || ends.Error() != nil {
		t.Fatalf("end offsets of %s: %v %v", topic, err, ends.Error())
	}
	remaining := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			remaining[o.Partition] = o.Offset
		}
	})
	var out []*kgo.Record
	for len(remaining) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("after %d records, partitions %v not read to their end offsets within %s", len(out), remaining, timeout)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Logf("fetch %s/%d: %v", topic, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			out = append(out, r)
			if end, ok := remaining[r.Partition]; ok && r.Offset+1 >= end {
				delete(remaining, r.Partition)
			}
		})
	}
	return out
}

// TestProcessesOnThreeLoopbackIPs runs three `wisp agent` processes, each
// with all its listeners on its own IP as on three machines, joined with
// --join; then kills the first (which bootstrapped Raft, so usually leads
// it) with SIGKILL while producing, and stops the others with SIGTERM.
func TestProcessesOnThreeLoopbackIPs(t *testing.T) {
	bucket := "file://" + filepath.Join(t.TempDir(), "bucket")
	// A short --dead-timeout lets the survivors drop the killed agent from
	// Raft before they are stopped; the rest are the defaults.
	common := []string{"--dead-timeout", "3s"}
	a1 := startAgentProcess(t, "agent-1", "127.0.0.1", bucket, common...)
	a1.waitReady(t, 30*time.Second)
	join := append([]string{"--join", a1.gossip}, common...)
	a2 := startAgentProcess(t, "agent-2", "127.0.0.2", bucket, join...)
	a3 := startAgentProcess(t, "agent-3", "127.0.0.3", bucket, join...)
	agents := []*agentProcess{a1, a2, a3}
	a2.waitReady(t, 30*time.Second)
	a3.waitReady(t, 30*time.Second)

	// Metadata from every agent lists the three, each at its own IP.
	want := []string{a1.kafka, a2.kafka, a3.kafka}
	for _, a := range agents {
		var got []string
		waitFor(t, 20*time.Second, "3 brokers in "+a.name+"'s metadata", func() bool {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			resp, err := metadataFrom(ctx, a.kafka)
			if err != nil {
				return false
			}
			got = got[:0]
			for _, b := range resp.Brokers {
				got = append(got, net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port))))
			}
			slices.Sort(got)
			return len(got) == 3
		})
		if !slices.Equal(got, want) {
			t.Fatalf("%s lists brokers %v, want %v (each agent at its own IP)", a.name, got, want)
		}
	}

	// 1,000 records produced through agent 2, consumed through agent 3.
	const topic, partitions = "loopback", 6
	seeded2, err := kgo.NewClient(kgo.SeedBrokers(a2.kafka))
	if err != nil {
		t.Fatal(err)
	}
	defer seeded2.Close()
	createTopicIfMissing(t, seeded2, topic, partitions)
	var recs []*kgo.Record
	for i := range 1000 {
		recs = append(recs, &kgo.Record{Topic: topic, Value: fmt.Appendf(nil, "before-%04d", i)})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	if err := seeded2.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce through agent 2: %v", err)
	}
	cancel()
	acked := map[string]bool{}
	for _, r := range recs {
		acked[string(r.Value)] = true
	}
	checkExactlyOnce(t, consumeToEnd(t, a3.kafka, topic, 30*time.Second), acked, nil)

	// SIGKILL agent 1 while a producer seeded with the others writes to
	// every partition; wait until each partition acks a record produced
	// after the kill.
	ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
	if md, err := metadataFrom(ctx, a1.kafka); err == nil {
		for _, b := range md.Brokers {
			if b.NodeID == md.ControllerID {
				t.Logf("before the kill the controller (Raft leader) is %s:%d; agent 1 is %s", b.Host, b.Port, a1.kafka)
			}
		}
	}
	cancel()
	p := startPacedProducer(t, []string{a2.kafka, a3.kafka}, topic, partitions)
	time.Sleep(500 * time.Millisecond)
	if err := a1.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killedAt, firstAfter := time.Now(), p.next()
	<-a1.done
	waitFor(t, 60*time.Second, "every partition to ack a record produced after the kill", func() bool {
		return p.partitionsAckedFrom(firstAfter) == partitions
	})
	t.Logf("after SIGKILL of agent 1: first ack of a new record after %s, every partition writable after %s",
		p.firstAckFrom(firstAfter).Sub(killedAt).Round(time.Millisecond), time.Since(killedAt).Round(time.Millisecond))
	time.Sleep(500 * time.Millisecond)
	produced, failed := p.stop(t)
	for v := range p.acked() {
		acked[v] = true
	}
	if len(failed) > 0 {
		t.Errorf("%d of %d records failed after the kill (kgo retries retriable errors, so these were not): first %v", len(failed), produced, failed[:min(3, len(failed))])
	}
	t.Logf("%d records produced during the failover, %d acked", produced, len(acked)-len(recs))
	checkExactlyOnce(t, consumeToEnd(t, a3.kafka, topic, 30*time.Second), acked, p.values())

	// SIGTERM the others together: each leaves gracefully and exits 0.
	stopAt := time.Now()
	for _, a := range []*agentProcess{a2, a3} {
		a.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, a := range []*agentProcess{a2, a3} {
		select {
		case <-a.done:
		case <-time.After(60 * time.Second):
			t.Fatalf("%s still runs 60s after SIGTERM", a.name)
		}
		if code := a.cmd.ProcessState.ExitCode(); code != 0 {
			t.Errorf("%s exited with %d after SIGTERM, want 0:\n%s", a.name, code, a.logTail(10))
		}
	}
	t.Logf("agents 2 and 3 stopped %s after SIGTERM", time.Since(stopAt).Round(time.Millisecond))
}

// checkExactlyOnce: every acked value is read once; nothing is read twice;
// anything read was produced (a failed record may or may not be there).
func checkExactlyOnce(t *testing.T, got []*kgo.Record, acked map[string]bool, produced map[string]bool) {
	t.Helper()
	seen := map[string]int{}
	for _, r := range got {
		v := string(r.Value)
		seen[v]++
		if seen[v] == 2 {
			t.Errorf("%s read twice (second at partition %d offset %d)", v, r.Partition, r.Offset)
		}
		if !acked[v] && !produced[v] {
			t.Errorf("%s read but never produced", v)
		}
	}
	missing := 0
	for v := range acked {
		if seen[v] == 0 {
			if missing < 5 {
				t.Errorf("%s acked but not read", v)
			}
			missing++
		}
	}
	if missing > 0 || t.Failed() {
		t.Fatalf("read %d records; %d acked records missing", len(got), missing)
	}
}

// pacedProducer writes one record every 2 ms, round-robin over the
// partitions, and remembers which were acked and when.
type pacedProducer struct {
	cl    *kgo.Client
	stopc chan struct{}
	wg    sync.WaitGroup

	mu       sync.Mutex
	seq      int
	ackedAt  map[int]time.Time // by sequence number
	byValue  map[string]bool   // every value handed to the client
	ackedVal map[string]bool
	failed   []string
	partOf   map[int]int32
}

func startPacedProducer(t *testing.T, seeds []string, topic string, partitions int32) *pacedProducer {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RecordDeliveryTimeout(90*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	p := &pacedProducer{cl: cl, stopc: make(chan struct{}), ackedAt: map[int]time.Time{},
		byValue: map[string]bool{}, ackedVal: map[string]bool{}, partOf: map[int]int32{}}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-p.stopc:
				return
			case <-tick.C:
			}
			p.mu.Lock()
			seq := p.seq
			p.seq++
			v := fmt.Sprintf("during-%06d", seq)
			part := int32(seq) % partitions
			p.byValue[v], p.partOf[seq] = true, part
			p.mu.Unlock()
			cl.Produce(context.Background(), &kgo.Record{Topic: topic, Partition: part, Value: []byte(v)},
				func(_ *kgo.Record, err error) {
					p.mu.Lock()
					defer p.mu.Unlock()
					if err != nil {
						p.failed = append(p.failed, v+": "+err.Error())
						return
					}
					p.ackedAt[seq] = time.Now()
					p.ackedVal[v] = true
				})
		}
	}()
	return p
}

// next is the sequence number of the next record to be produced.
func (p *pacedProducer) next() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.seq
}

// partitionsAckedFrom counts partitions that acked a record numbered from on.
func (p *pacedProducer) partitionsAckedFrom(from int) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	parts := map[int32]bool{}
	for seq := range p.ackedAt {
		if seq >= from {
			parts[p.partOf[seq]] = true
		}
	}
	return len(parts)
}

func (p *pacedProducer) firstAckFrom(from int) time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	var first time.Time
	for seq, at := range p.ackedAt {
		if seq >= from && (first.IsZero() || at.Before(first)) {
			first = at
		}
	}
	return first
}

// stop stops producing and waits for every outstanding record's outcome.
func (p *pacedProducer) stop(t *testing.T) (produced int, failed []string) {
	t.Helper()
	close(p.stopc)
	p.wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Second)
	defer cancel()
	if err := p.cl.Flush(ctx); err != nil {
		t.Fatalf("records still unacknowledged after the delivery timeout: %v", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.seq, slices.Clone(p.failed)
}

func (p *pacedProducer) acked() map[string]bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ackedVal
}

func (p *pacedProducer) values() map[string]bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.byValue
}

// clusterScript runs scripts/cluster.sh with its own state dir and ports.
type clusterScript struct {
	dir, bin string
	offset   int
}

func (c clusterScript) run(ctx context.Context, action string) (stdout, stderr string, code int) {
	cmd := exec.CommandContext(ctx, "../scripts/cluster.sh", action)
	for _, kv := range os.Environ() {
		// The agents read WISP_* as flags: keep only where MinIO comes from.
		if !strings.HasPrefix(kv, "WISP_") || strings.HasPrefix(kv, "WISP_MINIO_BIN=") || strings.HasPrefix(kv, "WISP_CACHE_DIR=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "WISP_CLUSTER_DIR="+c.dir, "WISP_CLUSTER_BIN="+c.bin,
		"WISP_CLUSTER_PORT_OFFSET="+strconv.Itoa(c.offset))
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		code = -1
		e.WriteString(err.Error())
	}
	return o.String(), e.String(), code
}

func (c clusterScript) port(base, agent int) int { return base + agent - 1 + c.offset }

// freeClusterOffset finds a WISP_CLUSTER_PORT_OFFSET whose ports are all
// free, below the ephemeral range so outgoing connections cannot take them.
func freeClusterOffset(t *testing.T) int {
	t.Helper()
	for range 50 {
		off := 1000 + rand.IntN(22000)
		ok := true
		var held []func() error
		for n := 1; n <= 3 && ok; n++ {
			for _, port := range []int{9091 + n, 8079 + n, 7936 + 10*n, 7937 + 10*n} {
				ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port+off))
				if err != nil {
					ok = false
					break
				}
				held = append(held, ln.Close)
			}
			if pc, err := net.ListenPacket("udp", "127.0.0.1:"+strconv.Itoa(7936+10*n+off)); err == nil {
				held = append(held, pc.Close)
			} else {
				ok = false
			}
		}
		for _, c := range held {
			c()
		}
		if ok {
			return off
		}
	}
	t.Fatal("no free set of cluster ports found")
	return 0
}

// processGone: no such process, or a zombie (exited, not yet reaped by
// its parent, which is init for the script's background processes).
func processGone(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	return len(f) > 0 && f[0] == "Z"
}

func readPid(t *testing.T, path string, re *regexp.Regexp) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("pid file: %v", err)
	}
	m := re.FindSubmatch(b)
	if m == nil {
		t.Fatalf("no pid in %s: %q", path, b)
	}
	pid, _ := strconv.Atoi(string(m[1]))
	return pid
}

// TestClusterScriptUpStatusDown runs scripts/cluster.sh as its usage says:
// up (MinIO and 3 agents), use the cluster with kcmd, up again (nothing
// changes), down (everything stops), down again.
func TestClusterScriptUpStatusDown(t *testing.T) {
	tmp := t.TempDir()
	cs := clusterScript{dir: filepath.Join(tmp, "cluster"), bin: filepath.Join(tmp, "bin", "wisp"), offset: freeClusterOffset(t)}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	t.Cleanup(func() {
		if _, stderr, code := cs.run(context.Background(), "down"); code != 0 {
			t.Errorf("cleanup: cluster.sh down exited %d: %s", code, stderr)
		}
		if t.Failed() {
			for n := 1; n <= 3; n++ {
				b, _ := os.ReadFile(filepath.Join(cs.dir, fmt.Sprintf("wisp-%d.log", n)))
				t.Logf("wisp-%d.log (tail):\n%s", n, b[max(0, len(b)-3000):])
			}
		}
	})

	stdout, stderr, code := cs.run(ctx, "up")
	if code != 0 {
		t.Fatalf("cluster.sh up exited %d:\n%s", code, stderr)
	}
	servers := fmt.Sprintf("127.0.0.1:%d,127.0.0.1:%d,127.0.0.1:%d", cs.port(9092, 1), cs.port(9092, 2), cs.port(9092, 3))
	if strings.TrimSpace(stdout) != servers {
		t.Fatalf("cluster.sh up printed %q on stdout, want the bootstrap servers %q", stdout, servers)
	}

	k1, k2, k3 := strings.Split(servers, ",")[0], strings.Split(servers, ",")[1], strings.Split(servers, ",")[2]
	diag := runKcmd(t, k1, kcmd.Options{Type: kcmd.TypeDiagnoseConnection})
	for _, addr := range []string{k1, k2, k3} {
		if !regexp.MustCompile(regexp.QuoteMeta(addr) + ` \(NodeID: \d+\) ACCESSIBLE`).MatchString(diag) {
			t.Fatalf("diagnose-connection does not show %s ACCESSIBLE:\n%s", addr, diag)
		}
	}
	if n := strings.Count(diag, "ACCESSIBLE"); n != 3 || strings.Contains(diag, "UNREACHABLE") {
		t.Fatalf("diagnose-connection shows %d accessible brokers, want 3:\n%s", n, diag)
	}
	runKcmd(t, k1, kcmd.Options{Type: kcmd.TypeCreateTopic, Topic: "script", Partitions: 3})
	// Agents other than the Raft leader apply the creation a moment later,
	// and kcmd produce fails at once on a topic its broker does not know.
	for _, addr := range []string{k2, k3} {
		waitTopic(t, addr, "script", 3)
	}
	out := runKcmd(t, k2, kcmd.Options{Type: kcmd.TypeProduce, Topic: "script", Records: "one,,two,,three", Key: "k", Partition: 1})
	if strings.Count(out, "result: partition:1") != 3 {
		t.Fatalf("produce through agent 2:\n%s", out)
	}
	got := runKcmd(t, k3, kcmd.Options{Type: kcmd.TypeFetch, Topic: "script", Partition: 1, MaxRecords: 3, Timeout: 10 * time.Second})
	for i, v := range []string{"one", "two", "three"} {
		if !strings.Contains(got, fmt.Sprintf(`partition:1 offset:%d key:"k" value:"%s"`, i, v)) {
			t.Fatalf("fetch through agent 3 lacks %q at offset %d:\n%s", v, i, got)
		}
	}

	stdout, _, code = cs.run(ctx, "status")
	if code != 0 || strings.Count(stdout, ": ready (pid") != 3 || !strings.Contains(stdout, "minio: running") {
		t.Fatalf("cluster.sh status exited %d with all up:\n%s", code, stdout)
	}

	pidRe := regexp.MustCompile(`^(\d+)`)
	var pids []int
	for n := 1; n <= 3; n++ {
		pids = append(pids, readPid(t, filepath.Join(cs.dir, fmt.Sprintf("wisp-%d.pid", n)), pidRe))
	}
	pids = append(pids, readPid(t, filepath.Join(cs.dir, "minio.env"), regexp.MustCompile(`(?m)^export WISP_MINIO_PID=(\d+)`)))

	// up again: everything runs already, nothing is started twice.
	if stdout, stderr, code := cs.run(ctx, "up"); code != 0 || strings.TrimSpace(stdout) != servers || strings.Contains(stderr, "started") {
		t.Fatalf("second cluster.sh up exited %d, printed %q:\n%s", code, stdout, stderr)
	}
	for n := 1; n <= 3; n++ {
		if pid := readPid(t, filepath.Join(cs.dir, fmt.Sprintf("wisp-%d.pid", n)), pidRe); pid != pids[n-1] {
			t.Fatalf("second up replaced wisp-%d (pid %d, was %d)", n, pid, pids[n-1])
		}
	}

	start := time.Now()
	if _, stderr, code := cs.run(ctx, "down"); code != 0 {
		t.Fatalf("cluster.sh down exited %d:\n%s", code, stderr)
	}
	t.Logf("cluster.sh down took %s", time.Since(start).Round(time.Millisecond))
	for i, pid := range pids {
		if !processGone(pid) {
			t.Errorf("process %d (%d of wisp-1..3, minio) still runs after down", pid, i+1)
		}
	}
	for n := 1; n <= 3; n++ {
		log, _ := os.ReadFile(filepath.Join(cs.dir, fmt.Sprintf("wisp-%d.log", n)))
		if !strings.Contains(string(log), "agent stopped") {
			t.Errorf("wisp-%d did not stop gracefully (no \"agent stopped\" in its log)", n)
		}
	}
	if _, stderr, code := cs.run(ctx, "down"); code != 0 {
		t.Fatalf("cluster.sh down on a stopped cluster exited %d:\n%s", code, stderr)
	}
	if stdout, _, code := cs.run(ctx, "status"); code != 3 || strings.Count(stdout, "stopped") != 4 {
		t.Fatalf("cluster.sh status after down exited %d (want 3):\n%s", code, stdout)
	}
}

// TestClusterScriptRefusesBusyPort: a taken port stops `up` before it
// starts anything, with a message naming the port and the way out.
func TestClusterScriptRefusesBusyPort(t *testing.T) {
	tmp := t.TempDir()
	cs := clusterScript{dir: filepath.Join(tmp, "cluster"), bin: filepath.Join(tmp, "bin", "wisp"), offset: freeClusterOffset(t)}
	busy := cs.port(9092, 2)
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(busy))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, stderr, code := cs.run(ctx, "up")
	if code == 0 {
		cs.run(context.Background(), "down")
		t.Fatal("cluster.sh up succeeded with a Kafka port taken")
	}
	if !strings.Contains(stderr, strconv.Itoa(busy)) || !strings.Contains(stderr, "WISP_CLUSTER_PORT_OFFSET") {
		t.Fatalf("the error does not name port %d and WISP_CLUSTER_PORT_OFFSET:\n%s", busy, stderr)
	}
	entries, _ := os.ReadDir(cs.dir)
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".pid") || e.Name() == "minio.env" {
			t.Fatalf("up failed but left %s behind: it started something", e.Name())
		}
	}
	if _, err := os.Stat(cs.bin); err == nil {
		t.Fatal("up built the binary before checking the ports")
	}
}
