package kafka

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/wisp-stream/wisp/fsm"
	"github.com/wisp-stream/wisp/kafka/recordbatch"
)

// produceKey is the Produce API's key.
const produceKey = 0

// Produce v0-v13. Only magic-2 record batches are accepted; v0-v2 stay
// advertised because librdkafka before 2.11.1 turns compression off when
// Produce v0 is missing from ApiVersions. v13 names topics by id.
func init() {
	register(api{key: produceKey, min: 0, max: 13, handle: handleProduce})
}

// ErrNotCommitted is what a Ticket reports when the file holding a request
// could not be put or committed, or its commit's outcome is unknown: nothing
// of the request was acknowledged, and the client may retry it.
var ErrNotCommitted = errors.New("produce not committed")

// idempotentMaxInFlight is how many produce requests an idempotent producer
// keeps in flight to one broker at most: brokers remember five batches per
// producer and partition for deduplication, so the Java client, librdkafka
// and franz-go all cap their in-flight requests at five with idempotence on.
// A connection with that many produce requests waiting is a producer that
// cannot send the records it holds until one is answered.
const idempotentMaxInFlight = 5

// errBatchTooLarge is a batch over the topic's max.message.bytes.
var errBatchTooLarge = errors.New("record batch too large")

// produceSlot tracks one partition of a produce request while it waits.
type produceSlot struct {
	topic     *kmsg.ProduceResponseTopic
	partition int32
	code      int16
	msg       string
	first     int // index of this partition's first batch in the appended slice
	n         int
	// appendTime is the LogAppendTime stamped on the batches, or -1.
	appendTime int64
}

func handleProduce(c *clientConn, kreq kmsg.Request, in *inflight) respond {
	req := kreq.(*kmsg.ProduceRequest)
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	s := c.s

	// Transactional batches are checked where their offsets are assigned:
	// the state machine indexes them only for a partition of the
	// producer's ongoing transaction at its epoch (INVALID_TXN_STATE or
	// INVALID_PRODUCER_EPOCH otherwise), see fsm/txn_commit.go.
	var topics produceTopics
	var (
		batches []ProduceBatch
		slots   []*produceSlot
		failed  bool
	)
	for _, rt := range req.Topics {
		t := topics.add(rt)
		var (
			info fsm.TopicInfo
			ok   bool
		)
		if req.Version >= 13 {
			info, ok = s.topicByID(c.ctx, rt.TopicID)
		} else {
			info, ok = s.topicByName(c.ctx, rt.Topic)
		}
		maxBatch := int64(1048588)
		appendTime := int64(-1)
		if ok && info.Configs["message.timestamp.type"] == "LogAppendTime" {
			appendTime = time.Now().UnixMilli()
		}
		if ok {
			if v, err := strconv.ParseInt(info.Configs["max.message.bytes"], 10, 64); err == nil && v > 0 {
				maxBatch = v
			}
		}
		for _, rp := range rt.Partitions {
			slot := &produceSlot{topic: t, partition: rp.Partition, first: len(batches)}
			slots = append(slots, slot)
			if !ok || rp.Partition < 0 || rp.Partition >= info.Partitions {
				slot.code = kerr.UnknownTopicOrPartition.Code
				failed = true
				continue
			}
			split, err := recordbatch.Split(rp.Records)
			for _, b := range split {
				if err != nil {
					break
				}
				if int64(len(b.Raw)) > maxBatch {
					err = fmt.Errorf("%w: batch of %d bytes exceeds max.message.bytes %d", errBatchTooLarge, len(b.Raw), maxBatch)
				}
			}
			if err != nil {
				slot.code, slot.msg = batchErrorCode(err), err.Error()
				failed = true
				c.log.Debug("rejected produce batch", "topic", info.Name, "partition", rp.Partition, "err", err)
				continue
			}
			for _, b := range split {
				if appendTime >= 0 {
					// The topic stamps records with the broker's time: the
					// batch carries it, so the CRC must be recomputed.
					recordbatch.SetLogAppendTime(b.Raw, appendTime)
					b.Header.MaxTimestamp = appendTime
				}
				batches = append(batches, ProduceBatch{TopicID: info.ID, Partition: rp.Partition, Header: b.Header, Raw: b.Raw})
			}
			slot.n = len(split)
			slot.appendTime = appendTime
		}
	}

	var ticket Ticket
	var appendErr error
	if len(batches) > 0 {
		timeout := time.Duration(req.TimeoutMillis) * time.Millisecond
		if timeout <= 0 {
			timeout = 30 * time.Second
		}
		ctx, cancel := context.WithTimeout(c.ctx, timeout)
		ticket, appendErr = s.backend.Append(ctx, batches)
		cancel()
		if ticket != nil {
			in.ready = ticket.Done()
		}
	}
	waiting := ticket != nil && req.Acks != 0
	if waiting && c.producing.Add(1) >= idempotentMaxInFlight && batches[0].Header.ProducerID >= 0 {
		s.backend.SealSoon()
	}

	if req.Acks == 0 {
		// No response; Kafka closes the connection on errors so the client
		// refreshes metadata instead of writing into the void.
		in.closeAfter = failed || appendErr != nil
		return func() kmsg.Response { return nil }
	}

	start := time.Now()
	return func() kmsg.Response {
		if waiting {
			defer c.producing.Add(-1)
		}
		var results []fsm.BatchResult
		var err = appendErr
		if ticket != nil && err == nil {
			timeout := time.Duration(req.TimeoutMillis)*time.Millisecond - time.Since(start)
			timer := time.NewTimer(max(timeout, 0))
			select {
			case <-ticket.Done():
				results, err = ticket.Results()
			case <-timer.C:
				err = context.DeadlineExceeded
			case <-c.ctx.Done():
				err = c.ctx.Err()
			}
			timer.Stop()
		}
		for _, slot := range slots {
			if slot.code != 0 || slot.n == 0 {
				addProducePartition(slot.topic, slot.partition, slot.code, slot.msg)
				continue
			}
			if err != nil {
				code := kerr.KafkaStorageError.Code
				if errors.Is(err, context.DeadlineExceeded) {
					code = kerr.RequestTimedOut.Code
				}
				addProducePartition(slot.topic, slot.partition, code, err.Error())
				continue
			}
			p := addProducePartition(slot.topic, slot.partition, 0, "")
			p.LogAppendTime = slot.appendTime
			for i, r := range results[slot.first : slot.first+slot.n] {
				if i == 0 {
					p.BaseOffset = r.BaseOffset
				}
				p.LogStartOffset = r.LogStartOffset
				if r.ErrorCode != 0 {
					p.ErrorCode = r.ErrorCode
					p.BaseOffset = -1
					break
				}
			}
		}
		return topics.into(resp)
	}
}

// produceTopics collects response topics by pointer while partitions are
// added, and copies them into the response once complete.
type produceTopics []*kmsg.ProduceResponseTopic

func (ts *produceTopics) add(rt kmsg.ProduceRequestTopic) *kmsg.ProduceResponseTopic {
	t := kmsg.NewProduceResponseTopic()
	t.Topic, t.TopicID = rt.Topic, rt.TopicID
	*ts = append(*ts, &t)
	return &t
}

func (ts produceTopics) into(resp *kmsg.ProduceResponse) *kmsg.ProduceResponse {
	for _, t := range ts {
		resp.Topics = append(resp.Topics, *t)
	}
	return resp
}

func addProducePartition(t *kmsg.ProduceResponseTopic, partition int32, code int16, msg string) *kmsg.ProduceResponseTopicPartition {
	p := kmsg.NewProduceResponseTopicPartition()
	p.Partition = partition
	p.ErrorCode = code
	p.BaseOffset = -1
	p.LogAppendTime = -1
	if msg != "" {
		p.ErrorMessage = &msg
	}
	t.Partitions = append(t.Partitions, p)
	return &t.Partitions[len(t.Partitions)-1]
}

// batchErrorCode maps a record batch validation error to its Kafka code.
func batchErrorCode(err error) int16 {
	switch {
	case errors.Is(err, recordbatch.ErrUnsupportedMagic):
		return kerr.UnsupportedForMessageFormat.Code
	case errors.Is(err, recordbatch.ErrUnsupportedCompression):
		return kerr.UnsupportedCompressionType.Code
	case errors.Is(err, errBatchTooLarge):
		return kerr.MessageTooLarge.Code
	case errors.Is(err, recordbatch.ErrInvalidRecord):
		return kerr.InvalidRecord.Code
	default:
		return kerr.CorruptMessage.Code
	}
}
