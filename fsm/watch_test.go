package fsm

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"
)

// woken reports whether w has a pending wake-up, consuming it. Apply wakes
// waiters before it returns, so no waiting is needed.
func woken(w *Waiter) bool {
	select {
	case <-w.C:
		return true
	default:
		return false
	}
}

func TestWatch(t *testing.T) {
	h := newHarness(t)
	a := h.createTopic("a", 3)
	b := h.createTopic("b", 1)
	w := NewWaiter()
	watched := []PartitionKey{{a, 0}, {b, 0}}
	h.f.Watch(w, watched)

	steps := []struct {
		name string
		do   func()
		want bool
	}{
		{"commit to a watched partition", func() { h.mustCommit("f1", plain(a, 0, 0, 10, 1)) }, true},
		{"commit to an unwatched partition", func() { h.mustCommit("f2", plain(a, 1, 0, 10, 1)) }, false},
		{"rejected batch on a watched partition", func() { h.commit("f3", plain(a, 0, 0, 10, 0)) }, false},
		{"duplicate on a watched partition", func() {
			h.mustCommit("f4", idem(b, 0, 0, 10, 1, 5, 0, 0))
			woken(w)
			h.commit("f5", idem(b, 0, 0, 10, 1, 5, 0, 0))
		}, false},
		{"several advances collapse into one signal", func() {
			h.mustCommit("f6", plain(a, 0, 0, 10, 1), plain(b, 0, 10, 10, 1))
			h.mustCommit("f7", plain(b, 0, 0, 10, 1))
		}, true},
		{"nothing pending after the signal was taken", func() {}, false},
		{"other commands", func() { h.apply(CreatePartitions{Name: "a", Count: 4}); h.apply(InitProducerID{ProducerID: -1}) }, false},
		{"deleting the watched topic", func() { h.apply(DeleteTopic{Name: "b"}) }, true},
		{"restore", func() {
			data := snapshotBytes(t, h.f)
			if err := h.f.Restore(io.NopCloser(bytes.NewReader(data))); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"after unwatch", func() {
			h.f.Unwatch(w, watched)
			h.mustCommit("f8", plain(a, 0, 0, 10, 1))
		}, false},
	}
	for _, s := range steps {
		s.do()
		if got := woken(w); got != s.want {
			t.Fatalf("%s: woken = %v, want %v", s.name, got, s.want)
		}
		if woken(w) {
			t.Fatalf("%s: more than one pending signal", s.name)
		}
	}
	if len(h.f.watchers) != 0 {
		t.Fatalf("Unwatch left %d registrations", len(h.f.watchers))
	}
}

func TestWatchManyWaiters(t *testing.T) {
	h := newHarness(t)
	a := h.createTopic("a", 2)
	w0, w1, both := NewWaiter(), NewWaiter(), NewWaiter()
	h.f.Watch(w0, []PartitionKey{{a, 0}})
	h.f.Watch(w1, []PartitionKey{{a, 1}})
	h.f.Watch(both, []PartitionKey{{a, 0}, {a, 1}})
	h.mustCommit("f", plain(a, 1, 0, 10, 1))
	if woken(w0) || !woken(w1) || !woken(both) {
		t.Fatal("commit to partition 1 woke the wrong waiters")
	}
	// Unwatching one waiter leaves the others.
	h.f.Unwatch(both, []PartitionKey{{a, 0}, {a, 1}})
	h.mustCommit("g", plain(a, 0, 0, 10, 1), plain(a, 1, 10, 10, 1))
	if !woken(w0) || !woken(w1) || woken(both) {
		t.Fatal("after Unwatch of one waiter")
	}
}

// TestApplyNeverBlocksOnWaiters: a waiter nobody reads from must not stall
// Apply. The test finishes only if every Apply returns.
func TestApplyNeverBlocksOnWaiters(t *testing.T) {
	h := newHarness(t)
	a := h.createTopic("a", 1)
	h.f.Watch(NewWaiter(), []PartitionKey{{a, 0}})
	for i := range 100 {
		h.mustCommit(string(rune(0x4e00+i)), plain(a, 0, 0, 10, 1))
	}
	if info, _ := h.f.Partition(a, 0); info.HighWatermark != 100 {
		t.Fatalf("high watermark %d, want 100", info.HighWatermark)
	}
}

func TestWaitApplied(t *testing.T) {
	h := newHarness(t)
	h.createTopic("a", 1) // index 1

	tests := []struct {
		name    string
		index   uint64
		applies int // commands applied while WaitApplied waits
		restore bool
		wantErr bool
	}{
		{name: "an index already applied", index: 1},
		{name: "zero", index: 0},
		{name: "the next index", index: 2, applies: 1},
		{name: "an index three commands ahead", index: 5, applies: 3},
		{name: "an index never applied times out", index: 100, applies: 1, wantErr: true},
		{name: "a restore at a later index", index: 7, restore: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- h.f.WaitApplied(ctx, tt.index) }()
			for range tt.applies {
				h.apply(InitProducerID{ProducerID: -1})
			}
			if tt.restore {
				// A snapshot taken at a later index, restored: the replica
				// jumps there without applying the commands between.
				other := newHarness(t)
				other.index = tt.index - 1
				other.createTopic("a", 1)
				if err := h.f.Restore(io.NopCloser(bytes.NewReader(snapshotBytes(t, other.f)))); err != nil {
					t.Fatal(err)
				}
				h.index = tt.index
			}
			err := <-done
			if (err != nil) != tt.wantErr {
				t.Fatalf("WaitApplied(%d) at applied index %d: err %v, want error %v", tt.index, h.f.AppliedIndex(), err, tt.wantErr)
			}
			if err == nil && h.f.AppliedIndex() < tt.index {
				t.Fatalf("WaitApplied(%d) returned at applied index %d", tt.index, h.f.AppliedIndex())
			}
		})
	}
}
