package recordbatch

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"strconv"
)

// HeaderSize is the size of a magic-2 batch header: everything before the
// records.
const HeaderSize = 61

// Byte offsets of the header fields.
const (
	offBaseOffset      = 0
	offBatchLength     = 8
	offLeaderEpoch     = 12
	offMagic           = 16
	offCRC             = 17
	offAttributes      = 21
	offLastOffsetDelta = 23
	offFirstTimestamp  = 27
	offMaxTimestamp    = 35
	offProducerID      = 43
	offProducerEpoch   = 51
	offBaseSequence    = 53
	offNumRecords      = 57

	// logOverhead is baseOffset plus batchLength: the part of a batch that
	// batchLength does not count.
	logOverhead = 12
	// minBatchLength is the smallest batchLength a magic-2 batch can have.
	minBatchLength = HeaderSize - logOverhead
)

// Attribute bits.
const (
	attrCompressionMask = 0x07
	attrLogAppendTime   = 0x08
	attrTransactional   = 0x10
	attrControl         = 0x20
)

// castagnoli is the CRC-32C table Kafka uses for magic 2.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Compression is the codec id in the low three bits of a batch's attributes.
type Compression int8

// The codecs Kafka defines.
const (
	CompressionNone   Compression = 0
	CompressionGzip   Compression = 1
	CompressionSnappy Compression = 2
	CompressionLZ4    Compression = 3
	CompressionZstd   Compression = 4
)

// String returns the codec's name as Kafka's compression.type config spells
// it, or "unknown(N)".
func (c Compression) String() string {
	switch c {
	case CompressionNone:
		return "none"
	case CompressionGzip:
		return "gzip"
	case CompressionSnappy:
		return "snappy"
	case CompressionLZ4:
		return "lz4"
	case CompressionZstd:
		return "zstd"
	}
	return "unknown(" + strconv.Itoa(int(c)) + ")"
}

// Known reports whether c is one of the codecs this package can decode.
func (c Compression) Known() bool { return c >= CompressionNone && c <= CompressionZstd }

// Header is the decoded fixed part of a magic-2 batch.
type Header struct {
	BaseOffset           int64
	BatchLength          int32
	PartitionLeaderEpoch int32
	Magic                int8
	CRC                  uint32
	Attributes           int16
	LastOffsetDelta      int32
	FirstTimestamp       int64
	MaxTimestamp         int64
	ProducerID           int64
	ProducerEpoch        int16
	BaseSequence         int32
	NumRecords           int32
}

// Size is the number of bytes the whole batch occupies: 12 + BatchLength.
func (h Header) Size() int { return logOverhead + int(h.BatchLength) }

// Compression is the codec the records are compressed with.
func (h Header) Compression() Compression { return Compression(h.Attributes & attrCompressionMask) }

// LogAppendTime reports whether the batch's timestamps were set by the
// broker (timestamp type 1) rather than by the producer.
func (h Header) LogAppendTime() bool { return h.Attributes&attrLogAppendTime != 0 }

// Transactional reports whether the batch belongs to a transaction.
func (h Header) Transactional() bool { return h.Attributes&attrTransactional != 0 }

// Control reports whether the batch holds control records (transaction
// markers), which only brokers write.
func (h Header) Control() bool { return h.Attributes&attrControl != 0 }

// OffsetCount is the number of offsets the batch spans: LastOffsetDelta + 1.
// It can exceed NumRecords once compaction has removed records.
func (h Header) OffsetCount() int64 { return int64(h.LastOffsetDelta) + 1 }

// LastOffset is the offset of the batch's last record: BaseOffset +
// LastOffsetDelta.
func (h Header) LastOffset() int64 { return h.BaseOffset + int64(h.LastOffsetDelta) }

// Idempotent reports whether the batch carries a producer id, and so takes
// part in sequence deduplication.
func (h Header) Idempotent() bool { return h.ProducerID >= 0 }

// Timestamp is the timestamp a consumer sees for r, a record of this batch:
// MaxTimestamp for LogAppendTime batches (the broker overrides every
// record's time), FirstTimestamp + r.TimestampDelta otherwise.
func (h Header) Timestamp(r Record) int64 {
	if h.LogAppendTime() {
		return h.MaxTimestamp
	}
	return h.FirstTimestamp + r.TimestampDelta
}

// ParseHeader reads the header of the batch starting at b[0]. It checks what
// it needs to make sense of the header (enough bytes, magic 2, batchLength no
// smaller than the header) but not the CRC, and not whether b holds the whole
// batch: b may be just a prefix of the batch, at least HeaderSize long.
//
// Errors: ErrTruncated when b is shorter than the header, ErrUnsupportedMagic
// for magic 0 or 1 (the returned Header then has BaseOffset, BatchLength and
// Magic set, which is enough to skip the message), ErrCorrupt otherwise.
func ParseHeader(b []byte) (Header, error) {
	var h Header
	if len(b) <= offMagic {
		return h, fmt.Errorf("%w: %d bytes, need %d for a batch header", ErrTruncated, len(b), HeaderSize)
	}
	h.BaseOffset = int64(binary.BigEndian.Uint64(b[offBaseOffset:]))
	h.BatchLength = int32(binary.BigEndian.Uint32(b[offBatchLength:]))
	h.Magic = int8(b[offMagic])
	switch {
	case h.Magic == 0 || h.Magic == 1:
		return h, fmt.Errorf("%w: magic %d", ErrUnsupportedMagic, h.Magic)
	case h.Magic != 2:
		return h, fmt.Errorf("%w: magic %d", ErrCorrupt, h.Magic)
	case h.BatchLength < minBatchLength:
		return h, fmt.Errorf("%w: batchLength %d is less than the minimum %d", ErrCorrupt, h.BatchLength, minBatchLength)
	case len(b) < HeaderSize:
		return h, fmt.Errorf("%w: %d bytes, need %d for a batch header", ErrTruncated, len(b), HeaderSize)
	}
	h.PartitionLeaderEpoch = int32(binary.BigEndian.Uint32(b[offLeaderEpoch:]))
	h.CRC = binary.BigEndian.Uint32(b[offCRC:])
	h.Attributes = int16(binary.BigEndian.Uint16(b[offAttributes:]))
	h.LastOffsetDelta = int32(binary.BigEndian.Uint32(b[offLastOffsetDelta:]))
	h.FirstTimestamp = int64(binary.BigEndian.Uint64(b[offFirstTimestamp:]))
	h.MaxTimestamp = int64(binary.BigEndian.Uint64(b[offMaxTimestamp:]))
	h.ProducerID = int64(binary.BigEndian.Uint64(b[offProducerID:]))
	h.ProducerEpoch = int16(binary.BigEndian.Uint16(b[offProducerEpoch:]))
	h.BaseSequence = int32(binary.BigEndian.Uint32(b[offBaseSequence:]))
	h.NumRecords = int32(binary.BigEndian.Uint32(b[offNumRecords:]))
	return h, nil
}

// SetBaseOffset overwrites the base offset of the batch at raw[0:] in place.
// The base offset is outside the CRC, so the batch stays valid. raw must hold
// at least the first 8 bytes of a batch; the caller owns raw and must not
// share it with a concurrent reader while it is being written.
func SetBaseOffset(raw []byte, off int64) {
	binary.BigEndian.PutUint64(raw[offBaseOffset:], uint64(off))
}

// SetPartitionLeaderEpoch overwrites the partition leader epoch of the batch
// at raw[0:] in place. Like the base offset it is outside the CRC. raw must
// hold at least the first 16 bytes of a batch.
func SetPartitionLeaderEpoch(raw []byte, epoch int32) {
	binary.BigEndian.PutUint32(raw[offLeaderEpoch:], uint32(epoch))
}

// SetLogAppendTime marks the whole batch raw as stamped by the broker at ts
// (milliseconds): it sets the timestamp-type bit and the max timestamp, as
// Kafka does for topics with message.timestamp.type=LogAppendTime, and
// recomputes the CRC since both fields are covered by it. FirstTimestamp and
// the records are left alone; readers use Header.Timestamp. raw must start
// with a whole batch that has passed Validate (it may run on past it): the CRC
// is computed over the batchLength it declares.
func SetLogAppendTime(raw []byte, ts int64) {
	end := logOverhead + int(binary.BigEndian.Uint32(raw[offBatchLength:]))
	attrs := binary.BigEndian.Uint16(raw[offAttributes:])
	binary.BigEndian.PutUint16(raw[offAttributes:], attrs|attrLogAppendTime)
	binary.BigEndian.PutUint64(raw[offMaxTimestamp:], uint64(ts))
	binary.BigEndian.PutUint32(raw[offCRC:], crc32.Checksum(raw[offAttributes:end], castagnoli))
}
