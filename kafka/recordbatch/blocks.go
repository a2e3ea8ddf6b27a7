package recordbatch

import (
	"errors"
	"fmt"
	"slices"
)

// WalkBlocks walks the batches stored back to back in [pos, pos+n) of a
// file that read serves in aligned blocks of block bytes (0: one block), a
// block at a time, in order, until visit returns false or an error. Readers
// whose blocks are shared memory (the read cache) then copy nothing: visit
// gets each batch's header and a bytes function that returns the batch as
// its pieces, one per block it lies in, and costs a read only for a batch
// that straddles blocks, and only if called. So a reader that wants the
// end of a long run of batches reads the blocks it passes, not a copy of
// all of them. Like Walk, it checks the framing, not the CRC. Errors from
// read are returned as they are.
func WalkBlocks(read func(off, n int64) ([]byte, error), pos, n, block int64,
	visit func(h Header, bytes func() ([][]byte, error)) (bool, error)) error {
	stop := pos + n
	blockEnd := func(off int64) int64 {
		if block <= 0 {
			return stop
		}
		return min(stop, (off/block+1)*block)
	}
	readParts := func(off, n int64) ([][]byte, error) {
		var parts [][]byte
		for end := off + n; off < end; {
			next := min(end, blockEnd(off))
			b, err := read(off, next-off)
			if err != nil {
				return nil, err
			}
			parts = append(parts, b)
			off = next
		}
		return parts, nil
	}
	for pos < stop {
		chunk := blockEnd(pos) - pos
		data, err := read(pos, chunk)
		if err != nil {
			return err
		}
		var (
			whole    int64
			stopped  bool
			visitErr error
		)
		werr := Walk(data, func(h Header, raw []byte) bool {
			more, err := visit(h, func() ([][]byte, error) { return [][]byte{raw}, nil })
			stopped, visitErr = !more || err != nil, err
			whole += int64(len(raw))
			return !stopped
		})
		switch {
		case stopped:
			return visitErr
		case werr == nil:
			pos += chunk
			continue
		case !errors.Is(werr, ErrTruncated) || pos+chunk == stop:
			return fmt.Errorf("at byte %d of %d: %w", pos+whole-(stop-n), n, werr)
		}
		// A batch, or its header, runs past the block.
		pos += whole
		head, err := readParts(pos, min(HeaderSize, stop-pos))
		if err != nil {
			return err
		}
		h, err := ParseHeader(slices.Concat(head...))
		if err != nil {
			return fmt.Errorf("at byte %d of %d: %w", pos-(stop-n), n, err)
		}
		size := int64(h.Size())
		if size < HeaderSize || size > stop-pos {
			return fmt.Errorf("at byte %d of %d: %w: a %d-byte batch in the last %d bytes", pos-(stop-n), n, ErrCorrupt, size, stop-pos)
		}
		at := pos
		more, err := visit(h, func() ([][]byte, error) { return readParts(at, size) })
		if err != nil || !more {
			return err
		}
		pos += size
	}
	return nil
}
