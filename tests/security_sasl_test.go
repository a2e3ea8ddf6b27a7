package tests

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var allMechanisms = []string{"SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"}

// TestSecuritySASLSSL: an agent whose only listener is SASL_SSL (the
// --kafka-addr listener with a certificate and SASL mechanisms), users from
// --sasl-users-file; franz-go and the Java tools log in, wrong credentials
// are refused, and kafka-configs manages SCRAM users.
func TestSecuritySASLSSL(t *testing.T) {
	pki := newTestPKI(t)
	ta := startAgent(t, testConfig(t, withTLS(pki), withSASL(t, allMechanisms, "admin:admin-secret", "carol:pass:with:colons")))
	addr, tlsCfg := ta.AdvertisedAddr(), pki.clientTLS()
	ctx := context.Background()

	t.Run("franz-go logs in with every mechanism", func(t *testing.T) {
		for _, mech := range allMechanisms {
			for _, u := range [][2]string{{"admin", "admin-secret"}, {"carol", "pass:with:colons"}} {
				cl := loginClient(t, addr, tlsCfg, mech, u[0], u[1])
				topic := "sasl-" + strings.ToLower(mech) + "-" + u[0]
				if err := produceOne(cl, topic, "hello over "+mech); err != nil {
					t.Fatalf("%s as %s: produce: %v", mech, u[0], err)
				}
				got := pollN(t, loginClient(t, addr, tlsCfg, mech, u[0], u[1], kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())), 1)
				if string(got[0].Value) != "hello over "+mech {
					t.Fatalf("%s: consumed %q", mech, got[0].Value)
				}
			}
		}
	})

	t.Run("wrong credentials are refused", func(t *testing.T) {
		for _, tt := range []struct{ mech, user, pass string }{
			{"SCRAM-SHA-256", "admin", "wrong"},
			{"SCRAM-SHA-512", "admin", "admin-secret "},
			{"PLAIN", "admin", "Admin-secret"},
			{"SCRAM-SHA-256", "nobody", "admin-secret"},
			{"PLAIN", "nobody", "x"},
		} {
			cl := loginClient(t, addr, tlsCfg, tt.mech, tt.user, tt.pass)
			_, err := kadm.NewClient(cl).ListTopics(ctx)
			if !errors.Is(err, kerr.SaslAuthenticationFailed) {
				t.Errorf("%s %s/%q: %v, want SASL_AUTHENTICATION_FAILED", tt.mech, tt.user, tt.pass, err)
			}
		}
	})

	t.Run("a client without TLS is not served", func(t *testing.T) {
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.SASL(mechanism("PLAIN", "admin", "admin-secret")),
			kgo.RequestTimeoutOverhead(3*time.Second), kgo.RetryTimeout(3*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		if _, err := kadm.NewClient(cl).ListTopics(ctx); err == nil {
			t.Fatal("a plaintext client got an answer from a SASL_SSL listener")
		}
	})

	t.Run("a client without SASL is not served", func(t *testing.T) {
		tc, err := tlsDial(addr, tlsCfg)
		if err != nil {
			t.Fatal(err)
		}
		c := &rawConn{t: t, nc: tc}
		apiVersions(t, c) // allowed before authentication
		c.send(c.frame(kmsg.NewPtrMetadataRequest()))
		c.expectClosed()
	})

	t.Run("kafka-configs manages SCRAM users", func(t *testing.T) {
		tools := newKafkaTools(t, ta)
		adminProps := javaClientProps(t, pki.caFile, "SCRAM-SHA-512", "admin", "admin-secret")
		out, _ := tools.run("", "kafka-configs", "--command-config", adminProps, "--alter",
			"--add-config", "SCRAM-SHA-256=[iterations=8192,password=alice-secret],SCRAM-SHA-512=[password=alice-secret]",
			"--entity-type", "users", "--entity-name", "alice")
		if !strings.Contains(out, "Completed updating config for user alice") {
			t.Fatalf("kafka-configs --alter said:\n%s", out)
		}
		described, err := kadm.NewClient(loginClient(t, addr, tlsCfg, "PLAIN", "admin", "admin-secret")).DescribeUserSCRAMs(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		infos := described["alice"].CredInfos
		if len(infos) != 2 || infos[0].Iterations != 8192 || infos[1].Iterations != 4096 {
			t.Fatalf("alice's credentials: %+v", described["alice"])
		}
		// The Java tool describes users with their SCRAM mechanisms (it
		// asks for client quotas too, which are empty).
		out, _ = tools.run("", "kafka-configs", "--command-config", adminProps, "--describe",
			"--entity-type", "users", "--entity-name", "alice")
		if !strings.Contains(out, "SCRAM-SHA-256=iterations=8192") || !strings.Contains(out, "SCRAM-SHA-512=iterations=4096") {
			t.Fatalf("kafka-configs --describe --entity-type users said:\n%s", out)
		}

		// alice logs in with both SCRAM mechanisms and PLAIN, from Go and Java.
		for _, mech := range allMechanisms {
			if err := produceOne(loginClient(t, addr, tlsCfg, mech, "alice", "alice-secret"), "alice-topic", "from franz-go "+mech); err != nil {
				t.Fatalf("alice over %s: %v", mech, err)
			}
		}
		aliceProps := javaClientProps(t, pki.caFile, "SCRAM-SHA-256", "alice", "alice-secret")
		tools.run("one\ntwo\nthree\n", "kafka-console-producer", "--command-config", aliceProps, "--topic", "alice-topic")
		lines := tools.consoleConsume(6, "--command-config", aliceProps, "--topic", "alice-topic", "--from-beginning")
		sameLines(t, "alice's records", withoutKeys(lines), []string{"from franz-go SCRAM-SHA-256", "from franz-go SCRAM-SHA-512", "from franz-go PLAIN", "one", "two", "three"})

		// The Java tools get the same refusal for a wrong password.
		_, stderr, err := tools.try("", "kafka-configs", "--command-config", javaClientProps(t, pki.caFile, "SCRAM-SHA-256", "alice", "nope"),
			"--describe", "--entity-type", "topics")
		if err == nil || !strings.Contains(stderr, "SaslAuthenticationException") {
			t.Fatalf("kafka-configs with a wrong password: %v\n%s", err, stderr)
		}

		tools.run("", "kafka-configs", "--command-config", adminProps, "--alter", "--delete-config", "SCRAM-SHA-256,SCRAM-SHA-512",
			"--entity-type", "users", "--entity-name", "alice")
		_, err = kadm.NewClient(loginClient(t, addr, tlsCfg, "SCRAM-SHA-256", "alice", "alice-secret")).ListTopics(ctx)
		if !errors.Is(err, kerr.SaslAuthenticationFailed) {
			t.Fatalf("alice after her credentials were deleted: %v, want SASL_AUTHENTICATION_FAILED", err)
		}
	})
}

// pollN polls cl until n records arrived.
func pollN(t testing.TB, cl *kgo.Client, n int) []*kgo.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d records: %v", len(out), n, err)
		}
		for _, e := range fs.Errors() {
			t.Fatalf("fetch %s/%d: %v", e.Topic, e.Partition, e.Err)
		}
		out = append(out, fs.Records()...)
	}
	return out
}

// TestSecurityReauthentication: with --sasl-session-lifetime, franz-go
// re-authenticates in place (KIP-368) and keeps producing on the same
// connections across several lifetimes, while a client that does not is
// disconnected at its first request after its session ended.
func TestSecurityReauthentication(t *testing.T) {
	const lifetime = 2 * time.Second
	ta := startAgent(t, testConfig(t, withSASL(t, []string{"SCRAM-SHA-256", "PLAIN"}, "app:app-secret", "u:p"),
		func(c *agentConfig) { c.SASLSessionLifetime = lifetime }))
	addr := ta.AdvertisedAddr()

	t.Run("franz-go re-authenticates", func(t *testing.T) {
		var connects atomic.Int64
		cl := loginClient(t, addr, nil, "SCRAM-SHA-256", "app", "app-secret", kgo.WithHooks(connectHook{&connects}))
		if err := produceOne(cl, "reauth", "first"); err != nil {
			t.Fatal(err)
		}
		before := connects.Load()
		deadline := time.Now().Add(3*lifetime + lifetime/2)
		n := 0
		for time.Now().Before(deadline) {
			if err := produceOne(cl, "reauth", "more"); err != nil {
				t.Fatalf("produce %d, %s into the session: %v", n, time.Until(deadline), err)
			}
			n++
		}
		if after := connects.Load(); after != before {
			t.Fatalf("the client opened %d new connections over %d produces: it was disconnected instead of re-authenticating", after-before, n)
		}
	})

	t.Run("a client that does not re-authenticate is disconnected", func(t *testing.T) {
		c := dialRaw(t, addr)
		hs := kmsg.NewPtrSASLHandshakeRequest()
		hs.Version, hs.Mechanism = 1, "PLAIN"
		if r := c.roundTrip(hs).(*kmsg.SASLHandshakeResponse); r.ErrorCode != 0 {
			t.Fatalf("handshake: error %d", r.ErrorCode)
		}
		auth := kmsg.NewPtrSASLAuthenticateRequest()
		auth.Version, auth.SASLAuthBytes = 1, []byte("\x00app\x00app-secret")
		start := time.Now()
		r := c.roundTrip(auth).(*kmsg.SASLAuthenticateResponse)
		if r.ErrorCode != 0 || r.SessionLifetimeMillis != lifetime.Milliseconds() {
			t.Fatalf("authenticate: error %d, session lifetime %dms", r.ErrorCode, r.SessionLifetimeMillis)
		}
		md := kmsg.NewPtrMetadataRequest()
		md.Version = 12
		if r := c.roundTrip(md).(*kmsg.MetadataResponse); len(r.Brokers) == 0 {
			t.Fatal("metadata within the session: no brokers")
		}
		// Wait out the session: the expiry itself is the behaviour under test.
		time.Sleep(time.Until(start.Add(lifetime + 200*time.Millisecond)))
		c.send(c.frame(md))
		c.expectClosed()
	})

	t.Run("SaslHandshake v0 with bare tokens", func(t *testing.T) {
		// A token may be shorter than any request header ("\x00u\x00p").
		for _, login := range [][2]string{{"u", "p"}, {"app", "app-secret"}, {"app", "wrong"}} {
			c := dialRaw(t, addr)
			hs := kmsg.NewPtrSASLHandshakeRequest()
			hs.Version, hs.Mechanism = 0, "PLAIN"
			if r := c.roundTrip(hs).(*kmsg.SASLHandshakeResponse); r.ErrorCode != 0 {
				t.Fatalf("handshake v0: error %d", r.ErrorCode)
			}
			token := []byte("\x00" + login[0] + "\x00" + login[1])
			c.send(binary.BigEndian.AppendUint32(nil, uint32(len(token))))
			c.send(token)
			if login[1] == "wrong" {
				c.expectClosed()
				continue
			}
			var size [4]byte
			if _, err := io.ReadFull(c.nc, size[:]); err != nil || binary.BigEndian.Uint32(size[:]) != 0 {
				t.Fatalf("bare reply to a PLAIN token: %v %v", size, err)
			}
			md := kmsg.NewPtrMetadataRequest()
			md.Version = 4
			if r := c.roundTrip(md).(*kmsg.MetadataResponse); len(r.Brokers) == 0 {
				t.Fatal("metadata after a v0 login: no brokers")
			}
		}
	})
}

type connectHook struct{ n *atomic.Int64 }

func (h connectHook) OnBrokerConnect(_ kgo.BrokerMetadata, _ time.Duration, _ net.Conn, err error) {
	if err == nil {
		h.n.Add(1)
	}
}
