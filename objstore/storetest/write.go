package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/wisp-stream/wisp/objstore"
)

func overwriteAndDelete(t *testing.T, s objstore.Store) {
	ctx := context.Background()
	put(t, s, "k/1", []byte("first version, longer"))
	put(t, s, "k/1", []byte("second"))
	got, err := s.Get(ctx, "k/1", 0, -1)
	if err != nil || string(got) != "second" {
		t.Fatalf("after overwrite Get = %q, %v", got, err)
	}
	if err := s.Delete(ctx, "k/1"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := s.Get(ctx, "k/1", 0, -1); !errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("Get after Delete err = %v, want ErrNotFound", err)
	}
	for _, key := range []string{"k/1", "never/was", "k"} {
		if err := s.Delete(ctx, key); err != nil {
			t.Errorf("Delete(missing %q) = %v, want nil", key, err)
		}
	}
}

func badKeysRejected(t *testing.T, s objstore.Store) {
	ctx := context.Background()
	for _, key := range []string{"", "/abs", "a//b", "a/", "../x", "a/../b", "a/./b", ".", ".tmp-x", "a/.tmp-y/b", "nul\x00"} {
		if err := s.Put(ctx, key, []byte("x")); !errors.Is(err, objstore.ErrInvalidKey) {
			t.Errorf("Put(%q) err = %v, want ErrInvalidKey", key, err)
		}
		if _, err := s.Get(ctx, key, 0, -1); !errors.Is(err, objstore.ErrInvalidKey) {
			t.Errorf("Get(%q) err = %v, want ErrInvalidKey", key, err)
		}
		if err := s.Delete(ctx, key); !errors.Is(err, objstore.ErrInvalidKey) {
			t.Errorf("Delete(%q) err = %v, want ErrInvalidKey", key, err)
		}
	}
	if l, _ := s.List(ctx, ""); len(l) != 0 {
		t.Errorf("bad keys left objects behind: %+v", l)
	}
}

func concurrentPuts(t *testing.T, s objstore.Store) {
	ctx := context.Background()
	const n = 32
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for i := range n {
		wg.Go(func() {
			key := fmt.Sprintf("wisp/c/files/%02d/%04d.wisp", i%4, i)
			data := bytes.Repeat([]byte{byte(i)}, 1000+i)
			if err := s.Put(ctx, key, data); err != nil {
				errs <- err
				return
			}
			// Writers to one shared key must leave one whole version.
			if err := s.Put(ctx, "shared", data); err != nil {
				errs <- err
			}
			if _, err := s.List(ctx, "wisp/"); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	l, err := s.List(ctx, "wisp/")
	if err != nil || len(l) != n {
		t.Fatalf("List after concurrent puts: %d objects, %v; want %d", len(l), err, n)
	}
	for i := range n {
		key := fmt.Sprintf("wisp/c/files/%02d/%04d.wisp", i%4, i)
		got, err := s.Get(ctx, key, 0, -1)
		if err != nil || !bytes.Equal(got, bytes.Repeat([]byte{byte(i)}, 1000+i)) {
			t.Errorf("Get(%q): %d bytes, %v", key, len(got), err)
		}
	}
	shared, err := s.Get(ctx, "shared", 0, -1)
	if err != nil || len(shared) < 1000 || !bytes.Equal(shared, bytes.Repeat(shared[:1], len(shared))) || len(shared) != 1000+int(shared[0]) {
		t.Errorf("shared key holds a torn object (%d bytes, %v)", len(shared), err)
	}
}

func canceledContext(t *testing.T, s objstore.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Put(ctx, "k", []byte("x")); !errors.Is(err, context.Canceled) {
		t.Errorf("Put err = %v, want context.Canceled", err)
	}
	if _, err := s.Get(ctx, "k", 0, -1); !errors.Is(err, context.Canceled) {
		t.Errorf("Get err = %v, want context.Canceled", err)
	}
	if _, err := s.List(ctx, ""); !errors.Is(err, context.Canceled) {
		t.Errorf("List err = %v, want context.Canceled", err)
	}
	if l, _ := s.List(context.Background(), ""); len(l) != 0 {
		t.Errorf("canceled Put stored an object")
	}
}
