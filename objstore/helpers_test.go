package objstore

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

func mustPut(t *testing.T, s Store, key string, data []byte) {
	t.Helper()
	if err := s.Put(context.Background(), key, data); err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
}

// TestValidateKeyAcceptsGoodKeys: the rejections are in the contract suite;
// these near misses must stay accepted.
func TestValidateKeyAcceptsGoodKeys(t *testing.T) {
	for _, good := range []string{"a", "a/b.c/d", "wisp/abc/files/0001.wisp", "..a", "a..", ".hidden", "a/.tmp"} {
		if err := ValidateKey(good); err != nil {
			t.Errorf("ValidateKey(%q) = %v, want nil", good, err)
		}
	}
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
