package tests

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Transactions with franz-go: commit and abort seen through read_committed
// and read_uncommitted consumers, the last stable offset holding consumers
// back, zombie fencing and timeouts. The consume-transform-produce loop with
// agents killed mid-transaction is in txn_etl_test.go.

// consumeAll reads topic from the start with the given isolation level until
// every partition has delivered a record whose value is "end" (sentinels
// written last), and returns the other values in consumption order.
func consumeAll(t testing.TB, ta *testAgent, topic string, partitions int, iso kgo.IsolationLevel, opts ...kgo.Opt) []string {
	t.Helper()
	opts = append([]kgo.Opt{kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(iso)}, opts...)
	cl := ta.client(opts...)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	ended := map[int32]bool{}
	var got []string
	for len(ended) < partitions {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d records and %d of %d end sentinels before the deadline: %v", len(got), len(ended), partitions, got)
		}
		for _, e := range fs.Errors() {
			t.Fatalf("fetch %s/%d: %v", e.Topic, e.Partition, e.Err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if string(r.Value) == "end" {
				ended[r.Partition] = true
				return
			}
			got = append(got, string(r.Value))
		})
	}
	return got
}

// writeEnds commits one "end" sentinel into every partition of topic.
func writeEnds(t testing.TB, cl *kgo.Client, topic string, partitions int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var recs []*kgo.Record
	for p := range partitions {
		recs = append(recs, &kgo.Record{Topic: topic, Partition: int32(p), Value: []byte("end")})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce end sentinels: %v", err)
	}
}

func sortedCopy(s []string) []string { return slices.Sorted(slices.Values(s)) }

// TestTxnCommitAndAbortIsolation: a transactional producer commits every
// other transaction and aborts the rest; read_committed sees exactly the
// committed records, read_uncommitted sees them all.
func TestTxnCommitAndAbortIsolation(t *testing.T) {
	ta := startAgent(t, testConfig(t))
	const topic, parts = "txn-iso", 3
	createTopicIfMissing(t, ta.client(), topic, parts)
	p := ta.client(kgo.TransactionalID("iso-producer"), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()), kgo.TransactionTimeout(30*time.Second))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	var committed, all []string
	for txn := range 6 {
		if err := p.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for i := range 9 {
			v := fmt.Sprintf("txn%d-rec%d", txn, i)
			if err := p.ProduceSync(ctx, &kgo.Record{Value: []byte(v)}).FirstErr(); err != nil {
				t.Fatalf("produce %s: %v", v, err)
			}
			all = append(all, v)
			if txn%2 == 0 {
				committed = append(committed, v)
			}
		}
		if err := p.EndTransaction(ctx, kgo.TransactionEndTry(txn%2 == 0)); err != nil {
			t.Fatalf("end transaction %d: %v", txn, err)
		}
	}
	writeEnds(t, ta.client(kgo.RecordPartitioner(kgo.ManualPartitioner())), topic, parts)

	if got := consumeAll(t, ta, topic, parts, kgo.ReadCommitted()); !slices.Equal(sortedCopy(got), sortedCopy(committed)) {
		t.Fatalf("read_committed saw %d records:\n%v\nwant the %d committed:\n%v", len(got), sortedCopy(got), len(committed), sortedCopy(committed))
	}
	if got := consumeAll(t, ta, topic, parts, kgo.ReadUncommitted()); !slices.Equal(sortedCopy(got), sortedCopy(all)) {
		t.Fatalf("read_uncommitted saw %d records, want all %d", len(got), len(all))
	}

	// The admin view: the producer's transactional id is known and done.
	adm := kadm.NewClient(ta.client())
	described, err := adm.DescribeTransactions(ctx, "iso-producer")
	if err != nil {
		t.Fatal(err)
	}
	d, ok := described["iso-producer"]
	if !ok || d.Err != nil || d.State != "CompleteAbort" {
		t.Fatalf("DescribeTransactions: %+v (ok %v)", d, ok)
	}
	listed, err := adm.ListTransactions(ctx, nil, nil)
	if err != nil || !slices.Contains(listed.TransactionalIDs(), "iso-producer") {
		t.Fatalf("ListTransactions: %v %v", listed.TransactionalIDs(), err)
	}
}

// TestTxnOpenTransactionHoldsBackReadCommitted: while a transaction is
// open, read_committed consumers stop at its first offset (the last stable
// offset), even for later non-transactional records; ListOffsets with
// read_committed says the same; the commit releases everything.
func TestTxnOpenTransactionHoldsBackReadCommitted(t *testing.T) {
	ta := startAgent(t, testConfig(t))
	const topic = "txn-lso"
	createTopicIfMissing(t, ta.client(), topic, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	plain := ta.client(kgo.DefaultProduceTopic(topic))
	if err := plain.ProduceSync(ctx, &kgo.Record{Value: []byte("before")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	p := ta.client(kgo.TransactionalID("lso-producer"), kgo.DefaultProduceTopic(topic))
	if err := p.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := p.ProduceSync(ctx, &kgo.Record{Value: []byte("in-txn")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := plain.ProduceSync(ctx, &kgo.Record{Value: []byte("after")}).FirstErr(); err != nil {
		t.Fatal(err)
	}

	adm := kadm.NewClient(ta.client())
	end := func(committed bool) int64 {
		t.Helper()
		var os kadm.ListedOffsets
		var err error
		if committed {
			os, err = adm.ListCommittedOffsets(ctx, topic)
		} else {
			os, err = adm.ListEndOffsets(ctx, topic)
		}
		if err != nil {
			t.Fatal(err)
		}
		o, _ := os.Lookup(topic, 0)
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		return o.Offset
	}
	if lso, hw := end(true), end(false); lso != 1 || hw != 3 {
		t.Fatalf("during the transaction: read_committed end %d, high watermark %d; want 1 and 3", lso, hw)
	}

	c := ta.client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	var got []string
	poll := func(want int) {
		t.Helper()
		for len(got) < want {
			fs := c.PollFetches(ctx)
			if ctx.Err() != nil {
				t.Fatalf("read_committed got %v, want %d records", got, want)
			}
			fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
		}
	}
	poll(1)
	// A fetch that waits for more must come back empty while the
	// transaction is open.
	short, cancelShort := context.WithTimeout(ctx, 1500*time.Millisecond)
	fs := c.PollFetches(short)
	cancelShort()
	fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	if !slices.Equal(got, []string{"before"}) {
		t.Fatalf("read_committed during an open transaction saw %v, want only [before]", got)
	}
	if err := p.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	poll(3)
	if want := []string{"before", "in-txn", "after"}; !slices.Equal(got, want) {
		t.Fatalf("after the commit read_committed saw %v, want %v", got, want)
	}
	if lso, hw := end(true), end(false); lso != hw || hw != 4 {
		t.Fatalf("after the commit: read_committed end %d, high watermark %d; want both 4 (3 records and a marker)", lso, hw)
	}
}

// TestTxnZombieFenced: a second producer with the same transactional id
// fences the first; the first's open transaction is aborted and its writes
// and commit are refused.
func TestTxnZombieFenced(t *testing.T) {
	ta := startAgent(t, testConfig(t))
	const topic = "txn-zombie"
	createTopicIfMissing(t, ta.client(), topic, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	zombie := ta.client(kgo.TransactionalID("shared-id"), kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	if err := zombie.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := zombie.ProduceSync(ctx, &kgo.Record{Value: []byte("zombie-1")}).FirstErr(); err != nil {
		t.Fatal(err)
	}

	// The new instance starts: its InitProducerId aborts the zombie's
	// transaction and bumps the epoch.
	fresh := ta.client(kgo.TransactionalID("shared-id"), kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	if err := fresh.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := fresh.ProduceSync(ctx, &kgo.Record{Value: []byte("fresh-1")}).FirstErr(); err != nil {
		t.Fatalf("new instance produce: %v", err)
	}

	err := zombie.ProduceSync(ctx, &kgo.Record{Value: []byte("zombie-2")}).FirstErr()
	if err == nil {
		err = zombie.EndTransaction(ctx, kgo.TryCommit)
	}
	if !errors.Is(err, kerr.ProducerFenced) && !errors.Is(err, kerr.InvalidProducerEpoch) {
		t.Fatalf("zombie was not fenced: %v", err)
	}
	if err := fresh.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatalf("new instance commit: %v", err)
	}
	writeEnds(t, ta.client(kgo.RecordPartitioner(kgo.ManualPartitioner())), topic, 2)
	if got := consumeAll(t, ta, topic, 2, kgo.ReadCommitted()); !slices.Equal(got, []string{"fresh-1"}) {
		t.Fatalf("read_committed saw %v, want only the new instance's [fresh-1]", got)
	}
}

// TestTxnHungTransactionTimesOut: a producer that opens a transaction and
// goes silent is aborted after its transaction timeout by the leader's
// loop: read_committed consumers move on, and the producer is fenced when
// it comes back.
func TestTxnHungTransactionTimesOut(t *testing.T) {
	ta := startAgent(t, testConfig(t))
	const topic = "txn-hung"
	createTopicIfMissing(t, ta.client(), topic, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	hung := ta.client(kgo.TransactionalID("hung-id"), kgo.DefaultProduceTopic(topic), kgo.TransactionTimeout(2*time.Second))
	if err := hung.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := hung.ProduceSync(ctx, &kgo.Record{Value: []byte("never-committed")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	plain := ta.client(kgo.DefaultProduceTopic(topic))
	if err := plain.ProduceSync(ctx, &kgo.Record{Value: []byte("later")}).FirstErr(); err != nil {
		t.Fatal(err)
	}

	adm := kadm.NewClient(ta.client())
	waitFor(t, 30*time.Second, "the hung transaction to be aborted", func() bool {
		d, err := adm.DescribeTransactions(ctx, "hung-id")
		return err == nil && d["hung-id"].State == "CompleteAbort"
	})
	writeEnds(t, plain, topic, 1)
	if got := consumeAll(t, ta, topic, 1, kgo.ReadCommitted()); !slices.Equal(got, []string{"later"}) {
		t.Fatalf("read_committed saw %v, want [later]", got)
	}
	err := hung.EndTransaction(ctx, kgo.TryCommit)
	if err == nil || !(errors.Is(err, kerr.ProducerFenced) || errors.Is(err, kerr.InvalidProducerEpoch) || strings.Contains(err.Error(), "fenced")) {
		t.Fatalf("the timed-out producer's commit: %v, want it fenced", err)
	}
}
