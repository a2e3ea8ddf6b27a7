package objstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

func init() { Register("file", openFileURL) }

// File is a Store kept in a local directory tree: key "a/b/c" is the file
// root/a/b/c. Put writes a temp file (".tmp-" prefix) next to the target,
// fsyncs it, renames it over the target and fsyncs the directory, so an object
// is either absent, wholly old or wholly new, even across a crash.
//
// Because the tree is a filesystem, "a" and "a/b" cannot both exist as
// objects (S3 allows it); Put of the second one fails. Wisp's key layout never
// does this. Delete leaves empty directories behind: removing them would race
// with a concurrent Put into the same directory, and List ignores them.
// Temp files orphaned by a crash are likewise ignored by List.
type File struct {
	root string
}

// NewFile returns a Store rooted at dir, which must be an absolute path; the
// directory is created if missing.
func NewFile(dir string) (*File, error) {
	if !filepath.IsAbs(dir) {
		return nil, fmt.Errorf("objstore: file store root %q is not an absolute path", dir)
	}
	dir = filepath.Clean(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("objstore: create file store root: %w", err)
	}
	return &File{root: dir}, nil
}

func openFileURL(_ context.Context, u *url.URL) (Store, error) {
	if u.Host != "" && u.Host != "localhost" {
		return nil, fmt.Errorf("file URL must be file:///absolute/path, got host %q", u.Host)
	}
	if u.Opaque != "" || u.Path == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, errors.New("file URL must be file:///absolute/path with no query or fragment")
	}
	return NewFile(u.Path)
}

func (f *File) String() string { return "file://" + filepath.ToSlash(f.root) }

func (f *File) path(key string) string {
	return filepath.Join(f.root, filepath.FromSlash(key))
}

// Put implements Store.
func (f *File) Put(ctx context.Context, key string, data []byte) error {
	if err := ValidateKey(key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("objstore: put %q: %w", key, err)
	}
	target := f.path(key)
	dir := filepath.Dir(target)
	if err := f.mkdirAll(dir); err != nil {
		return fmt.Errorf("objstore: put %q: %w", key, err)
	}
	tmp, err := os.CreateTemp(dir, tempPrefix+"*")
	if err != nil {
		return fmt.Errorf("objstore: put %q: %w", key, err)
	}
	tmpName := tmp.Name()
	committed := false
	defer func() {
		if !committed {
			_ = tmp.Close()
			_ = os.Remove(tmpName)
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("objstore: put %q: write: %w", key, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("objstore: put %q: fsync: %w", key, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("objstore: put %q: close: %w", key, err)
	}
	if err := os.Rename(tmpName, target); err != nil {
		return fmt.Errorf("objstore: put %q: rename: %w", key, err)
	}
	committed = true
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("objstore: put %q: fsync directory: %w", key, err)
	}
	return nil
}

// mkdirAll creates dir and any missing parents below the root, fsyncing each
// parent whose entries changed so that a durable Put never sits in a directory
// that could vanish in a crash.
func (f *File) mkdirAll(dir string) error {
	if dir == f.root {
		return nil
	}
	if fi, err := os.Stat(dir); err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("%s exists and is not a directory", dir)
		}
		return nil
	}
	parent := filepath.Dir(dir)
	if err := f.mkdirAll(parent); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil // a concurrent Put created it
		}
		return err
	}
	return syncDir(parent)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// Get implements Store.
func (f *File) Get(ctx context.Context, key string, off, length int64) ([]byte, error) {
	if err := ValidateKey(key); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("objstore: get %q: %w", key, err)
	}
	fh, err := os.Open(f.path(key))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || isNotDir(err) {
			return nil, fmt.Errorf("objstore: get %q: %w", key, ErrNotFound)
		}
		return nil, fmt.Errorf("objstore: get %q: %w", key, err)
	}
	defer fh.Close()
	fi, err := fh.Stat()
	if err != nil {
		return nil, fmt.Errorf("objstore: get %q: %w", key, err)
	}
	if !fi.Mode().IsRegular() {
		// A directory left by keys below this one is not an object.
		return nil, fmt.Errorf("objstore: get %q: %w", key, ErrNotFound)
	}
	start, end, err := clampRange(key, fi.Size(), off, length)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, end-start)
	n, err := fh.ReadAt(buf, start)
	if err != nil && !(errors.Is(err, io.EOF) && n == len(buf)) {
		return nil, fmt.Errorf("objstore: get %q: read: %w", key, err)
	}
	return buf, nil
}

// isNotDir recognises ENOTDIR: opening "a/b" when "a" is a file means "a/b"
// does not exist as an object.
func isNotDir(err error) bool { return errors.Is(err, syscall.ENOTDIR) }

// Delete implements Store.
func (f *File) Delete(ctx context.Context, key string) error {
	if err := ValidateKey(key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("objstore: delete %q: %w", key, err)
	}
	p := f.path(key)
	if fi, err := os.Lstat(p); err == nil && fi.IsDir() {
		return nil // not an object; never remove directories here
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) && !isNotDir(err) {
		return fmt.Errorf("objstore: delete %q: %w", key, err)
	}
	return nil
}

// List implements Store. It walks only the directory named by prefix's
// directory part, skipping temp files and anything vanishing mid-walk.
func (f *File) List(ctx context.Context, prefix string) ([]ObjectInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("objstore: list %q: %w", prefix, err)
	}
	if !prefixCanMatch(prefix) {
		return nil, nil
	}
	start := f.root
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		start = f.path(prefix[:i])
	}
	var out []ObjectInfo
	err := filepath.WalkDir(start, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) || isNotDir(err) {
				return nil // deleted concurrently, or prefix dir absent
			}
			return err
		}
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		if strings.HasPrefix(d.Name(), tempPrefix) {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(f.root, p)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		if !strings.HasPrefix(key, prefix) {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		out = append(out, ObjectInfo{Key: key, Size: fi.Size(), Modified: fi.ModTime()})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("objstore: list %q: %w", prefix, err)
	}
	slices.SortFunc(out, func(a, b ObjectInfo) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}
