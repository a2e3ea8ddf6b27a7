// Package objstore is Wisp's view of object storage: immutable objects addressed
// by key, replaced whole by Put, read by byte range. It deliberately offers no
// rename, append or directory operations so that every backend (local files,
// memory, S3) can honour the same contract.
package objstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ObjectInfo describes one stored object as returned by List.
type ObjectInfo struct {
	Key      string
	Size     int64
	Modified time.Time
}

// Store is a bucket of immutable objects. Implementations are safe for
// concurrent use by multiple goroutines.
//
// Byte slices passed to Put are not retained after Put returns; byte slices
// returned by Get belong to the caller.
type Store interface {
	// Put stores data under key, replacing any object there. Atomic: readers see all or nothing.
	Put(ctx context.Context, key string, data []byte) error
	// Get returns bytes [off, min(off+length, size)). length < 0 means to the end.
	// off > size (or off < 0) is an error wrapping ErrInvalidRange; a missing key wraps ErrNotFound.
	Get(ctx context.Context, key string, off, length int64) ([]byte, error)
	// Delete removes key; a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// List returns every object whose key starts with prefix, sorted by key.
	List(ctx context.Context, prefix string) ([]ObjectInfo, error)
	// String describes the store for logs, e.g. "file:///data/bucket".
	String() string
}

var (
	// ErrNotFound is wrapped by Get when the key holds no object.
	ErrNotFound = errors.New("objstore: object not found")
	// ErrInvalidRange is wrapped by Get when off is negative or beyond the object's size.
	ErrInvalidRange = errors.New("objstore: invalid range")
	// ErrInvalidKey is wrapped when a key is not acceptable to every backend.
	ErrInvalidKey = errors.New("objstore: invalid key")
)

// tempPrefix starts the name of in-progress files of the file backend. Keys
// may not contain a segment with this prefix, so a temp file can never be
// mistaken for (or collide with) an object.
const tempPrefix = ".tmp-"

// ValidateKey reports whether key can be stored by every backend: a
// '/'-separated relative path with no empty, "." or ".." segments, no NUL
// byte, and no segment starting with ".tmp-". All backends apply the same
// rule so that code tested against mem:// behaves the same on file:// or s3://.
func ValidateKey(key string) error {
	if key == "" {
		return fmt.Errorf("%w: empty key", ErrInvalidKey)
	}
	if strings.HasPrefix(key, "/") {
		return fmt.Errorf("%w %q: must not be absolute", ErrInvalidKey, key)
	}
	if strings.IndexByte(key, 0) >= 0 {
		return fmt.Errorf("%w %q: contains a NUL byte", ErrInvalidKey, key)
	}
	for seg := range strings.SplitSeq(key, "/") {
		switch {
		case seg == "":
			return fmt.Errorf("%w %q: empty path segment", ErrInvalidKey, key)
		case seg == "." || seg == "..":
			return fmt.Errorf("%w %q: %q segment not allowed", ErrInvalidKey, key, seg)
		case strings.HasPrefix(seg, tempPrefix):
			return fmt.Errorf("%w %q: segments starting with %q are reserved", ErrInvalidKey, key, tempPrefix)
		}
	}
	return nil
}

// prefixCanMatch reports whether some valid key could start with prefix. Its
// directory part (up to the last '/') consists of whole segments, and a key
// with that prefix contains the same segments, so an invalid directory part
// means no key can match. Backends use it to answer List without touching
// paths such as "../".
func prefixCanMatch(prefix string) bool {
	i := strings.LastIndexByte(prefix, '/')
	if i < 0 {
		return strings.IndexByte(prefix, 0) < 0
	}
	return ValidateKey(prefix[:i]) == nil && strings.IndexByte(prefix[i:], 0) < 0
}

// clampRange turns Get's (off, length) into a [start, end) range of an object of
// the given size, or an error wrapping ErrInvalidRange.
func clampRange(key string, size, off, length int64) (start, end int64, err error) {
	if off < 0 || off > size {
		return 0, 0, fmt.Errorf("objstore: get %q at offset %d of %d-byte object: %w", key, off, size, ErrInvalidRange)
	}
	end = size
	if length >= 0 && length < size-off {
		end = off + length
	}
	return off, end, nil
}
