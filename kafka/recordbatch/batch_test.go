package recordbatch

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"testing"
)

func TestValidateGoodBatches(t *testing.T) {
	for _, c := range codecCases {
		t.Run(c.name, func(t *testing.T) {
			recs := sampleRecords()
			b := Build(idempotentOpts(c), recs)
			h, err := Validate(b)
			if err != nil {
				t.Fatalf("Validate: %v", err)
			}
			want := Header{
				BaseOffset: 0, BatchLength: int32(len(b) - 12), PartitionLeaderEpoch: -1, Magic: 2, CRC: h.CRC,
				Attributes: int16(c.codec), LastOffsetDelta: int32(len(recs) - 1),
				FirstTimestamp: 1_700_000_000_000, MaxTimestamp: 1_700_000_000_000 + 1<<40,
				ProducerID: 42, ProducerEpoch: 3, BaseSequence: 100, NumRecords: int32(len(recs)),
			}
			if h != want {
				t.Fatalf("header\n got %+v\nwant %+v", h, want)
			}
			if h.Compression() != c.codec || h.Size() != len(b) || h.OffsetCount() != int64(len(recs)) || !h.Idempotent() {
				t.Fatalf("accessors disagree with header %+v", h)
			}
		})
	}
}

func TestValidateRejects(t *testing.T) {
	good := func() []byte { return Build(idempotentOpts(codecCases[0]), sampleRecords()) }
	gzipped := func() []byte { return Build(idempotentOpts(codecCases[1]), sampleRecords()) }
	tests := []struct {
		name    string
		batch   []byte
		want    error
		notWant error  // an error the result must not match
		detail  string // text the error must carry
	}{
		{"empty", nil, ErrTruncated, nil, "0 bytes"},
		{"shorter than a header", good()[:40], ErrTruncated, nil, "40 bytes"},
		{"truncated batch", good()[:len(good())-1], ErrTruncated, nil, "batchLength"},
		{"truncated compressed batch", gzipped()[:len(gzipped())-10], ErrTruncated, nil, "batchLength"},
		{"batchLength larger than buffer", func() []byte {
			b := good()
			return setU32(b, offBatchLength, uint32(len(b)-12+5))
		}(), ErrTruncated, nil, "buffer holds"},
		{"batchLength smaller than buffer", append(good(), 0, 0, 0), ErrCorrupt, ErrTruncated, "buffer holds"},
		{"batchLength below header", setU32(good(), offBatchLength, 20), ErrCorrupt, ErrTruncated, "batchLength 20"},
		{"negative batchLength", setU32(good(), offBatchLength, 0xFFFFFFF0), ErrCorrupt, ErrTruncated, "batchLength -16"},
		{"bad crc in records", func() []byte {
			b := good()
			b[len(b)-1] ^= 0xFF
			return b
		}(), ErrCRC, nil, "stored"},
		{"bad crc in header", func() []byte {
			b := good()
			b[offProducerID+7] ^= 1
			return b
		}(), ErrCRC, nil, "computed"},
		{"magic 0", legacyMessage(0, []byte("old")), ErrUnsupportedMagic, nil, "magic 0"},
		{"magic 1", legacyMessage(1, []byte("old")), ErrUnsupportedMagic, nil, "magic 1"},
		{"magic 3", func() []byte { b := good(); b[offMagic] = 3; return b }(), ErrCorrupt, ErrUnsupportedMagic, "magic 3"},
		{"recordCount above lastOffsetDelta+1", fixCRC(setU32(good(), offNumRecords, 7)), ErrInvalidRecord, nil, "recordCount 7 but lastOffsetDelta 5"},
		{"recordCount below lastOffsetDelta+1", fixCRC(setU32(good(), offLastOffsetDelta, 9)), ErrInvalidRecord, nil, "lastOffsetDelta 9"},
		{"no records", Build(plainOpts(), nil), ErrInvalidRecord, nil, "recordCount 0"},
		{"negative recordCount", fixCRC(setU32(good(), offNumRecords, 0xFFFFFFFF)), ErrInvalidRecord, nil, "recordCount -1"},
		{"control batch", Build(BuildOptions{ProducerID: 9, BaseSequence: -1, Control: true, Transactional: true}, []Record{{Key: []byte{0, 0, 0, 0}, Value: []byte{0, 0, 0, 0, 0, 0}}}), ErrInvalidRecord, nil, "control"},
		{"unknown codec", fixCRC(setU16(good(), offAttributes, 5)), ErrUnsupportedCompression, nil, "codec id 5"},
		{"idempotent without sequence", Build(BuildOptions{ProducerID: 7, BaseSequence: -1}, sampleRecords()), ErrInvalidRecord, nil, "baseSequence -1"},
		{"transactional without producer", Build(BuildOptions{ProducerID: -1, BaseSequence: -1, Transactional: true}, sampleRecords()), ErrInvalidRecord, nil, "transactional"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Validate(tt.batch)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Validate = %v, want %v", err, tt.want)
			}
			if tt.notWant != nil && errors.Is(err, tt.notWant) {
				t.Fatalf("Validate = %v, must not match %v", err, tt.notWant)
			}
			if !strings.Contains(err.Error(), tt.detail) {
				t.Fatalf("Validate = %q, want detail %q", err, tt.detail)
			}
		})
	}
}

func TestErrorsMapToKafkaFamilies(t *testing.T) {
	// The protocol layer maps ErrCorrupt to CORRUPT_MESSAGE; CRC and
	// truncation must land there too, and nothing else must.
	for _, err := range []error{ErrCRC, ErrTruncated} {
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("%v does not wrap ErrCorrupt", err)
		}
	}
	for _, err := range []error{ErrUnsupportedMagic, ErrInvalidRecord, ErrUnsupportedCompression, ErrTooLarge} {
		if errors.Is(err, ErrCorrupt) {
			t.Errorf("%v wraps ErrCorrupt", err)
		}
	}
}

func TestValidateAcceptsNonIdempotentAndTransactional(t *testing.T) {
	for _, opts := range []BuildOptions{
		plainOpts(),
		{ProducerID: 5, ProducerEpoch: 0, BaseSequence: 0, Transactional: true},
	} {
		h, err := Validate(Build(opts, sampleRecords()))
		if err != nil {
			t.Fatalf("Validate(%+v) = %v", opts, err)
		}
		if h.Idempotent() != (opts.ProducerID >= 0) || h.Transactional() != opts.Transactional || h.Control() {
			t.Fatalf("flags wrong for %+v: %+v", opts, h)
		}
	}
}

func threeBatches() (set []byte, parts [][]byte) {
	parts = [][]byte{
		Build(idempotentOpts(codecCases[0]), sampleRecords()),
		Build(idempotentOpts(codecCases[3]), sampleRecords()[:2]),
		Build(plainOpts(), sampleRecords()[4:]),
	}
	return bytes.Join(parts, nil), parts
}

func TestSplit(t *testing.T) {
	set, parts := threeBatches()
	batches, err := Split(set)
	if err != nil {
		t.Fatalf("Split: %v", err)
	}
	if len(batches) != 3 {
		t.Fatalf("Split gave %d batches, want 3", len(batches))
	}
	for i, b := range batches {
		if !bytes.Equal(b.Raw, parts[i]) {
			t.Errorf("batch %d bytes differ", i)
		}
		if b.Header.Size() != len(parts[i]) {
			t.Errorf("batch %d header size %d, want %d", i, b.Header.Size(), len(parts[i]))
		}
	}
	if batches[1].Header.Compression() != CompressionSnappy || batches[2].Header.Idempotent() {
		t.Errorf("headers mixed up: %+v", batches)
	}
	// Appending to one batch must not overwrite the next.
	_ = append(batches[0].Raw, 0xEE)
	if _, err := Validate(batches[1].Raw); err != nil {
		t.Errorf("append to batch 0 damaged batch 1: %v", err)
	}
	// The batches alias the record set: rewriting an offset shows in it.
	SetBaseOffset(batches[2].Raw, 99)
	if h, _ := ParseHeader(set[len(parts[0])+len(parts[1]):]); h.BaseOffset != 99 {
		t.Errorf("batch does not alias the record set")
	}
}

func TestSplitRejects(t *testing.T) {
	set, parts := threeBatches()
	badCRC := clone(set)
	badCRC[len(parts[0])+len(parts[1])-1] ^= 1
	tests := []struct {
		name   string
		set    []byte
		want   error
		detail string
	}{
		{"empty", nil, ErrInvalidRecord, "empty"},
		{"truncated tail", set[:len(set)-3], ErrTruncated, "byte " + strconv.Itoa(len(parts[0])+len(parts[1]))},
		{"tail shorter than a header", set[:len(parts[0])+10], ErrTruncated, "byte " + strconv.Itoa(len(parts[0]))},
		{"garbage tail", append(clone(set), 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17), ErrCorrupt, "byte " + strconv.Itoa(len(set))},
		{"bad crc in middle batch", badCRC, ErrCRC, "batch 1"},
		{"legacy batch after a good one", append(clone(parts[0]), legacyMessage(1, []byte("x"))...), ErrUnsupportedMagic, "magic 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			batches, err := Split(tt.set)
			if !errors.Is(err, tt.want) || batches != nil {
				t.Fatalf("Split = %d batches, %v; want none, %v", len(batches), err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.detail) {
				t.Fatalf("Split = %q, want detail %q", err, tt.detail)
			}
		})
	}
}

func TestWalk(t *testing.T) {
	set, parts := threeBatches()
	// Walk reads back stored data and does not pay for CRCs.
	badCRC := clone(set)
	badCRC[len(badCRC)-1] ^= 1

	collect := func(b []byte, limit int) ([]Header, int, error) {
		var hs []Header
		consumed := 0
		err := Walk(b, func(h Header, raw []byte) bool {
			if h.Size() != len(raw) {
				t.Fatalf("raw is %d bytes, header says %d", len(raw), h.Size())
			}
			hs = append(hs, h)
			consumed += len(raw)
			return len(hs) < limit
		})
		return hs, consumed, err
	}
	tests := []struct {
		name         string
		b            []byte
		limit        int
		wantBatches  int
		wantConsumed int
		wantErr      error
	}{
		{"whole set", set, 10, 3, len(set), nil},
		{"empty", nil, 10, 0, 0, nil},
		{"stopped by fn", set, 1, 1, len(parts[0]), nil},
		{"partial tail", set[:len(set)-1], 10, 2, len(parts[0]) + len(parts[1]), ErrTruncated},
		{"tail of a few bytes", set[:len(parts[0])+5], 10, 1, len(parts[0]), ErrTruncated},
		{"bad crc is not checked", badCRC, 10, 3, len(set), nil},
		{"legacy message", append(clone(parts[0]), legacyMessage(0, nil)...), 10, 1, len(parts[0]), ErrUnsupportedMagic},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hs, consumed, err := collect(tt.b, tt.limit)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("Walk error = %v, want %v", err, tt.wantErr)
			}
			if len(hs) != tt.wantBatches || consumed != tt.wantConsumed {
				t.Fatalf("Walk visited %d batches, %d bytes; want %d, %d", len(hs), consumed, tt.wantBatches, tt.wantConsumed)
			}
		})
	}
}

func TestSetBaseOffsetAndEpochKeepBatchValid(t *testing.T) {
	for _, c := range codecCases {
		t.Run(c.name, func(t *testing.T) {
			b := Build(idempotentOpts(c), sampleRecords())
			before, _ := ParseHeader(b)
			SetBaseOffset(b, 1<<40+17)
			SetPartitionLeaderEpoch(b, 12)
			h, err := Validate(b)
			if err != nil {
				t.Fatalf("Validate after rewrite: %v", err)
			}
			if h.BaseOffset != 1<<40+17 || h.PartitionLeaderEpoch != 12 || h.LastOffset() != 1<<40+17+5 {
				t.Fatalf("rewrite not visible: %+v", h)
			}
			if h.CRC != before.CRC {
				t.Fatalf("CRC changed from %#x to %#x", before.CRC, h.CRC)
			}
			recs, err := Records(b)
			if err != nil || len(recs) != len(sampleRecords()) {
				t.Fatalf("Records after rewrite: %d records, %v", len(recs), err)
			}
		})
	}
}

func TestSetLogAppendTime(t *testing.T) {
	b := Build(idempotentOpts(codecCases[2]), sampleRecords())
	const now = 1_800_000_000_000
	// Bytes after the batch must not enter its CRC.
	b = append(b, 1, 2, 3)
	SetLogAppendTime(b, now)
	b = b[:len(b)-3]
	h, err := Validate(b)
	if err != nil {
		t.Fatalf("Validate after SetLogAppendTime: %v", err)
	}
	if !h.LogAppendTime() || h.MaxTimestamp != now || h.FirstTimestamp != 1_700_000_000_000 || h.Compression() != CompressionSnappy {
		t.Fatalf("header after SetLogAppendTime: %+v", h)
	}
	recs, err := Records(b)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range recs {
		if ts := h.Timestamp(r); ts != now {
			t.Errorf("record %d timestamp %d, want log append time %d", i, ts, now)
		}
	}
}

func TestHeaderTimestampCreateTime(t *testing.T) {
	b := Build(plainOpts(), sampleRecords())
	h, _ := Validate(b)
	recs, _ := Records(b)
	if got := h.Timestamp(recs[2]); got != 1_700_000_000_000-3 {
		t.Fatalf("timestamp of record 2 = %d", got)
	}
	if h.MaxTimestamp != 1_700_000_000_000+1<<40 {
		t.Fatalf("max timestamp %d", h.MaxTimestamp)
	}
}

func TestCompressionString(t *testing.T) {
	want := []string{"none", "gzip", "snappy", "lz4", "zstd", "unknown(5)"}
	for i, w := range want {
		if got := Compression(i).String(); got != w {
			t.Errorf("Compression(%d) = %q, want %q", i, got, w)
		}
	}
}
