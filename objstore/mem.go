package objstore

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

func init() { Register("mem", openMemURL) }

// Mem is an in-memory Store for tests and single-process experiments. Data is
// copied on Put and Get, so callers never alias stored bytes.
type Mem struct {
	name string

	mu   sync.RWMutex
	objs map[string]memObject
}

type memObject struct {
	data     []byte
	modified time.Time
}

var (
	namedMemMu sync.Mutex
	namedMem   = map[string]*Mem{}
)

// NewMem returns an empty, unnamed in-memory store.
func NewMem() *Mem { return &Mem{objs: map[string]memObject{}} }

// OpenMem returns the process-wide in-memory store called name, creating it on
// first use. Every caller with the same name shares one bucket, which lets
// several in-process agents see each other's objects in tests.
func OpenMem(name string) *Mem {
	namedMemMu.Lock()
	defer namedMemMu.Unlock()
	m, ok := namedMem[name]
	if !ok {
		m = NewMem()
		m.name = name
		namedMem[name] = m
	}
	return m
}

func openMemURL(_ context.Context, u *url.URL) (Store, error) {
	if u.Host == "" || u.Opaque != "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return nil, errors.New("mem URL must be mem://name")
	}
	return OpenMem(u.Host), nil
}

func (m *Mem) String() string {
	if m.name == "" {
		return fmt.Sprintf("mem://(unnamed %p)", m)
	}
	return "mem://" + m.name
}

// Put implements Store.
func (m *Mem) Put(ctx context.Context, key string, data []byte) error {
	if err := ValidateKey(key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("objstore: put %q: %w", key, err)
	}
	obj := memObject{data: slices.Clone(data), modified: time.Now()}
	if obj.data == nil {
		obj.data = []byte{}
	}
	m.mu.Lock()
	m.objs[key] = obj
	m.mu.Unlock()
	return nil
}

// Get implements Store.
func (m *Mem) Get(ctx context.Context, key string, off, length int64) ([]byte, error) {
	if err := ValidateKey(key); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("objstore: get %q: %w", key, err)
	}
	m.mu.RLock()
	obj, ok := m.objs[key]
	m.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("objstore: get %q: %w", key, ErrNotFound)
	}
	// obj.data is never modified after Put, so copying outside the lock is safe.
	start, end, err := clampRange(key, int64(len(obj.data)), off, length)
	if err != nil {
		return nil, err
	}
	out := make([]byte, end-start)
	copy(out, obj.data[start:end])
	return out, nil
}

// Delete implements Store.
func (m *Mem) Delete(ctx context.Context, key string) error {
	if err := ValidateKey(key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("objstore: delete %q: %w", key, err)
	}
	m.mu.Lock()
	delete(m.objs, key)
	m.mu.Unlock()
	return nil
}

// List implements Store.
func (m *Mem) List(ctx context.Context, prefix string) ([]ObjectInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("objstore: list %q: %w", prefix, err)
	}
	var out []ObjectInfo
	m.mu.RLock()
	for k, obj := range m.objs {
		if strings.HasPrefix(k, prefix) {
			out = append(out, ObjectInfo{Key: k, Size: int64(len(obj.data)), Modified: obj.modified})
		}
	}
	m.mu.RUnlock()
	slices.SortFunc(out, func(a, b ObjectInfo) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}
