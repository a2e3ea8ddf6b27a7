package recordbatch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/klauspost/compress/snappy/xerial"
)

func TestRecordsRoundTrip(t *testing.T) {
	// Enough data for several xerial blocks (32 KiB) and lz4 blocks, in
	// records that compress unevenly.
	big := make([]Record, 300)
	for i := range big {
		big[i] = Record{
			TimestampDelta: int64(i * 3),
			Key:            []byte(strings.Repeat(string(rune('a'+i%26)), i%40)),
			Value:          bytes.Repeat([]byte{byte(i), byte(i * 7), 0x55}, 100+i),
			Headers:        []RecordHeader{{Key: "i", Value: []byte{byte(i)}}},
		}
	}
	sets := map[string][]Record{"sample": sampleRecords(), "big": big, "one empty record": {{}}}
	for _, c := range codecCases {
		for name, recs := range sets {
			t.Run(c.name+"/"+name, func(t *testing.T) {
				b := Build(idempotentOpts(c), recs)
				if _, err := Validate(b); err != nil {
					t.Fatalf("Validate: %v", err)
				}
				got, err := Records(b)
				if err != nil {
					t.Fatalf("Records: %v", err)
				}
				if want := numbered(recs); !reflect.DeepEqual(got, want) {
					t.Fatalf("records differ after round trip\n got %+v\nwant %+v", head(got), head(want))
				}
			})
		}
	}
}

func head(recs []Record) []Record { return recs[:min(len(recs), 3)] }

func TestRecordsKeepsNullApartFromEmpty(t *testing.T) {
	recs, err := Records(Build(plainOpts(), sampleRecords()))
	if err != nil {
		t.Fatal(err)
	}
	if recs[1].Key != nil || recs[2].Key == nil || recs[2].Value == nil || recs[3].Value != nil {
		t.Fatalf("null/empty mixed up: key1=%v key2=%v value2=%v value3=%v", recs[1].Key, recs[2].Key, recs[2].Value, recs[3].Value)
	}
	if h := recs[4].Headers; h[1].Value != nil || h[2].Value == nil {
		t.Fatalf("null/empty header values mixed up: %+v", h)
	}
}

func TestBuildKeepOffsetDeltas(t *testing.T) {
	recs := []Record{{OffsetDelta: 0, Value: []byte("a")}, {OffsetDelta: 4, Value: []byte("b")}}
	b := Build(BuildOptions{ProducerID: -1, BaseSequence: -1, KeepOffsetDeltas: true}, recs)
	h, _ := ParseHeader(b)
	if h.LastOffsetDelta != 4 || h.NumRecords != 2 || h.OffsetCount() != 5 {
		t.Fatalf("header of a compacted-style batch: %+v", h)
	}
	// A producer may not send gaps.
	if _, err := Validate(b); !errors.Is(err, ErrInvalidRecord) {
		t.Fatalf("Validate of a batch with gaps = %v, want ErrInvalidRecord", err)
	}
	got, err := Records(b)
	if err != nil || !reflect.DeepEqual(got, recs) {
		t.Fatalf("Records = %+v, %v", got, err)
	}
}

func TestRecordsXerialFromOtherEncoder(t *testing.T) {
	// Frame the records with klauspost's xerial encoder, which splits
	// blocks its own way, and with two concatenated streams, as the Java
	// SnappyInputStream accepts.
	raw := Build(plainOpts(), sampleRecords())
	body := raw[HeaderSize:]
	half := len(body) / 2
	framings := map[string][]byte{
		"klauspost": xerial.Encode(nil, body),
		"concatenated": append(xerial.Encode(nil, body[:half]),
			xerial.Encode(nil, body[half:])...),
	}
	for name, framed := range framings {
		t.Run(name, func(t *testing.T) {
			b := withBody(raw, CompressionSnappy, framed)
			got, err := Records(b)
			if err != nil {
				t.Fatalf("Records: %v", err)
			}
			if !reflect.DeepEqual(got, numbered(sampleRecords())) {
				t.Fatalf("records differ")
			}
		})
	}
}

// withBody returns a copy of batch with its records section replaced by
// body and its codec set, with length and CRC fixed.
func withBody(batch []byte, codec Compression, body []byte) []byte {
	b := append(clone(batch[:HeaderSize]), body...)
	setU32(b, offBatchLength, uint32(len(b)-logOverhead))
	attrs := binary.BigEndian.Uint16(b[offAttributes:])
	setU16(b, offAttributes, attrs&^attrCompressionMask|uint16(codec))
	return fixCRC(b)
}

func TestRecordsRejectsBadRecords(t *testing.T) {
	good := Build(plainOpts(), sampleRecords())
	body := good[HeaderSize:]
	// The first record is: length 25, attributes, ts, offset, key len 2 "k0", ...
	tests := []struct {
		name   string
		batch  []byte
		want   error
		detail string
	}{
		{"crc", func() []byte { b := clone(good); b[HeaderSize+3] ^= 1; return b }(), ErrCRC, "stored"},
		{"truncated", good[:len(good)-1], ErrTruncated, "buffer holds"},
		{"more records claimed than present", fixCRC(setU32(clone(good), offNumRecords, 7)), ErrInvalidRecord, "record 6"},
		{"fewer records claimed than present", fixCRC(setU32(clone(good), offNumRecords, 5)), ErrInvalidRecord, "bytes left after 5 records"},
		{"huge recordCount", fixCRC(setU32(clone(good), offNumRecords, 1<<30)), ErrInvalidRecord, "cannot fit"},
		{"negative recordCount", fixCRC(setU32(clone(good), offNumRecords, 0xFFFFFFFF)), ErrCorrupt, "recordCount -1"},
		{"record length past the end", withBody(good, CompressionNone, append([]byte{0x7e}, body[1:]...)), ErrInvalidRecord, "record 0"},
		{"key length past the record", withBody(good, CompressionNone, func() []byte {
			b := clone(body)
			b[4] = 0x7e // key length 63 inside a 25-byte record
			return b
		}()), ErrInvalidRecord, "key"},
		{"key length below -1", withBody(good, CompressionNone, func() []byte {
			b := clone(body)
			b[4] = 0x05 // zigzag -3
			return b
		}()), ErrInvalidRecord, "length -3"},
		{"varint too long", withBody(good, CompressionNone, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}), ErrInvalidRecord, "varint"},
		{"garbage gzip", withBody(good, CompressionGzip, []byte("not gzip at all")), ErrInvalidRecord, "gzip"},
		{"garbage snappy", withBody(good, CompressionSnappy, []byte{0x10, 0xff, 0xff}), ErrInvalidRecord, "snappy"},
		{"short xerial header", withBody(good, CompressionSnappy, xerialMagic), ErrInvalidRecord, "header"},
		{"xerial block past the end", withBody(good, CompressionSnappy, append(xerial.Encode(nil, body), 0, 0, 1, 0, 1)), ErrInvalidRecord, "block of 256"},
		{"garbage lz4", withBody(good, CompressionLZ4, []byte("not lz4 at all")), ErrInvalidRecord, "lz4"},
		{"garbage zstd", withBody(good, CompressionZstd, []byte("not zstd at all")), ErrInvalidRecord, "zstd"},
		{"unknown codec", withBody(good, 6, body), ErrUnsupportedCompression, "codec id 6"},
		{"magic 1", legacyMessage(1, []byte("v")), ErrUnsupportedMagic, "magic 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs, err := Records(tt.batch)
			if !errors.Is(err, tt.want) || recs != nil {
				t.Fatalf("Records = %d records, %v; want none, %v", len(recs), err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.detail) {
				t.Fatalf("Records = %q, want detail %q", err, tt.detail)
			}
		})
	}
}

func TestRecordsIgnoresBytesAfterTheBatch(t *testing.T) {
	set, _ := threeBatches()
	recs, err := Records(set)
	if err != nil || len(recs) != len(sampleRecords()) {
		t.Fatalf("Records of the first batch of a set = %d records, %v", len(recs), err)
	}
}

func TestRecordsEmptyBatch(t *testing.T) {
	// Compaction can leave a batch with no records; reading it is not an
	// error.
	recs, err := Records(Build(plainOpts(), nil))
	if err != nil || len(recs) != 0 {
		t.Fatalf("Records of an empty batch = %v, %v", recs, err)
	}
}

func TestDecompressionBound(t *testing.T) {
	// 16 MiB of zeros compress to almost nothing under every codec. A
	// decoder bounded far below that must refuse the batch without ever
	// holding anything close to 16 MiB.
	const bombSize = 16 << 20
	bombBody := Build(plainOpts(), []Record{{Value: make([]byte, bombSize)}})[HeaderSize:]
	base := Build(plainOpts(), []Record{{}})
	small, large := NewDecoder(128<<10), NewDecoder(bombSize+1<<20)
	for _, c := range codecCases[1:] {
		t.Run(c.name, func(t *testing.T) {
			b := withBody(base, c.codec, compress(c.codec, bombBody, c.xerial))
			if len(b) > 2<<20 {
				t.Fatalf("test bomb is %d bytes, codec did not compress it", len(b))
			}
			var err error
			n := bytesAllocated(func() { _, err = small.Records(b) })
			if !errors.Is(err, ErrTooLarge) {
				t.Fatalf("Records with a 128 KiB bound = %v, want ErrTooLarge", err)
			}
			if !strings.Contains(err.Error(), c.codec.String()) {
				t.Errorf("error %q does not name the codec", err)
			}
			// Codec state (lz4 keeps two 4 MiB block buffers) is allowed
			// for; the decompressed bomb is not.
			if n > bombSize*3/4 {
				t.Errorf("refusing the batch allocated %d bytes", n)
			}
			recs, err := large.Records(b)
			if err != nil || len(recs) != 1 || len(recs[0].Value) != bombSize {
				t.Fatalf("Records with a large enough bound = %d records, %v", len(recs), err)
			}
		})
	}
}

func TestDecompressionBoundOnDeclaredLength(t *testing.T) {
	// Blocks that claim a huge decoded length must be refused before
	// anything that size is allocated.
	hugeSnappy := binary.AppendUvarint(nil, 0xFFFFFFFF)
	hugeSnappy = append(hugeSnappy, 0, 0, 0, 0)
	xerialHuge := append(clone(xerialMagic), 0, 0, 0, 1, 0, 0, 0, 1)
	for range 100 { // many blocks that each claim 32 KiB of output
		block := binary.AppendUvarint(nil, 32<<10)
		xerialHuge = binary.BigEndian.AppendUint32(xerialHuge, uint32(len(block)))
		xerialHuge = append(xerialHuge, block...)
	}
	base := Build(plainOpts(), sampleRecords())
	d := NewDecoder(1 << 20)
	for name, body := range map[string][]byte{"raw snappy": hugeSnappy, "xerial": xerialHuge} {
		t.Run(name, func(t *testing.T) {
			b := withBody(base, CompressionSnappy, body)
			var err error
			n := bytesAllocated(func() { _, err = d.Records(b) })
			if !errors.Is(err, ErrTooLarge) {
				t.Fatalf("Records = %v, want ErrTooLarge", err)
			}
			if n > 1<<20 {
				t.Errorf("refusing the batch allocated %d bytes", n)
			}
		})
	}
}

func TestRecordCountBoundsAllocation(t *testing.T) {
	// A tiny batch claiming a billion records must not make us allocate
	// for a billion records.
	b := fixCRC(setU32(Build(plainOpts(), []Record{{}}), offNumRecords, 1<<30))
	var err error
	n := bytesAllocated(func() { _, err = Records(b) })
	if !errors.Is(err, ErrInvalidRecord) {
		t.Fatalf("Records = %v", err)
	}
	if n > 1<<20 {
		t.Fatalf("allocated %d bytes for a %d-byte batch", n, len(b))
	}
}

func TestNewDecoderDefault(t *testing.T) {
	if got := NewDecoder(0).MaxDecompressed(); got != DefaultMaxDecompressed {
		t.Fatalf("NewDecoder(0) bound = %d", got)
	}
}

func TestDecoderConcurrentUse(t *testing.T) {
	// Agents decode batches of many partitions at once with one Decoder.
	var batches [][]byte
	for _, c := range codecCases {
		batches = append(batches, Build(idempotentOpts(c), sampleRecords()))
	}
	d := NewDecoder(0)
	want := numbered(sampleRecords())
	errs := make(chan error, 4*len(batches))
	for g := range 4 {
		go func() {
			for i := range batches {
				b := batches[(i+g)%len(batches)]
				got, err := d.Records(b)
				if err == nil && !reflect.DeepEqual(got, want) {
					err = errors.New("records differ")
				}
				errs <- err
			}
		}()
	}
	for range 4 * len(batches) {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
