package tests

import (
	"net/http"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestMetricsScrape(t *testing.T) {
	ta := startAgent(t, testConfig(t))
	cl := ta.client()
	createTopic(t, cl, "m", 1)
	produceAll(t, cl, []*kgo.Record{{Topic: "m", Value: []byte("x")}})

	resp, err := http.Get("http://" + ta.HTTPAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("/metrics is not valid Prometheus text: %v", err)
	}
	value := func(name, op string) float64 {
		f := families[name]
		if f == nil {
			t.Fatalf("metric %s missing", name)
		}
		for _, m := range f.Metric {
			match := op == ""
			for _, l := range m.Label {
				if l.GetName() == "op" && l.GetValue() == op {
					match = true
				}
			}
			if !match {
				continue
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			case m.Histogram != nil:
				return float64(m.Histogram.GetSampleCount())
			}
		}
		t.Fatalf("metric %s{op=%q} missing", name, op)
		return 0
	}
	puts := ta.StoreStats()
	if got := value("wisp_objstore_requests_total", "put"); got < 1 || got != float64(puts["put"].Requests) {
		t.Fatalf("wisp_objstore_requests_total{op=put} = %v, agent counted %d", got, puts["put"].Requests)
	}
	if got := value("wisp_flush_files_total", ""); got < 1 {
		t.Fatalf("wisp_flush_files_total = %v after a produce", got)
	}
	if got := value("wisp_flush_commit_seconds", ""); got < 1 {
		t.Fatalf("commit latency histogram has %v samples", got)
	}
	if got := value("wisp_raft_leader", ""); got != 1 {
		t.Fatalf("wisp_raft_leader = %v on a single agent", got)
	}
	if got := value("wisp_topics", ""); got != 1 {
		t.Fatalf("wisp_topics = %v", got)
	}
}
