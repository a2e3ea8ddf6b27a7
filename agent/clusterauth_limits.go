package agent

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wisp-stream/wisp/kafka"
)

// validateConnLimits checks the Kafka connection limits; zero takes the
// default, so a Config built by hand keeps working.
func (c *Config) validateConnLimits() error {
	bad := func(flag, format string, args ...any) error {
		return &FlagError{Flag: flag, Err: fmt.Errorf(format, args...)}
	}
	if c.MaxConnections == 0 {
		c.MaxConnections = kafka.DefaultMaxConnections
	}
	if c.RequestReadTimeout == 0 {
		c.RequestReadTimeout = kafka.DefaultRequestReadTimeout
	}
	if c.ConnectionsMaxIdle == 0 {
		c.ConnectionsMaxIdle = kafka.DefaultConnectionsMaxIdle
	}
	if c.MaxPendingRequestBytes == 0 {
		c.MaxPendingRequestBytes = max(kafka.DefaultMaxPendingRequestBytes, int64(c.MaxRequestBytes))
	}
	switch {
	case c.MaxConnections < 1:
		return bad("max-connections", "must be at least 1, got %d", c.MaxConnections)
	case c.RequestReadTimeout < 100*time.Millisecond:
		return bad("request-read-timeout", "must be at least 100ms, got %s", c.RequestReadTimeout)
	case c.ConnectionsMaxIdle < time.Second:
		return bad("connections-max-idle", "must be at least 1s, got %s", c.ConnectionsMaxIdle)
	case c.MaxPendingRequestBytes < int64(c.MaxRequestBytes):
		return bad("max-pending-request-bytes", "must be at least --max-request-bytes (%d), got %d", c.MaxRequestBytes, c.MaxPendingRequestBytes)
	}
	return nil
}

// securityCollector exposes the connection limits' and the cluster
// authentication's counters at scrape time.
type securityCollector struct{ a *Agent }

var (
	descKafkaConns                            = prometheus.NewDesc("wisp_kafka_connections", "Kafka connections being served.", nil, nil)
	descKafkaAccepted                         = prometheus.NewDesc("wisp_kafka_connections_accepted_total", "Kafka connections accepted.", nil, nil)
	descKafkaRefused                          = prometheus.NewDesc("wisp_kafka_connections_refused_total", "Kafka connections closed at accept because --max-connections was reached.", nil, nil)
	descKafkaClosed                           = prometheus.NewDesc("wisp_kafka_connections_closed_total", "Kafka connections closed by a limit: idle (--connections-max-idle), slow (--request-read-timeout), memory (--max-pending-request-bytes), unread (responses not read within --request-read-timeout).", []string{"reason"}, nil)
	descKafkaPending                          = prometheus.NewDesc("wisp_kafka_pending_request_bytes", "Memory reserved for Kafka requests being received (bounded by --max-pending-request-bytes).", nil, nil)
	descInternalRequests                      = prometheus.NewDesc("wisp_internal_http_requests_total", "Agent-to-agent HTTP requests by route and result (refused: failed cluster authentication).", []string{"route", "result"}, nil)
	descRaftHandshakes                        = prometheus.NewDesc("wisp_raft_handshakes_total", "Raft connections by cluster-authentication result (only with --cluster-secret).", []string{"result"}, nil)
	securityDescriptions                      = []*prometheus.Desc{descKafkaConns, descKafkaAccepted, descKafkaRefused, descKafkaClosed, descKafkaPending, descInternalRequests, descRaftHandshakes}
	_                    prometheus.Collector = (*securityCollector)(nil)
)

func (c *securityCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range securityDescriptions {
		ch <- d
	}
}

func (c *securityCollector) Collect(ch chan<- prometheus.Metric) {
	a := c.a
	if a.kafka != nil {
		s := a.kafka.ConnStats()
		ch <- prometheus.MustNewConstMetric(descKafkaConns, prometheus.GaugeValue, float64(s.Open))
		ch <- prometheus.MustNewConstMetric(descKafkaAccepted, prometheus.CounterValue, float64(s.Accepted))
		ch <- prometheus.MustNewConstMetric(descKafkaRefused, prometheus.CounterValue, float64(s.Refused))
		ch <- prometheus.MustNewConstMetric(descKafkaClosed, prometheus.CounterValue, float64(s.IdleClosed), "idle")
		ch <- prometheus.MustNewConstMetric(descKafkaClosed, prometheus.CounterValue, float64(s.SlowClosed), "slow")
		ch <- prometheus.MustNewConstMetric(descKafkaClosed, prometheus.CounterValue, float64(s.BudgetExceeded), "memory")
		ch <- prometheus.MustNewConstMetric(descKafkaClosed, prometheus.CounterValue, float64(s.Unread), "unread")
		ch <- prometheus.MustNewConstMetric(descKafkaPending, prometheus.GaugeValue, float64(s.PendingBytes))
	}
	if a.httpAuth != nil {
		for k, n := range a.httpAuth.snapshot() {
			ch <- prometheus.MustNewConstMetric(descInternalRequests, prometheus.CounterValue, float64(n), k[0], k[1])
		}
	}
	if s := a.raft.auth; s != nil {
		ch <- prometheus.MustNewConstMetric(descRaftHandshakes, prometheus.CounterValue, float64(s.accepted.Load()), "accepted")
		ch <- prometheus.MustNewConstMetric(descRaftHandshakes, prometheus.CounterValue, float64(s.refused.Load()), "refused")
	}
}
