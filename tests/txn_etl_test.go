package tests

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestTxnConsumeTransformProduceSurvivesCrashes runs two exactly-once
// consume-transform-produce workers (franz-go GroupTransactSession: read
// input, write one output per input record and commit the input offsets in
// the same transaction) on a 3-agent cluster while agents are killed
// mid-transaction: first the Raft leader, then, after a replacement joined,
// the agent coordinating the workers' group. The output, read with
// read_committed, must hold each input record's result exactly once.
func TestTxnConsumeTransformProduceSurvivesCrashes(t *testing.T) {
	c := startCluster(t, 3)
	const (
		in, out, group = "etl-in", "etl-out", "etl-group"
		parts          = 4
		records        = 1200
	)
	seed := c.agents[0].client(kgo.SeedBrokers(c.seeds()...))
	createTopicIfMissing(t, seed, in, parts)
	createTopicIfMissing(t, seed, out, parts)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	var input []*kgo.Record
	for i := range records {
		input = append(input, &kgo.Record{Topic: in, Key: []byte(fmt.Sprint(i % 97)), Value: []byte(fmt.Sprintf("in-%d", i))})
	}
	if err := seed.ProduceSync(ctx, input...).FirstErr(); err != nil {
		t.Fatalf("produce input: %v", err)
	}

	seeds := c.seeds()
	var (
		wg       sync.WaitGroup
		stop     = make(chan struct{})
		restarts atomic.Int64
		commits  atomic.Int64
		aborts   atomic.Int64
	)
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			etlWorker(t, seeds, fmt.Sprintf("etl-worker-%d", w), in, out, group, stop, &restarts, &commits, &aborts)
		}()
	}

	// progress is how many input records the group has committed. A new
	// client each time: a client keeps using a coordinator it found until
	// that answers NOT_COORDINATOR, which a dead agent never does.
	progress := func() int64 {
		cl, err := kgo.NewClient(kgo.SeedBrokers(c.seeds()...))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		os, err := kadm.NewClient(cl).FetchOffsets(ctx, group)
		if err != nil {
			return -1
		}
		var n int64
		os.Each(func(o kadm.OffsetResponse) {
			if o.Err == nil && o.At > 0 {
				n += o.At
			}
		})
		return n
	}
	waitProgress := func(atLeast int64) {
		t.Helper()
		waitFor(t, 2*time.Minute, fmt.Sprintf("the workers to commit %d input records", atLeast), func() bool { return progress() >= atLeast })
	}

	waitProgress(records / 5)
	leader := c.leader()
	t.Logf("killing the raft leader (node %d) at %d records committed", leader.NodeID(), progress())
	leader.crash()
	waitProgress(records / 2)
	c.addJoiningLive()
	c.waitLiveVoters(3)
	coord := c.groupCoordinator(group)
	t.Logf("killing the group coordinator (node %d) at %d records committed", coord.NodeID(), progress())
	coord.crash()
	waitProgress(records)
	close(stop)
	wg.Wait()
	t.Logf("%d transactions committed, %d aborted, %d worker restarts", commits.Load(), aborts.Load(), restarts.Load())

	live := c.live()[0]
	writeEnds(t, live.client(kgo.SeedBrokers(c.seeds()...), kgo.RecordPartitioner(kgo.ManualPartitioner())), out, parts)
	got := consumeAll(t, live, out, parts, kgo.ReadCommitted(), kgo.SeedBrokers(c.seeds()...))
	seen := map[string]int{}
	for _, v := range got {
		seen[v]++
	}
	var missing, dup []string
	for i := range records {
		switch n := seen[fmt.Sprintf("out-%d", i)]; {
		case n == 0:
			missing = append(missing, fmt.Sprint(i))
		case n > 1:
			dup = append(dup, fmt.Sprintf("%d (x%d)", i, n))
		}
	}
	if len(missing) > 0 || len(dup) > 0 || len(got) != records {
		t.Fatalf("read_committed output has %d records for %d inputs; missing %v; duplicated %v", len(got), records, missing, dup)
	}
}

// addJoiningLive starts one more agent joined to a live one (c.add joins
// the first agent, which may be dead).
func (c *cluster) addJoiningLive(opts ...agentOption) *testAgent {
	c.t.Helper()
	cfg := testConfig(c.t, append([]agentOption{withBucket(c.bucket)}, opts...)...)
	cfg.Join = []string{c.live()[0].GossipAddr()}
	ta := startAgent(c.t, cfg)
	c.agents = append(c.agents, ta)
	return ta
}

// kgoTestLogger logs a franz-go client to stderr when WISP_TEST_KGO_LOG is
// set (to info, or debug).
func kgoTestLogger(name string) kgo.Opt {
	level := kgo.LogLevelNone
	switch os.Getenv("WISP_TEST_KGO_LOG") {
	case "":
	case "debug":
		level = kgo.LogLevelDebug
	default:
		level = kgo.LogLevelInfo
	}
	return kgo.WithLogger(kgo.BasicLogger(os.Stderr, level, func() string {
		return time.Now().Format("15:04:05.000 ") + name + " "
	}))
}

// waitLiveVoters waits until Raft has n voters, all of them live agents:
// the dead are removed after --dead-timeout and replaced.
func (c *cluster) waitLiveVoters(n int) {
	c.t.Helper()
	waitFor(c.t, time.Minute, fmt.Sprintf("%d live raft voters", n), func() bool {
		l := c.leader()
		if l == nil {
			return false
		}
		servers, err := l.RaftServers()
		if err != nil {
			return false
		}
		live := map[string]bool{}
		for _, a := range c.live() {
			live[fmt.Sprint(a.NodeID())] = true
		}
		v := 0
		for id, s := range servers {
			if s == "voter" {
				if !live[id] {
					return false
				}
				v++
			}
		}
		return v == n
	})
}

// groupCoordinator finds the live agent coordinating group.
func (c *cluster) groupCoordinator(group string) *testAgent {
	c.t.Helper()
	cl := c.live()[0].client(kgo.SeedBrokers(c.seeds()...))
	adm := kadm.NewClient(cl)
	var node int32 = -1
	waitFor(c.t, 30*time.Second, "the group coordinator", func() bool {
		r, ok := adm.FindGroupCoordinators(context.Background(), group)[group]
		if !ok || r.Err != nil {
			return false
		}
		node = r.NodeID
		return true
	})
	for _, a := range c.live() {
		if a.NodeID() == node {
			return a
		}
	}
	c.t.Fatalf("coordinator node %d is not a live agent", node)
	return nil
}

// etlWorker consumes in and writes one "out-N" record per "in-N" record,
// in transactions that also commit the consumed offsets. When its session
// fails (an agent died under it in a way the client does not retry) it
// starts a new one with the same transactional id, as a restarted
// application would; that fences the old one.
func etlWorker(t *testing.T, seeds []string, txnID, in, out, group string, stop <-chan struct{}, restarts, commits, aborts *atomic.Int64) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-stop
		cancel()
	}()
	for ctx.Err() == nil {
		sess, err := kgo.NewGroupTransactSession(
			kgo.SeedBrokers(seeds...),
			kgo.TransactionalID(txnID),
			kgo.TransactionTimeout(10*time.Second),
			kgo.ConsumerGroup(group),
			kgo.ConsumeTopics(in),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.FetchIsolationLevel(kgo.ReadCommitted()),
			kgo.RequireStableFetchOffsets(),
			kgo.DefaultProduceTopic(out),
			kgo.SessionTimeout(6*time.Second),
			kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond }),
			kgoTestLogger(txnID),
		)
		if err != nil {
			t.Errorf("%s: new session: %v", txnID, err)
			return
		}
		err = runSession(ctx, sess, commits, aborts)
		sess.Close()
		if ctx.Err() != nil {
			return
		}
		restarts.Add(1)
		t.Logf("%s: session failed, starting a new one: %v", txnID, err)
	}
}

// runSession processes batches until ctx ends or the session fails.
func runSession(ctx context.Context, sess *kgo.GroupTransactSession, commits, aborts *atomic.Int64) error {
	for {
		fs := sess.PollRecords(ctx, 20)
		if ctx.Err() != nil || fs.IsClientClosed() {
			return ctx.Err()
		}
		if err := sess.Begin(); err != nil {
			return fmt.Errorf("begin: %w", err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			n, ok := strings.CutPrefix(string(r.Value), "in-")
			if !ok {
				return
			}
			// A failed produce makes End abort.
			sess.Produce(ctx, &kgo.Record{Key: r.Key, Value: []byte("out-" + n)}, nil)
		})
		committed, err := sess.End(ctx, kgo.TryCommit)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("end: %w", err)
		}
		// Not committed: aborted, and the records are consumed again
		// from the committed offsets.
		if committed {
			commits.Add(1)
		} else {
			aborts.Add(1)
		}
	}
}
