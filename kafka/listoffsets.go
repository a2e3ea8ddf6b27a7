package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/wisp-stream/wisp/fsm"
	"github.com/wisp-stream/wisp/kafka/recordbatch"
)

// ListOffsets v1-v11 (v0's shape predates timestamps; Kafka 4 dropped it too).
// With isolation level read_committed (v2+), latest is the last stable
// offset: the end of what a read_committed consumer can read.
func init() {
	register(api{key: 2, min: 1, max: 11, handle: immediate(handleListOffsets)})
}

// Special timestamps of ListOffsets requests.
const (
	listLatest        = -1
	listEarliest      = -2
	listMaxTimestamp  = -3
	listEarliestLocal = -4
	listLatestTiered  = -5
)

func handleListOffsets(c *clientConn, kreq kmsg.Request) kmsg.Response {
	req := kreq.(*kmsg.ListOffsetsRequest)
	resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
	md := c.s.backend.Metadata()
	for _, rt := range req.Topics {
		t := kmsg.NewListOffsetsResponseTopic()
		t.Topic = rt.Topic
		info, ok := md.Topic(rt.Topic)
		for _, rp := range rt.Partitions {
			p := kmsg.NewListOffsetsResponseTopicPartition()
			p.Partition = rp.Partition
			p.Timestamp, p.Offset = -1, -1
			if !ok || rp.Partition < 0 || rp.Partition >= info.Partitions {
				p.ErrorCode = kerr.UnknownTopicOrPartition.Code
			} else {
				key := fsm.PartitionKey{TopicID: info.ID, Partition: rp.Partition}
				p.Offset, p.Timestamp, p.ErrorCode = c.s.listOffset(c.ctx, key, rp.Timestamp, req.IsolationLevel == isolationReadCommitted)
				p.LeaderEpoch = 0
			}
			t.Partitions = append(t.Partitions, p)
		}
		resp.Topics = append(resp.Topics, t)
	}
	return resp
}

// listOffset resolves one ListOffsets query to (offset, timestamp, code).
// With readCommitted the answer is bounded by the last stable offset, as
// in Kafka: latest is the last stable offset, and a timestamp lookup that
// lands on an offset at or past it finds nothing.
func (s *Server) listOffset(ctx context.Context, key fsm.PartitionKey, ts int64, readCommitted bool) (int64, int64, int16) {
	off, found, code := s.listOffsetUncommitted(ctx, key, ts)
	if !readCommitted || code != 0 || ts == listEarliest || ts == listEarliestLocal {
		return off, found, code
	}
	lso, _, ok := s.backend.Metadata().LastStableOffset(key.TopicID, key.Partition)
	switch {
	case !ok:
		return off, found, code
	case ts == listLatest || ts == listLatestTiered:
		return min(off, lso), found, code
	case off >= lso:
		return -1, -1, 0
	}
	return off, found, code
}

// listOffsetUncommitted resolves one ListOffsets query as read_uncommitted.
func (s *Server) listOffsetUncommitted(ctx context.Context, key fsm.PartitionKey, ts int64) (int64, int64, int16) {
	md := s.backend.Metadata()
	info, ok := md.Partition(key.TopicID, key.Partition)
	if !ok {
		return -1, -1, kerr.UnknownTopicOrPartition.Code
	}
	switch ts {
	case listLatest, listLatestTiered:
		return info.HighWatermark, -1, 0
	case listEarliest, listEarliestLocal:
		return info.LogStartOffset, -1, 0
	case listMaxTimestamp:
		return s.offsetOfMaxTimestamp(ctx, key, info)
	}
	if ts < 0 {
		return -1, -1, kerr.InvalidRequest.Code
	}
	e, ok := md.EntryForTimestamp(key.TopicID, key.Partition, ts)
	if !ok {
		return -1, -1, 0
	}
	if e.Len == 0 {
		// A compacted entry may hold no batch (the compactor in agent/
		// never writes one, but the manifest allows it).
		return -1, -1, 0
	}
	data, err := s.backend.ReadAt(ctx, e.Key, e.Pos, e.Len)
	if err != nil {
		s.log.Warn("list offsets could not read data file", "key", e.Key, "err", err)
		return -1, -1, kerr.KafkaStorageError.Code
	}
	off, found, code := int64(-1), int64(-1), int16(0)
	next := e.BaseOffset
	recordbatch.Walk(data, func(h recordbatch.Header, raw []byte) bool {
		base := next
		if e.AbsoluteOffsets {
			base = h.BaseOffset // compacted: offsets may have gaps
		}
		next = base + h.OffsetCount()
		if h.MaxTimestamp < ts || base < info.LogStartOffset {
			return true
		}
		if h.LogAppendTime() {
			off, found = base, h.MaxTimestamp
			return false
		}
		recs, err := recordbatch.Records(raw)
		if err != nil {
			code = kerr.CorruptMessage.Code
			return false
		}
		for _, r := range recs {
			if rts := h.FirstTimestamp + r.TimestampDelta; rts >= ts {
				off, found = base+int64(r.OffsetDelta), rts
				return false
			}
		}
		return true
	})
	return off, found, code
}

// offsetOfMaxTimestamp answers ListOffsets -3: the batch holding the largest
// timestamp, whose last offset carries it.
func (s *Server) offsetOfMaxTimestamp(ctx context.Context, key fsm.PartitionKey, info fsm.PartitionInfo) (int64, int64, int16) {
	md := s.backend.Metadata()
	best, bestTS := int64(-1), int64(-1)
	from := info.LogStartOffset
	for from < info.HighWatermark {
		entries, _, _ := md.Entries(key.TopicID, key.Partition, from, 1024)
		if len(entries) == 0 {
			break
		}
		for _, e := range entries {
			if e.MaxTimestamp > bestTS {
				best, bestTS = e.LastOffset, e.MaxTimestamp
			}
			from = e.LastOffset + 1
		}
	}
	return best, bestTS, 0
}
