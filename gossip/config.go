package gossip

import (
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"
)

// DefaultPort is the gossip port used when an address has none.
const DefaultPort = 7946

// Config configures Start. Zero durations and counts take the LAN defaults of
// DefaultConfig, so a caller sets only what it cares about; TestProfile gives
// timers short enough for tests on one machine.
type Config struct {
	// BindAddr is the host:port memberlist binds for both TCP and UDP
	// (flag --gossip-addr). Empty means 0.0.0.0:7946; a missing port means
	// 7946; port 0 picks a free one (see Gossip.Addr).
	BindAddr string
	// AdvertiseAddr is the host[:port] other agents dial. Empty means the
	// bound address (or, when bound to 0.0.0.0, the first private IP).
	AdvertiseAddr string
	// Join lists host[:port] seeds of a running cluster (flag --join). Empty
	// starts a new cluster of one.
	Join []string
	// RetryJoin keeps trying Join at start-up, every RetryInterval, up to
	// RetryMax attempts (0: until Start's context ends), instead of failing
	// after the first attempt (flag --retry-join).
	RetryJoin     bool
	RetryInterval time.Duration
	RetryMax      int
	// SecretKey, when set, encrypts and authenticates all gossip with AES-GCM.
	// It must be 16, 24 or 32 bytes; ParseKey decodes the base64 form of the
	// --gossip-key flag. Every agent of a cluster needs the same key.
	SecretKey []byte
	// Meta is what this agent advertises; change it later with UpdateMeta.
	Meta Meta

	// Failure detection and dissemination timers, passed to memberlist.
	ProbeInterval       time.Duration // how often one random member is probed
	ProbeTimeout        time.Duration // how long to wait for a direct ack
	GossipInterval      time.Duration // how often state changes are gossiped
	PushPullInterval    time.Duration // how often full state is synced with one member
	SuspicionMult       int           // suspicion timeout = SuspicionMult * log10(N) * ProbeInterval
	TCPTimeout          time.Duration // bound on one TCP exchange (join, push/pull, ping)
	GossipToTheDeadTime time.Duration // how long dead members still get gossip
	// DeadNodeReclaimTime is how long after a member is declared dead its
	// name (wisp-<id>) may be taken by a process at a different address, as
	// when an agent restarts on a new port.
	DeadNodeReclaimTime time.Duration
	// ReconnectInterval is how often a member that failed (not one that left)
	// is dialled again, so that the two sides of a healed partition merge.
	// ReconnectTimeout is how long a failed member is retried.
	ReconnectInterval time.Duration
	ReconnectTimeout  time.Duration
	// LeavePropagateDelay is how long Leave keeps gossiping after its leave
	// message went out, so that more than one member hears it.
	LeavePropagateDelay time.Duration

	// Logger receives memberlist's log lines at their levels. Nil discards.
	Logger *slog.Logger
}

// DefaultConfig returns the LAN profile: memberlist's LAN timers (1 s
// probes, failure detected in a few seconds), bound to 0.0.0.0:7946.
func DefaultConfig() Config {
	return Config{
		BindAddr:            net.JoinHostPort("0.0.0.0", strconv.Itoa(DefaultPort)),
		RetryInterval:       2 * time.Second,
		ProbeInterval:       time.Second,
		ProbeTimeout:        500 * time.Millisecond,
		GossipInterval:      200 * time.Millisecond,
		PushPullInterval:    30 * time.Second,
		SuspicionMult:       4,
		TCPTimeout:          10 * time.Second,
		GossipToTheDeadTime: 30 * time.Second,
		DeadNodeReclaimTime: 10 * time.Second,
		ReconnectInterval:   10 * time.Second,
		ReconnectTimeout:    24 * time.Hour,
		LeavePropagateDelay: time.Second,
	}
}

// TestProfile returns timers for tests on one machine: a killed member is
// declared failed within about a second, and BindAddr is 127.0.0.1 with a
// free port.
func TestProfile() Config {
	return Config{
		BindAddr:            "127.0.0.1:0",
		RetryInterval:       50 * time.Millisecond,
		ProbeInterval:       100 * time.Millisecond,
		ProbeTimeout:        50 * time.Millisecond,
		GossipInterval:      20 * time.Millisecond,
		PushPullInterval:    500 * time.Millisecond,
		SuspicionMult:       2,
		TCPTimeout:          500 * time.Millisecond,
		GossipToTheDeadTime: time.Second,
		DeadNodeReclaimTime: 100 * time.Millisecond,
		ReconnectInterval:   200 * time.Millisecond,
		ReconnectTimeout:    time.Minute,
		LeavePropagateDelay: 100 * time.Millisecond,
	}
}

// ConfigError is a bad Config value; Field names the flag it comes from
// (gossip-addr, advertise-addr, join, gossip-key, node-id), so start-up can
// say which flag to fix.
type ConfigError struct {
	Field string
	Err   error
}

func (e *ConfigError) Error() string { return "--" + e.Field + ": " + e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

// ErrInvalidKey is wrapped when a gossip key is not base64 of 16, 24 or 32 bytes.
var ErrInvalidKey = errors.New("gossip key must be 16, 24 or 32 bytes")

// ParseKey decodes the --gossip-key flag: standard base64 of a 16, 24 or
// 32-byte AES key (e.g. `openssl rand -base64 32`). Empty means no encryption.
func ParseKey(s string) ([]byte, error) {
	if s == "" {
		return nil, nil
	}
	key, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, &ConfigError{Field: "gossip-key", Err: fmt.Errorf("not base64: %w", err)}
	}
	if err := checkKey(key); err != nil {
		return nil, err
	}
	return key, nil
}

func checkKey(key []byte) error {
	switch len(key) {
	case 0, 16, 24, 32:
		return nil
	}
	return &ConfigError{Field: "gossip-key", Err: fmt.Errorf("%w, got %d", ErrInvalidKey, len(key))}
}

// withDefaults fills zero fields from DefaultConfig.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.BindAddr == "" {
		c.BindAddr = d.BindAddr
	}
	setDur := func(v *time.Duration, def time.Duration) {
		if *v <= 0 {
			*v = def
		}
	}
	setDur(&c.RetryInterval, d.RetryInterval)
	setDur(&c.ProbeInterval, d.ProbeInterval)
	setDur(&c.ProbeTimeout, d.ProbeTimeout)
	setDur(&c.GossipInterval, d.GossipInterval)
	setDur(&c.PushPullInterval, d.PushPullInterval)
	setDur(&c.TCPTimeout, d.TCPTimeout)
	setDur(&c.GossipToTheDeadTime, d.GossipToTheDeadTime)
	setDur(&c.DeadNodeReclaimTime, d.DeadNodeReclaimTime)
	setDur(&c.ReconnectInterval, d.ReconnectInterval)
	setDur(&c.ReconnectTimeout, d.ReconnectTimeout)
	setDur(&c.LeavePropagateDelay, d.LeavePropagateDelay)
	if c.SuspicionMult <= 0 {
		c.SuspicionMult = d.SuspicionMult
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// splitHostPort parses host[:port] with DefaultPort for a missing port.
func splitHostPort(addr string) (host string, port int, err error) {
	host, ps, err := net.SplitHostPort(addr)
	if err != nil {
		// No port: the whole string is the host (an IPv6 literal needs brackets).
		if _, _, err2 := net.SplitHostPort(addr + ":0"); err2 != nil {
			return "", 0, err
		}
		return addr, DefaultPort, nil
	}
	port, err = strconv.Atoi(ps)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("invalid port %q", ps)
	}
	return host, port, nil
}

// resolveIP turns a host into one IP, as memberlist binds and advertises IPs.
// An empty host is the unspecified address.
func resolveIP(host string) (string, error) {
	if host == "" {
		return "0.0.0.0", nil
	}
	if ip := net.ParseIP(host); ip != nil {
		return ip.String(), nil
	}
	ips, err := net.LookupIP(host)
	if err != nil {
		return "", err
	}
	for _, ip := range ips { // prefer IPv4, as gossip peers usually dial it
		if ip4 := ip.To4(); ip4 != nil {
			return ip4.String(), nil
		}
	}
	if len(ips) == 0 {
		return "", fmt.Errorf("no address for %q", host)
	}
	return ips[0].String(), nil
}

// normalizeSeed gives a seed without a port the default port.
func normalizeSeed(seed string) (string, error) {
	host, port, err := splitHostPort(seed)
	if err != nil {
		return "", err
	}
	if host == "" {
		return "", errors.New("empty host")
	}
	return net.JoinHostPort(host, strconv.Itoa(port)), nil
}
