package tests

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestSecurityListeners: agents with a PLAINTEXT listener on loopback and a
// SASL_SSL one. A client stays on the listener it bootstrapped from:
// Metadata, FindCoordinator and DescribeCluster on each listener name every
// agent's address on that same listener. Records produced through one
// listener are read through the other, and agent-to-agent traffic still
// flows with HTTPS on.
func TestSecurityListeners(t *testing.T) {
	pki := newTestPKI(t)
	c := startCluster(t, 2, withTLS(pki), withSASL(t, []string{"SCRAM-SHA-256"}, "app:app-pw"), func(cfg *agentConfig) {
		cfg.Listeners = []string{"PLAINTEXT://127.0.0.1:0", "SASL_SSL://127.0.0.1:0"}
	})
	ctx := context.Background()
	want := map[string]map[int32]string{"PLAINTEXT": {}, "SASL_SSL": {}}
	for _, a := range c.agents {
		for name := range want {
			addr := a.ListenerAddr(name)
			if addr == "" {
				t.Fatalf("agent %d has no %s listener", a.NodeID(), name)
			}
			want[name][a.NodeID()] = addr
		}
	}
	if a := c.agents[0]; a.AdvertisedAddr() != want["PLAINTEXT"][a.NodeID()] {
		t.Fatalf("the first listener is not the agent's main address: %s vs %s", a.AdvertisedAddr(), want["PLAINTEXT"][a.NodeID()])
	}

	clients := map[string]*kgo.Client{}
	plain, err := kgo.NewClient(kgo.SeedBrokers(want["PLAINTEXT"][c.agents[1].NodeID()]), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(plain.Close)
	clients["PLAINTEXT"] = plain
	clients["SASL_SSL"] = loginClient(t, want["SASL_SSL"][c.agents[1].NodeID()], pki.clientTLS(), "SCRAM-SHA-256", "app", "app-pw")

	for name, cl := range clients {
		t.Run(name+" advertises its own listener", func(t *testing.T) {
			waitFor(t, 10*time.Second, "metadata listing both agents on "+name, func() bool {
				req := kmsg.NewPtrMetadataRequest()
				resp, err := req.RequestWith(ctx, cl)
				if err != nil {
					t.Fatal(err)
				}
				got := map[int32]string{}
				for _, b := range resp.Brokers {
					got[b.NodeID] = net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port)))
				}
				return fmt.Sprint(got) == fmt.Sprint(want[name])
			})
			dc, err := kmsg.NewPtrDescribeClusterRequest().RequestWith(ctx, cl)
			if err != nil {
				t.Fatal(err)
			}
			for _, b := range dc.Brokers {
				if addr := net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port))); addr != want[name][b.NodeID] {
					t.Fatalf("DescribeCluster on %s: broker %d at %s, want %s", name, b.NodeID, addr, want[name][b.NodeID])
				}
			}
			fc := kmsg.NewPtrFindCoordinatorRequest()
			fc.CoordinatorKeys = []string{"group-a", "group-b", "group-c"}
			resp, err := fc.RequestWith(ctx, cl)
			if err != nil {
				t.Fatal(err)
			}
			for _, co := range resp.Coordinators {
				if addr := net.JoinHostPort(co.Host, strconv.Itoa(int(co.Port))); co.ErrorCode != 0 || addr != want[name][co.NodeID] {
					t.Fatalf("FindCoordinator on %s: %s at node %d %s (error %d), want %s", name, co.Key, co.NodeID, addr, co.ErrorCode, want[name][co.NodeID])
				}
			}
		})
	}

	t.Run("records cross listeners", func(t *testing.T) {
		if err := produceOne(clients["PLAINTEXT"], "cross", "in by plaintext"); err != nil {
			t.Fatal(err)
		}
		got := pollN(t, loginClient(t, want["SASL_SSL"][c.agents[0].NodeID()], pki.clientTLS(), "SCRAM-SHA-256", "app", "app-pw",
			kgo.ConsumeTopics("cross"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())), 1)
		if string(got[0].Value) != "in by plaintext" {
			t.Fatalf("read %q", got[0].Value)
		}
	})

	t.Run("a follower forwards writes with HTTPS on", func(t *testing.T) {
		leader := c.leader()
		follower := c.agents[0]
		if follower == leader {
			follower = c.agents[1]
		}
		req := kmsg.NewPtrCreateTopicsRequest()
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "forwarded", 2, 1
		req.Topics, req.TimeoutMillis = append(req.Topics, rt), 10000
		resp, err := req.RequestWith(ctx, plain.Broker(int(follower.NodeID())))
		if err != nil || resp.Topics[0].ErrorCode != 0 {
			t.Fatalf("create topic through the follower: %v %+v", err, resp)
		}
	})
}

// TestSecurityTLSClientCertificates: with --tls-ca, the Kafka listener
// verifies client certificates: a certificate from the CA is served (and
// its subject is the principal the authorizer sees), none or a stranger's
// fails the handshake.
func TestSecurityTLSClientCertificates(t *testing.T) {
	pki := newTestPKI(t)
	ta := startAgent(t, testConfig(t, withTLS(pki), func(c *agentConfig) {
		c.TLSCA = pki.caFile
		c.Authorizer, c.SuperUsers = true, []string{"User:CN=alice,O=wisp"}
	}))
	addr := ta.AdvertisedAddr()
	ctx := context.Background()

	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DialTLSConfig(pki.clientTLS(pki.clientPair)), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := produceOne(cl, "mtls", "with a certificate"); err != nil {
		t.Fatalf("client with a CA-signed certificate: %v", err)
	}

	for name, certs := range map[string][]tls.Certificate{"no certificate": nil, "a stranger's certificate": {pki.otherCAClient}} {
		t.Run(name, func(t *testing.T) {
			conn, err := tlsDial(addr, pki.clientTLS(certs...))
			if err == nil {
				// TLS 1.3 reports the server's refusal at the first read.
				c := &rawConn{t: t, nc: conn}
				c.send(c.frame(kmsg.NewPtrApiVersionsRequest()))
				c.expectClosed()
			}
			cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DialTLSConfig(pki.clientTLS(certs...)), kgo.RetryTimeout(2*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			if _, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl); err == nil {
				t.Fatal("served without a trusted client certificate")
			}
		})
	}

	t.Run("the certificate's subject is the principal", func(t *testing.T) {
		// Only User:CN=alice,O=wisp (a super user) may describe ACLs:
		// User:ANONYMOUS would get CLUSTER_AUTHORIZATION_FAILED.
		req := kmsg.NewPtrDescribeACLsRequest()
		req.ResourceType, req.ResourcePatternType = kmsg.ACLResourceTypeAny, kmsg.ACLResourcePatternTypeAny
		req.Operation, req.PermissionType = kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
		resp, err := req.RequestWith(ctx, cl)
		if err != nil || resp.ErrorCode != 0 {
			t.Fatalf("DescribeAcls as User:CN=alice,O=wisp: %v %v", err, kerr.ErrorForCode(resp.ErrorCode))
		}
	})
}

// TestSecurityHTTPS: with a certificate the HTTP listener serves HTTPS;
// plain HTTP is only answered on the agent-to-agent routes.
func TestSecurityHTTPS(t *testing.T) {
	pki := newTestPKI(t)
	ta := startAgent(t, testConfig(t, withTLS(pki)))
	secure := &http.Client{Transport: &http.Transport{TLSClientConfig: pki.clientTLS()}, Timeout: 10 * time.Second}
	get := func(cl *http.Client, url string) (int, string) {
		t.Helper()
		resp, err := cl.Get(url)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		if code, body := get(secure, "https://"+ta.HTTPAddr()+path); code != http.StatusOK {
			t.Fatalf("GET https %s: %d %s", path, code, body)
		}
		code, body := get(http.DefaultClient, "http://"+ta.HTTPAddr()+path)
		if code != http.StatusBadRequest || !strings.Contains(body, "https://") {
			t.Fatalf("GET http %s: %d %q, want 400 pointing to https", path, code, body)
		}
	}
	if code, body := get(http.DefaultClient, "http://"+ta.HTTPAddr()+"/internal/v1/raft/index"); code == http.StatusBadRequest && strings.Contains(body, "https://") {
		t.Fatalf("plain HTTP refused on an agent-to-agent route: %d %s", code, body)
	}
}
