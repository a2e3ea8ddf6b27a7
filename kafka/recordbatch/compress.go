package recordbatch

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// DefaultMaxDecompressed bounds the decompressed records of one batch for
// the package-level Records. It is far above what Kafka's default limits let
// a producer send (1 MiB batches), yet small enough that a decompression bomb
// costs a bounded amount of memory.
const DefaultMaxDecompressed = 64 << 20

// Decoder decompresses and decodes batches with a fixed bound on the size of
// the decompressed records. A Decoder is safe for concurrent use; make one per
// bound and keep it (it caches a zstd decoder).
type Decoder struct {
	max int

	zstdOnce sync.Once
	zstd     *zstd.Decoder
	zstdErr  error
}

// NewDecoder returns a Decoder that refuses, with ErrTooLarge, any batch whose
// records decompress to more than maxDecompressed bytes. A value <= 0 means
// DefaultMaxDecompressed.
//
// Memory: decompression holds at most about twice maxDecompressed plus the
// codec's own state (up to two 4 MiB block buffers for lz4), and decoding the
// records then allocates up to about twenty times the decompressed size in
// the worst case (a batch of empty records with empty headers), so a bound
// should be chosen with that factor in mind.
func NewDecoder(maxDecompressed int) *Decoder {
	if maxDecompressed <= 0 {
		maxDecompressed = DefaultMaxDecompressed
	}
	return &Decoder{max: maxDecompressed}
}

// MaxDecompressed is the Decoder's bound in bytes.
func (d *Decoder) MaxDecompressed() int { return d.max }

// decompress returns the decompressed form of src, the records section of a
// batch compressed with codec. For CompressionNone it returns src itself.
func (d *Decoder) decompress(codec Compression, src []byte) ([]byte, error) {
	var (
		out []byte
		err error
	)
	switch codec {
	case CompressionNone:
		return src, nil
	case CompressionGzip:
		out, err = d.gunzip(src)
	case CompressionSnappy:
		if isXerial(src) {
			out, err = decodeXerial(src, d.max)
		} else {
			out, err = unsnappy(src, d.max)
		}
	case CompressionLZ4:
		out, err = d.unlz4(src)
	case CompressionZstd:
		out, err = d.unzstd(src)
	default:
		return nil, fmt.Errorf("%w: codec id %d", ErrUnsupportedCompression, codec)
	}
	switch {
	case err == nil:
		return out, nil
	case errors.Is(err, ErrTooLarge):
		return nil, fmt.Errorf("%w: %s records exceed %d bytes", ErrTooLarge, codec, d.max)
	default:
		return nil, fmt.Errorf("%w: %s decompression: %w", ErrInvalidRecord, codec, err)
	}
}

var gzipReaders sync.Pool // of *gzip.Reader

func (d *Decoder) gunzip(src []byte) ([]byte, error) {
	zr, _ := gzipReaders.Get().(*gzip.Reader)
	if zr == nil {
		zr = new(gzip.Reader)
	}
	defer gzipReaders.Put(zr)
	if err := zr.Reset(bytes.NewReader(src)); err != nil {
		return nil, err
	}
	return readBounded(zr, d.max)
}

var lz4Readers = sync.Pool{New: func() any { return lz4.NewReader(nil) }}

func (d *Decoder) unlz4(src []byte) ([]byte, error) {
	zr := lz4Readers.Get().(*lz4.Reader)
	defer lz4Readers.Put(zr)
	zr.Reset(bytes.NewReader(src))
	return readBounded(zr, d.max)
}

// readBounded reads r to its end, refusing to hold more than max bytes.
func readBounded(r io.Reader, max int) ([]byte, error) {
	var buf bytes.Buffer
	n, err := buf.ReadFrom(io.LimitReader(r, int64(max)+1))
	if err != nil {
		return nil, err
	}
	if n > int64(max) {
		return nil, ErrTooLarge
	}
	return buf.Bytes(), nil
}

// unsnappy decodes one raw snappy block, checking the length it declares
// before allocating it.
func unsnappy(src []byte, max int) ([]byte, error) {
	n, err := snappy.DecodedLen(src)
	if err != nil {
		return nil, err
	}
	if n > max {
		return nil, ErrTooLarge
	}
	// Strict: the Java client's snappy rejects the s2 extensions that the
	// lenient decoder accepts, and a batch Kafka clients cannot read must
	// not look valid here.
	return snappy.DecodeStrict(make([]byte, n), src)
}

func (d *Decoder) unzstd(src []byte) ([]byte, error) {
	d.zstdOnce.Do(func() {
		// The bound is enforced by the decoder itself: it rejects a frame
		// that declares a larger content size or window before allocating,
		// and stops one that outgrows the bound while decoding.
		d.zstd, d.zstdErr = zstd.NewReader(nil,
			zstd.WithDecoderMaxMemory(uint64(d.max)),
			zstd.WithDecoderLowmem(true),
		)
	})
	if d.zstdErr != nil {
		return nil, d.zstdErr
	}
	out, err := d.zstd.DecodeAll(src, nil)
	if errors.Is(err, zstd.ErrDecoderSizeExceeded) || errors.Is(err, zstd.ErrWindowSizeExceeded) {
		return nil, ErrTooLarge
	}
	if err == nil && len(out) > d.max {
		return nil, ErrTooLarge
	}
	return out, err
}

// compress returns src compressed with codec, for Build. xerial selects the
// framed snappy that Java clients write instead of a raw block.
func compress(codec Compression, src []byte, xerial bool) []byte {
	switch codec {
	case CompressionNone:
		return src
	case CompressionGzip:
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		// Writes to a bytes.Buffer cannot fail.
		_, _ = zw.Write(src)
		_ = zw.Close()
		return buf.Bytes()
	case CompressionSnappy:
		if xerial {
			return encodeXerial(src)
		}
		return snappy.Encode(nil, src)
	case CompressionLZ4:
		var buf bytes.Buffer
		zw := lz4.NewWriter(&buf)
		_, _ = zw.Write(src)
		_ = zw.Close()
		return buf.Bytes()
	case CompressionZstd:
		return zstdEncoder().EncodeAll(src, nil)
	}
	panic(fmt.Sprintf("recordbatch: Build with unknown compression %d", codec))
}

var zstdEncoder = sync.OnceValue(func() *zstd.Encoder {
	// With a nil writer and concurrency 1 the encoder starts no goroutines;
	// EncodeAll is safe for concurrent use.
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
	if err != nil {
		panic("recordbatch: zstd encoder: " + err.Error())
	}
	return enc
})
