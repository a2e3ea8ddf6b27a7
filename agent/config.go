// Package agent assembles one running Wisp agent: the bucket, the Raft
// metadata replica, the read cache, the flusher, the Kafka listener and the
// HTTP listener, started in dependency order and stopped in reverse.
package agent

import (
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wisp-stream/wisp/kafka"
	"github.com/wisp-stream/wisp/objstore"
)

// Config is everything an agent needs; cmd/wisp fills it from flags,
// WISP_* environment variables and a config file, then calls Validate.
type Config struct {
	// NodeID is the agent's broker id and Raft server id. 0 means: use the id
	// stored in the data dir, creating a random one on first start.
	NodeID int32
	// KafkaAddr is where the Kafka listener binds.
	KafkaAddr string
	// AdvertiseAddr is the host:port clients are told to dial. Empty means
	// KafkaAddr, with an unspecified host replaced by the machine's hostname.
	AdvertiseAddr string
	// HTTPAddr serves the console (/), its JSON API (/api/v1/), /metrics,
	// /healthz and /readyz, and agent-to-agent traffic.
	HTTPAddr string
	// BucketURL names the object store: file:///path, mem://name, s3://...
	BucketURL string
	// DataDir holds the Raft log, snapshots and the node id. No record data
	// is ever kept here: it all lives in the bucket.
	DataDir string
	// RaftAddr is where the Raft transport binds.
	RaftAddr string
	// FlushInterval and FlushBytes decide when the pending file is sealed
	// and uploaded, whichever comes first.
	FlushInterval time.Duration
	FlushBytes    int64
	// MaxBufferedBytes bounds produce data held in memory (pending and
	// uploading); beyond it produce requests wait, then time out.
	MaxBufferedBytes int64
	// MaxRequestBytes bounds one Kafka request frame.
	MaxRequestBytes int32
	// AutoCreateTopics creates unknown topics on Metadata requests.
	AutoCreateTopics bool
	// DefaultPartitions is the partition count of auto-created topics.
	DefaultPartitions int32
	// CacheBytes bounds the read cache.
	CacheBytes int64
	// OrphanScanInterval, OrphanGrace and DeadFileGrace tune the removal of
	// unreferenced objects from the bucket (see GCConfig).
	OrphanScanInterval time.Duration
	OrphanGrace        time.Duration
	DeadFileGrace      time.Duration
	// CompactionFanIn is how many entries of one level a partition must
	// have before compaction merges them into the next level (level-0
	// flushes into level 1, level 1 into level 2); 0 disables compaction
	// (see CompactionConfig).
	CompactionFanIn int
	// RaftTimeoutScale multiplies Raft's heartbeat/election timeouts; tests
	// use a value below 1 to elect faster.
	RaftTimeoutScale float64

	// GossipAddr is where memberlist binds (TCP and UDP).
	GossipAddr string
	// Join lists host:port gossip addresses of running agents to join.
	Join []string
	// RetryJoin keeps trying Join at start-up instead of failing.
	RetryJoin bool
	// GossipKey encrypts gossip: base64 of a 16, 24 or 32-byte key.
	GossipKey string
	// BootstrapExpect is how many agents form the first Raft voters. 1
	// (without --join) bootstraps alone; agents started with --join and no
	// data wait for the leader to add them.
	BootstrapExpect int
	// RaftVoters is the voter count the leader maintains; further agents
	// follow as non-voters.
	RaftVoters int
	// DeadTimeout is how long an agent may be gone from gossip before the
	// leader removes it from Raft.
	DeadTimeout time.Duration
	// AZ is the availability zone, the rack in Metadata responses.
	AZ string
	// GossipFast selects short gossip timers (tests).
	GossipFast bool

	// Prices estimates what the bucket bills for requests; the console and
	// /api/v1/objstore show the cost per day at these prices.
	Prices Prices
	// Pprof serves net/http/pprof under /debug/pprof/ on the HTTP listener,
	// for profiling (wisp bench saves CPU and allocation profiles with it).
	Pprof bool

	// ClusterSecret authenticates agent-to-agent traffic (gossip, Raft,
	// internal HTTP) when set; every agent needs the same one. It may come
	// from ClusterSecretFile instead (see clusterauth.go).
	ClusterSecret     string
	ClusterSecretFile string

	// Kafka connection limits (see kafka/limits.go).
	MaxConnections         int
	RequestReadTimeout     time.Duration
	ConnectionsMaxIdle     time.Duration
	MaxPendingRequestBytes int64

	// Kafka security (listeners.go, tls.go): the listeners and their
	// security protocols, TLS certificates, SASL and the authorizer.
	Listeners           []string // NAME://host:port; empty: one listener on KafkaAddr
	AdvertiseListeners  []string // NAME://host:port clients of listener NAME dial
	ListenerProtocolMap []string // NAME:PROTOCOL for listener names that are not protocols
	TLSCert, TLSKey     string   // PEM files of the SSL/SASL_SSL listeners (and HTTPS)
	TLSCA               string   // PEM bundle verifying Kafka client certificates
	TLSClientAuth       string   // none, requested or required ("" is required with TLSCA)
	// DisableHTTPTLS keeps the HTTP listener plain even with a certificate;
	// HTTPTLSCert/Key give it a certificate other than TLSCert/Key.
	DisableHTTPTLS          bool
	HTTPTLSCert, HTTPTLSKey string
	SASLMechanisms          []string      // PLAIN, SCRAM-SHA-256, SCRAM-SHA-512
	SASLUsersFile           string        // user:password lines seeded as SCRAM credentials
	SASLSessionLifetime     time.Duration // KIP-368 re-authentication; 0: sessions never expire
	Authorizer              bool          // enforce ACLs on every request
	SuperUsers              []string      // principals allowed everything, e.g. User:admin

	// PeerFilter, when set, drops agent-to-agent traffic with the peers it
	// names: the network fault seam of partition tests.
	PeerFilter PeerFilter

	// WrapStore, when set, wraps the opened bucket: the fault seam tests use
	// to inject object-store errors and latency.
	WrapStore func(objstore.Store) objstore.Store

	Logger *slog.Logger
}

// DefaultConfig returns the defaults of `wisp agent`.
func DefaultConfig() Config {
	return Config{
		KafkaAddr:          ":9092",
		HTTPAddr:           ":8080",
		RaftAddr:           "127.0.0.1:7947",
		DataDir:            "./wisp-data",
		FlushInterval:      250 * time.Millisecond,
		FlushBytes:         8 << 20,
		MaxBufferedBytes:   256 << 20,
		MaxRequestBytes:    100 << 20,
		AutoCreateTopics:   true,
		DefaultPartitions:  1,
		CacheBytes:         512 << 20,
		OrphanScanInterval: 10 * time.Minute,
		OrphanGrace:        30 * time.Minute,
		DeadFileGrace:      5 * time.Minute,
		CompactionFanIn:    32,
		RaftTimeoutScale:   1,
		GossipAddr:         ":7946",
		BootstrapExpect:    1,
		RaftVoters:         3,
		DeadTimeout:        time.Minute,
		Prices:             DefaultPrices(),

		MaxConnections:         kafka.DefaultMaxConnections,
		RequestReadTimeout:     kafka.DefaultRequestReadTimeout,
		ConnectionsMaxIdle:     kafka.DefaultConnectionsMaxIdle,
		MaxPendingRequestBytes: kafka.DefaultMaxPendingRequestBytes,
	}
}

// FlagError is a configuration error that names the flag at fault; the
// command line turns it into exit code 2.
type FlagError struct {
	Flag string
	Err  error
}

func (e *FlagError) Error() string { return fmt.Sprintf("--%s: %v", e.Flag, e.Err) }
func (e *FlagError) Unwrap() error { return e.Err }

// Validate checks every field once and fills derived defaults. The error
// names the flag to fix.
func (c *Config) Validate() error {
	bad := func(flag, format string, args ...any) error {
		return &FlagError{Flag: flag, Err: fmt.Errorf(format, args...)}
	}
	if c.NodeID < 0 {
		return bad("node-id", "must be positive (or 0 to pick one and remember it in the data dir), got %d", c.NodeID)
	}
	for _, a := range []struct{ flag, addr string }{{"kafka-addr", c.KafkaAddr}, {"http-addr", c.HTTPAddr}, {"raft-addr", c.RaftAddr}} {
		if _, _, err := splitHostPort(a.addr); err != nil {
			return bad(a.flag, "%v", err)
		}
	}
	if c.AdvertiseAddr != "" {
		host, port, err := splitHostPort(c.AdvertiseAddr)
		if err != nil {
			return bad("advertise-addr", "%v", err)
		}
		if host == "" || net.ParseIP(host).IsUnspecified() || port == 0 {
			return bad("advertise-addr", "%q must name a host and port clients can dial", c.AdvertiseAddr)
		}
	}
	if c.BucketURL == "" {
		return bad("bucket-url", "is required (e.g. file:///var/lib/wisp/bucket or s3://bucket?endpoint=host:9000)")
	}
	if u, err := url.Parse(c.BucketURL); err != nil || !slices.Contains(objstore.Schemes(), u.Scheme) {
		return bad("bucket-url", "%q is not a bucket URL of a known scheme (%s)", c.BucketURL, strings.Join(objstore.Schemes(), ", "))
	}
	if c.DataDir == "" {
		return bad("data-dir", "is required: it holds the Raft log and snapshots")
	}
	if c.FlushInterval < time.Millisecond || c.FlushInterval > time.Minute {
		return bad("flush-interval", "must be between 1ms and 1m, got %s", c.FlushInterval)
	}
	if c.FlushBytes < 1024 {
		return bad("flush-bytes", "must be at least 1024, got %d", c.FlushBytes)
	}
	if c.MaxBufferedBytes < c.FlushBytes {
		return bad("max-buffered-bytes", "must be at least --flush-bytes (%d), got %d", c.FlushBytes, c.MaxBufferedBytes)
	}
	if c.MaxRequestBytes < 1024 {
		return bad("max-request-bytes", "must be at least 1024, got %d", c.MaxRequestBytes)
	}
	if c.DefaultPartitions < 1 {
		return bad("default-partitions", "must be at least 1, got %d", c.DefaultPartitions)
	}
	if c.CacheBytes < 0 {
		return bad("cache-bytes", "must not be negative, got %d", c.CacheBytes)
	}
	if c.OrphanScanInterval < time.Second {
		return bad("orphan-scan-interval", "must be at least 1s, got %s", c.OrphanScanInterval)
	}
	if c.OrphanGrace < time.Second {
		return bad("orphan-grace", "must be at least 1s (it must outlast any upload plus its commit), got %s", c.OrphanGrace)
	}
	if c.DeadFileGrace < 0 {
		return bad("dead-file-grace", "must not be negative, got %s", c.DeadFileGrace)
	}
	if c.CompactionFanIn < 0 || c.CompactionFanIn == 1 {
		return bad("compaction-fan-in", "must be 0 (off) or at least 2, got %d", c.CompactionFanIn)
	}
	if _, _, err := splitHostPort(c.GossipAddr); err != nil {
		return bad("gossip-addr", "%v", err)
	}
	for _, j := range c.Join {
		if _, _, err := splitHostPort(j); err != nil {
			return bad("join", "%v", err)
		}
	}
	if c.GossipKey != "" {
		k, err := base64.StdEncoding.DecodeString(c.GossipKey)
		if err != nil || (len(k) != 16 && len(k) != 24 && len(k) != 32) {
			return bad("gossip-key", "must be base64 of 16, 24 or 32 bytes (e.g. `head -c 32 /dev/urandom | base64`)")
		}
	}
	if c.BootstrapExpect < 1 {
		return bad("bootstrap-expect", "must be at least 1, got %d", c.BootstrapExpect)
	}
	if c.RaftVoters < 1 {
		return bad("raft-voters", "must be at least 1, got %d", c.RaftVoters)
	}
	if c.BootstrapExpect > c.RaftVoters {
		return bad("bootstrap-expect", "%d exceeds --raft-voters %d", c.BootstrapExpect, c.RaftVoters)
	}
	if c.DeadTimeout < time.Second {
		return bad("dead-timeout", "must be at least 1s, got %s", c.DeadTimeout)
	}
	if c.Prices.PutPer1000 < 0 {
		return bad("price-put-per-1000", "must not be negative, got %v", c.Prices.PutPer1000)
	}
	if c.Prices.GetPer1000 < 0 {
		return bad("price-get-per-1000", "must not be negative, got %v", c.Prices.GetPer1000)
	}
	if err := c.validateClusterSecret(); err != nil {
		return err
	}
	if err := c.validateConnLimits(); err != nil {
		return err
	}
	if err := c.validateSecurity(); err != nil {
		return err
	}
	if c.RaftTimeoutScale <= 0 {
		c.RaftTimeoutScale = 1
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

func splitHostPort(addr string) (string, int, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("%q is not host:port: %w", addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("%q has an invalid port", addr)
	}
	return host, port, nil
}

var errShuttingDown = errors.New("agent is shutting down")
