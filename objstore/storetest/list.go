package storetest

import (
	"bytes"
	"context"
	"slices"
	"testing"

	"github.com/wisp-stream/wisp/objstore"
)

func listPrefixSorted(t *testing.T, s objstore.Store) {
	keys := []string{"wisp/b/2", "wisp/a.x", "wisp/a/1", "wisp/a/0", "other/z", "wisp/a/sub/9", "wispy"}
	tests := []struct {
		name   string
		prefix string
		want   []string
	}{
		{"empty prefix lists all", "", []string{"other/z", "wisp/a.x", "wisp/a/0", "wisp/a/1", "wisp/a/sub/9", "wisp/b/2", "wispy"}},
		{"directory", "wisp/", []string{"wisp/a.x", "wisp/a/0", "wisp/a/1", "wisp/a/sub/9", "wisp/b/2"}},
		{"part of a segment", "wisp/a", []string{"wisp/a.x", "wisp/a/0", "wisp/a/1", "wisp/a/sub/9"}},
		{"subdirectory", "wisp/a/", []string{"wisp/a/0", "wisp/a/1", "wisp/a/sub/9"}},
		{"no slash matches sibling", "wisp", []string{"wisp/a.x", "wisp/a/0", "wisp/a/1", "wisp/a/sub/9", "wisp/b/2", "wispy"}},
		{"whole key", "wisp/a/1", []string{"wisp/a/1"}},
		{"no match", "nothing/", nil},
		{"dot-dot", "../", nil},
		{"leading slash", "/", nil},
	}
	for i, k := range keys {
		put(t, s, k, bytes.Repeat([]byte{'x'}, i))
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
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
		})
	}
}
