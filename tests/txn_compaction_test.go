package tests

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/wisp-stream/wisp/kafka/recordbatch"
)

// Key compaction of transactional data: records of aborted transactions are
// dropped and never supersede a committed value, and nothing at or above the
// last stable offset is key-compacted while a transaction is open.

// txnCompactedTopic is a one-partition compacted topic with a transactional
// and a plain franz-go producer, and the committed newest value per key that
// a full read should return once compaction is done.
type txnCompactedTopic struct {
	t      *testing.T
	ta     *testAgent
	topic  string
	id     [16]byte
	ctx    context.Context
	tx     *kgo.Client // transactional producer
	plain  *kgo.Client
	latest map[string]fetchedRecord
	pads   int
}

func newTxnCompactedTopic(t *testing.T, ctx context.Context, ta *testAgent, topic string) *txnCompactedTopic {
	t.Helper()
	plain := ta.client(kgo.DefaultProduceTopic(topic), manualPartitioner(), kgo.ProducerBatchCompression(kgo.NoCompression()))
	resp, err := kadm.NewClient(plain).CreateTopics(ctx, 1, 1, map[string]*string{"cleanup.policy": strp("compact")}, topic)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
	tx := ta.client(kgo.TransactionalID(topic+"-producer"), kgo.DefaultProduceTopic(topic), manualPartitioner(),
		kgo.TransactionTimeout(2*time.Minute), kgo.ProducerBatchCompression(kgo.NoCompression()))
	return &txnCompactedTopic{t: t, ta: ta, topic: topic, id: topicIDOf(t, ta, topic), ctx: ctx, tx: tx, plain: plain,
		latest: map[string]fetchedRecord{}}
}

// produce writes key=value records with cl and returns them at their acked
// offsets.
func (tc *txnCompactedTopic) produce(cl *kgo.Client, kvs ...string) []fetchedRecord {
	tc.t.Helper()
	var recs []*kgo.Record
	for i := 0; i < len(kvs); i += 2 {
		recs = append(recs, &kgo.Record{Key: []byte(kvs[i]), Value: []byte(kvs[i+1])})
	}
	res := cl.ProduceSync(tc.ctx, recs...)
	if err := res.FirstErr(); err != nil {
		tc.t.Fatalf("produce %v: %v", kvs, err)
	}
	var out []fetchedRecord
	for _, r := range res {
		out = append(out, fetchedRecord{offset: r.Record.Offset, key: r.Record.Key, value: r.Record.Value})
	}
	return out
}

// committed notes records as the newest committed values of their keys.
func (tc *txnCompactedTopic) committed(recs []fetchedRecord) {
	for _, r := range recs {
		tc.latest[string(r.key)] = r
	}
}

func (tc *txnCompactedTopic) plainWrite(kvs ...string) []fetchedRecord {
	tc.t.Helper()
	recs := tc.produce(tc.plain, kvs...)
	tc.committed(recs)
	return recs
}

// txnWrite writes kvs in one transaction, committed or aborted.
func (tc *txnCompactedTopic) txnWrite(commit bool, kvs ...string) []fetchedRecord {
	tc.t.Helper()
	if err := tc.tx.BeginTransaction(); err != nil {
		tc.t.Fatal(err)
	}
	recs := tc.produce(tc.tx, kvs...)
	if err := tc.tx.EndTransaction(tc.ctx, kgo.TransactionEndTry(commit)); err != nil {
		tc.t.Fatalf("end transaction (commit %v): %v", commit, err)
	}
	if commit {
		tc.committed(recs)
	}
	return recs
}

// want is the expected full read: the newest committed value per key, by
// offset.
func (tc *txnCompactedTopic) want() []fetchedRecord {
	var out []fetchedRecord
	for _, r := range tc.latest {
		out = append(out, r)
	}
	sortByOffset(out)
	return out
}

// keyCompacted waits until every manifest entry of the partition is the
// output of key compaction. A lone flushed entry is below the fan-in of 2
// and would wait forever: it gets a partner, a new value of a padding key.
func (tc *txnCompactedTopic) keyCompacted(timeout time.Duration) {
	tc.t.Helper()
	waitFor(tc.t, timeout, "every entry of "+tc.topic+" key-compacted", func() bool {
		es, _, _ := tc.ta.Metadata().Entries(tc.id, 0, 0, 1<<20)
		flushed := 0
		for _, e := range es {
			if !e.AbsoluteOffsets {
				flushed++
			}
		}
		if flushed == 1 {
			tc.pads++
			tc.plainWrite("pad", fmt.Sprintf("pad-%d", tc.pads))
		}
		return len(es) > 0 && flushed == 0
	})
}

// rawView reads the partition from 0 to the high watermark as stored
// (read_uncommitted, markers included): the data records and the markers'
// offsets.
func (tc *txnCompactedTopic) rawView(cl *kgo.Client) (recs []fetchedRecord, markers []int64) {
	tc.t.Helper()
	info, _ := tc.ta.Metadata().Partition(tc.id, 0)
	for off := int64(0); off < info.HighWatermark; {
		p := fetchAt(tc.t, cl, tc.topic, tc.id, off)
		if p.ErrorCode != 0 {
			tc.t.Fatalf("fetch at %d: error %d", off, p.ErrorCode)
		}
		next := off
		err := recordbatch.Walk(p.RecordBatches, func(h recordbatch.Header, raw []byte) bool {
			next = h.LastOffset() + 1
			if h.LastOffset() < off {
				return true
			}
			if h.Control() {
				markers = append(markers, h.BaseOffset)
				return true
			}
			rs, err := recordbatch.Records(raw)
			if err != nil {
				tc.t.Fatalf("batch at %d: %v", h.BaseOffset, err)
			}
			for _, r := range rs {
				if o := h.BaseOffset + int64(r.OffsetDelta); o >= off {
					recs = append(recs, fetchedRecord{offset: o, key: r.Key, value: r.Value})
				}
			}
			return true
		})
		if err != nil {
			tc.t.Fatalf("fetch at %d: %v", off, err)
		}
		if next <= off {
			tc.t.Fatalf("fetch at %d below the high watermark %d made no progress", off, info.HighWatermark)
		}
		off = next
	}
	return recs, markers
}

// consume reads the partition from the start with franz-go at the given
// isolation level until it has a record at or past offset through.
func (tc *txnCompactedTopic) consume(iso kgo.IsolationLevel, through int64) []fetchedRecord {
	tc.t.Helper()
	cl := tc.ta.client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{tc.topic: {0: kgo.NewOffset().AtStart()}}),
		kgo.FetchIsolationLevel(iso))
	defer cl.Close()
	var got []fetchedRecord
	for len(got) == 0 || got[len(got)-1].offset < through {
		fs := cl.PollFetches(tc.ctx)
		if err := tc.ctx.Err(); err != nil {
			tc.t.Fatalf("consume: %v after %+v", err, got)
		}
		fs.EachError(func(_ string, p int32, err error) { tc.t.Fatalf("consume %d: %v", p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			got = append(got, fetchedRecord{offset: r.Offset, key: r.Key, value: r.Value})
		})
	}
	return got
}

func sameFetched(t testing.TB, what string, got, want []fetchedRecord) {
	t.Helper()
	same := len(got) == len(want)
	for i := 0; same && i < len(got); i++ {
		same = got[i].offset == want[i].offset && string(got[i].key) == string(want[i].key) && string(got[i].value) == string(want[i].value)
	}
	if !same {
		t.Fatalf("%s:\n got %s\nwant %s", what, showFetched(got), showFetched(want))
	}
}

func showFetched(rs []fetchedRecord) string {
	s := "["
	for i, r := range rs {
		if i > 0 {
			s += " "
		}
		s += fmt.Sprintf("%d:%s=%s", r.offset, r.key, r.value)
	}
	return s + "]"
}

// TestTxnCompactionDropsAbortedRecords: on a compacted topic a franz-go
// transactional producer commits K=v1, then writes K=v2 (and a key only it
// ever writes) in a transaction it aborts, then other keys, plain and in a
// committed transaction. Once everything is key-compacted, the stored
// partition holds K=v1 at its acked offset and no aborted record; the ABORT
// marker and the aborted-transaction index entry are both still there; and
// read_committed and read_uncommitted consumers both read exactly the
// newest committed value per key at the offsets the produces were acked
// with.
func TestTxnCompactionDropsAbortedRecords(t *testing.T) {
	ta := startAgent(t, compactionConfig(t, 2, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	tc := newTxnCompactedTopic(t, ctx, ta, "txc-aborted")

	v1 := tc.txnWrite(true, "K", "v1")[0]
	aborted := tc.txnWrite(false, "K", "v2", "only-aborted", "x")
	tc.plainWrite("A", "a1")
	tc.txnWrite(true, "A", "a2", "B", "b1")
	tc.keyCompacted(90 * time.Second)

	want := tc.want()
	if k := tc.latest["K"]; k.offset != v1.offset {
		t.Fatalf("test bug: K's newest committed value is at %d, want v1's %d", k.offset, v1.offset)
	}
	cl := ta.client()
	recs, markers := tc.rawView(cl)
	sameFetched(t, "stored records after compaction (aborted ones gone)", recs, want)

	// The aborted transaction is still indexed, and its ABORT marker is
	// still stored where the index says: read_committed clients rely on
	// the two together.
	info, _ := ta.Metadata().Partition(tc.id, 0)
	ab := ta.Metadata().AbortedTxns(tc.id, 0, 0, info.HighWatermark)
	if len(ab) != 1 || ab[0].FirstOffset != aborted[0].offset {
		t.Fatalf("aborted index %+v, want one transaction starting at %d", ab, aborted[0].offset)
	}
	if !slices.Contains(markers, ab[0].LastOffset) {
		t.Fatalf("no marker at %d (markers at %v): the ABORT marker went while the index still names it", ab[0].LastOffset, markers)
	}
	if len(markers) != 3 {
		t.Fatalf("markers at %v, want the 3 of the 3 transactions", markers)
	}

	last := want[len(want)-1].offset
	sameFetched(t, "read_committed consumer", tc.consume(kgo.ReadCommitted(), last), want)
	sameFetched(t, "read_uncommitted consumer", tc.consume(kgo.ReadUncommitted(), last), want)
}

// TestTxnCompactionWaitsForLastStableOffset: on a compacted topic K=old is
// written and key-compacted; then a transaction writes K=new and stays open
// while plain records follow it. Through a full compaction pass nothing at or
// above the last stable offset is key-compacted and K=old is still stored.
// Once the transaction ends its fate decides: committed, K=new is the only
// value of K after compaction; aborted, K=old is.
func TestTxnCompactionWaitsForLastStableOffset(t *testing.T) {
	for _, commit := range []bool{true, false} {
		name := map[bool]string{true: "commit", false: "abort"}[commit]
		t.Run(name, func(t *testing.T) {
			ta := startAgent(t, compactionConfig(t, 2, nil))
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			tc := newTxnCompactedTopic(t, ctx, ta, "txc-open-"+name)
			witness := newCompactionWitness(t, ctx, ta, "txc-witness-"+name)

			old := tc.plainWrite("K", "old")[0]
			tc.plainWrite("A", "a")
			tc.plainWrite("B", "b")
			tc.keyCompacted(60 * time.Second)

			if err := tc.tx.BeginTransaction(); err != nil {
				t.Fatal(err)
			}
			fresh := tc.produce(tc.tx, "K", "new")[0]
			var after []fetchedRecord
			for _, kv := range [][2]string{{"C", "c"}, {"D", "d"}, {"E", "e"}} {
				after = append(after, tc.plainWrite(kv[0], kv[1])...)
			}
			witness.fullPass()

			lso, _, _ := ta.Metadata().LastStableOffset(tc.id, 0)
			if lso != fresh.offset {
				t.Fatalf("last stable offset %d during the transaction, want %d (its first offset)", lso, fresh.offset)
			}
			es, _, _ := ta.Metadata().Entries(tc.id, 0, 0, 1<<20)
			for _, e := range es {
				if e.LastOffset >= lso && e.AbsoluteOffsets {
					t.Fatalf("entry %d..%d was key-compacted while the transaction at %d is open", e.BaseOffset, e.LastOffset, lso)
				}
			}
			// Stored now: the compacted head (K=old still in it) and
			// everything from the transaction on, as written.
			var open []fetchedRecord
			for _, r := range tc.latest {
				if r.offset < fresh.offset {
					open = append(open, r)
				}
			}
			open = append(open, fresh)
			open = append(open, after...)
			sortByOffset(open)
			cl := ta.client()
			recs, _ := tc.rawView(cl)
			sameFetched(t, "stored records while the transaction is open", recs, open)

			if err := tc.tx.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
				t.Fatalf("end transaction: %v", err)
			}
			if commit {
				tc.committed([]fetchedRecord{fresh})
			}
			tc.keyCompacted(60 * time.Second)
			want := tc.want()
			wantK := old
			if commit {
				wantK = fresh
			}
			if !slices.ContainsFunc(want, func(r fetchedRecord) bool { return r.offset == wantK.offset }) {
				t.Fatalf("expected records %s lack K=%s", showFetched(want), wantK.value)
			}
			recs, _ = tc.rawView(cl)
			sameFetched(t, "stored records after the transaction ended and compaction", recs, want)
			sameFetched(t, "read_committed consumer", tc.consume(kgo.ReadCommitted(), want[len(want)-1].offset), want)
		})
	}
}

// compactionWitness is a plain topic whose merges show that compaction
// passes ran: a pass plans every partition before it commits, and passes
// run one after another.
type compactionWitness struct {
	t     *testing.T
	ta    *testAgent
	topic string
	id    [16]byte
	ctx   context.Context
	cl    *kgo.Client
}

func newCompactionWitness(t *testing.T, ctx context.Context, ta *testAgent, topic string) *compactionWitness {
	t.Helper()
	cl := ta.client(kgo.DefaultProduceTopic(topic), manualPartitioner())
	createTopic(t, cl, topic, 1)
	return &compactionWitness{t: t, ta: ta, topic: topic, id: topicIDOf(t, ta, topic), ctx: ctx, cl: cl}
}

// fullPass returns once a compaction pass that planned every partition
// after the call has committed. It flushes two files to the witness and
// waits until one entry covers both, twice. The pass that merged the first
// pair may have planned other partitions before the call; the second pair
// (level 0 again, merged by a level-1 step) needs a later pass, and passes
// run one after another, so that one began after the first merge was
// committed, which was after the call.
func (w *compactionWitness) fullPass() {
	w.t.Helper()
	for round := range 2 {
		var offs []int64
		for i := range 2 {
			res := w.cl.ProduceSync(w.ctx, &kgo.Record{Value: fmt.Appendf(nil, "witness-%d-%d", round, i)})
			if err := res.FirstErr(); err != nil {
				w.t.Fatalf("produce to %s: %v", w.topic, err)
			}
			offs = append(offs, res[0].Record.Offset)
		}
		waitFor(w.t, 60*time.Second, fmt.Sprintf("a compaction pass merging %s at %v", w.topic, offs), func() bool {
			es, _, _ := w.ta.Metadata().Entries(w.id, 0, offs[0], 1)
			return len(es) == 1 && es[0].BaseOffset <= offs[0] && es[0].LastOffset >= offs[1]
		})
	}
}
