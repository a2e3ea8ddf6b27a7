package objstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"
)

// RetryConfig bounds how NewRetrying retries. Zero fields take the defaults.
type RetryConfig struct {
	// Attempts is the total number of tries per request, the first included
	// (default 4; 1 disables retrying).
	Attempts int
	// Backoff is the wait before the first retry (default 100ms). It doubles
	// per retry up to maxBackoff, and each wait is jittered to between half
	// and all of that value, so agents that failed together do not retry in
	// lockstep.
	Backoff time.Duration
	// Timeout bounds each attempt (default 10s), so one hung connection
	// costs one attempt rather than the caller's whole deadline.
	Timeout time.Duration
}

const (
	defaultAttempts = 4
	defaultBackoff  = 100 * time.Millisecond
	defaultTimeout  = 10 * time.Second
	maxBackoff      = 2 * time.Second
)

func (c RetryConfig) withDefaults() RetryConfig {
	if c.Attempts <= 0 {
		c.Attempts = defaultAttempts
	}
	if c.Backoff <= 0 {
		c.Backoff = defaultBackoff
	}
	if c.Timeout <= 0 {
		c.Timeout = defaultTimeout
	}
	return c
}

// delay is the jittered wait before retry number n (1-based).
func (c RetryConfig) delay(n int, rnd func(int64) int64) time.Duration {
	d := c.Backoff
	for i := 1; i < n && d < maxBackoff; i++ {
		d *= 2
	}
	d = min(d, maxBackoff)
	half := int64(d / 2)
	return time.Duration(half + rnd(half+1))
}

// Retrying wraps a Store and retries requests that failed for reasons that
// may pass: network errors, throttling, 5xx answers, attempt timeouts. It
// never retries ErrNotFound, ErrInvalidRange or ErrInvalidKey, which another
// try would only repeat, nor a request whose own ctx is done.
//
// Put is safe to retry because Wisp never writes different bytes under one
// key: a retried Put that also succeeded the first time stores the same object.
type Retrying struct {
	inner  Store
	cfg    RetryConfig
	logger *slog.Logger
}

// NewRetrying wraps inner; cfg's zero fields take defaults; a nil logger
// discards the per-retry warnings.
func NewRetrying(inner Store, cfg RetryConfig, logger *slog.Logger) *Retrying {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Retrying{inner: inner, cfg: cfg.withDefaults(), logger: logger}
}

// Inner returns the wrapped store.
func (r *Retrying) Inner() Store { return r.inner }

func (r *Retrying) String() string { return r.inner.String() }

// permanent reports whether err would be the same on another try.
func permanent(err error) bool {
	return errors.Is(err, ErrNotFound) || errors.Is(err, ErrInvalidRange) || errors.Is(err, ErrInvalidKey)
}

// do runs call until it succeeds, fails permanently, runs out of attempts or
// ctx is done. target is the key (or List prefix), for messages.
func (r *Retrying) do(ctx context.Context, op Op, target string, call func(ctx context.Context) error) error {
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
		err := call(actx)
		cancel()
		switch {
		case err == nil:
			return nil
		case permanent(err):
			return err
		case ctx.Err() != nil:
			// The caller gave up; its error says why, whatever the attempt saw.
			return fmt.Errorf("objstore: %s %q: %w (last attempt: %v)", op, target, ctx.Err(), err)
		case attempt >= r.cfg.Attempts:
			return fmt.Errorf("objstore: %s %q failed after %d attempts: %w", op, target, attempt, err)
		}
		wait := r.cfg.delay(attempt, rand.Int64N)
		r.logger.Warn("object store request failed; retrying",
			"op", string(op), "key", target, "attempt", attempt, "attempts", r.cfg.Attempts,
			"backoff", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("objstore: %s %q: %w (after %d attempts, last: %v)", op, target, ctx.Err(), attempt, err)
		}
	}
}

// Put implements Store.
func (r *Retrying) Put(ctx context.Context, key string, data []byte) error {
	return r.do(ctx, OpPut, key, func(ctx context.Context) error { return r.inner.Put(ctx, key, data) })
}

// Get implements Store.
func (r *Retrying) Get(ctx context.Context, key string, off, length int64) ([]byte, error) {
	var out []byte
	err := r.do(ctx, OpGet, key, func(ctx context.Context) error {
		var err error
		out, err = r.inner.Get(ctx, key, off, length)
		return err
	})
	return out, err
}

// Delete implements Store.
func (r *Retrying) Delete(ctx context.Context, key string) error {
	return r.do(ctx, OpDelete, key, func(ctx context.Context) error { return r.inner.Delete(ctx, key) })
}

// List implements Store.
func (r *Retrying) List(ctx context.Context, prefix string) ([]ObjectInfo, error) {
	var out []ObjectInfo
	err := r.do(ctx, OpList, prefix, func(ctx context.Context) error {
		var err error
		out, err = r.inner.List(ctx, prefix)
		return err
	})
	return out, err
}
