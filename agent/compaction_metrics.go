package agent

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// compactionMetrics are the compactor's gauges. They are set on the Raft
// leader, the only agent that compacts; elsewhere they stay at zero.
type compactionMetrics struct {
	// backlog is, per input level, the entries at that level in partitions
	// where the last pass found a window to merge: the work compaction is
	// behind by. It drops to zero once a pass finds nothing to do.
	backlog *prometheus.GaugeVec
	// inFlight is 1 while a compaction job (read, build, PUT, commit) runs.
	inFlight prometheus.Gauge
}

func newCompactionMetrics(reg prometheus.Registerer) compactionMetrics {
	m := compactionMetrics{
		backlog: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "wisp_compaction_backlog_entries",
			Help: "Manifest entries at each input level in partitions due for compaction, as of the last pass (leader only)."}, []string{"level"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{Name: "wisp_compaction_in_flight",
			Help: "1 while a compaction job is building, uploading or committing its output file."}),
	}
	for level := range maxCompactionLevel {
		m.backlog.WithLabelValues(levelLabel(int32(level))) // reported from the start, at zero
	}
	reg.MustRegister(m.backlog, m.inFlight)
	return m
}

func levelLabel(level int32) string { return strconv.Itoa(int(level)) }
