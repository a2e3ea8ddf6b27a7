package recordbatch

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"reflect"
	"testing"

	"github.com/klauspost/compress/snappy/xerial"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Cross-checks against franz-go, an independent implementation of the
// format that talks to real Kafka brokers.

func TestFranzGoReadsBuild(t *testing.T) {
	for _, c := range codecCases {
		t.Run(c.name, func(t *testing.T) {
			opts := idempotentOpts(c)
			recs := sampleRecords()
			raw := Build(opts, recs)
			const base = 1000
			SetBaseOffset(raw, base)
			SetPartitionLeaderEpoch(raw, 4)
			// Two batches back to back, as a fetch response carries them.
			second := Build(opts, recs[:2])
			SetBaseOffset(second, base+int64(len(recs)))
			part := kmsg.FetchResponseTopicPartition{
				Partition:        3,
				HighWatermark:    base + int64(len(recs)) + 2,
				RecordBatches:    append(clone(raw), second...),
				LastStableOffset: -1,
			}
			fp, _ := kgo.ProcessFetchPartition(kgo.ProcessFetchPartitionOpts{Topic: "t", Partition: 3, Offset: base}, &part, kgo.DefaultDecompressor(), nil)
			if fp.Err != nil {
				t.Fatalf("franz-go rejected the batch: %v", fp.Err)
			}
			want := append(numbered(recs), numbered(recs[:2])...)
			if len(fp.Records) != len(want) {
				t.Fatalf("franz-go read %d records, want %d", len(fp.Records), len(want))
			}
			for i, r := range fp.Records {
				w := want[i]
				if r.Offset != base+int64(i) {
					t.Errorf("record %d offset %d", i, r.Offset)
				}
				if !sameBytes(r.Key, w.Key) || !sameBytes(r.Value, w.Value) {
					t.Errorf("record %d key/value %q/%q, want %q/%q", i, r.Key, r.Value, w.Key, w.Value)
				}
				if ts := r.Timestamp.UnixMilli(); ts != opts.FirstTimestamp+w.TimestampDelta {
					t.Errorf("record %d timestamp %d", i, ts)
				}
				if r.ProducerID != opts.ProducerID || r.ProducerEpoch != opts.ProducerEpoch {
					t.Errorf("record %d producer %d/%d", i, r.ProducerID, r.ProducerEpoch)
				}
				if len(r.Headers) != len(w.Headers) {
					t.Fatalf("record %d has %d headers, want %d", i, len(r.Headers), len(w.Headers))
				}
				for j, h := range r.Headers {
					if h.Key != w.Headers[j].Key || !bytes.Equal(h.Value, w.Headers[j].Value) {
						t.Errorf("record %d header %d = %q:%q", i, j, h.Key, h.Value)
					}
				}
			}
			if fp.Records[0].LeaderEpoch != 4 {
				t.Errorf("leader epoch %d, want 4", fp.Records[0].LeaderEpoch)
			}
		})
	}
}

// sameBytes compares contents and, for kgo records, null-ness.
func sameBytes(a, b []byte) bool { return bytes.Equal(a, b) && (a == nil) == (b == nil) }

// franzBatch encodes recs with kmsg and compresses them with kgo's
// compressor (or, for xerial, klauspost's xerial framing), the way a franz-go
// producer assembles a batch.
func franzBatch(t *testing.T, c codecCase, recs []Record) []byte {
	t.Helper()
	var body []byte
	for i, r := range recs {
		kr := kmsg.Record{
			Attributes:       r.Attributes,
			TimestampDelta64: r.TimestampDelta,
			OffsetDelta:      int32(i),
			Key:              r.Key,
			Value:            r.Value,
		}
		for _, h := range r.Headers {
			kr.Headers = append(kr.Headers, kmsg.Header{Key: h.Key, Value: h.Value})
		}
		// AppendTo writes Length as given: encode once to measure.
		fields := kr.AppendTo(nil)[1:] // Length 0 is one varint byte
		kr.Length = int32(len(fields))
		body = kr.AppendTo(body)
	}
	switch {
	case c.codec == CompressionNone:
	case c.xerial:
		body = xerial.Encode(nil, body)
	default:
		codecs := map[Compression]kgo.CompressionCodec{
			CompressionGzip: kgo.GzipCompression(), CompressionSnappy: kgo.SnappyCompression(),
			CompressionLZ4: kgo.Lz4Compression(), CompressionZstd: kgo.ZstdCompression(),
		}
		comp, err := kgo.DefaultCompressor(codecs[c.codec])
		if err != nil {
			t.Fatal(err)
		}
		out, used := comp.Compress(new(bytes.Buffer), body)
		if int(used) != int(c.codec) {
			t.Fatalf("kgo compressed with codec %d, want %d", used, c.codec)
		}
		body = clone(out)
	}
	rb := kmsg.RecordBatch{
		FirstOffset:          0,
		Length:               int32(HeaderSize - 12 + len(body)),
		PartitionLeaderEpoch: -1,
		Magic:                2,
		Attributes:           int16(c.codec),
		LastOffsetDelta:      int32(len(recs) - 1),
		FirstTimestamp:       1_650_000_000_000,
		MaxTimestamp:         1_650_000_000_000,
		ProducerID:           77,
		ProducerEpoch:        1,
		FirstSequence:        5,
		NumRecords:           int32(len(recs)),
		Records:              body,
	}
	b := rb.AppendTo(nil)
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

func TestRecordsReadsFranzGo(t *testing.T) {
	for _, c := range codecCases {
		t.Run(c.name, func(t *testing.T) {
			b := franzBatch(t, c, sampleRecords())
			h, err := Validate(b)
			if err != nil {
				t.Fatalf("Validate of a franz-go batch: %v", err)
			}
			if h.ProducerID != 77 || h.BaseSequence != 5 || h.Compression() != c.codec {
				t.Fatalf("header %+v", h)
			}
			got, err := Records(b)
			if err != nil {
				t.Fatalf("Records of a franz-go batch: %v", err)
			}
			if !reflect.DeepEqual(got, numbered(sampleRecords())) {
				t.Fatalf("records differ:\n got %s\nwant %s", fmt.Sprint(head(got)), fmt.Sprint(head(numbered(sampleRecords()))))
			}
		})
	}
}

func TestBuildMatchesKmsgEncoding(t *testing.T) {
	// For an uncompressed batch the encoding is fully determined, so the
	// bytes must be identical, CRC included.
	ours := Build(BuildOptions{FirstTimestamp: 1_650_000_000_000, ProducerID: 77, ProducerEpoch: 1, BaseSequence: 5}, []Record{{Key: []byte("k"), Value: []byte("v")}})
	theirs := franzBatch(t, codecCases[0], []Record{{Key: []byte("k"), Value: []byte("v")}})
	if !bytes.Equal(ours, theirs) {
		t.Fatalf("encodings differ\n ours %x\ntheirs %x", ours, theirs)
	}
}
