package cache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wisp-stream/wisp/objstore"
)

// peerAgent is one "agent" of a shared-cache test: a cache with a
// RemoteLoader, served over HTTP.
type peerAgent struct {
	id       int32
	peers    *PeerSet
	loader   *RemoteLoader
	cache    *Cache
	srv      *httptest.Server
	requests atomic.Int64 // block requests this agent's handler received
}

// sharedFixture is N agents over one counted bucket and one ring.
type sharedFixture struct {
	mem     *objstore.Mem
	counted *objstore.Counting
	agents  []*peerAgent
}

func newShared(t *testing.T, n int, mutate func(*RemoteConfig)) *sharedFixture {
	t.Helper()
	f := &sharedFixture{mem: objstore.NewMem()}
	f.counted = objstore.NewCounting(f.mem)
	var nodes []Node
	for i := range n {
		a := &peerAgent{id: int32(i + 1)}
		a.peers = NewPeerSet(a.id)
		cfg := RemoteConfig{Peers: a.peers, Store: f.counted, BlockSize: testBlock}
		if mutate != nil {
			mutate(&cfg)
		}
		a.loader = NewRemoteLoader(cfg)
		a.cache = New(Config{DisableReadAhead: true, BlockSize: testBlock, MaxBytes: 1 << 20, Loader: a.loader}, f.counted, nil)
		h := BlockHandler(a.cache)
		a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			a.requests.Add(1)
			h.ServeHTTP(w, r)
		}))
		t.Cleanup(a.srv.Close)
		f.agents = append(f.agents, a)
		nodes = append(nodes, Node{ID: a.id, Addr: a.srv.Listener.Addr().String()})
	}
	for _, a := range f.agents {
		a.peers.Set(nodes)
	}
	return f
}

func (f *sharedFixture) gets() int64 { return f.counted.Snapshot()[objstore.OpGet].Requests }

func (f *sharedFixture) put(t *testing.T, key string, data []byte) {
	t.Helper()
	if err := f.mem.Put(context.Background(), key, data); err != nil {
		t.Fatal(err)
	}
}

// readBlocks has agent a read each whole block of data under key, checking bytes.
func readBlocks(t *testing.T, a *peerAgent, key string, data []byte) {
	t.Helper()
	for off := int64(0); off < int64(len(data)); off += testBlock {
		n := min(testBlock, int64(len(data))-off)
		got, err := a.cache.ReadAt(context.Background(), key, off, n)
		if err != nil {
			t.Fatalf("agent %d ReadAt(%q, %d, %d): %v", a.id, key, off, n, err)
		}
		if !bytes.Equal(got, data[off:off+n]) {
			t.Fatalf("agent %d read wrong bytes at %d", a.id, off)
		}
	}
}

// ownedBy counts the blocks of key (nblocks of them) each agent owns.
func (f *sharedFixture) ownedBy(key string, nblocks int64) map[int32]int64 {
	ring := f.agents[0].peers.Ring()
	m := map[int32]int64{}
	for b := range nblocks {
		m[ring.Owner(key, b).ID]++
	}
	return m
}

func TestSharedCacheOneGetPerBlock(t *testing.T) {
	const nblocks = 10
	data := randBytes(nblocks * testBlock)
	for _, concurrent := range []bool{false, true} {
		t.Run(fmt.Sprintf("concurrent=%v", concurrent), func(t *testing.T) {
			f := newShared(t, 3, nil)
			f.put(t, "file", data)
			if owned := f.ownedBy("file", nblocks); len(owned) != 3 {
				t.Fatalf("test data does not exercise every owner: %v", owned)
			}
			for range 2 { // the second round is all hits
				var wg sync.WaitGroup
				for _, a := range f.agents {
					if !concurrent {
						readBlocks(t, a, "file", data)
						continue
					}
					for range 3 {
						wg.Go(func() { readBlocks(t, a, "file", data) })
					}
				}
				wg.Wait()
			}
			if got := f.gets(); got != nblocks {
				t.Errorf("3 agents reading %d blocks cost %d GETs, want %d", nblocks, got, nblocks)
			}
			var remote int64
			for _, a := range f.agents {
				s := a.loader.Stats()
				remote += s.Remote
				if s.Fallbacks != 0 {
					t.Errorf("agent %d fell back %d times with every owner up", a.id, s.Fallbacks)
				}
			}
			if remote == 0 {
				t.Error("no block was served by its owner over HTTP")
			}
		})
	}
}

func TestSharedCacheOwnerDown(t *testing.T) {
	const nblocks = 10
	data := randBytes(nblocks * testBlock)
	f := newShared(t, 3, nil)
	f.put(t, "file", data)
	down := f.agents[2]
	down.srv.Close()
	for _, a := range f.agents[:2] {
		readBlocks(t, a, "file", data)
	}
	owned := f.ownedBy("file", nblocks)
	// Blocks of live owners cost one GET; each reader of a dead owner's
	// block reads it from the store itself.
	want := (nblocks - owned[down.id]) + 2*owned[down.id]
	if got := f.gets(); got != want {
		t.Errorf("GETs = %d, want %d (%d blocks owned by the dead agent)", got, want, owned[down.id])
	}
	var fallbacks int64
	for _, a := range f.agents[:2] {
		fallbacks += a.loader.Stats().Fallbacks
	}
	if fallbacks != 2*owned[down.id] {
		t.Errorf("fallbacks = %d, want %d", fallbacks, 2*owned[down.id])
	}
}

// TestOwnerFailures: whatever goes wrong with the owner, the reader gets the
// right bytes from the store.
func TestOwnerFailures(t *testing.T) {
	data := randBytes(3 * testBlock)
	hung := make(chan struct{})
	tests := []struct {
		name    string
		handler http.Handler
	}{
		{"hung owner", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-hung:
			case <-r.Context().Done():
			}
		})},
		{"not a cache peer", http.NotFoundHandler()},
		{"owner error", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set(markerHeader, "1")
			http.Error(w, "store down", http.StatusBadGateway)
		})},
		{"different block size", BlockHandler(New(Config{DisableReadAhead: true, BlockSize: 2 * testBlock}, objstore.NewMem(), nil))},
		{"short body", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set(markerHeader, "1")
			w.Header().Set("Content-Length", strconv.Itoa(testBlock))
			w.Write([]byte("short"))
		})},
	}
	t.Cleanup(func() { close(hung) })
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.handler)
			defer srv.Close()
			mem := objstore.NewMem()
			counted := objstore.NewCounting(mem)
			if err := mem.Put(context.Background(), "file", data); err != nil {
				t.Fatal(err)
			}
			peers := NewPeerSet(1)
			peers.Set([]Node{{ID: 2, Addr: srv.Listener.Addr().String()}}) // node 2 owns everything
			loader := NewRemoteLoader(RemoteConfig{Peers: peers, Store: counted, BlockSize: testBlock, Timeout: 200 * time.Millisecond})
			c := New(Config{DisableReadAhead: true, BlockSize: testBlock, Loader: loader}, counted, nil)
			got, err := c.ReadAt(context.Background(), "file", 0, int64(len(data)))
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("ReadAt = %d bytes, %v; want the object", len(got), err)
			}
			if s := loader.Stats(); s.Fallbacks != 3 || s.Remote != 0 {
				t.Errorf("stats %+v, want 3 fallbacks", s)
			}
		})
	}
}

func TestPrimedBlocks(t *testing.T) {
	const nblocks = 10
	data := randBytes(nblocks * testBlock)
	f := newShared(t, 3, nil)
	writer := f.agents[0]
	f.put(t, "tail", data)
	writer.cache.Prime("tail", bytes.Clone(data))
	owned := f.ownedBy("tail", nblocks)
	if owned[writer.id] == 0 || owned[writer.id] == nblocks {
		t.Fatalf("test data does not mix owners: %v", owned)
	}

	readBlocks(t, writer, "tail", data)
	if got := f.gets(); got != 0 {
		t.Fatalf("the writer reading its primed file cost %d GETs", got)
	}
	for _, a := range f.agents[1:] {
		readBlocks(t, a, "tail", data)
	}
	// Blocks the writer owns are served from its primed cache; the others'
	// owners load them once each.
	if got, want := f.gets(), int64(nblocks)-owned[writer.id]; got != want {
		t.Errorf("GETs = %d, want %d: one per block the writer does not own", got, want)
	}
}

func TestRemoteMissingAndPastEnd(t *testing.T) {
	f := newShared(t, 3, nil)
	data := randBytes(2*testBlock + 5)
	f.put(t, "short", data)
	ring := f.agents[0].peers.Ring()
	// reader picks an agent that does not own block b of key.
	reader := func(key string, b int64) *peerAgent {
		for _, a := range f.agents {
			if ring.Owner(key, b).ID != a.id {
				return a
			}
		}
		panic("unreachable")
	}

	if _, err := reader("gone", 0).cache.ReadAt(context.Background(), "gone", 0, 4); !errors.Is(err, objstore.ErrNotFound) {
		t.Errorf("reading a missing object: %v, want ErrNotFound", err)
	}
	if _, err := reader("short", 4).cache.ReadAt(context.Background(), "short", 4*testBlock, 1); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("reading past the end: %v, want io.ErrUnexpectedEOF", err)
	}
	// The block starting exactly at the end is empty, not an error.
	r := reader("exact", 2)
	f.put(t, "exact", data[:2*testBlock])
	if _, err := r.cache.ReadAt(context.Background(), "exact", 2*testBlock-1, 2); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("reading across the end: %v, want io.ErrUnexpectedEOF", err)
	}
	var fallbacks int64
	for _, a := range f.agents {
		fallbacks += a.loader.Stats().Fallbacks
	}
	if fallbacks != 0 {
		t.Errorf("%d fallbacks: the owner's not-found or out-of-range answer must be final", fallbacks)
	}
}

// TestNoForwardingLoop: while rings disagree (each agent believes the other
// owns everything), a request is answered by the agent it reaches, never
// passed on.
func TestNoForwardingLoop(t *testing.T) {
	f := newShared(t, 2, nil)
	a, b := f.agents[0], f.agents[1]
	a.peers.Set([]Node{{ID: b.id, Addr: b.srv.Listener.Addr().String()}})
	b.peers.Set([]Node{{ID: a.id, Addr: a.srv.Listener.Addr().String()}})
	data := randBytes(testBlock)
	f.put(t, "k1", data)
	f.put(t, "k2", data)

	readBlocks(t, a, "k1", data) // a asks b, which must load it, not ask a
	if a.requests.Load() != 0 || b.requests.Load() != 1 || f.gets() != 1 {
		t.Fatalf("a served %d, b served %d, %d GETs; want 0, 1, 1", a.requests.Load(), b.requests.Load(), f.gets())
	}
	readBlocks(t, b, "k2", data) // and the other way round
	if a.requests.Load() != 1 || b.requests.Load() != 1 || f.gets() != 2 {
		t.Fatalf("a served %d, b served %d, %d GETs; want 1, 1, 2", a.requests.Load(), b.requests.Load(), f.gets())
	}
	readBlocks(t, b, "k1", data) // b kept the block it served
	if a.requests.Load() != 1 || f.gets() != 2 {
		t.Fatalf("re-reading a served block: a served %d, %d GETs; want 1, 2", a.requests.Load(), f.gets())
	}
}

func TestBlockHandler(t *testing.T) {
	mem := objstore.NewMem()
	counted := objstore.NewCounting(mem)
	gate := make(chan struct{})
	c := New(Config{DisableReadAhead: true, BlockSize: testBlock}, gatedStore{counted, gate}, nil)
	srv := httptest.NewServer(BlockHandler(c))
	defer srv.Close()
	data := randBytes(2*testBlock + 5)
	if err := mem.Put(context.Background(), "obj", data); err != nil {
		t.Fatal(err)
	}
	if err := mem.Put(context.Background(), "even", data[:2*testBlock]); err != nil {
		t.Fatal(err)
	}
	get := func(method, query string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+BlockPath+"?"+query, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, body
	}

	// Concurrent requests for one block share one GET.
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() {
			resp, body := get("GET", "key=obj&block=1")
			if resp.StatusCode != 200 || !bytes.Equal(body, data[testBlock:2*testBlock]) {
				t.Errorf("block 1: HTTP %d, %d bytes", resp.StatusCode, len(body))
			}
		})
	}
	waitFor(t, "requests to wait on one load", func() bool { return c.Stats().Misses == 5 })
	close(gate)
	wg.Wait()
	if got := counted.Snapshot()[objstore.OpGet].Requests; got != 1 {
		t.Errorf("5 concurrent requests cost %d GETs", got)
	}

	tests := []struct {
		name, method, query string
		status              int
		body                []byte
	}{
		{"first block", "GET", "key=obj&block=0&bs=16", 200, data[:testBlock]},
		{"short last block", "GET", "key=obj&block=2", 200, data[2*testBlock:]},
		{"empty block at the end", "GET", "key=even&block=2", 200, []byte{}},
		{"past the end", "GET", "key=obj&block=3", 416, nil},
		{"missing object", "GET", "key=nope&block=0", 404, nil},
		{"bad key", "GET", "key=../etc&block=0", 400, nil},
		{"no key", "GET", "block=0", 400, nil},
		{"negative block", "GET", "key=obj&block=-1", 400, nil},
		{"huge block", "GET", "key=obj&block=9223372036854775807", 400, nil},
		{"block size mismatch", "GET", "key=obj&block=0&bs=32", 400, nil},
		{"wrong method", "POST", "key=obj&block=0", 405, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := get(tc.method, tc.query)
			if resp.StatusCode != tc.status {
				t.Fatalf("HTTP %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			if resp.Header.Get(markerHeader) == "" {
				t.Error("response lacks the cache marker header")
			}
			if tc.status != 200 {
				return
			}
			if resp.ContentLength != int64(len(tc.body)) || !bytes.Equal(body, tc.body) {
				t.Errorf("content length %d, %d bytes; want %d", resp.ContentLength, len(body), len(tc.body))
			}
		})
	}
}

func TestRemoteLoaderWithoutRing(t *testing.T) {
	mem := objstore.NewMem()
	counted := objstore.NewCounting(mem)
	data := randBytes(testBlock)
	if err := mem.Put(context.Background(), "k", data); err != nil {
		t.Fatal(err)
	}
	loader := NewRemoteLoader(RemoteConfig{Peers: NewPeerSet(1), Store: counted, BlockSize: testBlock})
	c := New(Config{DisableReadAhead: true, BlockSize: testBlock, Loader: loader}, counted, nil)
	got, err := c.ReadAt(context.Background(), "k", 0, testBlock)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("ReadAt with an empty ring = %v", err)
	}
	if s := loader.Stats(); s.Local != 1 {
		t.Errorf("stats %+v: an empty ring must read the store locally", s)
	}
}
