package cache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wisp-stream/wisp/objstore"
)

const testBlock = 16

// fixture is a cache with small blocks over a counted in-memory bucket.
type fixture struct {
	mem     *objstore.Mem
	faulty  *objstore.Faulty
	counted *objstore.Counting
	cache   *Cache
}

func newFixture(t *testing.T, maxBytes int64) *fixture {
	t.Helper()
	mem := objstore.NewMem()
	faulty := objstore.NewFaulty(mem)
	counted := objstore.NewCounting(faulty)
	return &fixture{mem, faulty, counted, New(Config{DisableReadAhead: true, BlockSize: testBlock, MaxBytes: maxBytes}, counted, nil)}
}

func (f *fixture) gets() int64 { return f.counted.Snapshot()[objstore.OpGet].Requests }

func randBytes(n int) []byte {
	r := rand.New(rand.NewPCG(uint64(n), 7))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func (f *fixture) put(t *testing.T, key string, data []byte) {
	t.Helper()
	if err := f.mem.Put(context.Background(), key, data); err != nil {
		t.Fatal(err)
	}
}

func TestReadAtExactBytes(t *testing.T) {
	data := randBytes(3*testBlock + 5) // three full blocks and a short last one
	tests := []struct {
		name     string
		off, n   int64
		wantGets int64
	}{
		{"inside first block", 3, 4, 1},
		{"whole first block", 0, testBlock, 1},
		{"spans two blocks", 10, 10, 2},
		{"spans three blocks", 5, 2*testBlock + 3, 3},
		{"whole object", 0, int64(len(data)), 4},
		{"last short block", 3 * testBlock, 5, 1},
		{"tail of last block", int64(len(data)) - 2, 2, 1},
		{"ends at block boundary", testBlock, testBlock, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, 1<<20)
			f.put(t, "obj", data)
			for range 2 { // the second read is served from the cache
				got, err := f.cache.ReadAt(context.Background(), "obj", tc.off, tc.n)
				if err != nil {
					t.Fatalf("ReadAt(%d, %d): %v", tc.off, tc.n, err)
				}
				if !bytes.Equal(got, data[tc.off:tc.off+tc.n]) {
					t.Fatalf("ReadAt(%d, %d) returned wrong bytes", tc.off, tc.n)
				}
			}
			if g := f.gets(); g != tc.wantGets {
				t.Errorf("%d GETs, want %d", g, tc.wantGets)
			}
		})
	}
}

func TestReadPastEnd(t *testing.T) {
	data := randBytes(2*testBlock + 5)
	tests := []struct {
		name   string
		off, n int64
	}{
		{"one byte past end", int64(len(data)) - 2, 3},
		{"starts at end", int64(len(data)), 1},
		{"starts in a later block", 5 * testBlock, 4},
		{"spans into missing block", testBlock + 4, 2 * testBlock},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, 1<<20)
			f.put(t, "wisp/files/short", data)
			_, err := f.cache.ReadAt(context.Background(), "wisp/files/short", tc.off, tc.n)
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("ReadAt(%d, %d) err = %v, want io.ErrUnexpectedEOF", tc.off, tc.n, err)
			}
			if !strings.Contains(err.Error(), "wisp/files/short") {
				t.Errorf("error %q does not name the key", err)
			}
		})
	}
	t.Run("exact multiple of block size", func(t *testing.T) {
		f := newFixture(t, 1<<20)
		f.put(t, "k", randBytes(2*testBlock))
		if _, err := f.cache.ReadAt(context.Background(), "k", 2*testBlock-1, 2); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("err = %v, want io.ErrUnexpectedEOF", err)
		}
	})
}

func TestInvalidArguments(t *testing.T) {
	f := newFixture(t, 1<<20)
	f.put(t, "k", randBytes(10))
	for _, tc := range []struct{ off, n int64 }{{-1, 1}, {0, -1}, {1, 1<<63 - 1}} {
		if _, err := f.cache.ReadAt(context.Background(), "k", tc.off, tc.n); !errors.Is(err, objstore.ErrInvalidRange) {
			t.Errorf("ReadAt(%d, %d) err = %v, want ErrInvalidRange", tc.off, tc.n, err)
		}
	}
	if got, err := f.cache.ReadAt(context.Background(), "k", 3, 0); err != nil || len(got) != 0 {
		t.Errorf("zero-length read = %v, %v", got, err)
	}
	if f.gets() != 0 {
		t.Errorf("invalid or empty reads cost %d GETs", f.gets())
	}
}

func TestMissingObject(t *testing.T) {
	f := newFixture(t, 1<<20)
	if _, err := f.cache.ReadAt(context.Background(), "gone", 0, 1); !errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
}

// gatedStore blocks every Get until open is closed.
type gatedStore struct {
	objstore.Store
	open chan struct{}
}

func (g gatedStore) Get(ctx context.Context, key string, off, length int64) ([]byte, error) {
	select {
	case <-g.open:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return g.Store.Get(ctx, key, off, length)
}

// waitFor polls cond until it holds or the test has waited far too long.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestConcurrentReadersOneGet(t *testing.T) {
	mem := objstore.NewMem()
	counted := objstore.NewCounting(mem)
	gate := gatedStore{Store: counted, open: make(chan struct{})}
	c := New(Config{DisableReadAhead: true, BlockSize: testBlock}, gate, nil)
	data := randBytes(testBlock)
	if err := mem.Put(context.Background(), "k", data); err != nil {
		t.Fatal(err)
	}

	const readers = 20
	var wg sync.WaitGroup
	errs := make(chan error, readers)
	for i := range readers {
		wg.Go(func() {
			off := int64(i % testBlock)
			got, err := c.ReadAt(context.Background(), "k", off, 1)
			if err == nil && got[0] != data[off] {
				err = fmt.Errorf("reader %d got wrong byte", i)
			}
			if err != nil {
				errs <- err
			}
		})
	}
	// Hold the GET until every reader has missed, so they all overlap the load.
	waitFor(t, "all readers to miss", func() bool { return c.Stats().Misses == readers })
	close(gate.open)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := counted.Snapshot()[objstore.OpGet].Requests; n != 1 {
		t.Errorf("%d concurrent readers cost %d GETs, want 1", readers, n)
	}
	if s := c.Stats(); s.Loads != 1 || s.Bytes != testBlock {
		t.Errorf("stats %+v, want 1 load of %d bytes", s, testBlock)
	}
}

func TestPrimeCostsNoGets(t *testing.T) {
	f := newFixture(t, 1<<20)
	data := randBytes(3*testBlock + 7)
	f.put(t, "k", data)
	f.cache.Prime("k", bytes.Clone(data))
	for _, r := range []struct{ off, n int64 }{{0, int64(len(data))}, {testBlock + 3, 20}, {3 * testBlock, 7}} {
		got, err := f.cache.ReadAt(context.Background(), "k", r.off, r.n)
		if err != nil || !bytes.Equal(got, data[r.off:r.off+r.n]) {
			t.Fatalf("ReadAt(%d, %d) after Prime: %v", r.off, r.n, err)
		}
	}
	if g := f.gets(); g != 0 {
		t.Errorf("reads of a primed file cost %d GETs, want 0", g)
	}
	if s := f.cache.Stats(); s.Bytes != int64(len(data)) || s.Misses != 0 {
		t.Errorf("stats %+v, want %d bytes and no misses", s, len(data))
	}
}

func TestDrop(t *testing.T) {
	f := newFixture(t, 1<<20)
	data := randBytes(2 * testBlock)
	f.put(t, "a", data)
	f.put(t, "b", data)
	f.cache.Prime("a", bytes.Clone(data))
	f.cache.Prime("b", bytes.Clone(data))
	f.cache.Drop("a")
	if s := f.cache.Stats(); s.Bytes != 2*testBlock {
		t.Errorf("after Drop cache holds %d bytes, want %d", s.Bytes, 2*testBlock)
	}
	ctx := context.Background()
	if _, err := f.cache.ReadAt(ctx, "b", 0, 1); err != nil || f.gets() != 0 {
		t.Fatalf("other key lost by Drop: %v, %d GETs", err, f.gets())
	}
	if _, err := f.cache.ReadAt(ctx, "a", 0, 1); err != nil || f.gets() != 1 {
		t.Fatalf("dropped key not reloaded: %v, %d GETs", err, f.gets())
	}
}

func TestEvictionKeepsBound(t *testing.T) {
	const maxBytes = 4 * testBlock
	f := newFixture(t, maxBytes)
	data := randBytes(10 * testBlock)
	f.put(t, "k", data)
	ctx := context.Background()
	read := func(block int64) {
		t.Helper()
		got, err := f.cache.ReadAt(ctx, "k", block*testBlock, testBlock)
		if err != nil || !bytes.Equal(got, data[block*testBlock:(block+1)*testBlock]) {
			t.Fatalf("read block %d: %v", block, err)
		}
		if b := f.cache.Stats().Bytes; b > maxBytes {
			t.Fatalf("cache holds %d bytes, bound %d", b, maxBytes)
		}
	}
	for b := range int64(10) {
		read(b)
	}
	s := f.cache.Stats()
	if s.Bytes != maxBytes || s.Evictions != 6 {
		t.Errorf("after 10 blocks: %+v, want %d bytes and 6 evictions", s, maxBytes)
	}
	// LRU: touch block 6, load one more; block 7 (now least recent) goes, 6 stays.
	read(6)
	read(0)
	before := f.gets()
	read(6)
	if f.gets() != before {
		t.Error("recently used block 6 was evicted")
	}
	read(7)
	if f.gets() != before+1 {
		t.Error("least recently used block 7 was not evicted")
	}
	// A block larger than the whole bound is served but not kept.
	small := New(Config{DisableReadAhead: true, BlockSize: testBlock, MaxBytes: testBlock / 2}, f.counted, nil)
	before = f.gets()
	for range 2 {
		if _, err := small.ReadAt(ctx, "k", 0, 1); err != nil {
			t.Fatal(err)
		}
	}
	if f.gets() != before+2 || small.Stats().Bytes != 0 {
		t.Errorf("oversized block: %d GETs, %d bytes cached", f.gets()-before, small.Stats().Bytes)
	}
}

func TestStoreErrorNotCached(t *testing.T) {
	f := newFixture(t, 1<<20)
	data := randBytes(testBlock)
	f.put(t, "k", data)
	boom := errors.New("bucket on fire")
	f.faulty.SetErr(objstore.OpGet, boom)
	ctx := context.Background()
	if _, err := f.cache.ReadAt(ctx, "k", 0, 4); !errors.Is(err, boom) {
		t.Fatalf("err = %v, want the store's error", err)
	}
	f.faulty.SetErr(objstore.OpGet, nil)
	got, err := f.cache.ReadAt(ctx, "k", 0, 4)
	if err != nil || !bytes.Equal(got, data[:4]) {
		t.Fatalf("read after fault cleared: %v", err)
	}
	if g := f.gets(); g != 2 {
		t.Errorf("%d GETs, want 2 (the failure must not be cached)", g)
	}
}

func TestCanceledReaderDoesNotFailOthers(t *testing.T) {
	mem := objstore.NewMem()
	gate := gatedStore{Store: mem, open: make(chan struct{})}
	c := New(Config{DisableReadAhead: true, BlockSize: testBlock}, gate, nil)
	data := randBytes(testBlock)
	if err := mem.Put(context.Background(), "k", data); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() {
		_, err := c.ReadAt(ctx, "k", 0, 1)
		first <- err
	}()
	waitFor(t, "first reader to start the load", func() bool { return c.Stats().Loads == 1 })
	second := make(chan error, 1)
	go func() {
		got, err := c.ReadAt(context.Background(), "k", 1, 2)
		if err == nil && !bytes.Equal(got, data[1:3]) {
			err = errors.New("wrong bytes")
		}
		second <- err
	}()
	waitFor(t, "second reader to join", func() bool { return c.Stats().Misses == 2 })
	cancel()
	if err := <-first; !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled reader err = %v", err)
	}
	close(gate.open)
	if err := <-second; err != nil {
		t.Fatalf("second reader failed because the first gave up: %v", err)
	}
	if s := c.Stats(); s.Loads != 1 {
		t.Errorf("%d loads, want 1", s.Loads)
	}
}

func TestLastWaiterCancelsLoad(t *testing.T) {
	started := make(chan struct{})
	canceled := make(chan struct{})
	c := New(Config{DisableReadAhead: true, BlockSize: testBlock, Loader: loaderFunc(func(ctx context.Context, key string, block int64) ([]byte, error) {
		close(started)
		<-ctx.Done()
		close(canceled)
		return nil, ctx.Err()
	})}, nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := c.ReadAt(ctx, "k", 0, 1)
		done <- err
	}()
	<-started
	cancel()
	<-done
	select {
	case <-canceled:
	case <-time.After(10 * time.Second):
		t.Fatal("load kept running after its only reader gave up")
	}
}

type loaderFunc func(ctx context.Context, key string, block int64) ([]byte, error)

func (f loaderFunc) LoadBlock(ctx context.Context, key string, block int64) ([]byte, error) {
	return f(ctx, key, block)
}

func TestCustomLoader(t *testing.T) {
	var mu sync.Mutex
	var asked []int64
	c := New(Config{DisableReadAhead: true, BlockSize: 4, Loader: loaderFunc(func(_ context.Context, key string, block int64) ([]byte, error) {
		mu.Lock()
		asked = append(asked, block)
		mu.Unlock()
		return []byte(fmt.Sprintf("%s%03d", key, block)), nil
	})}, nil, nil)
	got, err := c.ReadAt(context.Background(), "x", 6, 4)
	if err != nil || string(got) != "01x0" {
		t.Fatalf("ReadAt via custom loader = %q, %v", got, err)
	}
	if len(asked) != 2 {
		t.Errorf("loader asked for blocks %v, want 1 and 2", asked)
	}
}

func TestDropDuringLoadIsNotCached(t *testing.T) {
	mem := objstore.NewMem()
	gate := gatedStore{Store: mem, open: make(chan struct{})}
	c := New(Config{DisableReadAhead: true, BlockSize: testBlock}, gate, nil)
	if err := mem.Put(context.Background(), "k", randBytes(testBlock)); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := c.ReadAt(context.Background(), "k", 0, 1)
		done <- err
	}()
	waitFor(t, "the load to start", func() bool { return c.Stats().Loads == 1 })
	c.Drop("k")
	close(gate.open)
	if err := <-done; err != nil {
		t.Fatalf("reader during Drop: %v", err)
	}
	if b := c.Stats().Bytes; b != 0 {
		t.Errorf("block of a dropped key loaded mid-Drop is cached (%d bytes)", b)
	}
}
