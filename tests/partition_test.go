package tests

import (
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestNetworkPartitionNoSplitBrain cuts the Raft leader off from the other
// two agents (each agent has its own loopback address, and the agents' peer
// filter drops traffic across the cut). The isolated agent stops acking
// writes; the majority elects a leader and keeps acking; after healing, all
// three agents agree on every offset and every acked record is there.
func TestNetworkPartitionNoSplitBrain(t *testing.T) {
	var cut atomic.Value // the isolated agent's IP, or ""
	cut.Store("")
	c := &cluster{t: t, bucket: backends[0].bucket(t)}
	for i := 1; i <= 3; i++ {
		ip := fmt.Sprintf("127.0.0.%d", i)
		cfg := testConfig(t, withBucket(c.bucket))
		cfg.KafkaAddr, cfg.HTTPAddr, cfg.GossipAddr = ip+":0", ip+":0", ip+":0"
		cfg.RaftAddr = freeAddrOn(t, ip)
		cfg.PeerFilter = func(peer string) bool {
			x := cut.Load().(string)
			return x != "" && peer != ip && (ip == x) != (peer == x)
		}
		if i > 1 {
			cfg.Join = []string{c.agents[0].GossipAddr()}
		}
		c.agents = append(c.agents, startAgent(t, cfg))
	}
	c.waitVoters(3)
	createTopicIfMissing(t, c.agents[0].client(), "split", 1)
	waitFor(t, 10*time.Second, "the topic on every agent", func() bool {
		for _, a := range c.agents {
			if _, ok := a.Metadata().Topic("split"); !ok {
				return false
			}
		}
		return true
	})

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
