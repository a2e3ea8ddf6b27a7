package kcmd

import (
	"bytes"
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// testTimeout is generous because the test machine may be loaded; fetches
// in tests end by --max-records, so none of them waits it out, except where
// idleTimeout is used on purpose.
const testTimeout = 10 * time.Second

// idleTimeout is --timeout for the one fetch that must end by going idle.
const idleTimeout = 4 * time.Second

// newCluster starts an in-process fake Kafka cluster that the test closes.
func newCluster(t *testing.T, opts ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatalf("start fake cluster: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// optionsFor returns DefaultOptions pointed at the cluster's first broker.
func optionsFor(t *testing.T, c *kfake.Cluster, typ string) Options {
	t.Helper()
	host, port := splitAddr(t, c.ListenAddrs()[0])
	o := DefaultOptions()
	o.Type = typ
	o.BootstrapHost = host
	o.BootstrapPort = port
	o.Timeout = testTimeout
	return o
}

func splitAddr(t *testing.T, addr string) (string, int) {
	t.Helper()
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("split %q: %v", addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		t.Fatalf("port of %q: %v", addr, err)
	}
	return host, port
}

// run executes o and returns its output lines.
func run(t *testing.T, o Options) ([]string, error) {
	t.Helper()
	var out bytes.Buffer
	err := Run(context.Background(), o, &out)
	return lines(out.String()), err
}

// mustRun is run for steps that must succeed.
func mustRun(t *testing.T, o Options) []string {
	t.Helper()
	got, err := run(t, o)
	if err != nil {
		t.Fatalf("kcmd --type %s: %v\noutput:\n%s", o.Type, err, strings.Join(got, "\n"))
	}
	return got
}

func lines(s string) []string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) (string, int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	return splitAddr(t, addr)
}

func equalLines(t *testing.T, what string, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s output:\n%s\nwant:\n%s", what, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
