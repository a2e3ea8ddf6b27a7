package kafka

import (
	"math/bits"
	"sync"
)

// minPooledFrame: smaller frames are cheap to allocate and not pooled.
const minPooledFrame = 64 << 10

// framePool recycles the frames of produce requests. A produce frame is
// garbage once its handler returns (the flusher copies the batches), and a
// producer sends megabytes of them a second: reading each into fresh memory
// makes the kernel fault in and zero every page first, which costs more CPU
// than the copy itself. Frames are pooled by power-of-two capacity; a
// sync.Pool drops what stays unused across garbage collections, so an idle
// agent holds none.
type framePool struct {
	classes [32]sync.Pool // class c holds frames of capacity 1<<c
}

// get returns a frame of length size, recycled when one is free.
func (p *framePool) get(size int) []byte {
	if size < minPooledFrame {
		return make([]byte, size)
	}
	c := bits.Len(uint(size - 1)) // smallest c with 1<<c >= size
	if v := p.classes[c].Get(); v != nil {
		return (*v.(*[]byte))[:size]
	}
	return make([]byte, size, 1<<c)
}

// put recycles a frame from get. The caller must not touch it afterwards,
// nor hold anything that aliases it.
func (p *framePool) put(b []byte) {
	c := bits.Len(uint(cap(b))) - 1
	if cap(b) < minPooledFrame || cap(b) != 1<<c {
		return // not from get's pooled classes
	}
	b = b[:0]
	p.classes[c].Put(&b)
}
