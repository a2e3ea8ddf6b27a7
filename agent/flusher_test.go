package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/wisp-stream/wisp/fsm"
	"github.com/wisp-stream/wisp/kafka"
	"github.com/wisp-stream/wisp/kafka/recordbatch"
	"github.com/wisp-stream/wisp/objstore"
)

// A fake committer and a mem:// store are enough here: what is tested is
// when the flusher seals its pending file, not Raft or the bucket.
func newTestFlusher(t *testing.T, interval time.Duration) (*Flusher, *atomic.Int64) {
	var commits atomic.Int64
	commit := func(_ context.Context, c *fsm.CommitFile) (fsm.CommitFileResult, error) {
		commits.Add(1)
		return fsm.CommitFileResult{Batches: make([]fsm.BatchResult, len(c.Batches))}, nil
	}
	f := NewFlusher(FlusherConfig{Interval: interval, MaxBytes: 8 << 20, MaxBuffered: 64 << 20, NodeID: 1},
		objstore.NewMem(), commit, func() string { return "wisp/test/" }, nil, slog.New(slog.DiscardHandler))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = f.Close(ctx)
	})
	return f, &commits
}

func batchProducedAt(ts time.Time) []kafka.ProduceBatch {
	return []kafka.ProduceBatch{{Partition: 0, Raw: make([]byte, 100),
		Header: recordbatch.Header{FirstTimestamp: ts.UnixMilli(), MaxTimestamp: ts.UnixMilli(), ProducerID: -1, BaseSequence: -1}}}
}

// sealingNow reports whether the pending file is sealed already or due
// within half an interval (a fresh file is due in a whole one).
func sealingNow(f *Flusher) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cur == nil || time.Until(f.cur.deadline) < f.cfg.Interval/2
}

func waitCommitted(t *testing.T, tk kafka.Ticket, what string) {
	t.Helper()
	select {
	case <-tk.Done():
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: not committed within 10s", what)
	}
	if _, err := tk.Results(); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// Records that waited in their client (all its requests in flight on the
// previous file) are not made to wait another interval: their file is sealed
// once the oldest of them is an interval old. Fresh records, and timestamps
// that cannot be trusted (replayed data, clocks off), wait as before, and
// no more than two files are sealed per interval.
func TestFlusherSealsEarlyForRecordsThatWaitedInTheirClient(t *testing.T) {
	const interval = time.Minute // the natural seal never happens in this test
	now := time.Now()
	old := now.Add(-interval - time.Second)
	cases := []struct {
		name     string
		produced []time.Time // one Append each, each waiting for the last early file
		early    []bool      // whether the file is sealed early after each Append
		commits  int64
	}{
		{"fresh records wait", []time.Time{now}, []bool{false}, 0},
		{"a record an interval old is sealed at once", []time.Time{old}, []bool{true}, 1},
		{"an old record joining fresh ones seals them", []time.Time{now, old}, []bool{false, true}, 1},
		{"replayed data is not trusted", []time.Time{now.Add(-time.Hour)}, []bool{false}, 0},
		{"a clock ahead is not trusted", []time.Time{now.Add(time.Hour)}, []bool{false}, 0},
		{"two seals per interval", []time.Time{old, old, old}, []bool{true, true, false}, 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, commits := newTestFlusher(t, interval)
			var pendingTickets []kafka.Ticket
			for i, ts := range c.produced {
				tk, err := f.Append(context.Background(), batchProducedAt(ts))
				if err != nil {
					t.Fatal(err)
				}
				pendingTickets = append(pendingTickets, tk)
				if got := sealingNow(f); got != c.early[i] {
					t.Fatalf("append %d: sealed early = %v, want %v", i, got, c.early[i])
				}
				if c.early[i] {
					for j, p := range pendingTickets {
						waitCommitted(t, p, fmt.Sprintf("append %d", j))
					}
					pendingTickets = nil
				}
			}
			if got := commits.Load(); got != c.commits {
				t.Errorf("%d files committed, want %d", got, c.commits)
			}
		})
	}
}

// The rest of a client's burst, arriving just after the request that
// brought the seal forward, joins the same file.
func TestFlusherEarlySealTakesTheWholeBurst(t *testing.T) {
	f, commits := newTestFlusher(t, time.Minute)
	old := time.Now().Add(-time.Minute - time.Second)
	var tickets []kafka.Ticket
	for range 5 {
		tk, err := f.Append(context.Background(), batchProducedAt(old))
		if err != nil {
			t.Fatal(err)
		}
		tickets = append(tickets, tk)
	}
	for i, tk := range tickets {
		waitCommitted(t, tk, fmt.Sprintf("request %d of the burst", i))
	}
	if got := commits.Load(); got != 1 {
		t.Errorf("the burst took %d files, want 1", got)
	}
}

// A record produced a little less than an interval ago moves the seal
// forward to when it is an interval old, not to now.
func TestFlusherBringsTheSealForward(t *testing.T) {
	const interval = 10 * time.Second
	f, _ := newTestFlusher(t, interval)
	start := time.Now()
	if _, err := f.Append(context.Background(), batchProducedAt(start)); err != nil {
		t.Fatal(err)
	}
	tk, err := f.Append(context.Background(), batchProducedAt(start.Add(-interval+300*time.Millisecond)))
	if err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	due := f.cur != nil && f.cur.deadline.Sub(start) > 100*time.Millisecond && f.cur.deadline.Before(start.Add(interval))
	f.mu.Unlock()
	if !due {
		t.Fatal("the seal was not moved to when the oldest record is an interval old")
	}
	select {
	case <-tk.Done():
	case <-time.After(interval + 5*time.Second):
		t.Fatal("never sealed")
	}
	if waited := time.Since(start); waited >= interval {
		t.Errorf("sealed after %v, the full interval: the deadline was not brought forward", waited)
	}
}

// A commit refused whole with DUPLICATE_RESOURCE is a retry whose first
// attempt was applied but whose outcome the metadata no longer holds: the
// records are in the log at offsets nobody knows. Producers get a retriable
// error, not the non-retriable DUPLICATE_RESOURCE for every batch.
func TestFlusherTurnsAForgottenOutcomeIntoARetriableError(t *testing.T) {
	tests := []struct {
		name      string
		codes     []int16
		retriable bool
	}{
		{"every batch refused as a known file", []int16{kerr.DuplicateResource.Code, kerr.DuplicateResource.Code}, true},
		{"one batch refused for its own reason", []int16{kerr.DuplicateResource.Code, kerr.UnknownTopicOrPartition.Code}, false},
		{"both accepted", []int16{0, 0}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			commit := func(_ context.Context, c *fsm.CommitFile) (fsm.CommitFileResult, error) {
				res := fsm.CommitFileResult{Batches: make([]fsm.BatchResult, len(c.Batches))}
				for i := range res.Batches {
					res.Batches[i].ErrorCode = tt.codes[i]
				}
				return res, nil
			}
			f := NewFlusher(FlusherConfig{Interval: time.Millisecond, MaxBytes: 8 << 20, MaxBuffered: 64 << 20, NodeID: 1},
				objstore.NewMem(), commit, func() string { return "wisp/test/" }, nil, slog.New(slog.DiscardHandler))
			defer f.Close(context.Background())
			batches := append(batchProducedAt(time.Now()), batchProducedAt(time.Now())...)
			batches[1].Partition = 1
			tk, err := f.Append(context.Background(), batches)
			if err != nil {
				t.Fatal(err)
			}
			<-tk.Done()
			res, err := tk.Results()
			if got := errors.Is(err, kafka.ErrNotCommitted); got != tt.retriable {
				t.Fatalf("ticket error %v (results %+v); want a not-committed error: %v", err, res, tt.retriable)
			}
			if !tt.retriable && (err != nil || len(res) != 2 || res[1].ErrorCode != tt.codes[1]) {
				t.Fatalf("results %+v, %v; want the committer's codes %v", res, err, tt.codes)
			}
		})
	}
}

// SealSoon seals the pending file at once, but never more than two files per
// interval: the third within one waits for the interval after the first.
func TestFlusherSealSoonKeepsTwoSealsPerInterval(t *testing.T) {
	f, commits := newTestFlusher(t, time.Minute)
	for i := range 2 {
		tk, err := f.Append(context.Background(), batchProducedAt(time.Now()))
		if err != nil {
			t.Fatal(err)
		}
		f.SealSoon()
		waitCommitted(t, tk, fmt.Sprintf("file %d, sealed soon", i+1))
	}
	if got := commits.Load(); got != 2 {
		t.Fatalf("%d files committed, want 2", got)
	}
	if _, err := f.Append(context.Background(), batchProducedAt(time.Now())); err != nil {
		t.Fatal(err)
	}
	f.SealSoon()
	f.mu.Lock()
	pending, first := f.cur != nil, f.sealedAt[0]
	var due time.Time
	if pending {
		due = f.cur.deadline
	}
	f.mu.Unlock()
	if !pending {
		t.Fatal("a third file was sealed within the interval of the first")
	}
	if want := first.Add(time.Minute); !due.Equal(want) {
		t.Fatalf("third file due at %s, want %s (an interval after the first seal)", due, want)
	}
}
