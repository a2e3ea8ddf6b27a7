package recordbatch

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// fuzzDecoder has a small bound so that a fuzzed bomb is cheap to refuse.
var fuzzDecoder = NewDecoder(1 << 20)

// maxFuzzAlloc bounds what one decode of input in may allocate: a few times
// the decoder bound for decompression, twenty times the decompressed size
// for the records, and slack for codec state.
func maxFuzzAlloc(in []byte) uint64 { return 64<<20 + 64*uint64(len(in)) }

// fuzzSeeds are valid batches of every codec, sets of them, and damaged
// copies, so the fuzzer starts next to every decoding path.
func fuzzSeeds() [][]byte {
	var seeds [][]byte
	for _, c := range codecCases {
		seeds = append(seeds, Build(idempotentOpts(c), sampleRecords()))
		seeds = append(seeds, Build(idempotentOpts(c), sampleRecords()[:1]))
	}
	set, parts := threeBatches()
	seeds = append(seeds, set, set[:len(set)-7], parts[1][:HeaderSize+3])
	seeds = append(seeds, legacyMessage(1, []byte("v")), nil, make([]byte, HeaderSize))
	seeds = append(seeds, fixCRC(setU32(clone(parts[0]), offNumRecords, 1<<30)))
	bomb := Build(idempotentOpts(codecCases[5]), []Record{{Value: make([]byte, 2<<20)}})
	seeds = append(seeds, bomb)
	return seeds
}

func FuzzValidate(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := Validate(b)
		if err != nil {
			if !knownError(err) {
				t.Fatalf("Validate returned an error outside the sentinels: %v", err)
			}
			return
		}
		if h.Size() != len(b) || h.NumRecords <= 0 || h.Control() {
			t.Fatalf("Validate accepted %+v for %d bytes", h, len(b))
		}
		// A valid batch is a valid one-batch record set.
		batches, err := Split(b)
		if err != nil || len(batches) != 1 || batches[0].Header != h {
			t.Fatalf("Split of a valid batch = %d, %v", len(batches), err)
		}
	})
}

func FuzzSplit(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		batches, err := Split(b)
		if err != nil {
			if !knownError(err) || batches != nil {
				t.Fatalf("Split = %d batches, %v", len(batches), err)
			}
			return
		}
		total := 0
		for _, bt := range batches {
			if !bytes.Equal(bt.Raw, b[total:total+len(bt.Raw)]) {
				t.Fatalf("batch at %d is not the input's bytes", total)
			}
			if _, err := Validate(bt.Raw); err != nil {
				t.Fatalf("Split returned a batch Validate rejects: %v", err)
			}
			total += len(bt.Raw)
		}
		if total != len(b) {
			t.Fatalf("batches cover %d of %d bytes", total, len(b))
		}
	})
}

func FuzzWalk(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		consumed := 0
		err := Walk(b, func(h Header, raw []byte) bool {
			if h.Size() != len(raw) || !bytes.Equal(raw, b[consumed:consumed+len(raw)]) {
				t.Fatalf("Walk handed out %d bytes at %d for a %d-byte batch", len(raw), consumed, h.Size())
			}
			consumed += len(raw)
			return true
		})
		if err != nil && !knownError(err) {
			t.Fatalf("Walk error outside the sentinels: %v", err)
		}
		if err == nil && consumed != len(b) {
			t.Fatalf("Walk ended cleanly after %d of %d bytes", consumed, len(b))
		}
	})
}

func FuzzRecords(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var (
			recs []Record
			err  error
		)
		n := bytesAllocated(func() { recs, err = fuzzDecoder.Records(b) })
		if n > maxFuzzAlloc(b) {
			t.Fatalf("Records allocated %d bytes for %d bytes of input", n, len(b))
		}
		if err != nil {
			if !knownError(err) || recs != nil {
				t.Fatalf("Records = %d records, %v", len(recs), err)
			}
			return
		}
		h, _ := ParseHeader(b)
		if len(recs) != int(h.NumRecords) {
			t.Fatalf("Records decoded %d records, header says %d", len(recs), h.NumRecords)
		}
		checkReencodes(t, recs)
	})
}

// FuzzDecodeRecords drives the record decoder directly: through Records,
// the fuzzer rarely gets a mutated batch past the CRC.
func FuzzDecodeRecords(f *testing.F) {
	for _, c := range codecCases[:1] {
		b := Build(idempotentOpts(c), sampleRecords())
		f.Add(b[HeaderSize:], int32(len(sampleRecords())))
	}
	f.Add([]byte{0x0c, 0, 0, 0, 1, 1, 0}, int32(1))
	f.Add([]byte{}, int32(0))
	f.Add([]byte{0x0e, 0, 0, 0, 1, 1, 2, 0}, int32(1<<30))
	f.Fuzz(func(t *testing.T, body []byte, count int32) {
		var (
			recs []Record
			err  error
		)
		n := bytesAllocated(func() { recs, err = decodeRecords(body, count) })
		if n > maxFuzzAlloc(body) {
			t.Fatalf("decodeRecords allocated %d bytes for %d bytes of input", n, len(body))
		}
		if err != nil {
			if !errors.Is(err, ErrInvalidRecord) {
				t.Fatalf("decodeRecords error outside ErrInvalidRecord: %v", err)
			}
			return
		}
		if len(recs) != int(count) {
			t.Fatalf("decoded %d records for count %d", len(recs), count)
		}
		checkReencodes(t, recs)
	})
}

// FuzzDecompress drives the decompressors directly with the bound in force.
func FuzzDecompress(f *testing.F) {
	body := Build(plainOpts(), sampleRecords())[HeaderSize:]
	for _, c := range codecCases[1:] {
		f.Add(uint8(c.codec), compress(c.codec, body, c.xerial))
	}
	f.Add(uint8(CompressionZstd), compress(CompressionZstd, make([]byte, 2<<20), false))
	f.Add(uint8(CompressionSnappy), compress(CompressionSnappy, make([]byte, 2<<20), true))
	f.Fuzz(func(t *testing.T, codec uint8, src []byte) {
		var (
			out []byte
			err error
		)
		n := bytesAllocated(func() { out, err = fuzzDecoder.decompress(Compression(codec%8), src) })
		if n > maxFuzzAlloc(src) {
			t.Fatalf("decompress allocated %d bytes for %d bytes of input", n, len(src))
		}
		if err != nil && !knownError(err) {
			t.Fatalf("decompress error outside the sentinels: %v", err)
		}
		if len(out) > fuzzDecoder.MaxDecompressed() {
			t.Fatalf("decompress returned %d bytes past its bound", len(out))
		}
	})
}

// checkReencodes asserts that decoded records survive Build and a second
// decode unchanged: nothing was lost or invented by the decoder.
func checkReencodes(t *testing.T, recs []Record) {
	t.Helper()
	again, err := Records(Build(BuildOptions{ProducerID: -1, BaseSequence: -1, KeepOffsetDeltas: true}, recs))
	if err != nil {
		t.Fatalf("re-encoded records do not decode: %v", err)
	}
	if len(recs) == 0 && len(again) == 0 {
		return
	}
	if !reflect.DeepEqual(again, recs) {
		t.Fatalf("records changed through Build and Records")
	}
}

func knownError(err error) bool {
	for _, s := range []error{ErrCorrupt, ErrUnsupportedMagic, ErrInvalidRecord, ErrUnsupportedCompression, ErrTooLarge} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// TestUpdateFuzzCorpus writes the committed seed corpora of the batch
// fuzzers when WISP_UPDATE_FUZZ_CORPUS is set (`make fuzz-corpus`): every
// codec as franz-go's producer encodes it and as Build does, and a record
// set of two batches. It always checks that those seeds validate.
func TestUpdateFuzzCorpus(t *testing.T) {
	seeds := map[string][]byte{}
	for _, c := range codecCases {
		seeds["franz-go-"+c.name] = franzBatch(t, c, sampleRecords())
		seeds["build-"+c.name] = Build(idempotentOpts(c), sampleRecords())
	}
	set, _ := threeBatches()
	for name, b := range seeds {
		if _, err := Validate(b); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	seeds["three-batches"] = set
	if os.Getenv("WISP_UPDATE_FUZZ_CORPUS") == "" {
		return
	}
	for _, target := range []string{"FuzzValidate", "FuzzSplit", "FuzzWalk", "FuzzRecords"} {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, b := range seeds {
			if err := os.WriteFile(filepath.Join(dir, "seed-"+name), fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", b), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}
