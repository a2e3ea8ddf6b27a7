package kcmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// maxFetchWait caps how long the server may hold a fetch open; Kafka's
// default is 500ms and franz-go's 5s.
const maxFetchWait = 5 * time.Second

// fetch reads from --offset in the chosen partitions and prints records as
// they arrive. It stops after --max-records records, or when --timeout passes
// with no new record. It uses no consumer group and commits nothing.
func fetch(ctx context.Context, o Options, out io.Writer) error {
	// A plain client first, to learn the partitions before the consumer
	// is configured with them.
	meta, err := newClient(o)
	if err != nil {
		return err
	}
	count, err := partitionCount(ctx, meta, o, o.Topic)
	meta.Close()
	if err != nil {
		return err
	}
	if err := checkPartition(o, count); err != nil {
		return err
	}

	start := kgo.NewOffset().At(o.Offset)
	parts := make(map[int32]kgo.Offset)
	if o.Partition >= 0 {
		parts[o.Partition] = start
	} else {
		for p := int32(0); p < count; p++ {
			parts[p] = start
		}
	}
	cl, err := newClient(o,
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{o.Topic: parts}),
		// A diagnostic read must not quietly jump elsewhere when the
		// requested offset is not in the log.
		kgo.ConsumeResetOffset(kgo.NoResetOffset()),
		kgo.FetchMaxWait(fetchWait(o.Timeout)),
	)
	if err != nil {
		return err
	}
	defer cl.Close()

	n := 0
	for n < o.MaxRecords {
		pctx, cancel := context.WithTimeout(ctx, o.Timeout)
		fetches := cl.PollRecords(pctx, o.MaxRecords-n)
		cancel()
		idle := false
		for _, fe := range fetches.Errors() {
			switch {
			case errors.Is(fe.Err, context.DeadlineExceeded) && ctx.Err() == nil:
				idle = true
			case ctx.Err() != nil:
				return fmt.Errorf("fetch from topic %q stopped after %d records: %w", o.Topic, n, ctx.Err())
			default:
				return fmt.Errorf("fetch from topic %q partition %d: %w%s", o.Topic, fe.Partition, fe.Err, explain(fe.Err, o))
			}
		}
		fetches.EachRecord(func(r *kgo.Record) {
			n++
			fmt.Fprintf(out, "partition:%d offset:%d key:%q value:%q\n", r.Partition, r.Offset, r.Key, r.Value)
		})
		if idle {
			break
		}
	}
	fmt.Fprintf(out, "fetched %d records from topic %q\n", n, o.Topic)
	return nil
}

// fetchWait keeps the server's long poll shorter than the idle timeout so
// that an empty poll returns before kcmd gives up on the partition.
func fetchWait(timeout time.Duration) time.Duration {
	w := min(timeout/2, maxFetchWait)
	return max(w, 10*time.Millisecond)
}
