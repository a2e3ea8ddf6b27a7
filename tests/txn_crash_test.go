package tests

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/wisp-stream/wisp/fsm"
)

// TestTxnPreparedThenAgentCrashes kills the agent writing two transactions'
// commit markers after their outcome is in Raft (PrepareCommit) and before
// the markers reach the bucket. The first transaction is finished by its
// producer's retry of EndTxn on another agent, the second, whose producer is
// gone, by the Raft leader's loop. Both end up committed exactly once.
func TestTxnPreparedThenAgentCrashes(t *testing.T) {
	c := startCluster(t, 2)
	// The agent that will die flushes slowly, so its markers are still
	// pending when it is killed.
	slow := c.addJoiningLive(withFlushInterval(3 * time.Second))
	c.waitLiveVoters(3)
	const topic = "txn-crash"
	fast := c.agents[0]
	seeds := kgo.SeedBrokers(fast.AdvertisedAddr(), c.agents[1].AdvertisedAddr())
	createTopicIfMissing(t, fast.client(seeds), topic, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	// Two open transactions with one record each.
	producers := map[string]*kgo.Client{}
	for _, id := range []string{"crash-a", "crash-b"} {
		p := fast.client(seeds, kgo.TransactionalID(id), kgo.DefaultProduceTopic(topic), kgo.TransactionTimeout(time.Minute))
		if err := p.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		if err := p.ProduceSync(ctx, &kgo.Record{Value: []byte(id)}).FirstErr(); err != nil {
			t.Fatalf("%s: produce: %v", id, err)
		}
		producers[id] = p
	}

	// EndTxn(commit) for both, sent to the slow agent directly.
	toSlow := slow.client()
	md := fast.Metadata()
	for _, id := range []string{"crash-a", "crash-b"} {
		ti, ok := md.Txn(id)
		if !ok || ti.State != fsm.TxnOngoing {
			t.Fatalf("%s: %+v before EndTxn", id, ti)
		}
		req := kmsg.NewPtrEndTxnRequest()
		req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit = id, ti.ProducerID, ti.ProducerEpoch, true
		go toSlow.SeedBrokers()[0].Request(ctx, req) // answered only after the markers' flush, which never comes
		waitFor(t, 30*time.Second, id+" prepared", func() bool {
			ti, _ := md.Txn(id)
			return ti.State == fsm.TxnPrepareCommit
		})
	}
	slow.crash()
	if _, hw, _ := md.LastStableOffset(topicIDOf(t, fast, topic), 0); hw != 2 {
		t.Fatalf("high watermark %d after the crash, want 2: no marker may have been written", hw)
	}

	// The first producer commits as usual: its EndTxn finds the
	// transaction prepared and writes the markers.
	if err := producers["crash-a"].EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatalf("crash-a commit after the crash: %v", err)
	}
	// The second is finished by the leader's loop.
	waitFor(t, time.Minute, "the leader to finish the orphaned prepared transaction", func() bool {
		ti, _ := md.Txn("crash-b")
		return ti.State == fsm.TxnCompleteCommit
	})
	if ti, _ := md.Txn("crash-a"); ti.State != fsm.TxnCompleteCommit {
		t.Fatalf("crash-a is %v", ti.State)
	}

	writeEnds(t, fast.client(seeds, kgo.RecordPartitioner(kgo.ManualPartitioner())), topic, 1)
	got := consumeAll(t, fast, topic, 1, kgo.ReadCommitted(), seeds)
	slices.Sort(got)
	if want := []string{"crash-a", "crash-b"}; !slices.Equal(got, want) {
		t.Fatalf("read_committed saw %v, want %v", got, want)
	}
	if lso, hw, _ := md.LastStableOffset(topicIDOf(t, fast, topic), 0); lso != hw {
		t.Fatalf("last stable offset %d below the high watermark %d after both commits", lso, hw)
	}
}
