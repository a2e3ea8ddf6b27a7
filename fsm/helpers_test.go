package fsm

import (
	"bytes"
	"crypto/sha256"
	"testing"

	"github.com/hashicorp/raft"
)

// harness applies commands the way Raft does: encoded, with increasing
// indexes.
type harness struct {
	t     testing.TB
	f     *FSM
	index uint64
}

func newHarness(t testing.TB) *harness {
	t.Helper()
	return &harness{t: t, f: New(nil)}
}

// apply encodes c and applies it at the next log index.
func (h *harness) apply(c Command) any {
	h.t.Helper()
	enc, err := Encode(c)
	if err != nil {
		h.t.Fatalf("encode %T: %v", c, err)
	}
	h.index++
	return h.f.Apply(&raft.Log{Index: h.index, Data: enc})
}

// topicID derives a stable id from a name.
func topicID(name string) [16]byte {
	sum := sha256.Sum256([]byte(name))
	var id [16]byte
	copy(id[:], sum[:])
	return id
}

func (h *harness) createTopic(name string, partitions int32) [16]byte {
	h.t.Helper()
	id := topicID(name)
	res := h.apply(CreateTopic{Name: name, ID: id, Partitions: partitions, NowMs: 1000}).(TopicResult)
	if res.ErrorCode != 0 {
		h.t.Fatalf("create topic %q: %d %s", name, res.ErrorCode, res.ErrorMessage)
	}
	return id
}

// commit applies a CommitFile of the given batches, sized to hold them all.
func (h *harness) commit(key string, batches ...BatchMeta) []BatchResult {
	h.t.Helper()
	var size int64
	for _, b := range batches {
		size = max(size, b.Pos+int64(b.Len))
	}
	res := h.apply(CommitFile{Key: key, Size: size, NodeID: 1, NowMs: 5000, Batches: batches}).(CommitFileResult)
	if len(res.Batches) != len(batches) {
		h.t.Fatalf("commit %q: %d results for %d batches", key, len(res.Batches), len(batches))
	}
	return res.Batches
}

// mustCommit commits and fails the test on any batch error.
func (h *harness) mustCommit(key string, batches ...BatchMeta) []BatchResult {
	h.t.Helper()
	res := h.commit(key, batches...)
	for i, r := range res {
		if r.ErrorCode != 0 {
			h.t.Fatalf("commit %q batch %d: error code %d", key, i, r.ErrorCode)
		}
	}
	return res
}

// plain is a non-idempotent batch.
func plain(id [16]byte, p int32, pos int64, length, records int32) BatchMeta {
	return BatchMeta{TopicID: id, Partition: p, Pos: pos, Len: length, Records: records,
		MaxTimestamp: 4000, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}
}

// idem is an idempotent batch.
func idem(id [16]byte, p int32, pos int64, length, records int32, pid int64, epoch int16, seq int32) BatchMeta {
	return BatchMeta{TopicID: id, Partition: p, Pos: pos, Len: length, Records: records,
		MaxTimestamp: 4000, ProducerID: pid, ProducerEpoch: epoch, BaseSequence: seq}
}

// memSink is an in-memory raft.SnapshotSink.
type memSink struct {
	bytes.Buffer
	closed, cancelled bool
}

func (s *memSink) ID() string    { return "mem" }
func (s *memSink) Close() error  { s.closed = true; return nil }
func (s *memSink) Cancel() error { s.cancelled = true; return nil }

// snapshotBytes takes and persists a snapshot of f.
func snapshotBytes(t testing.TB, f *FSM) []byte {
	t.Helper()
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	defer snap.Release()
	var sink memSink
	if err := snap.Persist(&sink); err != nil {
		t.Fatalf("persist: %v", err)
	}
	if !sink.closed || sink.cancelled {
		t.Fatalf("persist: sink closed=%v cancelled=%v", sink.closed, sink.cancelled)
	}
	return sink.Bytes()
}
