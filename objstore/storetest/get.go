package storetest

import (
	"context"
	"errors"
	"testing"

	"github.com/wisp-stream/wisp/objstore"
)

func getRanges(t *testing.T, s objstore.Store) {
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
		{"at size to end is empty", 10, -1, "", nil},
		{"off beyond size", 11, 1, "", objstore.ErrInvalidRange},
		{"off beyond size to end", 11, -1, "", objstore.ErrInvalidRange},
		{"zero length beyond size", 11, 0, "", objstore.ErrInvalidRange},
		{"negative off", -1, 1, "", objstore.ErrInvalidRange},
	}
	put(t, s, "wisp/c/files/0001.wisp", []byte("0123456789"))
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
}

func getMissing(t *testing.T, s objstore.Store) {
	put(t, s, "a/b/c", []byte("x"))
	for _, key := range []string{"nope", "a/b", "a/b/c/d", "a/x/y"} {
		for _, r := range [][2]int64{{0, -1}, {0, 0}, {5, 1}} {
			if _, err := s.Get(context.Background(), key, r[0], r[1]); !errors.Is(err, objstore.ErrNotFound) {
				t.Errorf("Get(%q, %d, %d) err = %v, want ErrNotFound", key, r[0], r[1], err)
			}
		}
	}
}

func emptyObject(t *testing.T, s objstore.Store) {
	put(t, s, "empty", nil)
	for _, r := range [][2]int64{{0, -1}, {0, 5}, {0, 0}} {
		got, err := s.Get(context.Background(), "empty", r[0], r[1])
		if err != nil || len(got) != 0 {
			t.Errorf("Get(empty, %d, %d) = %q, %v; want empty, nil", r[0], r[1], got, err)
		}
	}
	if _, err := s.Get(context.Background(), "empty", 1, -1); !errors.Is(err, objstore.ErrInvalidRange) {
		t.Errorf("Get(empty, 1, -1) err = %v, want ErrInvalidRange", err)
	}
	l, err := s.List(context.Background(), "")
	if err != nil || len(l) != 1 || l[0].Size != 0 {
		t.Fatalf("List = %+v, %v; want one empty object", l, err)
	}
}

func noAliasing(t *testing.T, s objstore.Store) {
	ctx := context.Background()
	in := []byte("abc")
	put(t, s, "k", in)
	in[0] = 'X'
	out, _ := s.Get(ctx, "k", 0, -1)
	out[1] = 'Y'
	if again, _ := s.Get(ctx, "k", 0, -1); string(again) != "abc" {
		t.Fatalf("stored object changed through caller's slices: %q", again)
	}
}
