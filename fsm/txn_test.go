package fsm

import (
	"reflect"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

// txnData is a transactional batch of a producer.
func txnData(id [16]byte, p int32, pos int64, records int32, pid int64, epoch int16, seq int32) BatchMeta {
	b := idem(id, p, pos, 10, records, pid, epoch, seq)
	b.Transactional = true
	return b
}

// marker is a transaction marker (one control record) of a producer.
func marker(id [16]byte, p int32, pos int64, pid int64, epoch int16) BatchMeta {
	return BatchMeta{TopicID: id, Partition: p, Pos: pos, Len: 10, Records: 1, MaxTimestamp: 4000,
		ProducerID: pid, ProducerEpoch: epoch, BaseSequence: -1, Transactional: true, Control: true}
}

func (h *harness) txnResult(c Command) TxnResult {
	h.t.Helper()
	r, ok := h.apply(c).(TxnResult)
	if !ok {
		h.t.Fatalf("%T: result is not a TxnResult", c)
	}
	return r
}

func (h *harness) mustTxn(c Command) TxnResult {
	h.t.Helper()
	r := h.txnResult(c)
	if r.ErrorCode != 0 {
		h.t.Fatalf("%T %+v: error %v", c, c, kerr.ErrorForCode(r.ErrorCode))
	}
	return r
}

func wantCode(t *testing.T, what string, got int16, want *kerr.Error) {
	t.Helper()
	wantCode := int16(0)
	if want != nil {
		wantCode = want.Code
	}
	if got != wantCode {
		t.Fatalf("%s: code %v, want %v", what, kerr.ErrorForCode(got), kerr.ErrorForCode(wantCode))
	}
}

// finish writes the markers of a pending transaction, one per partition,
// with its end, as the flusher does.
func (h *harness) finish(key string, p *TxnPending) []BatchResult {
	h.t.Helper()
	var bs []BatchMeta
	for i, k := range p.Partitions {
		bs = append(bs, marker(k.TopicID, k.Partition, int64(10*i), p.End.ProducerID, p.End.ProducerEpoch))
	}
	res := h.apply(CommitFile{Key: key, Size: int64(10*len(bs) + 10), NowMs: 6000, Batches: bs, TxnEnds: []TxnEnd{p.End}}).(CommitFileResult)
	return res.Batches
}

func lso(t *testing.T, f *FSM, id [16]byte, p int32) int64 {
	t.Helper()
	l, _, ok := f.LastStableOffset(id, p)
	if !ok {
		t.Fatalf("no partition %d", p)
	}
	return l
}

func TestTxnInitProducer(t *testing.T) {
	h := newHarness(t)
	r := h.mustTxn(InitTxnProducer{TransactionalID: "tx", TimeoutMs: 1000, ProducerID: -1, ProducerEpoch: -1, NowMs: 1})
	if r.ProducerEpoch != 0 || r.ProducerID < 1 {
		t.Fatalf("first init %+v", r)
	}
	again := h.mustTxn(InitTxnProducer{TransactionalID: "tx", TimeoutMs: 1000, ProducerID: -1, ProducerEpoch: -1, NowMs: 2})
	if again.ProducerID != r.ProducerID || again.ProducerEpoch != 1 {
		t.Fatalf("second init %+v, want producer %d epoch 1", again, r.ProducerID)
	}
	other := h.mustTxn(InitTxnProducer{TransactionalID: "other", TimeoutMs: 1000, ProducerID: -1, ProducerEpoch: -1, NowMs: 2})
	if other.ProducerID == r.ProducerID {
		t.Fatal("two transactional ids share a producer id")
	}
	if idem := h.apply(InitProducerID{ProducerID: -1, ProducerEpoch: -1}).(InitProducerIDResult); idem.ProducerID == r.ProducerID || idem.ProducerID == other.ProducerID {
		t.Fatal("an idempotent producer got a transactional producer's id")
	}

	tests := []struct {
		name string
		c    InitTxnProducer
		want *kerr.Error
		// epoch expected on success
		epoch int16
	}{
		{"empty id", InitTxnProducer{TimeoutMs: 1, ProducerID: -1}, kerr.InvalidRequest, 0},
		{"no timeout", InitTxnProducer{TransactionalID: "tx", ProducerID: -1}, kerr.InvalidTransactionTimeout, 0},
		{"timeout too long", InitTxnProducer{TransactionalID: "tx", TimeoutMs: MaxTxnTimeoutMs + 1, ProducerID: -1}, kerr.InvalidTransactionTimeout, 0},
		{"someone else's producer id", InitTxnProducer{TransactionalID: "tx", TimeoutMs: 1, ProducerID: other.ProducerID, ProducerEpoch: 0}, kerr.InvalidProducerIDMapping, 0},
		{"stale epoch (KIP-360)", InitTxnProducer{TransactionalID: "tx", TimeoutMs: 1, ProducerID: r.ProducerID, ProducerEpoch: 0}, kerr.ProducerFenced, 0},
		{"current epoch bumps (KIP-360)", InitTxnProducer{TransactionalID: "tx", TimeoutMs: 1, ProducerID: r.ProducerID, ProducerEpoch: 1}, nil, 2},
		{"retry of that bump keeps it", InitTxnProducer{TransactionalID: "tx", TimeoutMs: 1, ProducerID: r.ProducerID, ProducerEpoch: 1}, nil, 2},
		{"new instance", InitTxnProducer{TransactionalID: "tx", TimeoutMs: 1, ProducerID: -1, ProducerEpoch: -1}, nil, 3},
		{"an epoch before a new instance is fenced", InitTxnProducer{TransactionalID: "tx", TimeoutMs: 1, ProducerID: r.ProducerID, ProducerEpoch: 2}, kerr.ProducerFenced, 0},
	}
	for _, tt := range tests {
		res := h.txnResult(tt.c)
		wantCode(t, tt.name, res.ErrorCode, tt.want)
		if tt.want == nil && (res.ProducerID != r.ProducerID || res.ProducerEpoch != tt.epoch) {
			t.Fatalf("%s: %+v, want producer %d epoch %d", tt.name, res, r.ProducerID, tt.epoch)
		}
	}
}

// TestTxnCommit walks one transaction through produce, prepare and the
// markers, checking what readers see at each step.
func TestTxnCommit(t *testing.T) {
	h := newHarness(t)
	id := h.createTopic("t", 3)
	p := h.mustTxn(InitTxnProducer{TransactionalID: "tx", TimeoutMs: 60000, ProducerID: -1, ProducerEpoch: -1, NowMs: 1})
	pid, ep := p.ProducerID, p.ProducerEpoch
	h.mustCommit("before", plain(id, 0, 0, 10, 5))

	// Transactional data only goes into partitions added to the transaction.
	res := h.commit("early", txnData(id, 0, 0, 2, pid, ep, 0))
	wantCode(t, "data before AddToTxn", res[0].ErrorCode, kerr.InvalidTxnState)
	h.mustTxn(AddToTxn{TransactionalID: "tx", ProducerID: pid, ProducerEpoch: ep, Partitions: []PartitionKey{{id, 0}, {id, 1}}, NowMs: 100})
	h.mustTxn(AddToTxn{TransactionalID: "tx", ProducerID: pid, ProducerEpoch: ep, Groups: []string{"g"}, NowMs: 101})
	res = h.commit("data",
		txnData(id, 0, 0, 2, pid, ep, 0),
		txnData(id, 2, 10, 1, pid, ep, 0), // not added
		txnData(id, 0, 20, 3, pid, ep, 2),
		txnData(id, 0, 30, 1, pid, ep+1, 0), // an epoch the producer never got
	)
	wantCode(t, "added partition", res[0].ErrorCode, nil)
	wantCode(t, "partition not added", res[1].ErrorCode, kerr.InvalidTxnState)
	wantCode(t, "second batch", res[2].ErrorCode, nil)
	wantCode(t, "unknown epoch", res[3].ErrorCode, kerr.InvalidProducerEpoch)
	h.mustCommit("after", plain(id, 0, 0, 10, 4)) // offsets 10-13

	if got := lso(t, h.f, id, 0); got != 5 {
		t.Fatalf("LSO during the transaction %d, want its first offset 5", got)
	}
	if got := lso(t, h.f, id, 1); got != 0 {
		t.Fatalf("LSO of an added partition without data %d, want the high watermark 0", got)
	}
	if got := h.apply(TxnCommitOffsets{TransactionalID: "tx", ProducerID: pid, ProducerEpoch: ep, Group: "g", NowMs: 102,
		Offsets: []OffsetCommit{{TopicID: id, Partition: 2, Offset: 7, LeaderEpoch: -1}}}).(CommitOffsetsResult); got.ErrorCodes[0] != 0 {
		t.Fatalf("txn offset commit: %v", got.ErrorCodes)
	}
	if _, ok := h.f.CommittedOffset("g", id, 2); ok {
		t.Fatal("an offset committed in a transaction is visible before the commit")
	}
	if !h.f.UnstableOffsets("g")[PartitionKey{id, 2}] {
		t.Fatal("the pending offset is not reported unstable")
	}

	end := h.mustTxn(EndTxn{TransactionalID: "tx", ProducerID: pid, ProducerEpoch: ep, Commit: true, NowMs: 200})
	want := &TxnPending{End: TxnEnd{TransactionalID: "tx", ProducerID: pid, ProducerEpoch: ep, Commit: true}, Partitions: []PartitionKey{{id, 0}, {id, 1}}}
	if !reflect.DeepEqual(end.Pending, want) {
		t.Fatalf("pending %+v, want %+v", end.Pending, want)
	}
	// Prepared: no more data joins; a retry answers the same; the other
	// outcome is refused.
	res = h.commit("late", txnData(id, 0, 0, 1, pid, ep, 5))
	wantCode(t, "data after EndTxn", res[0].ErrorCode, kerr.InvalidTxnState)
	if r := h.mustTxn(EndTxn{TransactionalID: "tx", ProducerID: pid, ProducerEpoch: ep, Commit: true, NowMs: 201}); !reflect.DeepEqual(r.Pending, want) {
		t.Fatalf("retried EndTxn pending %+v", r.Pending)
	}
	wantCode(t, "abort after commit", h.txnResult(EndTxn{TransactionalID: "tx", ProducerID: pid, ProducerEpoch: ep, NowMs: 202}).ErrorCode, kerr.InvalidTxnState)
	wantCode(t, "add while prepared", h.txnResult(AddToTxn{TransactionalID: "tx", ProducerID: pid, ProducerEpoch: ep, Partitions: []PartitionKey{{id, 2}}}).ErrorCode, kerr.ConcurrentTransactions)
	if got := lso(t, h.f, id, 0); got != 5 {
		t.Fatalf("LSO while prepared %d, want 5", got)
	}

	// A marker set that misses a partition does not complete it.
	short := h.apply(CommitFile{Key: "short", Size: 20, NowMs: 300, Batches: []BatchMeta{marker(id, 0, 0, pid, ep)}, TxnEnds: []TxnEnd{want.End}}).(CommitFileResult)
	wantCode(t, "incomplete markers", short.Batches[0].ErrorCode, kerr.InvalidTxnState)

	for i, r := range h.finish("markers", want) {
		wantCode(t, "marker", r.ErrorCode, nil)
		if wantOff := []int64{14, 0}[i]; r.BaseOffset != wantOff {
			t.Fatalf("marker %d at offset %d, want %d", i, r.BaseOffset, wantOff)
		}
	}
	if got := lso(t, h.f, id, 0); got != 15 {
		t.Fatalf("LSO after commit %d, want the high watermark 15", got)
	}
	if o, ok := h.f.CommittedOffset("g", id, 2); !ok || o.Offset != 7 {
		t.Fatalf("committed offset after commit: %+v %v", o, ok)
	}
	if len(h.f.UnstableOffsets("g")) != 0 || len(h.f.AbortedTxns(id, 0, 0, 100)) != 0 {
		t.Fatal("a committed transaction left unstable offsets or aborted ranges")
	}
	if ti, _ := h.f.Txn("tx"); ti.State != TxnCompleteCommit || len(ti.Partitions) != 0 {
		t.Fatalf("after commit %+v", ti)
	}

	// Finishing it again (another agent that found it prepared) writes nothing.
	for _, r := range h.finish("again", want) {
		wantCode(t, "second marker set", r.ErrorCode, kerr.InvalidTxnState)
	}
	if _, hw, _ := h.f.LastStableOffset(id, 0); hw != 15 {
		t.Fatalf("high watermark %d after a refused marker set", hw)
	}
	if r := h.mustTxn(EndTxn{TransactionalID: "tx", ProducerID: pid, ProducerEpoch: ep, Commit: true}); r.Pending != nil {
		t.Fatal("a retry after completion asks for markers again")
	}
	wantCode(t, "abort after completed commit", h.txnResult(EndTxn{TransactionalID: "tx", ProducerID: pid, ProducerEpoch: ep}).ErrorCode, kerr.InvalidTxnState)
}

func TestTxnAbortIndexesRanges(t *testing.T) {
	h := newHarness(t)
	id := h.createTopic("t", 1)
	a := h.mustTxn(InitTxnProducer{TransactionalID: "a", TimeoutMs: 60000, ProducerID: -1, NowMs: 1})
	b := h.mustTxn(InitTxnProducer{TransactionalID: "b", TimeoutMs: 60000, ProducerID: -1, NowMs: 1})
	for _, x := range []struct {
		id string
		r  TxnResult
	}{{"a", a}, {"b", b}} {
		h.mustTxn(AddToTxn{TransactionalID: x.id, ProducerID: x.r.ProducerID, ProducerEpoch: 0, Partitions: []PartitionKey{{id, 0}}, NowMs: 2})
	}
	h.mustCommit("d1", txnData(id, 0, 0, 3, a.ProducerID, 0, 0))                        // a: 0-2
	h.mustCommit("d2", txnData(id, 0, 0, 2, b.ProducerID, 0, 0))                        // b: 3-4
	h.mustCommit("d3", txnData(id, 0, 0, 2, a.ProducerID, 0, 3))                        // a: 5-6
	h.mustCommit("d4", plain(id, 0, 0, 10, 1))                                          // 7
	endB := h.mustTxn(EndTxn{TransactionalID: "b", ProducerID: b.ProducerID, NowMs: 3}) // abort b
	h.finish("mb", endB.Pending)                                                        // marker 8
	if got := lso(t, h.f, id, 0); got != 0 {
		t.Fatalf("LSO %d, want 0 while a is ongoing", got)
	}
	endA := h.mustTxn(EndTxn{TransactionalID: "a", ProducerID: a.ProducerID, NowMs: 4}) // abort a
	h.finish("ma", endA.Pending)                                                        // marker 9
	if got := lso(t, h.f, id, 0); got != 10 {
		t.Fatalf("LSO %d, want 10", got)
	}
	tests := []struct {
		from, to int64
		want     []AbortedTxn
	}{
		{0, 9, []AbortedTxn{{a.ProducerID, 0, 9}, {b.ProducerID, 3, 8}}},
		{7, 7, []AbortedTxn{{a.ProducerID, 0, 9}, {b.ProducerID, 3, 8}}}, // both span offset 7
		{9, 9, []AbortedTxn{{a.ProducerID, 0, 9}}},
		{10, 20, nil},
	}
	for _, tt := range tests {
		if got := h.f.AbortedTxns(id, 0, tt.from, tt.to); !reflect.DeepEqual(got, tt.want) {
			t.Fatalf("aborted in [%d, %d] = %+v, want %+v", tt.from, tt.to, got, tt.want)
		}
	}
	// Retention below a range drops it.
	h.apply(TrimLog{TopicID: id, Partition: 0, NewLogStart: 9, NowMs: 5})
	if got := h.f.AbortedTxns(id, 0, 0, 9); !reflect.DeepEqual(got, []AbortedTxn{{a.ProducerID, 0, 9}}) {
		t.Fatalf("after trimming to 9: %+v", got)
	}
}

// TestTxnZombieFenced: a new instance of a transactional id aborts the old
// instance's transaction and fences it, on produce and on EndTxn.
func TestTxnZombieFenced(t *testing.T) {
	h := newHarness(t)
	id := h.createTopic("t", 1)
	old := h.mustTxn(InitTxnProducer{TransactionalID: "tx", TimeoutMs: 60000, ProducerID: -1, NowMs: 1})
	pid := old.ProducerID
	h.mustTxn(AddToTxn{TransactionalID: "tx", ProducerID: pid, Partitions: []PartitionKey{{id, 0}}, NowMs: 2})
	h.mustCommit("d", txnData(id, 0, 0, 2, pid, 0, 0))

	fence := h.txnResult(InitTxnProducer{TransactionalID: "tx", TimeoutMs: 60000, ProducerID: -1, NowMs: 3})
	wantCode(t, "new instance during a transaction", fence.ErrorCode, kerr.ConcurrentTransactions)
	if fence.Pending == nil || fence.Pending.End.Commit || fence.Pending.End.ProducerEpoch != 1 {
		t.Fatalf("fencing pending %+v, want an abort at epoch 1", fence.Pending)
	}
	// The zombie is fenced while the abort is pending and after.
	wantCode(t, "zombie EndTxn", h.txnResult(EndTxn{TransactionalID: "tx", ProducerID: pid, ProducerEpoch: 0, Commit: true}).ErrorCode, kerr.ProducerFenced)
	res := h.commit("zombie", txnData(id, 0, 0, 1, pid, 0, 2))
	wantCode(t, "zombie produce", res[0].ErrorCode, kerr.InvalidProducerEpoch)
	wantCode(t, "retry while the abort is pending", h.txnResult(InitTxnProducer{TransactionalID: "tx", TimeoutMs: 60000, ProducerID: -1, NowMs: 4}).ErrorCode, kerr.ConcurrentTransactions)

	h.finish("abort", fence.Pending)
	if got := h.f.AbortedTxns(id, 0, 0, 10); !reflect.DeepEqual(got, []AbortedTxn{{pid, 0, 2}}) {
		t.Fatalf("aborted %+v", got)
	}
	next := h.mustTxn(InitTxnProducer{TransactionalID: "tx", TimeoutMs: 60000, ProducerID: -1, NowMs: 5})
	if next.ProducerID != pid || next.ProducerEpoch != 2 {
		t.Fatalf("new instance got %+v, want producer %d epoch 2", next, pid)
	}
	wantCode(t, "zombie KIP-360 bump", h.txnResult(InitTxnProducer{TransactionalID: "tx", TimeoutMs: 60000, ProducerID: pid, ProducerEpoch: 0}).ErrorCode, kerr.ProducerFenced)
	wantCode(t, "zombie AddToTxn", h.txnResult(AddToTxn{TransactionalID: "tx", ProducerID: pid, Partitions: []PartitionKey{{id, 0}}}).ErrorCode, kerr.ProducerFenced)
}

func TestTxnExpire(t *testing.T) {
	h := newHarness(t)
	id := h.createTopic("t", 1)
	r := h.mustTxn(InitTxnProducer{TransactionalID: "tx", TimeoutMs: 1000, ProducerID: -1, NowMs: 1})
	h.mustTxn(AddToTxn{TransactionalID: "tx", ProducerID: r.ProducerID, Partitions: []PartitionKey{{id, 0}}, NowMs: 10_000})
	h.mustCommit("d", txnData(id, 0, 0, 2, r.ProducerID, 0, 0))

	if exp, _ := h.f.TxnsToFinish(10_999, 0); len(exp) != 0 {
		t.Fatalf("expired before its timeout: %+v", exp)
	}
	wantCode(t, "expire too early", h.txnResult(EndTxn{TransactionalID: "tx", ProducerID: r.ProducerID, Expire: true, NowMs: 10_999}).ErrorCode, kerr.InvalidTxnState)
	exp, _ := h.f.TxnsToFinish(11_000, 0)
	if len(exp) != 1 || exp[0].TransactionalID != "tx" {
		t.Fatalf("expired %+v", exp)
	}
	e := h.mustTxn(EndTxn{TransactionalID: "tx", ProducerID: r.ProducerID, ProducerEpoch: 0, Expire: true, NowMs: 11_000})
	if e.Pending == nil || e.Pending.End.Commit || e.ProducerEpoch != 1 {
		t.Fatalf("expiry %+v, want an abort under epoch 1", e)
	}
	if _, prep := h.f.TxnsToFinish(11_000, 11_001); len(prep) != 1 {
		t.Fatalf("prepared and unfinished: %+v", prep)
	}
	wantCode(t, "expired producer commits", h.txnResult(EndTxn{TransactionalID: "tx", ProducerID: r.ProducerID, Commit: true}).ErrorCode, kerr.ProducerFenced)
	h.finish("m", e.Pending)
	if got := lso(t, h.f, id, 0); got != 3 {
		t.Fatalf("LSO after the timeout abort %d, want 3", got)
	}
	if ti, _ := h.f.Txn("tx"); ti.State != TxnCompleteAbort {
		t.Fatalf("state %v", ti.State)
	}
}

func TestTxnOffsetsAbortedAndWithoutPartitions(t *testing.T) {
	h := newHarness(t)
	id := h.createTopic("t", 1)
	r := h.mustTxn(InitTxnProducer{TransactionalID: "tx", TimeoutMs: 1000, ProducerID: -1, NowMs: 1})
	commitOffset := func(off int64) int16 {
		return h.apply(TxnCommitOffsets{TransactionalID: "tx", ProducerID: r.ProducerID, Group: "g", NowMs: 3,
			Offsets: []OffsetCommit{{TopicID: id, Partition: 0, Offset: off, LeaderEpoch: -1}}}).(CommitOffsetsResult).ErrorCodes[0]
	}
	wantCode(t, "offsets without AddToTxn", commitOffset(1), kerr.InvalidTxnState)
	h.mustTxn(AddToTxn{TransactionalID: "tx", ProducerID: r.ProducerID, Groups: []string{"g"}, NowMs: 2})
	wantCode(t, "offsets", commitOffset(4), nil)
	e := h.mustTxn(EndTxn{TransactionalID: "tx", ProducerID: r.ProducerID, NowMs: 4})
	if e.Pending == nil || len(e.Pending.Partitions) != 0 {
		t.Fatalf("pending %+v", e.Pending)
	}
	h.mustTxn(CompleteTxn{End: e.Pending.End, NowMs: 5})
	if _, ok := h.f.CommittedOffset("g", id, 0); ok || len(h.f.UnstableOffsets("g")) != 0 {
		t.Fatal("an aborted transaction's offset is visible or still pending")
	}

	h.mustTxn(AddToTxn{TransactionalID: "tx", ProducerID: r.ProducerID, Groups: []string{"g"}, NowMs: 6})
	wantCode(t, "offsets", commitOffset(9), nil)
	e = h.mustTxn(EndTxn{TransactionalID: "tx", ProducerID: r.ProducerID, Commit: true, NowMs: 7})
	wantCode(t, "completion of the other outcome", h.txnResult(CompleteTxn{End: TxnEnd{TransactionalID: "tx", ProducerID: r.ProducerID}}).ErrorCode, kerr.InvalidTxnState)
	h.mustTxn(CompleteTxn{End: e.Pending.End, NowMs: 8})
	if o, ok := h.f.CommittedOffset("g", id, 0); !ok || o.Offset != 9 || o.CommitMs != 3 {
		t.Fatalf("committed %+v %v", o, ok)
	}
}

// TestTxnTopicDeletedMidTransaction: markers for a deleted topic are not
// needed, and the topic's pending offsets are not resurrected.
func TestTxnTopicDeletedMidTransaction(t *testing.T) {
	h := newHarness(t)
	gone, kept := h.createTopic("gone", 1), h.createTopic("kept", 1)
	r := h.mustTxn(InitTxnProducer{TransactionalID: "tx", TimeoutMs: 1000, ProducerID: -1, NowMs: 1})
	h.mustTxn(AddToTxn{TransactionalID: "tx", ProducerID: r.ProducerID, Partitions: []PartitionKey{{gone, 0}, {kept, 0}}, Groups: []string{"g"}, NowMs: 2})
	h.mustCommit("d", txnData(gone, 0, 0, 1, r.ProducerID, 0, 0), txnData(kept, 0, 10, 1, r.ProducerID, 0, 0))
	h.apply(TxnCommitOffsets{TransactionalID: "tx", ProducerID: r.ProducerID, Group: "g", NowMs: 3,
		Offsets: []OffsetCommit{{TopicID: gone, Offset: 1}, {TopicID: kept, Offset: 1}}})
	h.apply(DeleteTopic{Name: "gone", NowMs: 4})
	e := h.mustTxn(EndTxn{TransactionalID: "tx", ProducerID: r.ProducerID, Commit: true, NowMs: 5})
	res := h.finish("m", e.Pending)
	wantCode(t, "marker of the deleted topic", res[0].ErrorCode, kerr.UnknownTopicOrPartition)
	wantCode(t, "marker of the kept topic", res[1].ErrorCode, nil)
	if ti, _ := h.f.Txn("tx"); ti.State != TxnCompleteCommit {
		t.Fatalf("state %v", ti.State)
	}
	if got := h.f.CommittedOffsets("g"); len(got) != 1 || got[0].TopicID != kept {
		t.Fatalf("committed %+v", got)
	}
}

func TestTxnPartitionProducers(t *testing.T) {
	h := newHarness(t)
	id := h.createTopic("t", 1)
	r := h.mustTxn(InitTxnProducer{TransactionalID: "tx", TimeoutMs: 1000, ProducerID: -1, NowMs: 1})
	h.mustCommit("i", idem(id, 0, 0, 10, 2, 99, 3, 0))
	h.mustTxn(AddToTxn{TransactionalID: "tx", ProducerID: r.ProducerID, Partitions: []PartitionKey{{id, 0}}, NowMs: 2})
	h.mustCommit("d", txnData(id, 0, 0, 4, r.ProducerID, 0, 0))
	got, _ := h.f.PartitionProducers(id, 0)
	want := []ProducerState{
		{ProducerID: r.ProducerID, ProducerEpoch: 0, LastSequence: 3, LastMs: 5000, TxnStartOffset: 2},
		{ProducerID: 99, ProducerEpoch: 3, LastSequence: 1, LastMs: 5000, TxnStartOffset: -1},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("producers %+v, want %+v", got, want)
	}
}
