package recordbatch

import (
	"fmt"
	"hash/crc32"
)

// Batch is one whole batch cut out of a record set.
type Batch struct {
	Header Header
	// Raw is the batch's bytes, aliasing the buffer it was cut from. Its
	// capacity ends with the batch, so an append cannot overwrite the next
	// batch.
	Raw []byte
}

// Validate checks that b is exactly one batch as a produce request must carry
// it: magic 2 (ErrUnsupportedMagic for 0 and 1), batchLength equal to
// len(b) - 12, a matching CRC-32C (ErrCRC), a known codec
// (ErrUnsupportedCompression), and the rules Kafka's LogValidator applies to
// client batches, all as ErrInvalidRecord: recordCount > 0 and equal to
// lastOffsetDelta + 1, no control batch, a non-negative base sequence when
// there is a producer id, a producer id when the batch is transactional.
//
// It does not decompress or decode the records: a batch that passes may
// still fail Records. Whether a produce request may carry more than one batch
// per partition (Kafka allows exactly one from produce version 3 on), and
// whether zstd is allowed (produce version 7 on), is for the caller to
// decide.
func Validate(b []byte) (Header, error) {
	h, err := ParseHeader(b)
	if err != nil {
		return h, err
	}
	if int64(len(b)) != int64(h.BatchLength)+logOverhead {
		kind := ErrCorrupt
		if int64(len(b)) < int64(h.BatchLength)+logOverhead {
			kind = ErrTruncated
		}
		return h, fmt.Errorf("%w: batchLength %d says the batch is %d bytes, buffer holds %d",
			kind, h.BatchLength, int64(h.BatchLength)+logOverhead, len(b))
	}
	if sum := crc32.Checksum(b[offAttributes:], castagnoli); sum != h.CRC {
		return h, fmt.Errorf("%w: stored %#08x, computed %#08x", ErrCRC, h.CRC, sum)
	}
	return h, checkProduced(h)
}

// checkProduced applies the rules for batches that come from a client.
func checkProduced(h Header) error {
	switch {
	case !h.Compression().Known():
		return fmt.Errorf("%w: codec id %d", ErrUnsupportedCompression, h.Compression())
	case h.NumRecords <= 0:
		return fmt.Errorf("%w: recordCount %d, need at least 1", ErrInvalidRecord, h.NumRecords)
	case h.OffsetCount() != int64(h.NumRecords):
		return fmt.Errorf("%w: recordCount %d but lastOffsetDelta %d", ErrInvalidRecord, h.NumRecords, h.LastOffsetDelta)
	case h.Control():
		return fmt.Errorf("%w: control batches are written by the broker, not by clients", ErrInvalidRecord)
	case h.Idempotent() && h.BaseSequence < 0:
		return fmt.Errorf("%w: baseSequence %d with producerId %d", ErrInvalidRecord, h.BaseSequence, h.ProducerID)
	case h.Transactional() && !h.Idempotent():
		return fmt.Errorf("%w: transactional batch without a producer id (producerId %d)", ErrInvalidRecord, h.ProducerID)
	}
	return nil
}

// Split cuts a produce partition's record set into whole batches and
// validates each as Validate does. An empty record set is ErrInvalidRecord
// (Kafka: a produce request must carry at least one batch per partition); a
// record set that ends inside a batch is ErrTruncated (so ErrCorrupt). The
// returned batches alias b.
func Split(b []byte) ([]Batch, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: empty record set", ErrInvalidRecord)
	}
	var batches []Batch
	for pos := 0; pos < len(b); {
		_, raw, err := cut(b, pos)
		if err != nil {
			return nil, err
		}
		h, err := Validate(raw)
		if err != nil {
			return nil, fmt.Errorf("batch %d at byte %d: %w", len(batches), pos, err)
		}
		batches = append(batches, Batch{Header: h, Raw: raw})
		pos += len(raw)
	}
	return batches, nil
}

// cut returns the batch that starts at b[pos:], checking only that the
// header makes sense and that b holds all of the batch.
func cut(b []byte, pos int) (Header, []byte, error) {
	rest := b[pos:]
	h, err := ParseHeader(rest)
	if err != nil {
		return h, nil, fmt.Errorf("batch at byte %d: %w", pos, err)
	}
	if int64(len(rest)) < int64(h.BatchLength)+logOverhead {
		return h, nil, fmt.Errorf("batch at byte %d: %w: batch is %d bytes, only %d remain",
			pos, ErrTruncated, int64(h.BatchLength)+logOverhead, len(rest))
	}
	n := h.Size()
	return h, rest[:n:n], nil
}

// Walk calls fn for each batch in b, in order, until fn returns false or b
// ends. It is meant for bytes read back from the bucket, which were validated
// when produced: it checks the framing but not the CRC.
//
// Walk returns nil when b ends exactly at a batch boundary or fn stopped it.
// When b ends inside a batch it returns an error wrapping ErrTruncated after
// calling fn for every whole batch before it; the caller can sum len(raw) to
// know where the partial batch starts. Any other framing problem is
// ErrCorrupt or ErrUnsupportedMagic. raw aliases b.
func Walk(b []byte, fn func(h Header, raw []byte) bool) error {
	for pos := 0; pos < len(b); {
		h, raw, err := cut(b, pos)
		if err != nil {
			return err
		}
		if !fn(h, raw) {
			return nil
		}
		pos += len(raw)
	}
	return nil
}
