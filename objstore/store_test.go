package objstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
)

// backends returns a fresh store of every kind, so each conformance test runs
// against all of them.
func backends(t *testing.T) map[string]Store {
	t.Helper()
	f, err := NewFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return map[string]Store{"file": f, "mem": NewMem()}
}

func forEachBackend(t *testing.T, fn func(t *testing.T, s Store)) {
	for name, s := range backends(t) {
		t.Run(name, func(t *testing.T) { fn(t, s) })
	}
}

func mustPut(t *testing.T, s Store, key string, data []byte) {
	t.Helper()
	if err := s.Put(context.Background(), key, data); err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
}

func TestGetRanges(t *testing.T) {
	data := []byte("0123456789")
	tests := []struct {
		name        string
		off, length int64
		want        string
		wantErr     error
	}{
		{"whole", 0, -1, "0123456789", nil},
		{"whole exact length", 0, 10, "0123456789", nil},
		{"middle", 3, 4, "3456", nil},
		{"to end", 7, -1, "789", nil},
		{"past end clamps", 8, 100, "89", nil},
		{"zero length", 4, 0, "", nil},
		{"at size is empty", 10, 5, "", nil},
		{"off beyond size", 11, 1, "", ErrInvalidRange},
		{"negative off", -1, 1, "", ErrInvalidRange},
	}
	forEachBackend(t, func(t *testing.T, s Store) {
		mustPut(t, s, "wisp/c/files/0001.wisp", data)
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				got, err := s.Get(context.Background(), "wisp/c/files/0001.wisp", tc.off, tc.length)
				if tc.wantErr != nil {
					if !errors.Is(err, tc.wantErr) {
						t.Fatalf("Get(%d, %d) err = %v, want %v", tc.off, tc.length, err, tc.wantErr)
					}
					return
				}
				if err != nil {
					t.Fatalf("Get(%d, %d): %v", tc.off, tc.length, err)
				}
				if string(got) != tc.want {
					t.Fatalf("Get(%d, %d) = %q, want %q", tc.off, tc.length, got, tc.want)
				}
			})
		}
	})
}

func TestGetMissing(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s Store) {
		mustPut(t, s, "a/b/c", []byte("x"))
		for _, key := range []string{"nope", "a/b", "a/b/c/d", "a/x/y"} {
			_, err := s.Get(context.Background(), key, 0, -1)
			if !errors.Is(err, ErrNotFound) {
				t.Errorf("Get(%q) err = %v, want ErrNotFound", key, err)
			}
		}
	})
}

func TestEmptyObject(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s Store) {
		mustPut(t, s, "empty", nil)
		got, err := s.Get(context.Background(), "empty", 0, -1)
		if err != nil || len(got) != 0 {
			t.Fatalf("Get(empty) = %q, %v; want empty, nil", got, err)
		}
		l, err := s.List(context.Background(), "")
		if err != nil || len(l) != 1 || l[0].Size != 0 {
			t.Fatalf("List = %+v, %v; want one empty object", l, err)
		}
	})
}

func TestOverwriteAndDelete(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		mustPut(t, s, "k/1", []byte("first version, longer"))
		mustPut(t, s, "k/1", []byte("second"))
		got, err := s.Get(ctx, "k/1", 0, -1)
		if err != nil || string(got) != "second" {
			t.Fatalf("after overwrite Get = %q, %v", got, err)
		}
		if err := s.Delete(ctx, "k/1"); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		if _, err := s.Get(ctx, "k/1", 0, -1); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Get after Delete err = %v, want ErrNotFound", err)
		}
		for _, key := range []string{"k/1", "never/was", "k"} {
			if err := s.Delete(ctx, key); err != nil {
				t.Errorf("Delete(missing %q) = %v, want nil", key, err)
			}
		}
	})
}

func TestNoAliasing(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		in := []byte("abc")
		mustPut(t, s, "k", in)
		in[0] = 'X'
		out, _ := s.Get(ctx, "k", 0, -1)
		out[1] = 'Y'
		again, _ := s.Get(ctx, "k", 0, -1)
		if string(again) != "abc" {
			t.Fatalf("stored object changed through caller's slices: %q", again)
		}
	})
}

func TestListPrefixSorted(t *testing.T) {
	keys := []string{"wisp/b/2", "wisp/a.x", "wisp/a/1", "wisp/a/0", "other/z", "wisp/a/sub/9", "wispy"}
	tests := []struct {
		prefix string
		want   []string
	}{
		{"", []string{"other/z", "wisp/a.x", "wisp/a/0", "wisp/a/1", "wisp/a/sub/9", "wisp/b/2", "wispy"}},
		{"wisp/", []string{"wisp/a.x", "wisp/a/0", "wisp/a/1", "wisp/a/sub/9", "wisp/b/2"}},
		{"wisp/a", []string{"wisp/a.x", "wisp/a/0", "wisp/a/1", "wisp/a/sub/9"}},
		{"wisp/a/", []string{"wisp/a/0", "wisp/a/1", "wisp/a/sub/9"}},
		{"wisp", []string{"wisp/a.x", "wisp/a/0", "wisp/a/1", "wisp/a/sub/9", "wisp/b/2", "wispy"}},
		{"wisp/a/1", []string{"wisp/a/1"}},
		{"nothing/", nil},
		{"../", nil},
		{"/", nil},
	}
	forEachBackend(t, func(t *testing.T, s Store) {
		for i, k := range keys {
			mustPut(t, s, k, bytes.Repeat([]byte{'x'}, i))
		}
		if f, ok := s.(*File); ok {
			// Leftovers of an interrupted Put must be invisible.
			for _, p := range []string{".tmp-123", "wisp/a/.tmp-456"} {
				if err := os.WriteFile(filepath.Join(f.root, p), []byte("partial"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
		for _, tc := range tests {
			l, err := s.List(context.Background(), tc.prefix)
			if err != nil {
				t.Fatalf("List(%q): %v", tc.prefix, err)
			}
			var got []string
			for _, o := range l {
				got = append(got, o.Key)
				if want := int64(slices.Index(keys, o.Key)); o.Size != want {
					t.Errorf("List(%q): %s size %d, want %d", tc.prefix, o.Key, o.Size, want)
				}
				if o.Modified.IsZero() {
					t.Errorf("List(%q): %s has zero Modified", tc.prefix, o.Key)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("List(%q) = %q, want %q", tc.prefix, got, tc.want)
			}
		}
	})
}

func TestBadKeysRejected(t *testing.T) {
	bad := []string{"", "/abs", "a//b", "a/", "../x", "a/../b", "a/./b", ".", ".tmp-x", "a/.tmp-y/b", "nul\x00"}
	forEachBackend(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		for _, key := range bad {
			if err := s.Put(ctx, key, []byte("x")); !errors.Is(err, ErrInvalidKey) {
				t.Errorf("Put(%q) err = %v, want ErrInvalidKey", key, err)
			}
			if _, err := s.Get(ctx, key, 0, -1); !errors.Is(err, ErrInvalidKey) {
				t.Errorf("Get(%q) err = %v, want ErrInvalidKey", key, err)
			}
			if err := s.Delete(ctx, key); !errors.Is(err, ErrInvalidKey) {
				t.Errorf("Delete(%q) err = %v, want ErrInvalidKey", key, err)
			}
		}
		if l, _ := s.List(ctx, ""); len(l) != 0 {
			t.Errorf("bad keys left objects behind: %+v", l)
		}
	})
	for _, good := range []string{"a", "a/b.c/d", "wisp/abc/files/0001.wisp", "..a", "a..", ".hidden", "a/.tmp"} {
		if err := ValidateKey(good); err != nil {
			t.Errorf("ValidateKey(%q) = %v, want nil", good, err)
		}
	}
}

func TestConcurrentPuts(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s Store) {
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
	})
}

func TestCanceledContext(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s Store) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := s.Put(ctx, "k", []byte("x")); !errors.Is(err, context.Canceled) {
			t.Errorf("Put err = %v, want context.Canceled", err)
		}
		if l, _ := s.List(context.Background(), ""); len(l) != 0 {
			t.Errorf("canceled Put stored an object")
		}
	})
}

func TestFileNoTempLeftovers(t *testing.T) {
	dir := t.TempDir()
	f, err := NewFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, f, "a/b/c", []byte("data"))
	mustPut(t, f, "a/b/c", []byte("data2"))
	err = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && filepath.Base(p) != "c" {
			t.Errorf("unexpected file %s after Put", p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// "a/b" is a directory on disk, not an object: Delete must not remove it.
	if err := f.Delete(context.Background(), "a/b"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Get(context.Background(), "a/b/c", 0, -1); err != nil {
		t.Fatalf("Get after deleting parent 'directory' key: %v", err)
	}
}
