package fsm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
)

// An encoded command is: type byte, version byte, payload. The version is per
// command type; a change to a payload's layout (including a new JSON field)
// needs a new version, and Decode must keep reading the old ones.

// codec knows the current version of one command type.
type codec struct {
	version byte
	// encode appends the payload of c (of the codec's type) to dst.
	encode func(dst []byte, c Command) ([]byte, error)
	// decode reads a payload of the given version.
	decode func(version byte, payload []byte) (Command, error)
}

// codecs is the command registry. Admin commands are rare and small, so they
// are JSON; CommitFile, ForgetFiles, CommitOffsets and CompactFiles are frequent or may
// carry thousands of items, and are compact binary.
var codecs = map[CommandType]codec{
	CmdInitCluster:       jsonCodec[InitCluster](),
	CmdCreateTopic:       jsonCodec[CreateTopic](),
	CmdDeleteTopic:       jsonCodec[DeleteTopic](),
	CmdCreatePartitions:  jsonCodec[CreatePartitions](),
	CmdCommitFile:        {version: 2, encode: encodeCommitFile, decode: decodeCommitFile},
	CmdInitProducerID:    jsonCodec[InitProducerID](),
	CmdForgetFiles:       {version: 1, encode: encodeForgetFiles, decode: decodeForgetFiles},
	CmdCommitOffsets:     {version: 1, encode: encodeCommitOffsets, decode: decodeCommitOffsets},
	CmdDeleteGroup:       jsonCodec[DeleteGroup](),
	CmdDeleteOffsets:     jsonCodec[DeleteOffsets](),
	CmdAlterTopicConfigs: jsonCodec[AlterTopicConfigs](),
	CmdTrimLog:           jsonCodec[TrimLog](),
	CmdCompactFiles:      {version: 3, encode: encodeCompactFiles, decode: decodeCompactFiles},
}

// Encode returns the Raft log bytes of c, which may be a command value or a
// pointer to one. The returned slice belongs to the caller.
func Encode(c Command) ([]byte, error) {
	if c == nil {
		return nil, fmt.Errorf("fsm: encode nil command")
	}
	if v := reflect.ValueOf(c); v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return nil, fmt.Errorf("fsm: encode nil %T", c)
		}
		c = v.Elem().Interface().(Command)
	}
	cd, ok := codecs[c.Type()]
	if !ok {
		return nil, fmt.Errorf("%w: %v", ErrUnknownCommand, c.Type())
	}
	return cd.encode([]byte{byte(c.Type()), cd.version}, c)
}

// Decode parses Raft log bytes produced by Encode. It never panics; bad input
// yields an error wrapping ErrUnknownCommand, ErrUnknownVersion or
// ErrMalformed. Whether a failure is fatal is Apply's decision.
func Decode(b []byte) (Command, error) {
	if len(b) < 2 {
		return nil, fmt.Errorf("%w: %d bytes, need type and version", ErrMalformed, len(b))
	}
	t := CommandType(b[0])
	cd, ok := codecs[t]
	if !ok {
		return nil, fmt.Errorf("%w: %v", ErrUnknownCommand, t)
	}
	if b[1] == 0 || b[1] > cd.version {
		return nil, fmt.Errorf("%w: %v version %d, know up to %d", ErrUnknownVersion, t, b[1], cd.version)
	}
	c, err := cd.decode(b[1], b[2:])
	if err != nil {
		return nil, fmt.Errorf("decode %v v%d: %w", t, b[1], err)
	}
	return c, nil
}

// jsonCodec encodes T as strict JSON: unknown fields and trailing data are
// errors, so a field added without a version bump stops old replicas instead
// of being silently dropped by them.
func jsonCodec[T Command]() codec {
	return codec{
		version: 1,
		encode: func(dst []byte, c Command) ([]byte, error) {
			v, ok := c.(T)
			if !ok {
				return nil, fmt.Errorf("fsm: codec for %T given %T", *new(T), c)
			}
			p, err := json.Marshal(v)
			if err != nil {
				return nil, fmt.Errorf("fsm: encode %T: %w", v, err)
			}
			return append(dst, p...), nil
		},
		decode: func(_ byte, payload []byte) (Command, error) {
			var v T
			d := json.NewDecoder(bytes.NewReader(payload))
			d.DisallowUnknownFields()
			if err := d.Decode(&v); err != nil {
				return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
			}
			if _, err := d.Token(); err != io.EOF {
				return nil, fmt.Errorf("%w: trailing data after JSON", ErrMalformed)
			}
			return v, nil
		},
	}
}
