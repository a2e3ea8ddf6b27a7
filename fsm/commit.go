package fsm

import (
	"math"

	"github.com/twmb/franz-go/pkg/kerr"
)

// commitFile assigns offsets to a file's batches in slice order and indexes
// the accepted ones. A file none of whose batches is accepted dies at once:
// its bytes are in the bucket but nothing will ever read them.
func (s *state) commitFile(index uint64, c CommitFile) (CommitFileResult, []PartitionKey) {
	res := CommitFileResult{Batches: make([]BatchResult, len(c.Batches))}
	switch {
	case c.Key == "" || c.Size < 0:
		failAll(res.Batches, kerr.InvalidRecord)
		return res, nil
	case s.knownFile(c.Key):
		if r, ok := s.replayCommit(c); ok {
			return r, nil
		}
		failAll(res.Batches, kerr.DuplicateResource)
		return res, nil
	}

	var (
		refs     int64
		advanced []PartitionKey
		seen     = make(map[PartitionKey]struct{})
		tc       = s.beginTxnCommit(c) // nil without transactional content
	)
	for i, b := range c.Batches {
		p := s.partition(b.TopicID, b.Partition)
		if p == nil {
			res.Batches[i] = failed(kerr.UnknownTopicOrPartition)
			continue
		}
		if invalidBatch(c.Size, b, p.hw) {
			res.Batches[i] = failed(kerr.InvalidRecord)
			continue
		}
		if b.Transactional || b.Control {
			if e := tc.check(s, PartitionKey{TopicID: b.TopicID, Partition: b.Partition}, b); e != nil {
				res.Batches[i] = failed(e)
				continue
			}
		}
		if b.ProducerID >= 0 && !b.Control {
			v := s.checkSequence(p, b)
			if v.err != nil {
				res.Batches[i] = failed(v.err)
				continue
			}
			if v.duplicate {
				res.Batches[i] = BatchResult{BaseOffset: v.base, LogStartOffset: p.logStart, Duplicate: true}
				continue
			}
		}

		base := p.hw
		p.hw += int64(b.Records)
		merged := p.m.add(Entry{
			BaseOffset:   base,
			LastOffset:   p.hw - 1,
			Key:          c.Key, // every entry shares the command's string
			Pos:          b.Pos,
			Len:          int64(b.Len),
			MaxTimestamp: b.MaxTimestamp,
		})
		if !merged {
			refs++
		}
		k := PartitionKey{TopicID: b.TopicID, Partition: b.Partition}
		if b.ProducerID >= 0 && !b.Control {
			s.recordSequence(p, b, base, c.NowMs)
		}
		if b.Transactional || b.Control {
			tc.accepted(p, k, b, base)
		}
		res.Batches[i] = BatchResult{BaseOffset: base, LogStartOffset: p.logStart}

		if _, ok := seen[k]; !ok {
			seen[k] = struct{}{}
			advanced = append(advanced, k)
		}
	}

	tc.finish(s, c.NowMs)
	if refs > 0 {
		s.files[c.Key] = fileRec{size: c.Size, nodeID: c.NodeID, createdMs: c.NowMs, refs: refs}
	} else {
		s.markDead(c.Key, c.Size, index, c.NowMs)
	}
	s.recent.add(c.Key, res.Batches)
	return res, advanced
}

// knownFile reports whether key is live or dead. Committing such a key again
// must not succeed: a dead file may be deleted from the bucket at any moment.
func (s *state) knownFile(key string) bool {
	if _, ok := s.files[key]; ok {
		return true
	}
	_, ok := s.deadKeys[key]
	return ok
}

// invalidBatch reports a batch whose own fields are impossible: no bytes or
// records, bytes outside the file, offsets that would overflow, or a negative
// epoch or sequence on an idempotent batch (a transaction marker carries no
// sequence). Only a buggy proposer sends one.
func invalidBatch(size int64, b BatchMeta, hw int64) bool {
	return b.Len < 1 || b.Records < 1 || b.Pos < 0 || b.Pos > size-int64(b.Len) ||
		hw > math.MaxInt64-int64(b.Records) ||
		b.ProducerID >= 0 && (b.ProducerEpoch < 0 || b.BaseSequence < 0 && !b.Control)
}

func failed(e *kerr.Error) BatchResult {
	return BatchResult{ErrorCode: e.Code, BaseOffset: -1, LogStartOffset: -1}
}

func failAll(rs []BatchResult, e *kerr.Error) {
	for i := range rs {
		rs[i] = failed(e)
	}
}
