package recordbatch

import (
	"encoding/binary"
	"hash/crc32"
	"runtime"
	"strings"
)

// codecCase is one way a producer can compress a batch.
type codecCase struct {
	name   string
	codec  Compression
	xerial bool
}

var codecCases = []codecCase{
	{"none", CompressionNone, false},
	{"gzip", CompressionGzip, false},
	{"snappy", CompressionSnappy, false},
	{"snappy-xerial", CompressionSnappy, true},
	{"lz4", CompressionLZ4, false},
	{"zstd", CompressionZstd, false},
}

// sampleRecords covers the shapes a record can take: null and empty keys
// and values, headers with null values, negative and large timestamp deltas.
func sampleRecords() []Record {
	return []Record{
		{TimestampDelta: 0, Key: []byte("k0"), Value: []byte("value zero")},
		{TimestampDelta: 5, Key: nil, Value: []byte("null key")},
		{TimestampDelta: -3, Key: []byte{}, Value: []byte{}},
		{TimestampDelta: 1 << 40, Key: []byte("tombstone"), Value: nil},
		{TimestampDelta: 7, Key: []byte("h"), Value: []byte("with headers"), Headers: []RecordHeader{
			{Key: "trace", Value: []byte("abc")},
			{Key: "null", Value: nil},
			{Key: "", Value: []byte{}},
		}},
		{Attributes: 0, TimestampDelta: 9, Key: []byte(strings.Repeat("k", 300)), Value: []byte(strings.Repeat("v", 5000))},
	}
}

// numbered returns recs with OffsetDelta set to each record's index, as
// Build writes them.
func numbered(recs []Record) []Record {
	out := make([]Record, len(recs))
	for i, r := range recs {
		r.OffsetDelta = int32(i)
		out[i] = r
	}
	return out
}

func idempotentOpts(c codecCase) BuildOptions {
	return BuildOptions{
		FirstTimestamp: 1_700_000_000_000,
		ProducerID:     42,
		ProducerEpoch:  3,
		BaseSequence:   100,
		Compression:    c.codec,
		XerialSnappy:   c.xerial,
	}
}

func plainOpts() BuildOptions {
	return BuildOptions{FirstTimestamp: 1_700_000_000_000, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}
}

// fixCRC recomputes the CRC of the whole batch b after a test edited it.
func fixCRC(b []byte) []byte {
	binary.BigEndian.PutUint32(b[offCRC:], crc32.Checksum(b[offAttributes:], castagnoli))
	return b
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }

// legacyMessage encodes a one-message set of magic 0 or 1 with a null key.
func legacyMessage(magic int8, value []byte) []byte {
	var msg []byte
	msg = append(msg, byte(magic), 0) // magic, attributes
	if magic == 1 {
		msg = binary.BigEndian.AppendUint64(msg, 1_700_000_000_000)
	}
	msg = binary.BigEndian.AppendUint32(msg, 0xFFFFFFFF) // null key
	msg = binary.BigEndian.AppendUint32(msg, uint32(len(value)))
	msg = append(msg, value...)
	crc := crc32.ChecksumIEEE(msg)
	var b []byte
	b = binary.BigEndian.AppendUint64(b, 0)
	b = binary.BigEndian.AppendUint32(b, uint32(4+len(msg)))
	b = binary.BigEndian.AppendUint32(b, crc)
	return append(b, msg...)
}

// bytesAllocated reports how many bytes f allocated on the heap.
func bytesAllocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// setU32 and friends edit a header field of a test batch.
func setU32(b []byte, off int, v uint32) []byte { binary.BigEndian.PutUint32(b[off:], v); return b }
func setU16(b []byte, off int, v uint16) []byte { binary.BigEndian.PutUint16(b[off:], v); return b }
