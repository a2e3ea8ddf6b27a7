package objstore

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// logRecorder is a slog.Handler that keeps every record and calls onRecord
// (if set) for each, synchronously: Retrying logs a retry after the failed
// attempt and before the backoff, so onRecord can change faults in between
// deterministically.
type logRecorder struct {
	mu       sync.Mutex
	records  []slog.Record
	onRecord func(slog.Record)
}

func (h *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (h *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *logRecorder) WithGroup(string) slog.Handler            { return h }
func (h *logRecorder) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	h.records = append(h.records, r.Clone())
	fn := h.onRecord
	h.mu.Unlock()
	if fn != nil {
		fn(r)
	}
	return nil
}

func (h *logRecorder) all() []slog.Record {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]slog.Record(nil), h.records...)
}

func attrs(r slog.Record) map[string]slog.Value {
	m := map[string]slog.Value{}
	r.Attrs(func(a slog.Attr) bool { m[a.Key] = a.Value; return true })
	return m
}

// retryRig is Retrying over Counting over Faulty over Mem: Counting sees
// every attempt, Faulty injects the trouble.
type retryRig struct {
	faulty *Faulty
	count  *Counting
	logs   *logRecorder
	store  *Retrying
}

func newRetryRig(t *testing.T, cfg RetryConfig) *retryRig {
	t.Helper()
	r := &retryRig{faulty: NewFaulty(NewMem()), logs: &logRecorder{}}
	r.count = NewCounting(r.faulty)
	r.store = NewRetrying(r.count, cfg, slog.New(r.logs))
	mustPut(t, r.faulty.Inner(), "k", []byte("value"))
	return r
}

// afterFirstRetryLog runs fn once, when the first retry is logged.
func (r *retryRig) afterFirstRetryLog(fn func()) {
	var once sync.Once
	r.logs.onRecord = func(slog.Record) { once.Do(fn) }
}

var retryOps = []struct {
	op     Op
	target string // the key or List prefix the retry log should name
	run    func(ctx context.Context, s Store) error
}{
	{OpPut, "k2", func(ctx context.Context, s Store) error { return s.Put(ctx, "k2", []byte("new")) }},
	{OpGet, "k", func(ctx context.Context, s Store) error {
		b, err := s.Get(ctx, "k", 1, 3)
		if err == nil && string(b) != "alu" {
			return errors.New("Get returned " + string(b))
		}
		return err
	}},
	{OpDelete, "k", func(ctx context.Context, s Store) error { return s.Delete(ctx, "k") }},
	{OpList, "", func(ctx context.Context, s Store) error {
		l, err := s.List(ctx, "")
		if err == nil && len(l) != 1 {
			return errors.New("List did not return the one object")
		}
		return err
	}},
}

func TestRetryTransientThenSuccess(t *testing.T) {
	boom := errors.New("503 slow down")
	for _, tc := range retryOps {
		t.Run(string(tc.op), func(t *testing.T) {
			r := newRetryRig(t, RetryConfig{Backoff: time.Millisecond})
			r.faulty.SetErr(tc.op, boom)
			r.afterFirstRetryLog(func() { r.faulty.SetErr(tc.op, nil) })
			if err := tc.run(context.Background(), r.store); err != nil {
				t.Fatalf("%s after one transient failure: %v", tc.op, err)
			}
			if got := r.count.Snapshot()[tc.op]; got.Requests != 2 || got.Errors != 1 {
				t.Errorf("%s attempts = %+v, want 2 requests, 1 error", tc.op, got)
			}
			logs := r.logs.all()
			if len(logs) != 1 {
				t.Fatalf("logged %d records, want 1 retry warning", len(logs))
			}
			a := attrs(logs[0])
			if logs[0].Level != slog.LevelWarn || a["op"].String() != string(tc.op) || a["attempt"].Int64() != 1 ||
				a["key"].String() != tc.target || !strings.Contains(a["err"].String(), "503 slow down") {
				t.Errorf("retry log = %v %q %v, want warn with op, key, attempt 1 and the error", logs[0].Level, logs[0].Message, a)
			}
		})
	}
}

func TestRetryPutTransientByKey(t *testing.T) {
	r := newRetryRig(t, RetryConfig{Backoff: time.Millisecond})
	fails := 2
	r.faulty.BeforePut = func(key string) error {
		if fails > 0 {
			fails--
			return errors.New("connection reset")
		}
		return nil
	}
	if err := r.store.Put(context.Background(), "files/0001.wisp", []byte("data")); err != nil {
		t.Fatalf("Put: %v", err)
	}
	if got, err := r.faulty.Inner().Get(context.Background(), "files/0001.wisp", 0, -1); err != nil || string(got) != "data" {
		t.Fatalf("stored object = %q, %v", got, err)
	}
	if got := r.count.Snapshot()[OpPut]; got.Requests != 3 || got.Errors != 2 {
		t.Errorf("Put attempts = %+v, want 3 requests, 2 errors", got)
	}
	for i, rec := range r.logs.all() {
		if a := attrs(rec); a["key"].String() != "files/0001.wisp" || a["attempt"].Int64() != int64(i+1) {
			t.Errorf("retry log %d: %v", i, a)
		}
	}
}

func TestRetryGivesUp(t *testing.T) {
	boom := errors.New("internal error")
	// The zero config must mean the documented default of 4 attempts.
	r := newRetryRig(t, RetryConfig{})
	r.faulty.SetErr(OpGet, boom)
	_, err := r.store.Get(context.Background(), "k", 0, -1)
	if !errors.Is(err, boom) {
		t.Fatalf("Get err = %v, want it to wrap the last error", err)
	}
	for _, want := range []string{`"k"`, "after 4 attempts", "internal error"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
	if got := r.count.Snapshot()[OpGet].Requests; got != 4 {
		t.Errorf("Get made %d attempts, want 4", got)
	}
	if n := len(r.logs.all()); n != 3 {
		t.Errorf("logged %d retries, want 3", n)
	}
}

func TestRetryPermanentErrorsNotRetried(t *testing.T) {
	tests := []struct {
		name string
		op   Op
		run  func(s Store) error
		want error
	}{
		{"missing key", OpGet, func(s Store) error { _, err := s.Get(context.Background(), "nope", 0, -1); return err }, ErrNotFound},
		{"offset past end", OpGet, func(s Store) error { _, err := s.Get(context.Background(), "k", 99, 1); return err }, ErrInvalidRange},
		{"bad key put", OpPut, func(s Store) error { return s.Put(context.Background(), "../x", nil) }, ErrInvalidKey},
		{"bad key delete", OpDelete, func(s Store) error { return s.Delete(context.Background(), "a//b") }, ErrInvalidKey},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRetryRig(t, RetryConfig{Backoff: time.Millisecond})
			if err := tc.run(r.store); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if got := r.count.Snapshot()[tc.op].Requests; got != 1 {
				t.Errorf("%d attempts, want 1", got)
			}
			if n := len(r.logs.all()); n != 0 {
				t.Errorf("logged %d retries, want none", n)
			}
		})
	}
}

func TestRetryAttemptTimeoutCutsSlowCall(t *testing.T) {
	r := newRetryRig(t, RetryConfig{Attempts: 3, Backoff: time.Millisecond, Timeout: 50 * time.Millisecond})
	r.faulty.SetLatency(OpGet, time.Hour)
	r.afterFirstRetryLog(func() { r.faulty.SetLatency(OpGet, 0) })
	// Without per-attempt timeouts the hour-long call would run into this
	// deadline instead of being retried.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	got, err := r.store.Get(ctx, "k", 0, -1)
	if err != nil || string(got) != "value" {
		t.Fatalf("Get = %q, %v; want the value once latency is gone", got, err)
	}
	if s := r.count.Snapshot()[OpGet]; s.Requests != 2 || s.Errors != 1 {
		t.Errorf("Get attempts = %+v, want 2 requests, 1 error", s)
	}
	logs := r.logs.all()
	if len(logs) != 1 || !strings.Contains(attrs(logs[0])["err"].String(), context.DeadlineExceeded.Error()) {
		t.Errorf("retry logs = %v, want one for the timed-out attempt", logs)
	}
}

func TestRetryStopsWhenParentDone(t *testing.T) {
	t.Run("during backoff", func(t *testing.T) {
		r := newRetryRig(t, RetryConfig{Attempts: 100, Backoff: time.Hour})
		r.faulty.SetErr(OpPut, errors.New("unavailable"))
		ctx, cancel := context.WithCancel(context.Background())
		r.afterFirstRetryLog(cancel)
		err := r.store.Put(ctx, "k", []byte("x"))
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Put err = %v, want context.Canceled", err)
		}
		if got := r.count.Snapshot()[OpPut].Requests; got != 1 {
			t.Errorf("%d attempts, want 1", got)
		}
	})
	t.Run("during slow attempt", func(t *testing.T) {
		r := newRetryRig(t, RetryConfig{Attempts: 100, Backoff: time.Millisecond, Timeout: time.Hour})
		r.faulty.SetLatency(OpGet, time.Hour)
		ctx, cancel := context.WithCancel(context.Background())
		go cancel()
		if _, err := r.store.Get(ctx, "k", 0, -1); !errors.Is(err, context.Canceled) {
			t.Fatalf("Get err = %v, want context.Canceled", err)
		}
		if got := r.count.Snapshot()[OpGet].Requests; got != 1 {
			t.Errorf("%d attempts, want 1", got)
		}
		if n := len(r.logs.all()); n != 0 {
			t.Errorf("logged %d retries after the caller gave up", n)
		}
	})
	t.Run("deadline", func(t *testing.T) {
		r := newRetryRig(t, RetryConfig{Attempts: 100, Backoff: time.Millisecond})
		r.faulty.SetErr(OpList, errors.New("unavailable"))
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
		defer cancel()
		if _, err := r.store.List(ctx, ""); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("List err = %v, want context.DeadlineExceeded", err)
		}
		if got := r.count.Snapshot()[OpList].Requests; got >= 100 {
			t.Errorf("kept retrying past the deadline: %d attempts", got)
		}
	})
}

func TestRetryBackoff(t *testing.T) {
	cfg := RetryConfig{Backoff: 100 * time.Millisecond}.withDefaults()
	lowest := func(int64) int64 { return 0 }
	highest := func(n int64) int64 { return n - 1 }
	ms := time.Millisecond
	tests := []struct {
		retry    int
		min, max time.Duration
	}{
		{1, 50 * ms, 100 * ms},
		{2, 100 * ms, 200 * ms},
		{3, 200 * ms, 400 * ms},
		{5, 800 * ms, 1600 * ms},
		{6, time.Second, 2 * time.Second}, // capped
		{40, time.Second, 2 * time.Second},
	}
	for _, tc := range tests {
		if got := cfg.delay(tc.retry, lowest); got != tc.min {
			t.Errorf("retry %d: shortest wait %v, want %v", tc.retry, got, tc.min)
		}
		if got := cfg.delay(tc.retry, highest); got != tc.max {
			t.Errorf("retry %d: longest wait %v, want %v", tc.retry, got, tc.max)
		}
	}
	if d := (RetryConfig{}).withDefaults(); d != (RetryConfig{Attempts: 4, Backoff: 100 * ms, Timeout: 10 * time.Second}) {
		t.Errorf("defaults = %+v", d)
	}
}
