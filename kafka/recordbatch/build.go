package recordbatch

import (
	"encoding/binary"
	"hash/crc32"
)

// BuildOptions are the batch-level fields Build writes.
type BuildOptions struct {
	FirstTimestamp int64
	// ProducerID, ProducerEpoch and BaseSequence identify an idempotent
	// producer's batch. A batch without one has all three at -1: the zero
	// value means producer id 0.
	ProducerID    int64
	ProducerEpoch int16
	BaseSequence  int32
	// Compression must be one of the five Kafka codecs; Build panics on
	// any other value.
	Compression Compression
	// XerialSnappy frames snappy output as the Java client does instead of
	// writing one raw block. Only meaningful with CompressionSnappy.
	XerialSnappy  bool
	Transactional bool
	// Control marks a control batch (transaction markers), as only a
	// broker writes it.
	Control bool
	// KeepOffsetDeltas writes each record's OffsetDelta as given and takes
	// lastOffsetDelta from the last record, for batches with gaps (as
	// compaction leaves them). Otherwise records are numbered 0..n-1.
	KeepOffsetDeltas bool
	// MinLastOffsetDelta, with KeepOffsetDeltas, is the least lastOffsetDelta
	// written: a compacted batch may claim offsets past its last record (or
	// hold no record at all) so that consumers skip the removed ones.
	MinLastOffsetDelta int32
}

// Build encodes recs as one magic-2 batch with base offset 0 and partition
// leader epoch -1, as a producer sends it, and computes the CRC. MaxTimestamp
// is FirstTimestamp plus the largest TimestampDelta. Build does not modify
// recs; the result is a new slice owned by the caller.
func Build(opts BuildOptions, recs []Record) []byte {
	var body []byte
	maxDelta := int64(0)
	lastOffsetDelta := int32(len(recs) - 1)
	for i, rec := range recs {
		if !opts.KeepOffsetDeltas {
			rec.OffsetDelta = int32(i)
		}
		body = appendRecord(body, rec)
		if i == 0 || rec.TimestampDelta > maxDelta {
			maxDelta = rec.TimestampDelta
		}
		lastOffsetDelta = rec.OffsetDelta
	}
	if opts.KeepOffsetDeltas {
		lastOffsetDelta = max(lastOffsetDelta, opts.MinLastOffsetDelta)
	}
	body = compress(opts.Compression, body, opts.XerialSnappy)

	attrs := uint16(opts.Compression) & attrCompressionMask
	if opts.Transactional {
		attrs |= attrTransactional
	}
	if opts.Control {
		attrs |= attrControl
	}

	b := make([]byte, HeaderSize, HeaderSize+len(body))
	binary.BigEndian.PutUint64(b[offBaseOffset:], 0)
	binary.BigEndian.PutUint32(b[offBatchLength:], uint32(HeaderSize-logOverhead+len(body)))
	binary.BigEndian.PutUint32(b[offLeaderEpoch:], 0xFFFFFFFF) // -1
	b[offMagic] = 2
	binary.BigEndian.PutUint16(b[offAttributes:], attrs)
	binary.BigEndian.PutUint32(b[offLastOffsetDelta:], uint32(lastOffsetDelta))
	binary.BigEndian.PutUint64(b[offFirstTimestamp:], uint64(opts.FirstTimestamp))
	binary.BigEndian.PutUint64(b[offMaxTimestamp:], uint64(opts.FirstTimestamp+maxDelta))
	binary.BigEndian.PutUint64(b[offProducerID:], uint64(opts.ProducerID))
	binary.BigEndian.PutUint16(b[offProducerEpoch:], uint16(opts.ProducerEpoch))
	binary.BigEndian.PutUint32(b[offBaseSequence:], uint32(opts.BaseSequence))
	binary.BigEndian.PutUint32(b[offNumRecords:], uint32(len(recs)))
	b = append(b, body...)
	binary.BigEndian.PutUint32(b[offCRC:], crc32.Checksum(b[offAttributes:], castagnoli))
	return b
}

// appendRecord appends rec's length-prefixed encoding to dst.
func appendRecord(dst []byte, rec Record) []byte {
	var fields []byte
	fields = append(fields, byte(rec.Attributes))
	fields = binary.AppendVarint(fields, rec.TimestampDelta)
	fields = binary.AppendVarint(fields, int64(rec.OffsetDelta))
	fields = appendNullableBytes(fields, rec.Key)
	fields = appendNullableBytes(fields, rec.Value)
	fields = binary.AppendVarint(fields, int64(len(rec.Headers)))
	for _, h := range rec.Headers {
		fields = binary.AppendVarint(fields, int64(len(h.Key)))
		fields = append(fields, h.Key...)
		fields = appendNullableBytes(fields, h.Value)
	}
	// Go's varint is the same zigzag encoding as Kafka's varint/varlong.
	dst = binary.AppendVarint(dst, int64(len(fields)))
	return append(dst, fields...)
}

func appendNullableBytes(dst, b []byte) []byte {
	if b == nil {
		return binary.AppendVarint(dst, -1)
	}
	dst = binary.AppendVarint(dst, int64(len(b)))
	return append(dst, b...)
}
