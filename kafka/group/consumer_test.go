package group

import (
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// cm is a test-side KIP-848 member: what it owns, as a client tracks it.
type cm struct {
	t     *testing.T
	c     *Coordinator
	group string
	id    string
	epoch int32
	owns  map[[16]byte][]int32
	inst  *string
	// rebalanceMs is the rebalance timeout the member sends.
	rebalanceMs int32
}

func newCM(t *testing.T, c *Coordinator, group, id string) *cm {
	return &cm{t: t, c: c, group: group, id: id, owns: map[[16]byte][]int32{}, rebalanceMs: 10_000}
}

func (m *cm) req(topics ...string) *kmsg.ConsumerGroupHeartbeatRequest {
	r := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	r.Version = 1
	r.Group, r.MemberID, r.MemberEpoch, r.InstanceID = m.group, m.id, m.epoch, m.inst
	r.RebalanceTimeoutMillis = m.rebalanceMs
	r.SubscribedTopicNames = topics
	r.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	for _, id := range slices.SortedFunc(maps.Keys(m.owns), func(a, b [16]byte) int { return cmpTP(tp{id: a}, tp{id: b}) }) {
		r.Topics = append(r.Topics, kmsg.ConsumerGroupHeartbeatRequestTopic{TopicID: id, Partitions: slices.Clone(m.owns[id])})
	}
	return r
}

// beat sends a full heartbeat reporting what the member owns and, like a
// client, adopts the assignment and epoch it gets back.
func (m *cm) beat(topics ...string) *kmsg.ConsumerGroupHeartbeatResponse {
	m.t.Helper()
	return m.send(m.req(topics...))
}

func (m *cm) send(req *kmsg.ConsumerGroupHeartbeatRequest) *kmsg.ConsumerGroupHeartbeatResponse {
	m.t.Helper()
	r := m.c.ConsumerHeartbeat(req, testClient)
	if r.ErrorCode != 0 {
		return r
	}
	if r.MemberID != nil {
		m.id = *r.MemberID
	}
	m.epoch = r.MemberEpoch
	if r.Assignment != nil {
		m.owns = map[[16]byte][]int32{}
		for _, at := range r.Assignment.Topics {
			m.owns[at.TopicID] = slices.Clone(at.Partitions)
		}
	}
	return r
}

func (m *cm) count() int {
	n := 0
	for _, ps := range m.owns {
		n += len(ps)
	}
	return n
}

func TestConsumerJoinSplitAndHandover(t *testing.T) {
	c, md := newTestCoordinator(t, Config{})
	orders := topicNamed("orders", 4)
	md.setTopics(orders)

	a := newCM(t, c, "g", "member-a")
	r := a.beat("orders")
	wantCode(t, "join a", r.ErrorCode, nil)
	if a.epoch != 1 || a.count() != 4 || r.HeartbeatIntervalMillis != 5000 {
		t.Fatalf("a after join: epoch %d owns %v interval %d", a.epoch, a.owns, r.HeartbeatIntervalMillis)
	}

	b := newCM(t, c, "g", "member-b")
	wantCode(t, "join b", b.beat("orders").ErrorCode, nil)
	if b.epoch != 2 || b.count() != 0 {
		t.Fatalf("b must wait for a to release: epoch %d owns %v", b.epoch, b.owns)
	}
	if st := c.DescribeConsumer([]string{"g"})[0].State; st != "Reconciling" {
		t.Fatalf("state while moving partitions: %q", st)
	}

	// a is told to revoke two partitions, at its old epoch.
	stillOwned := slices.Clone(a.owns[orders.ID])
	a.beat()
	if a.epoch != 1 || a.count() != 2 {
		t.Fatalf("a while revoking: epoch %d owns %v", a.epoch, a.owns)
	}
	// Until a stops reporting them, b gets nothing.
	keep := a.owns[orders.ID]
	a.owns[orders.ID] = stillOwned
	a.beat()
	a.owns[orders.ID] = keep
	b.beat()
	if b.count() != 0 {
		t.Fatalf("b got partitions a still owns: %v", b.owns)
	}
	a.beat() // a no longer lists them: released, a moves to epoch 2
	if a.epoch != 2 || a.count() != 2 {
		t.Fatalf("a after revoking: epoch %d owns %v", a.epoch, a.owns)
	}
	b.beat()
	if b.count() != 2 {
		t.Fatalf("b after a released: %v", b.owns)
	}
	all := append(slices.Clone(a.owns[orders.ID]), b.owns[orders.ID]...)
	slices.Sort(all)
	if !slices.Equal(all, []int32{0, 1, 2, 3}) {
		t.Fatalf("partitions split as %v + %v", a.owns, b.owns)
	}
	dg := c.DescribeConsumer([]string{"g"})[0]
	if dg.State != "Stable" || dg.Epoch != 2 || dg.AssignmentEpoch != 2 || dg.AssignorName != "uniform" || len(dg.Members) != 2 {
		t.Fatalf("described %+v", dg)
	}
	for _, dm := range dg.Members {
		if len(dm.Assignment.TopicPartitions) != 1 || dm.Assignment.TopicPartitions[0].Topic != "orders" || len(dm.Assignment.TopicPartitions[0].Partitions) != 2 {
			t.Fatalf("described member %+v", dm)
		}
	}

	// a leaves: b takes everything at the next epoch.
	leave := a.req()
	leave.MemberEpoch = epochLeave
	if r := c.ConsumerHeartbeat(leave, testClient); r.ErrorCode != 0 || r.MemberEpoch != -1 {
		t.Fatalf("leave: %+v", r)
	}
	b.beat()
	if b.epoch != 3 || b.count() != 4 {
		t.Fatalf("b after a left: epoch %d owns %v", b.epoch, b.owns)
	}
}

func TestConsumerHeartbeatErrors(t *testing.T) {
	c, md := newTestCoordinator(t, Config{})
	md.setTopics(topicNamed("t", 2))
	a := newCM(t, c, "g", "a")
	a.beat("t")
	b := newCM(t, c, "g", "b")
	b.beat("t")
	a.beat() // revoke one, epoch stays 1
	a.beat() // released: epoch 2, owns one

	tests := []struct {
		name string
		edit func(*kmsg.ConsumerGroupHeartbeatRequest)
		want *kerr.Error
	}{
		{"epoch ahead of the coordinator", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberEpoch = 9 }, kerr.FencedMemberEpoch},
		{"previous epoch owning a subset", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberEpoch = 1 }, nil},
		{"previous epoch without owned partitions", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberEpoch, r.Topics = 1, nil }, kerr.FencedMemberEpoch},
		{"older epoch", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberEpoch = -0 + 0 }, nil}, // epoch 0 rejoins in place
		{"unknown member", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberID = "nobody" }, kerr.UnknownMemberID},
		{"unknown group", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.Group = "nope" }, kerr.UnknownMemberID},
		{"empty member id", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberID = "" }, kerr.InvalidRequest},
		{"empty group id", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.Group = "" }, kerr.InvalidGroupID},
		{"epoch below -2", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberEpoch = -3 }, kerr.InvalidRequest},
		{"static leave without instance id", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberEpoch = -2 }, kerr.InvalidRequest},
		{"join owning partitions", func(r *kmsg.ConsumerGroupHeartbeatRequest) {
			r.MemberEpoch = 0
			r.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{{Partitions: []int32{0}}}
		}, kerr.InvalidRequest},
		{"join without rebalance timeout", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberEpoch, r.RebalanceTimeoutMillis = 0, -1 }, kerr.InvalidRequest},
		{"join without subscription", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberEpoch, r.SubscribedTopicNames = 0, nil }, kerr.InvalidRequest},
		{"unknown assignor", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.ServerAssignor = kmsg.StringPtr("sticky") }, kerr.UnsupportedAssignor},
		{"bad regular expression", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.SubscribedTopicRegex = kmsg.StringPtr("(") }, kerr.InvalidRegularExpression},
	}
	for _, tt := range tests {
		req := a.req("t")
		tt.edit(req)
		if tt.name == "older epoch" {
			req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
		}
		wantCode(t, tt.name, c.ConsumerHeartbeat(req, testClient).ErrorCode, tt.want)
	}

	// A classic group with members cannot be used by the consumer protocol.
	cg, _ := newTestCoordinator(t, Config{})
	stableSingle(t, cg, "classic")
	x := newCM(t, cg, "classic", "x")
	wantCode(t, "join of a classic group", x.beat("t").ErrorCode, kerr.GroupIDNotFound)
}

// TestConsumerRevocationTimeout: a member that never confirms a revocation
// is fenced after its rebalance timeout and its partitions move on.
func TestConsumerRevocationTimeout(t *testing.T) {
	c, md := newTestCoordinator(t, Config{})
	md.setTopics(topicNamed("t", 2))
	a := newCM(t, c, "g", "a")
	a.rebalanceMs = 50
	a.beat("t")
	b := newCM(t, c, "g", "b")
	b.beat("t")
	stuck := maps.Clone(a.owns)
	a.beat() // told to revoke one; never does
	a.owns = stuck
	a.beat()
	deadline := time.Now().Add(10 * time.Second)
	for b.count() != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("b never got the stuck member's partitions: %v", b.owns)
		}
		time.Sleep(5 * time.Millisecond)
		b.beat()
	}
	wantCode(t, "fenced member", a.beat().ErrorCode, kerr.UnknownMemberID)
}

func TestConsumerSessionTimeout(t *testing.T) {
	c, md := newTestCoordinator(t, Config{ConsumerSessionTimeout: 50 * time.Millisecond})
	md.setTopics(topicNamed("t", 4))
	a := newCM(t, c, "g", "a")
	b := newCM(t, c, "g", "b")
	a.beat("t")
	b.beat("t")
	// Only b keeps heartbeating; a's session expires and b gets all.
	deadline := time.Now().Add(10 * time.Second)
	for b.count() != 4 {
		if time.Now().After(deadline) {
			t.Fatalf("b owns %v", b.owns)
		}
		time.Sleep(5 * time.Millisecond)
		b.beat()
	}
	wantCode(t, "expired member", a.beat().ErrorCode, kerr.UnknownMemberID)
}

func TestConsumerStaticMember(t *testing.T) {
	c, md := newTestCoordinator(t, Config{})
	md.setTopics(topicNamed("t", 2))
	inst := "instance"
	a := newCM(t, c, "g", "a")
	a.inst = &inst
	a.beat("t")
	owned, epoch := maps.Clone(a.owns), a.epoch

	// While the instance is in use, another member cannot take it.
	imp := newCM(t, c, "g", "impostor")
	imp.inst = &inst
	wantCode(t, "instance in use", imp.beat("t").ErrorCode, kerr.UnreleasedInstanceID)

	// A static member that leaves with -2 keeps its partitions reserved;
	// its next incarnation takes them over without a new epoch.
	leave := a.req()
	leave.MemberEpoch = epochStaticLeave
	if r := c.ConsumerHeartbeat(leave, testClient); r.ErrorCode != 0 || r.MemberEpoch != -2 {
		t.Fatalf("static leave: %+v", r)
	}
	next := newCM(t, c, "g", "a-restarted")
	next.inst = &inst
	wantCode(t, "static rejoin", next.beat("t").ErrorCode, nil)
	if !maps.EqualFunc(next.owns, owned, slices.Equal) || next.epoch != epoch {
		t.Fatalf("restarted static member got %v at epoch %d, had %v at %d", next.owns, next.epoch, owned, epoch)
	}
	wantCode(t, "old incarnation", a.beat().ErrorCode, kerr.FencedInstanceID)

	// While it is away again, a new member gets a target but nothing it
	// holds: the partitions stay reserved for the static member.
	leave = next.req()
	leave.MemberEpoch = epochStaticLeave
	c.ConsumerHeartbeat(leave, testClient)
	other := newCM(t, c, "g", "other")
	other.beat("t")
	other.beat("t")
	if other.count() != 0 {
		t.Fatalf("a member took the away static member's partitions: %v", other.owns)
	}
	back := newCM(t, c, "g", "a-restarted-again")
	back.inst = &inst
	back.beat("t")
	other.beat("t")
	if back.count() != 1 || other.count() != 1 {
		t.Fatalf("after the static member came back: it owns %v, the new member %v", back.owns, other.owns)
	}
}

func TestConsumerTopicDeleted(t *testing.T) {
	c, md := newTestCoordinator(t, Config{})
	keep, gone := topicNamed("keep", 1), topicNamed("gone", 2)
	md.setTopics(keep, gone)
	a := newCM(t, c, "g", "a")
	a.beat("keep", "gone")
	if a.count() != 3 {
		t.Fatalf("owns %v", a.owns)
	}
	md.setTopics(keep)
	a.beat()                    // the deleted topic's partitions are revoked
	delete(a.owns, gone.ID)     // the client drops them
	r := a.beat("keep", "gone") // and the group goes on
	if r.ErrorCode != 0 || a.count() != 1 || len(a.owns[keep.ID]) != 1 {
		t.Fatalf("after deletion: %+v owns %v", r, a.owns)
	}
	md.setTopics(keep, topicNamed("gone", 1)) // recreated
	a.beat()
	if a.count() != 2 {
		t.Fatalf("recreated topic not assigned: %v", a.owns)
	}
}

func TestConsumerCommitAndFetchValidation(t *testing.T) {
	c, md := newTestCoordinator(t, Config{})
	t1 := topicNamed("t", 2)
	md.setTopics(t1)
	a := newCM(t, c, "g", "a")
	a.beat("t") // epoch 1, owns 0 and 1
	b := newCM(t, c, "g", "b")
	b.beat("t")
	a.beat()
	a.beat() // a: epoch 2, one partition kept since epoch 1
	b.beat() // b: epoch 2, one partition received at epoch 2
	bp := b.owns[t1.ID][0]
	ap := a.owns[t1.ID][0]

	commit := func(m *cm, epoch int32, version int16) CommitVerdict {
		req := kmsg.NewPtrOffsetCommitRequest()
		req.Version, req.Group, req.MemberID, req.Generation = version, "g", m.id, epoch
		return c.ValidateCommit(req)
	}
	wantCode(t, "current epoch", commit(b, 2, 9).PartitionCode(t1.ID, bp), nil)
	wantCode(t, "before v9", commit(b, 2, 8).Code, kerr.UnsupportedVersion)
	wantCode(t, "future epoch", commit(b, 3, 9).Code, kerr.StaleMemberEpoch)
	// An older epoch may commit what the member already had then.
	v := commit(a, 1, 9)
	wantCode(t, "older epoch, partition held since", v.PartitionCode(t1.ID, ap), nil)
	wantCode(t, "older epoch, partition received later", commit(b, 1, 9).PartitionCode(t1.ID, bp), kerr.StaleMemberEpoch)
	wantCode(t, "older epoch, partition not held", v.PartitionCode(t1.ID, bp), kerr.StaleMemberEpoch)
	wantCode(t, "unknown member", commit(newCM(t, c, "g", "x"), 2, 9).Code, kerr.UnknownMemberID)
	admin := kmsg.NewPtrOffsetCommitRequest()
	admin.Version, admin.Group, admin.Generation = 9, "g", -1
	wantCode(t, "admin commit into a group with members", c.ValidateCommit(admin).Code, kerr.UnknownMemberID)

	wantCode(t, "fetch at the current epoch", c.ValidateFetch("g", &b.id, 2), nil)
	wantCode(t, "fetch at another epoch", c.ValidateFetch("g", &b.id, 1), kerr.StaleMemberEpoch)
	wantCode(t, "fetch of an unknown member", c.ValidateFetch("g", kmsg.StringPtr("x"), 1), kerr.UnknownMemberID)
	wantCode(t, "admin fetch", c.ValidateFetch("g", nil, -1), nil)
}

func TestConsumerGroupAdmin(t *testing.T) {
	c, md := newTestCoordinator(t, Config{})
	md.setTopics(topicNamed("t", 2), topicNamed("u", 1))
	md.offsets["only-offsets"] = true
	a := newCM(t, c, "cons", "a")
	re := a.req()
	re.SubscribedTopicRegex = kmsg.StringPtr("t|x")
	a.send(re)
	if a.count() != 2 {
		t.Fatalf("regex subscription got %v", a.owns)
	}
	stableSingle(t, c, "classic")

	listed := c.List(nil, nil)
	got := map[string]string{}
	for _, g := range listed {
		got[g.Group] = g.GroupType + "/" + g.GroupState + "/" + g.ProtocolType
	}
	want := map[string]string{"cons": "consumer/Stable/consumer", "classic": "classic/Stable/consumer", "only-offsets": "classic/Empty/"}
	if !maps.Equal(got, want) {
		t.Fatalf("listed %v, want %v", got, want)
	}
	if l := c.List([]string{"empty"}, nil); len(l) != 1 || l[0].Group != "only-offsets" {
		t.Fatalf("listed by state: %+v", l)
	}
	if l := c.List(nil, []string{"CONSUMER"}); len(l) != 1 || l[0].Group != "cons" {
		t.Fatalf("listed by type: %+v", l)
	}

	d := c.DescribeConsumer([]string{"cons", "classic", "nope"})
	if d[0].ErrorCode != 0 || d[0].Members[0].SubscribedTopicRegex == nil {
		t.Fatalf("consumer group described as %+v", d[0])
	}
	wantCode(t, "describe classic group", d[1].ErrorCode, kerr.GroupIDNotFound)
	wantCode(t, "describe unknown group", d[2].ErrorCode, kerr.GroupIDNotFound)
	if dg := c.Describe([]string{"cons"})[0]; dg.State != "Dead" || dg.ErrorCode != 0 {
		t.Fatalf("DescribeGroups of a consumer group: %+v", dg)
	}

	code, subscribed := c.CheckOffsetDelete("cons")
	if code != 0 || !subscribed("t") || subscribed("u") {
		t.Fatalf("offset delete check: %d, t=%v u=%v", code, subscribed("t"), subscribed("u"))
	}
	wantCode(t, "delete a group with members", c.Delete("cons"), kerr.NonEmptyGroup)
	leave := a.req()
	leave.MemberEpoch = epochLeave
	c.ConsumerHeartbeat(leave, testClient)
	wantCode(t, "delete an empty group", c.Delete("cons"), nil)
	wantCode(t, "delete it again", c.Delete("cons"), kerr.GroupIDNotFound)
	wantCode(t, "delete a group known by its offsets", c.Delete("only-offsets"), nil)
}
