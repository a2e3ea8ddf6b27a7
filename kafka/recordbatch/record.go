package recordbatch

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// Record is one record of a batch, as encoded inside it.
type Record struct {
	Attributes     int8 // unused by Kafka so far; kept as sent
	TimestampDelta int64
	OffsetDelta    int32
	// Key and Value are nil for a null key or value (a null value is a
	// tombstone on compacted topics) and non-nil, possibly empty, otherwise.
	Key, Value []byte
	Headers    []RecordHeader
}

// RecordHeader is one header of a record. Value is nil for a null value.
type RecordHeader struct {
	Key   string
	Value []byte
}

// minRecordSize is the smallest encoding of a record: a one-byte length, then
// attributes, timestamp delta, offset delta, key length, value length and
// header count of one byte each.
const minRecordSize = 7

var defaultDecoder = NewDecoder(DefaultMaxDecompressed)

// Records decodes every record of the whole batch raw with a Decoder bounded
// by DefaultMaxDecompressed. See Decoder.Records.
func Records(raw []byte) ([]Record, error) { return defaultDecoder.Records(raw) }

// Records checks the CRC of the whole batch raw, decompresses its records if
// needed, and decodes them all. raw may be longer than the batch; only the
// batch's own bytes are read.
//
// Keys, values and header values alias raw for an uncompressed batch, and a
// buffer allocated for the result otherwise: the caller must not modify raw
// while using the records.
//
// Errors: ErrTruncated, ErrCorrupt, ErrCRC and ErrUnsupportedMagic for the
// framing; ErrUnsupportedCompression; ErrTooLarge past the Decoder's bound;
// ErrInvalidRecord when the decompressed bytes are not exactly recordCount
// well-formed records.
func (d *Decoder) Records(raw []byte) ([]Record, error) {
	h, body, err := d.Body(raw)
	if err != nil {
		return nil, err
	}
	return decodeRecords(body, h.NumRecords)
}

// Body checks the CRC of the whole batch raw and returns its header and its
// records section, decompressed if needed: the bytes Records decodes. For an
// uncompressed batch the section aliases raw.
func (d *Decoder) Body(raw []byte) (Header, []byte, error) {
	h, err := ParseHeader(raw)
	if err != nil {
		return h, nil, err
	}
	if int64(len(raw)) < int64(h.BatchLength)+logOverhead {
		return h, nil, fmt.Errorf("%w: batch is %d bytes, buffer holds %d", ErrTruncated, h.Size(), len(raw))
	}
	raw = raw[:h.Size()]
	if sum := crc32.Checksum(raw[offAttributes:], castagnoli); sum != h.CRC {
		return h, nil, fmt.Errorf("%w: stored %#08x, computed %#08x", ErrCRC, h.CRC, sum)
	}
	if h.NumRecords < 0 {
		return h, nil, fmt.Errorf("%w: recordCount %d", ErrCorrupt, h.NumRecords)
	}
	body, err := d.decompress(h.Compression(), raw[HeaderSize:])
	if err != nil {
		return h, nil, err
	}
	return h, body, nil
}

// decodeRecords decodes exactly n records filling all of body.
func decodeRecords(body []byte, n int32) ([]Record, error) {
	if n < 0 {
		return nil, fmt.Errorf("%w: recordCount %d", ErrInvalidRecord, n)
	}
	// recordCount comes from the wire: bound it by what body can hold
	// before allocating for it.
	if int64(n) > int64(len(body))/minRecordSize {
		return nil, fmt.Errorf("%w: recordCount %d cannot fit in %d bytes of records", ErrInvalidRecord, n, len(body))
	}
	if n == 0 {
		if len(body) != 0 {
			return nil, fmt.Errorf("%w: %d bytes of records for recordCount 0", ErrInvalidRecord, len(body))
		}
		return nil, nil
	}
	recs := make([]Record, n)
	r := reader{b: body}
	for i := range recs {
		start := r.pos
		if err := r.record(&recs[i]); err != nil {
			return nil, fmt.Errorf("%w: record %d at byte %d: %w", ErrInvalidRecord, i, start, err)
		}
	}
	if r.pos != len(body) {
		return nil, fmt.Errorf("%w: %d bytes left after %d records", ErrInvalidRecord, len(body)-r.pos, n)
	}
	return recs, nil
}

// reader decodes the varint-based record encoding from b.
type reader struct {
	b   []byte
	pos int
}

type decodeError string

func (e decodeError) Error() string { return string(e) }

const (
	errShort    = decodeError("unexpected end of records")
	errVarint   = decodeError("malformed varint")
	errLength   = decodeError("negative length")
	errOverflow = decodeError("length beyond record")
)

// record decodes one length-prefixed record into rec. The record's fields
// must fill exactly the length it declares.
func (r *reader) record(rec *Record) error {
	size, err := r.varint()
	if err != nil {
		return err
	}
	if size < 0 {
		return fmt.Errorf("record length %d: %w", size, errLength)
	}
	if int64(size) > int64(len(r.b)-r.pos) {
		return fmt.Errorf("record length %d, %d bytes remain: %w", size, len(r.b)-r.pos, errShort)
	}
	// Decode within the record's own bytes so a field cannot run into the
	// next record.
	sub := reader{b: r.b[:r.pos+int(size)], pos: r.pos}
	if err := sub.fields(rec); err != nil {
		return err
	}
	if sub.pos != len(sub.b) {
		return fmt.Errorf("record length %d but fields end %d bytes early: %w", size, len(sub.b)-sub.pos, errOverflow)
	}
	r.pos = sub.pos
	return nil
}

func (r *reader) fields(rec *Record) error {
	if r.pos >= len(r.b) {
		return errShort
	}
	rec.Attributes = int8(r.b[r.pos])
	r.pos++
	var err error
	if rec.TimestampDelta, err = r.varlong(); err != nil {
		return fmt.Errorf("timestampDelta: %w", err)
	}
	if rec.OffsetDelta, err = r.varint(); err != nil {
		return fmt.Errorf("offsetDelta: %w", err)
	}
	if rec.Key, err = r.bytes(); err != nil {
		return fmt.Errorf("key: %w", err)
	}
	if rec.Value, err = r.bytes(); err != nil {
		return fmt.Errorf("value: %w", err)
	}
	count, err := r.varint()
	if err != nil {
		return fmt.Errorf("header count: %w", err)
	}
	// A header takes at least two bytes (two zero lengths).
	if count < 0 || int64(count) > int64(len(r.b)-r.pos)/2 {
		return fmt.Errorf("header count %d with %d bytes left in record: %w", count, len(r.b)-r.pos, errOverflow)
	}
	if count == 0 {
		return nil
	}
	rec.Headers = make([]RecordHeader, count)
	for i := range rec.Headers {
		key, err := r.bytes()
		if err != nil {
			return fmt.Errorf("header %d key: %w", i, err)
		}
		if key == nil {
			return fmt.Errorf("header %d key: null header key: %w", i, errLength)
		}
		rec.Headers[i].Key = string(key)
		if rec.Headers[i].Value, err = r.bytes(); err != nil {
			return fmt.Errorf("header %d value: %w", i, err)
		}
	}
	return nil
}

// varint reads a zigzag varint that must fit in 32 bits, as Kafka's
// ByteUtils.readVarint requires.
func (r *reader) varint() (int32, error) {
	v, n := binary.Varint(r.b[r.pos:])
	if n <= 0 || n > binary.MaxVarintLen32 || v != int64(int32(v)) {
		if n == 0 {
			return 0, errShort
		}
		return 0, errVarint
	}
	r.pos += n
	return int32(v), nil
}

// varlong reads a zigzag varint of up to 64 bits.
func (r *reader) varlong() (int64, error) {
	v, n := binary.Varint(r.b[r.pos:])
	if n <= 0 {
		if n == 0 {
			return 0, errShort
		}
		return 0, errVarint
	}
	r.pos += n
	return v, nil
}

// bytes reads a varint length and that many bytes; length -1 is null (nil).
// The result aliases r.b and is non-nil for length 0.
func (r *reader) bytes() ([]byte, error) {
	n, err := r.varint()
	if err != nil {
		return nil, err
	}
	switch {
	case n == -1:
		return nil, nil
	case n < -1:
		return nil, fmt.Errorf("length %d: %w", n, errLength)
	case int64(n) > int64(len(r.b)-r.pos):
		return nil, fmt.Errorf("length %d, %d bytes remain: %w", n, len(r.b)-r.pos, errOverflow)
	}
	b := r.b[r.pos : r.pos+int(n) : r.pos+int(n)]
	r.pos += int(n)
	return b, nil
}
