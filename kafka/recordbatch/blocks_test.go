package recordbatch

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

// TestWalkBlocks: walking a run of batches a block at a time gives exactly
// the batches Walk gives for the whole run, whatever the block size and
// wherever the run starts (a header or a batch across one or several
// blocks); reads beyond the run's blocks never happen; only batches whose
// bytes are asked for straddle a read, and truncation is an error.
func TestWalkBlocks(t *testing.T) {
	set, parts := threeBatches()
	var batches [][]byte
	for range 4 {
		batches = append(batches, parts...)
	}
	run := bytes.Join(batches, nil)
	file := append(append(bytes.Repeat([]byte{0xee}, 37), run...), 0xee, 0xee) // the run sits inside a file
	t.Logf("%d batches of %d..%d bytes, %d in all", len(batches), len(parts[1]), len(parts[0]), len(set)*4)
	for _, block := range []int64{0, 20, 61, 64, 100, 4096} {
		for _, askEvery := range []int{1, 2} {
			t.Run(fmt.Sprintf("block %d ask every %d", block, askEvery), func(t *testing.T) {
				reads := 0
				read := func(off, n int64) ([]byte, error) {
					if block > 0 && off/block != (off+n-1)/block {
						t.Fatalf("read [%d,+%d) spans blocks of %d", off, n, block)
					}
					if off < 37 || off+n > 37+int64(len(run)) {
						t.Fatalf("read [%d,+%d) outside the run", off, n)
					}
					reads++
					return file[off : off+n : off+n], nil
				}
				i := 0
				err := WalkBlocks(read, 37, int64(len(run)), block, func(h Header, get func() ([][]byte, error)) (bool, error) {
					if h.Size() != len(batches[i]) {
						t.Fatalf("batch %d: header says %d bytes, want %d", i, h.Size(), len(batches[i]))
					}
					if i%askEvery == 0 {
						pieces, err := get()
						if err != nil {
							return false, err
						}
						if got := bytes.Join(pieces, nil); !bytes.Equal(got, batches[i]) {
							t.Fatalf("batch %d: %d bytes in %d pieces differ from the batch", i, len(got), len(pieces))
						}
					}
					i++
					return true, nil
				})
				if err != nil || i != len(batches) {
					t.Fatalf("walked %d of %d batches: %v", i, len(batches), err)
				}
			})
		}
	}

	t.Run("visit stops it", func(t *testing.T) {
		seen := 0
		err := WalkBlocks(func(off, n int64) ([]byte, error) { return run[off : off+n], nil }, 0, int64(len(run)), 50,
			func(Header, func() ([][]byte, error)) (bool, error) { seen++; return seen < 3, nil })
		if err != nil || seen != 3 {
			t.Fatalf("visited %d, err %v; want 3 and no error", seen, err)
		}
	})
	t.Run("a read error comes back as it is", func(t *testing.T) {
		boom := errors.New("bucket down")
		err := WalkBlocks(func(off, n int64) ([]byte, error) { return nil, boom }, 0, int64(len(run)), 50,
			func(Header, func() ([][]byte, error)) (bool, error) { return true, nil })
		if err != boom {
			t.Fatalf("err %v, want the read's own error", err)
		}
	})
	for _, cut := range []int{1, HeaderSize - 1, len(run) - 1} {
		t.Run(fmt.Sprintf("run cut at %d", cut), func(t *testing.T) {
			short := run[:cut]
			err := WalkBlocks(func(off, n int64) ([]byte, error) { return short[off : off+n], nil }, 0, int64(len(short)), 64,
				func(Header, func() ([][]byte, error)) (bool, error) { return true, nil })
			if !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrCorrupt) {
				t.Fatalf("err %v, want a framing error", err)
			}
		})
	}
}
