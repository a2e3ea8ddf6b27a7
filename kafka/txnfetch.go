package kafka

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/wisp-stream/wisp/fsm"
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

// abortedIn lists the aborted transactions that overlap offsets
// [from, last], what a read_committed fetch returns (readPartition stops it
// at the last stable offset).
func (s *Server) abortedIn(key fsm.PartitionKey, from, last int64) []kmsg.FetchResponseTopicPartitionAbortedTransaction {
	if last < from {
		return nil
	}
	var out []kmsg.FetchResponseTopicPartitionAbortedTransaction
	for _, a := range s.backend.Metadata().AbortedTxns(key.TopicID, key.Partition, from, last) {
		at := kmsg.NewFetchResponseTopicPartitionAbortedTransaction()
		at.ProducerID, at.FirstOffset = a.ProducerID, a.FirstOffset
		out = append(out, at)
	}
	return out
}
