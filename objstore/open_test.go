package objstore

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

func TestOpen(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "new", "bucket")
	s, err := Open(ctx, "file://"+dir)
	if err != nil {
		t.Fatalf("Open(file): %v", err)
	}
	if got, want := s.String(), "file://"+dir; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	mustPut(t, s, "x", []byte("1"))
	s2, err := Open(ctx, "file://"+dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s2.Get(ctx, "x", 0, -1); err != nil || string(got) != "1" {
		t.Errorf("reopened file store Get = %q, %v", got, err)
	}

	name := "open-" + t.Name()
	m1, err := Open(ctx, "mem://"+name)
	if err != nil {
		t.Fatalf("Open(mem): %v", err)
	}
	m2, err := Open(ctx, "mem://"+name+"/")
	if err != nil {
		t.Fatalf("Open(mem): %v", err)
	}
	mustPut(t, m1, "shared", []byte("hello"))
	if got, err := m2.Get(ctx, "shared", 0, -1); err != nil || string(got) != "hello" {
		t.Errorf("second mem://%s does not share the bucket: %q, %v", name, got, err)
	}
	other, _ := Open(ctx, "mem://other-"+name)
	if l, _ := other.List(ctx, ""); len(l) != 0 {
		t.Errorf("differently named mem store shares objects: %+v", l)
	}
	if m1.String() != "mem://"+name {
		t.Errorf("String() = %q", m1.String())
	}
}

func TestOpenBadURLs(t *testing.T) {
	tests := []struct {
		url      string
		contains []string
	}{
		{"s4://bucket", []string{`"s4://bucket"`, `unknown scheme "s4"`, "file://", "mem://"}},
		{"/just/a/path", []string{`"/just/a/path"`, "file://, mem://"}},
		{"", []string{`""`, "file://, mem://"}},
		{"file://relative/path", []string{`"file://relative/path"`, "file:///absolute/path"}},
		{"file://", []string{"file:///absolute/path"}},
		{"file:relative", []string{"file:///absolute/path"}},
		{"file:///tmp/x?y=1", []string{"no query"}},
		{"mem://", []string{"mem://name"}},
		{"mem://a/b", []string{"mem://name"}},
		{"::bad", []string{`"::bad"`, "file://, mem://"}},
	}
	for _, tc := range tests {
		t.Run(tc.url, func(t *testing.T) {
			s, err := Open(context.Background(), tc.url)
			if err == nil {
				t.Fatalf("Open(%q) = %v, want error", tc.url, s)
			}
			for _, c := range tc.contains {
				if !strings.Contains(err.Error(), c) {
					t.Errorf("Open(%q) error %q does not mention %q", tc.url, err, c)
				}
			}
		})
	}
}

func TestRegisterDuplicatePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("registering mem twice did not panic")
		}
	}()
	Register("mem", openMemURL)
}
