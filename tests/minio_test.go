package tests

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/wisp-stream/wisp/objstore/miniotest"
)

// TestMinIOOutage stops the real MinIO while idempotent acks=all producers
// run: nothing is acked while the bucket is gone, metadata and cached reads
// keep working, and after MinIO returns the producers finish and the log
// holds exactly what was acked.
func TestMinIOOutage(t *testing.T) {
	m := miniotest.Start(t)
	ta := startAgent(t, testConfig(t, withBucket(m.URL("outage"))))
	cl := ta.client(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond }))
	createTopic(t, cl, "outage", 3)
	early := produceAll(t, cl, []*kgo.Record{{Topic: "outage", Value: []byte("before")}})
	info, _ := ta.Metadata().Topic("outage")
	hw := func() int64 {
		var sum int64
		for p := range info.Partitions {
			pi, _ := ta.Metadata().Partition(info.ID, p)
			sum += pi.HighWatermark
		}
		return sum
	}

	var mu sync.Mutex
	var acked []*kgo.Record
	var wg sync.WaitGroup
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	for i := range 3000 {
		wg.Add(1)
		r := &kgo.Record{Topic: "outage", Key: fmt.Appendf(nil, "k%d", i%7), Value: fmt.Appendf(nil, "v%d", i)}
		cl.Produce(ctx, r, func(r *kgo.Record, err error) {
			defer wg.Done()
			if err != nil {
				t.Errorf("record not produced across the outage: %v", err)
				return
			}
			mu.Lock()
			acked = append(acked, r)
			mu.Unlock()
		})
		if i == 500 {
			m.Stop()
		}
		if i%100 == 0 {
			time.Sleep(5 * time.Millisecond)
		}
	}
	// Let in-flight commits settle, then the log must stand still.
	time.Sleep(500 * time.Millisecond)
	frozen := hw()
	time.Sleep(1500 * time.Millisecond)
	if now := hw(); now != frozen {
		t.Fatalf("high watermark moved from %d to %d while MinIO was down: data was committed without the bucket", frozen, now)
	}
	// The agent still serves metadata and the data it has cached.
	reader := ta.client(kgo.ConsumeTopics("outage"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	pctx, pcancel := context.WithTimeout(context.Background(), 10*time.Second)
	fs := reader.PollFetches(pctx)
	pcancel()
	if len(fs.Records()) == 0 {
		t.Fatalf("no records readable during the outage: %v", fs.Errors())
	}
	reader.Close()

	m.Restart()
	wg.Wait()
	if t.Failed() {
		return
	}
	want := map[int32][]*kgo.Record{}
	for p, rs := range early {
		want[p] = append(want[p], rs...)
	}
	for _, r := range acked {
		want[r.Partition] = append(want[r.Partition], r)
	}
	for p := range want {
		rs := want[p]
		for i := 1; i < len(rs); i++ {
			for j := i; j > 0 && rs[j].Offset < rs[j-1].Offset; j-- {
				rs[j], rs[j-1] = rs[j-1], rs[j]
			}
		}
	}
	if got := hw(); got != int64(len(acked)+1) {
		t.Fatalf("the log holds %d records, %d were acked: retries must not duplicate", got, len(acked)+1)
	}
	checkSame(t, want, consumeN(t, ta, "outage", len(acked)+1))
}

// TestS3StartupErrors: a missing bucket, wrong credentials or an unreachable
// endpoint stop `wisp agent` with one line saying which, and exit code 2.
func TestS3StartupErrors(t *testing.T) {
	m := miniotest.Start(t)
	bin := wispBinary(t)
	closed := freeAddr(t)
	creds := []string{"WISP_S3_ACCESS_KEY=" + m.AccessKey, "WISP_S3_SECRET_KEY=" + m.SecretKey}
	cases := []struct {
		name string
		url  string
		env  []string
		want string
	}{
		{"missing bucket", "s3://no-such-bucket?endpoint=" + m.Endpoint + "&secure=false&region=us-east-1", creds, "does not exist"},
		{"wrong credentials", m.URL("x"), []string{"WISP_S3_ACCESS_KEY=" + m.AccessKey, "WISP_S3_SECRET_KEY=wrong-secret"}, "credentials"},
		{"unreachable endpoint", "s3://wisp?endpoint=" + closed + "&secure=false&region=us-east-1", creds, "cannot reach"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(bin, "agent", "--bucket-url", tc.url, "--data-dir", t.TempDir(),
				"--kafka-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--raft-addr", "127.0.0.1:0", "--gossip-addr", "127.0.0.1:0")
			cmd.Env = append(os.Environ(), tc.env...)
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 2 {
				t.Fatalf("exit %v, want 2; output:\n%s", err, out)
			}
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			if last := lines[len(lines)-1]; !strings.Contains(last, tc.want) || !strings.Contains(last, "bucket-url") {
				t.Fatalf("last line %q does not say %q about --bucket-url", last, tc.want)
			}
		})
	}
}
