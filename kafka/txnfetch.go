package kafka

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/wisp-stream/wisp/fsm"
	"github.com/wisp-stream/wisp/kafka/recordbatch"
)

// Fetch and transactions: a read_committed fetch (isolation level 1) reads
// up to the last stable offset, the first offset of the oldest transaction
// still open in the partition, and gets the aborted transactions that
// overlap what it returns, so the client drops their records. Markers are
// returned like any batch; clients skip them.

const isolationReadCommitted = 1

// readEnd returns the offset a fetch of fp reads up to (exclusive): the high
// watermark, or for read_committed the last stable offset; and the last
// stable offset to report. The two reads of the state may see different
// applies, so the last stable offset is capped at hw.
func (s *Server) readEnd(fp *fetchPart, hw int64) (end, lso int64) {
	lso, _, ok := s.backend.Metadata().LastStableOffset(fp.key.TopicID, fp.key.Partition)
	if !ok || lso > hw {
		lso = hw
	}
	if fp.readCommitted {
		return lso, lso
	}
	return hw, lso
}

// committedView cuts recs (whole batches read from offset from on) before
// the first batch at or past end, and lists the aborted transactions that
// overlap the offsets returned.
func (s *Server) committedView(key fsm.PartitionKey, from, end int64, recs []byte) ([]byte, []kmsg.FetchResponseTopicPartitionAbortedTransaction) {
	cut, last := 0, int64(-1)
	recordbatch.Walk(recs, func(h recordbatch.Header, raw []byte) bool {
		if h.BaseOffset >= end {
			return false
		}
		cut += len(raw)
		last = h.LastOffset()
		return true
	})
	recs = recs[:cut]
	if last < from {
		return recs, nil
	}
	var out []kmsg.FetchResponseTopicPartitionAbortedTransaction
	for _, a := range s.backend.Metadata().AbortedTxns(key.TopicID, key.Partition, from, last) {
		at := kmsg.NewFetchResponseTopicPartitionAbortedTransaction()
		at.ProducerID, at.FirstOffset = a.ProducerID, a.FirstOffset
		out = append(out, at)
	}
	return recs, out
}
