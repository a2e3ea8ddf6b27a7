package objstore_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/wisp-stream/wisp/objstore"
	"github.com/wisp-stream/wisp/objstore/storetest"
)

// TestStoreContract runs the one store contract against the local stores;
// s3_test.go runs it against a real MinIO.
func TestStoreContract(t *testing.T) {
	t.Run("file", func(t *testing.T) { storetest.Run(t, openFileWithLeftovers) })
	t.Run("mem", func(t *testing.T) { storetest.Run(t, func(*testing.T) objstore.Store { return objstore.NewMem() }) })
}

// openFileWithLeftovers returns a File store whose tree already holds the
// temp files an interrupted Put leaves behind, so every contract case also
// checks that List never shows them.
func openFileWithLeftovers(t *testing.T) objstore.Store {
	t.Helper()
	dir := t.TempDir()
	for _, p := range []string{".tmp-123", "wisp/a/.tmp-456"} {
		p = filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("partial"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f, err := objstore.NewFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	return f
}
