package agent

import (
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/wisp-stream/wisp/cache"
	"github.com/wisp-stream/wisp/fsm"
)

// metrics holds the agent's Prometheus instruments. Each agent has its own
// registry, so several agents in one test process do not collide.
type metrics struct {
	reg *prometheus.Registry

	flushFiles    prometheus.Counter
	flushBytes    prometheus.Counter
	flushBatches  prometheus.Counter
	flushFailures prometheus.Counter
	putSeconds    prometheus.Histogram
	commitSeconds prometheus.Histogram
	buffered      prometheus.Gauge

	compactRuns    prometheus.Counter
	compactBytes   prometheus.Counter
	compactInputs  prometheus.Counter
	compactRefused prometheus.Counter
	compaction     compactionMetrics // gauges, in compaction_metrics.go

	// The Kafka data path's latency (see addTraffic).
	produceSeconds   prometheus.Histogram
	fetchReadSeconds prometheus.Histogram
}

func newMetrics(a *Agent) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	latency := prometheus.ExponentialBuckets(0.001, 2, 16)
	m.flushFiles = prometheus.NewCounter(prometheus.CounterOpts{Name: "wisp_flush_files_total", Help: "Data files uploaded and committed."})
	m.flushBytes = prometheus.NewCounter(prometheus.CounterOpts{Name: "wisp_flush_bytes_total", Help: "Bytes of committed data files."})
	m.flushBatches = prometheus.NewCounter(prometheus.CounterOpts{Name: "wisp_flush_batches_total", Help: "Record batches in committed data files."})
	m.flushFailures = prometheus.NewCounter(prometheus.CounterOpts{Name: "wisp_flush_failures_total", Help: "Data files whose upload or commit failed (their producers got retriable errors)."})
	m.putSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "wisp_flush_put_seconds", Help: "Time to upload one data file, retries included.", Buckets: latency})
	m.commitSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "wisp_flush_commit_seconds", Help: "Time to commit one data file's manifest through Raft.", Buckets: latency})
	m.buffered = prometheus.NewGauge(prometheus.GaugeOpts{Name: "wisp_produce_buffered_bytes", Help: "Produce bytes pending or uploading (bounded by --max-buffered-bytes)."})
	m.compactRuns = prometheus.NewCounter(prometheus.CounterOpts{Name: "wisp_compaction_runs_total", Help: "Compaction output files committed (by this agent while leader)."})
	m.compactBytes = prometheus.NewCounter(prometheus.CounterOpts{Name: "wisp_compaction_bytes_rewritten_total", Help: "Bytes of committed compaction output files."})
	m.compactInputs = prometheus.NewCounter(prometheus.CounterOpts{Name: "wisp_compaction_entries_merged_total", Help: "Manifest entries replaced by compaction."})
	m.compactRefused = prometheus.NewCounter(prometheus.CounterOpts{Name: "wisp_compaction_refused_total", Help: "Compaction outputs whose commit was refused as stale (left to the orphan scan)."})
	m.reg.MustRegister(m.compactRuns, m.compactBytes, m.compactInputs, m.compactRefused)
	m.compaction = newCompactionMetrics(m.reg)
	m.reg.MustRegister(m.flushFiles, m.flushBytes, m.flushBatches, m.flushFailures, m.putSeconds, m.commitSeconds, m.buffered,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&stateCollector{a: a})
	m.addTraffic(a)
	return m
}

// stateCollector exposes counters kept elsewhere (object store, cache, Raft)
// at scrape time, so the hot paths keep their own cheap atomics.
type stateCollector struct{ a *Agent }

var (
	descStoreRequests = prometheus.NewDesc("wisp_objstore_requests_total", "Object-store requests by kind.", []string{"op"}, nil)
	descStoreBytes    = prometheus.NewDesc("wisp_objstore_bytes_total", "Object-store bytes written (put) or read (get).", []string{"op"}, nil)
	descStoreErrors   = prometheus.NewDesc("wisp_objstore_errors_total", "Object-store requests that failed, by kind.", []string{"op"}, nil)
	descCacheHits     = prometheus.NewDesc("wisp_cache_hits_total", "Read-cache block hits.", nil, nil)
	descCacheMisses   = prometheus.NewDesc("wisp_cache_misses_total", "Read-cache block misses.", nil, nil)
	descCacheBytes    = prometheus.NewDesc("wisp_cache_bytes", "Bytes held by the read cache.", nil, nil)
	descRaftLeader    = prometheus.NewDesc("wisp_raft_leader", "1 if this agent is the Raft leader.", nil, nil)
	descRaftApplied   = prometheus.NewDesc("wisp_raft_applied_index", "Last Raft index applied to the metadata.", nil, nil)
	descTopics        = prometheus.NewDesc("wisp_topics", "Topics in the metadata.", nil, nil)
	descLevelFiles    = prometheus.NewDesc("wisp_level_files", "Live data files by compaction level (0: written by a flush).", []string{"level"}, nil)
	descLevelBytes    = prometheus.NewDesc("wisp_level_bytes", "Bytes of live data files by compaction level.", []string{"level"}, nil)
)

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descStoreRequests, descStoreBytes, descStoreErrors, descCacheHits, descCacheMisses, descCacheBytes, descRaftLeader, descRaftApplied, descTopics, descLevelFiles, descLevelBytes} {
		ch <- d
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	a := c.a
	for op, s := range a.store.Snapshot() {
		ch <- prometheus.MustNewConstMetric(descStoreRequests, prometheus.CounterValue, float64(s.Requests), string(op))
		ch <- prometheus.MustNewConstMetric(descStoreBytes, prometheus.CounterValue, float64(s.Bytes), string(op))
		ch <- prometheus.MustNewConstMetric(descStoreErrors, prometheus.CounterValue, float64(s.Errors), string(op))
	}
	var cs cache.Stats
	if a.cache != nil {
		cs = a.cache.Stats()
	}
	ch <- prometheus.MustNewConstMetric(descCacheHits, prometheus.CounterValue, float64(cs.Hits))
	ch <- prometheus.MustNewConstMetric(descCacheMisses, prometheus.CounterValue, float64(cs.Misses))
	ch <- prometheus.MustNewConstMetric(descCacheBytes, prometheus.GaugeValue, float64(cs.Bytes))
	leader := 0.0
	if a.raft.raft.State() == raft.Leader {
		leader = 1
	}
	ch <- prometheus.MustNewConstMetric(descRaftLeader, prometheus.GaugeValue, leader)
	ch <- prometheus.MustNewConstMetric(descRaftApplied, prometheus.GaugeValue, float64(a.fsm.AppliedIndex()))
	ch <- prometheus.MustNewConstMetric(descTopics, prometheus.GaugeValue, float64(len(a.fsm.Topics())))
	levels := a.fsm.Levels()
	if len(levels) == 0 || levels[0].Level != 0 {
		levels = append([]fsm.LevelStat{{Level: 0}}, levels...) // level 0 always reported
	}
	for _, l := range levels {
		lv := strconv.Itoa(int(l.Level))
		ch <- prometheus.MustNewConstMetric(descLevelFiles, prometheus.GaugeValue, float64(l.Files), lv)
		ch <- prometheus.MustNewConstMetric(descLevelBytes, prometheus.GaugeValue, float64(l.Bytes), lv)
	}
}

// addTraffic registers the data path's throughput and latency, the bucket's
// request latency, and the cluster state the console also shows.
func (m *metrics) addTraffic(a *Agent) {
	latency := prometheus.ExponentialBuckets(0.0005, 2, 18)
	m.produceSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "wisp_produce_seconds", Help: "Time from a produce request's batches entering the write path to their commit (upload plus Raft); acks=0 requests are not timed.", Buckets: latency})
	m.fetchReadSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "wisp_fetch_read_seconds", Help: "Time of one read a fetch makes through the read cache (up to one cache block of a manifest entry; from memory, a peer or the bucket); long-poll waiting is not included.", Buckets: latency})
	tr := &a.ops.traffic
	counter := func(name, help string, v *atomic.Int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(v.Load()) })
	}
	m.reg.MustRegister(m.produceSeconds, m.fetchReadSeconds, a.ops.storeSeconds,
		counter("wisp_produce_bytes_total", "Record batch bytes accepted by produce requests on this agent.", &tr.produceBytes),
		counter("wisp_produce_records_total", "Records accepted by produce requests on this agent.", &tr.produceRecords),
		counter("wisp_fetch_bytes_total", "Record batch bytes read for fetch requests on this agent.", &tr.fetchBytes),
		counter("wisp_fetch_records_total", "Records read for fetch requests on this agent.", &tr.fetchRecords),
		&clusterCollector{a: a})
}

var (
	descRaftState   = prometheus.NewDesc("wisp_raft_state", "1 for this agent's current Raft state (leader, follower, candidate, shutdown), 0 for the others.", []string{"state"}, nil)
	descRaftServers = prometheus.NewDesc("wisp_raft_servers", "Agents in the Raft configuration by suffrage (voter, nonvoter).", []string{"suffrage"}, nil)
	descRaftVoter   = prometheus.NewDesc("wisp_raft_voter", "1 if this agent is a Raft voter.", nil, nil)
	descCacheRatio  = prometheus.NewDesc("wisp_cache_hit_ratio", "Read-cache block hits over hits plus misses since start (0 before any read).", nil, nil)
	descGroups      = prometheus.NewDesc("wisp_groups", "Consumer groups with committed offsets in the metadata (cluster-wide).", nil, nil)
	descAgents      = prometheus.NewDesc("wisp_agents", "Live agents this agent sees in gossip.", nil, nil)
)

// clusterCollector reads Raft, cache and group state at scrape time.
type clusterCollector struct{ a *Agent }

func (c *clusterCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRaftState, descRaftServers, descRaftVoter, descCacheRatio, descGroups, descAgents} {
		ch <- d
	}
}

func (c *clusterCollector) Collect(ch chan<- prometheus.Metric) {
	a := c.a
	state := a.raft.raft.State()
	for _, s := range []raft.RaftState{raft.Leader, raft.Follower, raft.Candidate, raft.Shutdown} {
		v := 0.0
		if s == state {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(descRaftState, prometheus.GaugeValue, v, strings.ToLower(s.String()))
	}
	if servers, err := a.RaftServers(); err == nil {
		count := map[string]float64{"voter": 0, "nonvoter": 0}
		for _, suffrage := range servers {
			count[suffrage]++
		}
		for suffrage, n := range count {
			ch <- prometheus.MustNewConstMetric(descRaftServers, prometheus.GaugeValue, n, suffrage)
		}
		voter := 0.0
		if servers[strconv.Itoa(int(a.nodeID))] == "voter" {
			voter = 1
		}
		ch <- prometheus.MustNewConstMetric(descRaftVoter, prometheus.GaugeValue, voter)
	}
	ratio := 0.0
	if a.cache != nil {
		if cs := a.cache.Stats(); cs.Hits+cs.Misses > 0 {
			ratio = float64(cs.Hits) / float64(cs.Hits+cs.Misses)
		}
	}
	ch <- prometheus.MustNewConstMetric(descCacheRatio, prometheus.GaugeValue, ratio)
	ch <- prometheus.MustNewConstMetric(descGroups, prometheus.GaugeValue, float64(len(a.fsm.OffsetGroups())))
	ch <- prometheus.MustNewConstMetric(descAgents, prometheus.GaugeValue, float64(len(a.gossip.Members())))
}
