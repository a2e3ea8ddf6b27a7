package gossip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// patience bounds every wait: generous, because tests share two cores under
// -race; nothing asserts how fast gossip converges.
const patience = 20 * time.Second

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", patience, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func testMeta(id int32) Meta {
	return Meta{
		NodeID:    id,
		KafkaAddr: "127.0.0.1:" + strconv.Itoa(9000+int(id)),
		RaftAddr:  "127.0.0.1:" + strconv.Itoa(9100+int(id)),
		HTTPAddr:  "127.0.0.1:" + strconv.Itoa(9200+int(id)),
		AZ:        "az-" + strconv.Itoa(int(id)%2),
		Roles:     []string{"broker", "voter"},
	}
}

// node is a started Gossip with its events recorded.
type node struct {
	*Gossip
	mu     sync.Mutex
	events []Event
}

func startNode(t *testing.T, id int32, seeds []string, mutate func(*Config)) *node {
	t.Helper()
	n, err := tryStart(t, id, seeds, mutate)
	if err != nil {
		t.Fatalf("start node %d: %v", id, err)
	}
	return n
}

func tryStart(t *testing.T, id int32, seeds []string, mutate func(*Config)) (*node, error) {
	t.Helper()
	cfg := TestProfile()
	cfg.Meta = testMeta(id)
	cfg.Join = seeds
	if mutate != nil {
		mutate(&cfg)
	}
	g, err := Start(t.Context(), cfg)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { g.Shutdown() })
	n := &node{Gossip: g}
	go func() {
		for ev := range g.Events() {
			n.mu.Lock()
			n.events = append(n.events, ev)
			n.mu.Unlock()
		}
	}()
	return n, nil
}

// saw reports whether n received an event of type typ about member name.
func (n *node) saw(typ EventType, name string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, ev := range n.events {
		if ev.Type == typ && ev.Member.Name == name {
			return true
		}
	}
	return false
}

// memberNames returns the names Members lists, in order.
func memberNames(g *Gossip) []string {
	var names []string
	for _, m := range g.Members() {
		names = append(names, m.Name)
	}
	return names
}

func hasMembers(g *Gossip, names ...string) bool {
	return reflect.DeepEqual(memberNames(g), names)
}

// cluster starts nodes with the given ids, all joining the first.
func cluster(t *testing.T, ids ...int32) []*node {
	t.Helper()
	first := startNode(t, ids[0], nil, nil)
	nodes := []*node{first}
	for _, id := range ids[1:] {
		nodes = append(nodes, startNode(t, id, []string{first.Addr()}, nil))
	}
	return nodes
}

func TestJoinSeesEveryonesMeta(t *testing.T) {
	nodes := cluster(t, 3, 1, 2) // the seed has the highest id: Members must sort
	for _, n := range nodes {
		waitFor(t, n.name+" to see all three", func() bool { return hasMembers(n.Gossip, "wisp-1", "wisp-2", "wisp-3") })
		for _, m := range n.Members() {
			if want := testMeta(m.Meta.NodeID); !reflect.DeepEqual(m.Meta, want) {
				t.Errorf("%s sees %s meta %+v, want %+v", n.name, m.Name, m.Meta, want)
			}
			if m.State != StateAlive {
				t.Errorf("%s sees %s %v", n.name, m.Name, m.State)
			}
			if m.Name == NodeName(m.Meta.NodeID) && m.Addr == "" {
				t.Errorf("%s sees %s without an address", n.name, m.Name)
			}
		}
	}
	seed := nodes[0]
	waitFor(t, "join events on the seed", func() bool {
		return seed.saw(EventJoin, "wisp-3") && seed.saw(EventJoin, "wisp-1") && seed.saw(EventJoin, "wisp-2")
	})
	if got := seed.LocalMember(); got.Name != "wisp-3" || got.Addr != seed.Addr() || !reflect.DeepEqual(got.Meta, testMeta(3)) {
		t.Errorf("LocalMember = %+v", got)
	}
}

func TestUpdateMetaPropagates(t *testing.T) {
	nodes := cluster(t, 1, 2, 3)
	for _, n := range nodes {
		waitFor(t, "cluster of three", func() bool { return len(n.Members()) == 3 })
	}
	updated := testMeta(2)
	updated.KafkaAddr = "10.0.0.2:19092"
	updated.Roles = []string{"broker"}
	if err := nodes[1].UpdateMeta(updated); err != nil {
		t.Fatal(err)
	}
	for _, n := range []*node{nodes[0], nodes[2]} {
		waitFor(t, n.name+" to see the new meta", func() bool {
			for _, m := range n.Members() {
				if m.Name == "wisp-2" {
					return reflect.DeepEqual(m.Meta, updated)
				}
			}
			return false
		})
		waitFor(t, n.name+" to get an update event", func() bool { return n.saw(EventUpdate, "wisp-2") })
	}
	other := updated
	other.NodeID = 7
	if err := nodes[1].UpdateMeta(other); err == nil {
		t.Error("UpdateMeta changing the node id succeeded")
	}
}

func TestGracefulLeave(t *testing.T) {
	nodes := cluster(t, 1, 2, 3)
	for _, n := range nodes {
		waitFor(t, "cluster of three", func() bool { return len(n.Members()) == 3 })
	}
	if err := nodes[2].Leave(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	nodes[2].Shutdown()
	for _, n := range nodes[:2] {
		waitFor(t, n.name+" to see wisp-3 leave", func() bool {
			return n.saw(EventLeave, "wisp-3") && hasMembers(n.Gossip, "wisp-1", "wisp-2")
		})
		if n.saw(EventFail, "wisp-3") {
			t.Errorf("%s saw a graceful leave as a failure", n.name)
		}
	}
	if err := nodes[2].Leave(time.Second); !errors.Is(err, ErrShutdown) {
		t.Errorf("Leave after Shutdown = %v, want ErrShutdown", err)
	}
}

func TestKillYieldsFail(t *testing.T) {
	nodes := cluster(t, 1, 2, 3)
	for _, n := range nodes {
		waitFor(t, "cluster of three", func() bool { return len(n.Members()) == 3 })
	}
	nodes[2].Shutdown() // no leave: as if killed
	for _, n := range nodes[:2] {
		waitFor(t, n.name+" to declare wisp-3 failed", func() bool {
			return n.saw(EventFail, "wisp-3") && hasMembers(n.Gossip, "wisp-1", "wisp-2")
		})
		if n.saw(EventLeave, "wisp-3") {
			t.Errorf("%s saw a kill as a graceful leave", n.name)
		}
	}
	if err := nodes[2].Shutdown(); err != nil {
		t.Errorf("second Shutdown: %v", err)
	}
	if _, open := <-nodes[2].Events(); open {
		// Drained by the recorder; a receive on a closed channel returns at once.
		t.Error("Events channel still open after Shutdown")
	}
}

func TestRestartOnNewAddressRejoins(t *testing.T) {
	nodes := cluster(t, 1, 2)
	waitFor(t, "cluster of two", func() bool { return len(nodes[0].Members()) == 2 })
	nodes[1].Shutdown()
	waitFor(t, "wisp-2 failed", func() bool { return nodes[0].saw(EventFail, "wisp-2") })
	again := startNode(t, 2, []string{nodes[0].Addr()}, nil) // same id, new port
	waitFor(t, "restarted wisp-2 to be alive at its new address", func() bool {
		for _, m := range nodes[0].Members() {
			if m.Name == "wisp-2" {
				return m.Addr == again.Addr()
			}
		}
		return false
	})
}

func TestEncryption(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	withKey := func(k []byte) func(*Config) { return func(c *Config) { c.SecretKey = k } }
	seed := startNode(t, 1, nil, withKey(key))
	member := startNode(t, 2, []string{seed.Addr()}, withKey(key))
	waitFor(t, "the keyed member to join", func() bool { return len(seed.Members()) == 2 && len(member.Members()) == 2 })

	for _, tc := range []struct {
		name string
		key  []byte
	}{
		{"wrong key", []byte("fedcba9876543210")},
		{"no key", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tryStart(t, 3, []string{seed.Addr()}, withKey(tc.key))
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Field != "join" {
				t.Fatalf("Start = %v, want a join error", err)
			}
			if names := memberNames(seed.Gossip); len(names) != 2 {
				t.Errorf("seed sees %v", names)
			}
		})
	}
}

// captureHandler records log messages, so a test can wait for a retry to
// have happened instead of sleeping.
type captureHandler struct {
	mu   sync.Mutex
	msgs []string
}

func (h *captureHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *captureHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	h.msgs = append(h.msgs, r.Message)
	h.mu.Unlock()
	return nil
}
func (h *captureHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *captureHandler) WithGroup(string) slog.Handler      { return h }
func (h *captureHandler) count(msg string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, m := range h.msgs {
		if m == msg {
			n++
		}
	}
	return n
}

// freePort returns a port that was free on 127.0.0.1 for both TCP and UDP.
func freePort(t *testing.T) int {
	t.Helper()
	for range 20 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		pc, err := net.ListenPacket("udp", "127.0.0.1:"+strconv.Itoa(port))
		ln.Close()
		if err == nil {
			pc.Close()
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

func TestRetryJoinWaitsForSeed(t *testing.T) {
	seedAddr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	logs := &captureHandler{}
	type result struct {
		n   *node
		err error
	}
	done := make(chan result, 1)
	go func() {
		n, err := tryStart(t, 2, []string{seedAddr}, func(c *Config) {
			c.RetryJoin = true
			c.Logger = slog.New(logs)
		})
		done <- result{n, err}
	}()
	waitFor(t, "a failed join attempt", func() bool { return logs.count("gossip join failed, retrying") >= 2 })
	seed := startNode(t, 1, nil, func(c *Config) { c.BindAddr = seedAddr })
	var r result
	select {
	case r = <-done:
	case <-time.After(patience):
		t.Fatal("Start with RetryJoin never returned after the seed came up")
	}
	if r.err != nil {
		t.Fatalf("retry join: %v", r.err)
	}
	waitFor(t, "both to see each other", func() bool {
		return hasMembers(seed.Gossip, "wisp-1", "wisp-2") && hasMembers(r.n.Gossip, "wisp-1", "wisp-2")
	})
}

func TestJoinFailureNamesFlag(t *testing.T) {
	dead := "127.0.0.1:" + strconv.Itoa(freePort(t))
	tests := []struct {
		name   string
		mutate func(*Config)
	}{
		{"no retry", nil},
		{"retry max", func(c *Config) { c.RetryJoin, c.RetryMax = true, 3 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tryStart(t, 1, []string{dead}, tc.mutate)
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Field != "join" || !strings.Contains(err.Error(), "--join") {
				t.Fatalf("Start = %v, want an error naming --join", err)
			}
		})
	}
	t.Run("context ends retries", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cfg := TestProfile()
		cfg.Meta = testMeta(1)
		cfg.Join, cfg.RetryJoin = []string{dead}, true
		cancel()
		if _, err := Start(ctx, cfg); !errors.Is(err, context.Canceled) {
			t.Fatalf("Start = %v, want context.Canceled", err)
		}
	})
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		field  string
	}{
		{"bad bind port", func(c *Config) { c.BindAddr = "127.0.0.1:99999" }, "gossip-addr"},
		{"unresolvable bind host", func(c *Config) { c.BindAddr = "no-such-host.invalid:0" }, "gossip-addr"},
		{"short key", func(c *Config) { c.SecretKey = []byte("short") }, "gossip-key"},
		{"empty seed host", func(c *Config) { c.Join = []string{":7946"} }, "join"},
		{"bad advertise", func(c *Config) { c.AdvertiseAddr = "127.0.0.1:x" }, "gossip-advertise-addr"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tryStart(t, 1, nil, tc.mutate)
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Field != tc.field {
				t.Fatalf("Start = %v, want a ConfigError for %s", err, tc.field)
			}
		})
	}
	t.Run("port in use", func(t *testing.T) {
		first := startNode(t, 1, nil, nil)
		_, err := tryStart(t, 2, nil, func(c *Config) { c.BindAddr = first.Addr() })
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Field != "gossip-addr" {
			t.Fatalf("Start on a used port = %v, want a gossip-addr error", err)
		}
	})
}

func TestAdvertiseAddr(t *testing.T) {
	n := startNode(t, 1, nil, func(c *Config) { c.AdvertiseAddr = "127.0.0.1" })
	if _, port, _ := net.SplitHostPort(n.Addr()); port == "0" || port == "" {
		t.Errorf("advertised %s: want the bound port", n.Addr())
	}
	m := startNode(t, 2, nil, func(c *Config) { c.AdvertiseAddr = "127.0.0.1:4567" })
	if m.Addr() != "127.0.0.1:4567" {
		t.Errorf("advertised %s, want 127.0.0.1:4567", m.Addr())
	}
}

func TestParseKey(t *testing.T) {
	tests := []struct {
		in      string
		wantLen int
		wantErr bool
	}{
		{"", 0, false},
		{"MDEyMzQ1Njc4OWFiY2RlZg==", 16, false},
		{"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3", 24, false},
		{"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=", 32, false},
		{"c2hvcnQ=", 0, true}, // "short"
		{"not base64!", 0, true},
	}
	for _, tc := range tests {
		key, err := ParseKey(tc.in)
		if (err != nil) != tc.wantErr || len(key) != tc.wantLen {
			t.Errorf("ParseKey(%q) = %d bytes, %v", tc.in, len(key), err)
		}
		var ce *ConfigError
		if err != nil && (!errors.As(err, &ce) || ce.Field != "gossip-key") {
			t.Errorf("ParseKey(%q) error %v does not name gossip-key", tc.in, err)
		}
	}
}

func TestPartitionAndHeal(t *testing.T) {
	nodes := cluster(t, 1, 2, 3)
	for _, n := range nodes {
		waitFor(t, "cluster of three", func() bool { return len(n.Members()) == 3 })
	}
	cut := nodes[2]
	cutAddr := cut.Addr()
	cut.Partition(func(string) bool { return true })
	for _, n := range nodes[:2] {
		n.Partition(func(addr string) bool { return addr == cutAddr })
	}
	for _, n := range nodes[:2] {
		waitFor(t, n.name+" to declare the cut node failed", func() bool {
			return n.saw(EventFail, "wisp-3") && hasMembers(n.Gossip, "wisp-1", "wisp-2")
		})
	}
	waitFor(t, "the cut node to see itself alone", func() bool { return hasMembers(cut.Gossip, "wisp-3") })

	for _, n := range nodes {
		n.Partition(nil)
	}
	for _, n := range nodes {
		waitFor(t, n.name+" to see all three after healing", func() bool {
			return hasMembers(n.Gossip, "wisp-1", "wisp-2", "wisp-3")
		})
	}
}

func TestParseLogLine(t *testing.T) {
	tests := []struct {
		line  string
		msg   string
		level slog.Level
	}{
		{"[DEBUG] memberlist: Stream connection from=1.2.3.4", "Stream connection from=1.2.3.4", slog.LevelDebug},
		{"[WARN] memberlist: Refuting a suspect message", "Refuting a suspect message", slog.LevelWarn},
		{"[ERR] memberlist: Failed to send", "Failed to send", slog.LevelError},
		{"[INFO] memberlist: Marking wisp-3 as failed", "Marking wisp-3 as failed", slog.LevelInfo},
		{"no tag at all", "no tag at all", slog.LevelInfo},
	}
	for _, tc := range tests {
		msg, level := parseLogLine(tc.line)
		if msg != tc.msg || level != tc.level {
			t.Errorf("parseLogLine(%q) = %q, %v; want %q, %v", tc.line, msg, level, tc.msg, tc.level)
		}
	}
}

func TestEventsNeverBlockDelegate(t *testing.T) {
	// Nobody reads Events while many members come and go: gossip must keep
	// working, and every event must still be there to read afterwards.
	cfg := TestProfile()
	cfg.Meta = testMeta(1)
	seed, err := Start(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer seed.Shutdown()
	const joiners = 6
	for i := range joiners {
		id := int32(10 + i)
		n := startNode(t, id, []string{seed.Addr()}, nil)
		waitFor(t, fmt.Sprintf("wisp-%d to join", id), func() bool { return len(seed.Members()) == 2 })
		n.Shutdown()
		waitFor(t, fmt.Sprintf("wisp-%d to fail", id), func() bool { return len(seed.Members()) == 1 })
	}
	var joins, fails int
	for joins+fails < 2*joiners+1 {
		select {
		case ev := <-seed.Events():
			switch ev.Type {
			case EventJoin:
				joins++
			case EventFail:
				fails++
			}
		case <-time.After(patience):
			t.Fatalf("only %d joins and %d fails queued", joins, fails)
		}
	}
	if joins != joiners+1 || fails != joiners {
		t.Errorf("got %d joins and %d fails, want %d and %d", joins, fails, joiners+1, joiners)
	}
}

// TestLateLeaveIntent: when the failure detector reports a member dead
// before its leave intent arrives, the intent still turns into a Leave, and
// the member is no longer dialled for reconnection.
func TestLateLeaveIntent(t *testing.T) {
	n := startNode(t, 1, nil, nil)
	n.failedMu.Lock()
	n.failed["wisp-9"] = failedMember{addr: "127.0.0.1:1", meta: testMeta(9), since: time.Now()}
	n.failedMu.Unlock()

	for _, junk := range [][]byte{nil, {msgLeaveIntent}, {99, 'x'}, append([]byte{msgLeaveIntent}, "wisp-1"...)} {
		n.handleMsg(junk) // ignored: empty, nameless, unknown type, about ourselves
	}
	n.handleMsg(newIntent("wisp-9", nil).Message())
	waitFor(t, "a leave event for wisp-9", func() bool { return n.saw(EventLeave, "wisp-9") })
	if _, ok := n.pickFailed(); ok {
		t.Error("a member that left is still a reconnect candidate")
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, ev := range n.events {
		if ev.Type == EventLeave && ev.Member.Name != "wisp-9" {
			t.Errorf("unexpected leave of %s", ev.Member.Name)
		}
		if ev.Member.Name == "wisp-9" && !reflect.DeepEqual(ev.Member.Meta, testMeta(9)) {
			t.Errorf("leave event meta %+v", ev.Member.Meta)
		}
	}
}
