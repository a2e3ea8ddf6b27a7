package tests

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchmarkTxnProduce compares transactional produce with plain idempotent
// produce in one run: 1 KiB records to 12 partitions through franz-go,
// acks=all, one agent on a file:// bucket with a 20 ms flush interval. A
// transaction of n records costs its produce plus AddPartitionsToTxn and
// EndTxn (two Raft writes and one marker flush), so small transactions pay
// about one flush interval each. Run:
//
//	go test ./tests -run '^$' -bench 'BenchmarkTxnProduce' -benchtime 100000x
func BenchmarkTxnProduce(b *testing.B) {
	b.Run("idempotent", func(b *testing.B) {
		cl := txnBenchClient(b)
		txnBenchLoop(b, cl, 0)
	})
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("transactional/records-per-txn=%d", n), func(b *testing.B) {
			cl := txnBenchClient(b, kgo.TransactionalID(fmt.Sprintf("bench-%d", n)), kgo.TransactionTimeout(time.Minute))
			txnBenchLoop(b, cl, n)
		})
	}
}

func txnBenchClient(b *testing.B, opts ...kgo.Opt) *kgo.Client {
	ta := startAgent(b, testConfig(b, withFlushInterval(20*time.Millisecond), withBucket("file://"+b.TempDir()+"/bucket")))
	cl := ta.client(append([]kgo.Opt{
		kgo.DefaultProduceTopic("bench"),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.MaxBufferedRecords(100_000),
		kgo.ProducerBatchMaxBytes(1 << 20),
	}, opts...)...)
	createTopic(b, cl, "bench", 12)
	return cl
}

// txnBenchLoop produces b.N records, in transactions of perTxn records when
// perTxn > 0, and reports MiB/s and transactions per second.
func txnBenchLoop(b *testing.B, cl *kgo.Client, perTxn int) {
	ctx := context.Background()
	value := make([]byte, 1024)
	b.SetBytes(int64(len(value)))
	var firstErr error
	promise := func(_ *kgo.Record, err error) {
		if err != nil && firstErr == nil {
			firstErr = err
		}
	}
	txns := 0
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; {
		n := b.N - i
		if perTxn > 0 {
			n = min(n, perTxn)
			if err := cl.BeginTransaction(); err != nil {
				b.Fatal(err)
			}
		}
		for range n {
			cl.Produce(ctx, &kgo.Record{Value: value}, promise)
		}
		i += n
		if err := cl.Flush(ctx); err != nil {
			b.Fatal(err)
		}
		if perTxn > 0 {
			if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
				b.Fatalf("commit: %v", err)
			}
			txns++
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	if firstErr != nil {
		b.Fatalf("produce: %v", firstErr)
	}
	b.ReportMetric(float64(b.N)*float64(len(value))/(1<<20)/elapsed.Seconds(), "MiB/s")
	if txns > 0 {
		b.ReportMetric(float64(txns)/elapsed.Seconds(), "txn/s")
	}
}
