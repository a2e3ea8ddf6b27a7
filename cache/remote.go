package cache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/wisp-stream/wisp/objstore"
)

// The shared read cache. Every (object, block) has one owning agent, chosen
// by the Ring over the live agents of a zone. A reader's cache loads a
// missing block by asking the owner over HTTP; the owner serves it from its
// own cache, loading it with one ranged GET that concurrent requests share.
// So N agents reading the same data cost about one GET per block, not N.
//
// The owner never forwards: requests that arrive over HTTP are loaded from
// the store even when this agent's ring names another owner (rings disagree
// briefly while membership changes), so there is no forwarding loop.
//
// Tail reads: the agent that wrote a file Primes its own cache at flush time.
// Readers on that agent cost no GET; so do readers elsewhere for the blocks
// the writer owns. A block owned by another agent is loaded by that owner
// once, on first request. The reader's own cache keeps what it fetched, too.

// BlockPath is the HTTP path BlockHandler serves, on the agent's HTTP listener.
const BlockPath = "/internal/v1/cache/block"

// Defaults for RemoteConfig.
const (
	DefaultPeerTimeout  = 5 * time.Second
	DefaultDialTimeout  = time.Second
	DefaultStoreTimeout = 30 * time.Second
)

// markerHeader is set on every BlockHandler response, so a client can tell
// the handler's 404 (object missing) from a listener that has no such path.
const markerHeader = "Wisp-Cache-Block"

// Peers is the cache's view of cluster membership: the ring of the moment
// and this agent's node id. PeerSet implements it.
type Peers interface {
	Ring() *Ring
	Self() int32
}

// LocalLoader is implemented by Loaders that may forward a load to another
// agent: LoadLocal loads from this agent's store only. BlockHandler uses it
// for requests that come over HTTP, so a forwarded request is never
// forwarded again. A Loader that wraps a RemoteLoader must pass it through.
type LocalLoader interface {
	Loader
	LoadLocal(ctx context.Context, key string, block int64) ([]byte, error)
}

// RemoteConfig configures a RemoteLoader. Zero fields take defaults.
type RemoteConfig struct {
	Peers     Peers
	Store     objstore.Store
	BlockSize int64 // must equal the Cache's; default DefaultBlockSize
	// Timeout bounds one request to an owner, its GET from the store
	// included; past it the reader falls back to the store. Default 5 s.
	Timeout time.Duration
	// StoreTimeout bounds a GET shared by several requesters, which outlives
	// any one of them. Default 30 s.
	StoreTimeout time.Duration
	// Client sends requests to owners. Default: a client with a 1 s dial
	// timeout and kept-alive connections.
	Client *http.Client
	Logger *slog.Logger
}

// RemoteLoader is the Loader of a cache that takes part in the shared cache:
// it asks each block's owner, or reads the store itself when it is the owner,
// when the owner is unreachable or fails, or when no ring is known. Use one
// RemoteLoader per Cache, and serve that Cache with BlockHandler.
type RemoteLoader struct {
	peers        Peers
	store        objstore.Store
	blockSize    int64
	timeout      time.Duration
	storeTimeout time.Duration
	client       *http.Client
	log          *slog.Logger

	loads singleflight.Group    // owner-side GETs, shared by local readers and HTTP requests
	cache atomic.Pointer[Cache] // set by BlockHandler: loads land in it before they are shared
	stats [numRemoteStats]atomic.Int64
}

var _ LocalLoader = (*RemoteLoader)(nil)

// NewRemoteLoader returns a loader over cfg.Peers and cfg.Store.
func NewRemoteLoader(cfg RemoteConfig) *RemoteLoader {
	if cfg.BlockSize <= 0 {
		cfg.BlockSize = DefaultBlockSize
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultPeerTimeout
	}
	if cfg.StoreTimeout <= 0 {
		cfg.StoreTimeout = DefaultStoreTimeout
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: DefaultDialTimeout, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConnsPerHost: 16,
			IdleConnTimeout:     90 * time.Second,
		}}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &RemoteLoader{
		peers: cfg.Peers, store: cfg.Store, blockSize: cfg.BlockSize,
		timeout: cfg.Timeout, storeTimeout: cfg.StoreTimeout, client: cfg.Client, log: cfg.Logger,
	}
}

// RemoteStats counts how a RemoteLoader's loads were served.
type RemoteStats struct {
	Local     int64 // owned by this agent (or no ring): loaded from the store here
	Remote    int64 // served by the owner over HTTP
	Fallbacks int64 // owner unreachable or failing: loaded from the store here
}

const (
	statLocal = iota
	statRemote
	statFallback
	numRemoteStats
)

// Stats returns the counters.
func (l *RemoteLoader) Stats() RemoteStats {
	return RemoteStats{l.stats[statLocal].Load(), l.stats[statRemote].Load(), l.stats[statFallback].Load()}
}

// LoadBlock implements Loader.
func (l *RemoteLoader) LoadBlock(ctx context.Context, key string, block int64) ([]byte, error) {
	owner := l.peers.Ring().Owner(key, block)
	if owner.Addr == "" || owner.ID == l.peers.Self() {
		l.stats[statLocal].Add(1)
		return l.LoadLocal(ctx, key, block)
	}
	data, err := l.fetch(ctx, owner, key, block)
	if err == nil {
		l.stats[statRemote].Add(1)
		return data, nil
	}
	// The owner read the same bucket: its "missing" or "past the end" is
	// the answer, not a failure to route around.
	if errors.Is(err, objstore.ErrNotFound) || errors.Is(err, objstore.ErrInvalidRange) {
		return nil, err
	}
	if ctx.Err() != nil {
		return nil, ctx.Err() // the readers gave up; nothing to fall back for
	}
	l.log.Debug("cache owner unavailable, reading the store", "owner", owner.ID, "addr", owner.Addr,
		"key", key, "block", block, "err", err)
	l.stats[statFallback].Add(1)
	return l.store.Get(ctx, key, block*l.blockSize, l.blockSize)
}

// LoadLocal loads block from the store with one ranged GET, shared by every
// concurrent caller for the same block (local readers and HTTP requests
// alike). When BlockHandler has bound a cache, the block is put in it before
// the GET is released, so a request arriving just after finds it there.
func (l *RemoteLoader) LoadLocal(ctx context.Context, key string, block int64) ([]byte, error) {
	ch := l.loads.DoChan(key+"\x00"+strconv.FormatInt(block, 10), func() (any, error) {
		c := l.cache.Load()
		if c != nil {
			// A load that finished between a caller's miss and this call
			// has put the block in the cache: do not GET it again.
			if data, ok := c.peek(blockID{key, block}); ok {
				return data, nil
			}
		}
		// Shared by callers that may each give up: not bound to any one.
		gctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.storeTimeout)
		defer cancel()
		data, err := l.store.Get(gctx, key, block*l.blockSize, l.blockSize)
		if err != nil {
			return nil, err
		}
		if c != nil {
			c.insert(blockID{key, block}, data)
		}
		return data, nil
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.([]byte), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// errPeer marks a failure of the owner or of the way to it (as opposed to an
// answer about the object): the reader falls back to the store.
var errPeer = errors.New("cache peer")

// fetch asks owner for a block.
func (l *RemoteLoader) fetch(ctx context.Context, owner Node, key string, block int64) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	q := url.Values{"key": {key}, "block": {strconv.FormatInt(block, 10)}, "bs": {strconv.FormatInt(l.blockSize, 10)}}
	u := "http://" + owner.Addr + BlockPath + "?" + q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("%w %d: %w", errPeer, owner.ID, err)
	}
	resp, err := l.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w %d: %w", errPeer, owner.ID, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		// The owner's cluster authentication refused us (see agent/clusterauth.go).
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("%w %d: %s refused the request (HTTP %d): %s", errPeer, owner.ID, owner.Addr, resp.StatusCode, bytes.TrimSpace(msg))
	}
	if resp.Header.Get(markerHeader) == "" {
		return nil, fmt.Errorf("%w %d: %s is not a cache peer (HTTP %d)", errPeer, owner.ID, owner.Addr, resp.StatusCode)
	}
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		return nil, fmt.Errorf("cache: owner %d: %q: %w", owner.ID, key, objstore.ErrNotFound)
	case http.StatusRequestedRangeNotSatisfiable:
		return nil, fmt.Errorf("cache: owner %d: %q block %d: %w", owner.ID, key, block, objstore.ErrInvalidRange)
	default:
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("%w %d: HTTP %d: %s", errPeer, owner.ID, resp.StatusCode, msg)
	}
	n := resp.ContentLength
	if n < 0 || n > l.blockSize {
		return nil, fmt.Errorf("%w %d: content length %d for a %d-byte block", errPeer, owner.ID, n, l.blockSize)
	}
	data := make([]byte, n)
	if _, err := io.ReadFull(resp.Body, data); err != nil {
		return nil, fmt.Errorf("%w %d: read block: %w", errPeer, owner.ID, err)
	}
	return data, nil
}

// BlockHandler serves GET BlockPath?key=K&block=N[&bs=SIZE] from c: block N
// of object K, from c's memory or loaded once from the store (never from
// another agent: see LocalLoader). Responses carry a Content-Length. Status:
// 404 when the object does not exist, 416 when the block starts past its
// end, 400 for a bad request or a block size other than c's, 502 when the
// store fails. Mount it on the agent's internal HTTP listener only: it reads
// any key of the bucket.
func BlockHandler(c *Cache) http.Handler {
	local, _ := c.loader.(LocalLoader)
	if rl, ok := local.(*RemoteLoader); ok {
		rl.cache.CompareAndSwap(nil, c)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(markerHeader, "1")
		if r.Method != http.MethodGet {
			w.Header().Set("Allow", http.MethodGet)
			http.Error(w, "GET only", http.StatusMethodNotAllowed)
			return
		}
		q := r.URL.Query()
		key := q.Get("key")
		if err := objstore.ValidateKey(key); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		block, err := strconv.ParseInt(q.Get("block"), 10, 64)
		if err != nil || block < 0 || block > (1<<62)/c.blockSize {
			http.Error(w, "bad block number", http.StatusBadRequest)
			return
		}
		if bs := q.Get("bs"); bs != "" && bs != strconv.FormatInt(c.blockSize, 10) {
			http.Error(w, "block size "+bs+" differs from this cache's "+strconv.FormatInt(c.blockSize, 10), http.StatusBadRequest)
			return
		}
		data, err := c.serveBlock(r.Context(), local, key, block)
		switch {
		case err == nil:
		case errors.Is(err, objstore.ErrNotFound):
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		case errors.Is(err, objstore.ErrInvalidRange):
			http.Error(w, err.Error(), http.StatusRequestedRangeNotSatisfiable)
			return
		case r.Context().Err() != nil:
			return // the requester is gone
		default:
			c.log.Debug("cache block request failed", "key", key, "block", block, "err", err)
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.Write(data) // an error here means the requester went away
	})
}

// serveBlock returns block of key for a peer: from memory, else loaded by
// local (or, when c's loader never forwards, by c's own single-flight load).
func (c *Cache) serveBlock(ctx context.Context, local LocalLoader, key string, block int64) ([]byte, error) {
	id := blockID{key, block}
	if local == nil {
		c.mu.Lock()
		w := c.lookupLocked(ctx, id)
		c.mu.Unlock()
		err := c.await(ctx, &w)
		return w.data, err
	}
	c.mu.Lock()
	if el, ok := c.byKey[key][block]; ok {
		c.stats.Hits++
		c.lru.MoveToFront(el)
		data := el.Value.(*entry).data
		c.mu.Unlock()
		return data, nil
	}
	c.stats.Misses++
	c.mu.Unlock()
	data, err := local.LoadLocal(ctx, key, block)
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > c.blockSize {
		return nil, fmt.Errorf("loader returned %d bytes for a %d-byte block", len(data), c.blockSize)
	}
	c.insert(id, data)
	return data, nil
}

// peek returns a cached block without counting a hit or a miss.
func (c *Cache) peek(id blockID) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.byKey[id.key][id.block]; ok {
		return el.Value.(*entry).data, true
	}
	return nil, false
}

// insert caches a block loaded outside ReadAt's flights. Unlike a flight it
// does not see Drop: a block of a file dropped while its load was running
// stays until evicted. Files are deleted long after their last read (the
// dead-file grace), so this costs memory only in theory.
func (c *Cache) insert(id blockID, data []byte) {
	c.mu.Lock()
	c.insertLocked(id, data)
	c.mu.Unlock()
}
