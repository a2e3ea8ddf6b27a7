package tests

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/wisp-stream/wisp/objstore"
)

// TestNothingAckedWithoutTheBucket: while every PUT fails, producers get
// retriable errors and no acks; once the bucket is back, retries succeed and
// the log holds exactly what was acked.
func TestNothingAckedWithoutTheBucket(t *testing.T) {
	var faulty *objstore.Faulty
	ta := startAgent(t, testConfig(t, withStore(func(s objstore.Store) objstore.Store {
		faulty = objstore.NewFaulty(s)
		return faulty
	})))
	createTopic(t, ta.client(), "outage", 1)
	c := dialRaw(t, ta.AdvertisedAddr())

	faulty.SetErr(objstore.OpPut, errors.New("injected: bucket unreachable"))
	p := produceRaw(t, c, "outage", -1, plainBatch("lost?"))
	if p.ErrorCode == 0 {
		t.Fatal("produce acked while the bucket refused every PUT")
	}
	if !kerr.IsRetriable(kerr.ErrorForCode(p.ErrorCode)) {
		t.Fatalf("error %v is not retriable; producers would give up instead of retrying", kerr.ErrorForCode(p.ErrorCode))
	}
	info, _ := ta.Metadata().Topic("outage")
	if pi, _ := ta.Metadata().Partition(info.ID, 0); pi.HighWatermark != 0 {
		t.Fatalf("high watermark %d after a failed upload; nothing may be committed", pi.HighWatermark)
	}

	// A real client with retries rides out the outage.
	cl := ta.client(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }))
	var wg sync.WaitGroup
	wg.Add(1)
	var acked []*kgo.Record
	go func() {
		defer wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var recs []*kgo.Record
		for i := range 50 {
			recs = append(recs, &kgo.Record{Topic: "outage", Value: fmt.Appendf(nil, "r%d", i)})
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Errorf("produce across the outage: %v", err)
			return
		}
		acked = recs
	}()
	time.Sleep(300 * time.Millisecond)
	faulty.SetErr(objstore.OpPut, nil)
	wg.Wait()
	if t.Failed() {
		return
	}
	got := consumeN(t, ta, "outage", 50)
	for i, r := range got {
		if string(r.Value) != string(acked[i].Value) || r.Offset != acked[i].Offset {
			t.Fatalf("record %d: consumed %q at %d, acked %q at %d", i, r.Value, r.Offset, acked[i].Value, acked[i].Offset)
		}
	}
}

// TestGracefulShutdownCommitsPending: a long flush interval keeps data
// pending; shutting down must commit it (and ack it) rather than drop it.
func TestGracefulShutdownCommitsPending(t *testing.T) {
	onBackends(t, testGracefulShutdownCommitsPending)
}

func testGracefulShutdownCommitsPending(t *testing.T, bucket string) {
	ta := startAgent(t, testConfig(t, withFlushInterval(time.Minute), withBucket(bucket)))
	createTopic(t, ta.client(), "pending", 1)
	c := dialRaw(t, ta.AdvertisedAddr())
	acked := make(chan int16, 1)
	go func() { acked <- produceRaw(t, c, "pending", -1, plainBatch("keep me")).ErrorCode }()
	info, _ := ta.Metadata().Topic("pending")
	time.Sleep(200 * time.Millisecond) // the request reaches the pending file
	ta.stop()
	if code := <-acked; code != 0 {
		t.Fatalf("pending produce answered with %v on shutdown, want an ack", kerr.ErrorForCode(code))
	}
	ta = ta.restart()
	if pi, _ := ta.Metadata().Partition(info.ID, 0); pi.HighWatermark != 1 {
		t.Fatalf("after restart the high watermark is %d, want 1: the pending file was not committed", pi.HighWatermark)
	}
	if got := consumeN(t, ta, "pending", 1); string(got[0].Value) != "keep me" {
		t.Fatalf("consumed %q", got[0].Value)
	}
}

// TestRestartedAgentAnswersWithEverythingItAcked: an agent restarted on its
// data dir replays its Raft log before it answers, so a consumer asking for
// the end of a partition right after the restart sees every acked record.
// Raft counts entries as applied when it hands them to the state machine,
// not when the state machine is done with them: waiting for that count
// alone let a restarted agent answer from the middle of its replay.
func TestRestartedAgentAnswersWithEverythingItAcked(t *testing.T) {
	const (
		topic     = "replayed"
		producers = 8
		restarts  = 4
	)
	ta := startAgent(t, testConfig(t, withFlushInterval(time.Millisecond)))
	createTopic(t, ta.client(), topic, 1)
	// Many small flushes make a long Raft log, each flush one entry.
	end := produceOneByOne(t, ta, topic, producers, 300)
	info, _ := ta.Metadata().Topic(topic)
	applied := ta.Metadata().AppliedIndex()
	t.Logf("%d records acked; raft log at index %d", end, applied)
	for r := range restarts {
		ta = ta.restart()
		if got := ta.Metadata().AppliedIndex(); got < applied {
			t.Errorf("restart %d: the agent started at raft index %d, before %d which it had applied", r, got, applied)
		}
		if pi, _ := ta.Metadata().Partition(info.ID, 0); pi.HighWatermark != end {
			t.Fatalf("restart %d: high watermark %d right after the restart, want %d: the agent answered before replaying its log", r, pi.HighWatermark, end)
		}
		applied = ta.Metadata().AppliedIndex()
	}
}

// produceOneByOne has producers franz-go clients of ta each produce each
// records to topic, one ProduceSync at a time, and returns the partition's
// end after the last ack: with a short flush interval, a long Raft log of
// small commits.
func produceOneByOne(t *testing.T, ta *testAgent, topic string, producers, each int) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var (
		mu  sync.Mutex
		end int64
		wg  sync.WaitGroup
	)
	for i := range producers {
		cl := ta.client(kgo.ProducerLinger(0))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range each {
				r, err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: fmt.Appendf(nil, "p%d-%d", i, j)}).First()
				if err != nil {
					t.Errorf("produce: %v", err)
					return
				}
				mu.Lock()
				end = max(end, r.Offset+1)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	return end
}
