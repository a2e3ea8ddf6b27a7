package tests

import (
	"bytes"
	"context"
	"net/http"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/twmb/franz-go/pkg/kadm"
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

// TestMetricsCoverDataPathAndCluster scrapes /metrics after produce, fetch
// and a group commit, parses the exposition format with expfmt, and checks
// each family a dashboard would chart: its type and that it moved.
func TestMetricsCoverDataPathAndCluster(t *testing.T) {
	ta := startAgent(t, testConfig(t))
	cl := ta.client()
	createTopic(t, cl, "mx", 2)
	var recs []*kgo.Record
	for i := 0; i < 50; i++ {
		recs = append(recs, &kgo.Record{Topic: "mx", Value: []byte("payload")})
	}
	produceAll(t, cl, recs)
	consumeN(t, ta, "mx", len(recs))
	offsets := kadm.Offsets{}
	offsets.AddOffset("mx", 0, 1, -1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := kadm.NewClient(cl).CommitOffsets(ctx, "mx-group", offsets); err != nil {
		t.Fatalf("commit offsets: %v", err)
	}

	families := scrapeFamilies(t, ta)
	for _, tc := range []struct {
		name string
		typ  dto.MetricType
	}{
		{"wisp_produce_seconds", dto.MetricType_HISTOGRAM},
		{"wisp_produce_bytes_total", dto.MetricType_COUNTER},
		{"wisp_produce_records_total", dto.MetricType_COUNTER},
		{"wisp_fetch_read_seconds", dto.MetricType_HISTOGRAM},
		{"wisp_fetch_bytes_total", dto.MetricType_COUNTER},
		{"wisp_fetch_records_total", dto.MetricType_COUNTER},
		{"wisp_flush_files_total", dto.MetricType_COUNTER},
		{"wisp_objstore_requests_total", dto.MetricType_COUNTER},
		{"wisp_objstore_request_seconds", dto.MetricType_HISTOGRAM},
		{"wisp_raft_state", dto.MetricType_GAUGE},
		{"wisp_raft_servers", dto.MetricType_GAUGE},
		{"wisp_cache_hit_ratio", dto.MetricType_GAUGE},
		{"wisp_groups", dto.MetricType_GAUGE},
		{"wisp_agents", dto.MetricType_GAUGE},
	} {
		f := families[tc.name]
		if f == nil || f.GetType() != tc.typ {
			t.Errorf("%s: got %v, want a %v family", tc.name, f.GetType(), tc.typ)
		}
	}

	value := scrape(t, ta)
	if got := value("wisp_produce_records_total", "", ""); got != float64(len(recs)) {
		t.Errorf("wisp_produce_records_total = %v, want %d", got, len(recs))
	}
	// Batch bytes as sent, which franz-go compressed: only that some counted.
	if got := value("wisp_produce_bytes_total", "", ""); got <= 0 {
		t.Errorf("wisp_produce_bytes_total = %v after a produce", got)
	}
	if got := value("wisp_produce_seconds", "", ""); got < 1 {
		t.Errorf("wisp_produce_seconds has %v samples after a produce", got)
	}
	if got := value("wisp_fetch_records_total", "", ""); got < float64(len(recs)) {
		t.Errorf("wisp_fetch_records_total = %v after consuming %d records", got, len(recs))
	}
	if got := value("wisp_fetch_read_seconds", "", ""); got < 1 {
		t.Errorf("wisp_fetch_read_seconds has %v samples after a fetch", got)
	}
	if got, want := value("wisp_objstore_request_seconds", "op", "put"), float64(ta.StoreStats()["put"].Requests); got < 1 || got > want {
		t.Errorf("wisp_objstore_request_seconds{op=put} has %v samples; the agent counted %v PUTs", got, want)
	}
	if value("wisp_raft_state", "state", "leader") != 1 || value("wisp_raft_state", "state", "follower") != 0 {
		t.Errorf("a single agent is not reported as the Raft leader")
	}
	if got := value("wisp_raft_servers", "suffrage", "voter"); got != 1 {
		t.Errorf("wisp_raft_servers{suffrage=voter} = %v, want 1", got)
	}
	if got := value("wisp_cache_hit_ratio", "", ""); got < 0 || got > 1 {
		t.Errorf("wisp_cache_hit_ratio = %v, not a ratio", got)
	}
	if got := value("wisp_groups", "", ""); got != 1 {
		t.Errorf("wisp_groups = %v after one group committed", got)
	}
	if got := value("wisp_agents", "", ""); got != 1 {
		t.Errorf("wisp_agents = %v on a single agent", got)
	}
}

// scrapeFamilies parses /metrics into metric families.
func scrapeFamilies(t testing.TB, ta *testAgent) map[string]*dto.MetricFamily {
	t.Helper()
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
	return families
}

// TestFetchBytesCountWhatFetchesReturn: a consumer reading a big manifest
// entry in small fetches gets each byte once, and wisp_fetch_bytes_total
// (the console's fetch throughput) says so. It used to count every read of
// the entry, whole, for each fetch: several times what was returned here.
func TestFetchBytesCountWhatFetchesReturn(t *testing.T) {
	const (
		topic   = "fetched"
		records = 256
		size    = 8 << 10
	)
	ta := startAgent(t, testConfig(t, withFlushInterval(time.Second)))
	// 32 KiB batches, all requests in flight at once, so that they land in
	// a few flushes.
	cl := ta.client(kgo.ProducerBatchMaxBytes(32<<10), kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.DisableIdempotentWrite(), kgo.MaxProduceRequestsInflightPerBroker(100))
	createTopic(t, cl, topic, 1)
	var recs []*kgo.Record
	for i := range records {
		recs = append(recs, &kgo.Record{Topic: topic, Value: bytes.Repeat([]byte{byte(i)}, size)})
	}
	produceAll(t, cl, recs)
	id := topicIDOf(t, ta, topic)
	// Entries of many 32 KiB batches, each read in several fetches.
	if es, _, _ := ta.Metadata().Entries(id, 0, 0, 100); len(es) > 8 {
		t.Fatalf("%d manifest entries, want the records in a few", len(es))
	}
	before := scrape(t, ta)("wisp_fetch_bytes_total", "", "")
	got := consumeN(t, ta, topic, records, kgo.FetchMaxPartitionBytes(64<<10))
	var values float64
	for _, r := range got {
		values += float64(len(r.Value))
	}
	counted := scrape(t, ta)("wisp_fetch_bytes_total", "", "") - before
	if counted < values || counted > 1.1*values {
		t.Fatalf("wisp_fetch_bytes_total grew by %.0f bytes for %.0f bytes of values consumed once", counted, values)
	}
}
