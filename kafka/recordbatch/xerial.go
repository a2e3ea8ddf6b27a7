package recordbatch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/klauspost/compress/snappy"
)

// The Java client compresses snappy batches with xerial's SnappyOutputStream,
// which frames raw snappy blocks: a 16-byte header (8-byte magic, version,
// minimum compatible version), then per block a big-endian int32 length and
// the block. Concatenated streams repeat the header mid-stream.
var xerialMagic = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

const (
	xerialHeaderLen = 16
	// xerialBlockSize is the uncompressed block size the Java stream uses.
	xerialBlockSize = 32 << 10
)

var errXerial = errors.New("malformed xerial snappy framing")

// isXerial reports whether src starts with the xerial magic. A raw snappy
// block cannot: its first element would be a copy with nothing to copy from.
func isXerial(src []byte) bool { return bytes.HasPrefix(src, xerialMagic) }

// decodeXerial decodes xerial-framed snappy, refusing more than max bytes of
// output. It sums the lengths the blocks declare before allocating, so the
// output is allocated once and never beyond the bound.
func decodeXerial(src []byte, max int) ([]byte, error) {
	total := 0
	err := xerialBlocks(src, func(block []byte) error {
		n, err := snappy.DecodedLen(block)
		if err != nil {
			return err
		}
		if n > max-total {
			return ErrTooLarge
		}
		total += n
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, total)
	err = xerialBlocks(src, func(block []byte) error {
		n, _ := snappy.DecodedLen(block) // checked in the first pass
		if _, err := snappy.DecodeStrict(out[len(out):len(out)+n], block); err != nil {
			return err
		}
		out = out[:len(out)+n]
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// xerialBlocks calls fn with each snappy block of the xerial stream src.
func xerialBlocks(src []byte, fn func(block []byte) error) error {
	if len(src) < xerialHeaderLen {
		return fmt.Errorf("%w: %d-byte header", errXerial, len(src))
	}
	for rest := src[xerialHeaderLen:]; len(rest) > 0; {
		if bytes.HasPrefix(rest, xerialMagic) {
			if len(rest) < xerialHeaderLen {
				return fmt.Errorf("%w: %d-byte concatenated header", errXerial, len(rest))
			}
			rest = rest[xerialHeaderLen:]
			continue
		}
		if len(rest) < 4 {
			return fmt.Errorf("%w: %d trailing bytes", errXerial, len(rest))
		}
		n := binary.BigEndian.Uint32(rest)
		rest = rest[4:]
		if uint64(n) > uint64(len(rest)) {
			return fmt.Errorf("%w: block of %d bytes, %d remain", errXerial, n, len(rest))
		}
		if err := fn(rest[:n]); err != nil {
			return err
		}
		rest = rest[n:]
	}
	return nil
}

// encodeXerial frames src the way the Java client does.
func encodeXerial(src []byte) []byte {
	out := make([]byte, 0, xerialHeaderLen+snappy.MaxEncodedLen(len(src))+4*(len(src)/xerialBlockSize+1))
	out = append(out, xerialMagic...)
	out = binary.BigEndian.AppendUint32(out, 1) // version
	out = binary.BigEndian.AppendUint32(out, 1) // minimum compatible version
	for len(src) > 0 {
		n := min(len(src), xerialBlockSize)
		block := snappy.Encode(nil, src[:n])
		out = binary.BigEndian.AppendUint32(out, uint32(len(block)))
		out = append(out, block...)
		src = src[n:]
	}
	return out
}
