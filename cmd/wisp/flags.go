package main

import (
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/wisp-stream/wisp/agent"
)

// agentFlags registers every agent flag on fs with the given defaults. Each
// flag is also read from WISP_<FLAG_NAME> and from the --config file; flags
// win over the environment, which wins over the file.
func agentFlags(fs *pflag.FlagSet, d agent.Config) {
	fs.String("config", "", "config file (YAML, TOML or JSON) with any of these flags as keys")
	fs.Int32("node-id", d.NodeID, "broker id and Raft id of this agent; 0 picks one and remembers it in --data-dir")
	fs.String("kafka-addr", d.KafkaAddr, "address the Kafka listener binds")
	fs.String("advertise-addr", d.AdvertiseAddr, "host:port clients are told to connect to (default: --kafka-addr, with the hostname for an unspecified host)")
	fs.String("http-addr", d.HTTPAddr, "address of the HTTP listener (console at /, /api/v1/, /metrics, /healthz, /readyz)")
	fs.String("bucket-url", d.BucketURL, "object store holding all data: file:///path or mem://name")
	fs.String("data-dir", d.DataDir, "directory for the Raft log, snapshots and node id (no record data)")
	fs.String("raft-addr", d.RaftAddr, "address the Raft transport binds")
	fs.Duration("flush-interval", d.FlushInterval, "seal and upload the pending file this long after its first batch")
	fs.String("flush-bytes", byteString(d.FlushBytes), "seal and upload the pending file once it holds this many bytes (e.g. 8MiB)")
	fs.String("max-buffered-bytes", byteString(d.MaxBufferedBytes), "produce data held in memory before producers wait (back-pressure)")
	fs.String("max-request-bytes", byteString(int64(d.MaxRequestBytes)), "largest Kafka request frame accepted; larger ones close the connection")
	fs.Bool("auto-create-topics", d.AutoCreateTopics, "create unknown topics when clients ask for them, as Kafka does")
	fs.Int32("default-partitions", d.DefaultPartitions, "partition count of auto-created topics")
	fs.String("cache-bytes", byteString(d.CacheBytes), "memory for the read cache")
	fs.String("gossip-addr", d.GossipAddr, "address memberlist gossip binds (TCP and UDP)")
	fs.StringSlice("join", d.Join, "gossip addresses (host:port) of running agents to join, comma-separated")
	fs.Bool("retry-join", d.RetryJoin, "keep retrying --join at start-up instead of failing")
	fs.String("gossip-key", d.GossipKey, "base64 key (16, 24 or 32 bytes) encrypting gossip; the same on every agent")
	fs.Int("bootstrap-expect", d.BootstrapExpect, "agents that form the first Raft voters together; 1 without --join starts a cluster of one")
	fs.Int("raft-voters", d.RaftVoters, "Raft voters the leader keeps; further agents follow as non-voters")
	fs.Duration("dead-timeout", d.DeadTimeout, "how long an agent may be gone from gossip before it is removed from Raft")
	fs.String("az", d.AZ, "availability zone of this agent (the broker rack; clients with wisp_az=ZONE in client.id prefer it)")
	fs.Duration("orphan-scan-interval", d.OrphanScanInterval, "how often the bucket is reconciled against the manifest to delete uploaded-but-never-committed objects")
	fs.Duration("orphan-grace", d.OrphanGrace, "only objects older than this can be deleted as orphans (must outlast any upload plus its commit)")
	fs.Duration("dead-file-grace", d.DeadFileGrace, "how long files of deleted topics stay readable for in-flight fetches before deletion")
	fs.Int("compaction-fan-in", d.CompactionFanIn, "entries of one level a partition must have before compaction merges them into the next (level-0 flushes into level 1, level 1 into level 2; 0 disables)")
	fs.String("log-level", "info", "debug, info, warn or error")
	securityFlags(fs, d)
	fs.Float64("price-put-per-1000", d.Prices.PutPer1000, "dollars per 1,000 PUT (and LIST) requests, for the console's object-store cost estimate")
	fs.Float64("price-get-per-1000", d.Prices.GetPer1000, "dollars per 1,000 GET requests, for the console's object-store cost estimate")
	fs.Bool("pprof", d.Pprof, "serve net/http/pprof under /debug/pprof/ on the HTTP listener (profiling; keep that listener private)")
	fs.String("cluster-secret", "", "shared secret authenticating agent-to-agent traffic (gossip, Raft, internal HTTP); the same on every agent, at least 16 characters (prefer WISP_CLUSTER_SECRET or --cluster-secret-file)")
	fs.String("cluster-secret-file", "", "file holding the cluster secret (surrounding whitespace ignored)")
	fs.Int("max-connections", d.MaxConnections, "Kafka connections served at once; further ones are closed at accept")
	fs.Duration("request-read-timeout", d.RequestReadTimeout, "close a Kafka connection whose request does not arrive in full within this time of waiting (slow clients)")
	fs.Duration("connections-max-idle", d.ConnectionsMaxIdle, "close a Kafka connection with no traffic and no request in progress for this long")
	fs.String("max-pending-request-bytes", byteString(d.MaxPendingRequestBytes), "memory for Kafka requests being received, over all connections (at least --max-request-bytes)")
}

// loadAgentConfig reads flags, WISP_* variables and the config file into an
// agent.Config. Errors name the flag.
func loadAgentConfig(cmd *cobra.Command) (agent.Config, error) {
	v := viper.New()
	v.SetEnvPrefix("WISP")
	v.SetEnvKeyReplacer(strings.NewReplacer("-", "_"))
	v.AutomaticEnv()
	if err := v.BindPFlags(cmd.Flags()); err != nil {
		return agent.Config{}, err
	}
	if path := v.GetString("config"); path != "" {
		v.SetConfigFile(path)
		if err := v.ReadInConfig(); err != nil {
			return agent.Config{}, &agent.FlagError{Flag: "config", Err: err}
		}
	}
	var c agent.Config
	var err error
	bad := func(flag string, e error) error { return &agent.FlagError{Flag: flag, Err: e} }
	if c.NodeID, err = getInt32(v, "node-id"); err != nil {
		return c, bad("node-id", err)
	}
	c.KafkaAddr = v.GetString("kafka-addr")
	c.AdvertiseAddr = v.GetString("advertise-addr")
	c.HTTPAddr = v.GetString("http-addr")
	c.BucketURL = v.GetString("bucket-url")
	c.DataDir = v.GetString("data-dir")
	c.RaftAddr = v.GetString("raft-addr")
	c.GossipAddr = v.GetString("gossip-addr")
	c.Join = v.GetStringSlice("join")
	if c.RetryJoin, err = strconv.ParseBool(v.GetString("retry-join")); err != nil {
		return c, bad("retry-join", err)
	}
	c.GossipKey = v.GetString("gossip-key")
	if err := loadSecurityConfig(v, &c); err != nil {
		return c, err
	}
	c.ClusterSecret = v.GetString("cluster-secret")
	c.ClusterSecretFile = v.GetString("cluster-secret-file")
	if c.MaxConnections, err = strconv.Atoi(v.GetString("max-connections")); err != nil {
		return c, bad("max-connections", fmt.Errorf("%q is not an integer", v.GetString("max-connections")))
	}
	if c.MaxPendingRequestBytes, err = parseBytes(v.GetString("max-pending-request-bytes")); err != nil {
		return c, bad("max-pending-request-bytes", err)
	}
	c.AZ = v.GetString("az")
	for _, n := range []struct {
		flag string
		dst  *int
	}{{"bootstrap-expect", &c.BootstrapExpect}, {"raft-voters", &c.RaftVoters}, {"compaction-fan-in", &c.CompactionFanIn}} {
		if *n.dst, err = strconv.Atoi(v.GetString(n.flag)); err != nil {
			return c, bad(n.flag, fmt.Errorf("%q is not an integer", v.GetString(n.flag)))
		}
	}
	for _, d := range []struct {
		flag string
		dst  *time.Duration
	}{{"dead-timeout", &c.DeadTimeout}, {"flush-interval", &c.FlushInterval}, {"orphan-scan-interval", &c.OrphanScanInterval}, {"orphan-grace", &c.OrphanGrace}, {"dead-file-grace", &c.DeadFileGrace}, {"request-read-timeout", &c.RequestReadTimeout}, {"connections-max-idle", &c.ConnectionsMaxIdle}} {
		if *d.dst, err = time.ParseDuration(v.GetString(d.flag)); err != nil {
			return c, bad(d.flag, err)
		}
	}
	for _, s := range []struct {
		flag string
		dst  *int64
	}{{"flush-bytes", &c.FlushBytes}, {"max-buffered-bytes", &c.MaxBufferedBytes}, {"cache-bytes", &c.CacheBytes}} {
		if *s.dst, err = parseBytes(v.GetString(s.flag)); err != nil {
			return c, bad(s.flag, err)
		}
	}
	mrb, err := parseBytes(v.GetString("max-request-bytes"))
	if err != nil || mrb > 1<<31-1 {
		return c, bad("max-request-bytes", fmt.Errorf("%q is not a size below 2GiB", v.GetString("max-request-bytes")))
	}
	c.MaxRequestBytes = int32(mrb)
	if c.AutoCreateTopics, err = strconv.ParseBool(v.GetString("auto-create-topics")); err != nil {
		return c, bad("auto-create-topics", err)
	}
	if c.Pprof, err = strconv.ParseBool(v.GetString("pprof")); err != nil {
		return c, bad("pprof", err)
	}
	if c.DefaultPartitions, err = getInt32(v, "default-partitions"); err != nil {
		return c, bad("default-partitions", err)
	}
	for _, p := range []struct {
		flag string
		dst  *float64
	}{{"price-put-per-1000", &c.Prices.PutPer1000}, {"price-get-per-1000", &c.Prices.GetPer1000}} {
		if *p.dst, err = strconv.ParseFloat(v.GetString(p.flag), 64); err != nil {
			return c, bad(p.flag, fmt.Errorf("%q is not a price in dollars", v.GetString(p.flag)))
		}
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(v.GetString("log-level"))); err != nil {
		return c, bad("log-level", err)
	}
	c.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	c.RaftTimeoutScale = 1
	return c, nil
}

func getInt32(v *viper.Viper, key string) (int32, error) {
	n, err := strconv.ParseInt(v.GetString(key), 10, 32)
	if err != nil {
		return 0, fmt.Errorf("%q is not a 32-bit integer", v.GetString(key))
	}
	return int32(n), nil
}

// parseBytes reads sizes such as 1048576, 512KiB, 8MiB, 4MB or 1GiB.
func parseBytes(s string) (int64, error) {
	s = strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a size (use e.g. 1048576, 512KiB, 8MiB, 1GiB)", s)
	}
	return n * mult, nil
}

func byteString(n int64) string {
	switch {
	case n != 0 && n%(1<<30) == 0:
		return strconv.FormatInt(n>>30, 10) + "GiB"
	case n != 0 && n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + "MiB"
	case n != 0 && n%(1<<10) == 0:
		return strconv.FormatInt(n>>10, 10) + "KiB"
	}
	return strconv.FormatInt(n, 10)
}
