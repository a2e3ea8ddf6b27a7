package fsm

import (
	"encoding/binary"
	"fmt"
	"math"
)

// wbuf appends the binary encodings used by hot commands and snapshots:
// unsigned and zigzag varints, length-prefixed strings, raw 16-byte ids.
type wbuf struct{ b []byte }

func (w *wbuf) uvarint(v uint64) { w.b = binary.AppendUvarint(w.b, v) }
func (w *wbuf) varint(v int64)   { w.b = binary.AppendVarint(w.b, v) }
func (w *wbuf) id(id [16]byte)   { w.b = append(w.b, id[:]...) }
func (w *wbuf) str(s string) {
	w.uvarint(uint64(len(s)))
	w.b = append(w.b, s...)
}

// rbuf reads what wbuf wrote. The first failure sticks: later reads return
// zero values and err reports the first problem, so decoders can read a whole
// record and check once.
type rbuf struct {
	b   []byte
	err error
}

func (r *rbuf) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
	}
}

func (r *rbuf) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail("bad uvarint")
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *rbuf) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail("bad varint")
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *rbuf) int32() int32 {
	v := r.varint()
	if v < math.MinInt32 || v > math.MaxInt32 {
		r.fail("int32 out of range: %d", v)
		return 0
	}
	return int32(v)
}

func (r *rbuf) int16() int16 {
	v := r.varint()
	if v < math.MinInt16 || v > math.MaxInt16 {
		r.fail("int16 out of range: %d", v)
		return 0
	}
	return int16(v)
}

func (r *rbuf) byte() byte {
	if r.err != nil {
		return 0
	}
	if len(r.b) == 0 {
		r.fail("short buffer")
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *rbuf) id() (id [16]byte) {
	if r.err != nil {
		return id
	}
	if len(r.b) < 16 {
		r.fail("short id")
		return id
	}
	copy(id[:], r.b)
	r.b = r.b[16:]
	return id
}

func (r *rbuf) str() string {
	n := r.uvarint()
	if r.err != nil {
		return ""
	}
	if n > uint64(len(r.b)) {
		r.fail("string of %d bytes, %d left", n, len(r.b))
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

// count reads an item count and rejects one that cannot fit in the rest of
// the buffer when each item takes at least minSize bytes, so that corrupt
// input cannot make the decoder allocate without bound.
func (r *rbuf) count(minSize int) int {
	n := r.uvarint()
	if r.err != nil {
		return 0
	}
	if n > uint64(len(r.b)/minSize) {
		r.fail("count %d does not fit in %d bytes", n, len(r.b))
		return 0
	}
	return int(n)
}

// done reports the sticky error, or an error if bytes are left over.
func (r *rbuf) done() error {
	if r.err == nil && len(r.b) != 0 {
		r.fail("%d trailing bytes", len(r.b))
	}
	return r.err
}
