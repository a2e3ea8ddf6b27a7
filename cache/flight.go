package cache

import (
	"context"
	"fmt"
	"time"
)

// flight is one block load shared by every reader that missed the block
// while it was loading. Fields other than done are guarded by Cache.mu until
// done is closed; data and err are final once it is.
type flight struct {
	done    chan struct{}
	data    []byte
	err     error
	waiters int                // readers still waiting
	cancel  context.CancelFunc // cancels the load when waiters drops to 0
	dropped bool               // Drop ran: do not cache the result
	ahead   bool               // started by read-ahead and no reader joined it yet
}

// blockWait is one block a ReadAt needs: either data (a hit) or a flight to wait on.
type blockWait struct {
	id     blockID
	data   []byte
	flight *flight
}

// lookupLocked finds id in the cache, or joins or starts its load.
func (c *Cache) lookupLocked(ctx context.Context, id blockID) blockWait {
	if el, ok := c.byKey[id.key][id.block]; ok {
		c.stats.Hits++
		c.lru.MoveToFront(el)
		e := el.Value.(*entry)
		if e.ahead {
			e.ahead = false
			if int64(len(e.data)) == c.blockSize {
				c.readAheadLocked(blockID{id.key, id.block + 1})
			}
		}
		return blockWait{id: id, data: e.data}
	}
	c.stats.Misses++
	if f, ok := c.flights[id]; ok {
		f.waiters++
		f.ahead = false
		return blockWait{id: id, flight: f}
	}
	c.stats.Loads++
	// The load outlives any single reader (others may join it), so it keeps
	// ctx's values but not its cancellation; it is cancelled when the last
	// waiter gives up.
	lctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	f := &flight{done: make(chan struct{}), waiters: 1, cancel: cancel}
	c.flights[id] = f
	go c.load(lctx, id, f)
	return blockWait{id: id, flight: f}
}

// readAheadLocked starts loading a block no reader asked for yet, unless it
// is cached or loading. Consumers read a partition's data in order, and a
// file holds it in order, so the block after the one just read is usually
// read next: loading it now overlaps its GET with the reader's work instead
// of making the next fetch wait for it. Read-ahead only follows a full block
// (the object goes on), and runs one block ahead of the readers.
func (c *Cache) readAheadLocked(id blockID) {
	if !c.readAhead {
		return
	}
	c.loadAheadLocked(id)
}

// loadAheadLocked starts loading id for no reader in particular, unless it
// is cached or loading already.
func (c *Cache) loadAheadLocked(id blockID) {
	if _, ok := c.byKey[id.key][id.block]; ok {
		return
	}
	if _, ok := c.flights[id]; ok {
		return
	}
	c.stats.Loads++
	c.stats.ReadAheads++
	lctx, cancel := context.WithTimeout(context.Background(), readAheadTimeout)
	f := &flight{done: make(chan struct{}), cancel: cancel, ahead: true}
	c.flights[id] = f
	go c.load(lctx, id, f)
}

// readAheadTimeout bounds a read-ahead load, which no reader waits for.
const readAheadTimeout = 30 * time.Second

func (c *Cache) load(ctx context.Context, id blockID, f *flight) {
	data, err := c.loader.LoadBlock(ctx, id.key, id.block)
	if err == nil && int64(len(data)) > c.blockSize {
		err = fmt.Errorf("loader returned %d bytes for a %d-byte block", len(data), c.blockSize)
	}
	f.cancel()
	if err != nil {
		c.log.Debug("cache block load failed", "key", id.key, "block", id.block, "err", err)
		data = nil
	}
	c.mu.Lock()
	if c.flights[id] == f {
		delete(c.flights, id)
	}
	if err == nil && !f.dropped {
		c.insertLocked(id, data)
		if f.ahead {
			if el, ok := c.byKey[id.key][id.block]; ok {
				el.Value.(*entry).ahead = true
			}
		} else if int64(len(data)) == c.blockSize {
			c.readAheadLocked(blockID{id.key, id.block + 1})
		}
	}
	f.data, f.err = data, err
	c.mu.Unlock()
	close(f.done)
}

// await fills w.data once w's flight is done, or gives up when ctx is.
func (c *Cache) await(ctx context.Context, w *blockWait) error {
	if w.flight == nil {
		return nil
	}
	select {
	case <-w.flight.done:
		w.data = w.flight.data
		return w.flight.err
	case <-ctx.Done():
		c.release(w)
		return ctx.Err()
	}
}

// releaseAll gives up the flights of blocks a failed ReadAt no longer needs.
func (c *Cache) releaseAll(ws []blockWait) {
	for i := range ws {
		c.release(&ws[i])
	}
}

// release removes one waiter from w's flight; the last one to leave cancels
// the load and unregisters it so later readers start afresh rather than
// joining a load that is being cancelled.
func (c *Cache) release(w *blockWait) {
	f := w.flight
	if f == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	f.waiters--
	if f.waiters > 0 {
		return
	}
	select {
	case <-f.done:
		return
	default:
	}
	f.cancel()
	if c.flights[w.id] == f {
		delete(c.flights, w.id)
	}
}
