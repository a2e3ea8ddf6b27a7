package datafile

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
)

func topic(n byte) [16]byte { return [16]byte{0: n, 15: n} }

// sampleFile builds a file of n batches with distinct contents and returns it
// with the batches and their expected entries.
func sampleFile(n int) ([]byte, [][]byte, []IndexEntry) { return sampleFileWith(NewBuilder(), n) }

func sampleFileWith(b *Builder, n int) ([]byte, [][]byte, []IndexEntry) {
	r := rand.New(rand.NewPCG(1, 2))
	var batches [][]byte
	var want []IndexEntry
	for i := range n {
		batch := make([]byte, 61+r.IntN(500))
		for j := range batch {
			batch[j] = byte(r.Uint32())
		}
		tid, part := topic(byte(i%3)), int32(i%5)
		pos := b.Append(tid, part, batch)
		batches = append(batches, batch)
		want = append(want, IndexEntry{TopicID: tid, Partition: part, Pos: pos, Len: int32(len(batch))})
	}
	return b.Finish(), batches, want
}

// However its buffer starts (too small, so it grows many times, or larger
// than the file), a builder writes the same file.
func TestBuilderCapacityDoesNotChangeTheFile(t *testing.T) {
	want, _, _ := sampleFile(1000) // about 300 KiB: NewBuilder's buffer grows too
	for _, capacity := range []int{0, 8, 1000, len(want) - 1, len(want), 1 << 22} {
		got, _, _ := sampleFileWith(NewBuilderSize(capacity), 1000)
		if !bytes.Equal(got, want) {
			t.Errorf("capacity %d: file of %d bytes differs from NewBuilder's (%d bytes)", capacity, len(got), len(want))
		}
	}
}

func TestRoundTrip(t *testing.T) {
	for _, n := range []int{0, 1, 7, 1000} {
		file, batches, want := sampleFile(n)
		got, err := ReadIndex(file)
		if err != nil {
			t.Fatalf("n=%d: ReadIndex: %v", n, err)
		}
		if len(got) != len(want) {
			t.Fatalf("n=%d: %d entries, want %d", n, len(got), len(want))
		}
		for i, e := range got {
			if e != want[i] {
				t.Fatalf("n=%d: entry %d = %+v, want %+v", n, i, e, want[i])
			}
			if !bytes.Equal(file[e.Pos:e.Pos+int64(e.Len)], batches[i]) {
				t.Fatalf("n=%d: bytes of entry %d differ from the appended batch", n, i)
			}
		}
		if !bytes.HasPrefix(file, []byte("WISPDF\x00\x01")) {
			t.Errorf("n=%d: header %q", n, file[:8])
		}
	}
}

func TestBuilderAccounting(t *testing.T) {
	b := NewBuilder()
	if b.Len() != HeaderSize || b.Batches() != 0 {
		t.Fatalf("new builder Len=%d Batches=%d", b.Len(), b.Batches())
	}
	batch := []byte("0123456789")
	if pos := b.Append(topic(1), 0, batch); pos != HeaderSize {
		t.Fatalf("first batch at %d, want %d", pos, HeaderSize)
	}
	if pos := b.Append(topic(1), 1, batch); pos != HeaderSize+10 {
		t.Fatalf("second batch at %d, want %d", pos, HeaderSize+10)
	}
	batch[0] = 'X' // caller's buffer is its own after Append
	if b.Len() != HeaderSize+20 || b.Batches() != 2 {
		t.Fatalf("Len=%d Batches=%d", b.Len(), b.Batches())
	}
	file := b.Finish()
	if want := HeaderSize + 20 + 2*EntrySize + TrailerSize; len(file) != want {
		t.Fatalf("file is %d bytes, want %d", len(file), want)
	}
	if file[HeaderSize] != '0' {
		t.Fatal("Append did not copy the batch")
	}
}

func TestReadIndexRejects(t *testing.T) {
	good, _, _ := sampleFile(3)
	mutate := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	trailer := len(good) - TrailerSize
	tests := []struct {
		name    string
		file    []byte
		wantErr error
		msg     string
	}{
		{"empty", nil, ErrCorrupt, "shorter"},
		{"header only", good[:HeaderSize], ErrCorrupt, "shorter"},
		{"truncated by one", good[:len(good)-1], ErrCorrupt, "end magic"},
		{"truncated footer", append(bytes.Clone(good[:HeaderSize]), good[len(good)-TrailerSize:]...), ErrCorrupt, "exceeds"},
		{"bad header magic", mutate(func(b []byte) []byte { b[0] = 'X'; return b }), ErrCorrupt, "header magic"},
		{"header version", mutate(func(b []byte) []byte { b[7] = 9; return b }), ErrUnsupportedVersion, "version 9 in header (this build reads version 1)"},
		{"trailer version", mutate(func(b []byte) []byte { b[trailer+9] = 2; return b }), ErrUnsupportedVersion, "version 2 in trailer"},
		{"footer CRC", mutate(func(b []byte) []byte { b[trailer+10] ^= 1; return b }), ErrCorrupt, "CRC"},
		{"entry bit flip", mutate(func(b []byte) []byte { b[trailer-1] ^= 1; return b }), ErrCorrupt, "CRC"},
		{"count mismatch", mutate(func(b []byte) []byte { b[trailer+3]++; return b }), ErrCorrupt, "footer length"},
		{"batches appended after", append(bytes.Clone(good), 1, 2, 3), ErrCorrupt, "end magic"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			entries, err := ReadIndex(tc.file)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("ReadIndex = %v, %v; want %v", entries, err, tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not mention %q", err, tc.msg)
			}
		})
	}
}

// TestReadIndexRejectsOutOfRangeEntry forges a footer with a valid CRC whose
// entry points past the batch area: the CRC alone must not be trusted.
func TestReadIndexRejectsOutOfRangeEntry(t *testing.T) {
	b := NewBuilder()
	b.Append(topic(1), 0, []byte("batch"))
	file := b.Finish()
	footer := len(file) - EntrySize - TrailerSize
	binary.BigEndian.PutUint32(file[footer+28:], 6) // Len 5 -> 6 reaches into the footer
	crcAt := len(file) - TrailerSize + 10
	binary.BigEndian.PutUint32(file[crcAt:], crc32c(file[footer:crcAt]))
	if _, err := ReadIndex(file); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "outside batch area") {
		t.Fatalf("ReadIndex = %v, want out-of-range ErrCorrupt", err)
	}
}

func crc32c(b []byte) uint32 {
	// Recomputed independently of the package's table.
	crc := ^uint32(0)
	for _, c := range b {
		crc ^= uint32(c)
		for range 8 {
			if crc&1 != 0 {
				crc = crc>>1 ^ 0x82F63B78
			} else {
				crc >>= 1
			}
		}
	}
	return ^crc
}

func FuzzReadIndex(f *testing.F) {
	for _, n := range []int{0, 1, 3} {
		file, _, _ := sampleFile(n)
		f.Add(file)
		f.Add(file[:len(file)-1])
		f.Add(file[HeaderSize:])
	}
	f.Add([]byte{})
	f.Add([]byte("WISPDF\x00\x01"))
	f.Fuzz(func(t *testing.T, file []byte) {
		entries, err := ReadIndex(file)
		if err != nil {
			if len(entries) != 0 {
				t.Fatalf("entries returned with error %v", err)
			}
			return
		}
		for i, e := range entries {
			end := e.Pos + int64(e.Len)
			if e.Pos < HeaderSize || e.Len < 0 || end > int64(len(file))-TrailerSize {
				t.Fatalf("entry %d %+v outside file of %d bytes", i, e, len(file))
			}
		}
	})
}

// TestAppendPartsWritesTheSameFile: a batch appended as pieces (as read
// from a cache in blocks), however it is cut and however small the buffer
// starts, makes the file that appending it whole makes.
func TestAppendPartsWritesTheSameFile(t *testing.T) {
	want, batches, _ := sampleFile(300)
	for _, tc := range []struct {
		name     string
		capacity int
		cuts     func(n int) []int
	}{
		{"whole", 0, func(int) []int { return nil }},
		{"halves", 0, func(n int) []int { return []int{n / 2} }},
		{"a byte, then the rest", 8, func(int) []int { return []int{1} }},
		{"every 50 bytes", 1 << 20, func(n int) []int {
			var c []int
			for i := 50; i < n; i += 50 {
				c = append(c, i)
			}
			return c
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := NewBuilderSize(tc.capacity)
			for i, batch := range batches {
				var parts [][]byte
				from := 0
				for _, c := range append(tc.cuts(len(batch)), len(batch)) {
					parts = append(parts, batch[from:c])
					from = c
				}
				b.AppendParts(topic(byte(i%3)), int32(i%5), parts)
			}
			if got := b.Finish(); !bytes.Equal(got, want) {
				t.Fatalf("file of %d bytes differs from appending whole batches (%d bytes)", len(got), len(want))
			}
		})
	}
}
