package datafile

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"slices"
)

// initialCap is the starting buffer capacity of NewBuilder: small enough
// not to waste memory on the many small files of a lightly loaded agent.
const initialCap = 256 << 10

// Builder accumulates batches for one file. Not safe for concurrent use (the
// flusher holds a lock).
type Builder struct {
	buf     []byte
	entries []IndexEntry
	done    bool
}

// NewBuilder returns a Builder whose file starts with the 8-byte header:
// magic "WISPDF" and the 2-byte format version.
func NewBuilder() *Builder { return NewBuilderSize(initialCap) }

// NewBuilderSize is NewBuilder with room for capacity bytes (footer included)
// before the buffer must grow. A writer that knows roughly how big its files
// get (the flusher: about the previous one) avoids every growth copy.
func NewBuilderSize(capacity int) *Builder {
	b := &Builder{buf: make([]byte, HeaderSize, max(capacity, HeaderSize))}
	copy(b.buf, headerMagic[:])
	binary.BigEndian.PutUint16(b.buf[6:], Version)
	return b
}

// Append copies batch (one whole Kafka record batch) into the file and returns
// its byte position. The caller keeps ownership of batch. It panics if batch
// is longer than a Kafka batch can be (math.MaxInt32) or if Finish was called.
func (b *Builder) Append(topicID [16]byte, partition int32, batch []byte) (pos int64) {
	return b.AppendParts(topicID, partition, [][]byte{batch})
}

// AppendParts is Append for a batch given as consecutive pieces (a batch
// read from a cache in blocks): it copies them in order as one batch.
func (b *Builder) AppendParts(topicID [16]byte, partition int32, parts [][]byte) (pos int64) {
	if b.done {
		panic("datafile: Append after Finish")
	}
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	if n > math.MaxInt32 {
		panic(fmt.Sprintf("datafile: batch of %d bytes exceeds the Kafka limit", n))
	}
	pos = int64(len(b.buf))
	b.grow(n)
	for _, p := range parts {
		b.buf = append(b.buf, p...)
	}
	b.entries = append(b.entries, IndexEntry{TopicID: topicID, Partition: partition, Pos: pos, Len: int32(n)})
	return pos
}

// grow makes room for n more bytes. It doubles rather than let append grow
// large slices by a quarter: an 8 MiB file built from 256 KiB was copied
// about five times over (9.3 GB allocated per 10 s at 260 MiB/s of produce).
func (b *Builder) grow(n int) {
	if need := len(b.buf) + n; need > cap(b.buf) {
		grown := make([]byte, len(b.buf), max(need, 2*cap(b.buf)))
		copy(grown, b.buf)
		b.buf = grown
	}
}

// Len returns the bytes so far (header + batches), excluding the footer.
func (b *Builder) Len() int64 { return int64(len(b.buf)) }

// Batches returns the number of batches appended.
func (b *Builder) Batches() int { return len(b.entries) }

// Finish appends the footer and returns the whole file, which the caller then
// owns. The Builder must not be used after.
func (b *Builder) Finish() []byte {
	if b.done {
		panic("datafile: Finish called twice")
	}
	b.done = true
	footerLen := len(b.entries)*EntrySize + TrailerSize
	start := len(b.buf)
	buf := slices.Grow(b.buf, footerLen)[:start+footerLen]
	p := start
	for _, e := range b.entries {
		putEntry(buf[p:], e)
		p += EntrySize
	}
	binary.BigEndian.PutUint32(buf[p:], uint32(len(b.entries)))
	binary.BigEndian.PutUint32(buf[p+4:], uint32(footerLen))
	binary.BigEndian.PutUint16(buf[p+8:], Version)
	crc := crc32.Checksum(buf[start:p+10], castagnoli)
	binary.BigEndian.PutUint32(buf[p+10:], crc)
	copy(buf[p+14:], endMagic[:])
	b.buf, b.entries = nil, nil
	return buf
}
