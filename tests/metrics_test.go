package tests

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

func TestMetricsScrape(t *testing.T) {
	ta := startAgent(t, testConfig(t))
	cl := ta.client()
	createTopic(t, cl, "m", 1)
	produceAll(t, cl, []*kgo.Record{{Topic: "m", Value: []byte("x")}})

	scraped := scrape(t, ta)
	value := func(name, op string) float64 {
		if op == "" {
			return scraped(name, "", "")
		}
		return scraped(name, "op", op)
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
