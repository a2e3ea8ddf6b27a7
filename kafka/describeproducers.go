package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeProducers v0: the idempotent and transactional producers with
// state in each partition (epoch, last sequence, last write, the first
// offset of an ongoing transaction), as kafka-transactions.sh
// find-hanging shows them. Any agent answers for any partition.
func init() {
	register(api{key: 61, min: 0, max: 0, handle: immediate(handleDescribeProducers)})
}

func handleDescribeProducers(c *clientConn, kreq kmsg.Request) kmsg.Response {
	req := kreq.(*kmsg.DescribeProducersRequest)
	resp := req.ResponseKind().(*kmsg.DescribeProducersResponse)
	md := c.s.backend.Metadata()
	for _, rt := range req.Topics {
		t := kmsg.NewDescribeProducersResponseTopic()
		t.Topic = rt.Topic
		info, known := c.s.topicByName(c.ctx, rt.Topic)
		for _, p := range rt.Partitions {
			rp := kmsg.NewDescribeProducersResponseTopicPartition()
			rp.Partition = p
			producers, ok := md.PartitionProducers(info.ID, p)
			if !known || !ok {
				rp.ErrorCode = kerr.UnknownTopicOrPartition.Code
				t.Partitions = append(t.Partitions, rp)
				continue
			}
			for _, ps := range producers {
				ap := kmsg.NewDescribeProducersResponseTopicPartitionActiveProducer()
				ap.ProducerID, ap.ProducerEpoch, ap.LastSequence = ps.ProducerID, int32(ps.ProducerEpoch), ps.LastSequence
				ap.LastTimestamp, ap.CoordinatorEpoch, ap.CurrentTxnStartOffset = ps.LastMs, 0, ps.TxnStartOffset
				rp.ActiveProducers = append(rp.ActiveProducers, ap)
			}
			t.Partitions = append(t.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, t)
	}
	return resp
}
