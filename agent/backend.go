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

func (b *backend) Append(ctx context.Context, batches []kafka.ProduceBatch) (kafka.Ticket, error) {
	return b.flusher.Append(ctx, batches)
}

func (b *backend) ReadAt(ctx context.Context, key string, off, n int64) ([]byte, error) {
	return b.cache.ReadAt(ctx, key, off, n)
}

func (b *backend) SyncMetadata(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return b.raft.syncWithLeader(ctx)
}

func (b *backend) Brokers() []kafka.Broker { return peers{b.gossip}.brokers() }
