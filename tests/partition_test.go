package tests

import (
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestNetworkPartitionNoSplitBrain cuts the Raft leader off from the other
// two agents (each agent has its own loopback address, and the agents' peer
// filter drops traffic across the cut). The isolated agent stops acking
// writes; the majority elects a leader and keeps acking; after healing, all
// three agents agree on every offset and every acked record is there.
func TestNetworkPartitionNoSplitBrain(t *testing.T) {
	c, cut := startCuttableCluster(t, "split")

	old := c.leader()
	var majority []*testAgent
	for _, a := range c.agents {
		if a != old {
			majority = append(majority, a)
		}
	}
	acked := map[int64]string{}
	produceVia := func(a *testAgent, v string, timeoutMs int32) (int64, int16) {
		conn := dialRaw(t, a.AdvertisedAddr())
		p := produceRawTimeout(t, conn, "split", timeoutMs, plainBatch(v))
		return p.BaseOffset, p.ErrorCode
	}
	if off, code := produceVia(majority[0], "before", 10000); code != 0 {
		t.Fatalf("produce before the partition: error %d", code)
	} else {
		acked[off] = "before"
	}

	cut.Store(hostOf(old.AdvertisedAddr()))
	t.Logf("isolated the leader %d at %s", old.NodeID(), cut.Load())
	if _, code := produceVia(old, "minority", 3000); code == 0 {
		t.Fatal("the isolated agent acked a write: a minority must not commit")
	}
	// The majority elects a leader and acks again.
	var got int
	waitFor(t, 30*time.Second, "the majority to ack writes", func() bool {
		off, code := produceVia(majority[got%2], fmt.Sprintf("majority-%d", got), 3000)
		if code == 0 {
			acked[off] = fmt.Sprintf("majority-%d", got)
		}
		got++
		return code == 0
	})
	for i := range 20 {
		v := fmt.Sprintf("during-%d", i)
		off, code := produceVia(majority[i%2], v, 10000)
		if code != 0 {
			t.Fatalf("majority produce %d: error %d", i, code)
		}
		acked[off] = v
	}

	cut.Store("")
	c.waitVoters(3)
	var hw int64
	waitFor(t, 30*time.Second, "all agents to agree on the high watermark", func() bool {
		hws := map[int64]bool{}
		for _, a := range c.agents {
			info, _ := a.Metadata().Topic("split")
			p, _ := a.Metadata().Partition(info.ID, 0)
			hws[p.HighWatermark] = true
			hw = p.HighWatermark
		}
		return len(hws) == 1
	})
	var logs [][]*kgo.Record
	for _, a := range c.agents {
		logs = append(logs, consumeN(t, a, "split", int(hw)))
	}
	for i := range logs[0] {
		for j := 1; j < len(logs); j++ {
			if string(logs[j][i].Value) != string(logs[0][i].Value) || logs[j][i].Offset != logs[0][i].Offset {
				t.Fatalf("split brain: offset %d is %q on one agent and %q on another", logs[0][i].Offset, logs[0][i].Value, logs[j][i].Value)
			}
		}
	}
	at := map[int64]string{}
	for _, r := range logs[0] {
		at[r.Offset] = string(r.Value)
	}
	for off, v := range acked {
		if at[off] != v {
			t.Fatalf("acked %q at offset %d, the log has %q there", v, off, at[off])
		}
	}
}

// startCuttableCluster starts three agents on 127.0.0.1-3 whose peer filter
// drops agent-to-agent traffic across a cut: storing an agent's IP in cut
// isolates it, storing "" heals. topic (one partition) exists everywhere.
func startCuttableCluster(t *testing.T, topic string) (*cluster, *atomic.Value) {
	cut := &atomic.Value{}
	cut.Store("")
	c := startFilteredCluster(t, topic, func(self, peer string) bool {
		x := cut.Load().(string)
		return x != "" && (self == x) != (peer == x)
	})
	return c, cut
}

// startFilteredCluster starts three agents on 127.0.0.1-3; drop decides
// whether the agent at IP self drops its traffic with the agent at peer.
// topic (one partition) exists everywhere.
func startFilteredCluster(t *testing.T, topic string, drop func(self, peer string) bool) *cluster {
	c := &cluster{t: t, bucket: backends[0].bucket(t)}
	for i := 1; i <= 3; i++ {
		ip := fmt.Sprintf("127.0.0.%d", i)
		cfg := testConfig(t, withBucket(c.bucket))
		cfg.KafkaAddr, cfg.HTTPAddr, cfg.GossipAddr = ip+":0", ip+":0", ip+":0"
		cfg.RaftAddr = freeAddrOn(t, ip)
		cfg.PeerFilter = func(peer string) bool { return peer != ip && drop(ip, peer) }
		if i > 1 {
			cfg.Join = []string{c.agents[0].GossipAddr()}
		}
		c.agents = append(c.agents, startAgent(t, cfg))
	}
	c.waitVoters(3)
	createTopicIfMissing(t, c.agents[0].client(), topic, 1)
	waitFor(t, 10*time.Second, "the topic on every agent", func() bool {
		for _, a := range c.agents {
			if _, ok := a.Metadata().Topic(topic); !ok {
				return false
			}
		}
		return true
	})
	return c
}

// A consumer that read a partition through one agent and goes on through
// another whose replica is behind (cut off from the Raft leader here, a few
// milliseconds of replication lag in practice) asks for an offset that agent
// has not applied yet. It must wait for it, not get OFFSET_OUT_OF_RANGE,
// which makes clients reset their position (to the start or the end of the
// log, re-reading or skipping records).
func TestFetchPastALaggingReplicaWaits(t *testing.T) {
	c, cut := startCuttableCluster(t, "lag")
	leader, behind := c.leader(), c.follower()
	info, _ := behind.Metadata().Topic("lag")
	produceVia := func(a *testAgent, v string) int64 {
		p := produceRawTimeout(t, dialRaw(t, a.AdvertisedAddr()), "lag", 10000, plainBatch(v))
		if p.ErrorCode != 0 {
			t.Fatalf("produce %q through agent %d: error %d", v, a.NodeID(), p.ErrorCode)
		}
		return p.BaseOffset
	}
	produceVia(leader, "before")
	waitFor(t, 10*time.Second, "the replica to apply the first record", func() bool {
		p, _ := behind.Metadata().Partition(info.ID, 0)
		return p.HighWatermark == 1
	})

	cut.Store(hostOf(behind.AdvertisedAddr()))
	during := produceVia(leader, "during") // committed by the other two
	fetchFrom := func(offset int64) kmsg.FetchResponseTopicPartition {
		fc := dialRaw(t, behind.AdvertisedAddr())
		req := fetchReq(11, "lag", info.ID, offset, 1<<20, 300)
		req.Topics[0].Partitions = req.Topics[0].Partitions[:1] // the topic has one partition
		resp := fc.roundTrip(req).(*kmsg.FetchResponse)
		return resp.Topics[0].Partitions[0]
	}
	// The consumer read "during" through the leader and asks for the next
	// offset; the cut-off replica cannot catch up, so the partition waits.
	if p := fetchFrom(during + 1); p.ErrorCode != 0 || len(p.RecordBatches) != 0 {
		t.Fatalf("fetch past a lagging replica: error %d with %d bytes, want no error and no records", p.ErrorCode, len(p.RecordBatches))
	}

	cut.Store("")
	waitFor(t, 30*time.Second, "the record produced during the cut, through the lagging agent", func() bool {
		p := fetchFrom(during)
		if p.ErrorCode != 0 {
			t.Fatalf("fetch of offset %d after healing: error %d", during, p.ErrorCode)
		}
		return len(p.RecordBatches) > 0
	})
	// And an offset past the end of the whole log is out of range, once the
	// agent can reach the leader again to confirm it (gossip may take a
	// moment longer than Raft to see the leader back): until then it waits.
	waitFor(t, 30*time.Second, "OFFSET_OUT_OF_RANGE past the end of the log", func() bool {
		p := fetchFrom(during + 5)
		if p.ErrorCode != 0 && p.ErrorCode != kerr.OffsetOutOfRange.Code || len(p.RecordBatches) != 0 {
			t.Fatalf("fetch past the end of the log: error %d with %d bytes, want OFFSET_OUT_OF_RANGE or a wait", p.ErrorCode, len(p.RecordBatches))
		}
		return p.ErrorCode == kerr.OffsetOutOfRange.Code
	})
}

func freeAddrOn(t testing.TB, ip string) string {
	t.Helper()
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func hostOf(addr string) string {
	h, _, _ := net.SplitHostPort(addr)
	return h
}

// Committed offsets reach the agent coordinating a group through Raft, also
// when another agent wrote them (one that ended a transaction, or the
// group's coordinator before a membership change). A coordinator whose
// replica cannot catch up with the Raft leader must not answer OffsetFetch
// from what it has, which may be older than what the consumer group
// committed and would make consumers process records twice: it answers a
// retriable error until it can.
func TestOffsetFetchFromACutOffCoordinatorIsRetriable(t *testing.T) {
	c, cut := startCuttableCluster(t, "offs")
	group, coord := c.groupOffTheLeader("readers")
	conn := dialRaw(t, coord.AdvertisedAddr())
	commit := kmsg.NewPtrOffsetCommitRequest()
	commit.Version, commit.Group, commit.Generation = 8, group, -1
	ct := kmsg.NewOffsetCommitRequestTopic()
	ct.Topic = "offs"
	cp := kmsg.NewOffsetCommitRequestTopicPartition()
	cp.Partition, cp.Offset = 0, 5
	ct.Partitions = append(ct.Partitions, cp)
	commit.Topics = append(commit.Topics, ct)
	if r := conn.roundTrip(commit).(*kmsg.OffsetCommitResponse); r.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("commit offset 5 for %s: error %d", group, r.Topics[0].Partitions[0].ErrorCode)
	}
	fetch := func() (int64, int16) {
		g := offsetFetch(conn, group, "offs", 0)
		if g.ErrorCode != 0 {
			return -1, g.ErrorCode
		}
		p := g.Topics[0].Partitions[0]
		return p.Offset, p.ErrorCode
	}
	if off, code := fetch(); off != 5 || code != 0 {
		t.Fatalf("offset fetch before the cut: offset %d error %d, want 5", off, code)
	}

	cut.Store(hostOf(coord.AdvertisedAddr()))
	if off, code := fetch(); code != kerr.CoordinatorLoadInProgress.Code {
		t.Fatalf("offset fetch from a coordinator cut off from the Raft leader: offset %d error %d, want COORDINATOR_LOAD_IN_PROGRESS (retriable)", off, code)
	}
	cut.Store("")
	waitFor(t, 30*time.Second, "the healed coordinator to answer", func() bool {
		off, code := fetch()
		if code == 0 && off != 5 {
			t.Fatalf("offset fetch after healing: offset %d, want 5", off)
		}
		return code == 0
	})
}

// TestOffsetFetchOnAnIdleClusterAfterAMembershipChange: the last entries of
// a cluster's Raft log can be Raft's own (an agent promoted to voter, a new
// leader's no-op), which no replica's state machine ever applies. A
// follower coordinator catching up with the leader before OffsetFetch must
// still answer while no write follows them, instead of waiting for the next
// write and answering COORDINATOR_LOAD_IN_PROGRESS.
func TestOffsetFetchOnAnIdleClusterAfterAMembershipChange(t *testing.T) {
	c := startCluster(t, 3)
	// Raft's own entries last: the leader leaves (a configuration change)
	// and comes back (two more), and a new leader commits its no-op.
	old := c.leader()
	for i, a := range c.agents {
		if a == old {
			c.restart(i)
		}
	}
	c.waitVoters(3)
	group, coord := c.groupOffTheLeader("idle")
	conn := dialRaw(t, coord.AdvertisedAddr())
	for i := range 3 {
		g := offsetFetch(conn, group, "")
		if g.ErrorCode != 0 {
			t.Fatalf("offset fetch %d of an idle group on a follower coordinator: %v, want no error", i, kerr.ErrorForCode(g.ErrorCode))
		}
	}
}

// groupOffTheLeader returns a group named prefix-N whose coordinator is not
// the Raft leader, and that coordinator.
func (c *cluster) groupOffTheLeader(prefix string) (string, *testAgent) {
	c.t.Helper()
	leader := c.leader()
	for i := 0; ; i++ {
		group := fmt.Sprintf("%s-%d", prefix, i)
		if coord := c.groupCoordinator(group); coord != leader {
			return group, coord
		}
	}
}

// offsetFetch asks conn for group's committed offsets (OffsetFetch v8): of
// topic's partitions, or of every topic when topic is "".
func offsetFetch(conn *rawConn, group, topic string, partitions ...int32) kmsg.OffsetFetchResponseGroup {
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Version = 8
	rg := kmsg.NewOffsetFetchRequestGroup()
	rg.Group = group
	if topic != "" {
		rt := kmsg.NewOffsetFetchRequestGroupTopic()
		rt.Topic, rt.Partitions = topic, partitions
		rg.Topics = append(rg.Topics, rt)
	}
	req.Groups = append(req.Groups, rg)
	return conn.roundTrip(req).(*kmsg.OffsetFetchResponse).Groups[0]
}

// The leader applies a follower's forwarded commit and its answer is lost:
// here the connection is cut just as the answer goes out, in practice the
// leader dies at that moment. The follower retries the commit; its producer
// must get the offset its record got, not an error for a record that is in
// the log, and the record must be in the log once.
func TestForwardedCommitWhoseAnswerIsLost(t *testing.T) {
	var (
		leaderIP, followerIP atomic.Value
		written              atomic.Pointer[func() bool] // the leader has applied the record
		cutUntil             atomic.Int64                // unix nanos; 0 until the answer is cut
	)
	leaderIP.Store("")
	followerIP.Store("")
	c := startFilteredCluster(t, "lost", func(self, peer string) bool {
		if self != leaderIP.Load().(string) || peer != followerIP.Load().(string) {
			return false
		}
		now := time.Now().UnixNano()
		if until := cutUntil.Load(); until != 0 {
			return now < until
		}
		if w := written.Load(); w != nil && (*w)() {
			cutUntil.CompareAndSwap(0, now+int64(150*time.Millisecond))
			return true
		}
		return false
	})
	leader, follower := c.leader(), c.follower()
	info, _ := leader.Metadata().Topic("lost")
	waitFor(t, 10*time.Second, "the topic on the follower", func() bool {
		_, ok := follower.Metadata().Topic("lost")
		return ok
	})
	applied := func() bool {
		p, _ := leader.Metadata().Partition(info.ID, 0)
		return p.HighWatermark > 0
	}
	written.Store(&applied)
	leaderIP.Store(hostOf(leader.AdvertisedAddr()))
	followerIP.Store(hostOf(follower.AdvertisedAddr()))

	before := leader.Metadata().AppliedIndex()
	p := produceRawTimeout(t, dialRaw(t, follower.AdvertisedAddr()), "lost", 20000, plainBatch("once"))
	if cutUntil.Load() == 0 || leader.Metadata().AppliedIndex() < before+2 {
		t.Fatalf("the leader applied %d commands and its answer was cut: %v; the test did not exercise a retried commit",
			leader.Metadata().AppliedIndex()-before, cutUntil.Load() != 0)
	}
	if p.ErrorCode != 0 || p.BaseOffset != 0 {
		t.Fatalf("produce through the follower answered error %v at base offset %d; the record was committed at 0",
			kerr.ErrorForCode(p.ErrorCode), p.BaseOffset)
	}
	got := consumeN(t, leader, "lost", 1)
	if string(got[0].Value) != "once" || got[0].Offset != 0 {
		t.Fatalf("log holds %q at %d, want \"once\" at 0", got[0].Value, got[0].Offset)
	}
	if p, _ := leader.Metadata().Partition(info.ID, 0); p.HighWatermark != 1 {
		t.Fatalf("high watermark %d after the retried commit, want 1: the record was written twice", p.HighWatermark)
	}
}
