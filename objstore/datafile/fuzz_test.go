package datafile

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"testing"

	"github.com/wisp-stream/wisp/kafka/recordbatch"
)

// realFiles are data files as the flusher writes them: real record batches
// of several partitions, uncompressed and compressed, idempotent or not.
func realFiles() map[string][]byte {
	recs := []recordbatch.Record{{Key: []byte("k1"), Value: []byte("v1")}, {Value: bytes.Repeat([]byte("x"), 300)}, {Key: []byte("k2")}}
	plain := recordbatch.Build(recordbatch.BuildOptions{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}, recs)
	idem := recordbatch.Build(recordbatch.BuildOptions{ProducerID: 7, ProducerEpoch: 1, BaseSequence: 40, Compression: recordbatch.CompressionZstd}, recs)
	gz := recordbatch.Build(recordbatch.BuildOptions{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, Compression: recordbatch.CompressionGzip}, recs[:1])

	out := map[string][]byte{"empty": NewBuilder().Finish()}
	b := NewBuilder()
	b.Append([16]byte{1}, 0, plain)
	out["one-batch"] = b.Finish()
	b = NewBuilder()
	for i, batch := range [][]byte{plain, idem, gz, plain} {
		b.Append([16]byte{byte(i % 2)}, int32(i), batch)
	}
	out["four-batches"] = b.Finish()
	return out
}

// FuzzFileBatches reads a data file the way a reader of the bucket does
// when it has only the file: the index first, then the batches it points
// at. Nothing panics; a file the index accepts has every entry inside it,
// and each entry is either a run of whole batches or refused with one of
// recordbatch's errors.
func FuzzFileBatches(f *testing.F) {
	for _, file := range realFiles() {
		f.Add(file)
	}
	f.Fuzz(func(t *testing.T, file []byte) {
		file = fixFooterCRC(file)
		entries, err := ReadIndex(file)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnsupportedVersion) {
				t.Fatalf("ReadIndex error outside the package's sentinels: %v", err)
			}
			return
		}
		for i, e := range entries {
			raw := file[e.Pos : e.Pos+int64(e.Len)]
			batches, err := recordbatch.Split(raw)
			if err != nil {
				continue // corrupt data behind a valid index: the fetch path refuses it the same way
			}
			n := 0
			for _, b := range batches {
				n += len(b.Raw)
			}
			if n != len(raw) {
				t.Fatalf("entry %d: batches cover %d of %d bytes", i, n, len(raw))
			}
		}
	})
}

// fixFooterCRC recomputes the footer checksum of a file whose trailer
// names a footer that fits, so mutated entries reach the checks behind it.
func fixFooterCRC(file []byte) []byte {
	if len(file) < TrailerSize {
		return file
	}
	footerLen := uint64(binary.BigEndian.Uint32(file[len(file)-TrailerSize+4:]))
	if footerLen < TrailerSize || footerLen > uint64(len(file)) {
		return file
	}
	file = bytes.Clone(file)
	footer := file[uint64(len(file))-footerLen:]
	crcAt := len(footer) - TrailerSize + 10
	binary.BigEndian.PutUint32(footer[crcAt:], crc32.Checksum(footer[:crcAt], castagnoli))
	return file
}

// TestUpdateFuzzCorpus writes the committed seed corpora of FuzzReadIndex
// and FuzzFileBatches (files from the real Builder and record batch
// encoder) when WISP_UPDATE_FUZZ_CORPUS is set (`make fuzz-corpus`), and
// always checks that those files parse.
func TestUpdateFuzzCorpus(t *testing.T) {
	write := os.Getenv("WISP_UPDATE_FUZZ_CORPUS") != ""
	for name, file := range realFiles() {
		if _, err := ReadIndex(file); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !write {
			continue
		}
		for _, target := range []string{"FuzzReadIndex", "FuzzFileBatches"} {
			dir := filepath.Join("testdata", "fuzz", target)
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "seed-"+name), fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", file), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}
