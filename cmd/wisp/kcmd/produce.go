package kcmd

import (
	"context"
	"fmt"
	"io"

	"github.com/twmb/franz-go/pkg/kgo"
)

// produce sends each --records value as its own record and waits for its
// ack before sending the next, so offsets print in the order typed.
func produce(ctx context.Context, o Options, out io.Writer) error {
	extra := []kgo.Opt{
		kgo.RecordDeliveryTimeout(o.Timeout),
		kgo.ProducerLinger(0),
	}
	if o.Partition >= 0 {
		extra = append(extra, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	}
	cl, err := newClient(o, extra...)
	if err != nil {
		return err
	}
	defer cl.Close()

	// Asking first turns a missing topic or partition into a clear error
	// instead of the producer's retries running out.
	count, err := partitionCount(ctx, cl, o, o.Topic)
	if err != nil {
		return err
	}
	if err := checkPartition(o, count); err != nil {
		return err
	}

	var key []byte
	if o.Key != "" {
		key = []byte(o.Key)
	}
	for i, v := range splitRecords(o.Records) {
		r := &kgo.Record{Topic: o.Topic, Key: key, Value: []byte(v)}
		if o.Partition >= 0 {
			r.Partition = o.Partition
		}
		sctx, cancel := step(ctx, o)
		err := cl.ProduceSync(sctx, r).FirstErr()
		cancel()
		if err != nil {
			return fmt.Errorf("produce record %d (value %q) to topic %q: %w%s", i+1, v, o.Topic, err, explain(err, o))
		}
		fmt.Fprintf(out, "result: partition:%d offset:%d value:%q\n", r.Partition, r.Offset, v)
	}
	return nil
}
