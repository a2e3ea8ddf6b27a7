package datafile

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// ReadIndex parses the footer of a whole file (validating magic, version,
// footer CRC, and that every entry lies between the header and the footer)
// and returns the entries in append order. Errors wrap ErrCorrupt or
// ErrUnsupportedVersion. It does not retain file.
func ReadIndex(file []byte) ([]IndexEntry, error) {
	if len(file) < HeaderSize+TrailerSize {
		return nil, fmt.Errorf("%w: %d bytes is shorter than header and trailer", ErrCorrupt, len(file))
	}
	if !bytes.Equal(file[:6], headerMagic[:]) {
		return nil, fmt.Errorf("%w: bad header magic %q", ErrCorrupt, file[:6])
	}
	if v := binary.BigEndian.Uint16(file[6:8]); v != Version {
		return nil, fmt.Errorf("%w %d in header (this build reads version %d)", ErrUnsupportedVersion, v, Version)
	}
	entries, footerLen, err := parseFooter(file[HeaderSize:])
	if err != nil {
		return nil, err
	}
	dataEnd := int64(len(file)) - footerLen
	for i, e := range entries {
		if e.Len < 0 || e.Pos < HeaderSize || e.Pos > dataEnd-int64(e.Len) {
			return nil, fmt.Errorf("%w: entry %d range [%d, +%d) outside batch area [%d, %d)", ErrCorrupt, i, e.Pos, e.Len, HeaderSize, dataEnd)
		}
	}
	return entries, nil
}

// parseFooter decodes the footer at the end of tail, which must hold at least
// the whole footer, and returns its entries and its length in bytes.
func parseFooter(tail []byte) ([]IndexEntry, int64, error) {
	if len(tail) < TrailerSize {
		return nil, 0, fmt.Errorf("%w: no room for the %d-byte trailer", ErrCorrupt, TrailerSize)
	}
	tr := tail[len(tail)-TrailerSize:]
	if !bytes.Equal(tr[14:22], endMagic[:]) {
		return nil, 0, fmt.Errorf("%w: bad end magic %q (truncated file?)", ErrCorrupt, tr[14:22])
	}
	if v := binary.BigEndian.Uint16(tr[8:10]); v != Version {
		return nil, 0, fmt.Errorf("%w %d in trailer (this build reads version %d)", ErrUnsupportedVersion, v, Version)
	}
	count := uint64(binary.BigEndian.Uint32(tr[0:4]))
	footerLen := uint64(binary.BigEndian.Uint32(tr[4:8]))
	if footerLen != count*EntrySize+TrailerSize {
		return nil, 0, fmt.Errorf("%w: footer length %d does not match %d entries", ErrCorrupt, footerLen, count)
	}
	if footerLen > uint64(len(tail)) {
		return nil, 0, fmt.Errorf("%w: footer length %d exceeds the %d bytes available", ErrCorrupt, footerLen, len(tail))
	}
	footer := tail[uint64(len(tail))-footerLen:]
	crcAt := len(footer) - TrailerSize + 10
	want := binary.BigEndian.Uint32(footer[crcAt:])
	if got := crc32.Checksum(footer[:crcAt], castagnoli); got != want {
		return nil, 0, fmt.Errorf("%w: footer CRC-32C %08x, stored %08x", ErrCorrupt, got, want)
	}
	entries := make([]IndexEntry, count)
	for i := range entries {
		entries[i] = getEntry(footer[i*EntrySize:])
	}
	return entries, int64(footerLen), nil
}
