package tests

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/wisp-stream/wisp/objstore"
)

// lostAckStore stores every object but, while failing is set, reports the
// PUT as failed: from the bucket's point of view exactly what a crash between
// upload and commit leaves behind.
type lostAckStore struct {
	objstore.Store
	failing atomic.Bool
}

func (s *lostAckStore) Put(ctx context.Context, key string, data []byte) error {
	if err := s.Store.Put(ctx, key, data); err != nil {
		return err
	}
	if s.failing.Load() {
		return errors.New("injected: agent died after the upload")
	}
	return nil
}

func dataFiles(t testing.TB, st objstore.Store) []string {
	t.Helper()
	objs, err := st.List(context.Background(), "wisp/")
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range objs {
		if strings.Contains(o.Key, "/files/") {
			keys = append(keys, o.Key)
		}
	}
	return keys
}

func TestOrphansCollectedCommittedFilesKept(t *testing.T) {
	onBackends(t, testOrphansCollectedCommittedFilesKept)
}

func testOrphansCollectedCommittedFilesKept(t *testing.T, bucket string) {
	var lost *lostAckStore
	cfg := testConfig(t, withBucket(bucket), withStore(func(s objstore.Store) objstore.Store {
		lost = &lostAckStore{Store: s}
		return lost
	}))
	cfg.OrphanScanInterval = time.Second
	cfg.OrphanGrace = time.Second
	ta := startAgent(t, cfg)
	createTopic(t, ta.client(), "gc", 1)
	c := dialRaw(t, ta.AdvertisedAddr())
	if p := produceRaw(t, c, "gc", -1, plainBatch("kept")); p.ErrorCode != 0 {
		t.Fatalf("produce: %d", p.ErrorCode)
	}
	lost.failing.Store(true)
	if p := produceRaw(t, c, "gc", -1, plainBatch("orphan")); p.ErrorCode == 0 {
		t.Fatal("produce acked although its upload reported failure")
	}
	lost.failing.Store(false)
	if p := produceRaw(t, c, "gc", -1, plainBatch("kept too")); p.ErrorCode != 0 {
		t.Fatalf("produce: %d", p.ErrorCode)
	}
	if n := len(dataFiles(t, lost.Store)); n != 3 {
		t.Fatalf("%d data files in the bucket, want 3 (two committed, one orphan)", n)
	}
	waitFor(t, 20*time.Second, "the orphan to be deleted", func() bool { return len(dataFiles(t, lost.Store)) == 2 })
	for _, k := range dataFiles(t, lost.Store) {
		if !ta.Metadata().FileLive(k) {
			t.Fatalf("%s survived the scan but is not in the manifest", k)
		}
	}
	got := consumeN(t, ta, "gc", 2)
	if string(got[0].Value) != "kept" || string(got[1].Value) != "kept too" {
		t.Fatalf("consumed %q, %q", got[0].Value, got[1].Value)
	}
}

func TestDeletedTopicFilesRemovedAfterGrace(t *testing.T) {
	var st objstore.Store
	cfg := testConfig(t, withStore(func(s objstore.Store) objstore.Store { st = s; return s }))
	cfg.DeadFileGrace = 0
	ta := startAgent(t, cfg)
	cl := ta.client()
	createTopic(t, cl, "doomed", 2)
	produceAll(t, cl, []*kgo.Record{{Topic: "doomed", Value: []byte("a")}, {Topic: "doomed", Value: []byte("b")}})
	if len(dataFiles(t, st)) == 0 {
		t.Fatal("no data files after produce")
	}
	c := dialRaw(t, ta.AdvertisedAddr())
	deleteTopicRaw(t, c, "doomed")
	waitFor(t, 20*time.Second, "the deleted topic's files to leave the bucket and the metadata", func() bool {
		return len(dataFiles(t, st)) == 0 && len(ta.Metadata().DeadFiles()) == 0
	})
}

func TestSlowStoreKeepsOrderAndBoundsMemory(t *testing.T) {
	var faulty *objstore.Faulty
	cfg := testConfig(t, withStore(func(s objstore.Store) objstore.Store {
		faulty = objstore.NewFaulty(s)
		faulty.SetLatency(objstore.OpPut, 150*time.Millisecond)
		return faulty
	}))
	cfg.FlushInterval = 10 * time.Millisecond
	cfg.FlushBytes = 64 << 10
	cfg.MaxBufferedBytes = 512 << 10
	ta := startAgent(t, cfg)
	createTopic(t, ta.client(), "slow", 4)

	var peak atomic.Int64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
				if b := ta.BufferedBytes(); b > peak.Load() {
					peak.Store(b)
				}
			}
		}
	}()
	var wg sync.WaitGroup
	var mu sync.Mutex
	want := map[int32][]*kgo.Record{}
	for p := range 3 {
		wg.Add(1)
		cl := ta.client(kgo.ProducerBatchMaxBytes(64<<10), kgo.ProducerBatchCompression(kgo.NoCompression()))
		go func() {
			defer wg.Done()
			var recs []*kgo.Record
			for i := range 1500 {
				recs = append(recs, &kgo.Record{Topic: "slow", Key: fmt.Appendf(nil, "p%d", p), Value: fmt.Appendf(nil, "p%d-%d-%0500d", p, i, 0)})
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
				t.Errorf("producer %d: %v", p, err)
			}
			mu.Lock()
			for _, r := range recs {
				want[r.Partition] = append(want[r.Partition], r)
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	close(stop)
	<-sampled
	if t.Failed() {
		return
	}
	// Append admits a request while the buffer is empty whatever its size,
	// so the bound is the limit plus one request.
	if limit := cfg.MaxBufferedBytes + 1<<20; peak.Load() > limit {
		t.Fatalf("buffered %d bytes at peak, limit %d", peak.Load(), limit)
	}
	t.Logf("puts %+v peak %d", ta.StoreStats(), peak.Load())
	if ta.StoreStats()[objstore.OpPut].Requests < 5 {
		t.Fatalf("only %d uploads: the test did not exercise overlapping flushes", ta.StoreStats()[objstore.OpPut].Requests)
	}
	got := consumeN(t, ta, "slow", 4500)
	at := map[int32]map[int64]string{}
	for _, r := range got {
		if at[r.Partition] == nil {
			at[r.Partition] = map[int64]string{}
		}
		at[r.Partition][r.Offset] = string(r.Value)
	}
	for p, rs := range want {
		for i, w := range rs {
			if at[p][w.Offset] != string(w.Value) {
				t.Fatalf("partition %d offset %d holds %q, acked %q", p, w.Offset, at[p][w.Offset], w.Value)
			}
			if i > 0 && string(w.Key) == string(rs[i-1].Key) && w.Offset <= rs[i-1].Offset {
				t.Fatalf("partition %d: producer %s's records out of order", p, w.Key)
			}
		}
	}
}
