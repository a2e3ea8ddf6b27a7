package fsm

import (
	"context"
	"fmt"
)

// PartitionKey names a partition.
type PartitionKey struct {
	TopicID   [16]byte
	Partition int32
}

// Waiter is woken when a watched partition's high watermark advances. C has
// a buffer of one and Apply sends without blocking, so any number of wake-ups
// while nobody listens collapse into one pending signal.
//
// To wait without missing an advance: Watch, then read the high watermark
// (Partition or Entries), then select on C (and the caller's context), then
// read again; Unwatch when done. One Waiter may watch many partitions, so a
// fetch of any size costs no goroutine and no polling.
type Waiter struct{ C chan struct{} }

// NewWaiter returns a Waiter ready to Watch.
func NewWaiter() *Waiter { return &Waiter{C: make(chan struct{}, 1)} }

// Watch registers w for the given partitions: Apply wakes it when any of
// their high watermarks advances, when their topic is deleted, and after a
// Restore. Watching a partition that does not exist (yet) is allowed.
func (f *FSM) Watch(w *Waiter, keys []PartitionKey) {
	f.watchMu.Lock()
	defer f.watchMu.Unlock()
	for _, k := range keys {
		set := f.watchers[k]
		if set == nil {
			set = make(map[*Waiter]struct{})
			f.watchers[k] = set
		}
		set[w] = struct{}{}
	}
}

// Unwatch removes w from the given partitions.
func (f *FSM) Unwatch(w *Waiter, keys []PartitionKey) {
	f.watchMu.Lock()
	defer f.watchMu.Unlock()
	for _, k := range keys {
		set := f.watchers[k]
		delete(set, w)
		if len(set) == 0 {
			delete(f.watchers, k)
		}
	}
}

// WaitApplied blocks until the replica has applied index, or ctx ends. It
// is woken by the apply itself, so a caller waiting for its own write sees
// it as soon as it lands instead of at the next poll.
func (f *FSM) WaitApplied(ctx context.Context, index uint64) error {
	for {
		f.watchMu.Lock()
		if f.appliedIdx.Load() >= index {
			f.watchMu.Unlock()
			return nil
		}
		if f.appliedCh == nil {
			f.appliedCh = make(chan struct{})
		}
		ch := f.appliedCh
		f.watchMu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("metadata replica at index %d did not reach %d: %w", f.appliedIdx.Load(), index, ctx.Err())
		}
	}
}

// advanced records that index is applied, then signals WaitApplied and the
// waiters of keys, without ever blocking.
func (f *FSM) advanced(index uint64, keys []PartitionKey) {
	f.watchMu.Lock()
	defer f.watchMu.Unlock()
	f.appliedIdx.Store(index)
	if f.appliedCh != nil {
		close(f.appliedCh)
		f.appliedCh = nil
	}
	for _, k := range keys {
		for w := range f.watchers[k] {
			notify(w)
		}
	}
}

// wakeAll signals every waiter, for a Restore that may have moved any
// partition.
func (f *FSM) wakeAll() {
	f.watchMu.Lock()
	defer f.watchMu.Unlock()
	for _, set := range f.watchers {
		for w := range set {
			notify(w)
		}
	}
}

func notify(w *Waiter) {
	select {
	case w.C <- struct{}{}:
	default:
	}
}
