package fsm

import (
	"math"

	"github.com/twmb/franz-go/pkg/kerr"
)

// seqWindowSize is how many batches per producer and partition are kept for
// duplicate detection: Kafka's max.in.flight.requests.per.connection limit
// for idempotent producers.
const seqWindowSize = 5

// seqWindow is one producer's recent batches in one partition, oldest first,
// all of one epoch (an epoch bump starts a new window).
type seqWindow struct {
	epoch int16
	n     uint8
	b     [seqWindowSize]seqBatch
}

type seqBatch struct {
	first, last int32 // sequence numbers, inclusive
	base        int64 // base offset assigned to the batch
	records     int32
}

func (w *seqWindow) push(b seqBatch) {
	if int(w.n) == seqWindowSize {
		copy(w.b[:], w.b[1:])
		w.n--
	}
	w.b[w.n] = b
	w.n++
}

// lastSeq is the sequence of a batch's last record. Sequences wrap from
// MaxInt32 to 0.
func lastSeq(base, records int32) int32 {
	return int32((int64(base) + int64(records) - 1) % (1 << 31))
}

func nextSeq(last int32) int32 {
	if last == math.MaxInt32 {
		return 0
	}
	return last + 1
}

type seqVerdict struct {
	err       *kerr.Error
	duplicate bool
	base      int64 // original base offset of a duplicate
}

// checkSequence applies Kafka's idempotence rules to batch b of an idempotent
// producer without changing state:
//   - an epoch below the producer's is fenced;
//   - a batch equal to one of the window's is a duplicate of it;
//   - a higher epoch than the window's must start at sequence 0;
//   - the window's epoch must continue its last sequence;
//   - with no window (first write here, or state lost) any sequence goes,
//     unless the epoch is a bump past the producer's.
func (s *state) checkSequence(p *partition, b BatchMeta) seqVerdict {
	prod, known := s.producers[b.ProducerID]
	if known && b.ProducerEpoch < prod.epoch {
		return seqVerdict{err: kerr.InvalidProducerEpoch}
	}
	last := lastSeq(b.BaseSequence, b.Records)
	if w, ok := p.windows[b.ProducerID]; ok {
		if b.ProducerEpoch < w.epoch {
			return seqVerdict{err: kerr.InvalidProducerEpoch}
		}
		if b.ProducerEpoch == w.epoch {
			for _, x := range w.b[:w.n] {
				if x.first == b.BaseSequence && x.last == last {
					return seqVerdict{duplicate: true, base: x.base}
				}
			}
			if b.BaseSequence != nextSeq(w.b[w.n-1].last) {
				return seqVerdict{err: kerr.OutOfOrderSequenceNumber}
			}
			return seqVerdict{}
		}
		if b.BaseSequence != 0 {
			return seqVerdict{err: kerr.OutOfOrderSequenceNumber}
		}
		return seqVerdict{}
	}
	if known && b.ProducerEpoch > prod.epoch && b.BaseSequence != 0 {
		return seqVerdict{err: kerr.OutOfOrderSequenceNumber}
	}
	return seqVerdict{}
}

// recordSequence notes an accepted batch in the producer's window (starting a
// new window on an epoch change) and raises the producer's epoch to the
// batch's: clients may bump an idempotent producer's epoch themselves.
func (s *state) recordSequence(p *partition, b BatchMeta, base, nowMs int64) {
	w := p.windows[b.ProducerID]
	if w.n == 0 || w.epoch != b.ProducerEpoch {
		w = seqWindow{epoch: b.ProducerEpoch}
	}
	w.push(seqBatch{first: b.BaseSequence, last: lastSeq(b.BaseSequence, b.Records), base: base, records: b.Records})
	if p.windows == nil {
		p.windows = make(map[int64]seqWindow)
	}
	p.windows[b.ProducerID] = w

	prod := s.producers[b.ProducerID]
	prod.epoch = max(prod.epoch, b.ProducerEpoch)
	prod.lastMs = nowMs
	s.producers[b.ProducerID] = prod
}

// initProducerID allocates a producer id or bumps an existing one's epoch.
// An epoch about to run out (Kafka stops at MaxInt16-1) gets a fresh id.
func (s *state) initProducerID(c InitProducerID) InitProducerIDResult {
	if c.ProducerID < 0 {
		return s.allocProducer(c.NowMs)
	}
	prod, ok := s.producers[c.ProducerID]
	if !ok || prod.epoch != c.ProducerEpoch {
		return InitProducerIDResult{ErrorCode: kerr.InvalidProducerEpoch.Code, ProducerID: -1, ProducerEpoch: -1}
	}
	if prod.epoch >= math.MaxInt16-1 {
		return s.allocProducer(c.NowMs)
	}
	prod.epoch++
	prod.lastMs = c.NowMs
	s.producers[c.ProducerID] = prod
	return InitProducerIDResult{ProducerID: c.ProducerID, ProducerEpoch: prod.epoch}
}

// allocProducer hands out the next id from the counter, skipping ids that
// already have state (a client may have written with an id this FSM never
// issued, or whose state outlived a counter reset).
func (s *state) allocProducer(nowMs int64) InitProducerIDResult {
	id := s.nextPID
	for {
		if _, used := s.producers[id]; !used {
			break
		}
		id++
	}
	s.nextPID = id + 1
	s.producers[id] = producer{epoch: 0, lastMs: nowMs}
	return InitProducerIDResult{ProducerID: id, ProducerEpoch: 0}
}
