package objstore

import (
	"context"
	"sync/atomic"
)

// OpStats are the totals Counting keeps for one Op. Bytes counts the payload
// of successful requests: data stored by Put, data returned by Get; Delete
// and List move no payload.
type OpStats struct {
	Requests, Bytes, Errors int64
}

// Counting wraps a Store and counts requests, payload bytes and errors per Op,
// so tests can assert how many GETs a read path cost and metrics can be
// exported later. Safe for concurrent use.
type Counting struct {
	inner Store
	stats map[Op]*opCounters // fixed at construction; only the counters change
}

type opCounters struct {
	requests, bytes, errors atomic.Int64
}

// NewCounting wraps inner with all counters at zero.
func NewCounting(inner Store) *Counting {
	c := &Counting{inner: inner, stats: make(map[Op]*opCounters, 4)}
	for _, op := range []Op{OpPut, OpGet, OpDelete, OpList} {
		c.stats[op] = new(opCounters)
	}
	return c
}

// Inner returns the wrapped store.
func (c *Counting) Inner() Store { return c.inner }

func (c *Counting) String() string { return c.inner.String() }

// Snapshot returns the current totals, with an entry for every Op.
func (c *Counting) Snapshot() map[Op]OpStats {
	m := make(map[Op]OpStats, len(c.stats))
	for op, s := range c.stats {
		m[op] = OpStats{Requests: s.requests.Load(), Bytes: s.bytes.Load(), Errors: s.errors.Load()}
	}
	return m
}

func (c *Counting) record(op Op, bytes int, err error) {
	s := c.stats[op]
	s.requests.Add(1)
	if err != nil {
		s.errors.Add(1)
		return
	}
	s.bytes.Add(int64(bytes))
}

// Put implements Store.
func (c *Counting) Put(ctx context.Context, key string, data []byte) error {
	err := c.inner.Put(ctx, key, data)
	c.record(OpPut, len(data), err)
	return err
}

// Get implements Store.
func (c *Counting) Get(ctx context.Context, key string, off, length int64) ([]byte, error) {
	b, err := c.inner.Get(ctx, key, off, length)
	c.record(OpGet, len(b), err)
	return b, err
}

// Delete implements Store.
func (c *Counting) Delete(ctx context.Context, key string) error {
	err := c.inner.Delete(ctx, key)
	c.record(OpDelete, 0, err)
	return err
}

// List implements Store.
func (c *Counting) List(ctx context.Context, prefix string) ([]ObjectInfo, error) {
	l, err := c.inner.List(ctx, prefix)
	c.record(OpList, 0, err)
	return l, err
}
