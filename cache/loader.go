package cache

import (
	"context"

	"github.com/wisp-stream/wisp/objstore"
)

// Loader fetches one aligned block of an object for the cache. Block b of an
// object is bytes [b*BlockSize, (b+1)*BlockSize); only the object's last block
// may be shorter, and a block starting exactly at the object's end is empty.
// A block starting beyond the end is an error wrapping objstore.ErrInvalidRange.
//
// The cache calls LoadBlock from its own goroutine, never holding a lock, and
// owns the returned slice afterwards (the Loader must not modify it). The ctx
// is cancelled once no reader wants the block any more.
//
// The default is StoreLoader; a later consistent-hash ring can plug in a
// Loader that asks the block's owning agent instead.
type Loader interface {
	LoadBlock(ctx context.Context, key string, block int64) ([]byte, error)
}

// StoreLoader loads a block with one ranged Get from Store.
type StoreLoader struct {
	Store     objstore.Store
	BlockSize int64
}

// LoadBlock implements Loader.
func (l StoreLoader) LoadBlock(ctx context.Context, key string, block int64) ([]byte, error) {
	return l.Store.Get(ctx, key, block*l.BlockSize, l.BlockSize)
}
