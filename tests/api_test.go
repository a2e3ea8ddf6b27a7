package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/wisp-stream/wisp/agent"
)

// apiCall sends one request to an agent's JSON API and returns the status
// and body; the body must be JSON whatever the status.
func apiCall(t testing.TB, ta *testAgent, method, path string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, "http://"+ta.HTTPAddr()+"/api/v1"+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("%s %s answered Content-Type %q, want JSON; body %s", method, path, ct, out)
	}
	if !json.Valid(out) {
		t.Fatalf("%s %s answered invalid JSON: %s", method, path, out)
	}
	return resp.StatusCode, out
}

// apiGet decodes a 200 answer of GET path into v.
func apiGet(t testing.TB, ta *testAgent, path string, v any) {
	t.Helper()
	status, body := apiCall(t, ta, http.MethodGet, path, nil)
	if status != http.StatusOK {
		t.Fatalf("GET %s = %d %s", path, status, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: decode %s: %v", path, body, err)
	}
}

// apiError asserts an error status and a JSON body with a message.
func apiError(t testing.TB, ta *testAgent, method, path string, body any, want int) string {
	t.Helper()
	status, out := apiCall(t, ta, method, path, body)
	var e struct{ Error string }
	if status != want || json.Unmarshal(out, &e) != nil || e.Error == "" {
		t.Fatalf("%s %s = %d %s, want %d with an error message", method, path, status, out, want)
	}
	return e.Error
}

func TestAPIAgentsOfThreeAgentCluster(t *testing.T) {
	c := startCluster(t, 3)
	var leaders []int32
	for _, ta := range c.agents {
		var resp agent.AgentsResponse
		waitFor(t, 20*time.Second, "every agent listed with its start time", func() bool {
			apiGet(t, ta, "/agents", &resp)
			if len(resp.Agents) != 3 || resp.LeaderID == 0 {
				return false
			}
			for _, a := range resp.Agents {
				if a.StartedMs == 0 || a.KafkaAddr == "" {
					return false
				}
			}
			return true
		})
		if resp.NodeID != ta.NodeID() || resp.ClusterID != ta.Metadata().ClusterID() {
			t.Fatalf("agent %d answered as node %d of cluster %q", ta.NodeID(), resp.NodeID, resp.ClusterID)
		}
		roles := map[string]int{}
		for _, a := range resp.Agents {
			roles[a.RaftRole]++
			if a.Self != (a.NodeID == ta.NodeID()) {
				t.Errorf("agent %d: self=%v for node %d", ta.NodeID(), a.Self, a.NodeID)
			}
			if a.State != "alive" || a.UptimeSeconds < 0 || a.HTTPAddr == "" || a.GossipAddr == "" {
				t.Errorf("agent %d lists %+v", ta.NodeID(), a)
			}
			if a.RaftRole == "leader" && a.NodeID != resp.LeaderID {
				t.Errorf("leader role on node %d, leaderId %d", a.NodeID, resp.LeaderID)
			}
		}
		if roles["leader"] != 1 || roles["voter"] != 2 {
			t.Fatalf("agent %d shows roles %v, want one leader and two voters", ta.NodeID(), roles)
		}
		leaders = append(leaders, resp.LeaderID)
	}
	if leaders[0] != leaders[1] || leaders[1] != leaders[2] || leaders[0] != c.leader().NodeID() {
		t.Fatalf("agents name leaders %v; the leader is %d", leaders, c.leader().NodeID())
	}
}

func TestAPITopicsCreateDescribeDelete(t *testing.T) {
	ta := startAgent(t, testConfig(t))

	status, body := apiCall(t, ta, http.MethodPost, "/topics", agent.CreateTopicRequest{Name: "orders", Partitions: 3, Configs: map[string]string{"retention.ms": "86400000"}})
	if status != http.StatusCreated {
		t.Fatalf("POST /topics = %d %s", status, body)
	}
	var created agent.TopicDetail
	if err := json.Unmarshal(body, &created); err != nil {
		t.Fatal(err)
	}
	if created.Name != "orders" || created.PartitionCount != 3 || len(created.Partitions) != 3 || created.Configs["retention.ms"] != "86400000" || created.ID == "" {
		t.Fatalf("created topic = %+v", created)
	}
	apiError(t, ta, http.MethodPost, "/topics", agent.CreateTopicRequest{Name: "orders", Partitions: 1}, http.StatusConflict)
	for _, tc := range []struct {
		name string
		body any
	}{
		{"invalid name", agent.CreateTopicRequest{Name: "bad/name", Partitions: 1}},
		{"no name", agent.CreateTopicRequest{Partitions: 1}},
		{"unknown field", map[string]any{"name": "x", "partitionz": 2}},
		{"not an object", []int{1}},
	} {
		t.Run(tc.name, func(t *testing.T) { apiError(t, ta, http.MethodPost, "/topics", tc.body, http.StatusBadRequest) })
	}

	var recs []*kgo.Record
	for i := 0; i < 30; i++ {
		recs = append(recs, &kgo.Record{Topic: "orders", Partition: int32(i % 3), Value: []byte(fmt.Sprintf("order-%d", i))})
	}
	produceAll(t, ta.client(kgo.RecordPartitioner(kgo.ManualPartitioner())), recs)

	var list agent.TopicsResponse
	apiGet(t, ta, "/topics", &list)
	if len(list.Topics) != 1 || list.Topics[0].Name != "orders" || list.Topics[0].Records != 30 {
		t.Fatalf("GET /topics = %+v", list)
	}
	var one agent.TopicDetail
	apiGet(t, ta, "/topics/orders", &one)
	for _, p := range one.Partitions {
		if p.HighWatermark != 10 || p.LogStartOffset != 0 || p.Bytes <= 0 || p.Entries < 1 || p.FilesPerLevel["0"] < 1 {
			t.Fatalf("partition %+v after 10 records each", p)
		}
	}
	if one.Bytes <= 0 || one.Records != 30 {
		t.Fatalf("topic totals %+v", one)
	}

	status, body = apiCall(t, ta, http.MethodDelete, "/topics/orders", nil)
	if status != http.StatusOK {
		t.Fatalf("DELETE /topics/orders = %d %s", status, body)
	}
	waitFor(t, 10*time.Second, "the topic gone from the replica", func() bool {
		_, ok := ta.Metadata().Topic("orders")
		return !ok
	})
	apiError(t, ta, http.MethodGet, "/topics/orders", nil, http.StatusNotFound)
	apiError(t, ta, http.MethodDelete, "/topics/orders", nil, http.StatusNotFound)
	apiError(t, ta, http.MethodGet, "/no-such-endpoint", nil, http.StatusNotFound)
}

func TestAPIThroughputAndObjstoreSumTheCluster(t *testing.T) {
	c := startCluster(t, 3)
	cl := c.agents[0].client(kgo.SeedBrokers(c.seeds()...), kgo.ProducerBatchCompression(kgo.NoCompression()))
	createTopicIfMissing(t, cl, "traffic", 6)

	// Steady produce traffic, to the agents leading the topic's partitions.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ctx.Err() == nil; i++ {
			pctx, pcancel := context.WithTimeout(ctx, 10*time.Second)
			cl.ProduceSync(pctx, &kgo.Record{Topic: "traffic", Value: bytes.Repeat([]byte("x"), 1000)})
			pcancel()
		}
	}()
	defer func() { cancel(); <-done }()

	var cluster agent.ThroughputResponse
	waitFor(t, 20*time.Second, "produce and PUT traffic in the cluster's series", func() bool {
		apiGet(t, c.agents[1], "/throughput?seconds=30", &cluster)
		return maxOf(cluster.Series, func(s agent.Sample) float64 { return s.ProduceBytesPerSec }) >= 1000 &&
			maxOf(cluster.Series, func(s agent.Sample) float64 { return s.ObjstoreRequestsPerSec["put"] }) > 0
	})
	if cluster.Scope != "cluster" || !reflect.DeepEqual(cluster.Agents, sortedIDs(c)) || len(cluster.Unreachable) != 0 {
		t.Fatalf("cluster throughput from agents %v (unreachable %v), want %v", cluster.Agents, cluster.Unreachable, sortedIDs(c))
	}
	if len(cluster.Series) > 30 {
		t.Fatalf("cluster series has %d samples for ?seconds=30", len(cluster.Series))
	}
	for i := 1; i < len(cluster.Series); i++ {
		if cluster.Series[i].T <= cluster.Series[i-1].T {
			t.Fatalf("series not in time order at %d: %d after %d", i, cluster.Series[i].T, cluster.Series[i-1].T)
		}
	}
	// Past seconds never change, so each second of the cluster's series is
	// the sum of the agents' own samples of that second.
	sums := map[int64]agent.Sample{}
	for _, ta := range c.agents {
		var local agent.ThroughputResponse
		apiGet(t, ta, "/throughput?scope=local&seconds=600", &local)
		if local.Scope != "local" || !reflect.DeepEqual(local.Agents, []int32{ta.NodeID()}) {
			t.Fatalf("local throughput of agent %d: scope %q agents %v", ta.NodeID(), local.Scope, local.Agents)
		}
		for _, smp := range local.Series {
			sum := sums[smp.T]
			sum.ProduceBytesPerSec += smp.ProduceBytesPerSec
			sum.ProduceRecordsPerSec += smp.ProduceRecordsPerSec
			sum.FetchBytesPerSec += smp.FetchBytesPerSec
			sums[smp.T] = sum
		}
	}
	for _, smp := range cluster.Series {
		want := sums[smp.T]
		if !near(smp.ProduceBytesPerSec, want.ProduceBytesPerSec) || !near(smp.ProduceRecordsPerSec, want.ProduceRecordsPerSec) || !near(smp.FetchBytesPerSec, want.FetchBytesPerSec) {
			t.Fatalf("cluster sample of second %d = %+v, the agents' own samples sum to %+v", smp.T, smp, want)
		}
	}
	apiError(t, c.agents[0], http.MethodGet, "/throughput?seconds=0", nil, http.StatusBadRequest)

	var os agent.ObjstoreResponse
	apiGet(t, c.agents[2], "/objstore?window=30&putPer1000=1&getPer1000=0.5", &os)
	if !reflect.DeepEqual(os.Agents, sortedIDs(c)) || os.WindowSeconds < 1 || os.WindowSeconds > 30 {
		t.Fatalf("objstore answer from agents %v over %ds", os.Agents, os.WindowSeconds)
	}
	var puts int64
	for _, ta := range c.agents {
		puts += ta.StoreStats()["put"].Requests
	}
	// Counted a moment apart: the cluster total is what the agents had
	// then, no more than they have now.
	if got := os.Totals["put"].Requests; got < 1 || got > puts {
		t.Fatalf("cluster put total %d; the agents now count %d", got, puts)
	}
	if os.Prices != (agent.Prices{PutPer1000: 1, GetPer1000: 0.5}) {
		t.Fatalf("prices %+v do not follow the query", os.Prices)
	}
	for kind, price := range map[string]float64{"put": 1, "list": 1, "get": 0.5, "delete": 0} {
		want := os.RequestsPerSec[kind] * 86400 / 1000 * price
		if math.Abs(os.CostPerDay[kind]-want) > 1e-9 {
			t.Fatalf("cost per day of %s = %v, want %v", kind, os.CostPerDay[kind], want)
		}
	}
	if os.RequestsPerSec["put"] <= 0 || os.CostPerDay["total"] < os.CostPerDay["put"] {
		t.Fatalf("objstore rates %v cost %v", os.RequestsPerSec, os.CostPerDay)
	}
	var defaults agent.ObjstoreResponse
	apiGet(t, c.agents[0], "/objstore", &defaults)
	if defaults.Prices != agent.DefaultPrices() {
		t.Fatalf("default prices %+v, want %+v", defaults.Prices, agent.DefaultPrices())
	}
	apiError(t, c.agents[0], http.MethodGet, "/objstore?putPer1000=-1", nil, http.StatusBadRequest)
}

func TestAPIGroupsSameOnEveryAgent(t *testing.T) {
	c := startCluster(t, 3)
	admin := kadm.NewClient(c.agents[0].client(kgo.SeedBrokers(c.seeds()...)))
	cl := c.agents[0].client(kgo.SeedBrokers(c.seeds()...))
	createTopicIfMissing(t, cl, "events", 4)
	var recs []*kgo.Record
	for i := 0; i < 40; i++ {
		recs = append(recs, &kgo.Record{Topic: "events", Partition: int32(i % 4), Value: []byte(fmt.Sprintf("e%d", i))})
	}
	produceAll(t, c.agents[0].client(kgo.SeedBrokers(c.seeds()...), kgo.RecordPartitioner(kgo.ManualPartitioner())), recs)

	// A live member that consumed and committed everything, coordinated by
	// whichever agent the group hashes to: the other two must still see it.
	consumer := c.agents[1].client(kgo.SeedBrokers(c.seeds()...), kgo.ConsumerGroup("readers"), kgo.ConsumeTopics("events"),
		kgo.ClientID("api-test-reader"), kgo.DisableAutoCommit(), kgo.FetchMaxWait(200*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for got := 0; got < len(recs); {
		fs := consumer.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records", got, len(recs))
		}
		got += fs.NumRecords()
	}
	if err := consumer.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("commit: %v", err)
	}
	// A group with committed offsets and no members, lagging behind.
	offsets := kadm.Offsets{}
	offsets.AddOffset("events", 0, 2, -1)
	if _, err := admin.CommitOffsets(ctx, "idle", offsets); err != nil {
		t.Fatalf("commit offsets of group idle: %v", err)
	}
	hw0 := hwOf(t, c.agents[0], "events", 0)

	var answers []agent.GroupsResponse
	for _, ta := range c.agents {
		var resp agent.GroupsResponse
		waitFor(t, 20*time.Second, fmt.Sprintf("agent %d describing the stable group", ta.NodeID()), func() bool {
			apiGet(t, ta, "/groups", &resp)
			return len(resp.Groups) == 2 && resp.Groups[1].State == "Stable" && len(resp.Groups[1].Members) == 1 && resp.Groups[1].TotalLag == 0
		})
		answers = append(answers, resp)
	}
	for i := 1; i < len(answers); i++ {
		if !reflect.DeepEqual(answers[0], answers[i]) {
			t.Fatalf("agents %d and %d disagree:\n%+v\n%+v", c.agents[0].NodeID(), c.agents[i].NodeID(), answers[0], answers[i])
		}
	}
	idle, readers := answers[0].Groups[0], answers[0].Groups[1]
	if idle.Group != "idle" || readers.Group != "readers" {
		t.Fatalf("groups %q, %q, want idle and readers sorted", idle.Group, readers.Group)
	}
	if readers.Type != "classic" || readers.ProtocolType != "consumer" || readers.Protocol == "" {
		t.Fatalf("readers group %+v", readers)
	}
	member := readers.Members[0]
	if member.ClientID != "api-test-reader" || len(member.Assignments) != 1 || member.Assignments[0].Topic != "events" ||
		!reflect.DeepEqual(member.Assignments[0].Partitions, []int32{0, 1, 2, 3}) {
		t.Fatalf("member %+v, want all four partitions of events", member)
	}
	if len(readers.Offsets) != 4 {
		t.Fatalf("readers offsets %+v", readers.Offsets)
	}
	var committed int64
	for _, o := range readers.Offsets {
		if o.Lag == nil || *o.Lag != 0 || o.CommittedOffset != o.HighWatermark || o.MemberID != member.MemberID {
			t.Fatalf("readers offset %+v after committing everything", o)
		}
		committed += o.CommittedOffset
	}
	if committed != int64(len(recs)) {
		t.Fatalf("readers committed %d offsets in total, want %d", committed, len(recs))
	}
	if idle.State != "Empty" || len(idle.Members) != 0 || len(idle.Offsets) != 1 {
		t.Fatalf("idle group %+v", idle)
	}
	if o := idle.Offsets[0]; o.CommittedOffset != 2 || o.Lag == nil || *o.Lag != hw0-2 || idle.TotalLag != hw0-2 {
		t.Fatalf("idle offset %+v (total lag %d), want lag %d", o, idle.TotalLag, hw0-2)
	}

	var one agent.Group
	apiGet(t, c.agents[2], "/groups/readers", &one)
	if !reflect.DeepEqual(one, readers) {
		t.Fatalf("GET /groups/readers = %+v, want %+v", one, readers)
	}
	apiError(t, c.agents[0], http.MethodGet, "/groups/nobody", nil, http.StatusNotFound)
}

func hwOf(t testing.TB, ta *testAgent, topic string, p int32) int64 {
	t.Helper()
	info, ok := ta.Metadata().Topic(topic)
	if !ok {
		t.Fatalf("no topic %s", topic)
	}
	part, _ := ta.Metadata().Partition(info.ID, p)
	return part.HighWatermark
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-6*max(1, math.Abs(b)) }

func maxOf(series []agent.Sample, f func(agent.Sample) float64) float64 {
	m := 0.0
	for _, s := range series {
		m = max(m, f(s))
	}
	return m
}

func sortedIDs(c *cluster) []int32 {
	var ids []int32
	for _, a := range c.agents {
		ids = append(ids, a.NodeID())
	}
	slices.Sort(ids)
	return ids
}
