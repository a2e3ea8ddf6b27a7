// Package datafile defines the layout of a Wisp data file in the bucket:
// Kafka record batches of many partitions followed by a self-describing
// footer, so that a file can be understood without the cluster metadata (for
// debugging and disaster recovery).
//
// Layout of format version 1 (all integers big-endian):
//
//	offset 0
//	+--------------------------+
//	| magic "WISPDF" (6)       |  header, HeaderSize = 8 bytes
//	| version uint16 (2)       |
//	+--------------------------+
//	| record batch 0           |  whole Kafka record batches, back to back,
//	| record batch 1           |  in append order, of any topic/partition
//	| ...                      |
//	+--------------------------+  <- footer start = file length - footer length
//	| entry 0 (32)             |  one per batch, in append order:
//	| entry 1 (32)             |    topic ID [16]byte
//	| ...                      |    partition int32
//	|                          |    position int64 (byte offset in the file)
//	|                          |    length int32
//	+--------------------------+
//	| entry count uint32 (4)   |  trailer, TrailerSize = 22 bytes
//	| footer length uint32 (4) |    bytes of entries + trailer
//	| version uint16 (2)       |    same as the header's
//	| CRC-32C uint32 (4)       |    Castagnoli, over entries..version
//	| end magic "WISPFOOT" (8) |
//	+--------------------------+
//
// The trailer repeats the version and carries the footer length so that a
// reader holding only the tail of a file (a ranged GET of the last bytes) can
// find and check the index without the header. Later versions must keep the
// end magic as the last 8 bytes and the version just before the CRC, so any
// reader can name the version of a file it cannot parse.
package datafile

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
)

const (
	// Version is the format version this package writes.
	Version uint16 = 1
	// HeaderSize is the length of the header that starts every file.
	HeaderSize = 8
	// EntrySize is the encoded length of one IndexEntry.
	EntrySize = 32
	// TrailerSize is the length of the fixed trailer that ends every file.
	TrailerSize = 22
)

var (
	headerMagic = [6]byte{'W', 'I', 'S', 'P', 'D', 'F'}
	endMagic    = [8]byte{'W', 'I', 'S', 'P', 'F', 'O', 'O', 'T'}
	castagnoli  = crc32.MakeTable(crc32.Castagnoli)
)

var (
	// ErrCorrupt is wrapped by ReadIndex when a file is truncated or damaged.
	ErrCorrupt = errors.New("datafile: corrupt data file")
	// ErrUnsupportedVersion is wrapped by ReadIndex for a format version this build cannot read.
	ErrUnsupportedVersion = errors.New("datafile: unsupported format version")
)

// IndexEntry locates one record batch in a data file.
type IndexEntry struct {
	TopicID   [16]byte
	Partition int32
	Pos       int64 // byte offset of the batch from the start of the file
	Len       int32 // byte length of the batch
}

func putEntry(b []byte, e IndexEntry) {
	copy(b[0:16], e.TopicID[:])
	binary.BigEndian.PutUint32(b[16:20], uint32(e.Partition))
	binary.BigEndian.PutUint64(b[20:28], uint64(e.Pos))
	binary.BigEndian.PutUint32(b[28:32], uint32(e.Len))
}

func getEntry(b []byte) IndexEntry {
	var e IndexEntry
	copy(e.TopicID[:], b[0:16])
	e.Partition = int32(binary.BigEndian.Uint32(b[16:20]))
	e.Pos = int64(binary.BigEndian.Uint64(b[20:28]))
	e.Len = int32(binary.BigEndian.Uint32(b[28:32]))
	return e
}
