package recordbatch

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error returned by this package wraps one of them
// with detail (which field, which value, where in the buffer); test with
// errors.Is. The Kafka error code each one stands for is given so that the
// protocol layer can map them in one place.
var (
	// ErrCorrupt means the framing of a batch is broken: a length that
	// disagrees with the buffer, a header field that cannot be, a buffer that
	// ends mid-batch. Kafka: CORRUPT_MESSAGE (2), which clients retry.
	ErrCorrupt = errors.New("recordbatch: corrupt record batch")

	// ErrTruncated means the buffer ends inside a batch. It wraps ErrCorrupt
	// (so it maps to CORRUPT_MESSAGE (2) as well), but a reader of a byte
	// range that was cut at an arbitrary point can single it out and read
	// further instead of failing.
	ErrTruncated = fmt.Errorf("%w: truncated", ErrCorrupt)

	// ErrCRC means the stored CRC-32C does not match the batch. It wraps
	// ErrCorrupt. Kafka: CORRUPT_MESSAGE (2); the retry is the right answer
	// to a batch damaged in transit.
	ErrCRC = fmt.Errorf("%w: crc mismatch", ErrCorrupt)

	// ErrUnsupportedMagic means a message set of magic 0 or 1, which Wisp
	// does not accept. Kafka: UNSUPPORTED_FOR_MESSAGE_FORMAT (43). (Apache
	// Kafka itself answers a produce request of version 3 or later that
	// carries magic 0 or 1 with INVALID_RECORD (87); the caller chooses.)
	ErrUnsupportedMagic = errors.New("recordbatch: unsupported message format (magic < 2)")

	// ErrInvalidRecord means a batch whose framing and CRC are intact but
	// whose content breaks the rules: a control batch from a producer, a
	// record count that disagrees with lastOffsetDelta, records that do not
	// decode. Kafka: INVALID_RECORD (87), which clients do not retry.
	ErrInvalidRecord = errors.New("recordbatch: invalid record")

	// ErrUnsupportedCompression means a compression codec id this package
	// does not know (5, 6 or 7). Kafka: UNSUPPORTED_COMPRESSION_TYPE (76).
	ErrUnsupportedCompression = errors.New("recordbatch: unsupported compression codec")

	// ErrTooLarge means decompressing a batch would exceed the decoder's
	// limit. Kafka: MESSAGE_TOO_LARGE (10) at produce time; on the read path
	// it means the limit is lower than the largest batch in the log.
	ErrTooLarge = errors.New("recordbatch: decompressed batch too large")
)
