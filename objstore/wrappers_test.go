package objstore

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestFaultyErrors(t *testing.T) {
	ctx := context.Background()
	boom := errors.New("boom")
	type call struct {
		op  Op
		run func(f *Faulty) error
	}
	// Delete runs last so the others still find the object.
	calls := []call{
		{OpPut, func(f *Faulty) error { return f.Put(ctx, "k", []byte("new")) }},
		{OpGet, func(f *Faulty) error { _, err := f.Get(ctx, "k", 0, -1); return err }},
		{OpList, func(f *Faulty) error { _, err := f.List(ctx, ""); return err }},
		{OpDelete, func(f *Faulty) error { return f.Delete(ctx, "k") }},
	}
	for _, faulted := range calls {
		t.Run(string(faulted.op), func(t *testing.T) {
			f := NewFaulty(NewMem())
			mustPut(t, f, "k", []byte("v"))
			f.SetErr(faulted.op, boom)
			for _, c := range calls {
				err := c.run(f)
				if c.op == faulted.op && !errors.Is(err, boom) {
					t.Errorf("%s with fault on %s: err = %v, want boom", c.op, faulted.op, err)
				}
				if c.op != faulted.op && err != nil {
					t.Errorf("%s with fault on %s only: err = %v", c.op, faulted.op, err)
				}
			}
			f.SetErr(faulted.op, nil)
			mustPut(t, f.Inner(), "k", []byte("v"))
			if err := faulted.run(f); err != nil {
				t.Errorf("%s after clearing fault: %v", faulted.op, err)
			}
		})
	}
	// A faulted Put must not reach the inner store.
	f := NewFaulty(NewMem())
	f.SetErr(OpPut, boom)
	_ = f.Put(ctx, "never", []byte("x"))
	if _, err := f.Inner().Get(ctx, "never", 0, -1); !errors.Is(err, ErrNotFound) {
		t.Errorf("faulted Put stored the object: %v", err)
	}
}

func TestFaultyBeforePut(t *testing.T) {
	ctx := context.Background()
	inner := NewMem()
	f := NewFaulty(inner)
	denied := errors.New("denied")
	var seen []string
	f.BeforePut = func(key string) error {
		seen = append(seen, key)
		if key == "bad" {
			return denied
		}
		return nil
	}
	if err := f.Put(ctx, "good", []byte("1")); err != nil {
		t.Fatal(err)
	}
	if err := f.Put(ctx, "bad", []byte("1")); !errors.Is(err, denied) {
		t.Fatalf("Put(bad) = %v, want denied", err)
	}
	if l, _ := inner.List(ctx, ""); len(l) != 1 || l[0].Key != "good" {
		t.Errorf("inner store holds %+v, want only good", l)
	}
	if len(seen) != 2 {
		t.Errorf("BeforePut saw %q", seen)
	}
}

func TestFaultyLatencyHonoursContext(t *testing.T) {
	f := NewFaulty(NewMem())
	mustPut(t, f, "k", []byte("v"))
	f.SetLatency(OpGet, time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := f.Get(ctx, "k", 0, -1)
		done <- err
	}()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Get with latency after cancel: %v, want context.Canceled", err)
	}
	// Other kinds are unaffected, and clearing latency restores Get.
	if _, err := f.List(context.Background(), ""); err != nil {
		t.Fatal(err)
	}
	f.SetLatency(OpGet, 0)
	if got, err := f.Get(context.Background(), "k", 0, -1); err != nil || string(got) != "v" {
		t.Fatalf("Get after clearing latency = %q, %v", got, err)
	}
}

func TestFaultyLatencyDelays(t *testing.T) {
	f := NewFaulty(NewMem())
	f.SetLatency(OpPut, 20*time.Millisecond)
	start := time.Now()
	mustPut(t, f, "k", []byte("v"))
	// A lower bound only: the delay must have happened at all.
	if d := time.Since(start); d < 20*time.Millisecond {
		t.Errorf("Put returned after %v, want at least the 20ms latency", d)
	}
}

func TestCounting(t *testing.T) {
	ctx := context.Background()
	boom := errors.New("boom")
	faulty := NewFaulty(NewMem())
	c := NewCounting(faulty)
	mustPut(t, c, "a", []byte("12345"))
	mustPut(t, c, "b", []byte("123"))
	if _, err := c.Get(ctx, "a", 1, 2); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, "missing", 0, -1); err == nil {
		t.Fatal("Get(missing) succeeded")
	}
	faulty.SetErr(OpPut, boom)
	_ = c.Put(ctx, "c", []byte("1234567"))
	_ = c.Delete(ctx, "b")
	_, _ = c.List(ctx, "")
	_, _ = c.List(ctx, "a")

	want := map[Op]OpStats{
		OpPut:    {Requests: 3, Bytes: 8, Errors: 1},
		OpGet:    {Requests: 2, Bytes: 2, Errors: 1},
		OpDelete: {Requests: 1},
		OpList:   {Requests: 2},
	}
	got := c.Snapshot()
	if len(got) != len(want) {
		t.Errorf("Snapshot has %d ops, want %d", len(got), len(want))
	}
	for op, w := range want {
		if got[op] != w {
			t.Errorf("Snapshot[%s] = %+v, want %+v", op, got[op], w)
		}
	}
}
