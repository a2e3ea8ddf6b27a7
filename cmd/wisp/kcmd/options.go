package kcmd

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// The kcmd types, the values --type accepts.
const (
	TypeDiagnoseConnection = "diagnose-connection"
	TypeCreateTopic        = "create-topic"
	TypeDeleteTopic        = "delete-topic"
	TypeListTopics         = "list-topics"
	TypeProduce            = "produce"
	TypeFetch              = "fetch"
)

// Types lists every kcmd type in the order the help text shows them.
var Types = []string{
	TypeDiagnoseConnection, TypeCreateTopic, TypeDeleteTopic, TypeListTopics, TypeProduce, TypeFetch,
}

// RecordSeparator separates record values in --records. It is two commas so
// that single commas can appear inside a value.
const RecordSeparator = ",,"

// Defaults shared by the flags and by Run for zero-valued fields.
const (
	DefaultBootstrapHost = "localhost"
	DefaultBootstrapPort = 9092
	DefaultKey           = "hello"
	DefaultTimeout       = 10 * time.Second
	DefaultMaxRecords    = 100
	DefaultPartitions    = 1
)

// ErrInvalidOptions marks an Options value that Run refuses before any
// network I/O; the message names the flag to fix.
var ErrInvalidOptions = errors.New("invalid kcmd options")

// Options is one kcmd invocation. Field names follow the flags: Type is
// --type, BootstrapHost is --bootstrap-host, and so on.
type Options struct {
	// Type is one of the Type* constants.
	Type string
	// BootstrapHost and BootstrapPort locate the first broker to ask for
	// metadata. Zero values mean DefaultBootstrapHost and DefaultBootstrapPort.
	BootstrapHost string
	BootstrapPort int
	// Topic is required by every type except diagnose-connection and list-topics.
	Topic string
	// Partitions is the partition count for create-topic; zero means 1.
	Partitions int32
	// Records holds produce's values, separated by RecordSeparator.
	Records string
	// Key is the key of every produced record; empty produces a null key.
	Key string
	// Offset is where fetch starts in each partition: an exact offset, or
	// -2 for the earliest and -1 for the latest offset (Kafka's conventions).
	Offset int64
	// Partition selects one partition for fetch and produce; -1 means all
	// partitions for fetch and lets the client's partitioner choose for
	// produce. Its zero value is partition 0, so callers that want "all"
	// must say -1 (DefaultOptions does).
	Partition int32
	// Timeout bounds each network step; for fetch it is also how long to
	// wait for more data before stopping. Zero means DefaultTimeout.
	Timeout time.Duration
	// MaxRecords stops fetch after this many records; zero means DefaultMaxRecords.
	MaxRecords int
}

// DefaultOptions returns the options the flags start from.
func DefaultOptions() Options {
	return Options{
		BootstrapHost: DefaultBootstrapHost,
		BootstrapPort: DefaultBootstrapPort,
		Partitions:    DefaultPartitions,
		Key:           DefaultKey,
		Partition:     -1,
		Timeout:       DefaultTimeout,
		MaxRecords:    DefaultMaxRecords,
	}
}

// withDefaults fills the zero values that have no meaning of their own.
// Partition, Offset and Key are left alone: zero and "" are real choices.
func (o Options) withDefaults() Options {
	if o.BootstrapHost == "" {
		o.BootstrapHost = DefaultBootstrapHost
	}
	if o.BootstrapPort == 0 {
		o.BootstrapPort = DefaultBootstrapPort
	}
	if o.Partitions == 0 {
		o.Partitions = DefaultPartitions
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.MaxRecords == 0 {
		o.MaxRecords = DefaultMaxRecords
	}
	return o
}

// Validate reports the first problem with o, naming the flag to change. It
// checks the fields as given; Run applies defaults to zero values first.
func (o Options) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidOptions, fmt.Sprintf(format, args...))
	}
	switch o.Type {
	case "":
		return bad("--type is required; use one of %s", strings.Join(Types, ", "))
	case TypeDiagnoseConnection, TypeCreateTopic, TypeDeleteTopic, TypeListTopics, TypeProduce, TypeFetch:
	default:
		return bad("unknown --type %q; use one of %s", o.Type, strings.Join(Types, ", "))
	}
	if o.BootstrapHost == "" {
		return bad("--bootstrap-host must not be empty")
	}
	if o.BootstrapPort < 1 || o.BootstrapPort > 65535 {
		return bad("--bootstrap-port %d is not a TCP port (1-65535)", o.BootstrapPort)
	}
	if o.Timeout <= 0 {
		return bad("--timeout must be positive, got %s", o.Timeout)
	}
	switch o.Type {
	case TypeCreateTopic, TypeDeleteTopic, TypeProduce, TypeFetch:
		if o.Topic == "" {
			return bad("--topic is required for --type %s", o.Type)
		}
	}
	switch o.Type {
	case TypeCreateTopic:
		if o.Partitions < 1 {
			return bad("--partitions must be at least 1, got %d", o.Partitions)
		}
	case TypeProduce:
		if o.Records == "" {
			return bad("--records is required for --type produce; separate values with %q", RecordSeparator)
		}
		if o.Partition < -1 {
			return bad("--partition must be -1 (let the partitioner choose) or a partition number, got %d", o.Partition)
		}
	case TypeFetch:
		if o.Partition < -1 {
			return bad("--partition must be -1 (all partitions) or a partition number, got %d", o.Partition)
		}
		if o.Offset < -2 {
			return bad("--offset must be an offset, -2 (earliest) or -1 (latest), got %d", o.Offset)
		}
		if o.MaxRecords < 1 {
			return bad("--max-records must be at least 1, got %d", o.MaxRecords)
		}
	}
	return nil
}

// bootstrapAddr is the host:port Run dials first.
func (o Options) bootstrapAddr() string {
	return net.JoinHostPort(o.BootstrapHost, strconv.Itoa(o.BootstrapPort))
}

// splitRecords splits --records into values. An empty piece between two
// separators is an empty value, kept so that positions match what was typed.
func splitRecords(records string) []string {
	return strings.Split(records, RecordSeparator)
}
