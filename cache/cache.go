// Package cache is the read cache that fetches go through. Objects in the
// bucket are immutable, so a block cached under (key, block number) can never
// be stale; the only invalidation is Drop once a file is deleted.
package cache

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"sync"

	"github.com/wisp-stream/wisp/objstore"
)

// Config configures a Cache. Zero values take the defaults.
type Config struct {
	// BlockSize is the unit of loading and caching; reads are widened to
	// whole aligned blocks so many small fetches of one file cost one GET.
	// Default 4 MiB.
	BlockSize int64
	// MaxBytes bounds the bytes of cached blocks. Default 256 MiB.
	MaxBytes int64
	// Loader fetches missing blocks. Default: StoreLoader over the store
	// given to New, with BlockSize.
	Loader Loader
	// DisableReadAhead turns off loading the block after each full block a
	// reader uses (see readAheadLocked) and Prefetch, so every load is one a
	// reader asked for.
	DisableReadAhead bool
}

// Defaults for zero Config fields.
const (
	DefaultBlockSize = 4 << 20
	DefaultMaxBytes  = 256 << 20
)

// Stats are cumulative counters, except Bytes, the bytes cached now. Hits and
// Misses count blocks looked up by ReadAt; a miss that joins a load already in
// flight is a miss but not a load. ReadAheads counts the loads (also in
// Loads) no reader was waiting for: the block after one a reader used, and
// Prefetch's.
type Stats struct {
	Hits, Misses, Loads, Evictions, Bytes int64
	ReadAheads                            int64
}

// Cache is a byte-bounded LRU of immutable object blocks. Safe for concurrent
// use; no lock is held while a block loads, and concurrent misses of one block
// share one load.
type Cache struct {
	blockSize int64
	maxBytes  int64
	loader    Loader
	readAhead bool
	log       *slog.Logger

	mu      sync.Mutex
	lru     *list.List // of *entry; front is most recently used
	byKey   map[string]map[int64]*list.Element
	flights map[blockID]*flight
	stats   Stats
}

type blockID struct {
	key   string
	block int64
}

type entry struct {
	id   blockID
	data []byte
	// ahead marks a block read ahead that no reader has used yet: the first
	// reader to use it reads ahead the next one.
	ahead bool
}

// New returns an empty cache reading from store (unless cfg.Loader is set).
// A nil logger discards.
func New(cfg Config, store objstore.Store, logger *slog.Logger) *Cache {
	if cfg.BlockSize <= 0 {
		cfg.BlockSize = DefaultBlockSize
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	if cfg.Loader == nil {
		cfg.Loader = StoreLoader{Store: store, BlockSize: cfg.BlockSize}
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Cache{
		blockSize: cfg.BlockSize,
		maxBytes:  cfg.MaxBytes,
		loader:    cfg.Loader,
		readAhead: !cfg.DisableReadAhead,
		log:       logger,
		lru:       list.New(),
		byKey:     map[string]map[int64]*list.Element{},
		flights:   map[blockID]*flight{},
	}
}

// BlockSize returns the block size in effect.
func (c *Cache) BlockSize() int64 { return c.blockSize }

// ReadAt returns bytes [off, off+n) of object key, loading the aligned blocks
// that cover it; blocks missing together load in parallel. A range past the
// end of the object returns an error wrapping io.ErrUnexpectedEOF and naming
// the key; load errors are returned wrapped and are not cached.
//
// The returned slice may share memory with the cache (a read inside one block
// returns a sub-slice): callers must not modify it. It stays valid after
// eviction. n == 0 returns an empty slice without I/O.
func (c *Cache) ReadAt(ctx context.Context, key string, off, n int64) ([]byte, error) {
	if off < 0 || n < 0 || n > math.MaxInt64-off {
		return nil, fmt.Errorf("cache: read %q at %d length %d: %w", key, off, n, objstore.ErrInvalidRange)
	}
	if n == 0 {
		return []byte{}, nil
	}
	end := off + n
	first, last := off/c.blockSize, (end-1)/c.blockSize
	waits := make([]blockWait, 0, last-first+1)

	c.mu.Lock()
	for b := first; b <= last; b++ {
		waits = append(waits, c.lookupLocked(ctx, blockID{key, b}))
	}
	c.mu.Unlock()

	for i := range waits {
		if err := c.await(ctx, &waits[i]); err != nil {
			c.releaseAll(waits[i+1:])
			return nil, c.readErr(key, off, end, waits[i].id.block, err)
		}
	}

	// Every block but the last one read must be full, and the last must reach end.
	for _, w := range waits {
		blockStart := w.id.block * c.blockSize
		need := min(end, blockStart+c.blockSize) - blockStart
		if int64(len(w.data)) < need {
			return nil, fmt.Errorf("cache: read %q [%d, %d): object ends at %d: %w",
				key, off, end, blockStart+int64(len(w.data)), io.ErrUnexpectedEOF)
		}
	}
	if len(waits) == 1 {
		lo := off - first*c.blockSize
		return waits[0].data[lo : lo+n : lo+n], nil
	}
	out := make([]byte, 0, n)
	for _, w := range waits {
		blockStart := w.id.block * c.blockSize
		lo := max(off, blockStart) - blockStart
		hi := min(end, blockStart+c.blockSize) - blockStart
		out = append(out, w.data[lo:hi]...)
	}
	return out, nil
}

// Prefetch starts loading the blocks of [off, off+n) of key that are neither
// cached nor loading, and returns at once. A reader that knows which ranges
// it will want next (a fetch: every partition's next entries) calls it so
// their GETs run in parallel with each other and with its own work, instead
// of one after another as ReadAt needs them. Load errors are only logged; the
// ReadAt that needs the block tries again. Like read-ahead, it is off when
// Config.DisableReadAhead is set.
func (c *Cache) Prefetch(key string, off, n int64) {
	if !c.readAhead || off < 0 || n <= 0 || n > math.MaxInt64-off {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for b := off / c.blockSize; b <= (off+n-1)/c.blockSize; b++ {
		c.loadAheadLocked(blockID{key, b})
	}
}

// readErr turns a block load failure into ReadAt's error.
func (c *Cache) readErr(key string, off, end, block int64, err error) error {
	if errors.Is(err, objstore.ErrInvalidRange) {
		// The block starts beyond the object: the read runs past its end.
		return fmt.Errorf("cache: read %q [%d, %d): object ends before %d: %w",
			key, off, end, block*c.blockSize, io.ErrUnexpectedEOF)
	}
	return fmt.Errorf("cache: read %q [%d, %d): load block %d: %w", key, off, end, block, err)
}

// Prime stores a whole file's blocks, so that readers of a file this agent
// just wrote cost no GET. The caller gives up data: it must not modify it
// after the call, and the cache may keep slices of it.
func (c *Cache) Prime(key string, data []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for start := int64(0); start < int64(len(data)); start += c.blockSize {
		end := min(start+c.blockSize, int64(len(data)))
		c.insertLocked(blockID{key, start / c.blockSize}, data[start:end:end])
	}
}

// Drop removes every block of key, and keeps loads of key now in flight from
// being cached, so a deleted file stops occupying memory.
func (c *Cache) Drop(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, el := range c.byKey[key] {
		c.stats.Bytes -= int64(len(c.lru.Remove(el).(*entry).data))
	}
	delete(c.byKey, key)
	for id, f := range c.flights {
		if id.key == key {
			f.dropped = true
		}
	}
}

// Stats returns a snapshot of the counters.
func (c *Cache) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}

// insertLocked adds a block as most recently used and evicts from the back
// until the byte bound holds. A block bigger than the whole bound is not kept.
func (c *Cache) insertLocked(id blockID, data []byte) {
	if len(data) == 0 || int64(len(data)) > c.maxBytes {
		return
	}
	blocks := c.byKey[id.key]
	if el, ok := blocks[id.block]; ok {
		c.lru.MoveToFront(el) // immutable objects: the bytes are the same
		return
	}
	if blocks == nil {
		blocks = map[int64]*list.Element{}
		c.byKey[id.key] = blocks
	}
	blocks[id.block] = c.lru.PushFront(&entry{id: id, data: data})
	c.stats.Bytes += int64(len(data))
	for c.stats.Bytes > c.maxBytes {
		old := c.lru.Remove(c.lru.Back()).(*entry)
		c.stats.Bytes -= int64(len(old.data))
		c.stats.Evictions++
		if m := c.byKey[old.id.key]; len(m) <= 1 {
			delete(c.byKey, old.id.key)
		} else {
			delete(m, old.id.block)
		}
	}
}
