package kcmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/twmb/franz-go/pkg/kgo"
)

// ErrBootstrapUnreachable means no TCP connection could be opened to
// --bootstrap-host:--bootstrap-port; nothing was sent.
var ErrBootstrapUnreachable = errors.New("cannot reach the bootstrap server")

// clientID names kcmd in broker logs and quotas.
const clientID = "wisp-kcmd"

// Run executes one kcmd type against the Kafka-compatible server at
// o.BootstrapHost:o.BootstrapPort and writes human-readable output to out.
// Zero-valued fields take the defaults documented on Options. Every error
// says what failed and what to change; ErrInvalidOptions and
// ErrBootstrapUnreachable can be matched with errors.Is. Run opens its own
// clients and closes them before returning; out is written only from the
// calling goroutine.
func Run(ctx context.Context, o Options, out io.Writer) error {
	o = o.withDefaults()
	if err := o.Validate(); err != nil {
		return err
	}
	// A plain dial first: kgo retries unreachable seeds until its timeout
	// and then reports a generic error, which hides the simple mistake of a
	// wrong host or port.
	if err := dialBootstrap(ctx, o); err != nil {
		return err
	}
	switch o.Type {
	case TypeDiagnoseConnection:
		return diagnose(ctx, o, out)
	case TypeCreateTopic:
		return createTopic(ctx, o, out)
	case TypeDeleteTopic:
		return deleteTopic(ctx, o, out)
	case TypeListTopics:
		return listTopics(ctx, o, out)
	case TypeProduce:
		return produce(ctx, o, out)
	case TypeFetch:
		return fetch(ctx, o, out)
	}
	// Unreachable while Validate and the switch above list the same types.
	return fmt.Errorf("%w: --type %q has no implementation", ErrInvalidOptions, o.Type)
}

func dialBootstrap(ctx context.Context, o Options) error {
	addr := o.bootstrapAddr()
	d := net.Dialer{Timeout: o.Timeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("%w at %s: %w. Check --bootstrap-host and --bootstrap-port, and that the server is running and listening there.",
			ErrBootstrapUnreachable, addr, err)
	}
	return conn.Close()
}

// newClient builds a franz-go client seeded with the bootstrap address.
// Idempotent writes are off so that produce works on servers without
// InitProducerID; kcmd sends one record at a time, so it gains nothing from
// them.
func newClient(o Options, extra ...kgo.Opt) (*kgo.Client, error) {
	opts := []kgo.Opt{
		kgo.SeedBrokers(o.bootstrapAddr()),
		kgo.ClientID(clientID),
		kgo.DialTimeout(o.Timeout),
		kgo.RetryTimeout(o.Timeout),
		kgo.DisableIdempotentWrite(),
	}
	cl, err := kgo.NewClient(append(opts, extra...)...)
	if err != nil {
		return nil, fmt.Errorf("create Kafka client for %s: %w", o.bootstrapAddr(), err)
	}
	return cl, nil
}

// step bounds one network step by --timeout.
func step(ctx context.Context, o Options) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, o.Timeout)
}
