package fsm

import (
	"bytes"
	"fmt"
	"io"
	"sync"
	"testing"
)

// TestConcurrentReadersAndApply runs readers, a long-polling fetcher and
// snapshot persists against a stream of commits. Under -race it checks the
// locking; in any mode it checks that readers only ever see consistent
// states: high watermarks never go back, entries are contiguous, and the
// partition info returned with entries matches them.
func TestConcurrentReadersAndApply(t *testing.T) {
	h := newHarness(t)
	id := h.createTopic("t", 4)
	const commits = 300

	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	report := func(err error) {
		select {
		case errs <- err:
		default:
		}
	}

	for r := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			last := make([]int64, 4)
			for {
				select {
				case <-stop:
					return
				default:
				}
				for p := range int32(4) {
					es, info, ok := h.f.Entries(id, p, 0, 1<<20)
					if !ok {
						report(fmt.Errorf("reader %d: partition %d missing", r, p))
						return
					}
					if info.HighWatermark < last[p] {
						report(fmt.Errorf("reader %d: partition %d high watermark went back %d -> %d", r, p, last[p], info.HighWatermark))
						return
					}
					last[p] = info.HighWatermark
					next := int64(0)
					for _, e := range es {
						if e.BaseOffset != next {
							report(fmt.Errorf("reader %d: partition %d gap at %d", r, p, next))
							return
						}
						next = e.LastOffset + 1
					}
					if next != info.HighWatermark || len(es) != info.Entries {
						report(fmt.Errorf("reader %d: partition %d entries end at %d, info %+v", r, p, next, info))
						return
					}
					h.f.EntryForTimestamp(id, p, 4000)
				}
				h.f.Topics()
				h.f.DeadFiles()
				h.f.FileLive("f0")
			}
		}()
	}

	// A fetcher long-polls partition 3 until it has seen every offset.
	wg.Add(1)
	go func() {
		defer wg.Done()
		w := NewWaiter()
		keys := []PartitionKey{{id, 3}}
		h.f.Watch(w, keys)
		defer h.f.Unwatch(w, keys)
		for {
			if info, _ := h.f.Partition(id, 3); info.HighWatermark == commits {
				return
			}
			select {
			case <-w.C:
			case <-stop:
				if info, _ := h.f.Partition(id, 3); info.HighWatermark != commits {
					report(fmt.Errorf("fetcher stopped at %d, before seeing offset %d", info.HighWatermark, commits-1))
				}
				return
			}
		}
	}()

	// Apply, as Raft does, from one goroutine; snapshots persist concurrently.
	var persists sync.WaitGroup
	for i := range commits {
		h.mustCommit(fmt.Sprintf("f%d", i), plain(id, int32(i%3), 0, 10, 1), plain(id, 3, 10, 10, 1))
		if i%50 == 0 {
			snap, err := h.f.Snapshot()
			if err != nil {
				t.Fatal(err)
			}
			persists.Add(1)
			go func() {
				defer persists.Done()
				var sink memSink
				if err := snap.Persist(&sink); err != nil {
					report(err)
					return
				}
				if err := New(nil).Restore(io.NopCloser(bytes.NewReader(sink.Bytes()))); err != nil {
					report(err)
				}
			}()
		}
	}
	persists.Wait()
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
