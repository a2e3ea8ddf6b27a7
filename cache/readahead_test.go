package cache

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/wisp-stream/wisp/objstore"
)

func readAheadFixture(t *testing.T) *fixture {
	t.Helper()
	f := newFixture(t, 1<<20)
	f.cache = New(Config{BlockSize: testBlock, MaxBytes: 1 << 20}, f.counted, nil)
	return f
}

// settled reports that no load is in flight, read-ahead included.
func settled(c *Cache) func(Stats) bool {
	return func(Stats) bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.flights) == 0
	}
}

func waitStats(t *testing.T, c *Cache, what string, cond func(Stats) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond(c.Stats()) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: stats %+v after 10s", what, c.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A consumer reading a file in order finds each next block loaded already:
// every block costs one GET, and only the reads of the first block wait
// for one.
func TestReadAheadLoadsTheNextBlock(t *testing.T) {
	f := readAheadFixture(t)
	data := randBytes(3*testBlock + 5) // three full blocks and a short last one
	f.put(t, "k", data)
	ctx := context.Background()
	for b := int64(0); b < 4; b++ {
		off, n := b*testBlock, min(int64(testBlock), int64(len(data))-b*testBlock)
		got, err := f.cache.ReadAt(ctx, "k", off, n)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, data[off:off+n]) {
			t.Fatalf("block %d: wrong bytes", b)
		}
		if b < 3 {
			// The next block loads in the background.
			waitStats(t, f.cache, "read-ahead of the next block", settled(f.cache))
			if s := f.cache.Stats(); s.ReadAheads != b+1 || s.Loads != b+2 {
				t.Fatalf("after block %d: stats %+v, want the next block read ahead", b, s)
			}
		}
	}
	s := f.cache.Stats()
	if s.Misses != 1 || s.Hits != 3 || s.ReadAheads != 3 {
		t.Errorf("stats %+v: want 1 miss (the first block), 3 hits, 3 read-aheads", s)
	}
	if got := f.gets(); got != 4 {
		t.Errorf("%d GETs for 4 blocks, want 4: a short last block ends the read-ahead", got)
	}
}

// Read-ahead never runs past an object that ends inside a block, stays one
// block ahead of the readers (a block read ahead and never used does not
// read ahead further), and leaves blocks the writer primed alone.
func TestReadAheadStaysBounded(t *testing.T) {
	ctx := context.Background()
	t.Run("short block", func(t *testing.T) {
		f := readAheadFixture(t)
		f.put(t, "k", randBytes(testBlock/2))
		if _, err := f.cache.ReadAt(ctx, "k", 0, testBlock/2); err != nil {
			t.Fatal(err)
		}
		if s := f.cache.Stats(); s.ReadAheads != 0 || f.gets() != 1 {
			t.Errorf("stats %+v, %d GETs: read ahead past the end", s, f.gets())
		}
	})
	t.Run("one block ahead", func(t *testing.T) {
		f := readAheadFixture(t)
		f.put(t, "k", randBytes(10*testBlock))
		if _, err := f.cache.ReadAt(ctx, "k", 0, 1); err != nil {
			t.Fatal(err)
		}
		waitStats(t, f.cache, "read-ahead of block 1", settled(f.cache))
		if s := f.cache.Stats(); s.ReadAheads != 1 || f.gets() != 2 {
			t.Errorf("stats %+v, %d GETs: want exactly one block read ahead", s, f.gets())
		}
	})
	t.Run("primed", func(t *testing.T) {
		f := readAheadFixture(t)
		data := randBytes(2 * testBlock)
		f.put(t, "k", data)
		f.cache.Prime("k", data[:testBlock]) // the writer's cache, say, kept block 0
		if _, err := f.cache.ReadAt(ctx, "k", 0, testBlock); err != nil {
			t.Fatal(err)
		}
		if s := f.cache.Stats(); s.ReadAheads != 0 || f.gets() != 0 {
			t.Errorf("stats %+v, %d GETs: a primed block read ahead", s, f.gets())
		}
	})
	t.Run("disabled", func(t *testing.T) {
		f := newFixture(t, 1<<20) // DisableReadAhead
		f.put(t, "k", randBytes(3*testBlock))
		if _, err := f.cache.ReadAt(ctx, "k", 0, testBlock); err != nil {
			t.Fatal(err)
		}
		if s := f.cache.Stats(); s.ReadAheads != 0 || s.Loads != 1 {
			t.Errorf("stats %+v: read ahead though disabled", s)
		}
	})
}

// A reader that wants a block being read ahead joins that load instead of
// starting a second GET, and a failed read-ahead is not cached: the reader
// then loads the block itself.
func TestReadAheadJoinsAndFailures(t *testing.T) {
	ctx := context.Background()
	f := readAheadFixture(t)
	data := randBytes(3 * testBlock)
	f.put(t, "k", data)
	f.faulty.SetLatency(objstore.OpGet, 50*time.Millisecond)
	if _, err := f.cache.ReadAt(ctx, "k", 0, testBlock); err != nil {
		t.Fatal(err)
	}
	// Block 1 is loading ahead now (for 50ms); reading it joins that load.
	got, err := f.cache.ReadAt(ctx, "k", testBlock, testBlock)
	if err != nil || !bytes.Equal(got, data[testBlock:2*testBlock]) {
		t.Fatalf("block 1: %v", err)
	}
	waitStats(t, f.cache, "read-ahead of block 2", settled(f.cache))
	if s := f.cache.Stats(); s.ReadAheads != 2 || s.Loads != 3 {
		t.Errorf("stats %+v, want blocks 1 and 2 read ahead", s)
	}
	if got := f.gets(); got != 3 {
		t.Errorf("%d GETs, want 3: a reader joining a read-ahead must not GET again", got)
	}

	// A loader whose first load of block 1 (the read-ahead) fails.
	var mu sync.Mutex
	loads := map[int64]int{}
	c := New(Config{BlockSize: testBlock, Loader: loaderFunc(func(ctx context.Context, key string, block int64) ([]byte, error) {
		mu.Lock()
		loads[block]++
		n := loads[block]
		mu.Unlock()
		if block == 1 && n == 1 {
			return nil, errors.New("injected")
		}
		return f.mem.Get(ctx, key, block*testBlock, testBlock)
	})}, nil, nil)
	if _, err := c.ReadAt(ctx, "k", 0, testBlock); err != nil {
		t.Fatal(err)
	}
	waitStats(t, c, "failed read-ahead settles", func(Stats) bool {
		mu.Lock()
		defer mu.Unlock()
		return loads[1] == 1
	})
	waitStats(t, c, "failed read-ahead leaves its flight", settled(c))
	if got, err := c.ReadAt(ctx, "k", testBlock, testBlock); err != nil || !bytes.Equal(got, data[testBlock:2*testBlock]) {
		t.Fatalf("block 1 after a failed read-ahead: %v", err)
	}
}

// Prefetch loads the blocks of a range in the background, each with one GET,
// so the ReadAt that follows waits for nothing; blocks cached or loading are
// not loaded again, and a cache configured without read-ahead does not
// prefetch either.
func TestPrefetchLoadsARangeOnce(t *testing.T) {
	ctx := context.Background()
	f := readAheadFixture(t)
	data := randBytes(4 * testBlock)
	f.put(t, "k", data)

	// Blocks 1 and 2: the range starts and ends inside them.
	f.cache.Prefetch("k", testBlock+7, testBlock)
	waitStats(t, f.cache, "prefetch", settled(f.cache))
	if got := f.gets(); got != 2 {
		t.Fatalf("%d GETs for a prefetch spanning 2 blocks, want 2", got)
	}
	f.cache.Prefetch("k", testBlock, 2*testBlock) // cached: nothing to do
	waitStats(t, f.cache, "second prefetch", settled(f.cache))
	if got := f.gets(); got != 2 {
		t.Fatalf("prefetching cached blocks cost %d GETs, want none beyond the first 2", got-2)
	}
	got, err := f.cache.ReadAt(ctx, "k", testBlock+7, testBlock)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data[testBlock+7:2*testBlock+7]) {
		t.Fatal("ReadAt after Prefetch returned wrong bytes")
	}
	if s := f.cache.Stats(); s.Misses != 0 || s.Hits != 2 {
		t.Fatalf("stats %+v: the read after a prefetch must hit both blocks", s)
	}

	off := newFixture(t, 1<<20)
	off.cache = New(Config{BlockSize: testBlock, MaxBytes: 1 << 20, DisableReadAhead: true}, off.counted, nil)
	off.put(t, "k", data)
	off.cache.Prefetch("k", 0, int64(len(data)))
	waitStats(t, off.cache, "prefetch with read-ahead off", settled(off.cache))
	if got := off.gets(); got != 0 {
		t.Fatalf("Prefetch with DisableReadAhead cost %d GETs, want 0", got)
	}
}
