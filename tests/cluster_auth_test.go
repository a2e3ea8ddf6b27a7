package tests

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/wisp-stream/wisp/agent"
	"github.com/wisp-stream/wisp/cache"
	"github.com/wisp-stream/wisp/fsm"
)

const clusterSecret = "s3cret-shared-by-every-agent-0123"

func withSecret(s string) agentOption {
	return func(c *agent.Config) { c.ClusterSecret = s }
}

// metricSum adds up the samples of a counter or gauge whose labels include
// every one in want.
func metricSum(t testing.TB, ta *testAgent, name string, want map[string]string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + ta.HTTPAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("/metrics: %v", err)
	}
	sum := 0.0
	for _, m := range families[name].GetMetric() {
		matched := 0
		for _, l := range m.GetLabel() {
			if v, ok := want[l.GetName()]; ok && v == l.GetValue() {
				matched++
			}
		}
		if matched != len(want) {
			continue
		}
		sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
	}
	return sum
}

// TestClusterAuthMembersWork: a cluster whose agents share a secret works as
// one without it does: produce on one agent, fetch on another, writes
// forwarded to the leader, blocks served by their cache owners, all over
// authenticated gossip, Raft and internal HTTP.
func TestClusterAuthMembersWork(t *testing.T) {
	c := startCluster(t, 3, withSecret(clusterSecret))
	var follower *testAgent
	for _, a := range c.agents {
		if !a.IsLeader() {
			follower = a
		}
	}
	producer := follower.client(kgo.ProducerBatchCompression(kgo.NoCompression()))
	createTopicIfMissing(t, producer, "members", 3) // forwarded by a follower
	var recs []*kgo.Record
	for i := range 3000 {
		recs = append(recs, &kgo.Record{Topic: "members", Value: fmt.Appendf(nil, "%05d-%s", i, strings.Repeat("m", 1000))})
	}
	produceAll(t, producer, recs)

	sum := func(name string, labels map[string]string) float64 {
		total := 0.0
		for _, a := range c.live() {
			total += metricSum(t, a, name, labels)
		}
		return total
	}
	noneRefused := func() {
		t.Helper()
		if n := sum("wisp_internal_http_requests_total", map[string]string{"result": "refused"}) +
			sum("wisp_raft_handshakes_total", map[string]string{"result": "refused"}); n != 0 {
			t.Errorf("%v agent-to-agent requests between members were refused", n)
		}
	}
	if n := sum("wisp_internal_http_requests_total", map[string]string{"route": "apply", "result": "ok"}); n == 0 {
		t.Error("no forwarded write was accepted by the leader")
	}
	if n := sum("wisp_raft_handshakes_total", map[string]string{"result": "accepted"}); n == 0 {
		t.Error("no authenticated raft connection")
	}
	noneRefused()

	// Writers keep what they flushed in their caches: restart every agent
	// (each rejoins through the authenticated paths) so reads go to the
	// blocks' owners.
	for i := range c.agents {
		c.restart(i)
		c.waitVoters(3)
	}
	for _, a := range c.live() {
		if got := consumeN(t, a, "members", len(recs)); len(got) != len(recs) {
			t.Fatalf("agent %d read %d records, want %d", a.NodeID(), len(got), len(recs))
		}
	}
	if n := sum("wisp_internal_http_requests_total", map[string]string{"route": "cache", "result": "ok"}); n == 0 {
		t.Error("no block was served by its cache owner to another agent")
	}
	noneRefused()
}

// TestClusterAuthRefusesNonMembers: with a secret, an agent with another
// secret or none cannot join (gossip refuses it, so the leader never adds it
// to Raft), and raw requests to the internal ports neither commit, nor read
// cached blocks, nor disturb Raft.
func TestClusterAuthRefusesNonMembers(t *testing.T) {
	c := startCluster(t, 3, withSecret(clusterSecret))
	leader := c.leader()
	cl := leader.client(kgo.ProducerBatchCompression(kgo.NoCompression()))
	createTopicIfMissing(t, cl, "guarded", 1)
	produceAll(t, cl, []*kgo.Record{{Topic: "guarded", Value: []byte("secret record value")}})

	t.Run("agents without the secret cannot join", func(t *testing.T) {
		for _, secret := range []string{"", "not-the-cluster-secret-at-all"} {
			cfg := testConfig(t, withBucket(c.bucket), withSecret(secret))
			cfg.Join = []string{c.agents[0].GossipAddr()}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			a, err := agent.Start(ctx, cfg)
			cancel()
			if err == nil {
				a.Shutdown(context.Background())
				t.Fatalf("an agent with secret %q joined the cluster", secret)
			}
			if !strings.Contains(err.Error(), "join") {
				t.Fatalf("secret %q: start failed with %v, want a refused gossip join", secret, err)
			}
		}
		servers, err := c.leader().RaftServers()
		if err != nil || len(servers) != 3 {
			t.Fatalf("raft configuration %v (%v), want the 3 members only", servers, err)
		}
		brokers, err := kadm.NewClient(cl).ListBrokers(context.Background())
		if err != nil || len(brokers) != 3 {
			t.Fatalf("brokers %v (%v), want the 3 members only", brokers.NodeIDs(), err)
		}
	})

	t.Run("unsigned commit through the forwarding endpoint", func(t *testing.T) {
		cmd, err := fsm.Encode(&fsm.CreateTopic{Name: "intruder", ID: [16]byte{9}, Partitions: 1, NowMs: time.Now().UnixMilli()})
		if err != nil {
			t.Fatal(err)
		}
		var nonce [16]byte
		rand.Read(nonce[:])
		forged := fmt.Sprintf("WISP-HMAC-SHA256 t=%d,n=%s,s=%s", time.Now().UnixMilli(), hex.EncodeToString(nonce[:]), strings.Repeat("ab", 32))
		for _, tc := range []struct {
			name, auth string
			want       int
		}{{"no signature", "", http.StatusUnauthorized}, {"forged signature", forged, http.StatusForbidden}} {
			code, body := rawInternal(t, http.MethodPost, "http://"+leader.HTTPAddr()+"/internal/v1/raft/apply", tc.auth, cmd)
			if code != tc.want || !strings.Contains(body, "--cluster-secret") {
				t.Fatalf("%s: HTTP %d %q, want %d naming --cluster-secret", tc.name, code, body, tc.want)
			}
		}
		code, _ := rawInternal(t, http.MethodPost, "http://"+leader.HTTPAddr()+"/internal/v1/raft/leave?id="+strconv.Itoa(int(c.agents[1].NodeID())), "", nil)
		if code != http.StatusUnauthorized {
			t.Fatalf("unsigned leave: HTTP %d", code)
		}
		// A member's write after the attempts is applied everywhere; the
		// intruder's topic must not be.
		createTopicIfMissing(t, cl, "after-intruder", 1)
		for _, a := range c.agents {
			waitFor(t, 10*time.Second, "the member's topic on every agent", func() bool {
				_, ok := a.Metadata().Topic("after-intruder")
				return ok
			})
			if _, ok := a.Metadata().Topic("intruder"); ok {
				t.Fatalf("agent %d applied the unsigned command", a.NodeID())
			}
		}
		if servers, _ := c.leader().RaftServers(); len(servers) != 3 {
			t.Fatalf("raft configuration %v after an unsigned leave", servers)
		}
	})

	t.Run("cached blocks", func(t *testing.T) {
		objs := listData(t, c)
		if len(objs) == 0 {
			t.Fatal("no data file in the bucket")
		}
		for _, a := range c.agents {
			u := "http://" + a.HTTPAddr() + cache.BlockPath + "?" + url.Values{"key": {objs[0].key}, "block": {"0"}}.Encode()
			code, body := rawInternal(t, http.MethodGet, u, "", nil)
			if code != http.StatusUnauthorized || strings.Contains(body, "secret record value") {
				t.Fatalf("agent %d served a block without a signature: HTTP %d, %d bytes", a.NodeID(), code, len(body))
			}
		}
	})

	t.Run("raw connections to the raft port", func(t *testing.T) {
		addr := leader.cfg.RaftAddr
		// Garbage, then a handshake with a proof made without the secret.
		for _, send := range [][]byte{[]byte("GET / HTTP/1.1\r\n\r\n" + strings.Repeat("x", 64)), nil} {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			conn.SetDeadline(time.Now().Add(10 * time.Second))
			if send == nil {
				hello := make([]byte, 40)
				copy(hello, "WISPRFT1")
				rand.Read(hello[8:])
				conn.Write(hello)
				challenge := make([]byte, 72)
				if _, err := io.ReadFull(conn, challenge); err != nil {
					t.Fatalf("no handshake challenge: %v", err)
				}
				proof := make([]byte, 32)
				rand.Read(proof)
				conn.Write(proof)
			} else {
				conn.Write(send)
			}
			if b, _ := io.ReadAll(conn); len(b) > 1 || (len(b) == 1 && b[0] == 0) {
				t.Fatalf("the raft port answered a non-member with %q", b)
			}
			conn.Close()
		}
		// Raft's own transport without the handshake: entries with a huge
		// term would depose the leader if they got through (see the control
		// test below).
		if resp, err := rawAppendEntries(t, addr); err == nil {
			t.Fatalf("entries sent without the handshake were answered: %+v", resp)
		}
		if !leader.IsLeader() {
			t.Fatal("the leader lost leadership to raw raft connections")
		}
		if n := metricSum(t, leader, "wisp_raft_handshakes_total", map[string]string{"result": "refused"}); n < 3 {
			t.Fatalf("%v refused raft handshakes counted, want at least 3", n)
		}
		produceAll(t, cl, []*kgo.Record{{Topic: "guarded", Value: []byte("still working")}})
	})
}

// rawInternal sends one request to an agent's internal HTTP route as a
// non-member would.
func rawInternal(t *testing.T, method, u, auth string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// rawAppendEntries sends Raft an AppendEntries with a huge term the way any
// process can with hashicorp/raft's own TCP transport.
func rawAppendEntries(t *testing.T, addr string) (raft.AppendEntriesResponse, error) {
	t.Helper()
	trans, err := raft.NewTCPTransport("127.0.0.1:0", nil, 1, 5*time.Second, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer trans.Close()
	var resp raft.AppendEntriesResponse
	err = trans.AppendEntries("999", raft.ServerAddress(addr), &raft.AppendEntriesRequest{
		RPCHeader: raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte("999"), Addr: []byte(trans.LocalAddr())},
		Term:      1 << 40,
	}, &resp)
	return resp, err
}

// TestClusterAuthRaftOpenWithoutSecret is the control for the raft part of
// the test above: without a secret, the same raw request reaches Raft and
// deposes the leader.
func TestClusterAuthRaftOpenWithoutSecret(t *testing.T) {
	a := startAgent(t, testConfig(t))
	resp, err := rawAppendEntries(t, a.cfg.RaftAddr)
	if err != nil {
		t.Fatalf("without a secret the raft port should answer anyone: %v", err)
	}
	if resp.Term != 1<<40 {
		t.Fatalf("the request did not reach raft: response term %d", resp.Term)
	}
	waitFor(t, 10*time.Second, "the agent to lead again", a.IsLeader)
}
