package kafka

import (
	"testing"
	"unsafe"
)

func TestFramePool(t *testing.T) {
	tests := []struct {
		name      string
		size      int
		next      int // size asked for after the first frame was put back
		wantReuse bool
	}{
		{name: "a large frame is reused for one of the same size", size: 1 << 20, next: 1 << 20, wantReuse: true},
		{name: "and for a smaller one of its class", size: 1<<20 + 1, next: 1<<20 + 100, wantReuse: true},
		{name: "not for a larger class", size: 1 << 20, next: 1<<20 + 1},
		{name: "small frames are not pooled", size: 1000, next: 1000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p framePool
			// sync.Pool may drop any item (the race detector drops a
			// quarter on purpose), so a reuse must show within a few tries
			// where it is due, and never where it is not.
			reuses := 0
			for range 20 {
				a := p.get(tt.size)
				if len(a) != tt.size {
					t.Fatalf("get(%d) has length %d", tt.size, len(a))
				}
				p.put(a)
				b := p.get(tt.next)
				if len(b) != tt.next {
					t.Fatalf("get(%d) has length %d", tt.next, len(b))
				}
				if unsafe.SliceData(a) == unsafe.SliceData(b) {
					reuses++
				}
			}
			if tt.wantReuse && reuses == 0 {
				t.Fatalf("get(%d) after put of a %d-byte frame never reused it in 20 tries", tt.next, tt.size)
			}
			if !tt.wantReuse && reuses > 0 {
				t.Fatalf("get(%d) after put of a %d-byte frame reused it %d times", tt.next, tt.size, reuses)
			}
		})
	}
}

func TestFramePoolIgnoresForeignBuffers(t *testing.T) {
	var p framePool
	p.put(make([]byte, 100<<10)) // capacity not a power of two: not from get
	if b := p.get(100 << 10); cap(b) != 128<<10 {
		t.Fatalf("get(100 KiB) has capacity %d, want its class's 128 KiB", cap(b))
	}
}
