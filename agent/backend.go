package agent

import (
	"context"
	"time"

	"github.com/wisp-stream/wisp/fsm"
	"github.com/wisp-stream/wisp/kafka"
)

// backend is the agent as the Kafka protocol layer sees it.
type backend Agent

var _ kafka.Backend = (*backend)(nil)

func (b *backend) Metadata() *fsm.FSM { return b.fsm }

func (b *backend) Apply(ctx context.Context, cmd fsm.Command) (any, error) {
	return b.raft.apply(ctx, cmd)
}

// Append, ReadAt and FetchServed are where the console's and /metrics'
// produce and fetch throughput and latency are observed (see api_samples.go).
func (b *backend) Append(ctx context.Context, batches []kafka.ProduceBatch) (kafka.Ticket, error) {
	start := time.Now()
	t, err := b.flusher.Append(ctx, batches)
	if err != nil {
		return t, err
	}
	return (*Agent)(b).observeProduce(t, batches, start), nil
}

func (b *backend) ReadAt(ctx context.Context, key string, off, n int64) ([]byte, error) {
	start := time.Now()
	data, err := b.cache.ReadAt(ctx, key, off, n)
	if err == nil && b.metrics != nil {
		b.metrics.fetchReadSeconds.Observe(time.Since(start).Seconds())
	}
	return data, err
}

func (b *backend) SealSoon() { b.flusher.SealSoon() }

func (b *backend) ReadBlockSize() int64 { return b.cache.BlockSize() }

func (b *backend) FetchServed(bytes, records int64) {
	b.ops.traffic.fetchBytes.Add(bytes)
	b.ops.traffic.fetchRecords.Add(records)
}

func (b *backend) Prefetch(key string, off, n int64) { b.cache.Prefetch(key, off, n) }

func (b *backend) SyncMetadata(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return b.raft.syncWithLeader(ctx)
}

func (b *backend) Brokers() []kafka.Broker { return peers{b.gossip}.brokers() }

func (b *backend) BrokersOn(listener string) []kafka.Broker {
	return peers{b.gossip}.brokersOn(listener)
}
