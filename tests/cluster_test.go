package tests

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/wisp-stream/wisp/objstore"
)

// cluster is N in-process agents sharing one bucket, joined by gossip.
type cluster struct {
	t      *testing.T
	bucket string
	agents []*testAgent
}

// startCluster starts n agents: the first bootstraps, the others --join it.
func startCluster(t *testing.T, n int, opts ...agentOption) *cluster {
	t.Helper()
	c := &cluster{t: t, bucket: backends[0].bucket(t)}
	for i := 0; i < n; i++ {
		c.add(opts...)
	}
	c.waitVoters(min(n, 3))
	return c
}

// add starts one more agent joined to the first.
func (c *cluster) add(opts ...agentOption) *testAgent {
	c.t.Helper()
	cfg := testConfig(c.t, append([]agentOption{withBucket(c.bucket)}, opts...)...)
	if len(c.agents) > 0 {
		cfg.Join = []string{c.agents[0].GossipAddr()}
	}
	ta := startAgent(c.t, cfg)
	c.agents = append(c.agents, ta)
	return ta
}

// restart stops agent i gracefully and starts it again on its data dir,
// joining the others' gossip as an operator would with --join.
func (c *cluster) restart(i int) *testAgent {
	c.t.Helper()
	old := c.agents[i]
	old.stop()
	old.crashed = true
	cfg := old.cfg
	cfg.KafkaAddr, cfg.HTTPAddr, cfg.GossipAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.Join = nil
	for _, a := range c.live() {
		cfg.Join = append(cfg.Join, a.GossipAddr())
	}
	c.agents[i] = startAgent(c.t, cfg)
	return c.agents[i]
}

func (c *cluster) live() []*testAgent {
	var out []*testAgent
	for _, a := range c.agents {
		if !a.crashed {
			out = append(out, a)
		}
	}
	return out
}

// follower returns a live agent other than the Raft leader.
func (c *cluster) follower() *testAgent {
	leader := c.leader()
	for _, a := range c.live() {
		if a != leader {
			return a
		}
	}
	c.t.Fatal("no live agent besides the leader")
	return nil
}

func (c *cluster) leader() *testAgent {
	for _, a := range c.live() {
		if a.IsLeader() {
			return a
		}
	}
	return nil
}

// waitVoters waits until the live agents' Raft configuration has this many voters.
func (c *cluster) waitVoters(n int) {
	c.t.Helper()
	waitFor(c.t, 30*time.Second, fmt.Sprintf("%d raft voters", n), func() bool {
		l := c.leader()
		if l == nil {
			return false
		}
		servers, err := l.RaftServers()
		if err != nil {
			return false
		}
		v := 0
		for _, s := range servers {
			if s == "voter" {
				v++
			}
		}
		return v == n
	})
}

func (c *cluster) seeds() []string {
	var s []string
	for _, a := range c.live() {
		s = append(s, a.AdvertisedAddr())
	}
	return s
}

func TestClusterAnyAgentServesAnyPartition(t *testing.T) {
	c := startCluster(t, 3)
	// Metadata from every agent lists every agent, with leaders spread.
	for _, a := range c.agents {
		cl := a.client()
		createTopicIfMissing(t, cl, "spread", 12)
		var resp *kmsg.MetadataResponse
		// A follower applies the creation a moment after the leader, as
		// Kafka brokers learn of new topics: clients retry until it shows.
		waitFor(t, 10*time.Second, "the topic in every agent's metadata", func() bool {
			req := kmsg.NewPtrMetadataRequest()
			topic := "spread"
			req.Topics = []kmsg.MetadataRequestTopic{{Topic: &topic}}
			var err error
			resp, err = req.RequestWith(context.Background(), cl)
			return err == nil && len(resp.Topics) == 1 && len(resp.Topics[0].Partitions) == 12
		})
		if len(resp.Brokers) != 3 {
			t.Fatalf("agent %d lists %d brokers, want 3", a.NodeID(), len(resp.Brokers))
		}
		leaders := map[int32]bool{}
		for _, p := range resp.Topics[0].Partitions {
			leaders[p.Leader] = true
		}
		if len(leaders) < 2 {
			t.Fatalf("all 12 partitions led by %v: leaders must spread over agents", leaders)
		}
	}
	// Produce through each agent alone (followers forward their commits),
	// consume everything through another.
	var want []*kgo.Record
	for i, a := range c.agents {
		cl := a.client(kgo.SeedBrokers(a.AdvertisedAddr()))
		var recs []*kgo.Record
		for j := range 200 {
			recs = append(recs, &kgo.Record{Topic: "spread", Value: fmt.Appendf(nil, "via-%d-%d", i, j)})
		}
		produceAll(t, cl, recs)
		want = append(want, recs...)
	}
	got := consumeN(t, c.agents[2], "spread", len(want))
	seen := map[string]bool{}
	for _, r := range got {
		if seen[string(r.Value)] {
			t.Fatalf("%s consumed twice", r.Value)
		}
		seen[string(r.Value)] = true
	}
	for _, r := range want {
		if !seen[string(r.Value)] {
			t.Fatalf("%s was acked but not consumed", r.Value)
		}
	}
}

func createTopicIfMissing(t testing.TB, cl *kgo.Client, topic string, partitions int32) {
	t.Helper()
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, partitions, -1
	req.Topics = append(req.Topics, rt)
	req.TimeoutMillis = 10000
	resp, err := req.RequestWith(context.Background(), cl)
	if err != nil {
		t.Fatal(err)
	}
	if code := resp.Topics[0].ErrorCode; code != 0 && code != 36 {
		t.Fatalf("create topic: error %d", code)
	}
}

func TestClusterLeaderKilledWhileProducing(t *testing.T) {
	c := startCluster(t, 3)
	createTopicIfMissing(t, c.agents[0].client(), "survive", 6)
	cl := c.agents[0].client(kgo.SeedBrokers(c.seeds()...), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordDeliveryTimeout(2*time.Minute), kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }))

	var (
		mu       sync.Mutex
		acked    = map[string]bool{}
		lastAck  atomic.Int64
		maxGap   atomic.Int64
		produced atomic.Int64
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // ~10,000 records/s
		defer wg.Done()
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			for j := range 10 {
				v := fmt.Sprintf("r-%d-%d", i, j)
				produced.Add(1)
				wg.Add(1)
				cl.Produce(context.Background(), &kgo.Record{Topic: "survive", Value: []byte(v)}, func(_ *kgo.Record, err error) {
					defer wg.Done()
					if err != nil {
						t.Errorf("record %s failed: %v", v, err)
						return
					}
					now := time.Now().UnixNano()
					if prev := lastAck.Swap(now); prev != 0 && now-prev > maxGap.Load() {
						maxGap.Store(now - prev)
					}
					mu.Lock()
					acked[v] = true
					mu.Unlock()
				})
			}
		}
	}()
	time.Sleep(time.Second)
	old := c.leader()
	old.crash()
	t.Logf("crashed leader %d", old.NodeID())
	waitFor(t, 30*time.Second, "a new leader", func() bool { return c.leader() != nil })
	time.Sleep(2 * time.Second)
	close(stop)
	wg.Wait()
	if t.Failed() {
		return
	}
	t.Logf("produced %d records; longest gap between acks %s", produced.Load(), time.Duration(maxGap.Load()))
	got := consumeN(t, c.live()[0], "survive", len(acked))
	seen := map[string]bool{}
	for _, r := range got {
		if seen[string(r.Value)] {
			t.Fatalf("%s read twice", r.Value)
		}
		seen[string(r.Value)] = true
		if !acked[string(r.Value)] {
			t.Fatalf("%s read but never acked", r.Value)
		}
	}
}

func TestClusterJoinAndLeaveWhileProducing(t *testing.T) {
	c := startCluster(t, 2)
	createTopicIfMissing(t, c.agents[0].client(), "elastic", 6)
	cl := c.agents[0].client(kgo.SeedBrokers(c.seeds()...), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.MetadataMinAge(100*time.Millisecond), kgo.MetadataMaxAge(500*time.Millisecond), kgo.RecordDeliveryTimeout(time.Minute))
	produceRound := func(tag string) []*kgo.Record {
		var recs []*kgo.Record
		for i := range 300 {
			recs = append(recs, &kgo.Record{Topic: "elastic", Value: fmt.Appendf(nil, "%s-%d", tag, i)})
		}
		return recs
	}
	var all []*kgo.Record
	all = append(all, produceRound("before")...)
	produceAll(t, cl, all)

	third := c.add()
	c.waitVoters(3)
	// The new agent serves produce and fetch.
	direct := third.client(kgo.SeedBrokers(third.AdvertisedAddr()))
	mid := produceRound("via-new")
	produceAll(t, direct, mid)
	all = append(all, mid...)

	// A graceful leave: clients see only retriable errors, then carry on.
	c.agents[1].stop()
	c.agents[1].crashed = true // already stopped; keep it out of live()
	waitFor(t, 30*time.Second, "the leaving agent to leave raft", func() bool {
		l := c.leader()
		if l == nil {
			return false
		}
		s, _ := l.RaftServers()
		_, still := s[fmt.Sprint(c.agents[1].NodeID())]
		return !still
	})
	after := produceRound("after")
	produceAll(t, cl, after)
	all = append(all, after...)
	got := consumeN(t, third, "elastic", len(all))
	seen := map[string]bool{}
	for _, r := range got {
		seen[string(r.Value)] = true
	}
	for _, r := range all {
		if !seen[string(r.Value)] {
			t.Fatalf("%s acked but not consumed", r.Value)
		}
	}
}

// TestSharedCacheOneGetPerBlock: three readers on three agents read the same
// data; each 4 MiB block is fetched from the bucket about once, by its
// owner, not once per reader.
func TestSharedCacheOneGetPerBlock(t *testing.T) {
	c := startCluster(t, 3)
	writer := c.agents[0]
	cl := writer.client(kgo.SeedBrokers(writer.AdvertisedAddr()), kgo.ProducerBatchCompression(kgo.NoCompression()))
	createTopicIfMissing(t, cl, "hot", 3)
	value := make([]byte, 4000)
	var recs []*kgo.Record
	for i := range 6000 { // ~24 MiB over several files
		v := append([]byte(fmt.Sprintf("%06d", i)), value...)
		recs = append(recs, &kgo.Record{Topic: "hot", Value: v})
	}
	produceAll(t, cl, recs)

	// Partition leaders, and so writers, are spread over the agents, and a
	// writer keeps what it wrote. Restart them all so no agent holds the
	// data: every block must now come from the bucket, about once.
	for i := range c.agents {
		c.restart(i)
		c.waitVoters(3)
	}
	var objs []objstoreInfo
	for _, o := range listData(t, c) {
		objs = append(objs, o)
	}
	blocks := int64(0)
	for _, o := range objs {
		blocks += (o.size + 4<<20 - 1) / (4 << 20)
	}
	gets := func() int64 {
		var n int64
		for _, a := range c.live() {
			n += a.StoreStats()["get"].Requests
		}
		return n
	}
	before := gets()
	var wg sync.WaitGroup
	for _, a := range c.live() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			consumeN(t, a, "hot", len(recs))
		}()
	}
	wg.Wait()
	used := gets() - before
	for _, a := range c.live() {
		t.Logf("agent %d: %+v", a.NodeID(), a.StoreStats()["get"])
	}
	t.Logf("%d data files, %d blocks; 3 readers on 3 agents caused %d GETs", len(objs), blocks, used)
	if used > blocks+int64(len(objs)) || used >= 3*blocks {
		t.Fatalf("%d GETs for %d blocks read by 3 agents: the shared cache must fetch each block about once", used, blocks)
	}
}

type objstoreInfo struct {
	key  string
	size int64
}

func listData(t *testing.T, c *cluster) []objstoreInfo {
	t.Helper()
	st, err := objstore.Open(context.Background(), c.bucket)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := st.List(context.Background(), "wisp/")
	if err != nil {
		t.Fatal(err)
	}
	var out []objstoreInfo
	for _, o := range objs {
		out = append(out, objstoreInfo{o.Key, o.Size})
	}
	return out
}

// TestClusterVotersAndNonVoters: a fourth agent follows as a non-voter and
// serves reads from its replica; when a voter dies, the leader removes it
// after --dead-timeout and promotes the non-voter.
func TestClusterVotersAndNonVoters(t *testing.T) {
	c := startCluster(t, 4)
	fourth := c.agents[3]
	roles := func() map[string]string {
		l := c.leader()
		if l == nil {
			return nil
		}
		s, _ := l.RaftServers()
		return s
	}
	waitFor(t, 20*time.Second, "3 voters and 1 non-voter", func() bool {
		r := roles()
		v, nv := 0, 0
		for _, s := range r {
			switch s {
			case "voter":
				v++
			case "nonvoter":
				nv++
			}
		}
		return v == 3 && nv == 1
	})
	createTopicIfMissing(t, c.agents[0].client(), "replicated", 2)
	waitFor(t, 10*time.Second, "the topic on the non-voter's replica", func() bool {
		_, ok := fourth.Metadata().Topic("replicated")
		return ok
	})
	nonVoter := ""
	for id, s := range roles() {
		if s == "nonvoter" {
			nonVoter = id
		}
	}
	// Kill a voter that is not the leader.
	var victim *testAgent
	for _, a := range c.live() {
		if id := fmt.Sprint(a.NodeID()); roles()[id] == "voter" && !a.IsLeader() {
			victim = a
			break
		}
	}
	victim.crash()
	waitFor(t, 30*time.Second, "the dead voter removed and the non-voter promoted", func() bool {
		r := roles()
		_, dead := r[fmt.Sprint(victim.NodeID())]
		return !dead && r[nonVoter] == "voter"
	})
}

// TestClusterGroupCoordinatorFailover: the coordinator of a group is one
// agent chosen by hashing the group id; when it dies, FindCoordinator points
// elsewhere and the member carries on from its committed offsets.
func TestClusterGroupCoordinatorFailover(t *testing.T) {
	c := startCluster(t, 3)
	admin := c.agents[0].client(kgo.SeedBrokers(c.seeds()...))
	createTopicIfMissing(t, admin, "orders", 6)
	var first []*kgo.Record
	for i := range 300 {
		first = append(first, &kgo.Record{Topic: "orders", Value: fmt.Appendf(nil, "a-%d", i)})
	}
	produceAll(t, admin, first)

	consumer := c.agents[0].client(kgo.SeedBrokers(c.seeds()...), kgo.ConsumerGroup("billing"), kgo.ConsumeTopics("orders"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond),
		kgo.SessionTimeout(6*time.Second), kgo.HeartbeatInterval(500*time.Millisecond), kgo.RetryTimeout(time.Minute))
	seen := map[string]bool{}
	poll := func(want int) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		for len(seen) < want {
			fs := consumer.PollFetches(ctx)
			if ctx.Err() != nil {
				t.Fatalf("consumed %d of %d distinct records", len(seen), want)
			}
			for _, r := range fs.Records() {
				seen[string(r.Value)] = true
			}
		}
		// After a coordinator moves, the member is unknown to the new one
		// and rejoins; commits succeed again once it has.
		for {
			err := consumer.CommitUncommittedOffsets(ctx)
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("commit: %v", err)
			}
			consumer.PollRecords(ctx, 1)
		}
	}
	poll(300)

	req := kmsg.NewPtrFindCoordinatorRequest()
	req.CoordinatorKey = "billing"
	resp, err := req.RequestWith(context.Background(), admin)
	if err != nil || resp.ErrorCode != 0 {
		t.Fatalf("find coordinator: %v %v", err, resp)
	}
	var coord *testAgent
	for _, a := range c.agents {
		if a.NodeID() == resp.NodeID {
			coord = a
		}
	}
	if coord == nil {
		t.Fatalf("coordinator %d is not one of the agents", resp.NodeID)
	}
	coord.crash()
	t.Logf("crashed coordinator %d", coord.NodeID())
	waitFor(t, 30*time.Second, "another coordinator", func() bool {
		resp, err := req.RequestWith(context.Background(), c.live()[0].client(kgo.SeedBrokers(c.seeds()...)))
		return err == nil && resp.ErrorCode == 0 && resp.NodeID != coord.NodeID()
	})
	producer := c.live()[0].client(kgo.SeedBrokers(c.seeds()...))
	var second []*kgo.Record
	for i := range 300 {
		second = append(second, &kgo.Record{Topic: "orders", Value: fmt.Appendf(nil, "b-%d", i)})
	}
	produceAll(t, producer, second)
	poll(600)
	for _, r := range append(first, second...) {
		if !seen[string(r.Value)] {
			t.Fatalf("%s was never consumed", r.Value)
		}
	}
}

// TestClusterTopicVisibleEverywhereAtOnce: a topic created through one agent
// is found at once by Metadata and Produce on another, though that agent's
// replica applies the creation a moment later: a miss syncs with the leader.
func TestClusterTopicVisibleEverywhereAtOnce(t *testing.T) {
	c := startCluster(t, 3)
	creator := dialRaw(t, c.agents[0].AdvertisedAddr())
	for i := range 10 {
		topic := fmt.Sprintf("fresh-%d", i)
		create := kmsg.NewPtrCreateTopicsRequest()
		create.Version = 5
		ct := kmsg.NewCreateTopicsRequestTopic()
		ct.Topic, ct.NumPartitions, ct.ReplicationFactor = topic, 1, 1
		create.Topics = append(create.Topics, ct)
		if r := creator.roundTrip(create).(*kmsg.CreateTopicsResponse).Topics[0]; r.ErrorCode != 0 {
			t.Fatalf("create %s: error %d", topic, r.ErrorCode)
		}
		other := c.agents[1+i%2]
		md := kmsg.NewPtrMetadataRequest()
		md.Version = 9
		md.Topics = []kmsg.MetadataRequestTopic{{Topic: &topic}}
		if r := dialRaw(t, other.AdvertisedAddr()).roundTrip(md).(*kmsg.MetadataResponse); r.Topics[0].ErrorCode != 0 {
			t.Fatalf("metadata for %s on agent %d right after creation: error %d", topic, other.NodeID(), r.Topics[0].ErrorCode)
		}
		if p := produceRaw(t, dialRaw(t, c.agents[2-i%2].AdvertisedAddr()), topic, -1, plainBatch("x")); p.ErrorCode != 0 {
			t.Fatalf("produce to %s right after creation: error %d", topic, p.ErrorCode)
		}
	}
}

// TestClusterListOffsetsCountsWhatTheAgentAcked: a produce through a
// follower is committed by the Raft leader, and the follower's replica
// learns of it a few milliseconds later. A client that asks the same agent
// for the end of the log right after the ack must find its write.
func TestClusterListOffsetsCountsWhatTheAgentAcked(t *testing.T) {
	c := startCluster(t, 3)
	createTopicIfMissing(t, c.agents[0].client(), "ryw", 1)
	follower := c.follower()
	waitFor(t, 10*time.Second, "the topic on the follower", func() bool {
		_, ok := follower.Metadata().Topic("ryw")
		return ok
	})
	prod, lister := dialRaw(t, follower.AdvertisedAddr()), dialRaw(t, follower.AdvertisedAddr())
	for i := range 20 {
		p := produceRawTimeout(t, prod, "ryw", 10000, plainBatch(fmt.Sprint(i)))
		if p.ErrorCode != 0 {
			t.Fatalf("produce %d through follower %d: error %d", i, follower.NodeID(), p.ErrorCode)
		}
		req := kmsg.NewPtrListOffsetsRequest()
		req.Version = 7
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = "ryw"
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Timestamp = -1 // latest
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		lo := lister.roundTrip(req).(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0]
		if lo.ErrorCode != 0 || lo.Offset != p.BaseOffset+1 {
			t.Fatalf("latest offset through follower %d right after the ack of offset %d: %d (error %d), want %d",
				follower.NodeID(), p.BaseOffset, lo.Offset, lo.ErrorCode, p.BaseOffset+1)
		}
	}
}

// TestClusterZoneAwareMetadata: a client naming its zone with wisp_az= in
// client.id sees only that zone's agents; an unknown zone sees them all.
func TestClusterZoneAwareMetadata(t *testing.T) {
	c := &cluster{t: t, bucket: backends[0].bucket(t)}
	for _, az := range []string{"az-a", "az-b", "az-a"} {
		c.add(func(cfg *agentConfig) { cfg.AZ = az })
	}
	c.waitVoters(3)
	for _, tc := range []struct {
		clientID string
		want     int
	}{
		{"app,wisp_az=az-a", 2},
		{"wisp_az=az-b", 1},
		{"wisp_az=az-c", 3},
		{"app", 3},
	} {
		cl := c.agents[1].client(kgo.ClientID(tc.clientID))
		var resp *kmsg.MetadataResponse
		waitFor(t, 10*time.Second, fmt.Sprintf("%d brokers for client.id %q", tc.want, tc.clientID), func() bool {
			var err error
			resp, err = kmsg.NewPtrMetadataRequest().RequestWith(context.Background(), cl)
			return err == nil && len(resp.Brokers) == tc.want
		})
		for _, b := range resp.Brokers {
			if tc.want < 3 && (b.Rack == nil || !strings.Contains(tc.clientID, *b.Rack)) {
				t.Fatalf("client.id %q was given broker %d in rack %v", tc.clientID, b.NodeID, b.Rack)
			}
		}
	}
}

// TestClusterRestartedFollowerAnswersWithEverythingAcked: a follower that
// was away while the cluster committed hundreds of entries gets them back
// in AppendEntries batches of a few dozen, and its local commit index rises
// batch by batch; it must not answer before it has the leader's whole
// committed log, or a consumer asking it for a partition's end right after
// the restart would be told an old one.
func TestClusterRestartedFollowerAnswersWithEverythingAcked(t *testing.T) {
	c := startCluster(t, 3, withFlushInterval(time.Millisecond))
	const topic = "away"
	leader := c.leader()
	createTopicIfMissing(t, leader.client(), topic, 1)
	fi := -1
	for i, a := range c.agents {
		if a != leader {
			fi = i
		}
	}
	follower := c.agents[fi]
	follower.stop()
	follower.crashed = true

	// Many small commits through the leader while the follower is away.
	end := produceOneByOne(t, leader, topic, 8, 150)
	t.Logf("%d records acked while the follower was away; leader at raft index %d", end, leader.Metadata().AppliedIndex())

	back := c.restart(fi)
	info, ok := back.Metadata().Topic(topic)
	if !ok {
		t.Fatalf("the restarted follower does not know topic %s", topic)
	}
	if pi, _ := back.Metadata().Partition(info.ID, 0); pi.HighWatermark != end {
		t.Fatalf("high watermark %d on the follower right after its restart, want %d", pi.HighWatermark, end)
	}
}
