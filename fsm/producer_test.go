package fsm

import (
	"fmt"
	"math"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

// seqStep is one idempotent batch of producer 1 to partition 0, committed in
// its own file, or (bump) an InitProducerID that bumps the epoch.
type seqStep struct {
	bump    bool
	epoch   int16
	seq     int32
	records int32

	code int16 // expected error code
	base int64 // expected base offset when code is 0
	dup  bool
}

func ok(epoch int16, seq, records int32, base int64) seqStep {
	return seqStep{epoch: epoch, seq: seq, records: records, base: base}
}

func dup(epoch int16, seq, records int32, base int64) seqStep {
	return seqStep{epoch: epoch, seq: seq, records: records, base: base, dup: true}
}

func bad(epoch int16, seq, records int32, e *kerr.Error) seqStep {
	return seqStep{epoch: epoch, seq: seq, records: records, code: e.Code}
}

var bumpEpoch = seqStep{bump: true}

func TestIdempotenceMatrix(t *testing.T) {
	const maxSeq = math.MaxInt32
	tests := []struct {
		name  string
		steps []seqStep
	}{
		{"in order", []seqStep{ok(0, 0, 1, 0), ok(0, 1, 2, 1), ok(0, 3, 5, 3), ok(0, 8, 1, 8)}},
		{"duplicate of each of the last five", []seqStep{
			ok(0, 0, 1, 0), ok(0, 1, 2, 1), ok(0, 3, 1, 3), ok(0, 4, 3, 4), ok(0, 7, 1, 7), ok(0, 8, 1, 8),
			dup(0, 1, 2, 1), dup(0, 3, 1, 3), dup(0, 4, 3, 4), dup(0, 7, 1, 7), dup(0, 8, 1, 8),
			ok(0, 9, 1, 9), // duplicates assigned nothing
		}},
		{"duplicate older than five is out of order", []seqStep{
			ok(0, 0, 1, 0), ok(0, 1, 1, 1), ok(0, 2, 1, 2), ok(0, 3, 1, 3), ok(0, 4, 1, 4), ok(0, 5, 1, 5),
			bad(0, 0, 1, kerr.OutOfOrderSequenceNumber),
		}},
		{"same first sequence but different last is not a duplicate", []seqStep{
			ok(0, 0, 2, 0), bad(0, 0, 3, kerr.OutOfOrderSequenceNumber),
		}},
		{"gap", []seqStep{ok(0, 0, 1, 0), bad(0, 2, 1, kerr.OutOfOrderSequenceNumber), ok(0, 1, 1, 1)}},
		{"sequence going back", []seqStep{ok(0, 0, 5, 0), bad(0, 3, 1, kerr.OutOfOrderSequenceNumber)}},
		{"old epoch after a bump", []seqStep{
			ok(0, 0, 1, 0), bumpEpoch, ok(1, 0, 1, 1),
			bad(0, 1, 1, kerr.InvalidProducerEpoch),
			bad(0, 0, 1, kerr.InvalidProducerEpoch), // even a would-be duplicate is fenced
		}},
		{"old epoch before writing with the new one", []seqStep{
			ok(0, 0, 1, 0), bumpEpoch, bad(0, 1, 1, kerr.InvalidProducerEpoch),
		}},
		{"epoch bump through InitProducerID needs sequence 0", []seqStep{
			ok(0, 0, 1, 0), ok(0, 1, 1, 1), bumpEpoch,
			bad(1, 2, 1, kerr.OutOfOrderSequenceNumber), ok(1, 0, 1, 2), ok(1, 1, 1, 3),
		}},
		{"client-side epoch bump with sequence 0 resets the window", []seqStep{
			ok(0, 0, 1, 0), ok(0, 1, 1, 1), ok(2, 0, 1, 2), ok(2, 1, 1, 3),
			bad(0, 2, 1, kerr.InvalidProducerEpoch),
		}},
		{"client-side epoch bump with non-zero sequence", []seqStep{
			ok(0, 0, 1, 0), bad(1, 1, 1, kerr.OutOfOrderSequenceNumber), bad(1, 5, 1, kerr.OutOfOrderSequenceNumber),
			ok(0, 1, 1, 1), // the failed bump changed nothing
		}},
		{"first write to a partition after a bump accepts any sequence", []seqStep{
			bumpEpoch, ok(1, 3, 1, 0), ok(1, 4, 1, 1),
		}},
		{"wrap within a batch", []seqStep{
			ok(0, maxSeq-1, 1, 0), ok(0, maxSeq, 3, 1), // last sequence is 1
			ok(0, 2, 1, 4), dup(0, maxSeq, 3, 1),
		}},
		{"wrap between batches", []seqStep{
			ok(0, maxSeq, 1, 0), bad(0, maxSeq, 2, kerr.OutOfOrderSequenceNumber), ok(0, 0, 1, 1),
		}},
		{"no state accepts any sequence", []seqStep{ok(0, 42, 1, 0), ok(0, 43, 1, 1), bad(0, 42, 2, kerr.OutOfOrderSequenceNumber)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			id := h.createTopic("t", 1)
			pid := h.apply(InitProducerID{ProducerID: -1, ProducerEpoch: -1}).(InitProducerIDResult)
			epoch := pid.ProducerEpoch
			for i, s := range tt.steps {
				if s.bump {
					r := h.apply(InitProducerID{ProducerID: pid.ProducerID, ProducerEpoch: epoch}).(InitProducerIDResult)
					if r.ErrorCode != 0 || r.ProducerEpoch != epoch+1 {
						t.Fatalf("step %d: bump: %+v", i, r)
					}
					epoch = r.ProducerEpoch
					continue
				}
				hwBefore, _ := h.f.Partition(id, 0)
				res := h.commit(fmt.Sprintf("f%d", i), idem(id, 0, 0, 10, s.records, pid.ProducerID, s.epoch, s.seq))[0]
				hwAfter, _ := h.f.Partition(id, 0)
				switch {
				case s.code != 0:
					if res.ErrorCode != s.code || hwAfter != hwBefore {
						t.Fatalf("step %d (epoch %d seq %d): %+v; want code %d and no change", i, s.epoch, s.seq, res, s.code)
					}
				case s.dup:
					if res.ErrorCode != 0 || !res.Duplicate || res.BaseOffset != s.base || hwAfter != hwBefore {
						t.Fatalf("step %d (epoch %d seq %d): %+v; want duplicate of base %d, no change", i, s.epoch, s.seq, res, s.base)
					}
				default:
					if res.ErrorCode != 0 || res.Duplicate || res.BaseOffset != s.base ||
						hwAfter.HighWatermark != hwBefore.HighWatermark+int64(s.records) {
						t.Fatalf("step %d (epoch %d seq %d): %+v, hw %d->%d; want base %d", i, s.epoch, s.seq, res,
							hwBefore.HighWatermark, hwAfter.HighWatermark, s.base)
					}
				}
			}
		})
	}
}

func TestIdempotenceWithinOneCommand(t *testing.T) {
	h := newHarness(t)
	id := h.createTopic("t", 2)
	const pid = 1
	res := h.commit("f",
		idem(id, 0, 0, 10, 2, pid, 0, 0),
		idem(id, 0, 10, 10, 3, pid, 0, 2), // sees the first batch's state
		idem(id, 1, 20, 10, 1, pid, 0, 7), // own window per partition
		idem(id, 0, 30, 10, 3, pid, 0, 2), // duplicate of the second
		idem(id, 0, 40, 10, 1, pid, 0, 9), // gap
	)
	want := []BatchResult{
		{BaseOffset: 0}, {BaseOffset: 2}, {BaseOffset: 0},
		{BaseOffset: 2, Duplicate: true},
		{ErrorCode: kerr.OutOfOrderSequenceNumber.Code, BaseOffset: -1, LogStartOffset: -1},
	}
	for i := range want {
		if res[i] != want[i] {
			t.Fatalf("batch %d: %+v, want %+v", i, res[i], want[i])
		}
	}
	if info, _ := h.f.Partition(id, 0); info.HighWatermark != 5 || info.Entries != 1 {
		t.Fatalf("partition 0: %+v; want hw 5 in one merged entry", info)
	}
}

// TestEpochFencingAcrossPartitions: the epoch is per producer, so a bump seen
// in one partition fences the old epoch in all of them.
func TestEpochFencingAcrossPartitions(t *testing.T) {
	h := newHarness(t)
	id := h.createTopic("t", 2)
	const pid = 1
	res := h.commit("f",
		idem(id, 0, 0, 10, 1, pid, 0, 0),
		idem(id, 1, 10, 10, 1, pid, 1, 0), // client-side bumps, on partition 1 only
		idem(id, 1, 20, 10, 1, pid, 2, 0),
		idem(id, 0, 30, 10, 1, pid, 1, 0), // epoch 1 is already fenced on partition 0 too
		idem(id, 0, 40, 10, 1, pid, 0, 1),
		idem(id, 0, 50, 10, 1, pid, 2, 0),
	)
	want := []int16{0, 0, 0, kerr.InvalidProducerEpoch.Code, kerr.InvalidProducerEpoch.Code, 0}
	for i, w := range want {
		if res[i].ErrorCode != w {
			t.Fatalf("batch %d: %+v, want code %d", i, res[i], w)
		}
	}
}

func TestDeleteTopicDropsProducerWindows(t *testing.T) {
	h := newHarness(t)
	id := h.createTopic("t", 1)
	h.mustCommit("f1", idem(id, 0, 0, 10, 1, 1, 0, 0))
	h.apply(DeleteTopic{Name: "t"})
	id = h.createTopic("t", 1)
	// With the window gone, sequence 0 is no longer a duplicate: it is new data.
	if r := h.mustCommit("f2", idem(id, 0, 0, 10, 1, 1, 0, 0)); r[0].Duplicate || r[0].BaseOffset != 0 {
		t.Fatalf("after recreate: %+v", r[0])
	}
	// The producer's epoch survives the topic: it is per producer.
	if r := h.commit("f3", idem(id, 0, 0, 10, 1, 1, 0, 1)); r[0].ErrorCode != 0 {
		t.Fatalf("next sequence: %+v", r[0])
	}
}

func TestInitProducerID(t *testing.T) {
	type call struct {
		pid   int64
		epoch int16
		want  InitProducerIDResult
	}
	fenced := InitProducerIDResult{ErrorCode: kerr.InvalidProducerEpoch.Code, ProducerID: -1, ProducerEpoch: -1}
	tests := []struct {
		name  string
		setup func(h *harness)
		calls []call
	}{
		{"allocate from 1", nil, []call{
			{-1, -1, InitProducerIDResult{ProducerID: 1}},
			{-1, -1, InitProducerIDResult{ProducerID: 2}},
		}},
		{"bump epoch", nil, []call{
			{-1, -1, InitProducerIDResult{ProducerID: 1}},
			{1, 0, InitProducerIDResult{ProducerID: 1, ProducerEpoch: 1}},
			{1, 1, InitProducerIDResult{ProducerID: 1, ProducerEpoch: 2}},
		}},
		{"stale epoch", nil, []call{
			{-1, -1, InitProducerIDResult{ProducerID: 1}},
			{1, 0, InitProducerIDResult{ProducerID: 1, ProducerEpoch: 1}},
			{1, 0, fenced},
			{1, 5, fenced},
		}},
		{"unknown id", nil, []call{{7, 0, fenced}}},
		{"epoch bumps to MaxInt16-1, then a fresh id", func(h *harness) {
			id := h.createTopic("t", 1)
			h.apply(InitProducerID{ProducerID: -1, ProducerEpoch: -1})
			// A client-side bump takes the producer near the end of its epochs.
			h.mustCommit("f", idem(id, 0, 0, 10, 1, 1, math.MaxInt16-2, 0))
		}, []call{
			{1, math.MaxInt16 - 2, InitProducerIDResult{ProducerID: 1, ProducerEpoch: math.MaxInt16 - 1}},
			{1, math.MaxInt16 - 1, InitProducerIDResult{ProducerID: 2}},
		}},
		{"allocation skips ids that have state", func(h *harness) {
			id := h.createTopic("t", 1)
			h.mustCommit("f", idem(id, 0, 0, 10, 1, 1, 0, 0), idem(id, 0, 10, 10, 1, 2, 0, 0))
		}, []call{
			{-1, -1, InitProducerIDResult{ProducerID: 3}},
			{-1, -1, InitProducerIDResult{ProducerID: 4}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			if tt.setup != nil {
				tt.setup(h)
			}
			for i, c := range tt.calls {
				got := h.apply(InitProducerID{ProducerID: c.pid, ProducerEpoch: c.epoch, NowMs: 1}).(InitProducerIDResult)
				if got != c.want {
					t.Fatalf("call %d (%d/%d) = %+v, want %+v", i, c.pid, c.epoch, got, c.want)
				}
			}
		})
	}

	h := newHarness(t)
	h.apply(InitProducerID{ProducerID: -1, ProducerEpoch: -1})
	if got := h.f.NextProducerID(); got != 2 {
		t.Fatalf("NextProducerID = %d, want 2", got)
	}
}
