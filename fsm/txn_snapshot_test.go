package fsm

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"
)

// txnState builds state holding every transaction record type and field:
// transactional ids in every resting and prepared state, with partitions,
// groups and pending offsets (one of a deleted topic), and partitions with
// ongoing transactions and aborted ranges.
func txnState(t testing.TB) *harness {
	h := richState(t)
	a, b := topicID("alpha"), topicID("beta")
	init := func(id string) TxnResult {
		return h.mustTxn(InitTxnProducer{TransactionalID: id, TimeoutMs: 30000, ProducerID: -1, ProducerEpoch: -1, NowMs: 100})
	}
	h.createTopic("brief", 1)
	empty := init("empty")
	h.mustTxn(InitTxnProducer{TransactionalID: "empty", TimeoutMs: 5000, ProducerID: empty.ProducerID, ProducerEpoch: 0, NowMs: 101}) // last epoch 0

	ongoing := init("ongoing")
	h.mustTxn(AddToTxn{TransactionalID: "ongoing", ProducerID: ongoing.ProducerID, Partitions: []PartitionKey{{a, 0}, {b, 1}, {topicID("brief"), 0}}, Groups: []string{"g1", "g2"}, NowMs: 102})
	h.mustCommit("t1", txnData(a, 0, 0, 2, ongoing.ProducerID, 0, 0), txnData(b, 1, 10, 3, ongoing.ProducerID, 0, 0))
	h.apply(TxnCommitOffsets{TransactionalID: "ongoing", ProducerID: ongoing.ProducerID, Group: "g2", NowMs: 103, Offsets: []OffsetCommit{
		{TopicID: b, Partition: 0, Offset: 3, LeaderEpoch: 1, Metadata: "meta"},
		{TopicID: topicID("brief"), Partition: 0, Offset: 1, LeaderEpoch: -1},
	}})
	h.apply(DeleteTopic{Name: "brief", NowMs: 104})

	aborted := init("aborted")
	h.mustTxn(AddToTxn{TransactionalID: "aborted", ProducerID: aborted.ProducerID, Partitions: []PartitionKey{{a, 0}}, NowMs: 105})
	h.mustCommit("t2", txnData(a, 0, 0, 1, aborted.ProducerID, 0, 0))
	e := h.mustTxn(EndTxn{TransactionalID: "aborted", ProducerID: aborted.ProducerID, NowMs: 106})
	h.finish("t2m", e.Pending)

	prep := init("prepared")
	h.mustTxn(AddToTxn{TransactionalID: "prepared", ProducerID: prep.ProducerID, Partitions: []PartitionKey{{a, 1}}, NowMs: 107})
	h.mustCommit("t3", txnData(a, 1, 0, 1, prep.ProducerID, 0, 0))
	h.mustTxn(EndTxn{TransactionalID: "prepared", ProducerID: prep.ProducerID, Commit: true, NowMs: 108})
	return h
}

type txnView struct {
	Txns     []TxnInfo
	ByPID    map[int64]string
	LSO      map[PartitionKey]int64
	Aborted  map[PartitionKey][]AbortedTxn
	Unstable map[string]map[PartitionKey]bool
	Prods    map[PartitionKey][]ProducerState
}

func txnViewOf(f *FSM) txnView {
	v := txnView{Txns: f.Txns(nil), ByPID: map[int64]string{}, LSO: map[PartitionKey]int64{},
		Aborted: map[PartitionKey][]AbortedTxn{}, Unstable: map[string]map[PartitionKey]bool{}, Prods: map[PartitionKey][]ProducerState{}}
	for _, ti := range v.Txns {
		v.ByPID[ti.ProducerID], _ = f.TxnForProducer(ti.ProducerID)
	}
	for _, t := range f.Topics() {
		for p := range t.Partitions {
			k := PartitionKey{t.ID, p}
			v.LSO[k], _, _ = f.LastStableOffset(t.ID, p)
			v.Aborted[k] = f.AbortedTxns(t.ID, p, 0, 1<<40)
			v.Prods[k], _ = f.PartitionProducers(t.ID, p)
		}
	}
	for _, g := range []string{"g1", "g2", "readers"} {
		v.Unstable[g] = f.UnstableOffsets(g)
	}
	return v
}

// txnProbes are commands whose answers depend on every piece of
// transaction state.
func txnProbes() []Command {
	a := topicID("alpha")
	return []Command{
		InitTxnProducer{TransactionalID: "empty", TimeoutMs: 1, ProducerID: 4, ProducerEpoch: 0}, // a retry of its last bump
		EndTxn{TransactionalID: "prepared", ProducerID: 7, Commit: true},
		CommitFile{Key: "probe-data", Size: 100, NowMs: 200, Batches: []BatchMeta{txnData(a, 0, 0, 1, 5, 0, 2), txnData(a, 2, 10, 1, 5, 0, 0)}},
		InitTxnProducer{TransactionalID: "ongoing", TimeoutMs: 1000, ProducerID: -1, ProducerEpoch: -1, NowMs: 201},
		EndTxn{TransactionalID: "aborted", ProducerID: 6},
	}
}

func TestTxnSnapshotRoundTrip(t *testing.T) {
	h := txnState(t)
	want := txnViewOf(h.f)
	states := map[TxnState]bool{}
	for _, ti := range want.Txns {
		states[ti.State] = true
	}
	if len(want.Txns) != 4 || !states[TxnOngoing] || !states[TxnPrepareCommit] || !states[TxnCompleteAbort] || !states[TxnEmpty] ||
		len(want.Aborted[PartitionKey{topicID("alpha"), 0}]) != 1 || len(want.Unstable["g2"]) != 2 {
		t.Fatalf("transaction state is not rich: %+v", want)
	}
	data := snapshotBytes(t, h.f)
	if data[0] != snapshotVersion {
		t.Fatalf("snapshot version %d, want %d", data[0], snapshotVersion)
	}
	restored := New(nil)
	if err := restored.Restore(io.NopCloser(bytes.NewReader(data))); err != nil {
		t.Fatalf("restore: %v", err)
	}
	if got := txnViewOf(restored); !reflect.DeepEqual(got, want) {
		t.Fatalf("restored transactions differ:\n got %+v\nwant %+v", got, want)
	}
	if !reflect.DeepEqual(viewOf(restored, richKeys...), viewOf(h.f, richKeys...)) {
		t.Fatal("restored state differs")
	}
	r := &harness{t: t, f: restored, index: h.index}
	for i, c := range txnProbes() {
		if got, want := r.apply(c), h.apply(c); !reflect.DeepEqual(got, want) {
			t.Fatalf("probe %d (%T): restored answered %+v, original %+v", i, c, got, want)
		}
	}
	if !reflect.DeepEqual(txnViewOf(restored), txnViewOf(h.f)) {
		t.Fatal("replicas diverged after probes")
	}
	if again := snapshotBytes(t, restored); !bytes.Equal(again, snapshotBytes(t, h.f)) {
		t.Fatal("snapshots of equal states differ")
	}
}

func TestTxnSnapshotIsPointInTime(t *testing.T) {
	h := txnState(t)
	want := txnViewOf(h.f)
	snap, err := h.f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range txnProbes() {
		h.apply(c)
	}
	ti, _ := h.f.Txn("ongoing")
	if ti.State != TxnPrepareAbort {
		t.Fatalf("probe did not fence the ongoing transaction: %v", ti.State)
	}
	h.finish("after", &TxnPending{End: TxnEnd{TransactionalID: "ongoing", ProducerID: ti.ProducerID, ProducerEpoch: ti.ProducerEpoch}, Partitions: ti.Partitions})
	var sink memSink
	if err := snap.Persist(&sink); err != nil {
		t.Fatal(err)
	}
	restored := New(nil)
	if err := restored.Restore(io.NopCloser(&sink.Buffer)); err != nil {
		t.Fatal(err)
	}
	if got := txnViewOf(restored); !reflect.DeepEqual(got, want) {
		t.Fatalf("snapshot saw later applies:\n got %+v\nwant %+v", got, want)
	}
}

// TestTxnRestoreVersion5: a snapshot of the layout before transactions
// restores (without transaction state), and transaction records have no
// meaning in it.
func TestTxnRestoreVersion5(t *testing.T) {
	h := richState(t)
	var buf bytes.Buffer
	if err := h.f.s.writeSnapshotAs(&buf, 5); err != nil {
		t.Fatal(err)
	}
	restored := New(nil)
	if err := restored.Restore(io.NopCloser(bytes.NewReader(buf.Bytes()))); err != nil {
		t.Fatalf("restore v5: %v", err)
	}
	if !reflect.DeepEqual(viewOf(restored, richKeys...), viewOf(h.f, richKeys...)) {
		t.Fatal("v5 restore differs")
	}

	v6 := snapshotBytes(t, txnState(t).f)
	bad := withChecksum(append([]byte{5}, v6[1:len(v6)-4]...))
	if err := New(nil).Restore(io.NopCloser(bytes.NewReader(bad))); !errors.Is(err, ErrBadSnapshot) {
		t.Fatalf("v5 snapshot with transaction records: %v, want ErrBadSnapshot", err)
	}
}

func TestTxnCommandsRoundTrip(t *testing.T) {
	a := topicID("a")
	cmds := []Command{
		InitTxnProducer{TransactionalID: "tx", TimeoutMs: 60000, ProducerID: -1, ProducerEpoch: -1, NowMs: 1},
		AddToTxn{TransactionalID: "tx", ProducerID: 4, ProducerEpoch: 2, Partitions: []PartitionKey{{a, 3}}, Groups: []string{"g"}, NowMs: 2},
		TxnCommitOffsets{TransactionalID: "tx", ProducerID: 4, ProducerEpoch: 2, Group: "g", NowMs: 3, Offsets: []OffsetCommit{{TopicID: a, Partition: 1, Offset: 9, LeaderEpoch: -1, Metadata: "m"}}},
		EndTxn{TransactionalID: "tx", ProducerID: 4, ProducerEpoch: 2, Commit: true, NowMs: 4},
		EndTxn{TransactionalID: "tx", ProducerID: 4, ProducerEpoch: 2, Expire: true, NowMs: 5},
		CompleteTxn{End: TxnEnd{TransactionalID: "tx", ProducerID: 4, ProducerEpoch: 2, Commit: true}, NowMs: 6},
		CommitFile{Key: "m", Size: 100, NodeID: 1, NowMs: 7, Batches: []BatchMeta{
			txnData(a, 0, 0, 3, 4, 2, 10),
			marker(a, 1, 10, 4, 2),
			plain(a, 2, 20, 10, 1),
		}, TxnEnds: []TxnEnd{{TransactionalID: "tx", ProducerID: 4, ProducerEpoch: 2, Commit: true}, {TransactionalID: "", ProducerID: 0}}},
	}
	for _, c := range cmds {
		enc, err := Encode(c)
		if err != nil {
			t.Fatalf("encode %T: %v", c, err)
		}
		got, err := Decode(enc)
		if err != nil {
			t.Fatalf("decode %T: %v", c, err)
		}
		if !reflect.DeepEqual(got, c) {
			t.Fatalf("round trip:\n got %#v\nwant %#v", got, c)
		}
	}
	// A CommitFile without transactional content keeps the v1 layout, so
	// replicas from before transactions still apply ordinary commits.
	enc, _ := Encode(CommitFile{Key: "p", Size: 10, Batches: []BatchMeta{plain(a, 0, 0, 10, 1)}})
	if enc[1] != 1 {
		t.Fatalf("plain CommitFile written as v%d, want v1", enc[1])
	}
	enc, _ = Encode(cmds[len(cmds)-1])
	if enc[1] != 2 {
		t.Fatalf("transactional CommitFile written as v%d, want v2", enc[1])
	}
	for _, bad := range [][]byte{
		append(bytes.Clone(enc[:len(enc)-1]), 2), // commit flag 2
		enc[:len(enc)-1],                         // truncated end
	} {
		if _, err := Decode(bad); !errors.Is(err, ErrMalformed) {
			t.Fatalf("decode of a bad v2 CommitFile: %v, want ErrMalformed", err)
		}
	}
}

// TestTxnRestoreSurvivesCorruption flips every byte of a snapshot holding
// transaction records (with a valid checksum, so the record decoders see
// it): Restore may refuse it but never panics, and whatever it accepts is
// usable.
func TestTxnRestoreSurvivesCorruption(t *testing.T) {
	good := snapshotBytes(t, txnState(t).f)
	body := good[:len(good)-4]
	for i := 1; i < len(body); i++ {
		for _, x := range []byte{0x01, 0x80, 0xff} {
			bad := bytes.Clone(body)
			bad[i] ^= x
			s, err := readSnapshot(bytes.NewReader(withChecksum(bad)))
			if err != nil {
				if !errors.Is(err, ErrBadSnapshot) {
					t.Fatalf("byte %d ^ %#x: %v is not ErrBadSnapshot", i, x, err)
				}
				continue
			}
			f := New(nil)
			f.s = s
			txnViewOf(f)
			snapshotBytes(t, f)
		}
	}
}
