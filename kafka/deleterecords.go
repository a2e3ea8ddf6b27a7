package kafka

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/wisp-stream/wisp/fsm"
)

// DeleteRecords v0-v2: advances partitions' log start offsets through Raft.
// Offset -1 means the high watermark. The files whose every batch falls
// below the new log start become dead and leave the bucket after the
// dead-file grace, so fetches already reading them finish.
func init() {
	register(api{key: 21, min: 0, max: 2, handle: immediate(handleDeleteRecords)})
}

func handleDeleteRecords(c *clientConn, kreq kmsg.Request) kmsg.Response {
	req := kreq.(*kmsg.DeleteRecordsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteRecordsResponse)
	timeout := time.Duration(req.TimeoutMillis) * time.Millisecond
	if timeout <= 0 {
		timeout = configWriteTimeout
	}
	ctx, cancel := context.WithTimeout(c.ctx, timeout)
	defer cancel()
	md := c.s.backend.Metadata()
	for _, rt := range req.Topics {
		t := kmsg.NewDeleteRecordsResponseTopic()
		t.Topic = rt.Topic
		info, known := c.s.topicByName(ctx, rt.Topic)
		for _, rp := range rt.Partitions {
			p := kmsg.NewDeleteRecordsResponseTopicPartition()
			p.Partition, p.LowWatermark = rp.Partition, -1
			pi, ok := fsm.PartitionInfo{}, false
			if known {
				pi, ok = md.Partition(info.ID, rp.Partition)
			}
			if !ok {
				p.ErrorCode = kerr.UnknownTopicOrPartition.Code
				t.Partitions = append(t.Partitions, p)
				continue
			}
			p.LowWatermark, p.ErrorCode = deleteRecords(ctx, c, info.ID, rp.Partition, rp.Offset, pi.HighWatermark)
			t.Partitions = append(t.Partitions, p)
		}
		resp.Topics = append(resp.Topics, t)
	}
	return resp
}

// deleteRecords trims one partition and returns its new log start (the low
// watermark) and an error code. hw is the high watermark the local replica
// knows; the leader's FSM checks the target again against its own.
func deleteRecords(ctx context.Context, c *clientConn, id [16]byte, partition int32, offset, hw int64) (int64, int16) {
	switch {
	case offset == -1:
		// Apply must be deterministic: stamp the high watermark here.
		offset = hw
	case offset < 0:
		return -1, kerr.OffsetOutOfRange.Code
	}
	res, err := c.s.backend.Apply(ctx, &fsm.TrimLog{TopicID: id, Partition: partition, NewLogStart: offset, NowMs: time.Now().UnixMilli()})
	if err != nil {
		c.log.Warn("delete records failed", "partition", partition, "err", err)
		return -1, kerr.RequestTimedOut.Code
	}
	tr, ok := res.(fsm.TrimLogResult)
	if !ok {
		c.log.Error("unexpected fsm response to TrimLog", "type", res)
		return -1, kerr.UnknownServerError.Code
	}
	return tr.LogStartOffset, tr.ErrorCode
}
