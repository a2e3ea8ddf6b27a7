package objstore

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Op names a kind of Store request, for fault injection and accounting.
type Op string

const (
	OpPut    Op = "put"
	OpGet    Op = "get"
	OpDelete Op = "delete"
	OpList   Op = "list"
)

// Faulty wraps a Store and injects errors and latency, the fault seam other
// packages' tests use to simulate a slow or failing bucket. SetErr and
// SetLatency may be called at any time, from any goroutine, while requests are
// in flight; they affect requests that start afterwards.
type Faulty struct {
	inner Store

	// BeforePut, if set, is called with the key before every Put reaches the
	// inner store (after latency and any SetErr error); a non-nil result is
	// returned and the object is not stored. Use it to fail chosen keys or to
	// block a Put until a test says so. Set it before the Faulty is shared;
	// it is read without synchronisation. It may be called concurrently.
	BeforePut func(key string) error

	mu      sync.Mutex
	errs    map[Op]error
	latency map[Op]time.Duration
}

// NewFaulty wraps inner with no faults configured.
func NewFaulty(inner Store) *Faulty {
	return &Faulty{inner: inner, errs: map[Op]error{}, latency: map[Op]time.Duration{}}
}

// SetErr makes every later request of kind op fail with an error wrapping err,
// without reaching the inner store. A nil err clears the fault.
func (f *Faulty) SetErr(op Op, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err == nil {
		delete(f.errs, op)
	} else {
		f.errs[op] = err
	}
}

// SetLatency delays every later request of kind op by d before it runs. The
// delay ends early, with the context's error, if the request's ctx is done.
func (f *Faulty) SetLatency(op Op, d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if d <= 0 {
		delete(f.latency, op)
	} else {
		f.latency[op] = d
	}
}

// Inner returns the wrapped store.
func (f *Faulty) Inner() Store { return f.inner }

func (f *Faulty) String() string { return "faulty(" + f.inner.String() + ")" }

// before applies the latency and injected error configured for op.
func (f *Faulty) before(ctx context.Context, op Op, target string) error {
	f.mu.Lock()
	d, err := f.latency[op], f.errs[op]
	f.mu.Unlock()
	if d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("objstore: %s %q: %w", op, target, ctx.Err())
		}
	}
	if err != nil {
		return fmt.Errorf("objstore: %s %q: injected fault: %w", op, target, err)
	}
	return nil
}

// Put implements Store.
func (f *Faulty) Put(ctx context.Context, key string, data []byte) error {
	if err := f.before(ctx, OpPut, key); err != nil {
		return err
	}
	if f.BeforePut != nil {
		if err := f.BeforePut(key); err != nil {
			return err
		}
	}
	return f.inner.Put(ctx, key, data)
}

// Get implements Store.
func (f *Faulty) Get(ctx context.Context, key string, off, length int64) ([]byte, error) {
	if err := f.before(ctx, OpGet, key); err != nil {
		return nil, err
	}
	return f.inner.Get(ctx, key, off, length)
}

// Delete implements Store.
func (f *Faulty) Delete(ctx context.Context, key string) error {
	if err := f.before(ctx, OpDelete, key); err != nil {
		return err
	}
	return f.inner.Delete(ctx, key)
}

// List implements Store.
func (f *Faulty) List(ctx context.Context, prefix string) ([]ObjectInfo, error) {
	if err := f.before(ctx, OpList, prefix); err != nil {
		return nil, err
	}
	return f.inner.List(ctx, prefix)
}
