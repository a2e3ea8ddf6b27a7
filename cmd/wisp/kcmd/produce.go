package kcmd

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// progressOut receives produce's progress lines: stderr, so stdout keeps
// exactly one result line per record. Tests replace it.
var progressOut io.Writer = os.Stderr

// progressAfter is how many records a produce must have before it reports
// progress, and progressEvery how often it then does.
const (
	progressAfter = 1000
	progressEvery = time.Second
)

// produce sends every --records value as its own record and prints one
// result line per record in the order typed. The records are pipelined:
// without idempotence franz-go keeps one produce request in flight per
// broker, so a partition receives them in order, and many records cost a
// few requests instead of one round trip (and one flush) each.
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
	values := splitRecords(o.Records)
	type result struct {
		r   *kgo.Record
		err error
	}
	// One slot per record, filled by the produce callback; results print
	// from this goroutine in the order typed.
	done := make([]chan result, len(values))
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for i, v := range values {
		r := &kgo.Record{Topic: o.Topic, Key: key, Value: []byte(v)}
		if o.Partition >= 0 {
			r.Partition = o.Partition
		}
		ch := make(chan result, 1)
		done[i] = ch
		cl.Produce(pctx, r, func(r *kgo.Record, err error) { ch <- result{r, err} })
	}
	prog := newProgress(len(values))
	for i, ch := range done {
		var res result
		select {
		case res = <-ch:
		case <-ctx.Done():
			return fmt.Errorf("produce record %d (value %q) to topic %q: %w", i+1, values[i], o.Topic, ctx.Err())
		}
		if res.err != nil {
			return fmt.Errorf("produce record %d (value %q) to topic %q: %w%s", i+1, values[i], o.Topic, res.err, explain(res.err, o))
		}
		fmt.Fprintf(out, "result: partition:%d offset:%d value:%q\n", res.r.Partition, res.r.Offset, values[i])
		prog.update(i + 1)
	}
	prog.finish()
	return nil
}

// progress reports how far a long produce is, at most once per
// progressEvery, on progressOut.
type progress struct {
	total      int
	start, due time.Time
}

func newProgress(total int) *progress {
	now := time.Now()
	return &progress{total: total, start: now, due: now.Add(progressEvery)}
}

func (p *progress) update(n int) {
	if p.total < progressAfter || time.Now().Before(p.due) {
		return
	}
	p.due = time.Now().Add(progressEvery)
	elapsed := time.Since(p.start)
	fmt.Fprintf(progressOut, "kcmd: produced %d of %d records (%.0f%%, %.0f records/s)\n",
		n, p.total, 100*float64(n)/float64(p.total), float64(n)/elapsed.Seconds())
}

func (p *progress) finish() {
	if p.total < progressAfter {
		return
	}
	elapsed := time.Since(p.start)
	fmt.Fprintf(progressOut, "kcmd: produced %d records in %s (%.0f records/s)\n",
		p.total, elapsed.Round(time.Millisecond), float64(p.total)/elapsed.Seconds())
}
