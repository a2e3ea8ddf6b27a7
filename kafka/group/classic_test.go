package group

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestJoinSyncHeartbeat(t *testing.T) {
	c, _ := newTestCoordinator(t, Config{})
	id, ch := joinNew(t, c, "g")
	jr := now(t, ch)
	if jr.ErrorCode != 0 || jr.Generation != 1 || jr.LeaderID != id || jr.MemberID != id || *jr.Protocol != "range" || *jr.ProtocolType != "consumer" {
		t.Fatalf("join: %+v", jr)
	}
	if len(jr.Members) != 1 || string(jr.Members[0].ProtocolMetadata) != "meta-"+id {
		t.Fatalf("leader got members %+v", jr.Members)
	}
	if s := describeState(t, c, "g"); s != "CompletingRebalance" {
		t.Fatalf("state after join %q", s)
	}
	sr := now(t, c.Sync(syncReq("g", id, 1, map[string]string{id: "mine"})))
	if sr.ErrorCode != 0 || string(sr.MemberAssignment) != "mine" {
		t.Fatalf("sync: %+v", sr)
	}
	if s := describeState(t, c, "g"); s != "Stable" {
		t.Fatalf("state after sync %q", s)
	}

	tests := []struct {
		name   string
		group  string
		member string
		gen    int32
		want   *kerr.Error
	}{
		{"current member and generation", "g", id, 1, nil},
		{"old generation", "g", id, 0, kerr.IllegalGeneration},
		{"unknown member", "g", "nobody", 1, kerr.UnknownMemberID},
		{"unknown group", "other", id, 1, kerr.UnknownMemberID},
		{"empty group id", "", id, 1, kerr.InvalidGroupID},
	}
	for _, tt := range tests {
		wantCode(t, tt.name, heartbeat(c, tt.group, tt.member, tt.gen, nil), tt.want)
	}
	wantCode(t, "sync of an old generation", now(t, c.Sync(syncReq("g", id, 0, nil))).ErrorCode, kerr.IllegalGeneration)
	sr = now(t, c.Sync(syncReq("g", id, 1, nil)))
	if sr.ErrorCode != 0 || string(sr.MemberAssignment) != "mine" {
		t.Fatalf("sync repeated in Stable: %+v", sr)
	}
}

// TestJoinBelowV4 joins at once: clients before v4 (segmentio/kafka-go)
// cannot handle MEMBER_ID_REQUIRED.
func TestJoinBelowV4(t *testing.T) {
	c, _ := newTestCoordinator(t, Config{})
	for v := int16(0); v < 4; v++ {
		group := "g" + string(rune('0'+v))
		jr := now(t, c.Join(joinReq(group, "", v), testClient))
		if jr.ErrorCode != 0 || jr.MemberID == "" || jr.Generation != 1 {
			t.Fatalf("v%d join: %+v", v, jr)
		}
	}
}

func TestJoinRejections(t *testing.T) {
	c, _ := newTestCoordinator(t, Config{MinSessionTimeout: time.Second, MaxSessionTimeout: time.Minute})
	id, _ := stableSingle(t, c, "g")
	tests := []struct {
		name string
		edit func(*kmsg.JoinGroupRequest)
		want *kerr.Error
	}{
		{"session timeout below the minimum", func(r *kmsg.JoinGroupRequest) { r.SessionTimeoutMillis = 999 }, kerr.InvalidSessionTimeout},
		{"session timeout above the maximum", func(r *kmsg.JoinGroupRequest) { r.SessionTimeoutMillis = 61_000 }, kerr.InvalidSessionTimeout},
		{"other protocol type", func(r *kmsg.JoinGroupRequest) { r.ProtocolType = "connect" }, kerr.InconsistentGroupProtocol},
		{"no common protocol", func(r *kmsg.JoinGroupRequest) { r.Protocols[0].Name = "roundrobin" }, kerr.InconsistentGroupProtocol},
		{"no protocols", func(r *kmsg.JoinGroupRequest) { r.Protocols = nil }, kerr.InconsistentGroupProtocol},
		{"unknown member id", func(r *kmsg.JoinGroupRequest) { r.MemberID = "stranger" }, kerr.UnknownMemberID},
		{"empty group id", func(r *kmsg.JoinGroupRequest) { r.Group = "" }, kerr.InvalidGroupID},
	}
	for _, tt := range tests {
		req := joinReq("g", "", 9)
		tt.edit(req)
		wantCode(t, tt.name, now(t, c.Join(req, testClient)).ErrorCode, tt.want)
	}
	if s := describeState(t, c, "g"); s != "Stable" {
		t.Fatalf("rejected joins disturbed the group: %q", s)
	}
	wantCode(t, "member still there", heartbeat(c, "g", id, 1, nil), nil)
	// A rejected first join leaves no group behind.
	req := joinReq("new", "", 9)
	req.SessionTimeoutMillis = 1
	now(t, c.Join(req, testClient))
	if s := describeState(t, c, "new"); s != "Dead" {
		t.Fatalf("group after a rejected first join: %q", s)
	}
}

// TestSecondMemberRebalances walks a rebalance: a new member makes the
// group prepare; the existing member learns it from its heartbeat and
// rejoins; both get the new generation, only the leader the member list; a
// follower's sync waits for the leader's.
func TestSecondMemberRebalances(t *testing.T) {
	c, _ := newTestCoordinator(t, Config{})
	a, gen := stableSingle(t, c, "g")

	b, bJoin := joinNew(t, c, "g")
	parked(t, bJoin)
	if s := describeState(t, c, "g"); s != "PreparingRebalance" {
		t.Fatalf("state with a joining member %q", s)
	}
	wantCode(t, "heartbeat during the rebalance", heartbeat(c, "g", a, gen, nil), kerr.RebalanceInProgress)
	commit := kmsg.NewPtrOffsetCommitRequest()
	commit.Version, commit.Group, commit.MemberID, commit.Generation = 8, "g", a, gen
	wantCode(t, "commit while preparing", c.ValidateCommit(commit).Code, nil)

	aJoin := c.Join(joinReq("g", a, 9), testClient)
	ra, rb := now(t, aJoin), now(t, bJoin)
	if ra.Generation != gen+1 || rb.Generation != gen+1 || ra.LeaderID != a || rb.LeaderID != a {
		t.Fatalf("join responses: %+v / %+v", ra, rb)
	}
	if len(ra.Members) != 2 || len(rb.Members) != 0 {
		t.Fatalf("leader got %d members, follower %d", len(ra.Members), len(rb.Members))
	}
	commit.Generation = gen + 1
	wantCode(t, "commit before the leader's sync", c.ValidateCommit(commit).Code, kerr.RebalanceInProgress)

	bSync := c.Sync(syncReq("g", b, gen+1, nil))
	parked(t, bSync)
	aSync := now(t, c.Sync(syncReq("g", a, gen+1, map[string]string{a: "A", b: "B"})))
	if string(aSync.MemberAssignment) != "A" || string(now(t, bSync).MemberAssignment) != "B" {
		t.Fatalf("assignments not delivered")
	}
	dg := c.Describe([]string{"g"})[0]
	if dg.State != "Stable" || dg.Protocol != "range" || len(dg.Members) != 2 {
		t.Fatalf("described %+v", dg)
	}
	for _, m := range dg.Members {
		if string(m.MemberAssignment) != map[string]string{a: "A", b: "B"}[m.MemberID] || string(m.ProtocolMetadata) != "meta-"+m.MemberID {
			t.Fatalf("described member %+v", m)
		}
	}
}

// TestProtocolSelection: the chosen protocol is one every member supports,
// the most preferred.
func TestProtocolSelection(t *testing.T) {
	c, _ := newTestCoordinator(t, Config{})
	req := func(id string, names ...string) *kmsg.JoinGroupRequest {
		r := joinReq("g", id, 3)
		r.Protocols = nil
		for _, n := range names {
			r.Protocols = append(r.Protocols, kmsg.JoinGroupRequestProtocol{Name: n})
		}
		return r
	}
	first := now(t, c.Join(req("", "cooperative-sticky", "range"), testClient))
	a := first.MemberID
	bJoin := c.Join(req("", "roundrobin", "range", "cooperative-sticky"), testClient)
	aJoin := c.Join(req(a, "cooperative-sticky", "range"), testClient)
	for _, r := range []*kmsg.JoinGroupResponse{now(t, aJoin), now(t, bJoin)} {
		// Each votes for its first common protocol: one vote each, ties
		// broken by name.
		if *r.Protocol != "cooperative-sticky" {
			t.Fatalf("chose %q", *r.Protocol)
		}
	}
}

func TestStaticMembership(t *testing.T) {
	c, _ := newTestCoordinator(t, Config{})
	inst := "instance-1"
	static := func(memberID string, meta string) *kmsg.JoinGroupRequest {
		r := joinReq("g", memberID, 9)
		r.InstanceID = &inst
		r.Protocols[0].Metadata = []byte(meta)
		return r
	}
	// Static members join without MEMBER_ID_REQUIRED.
	jr := now(t, c.Join(static("", "v1"), testClient))
	if jr.ErrorCode != 0 || jr.Generation != 1 {
		t.Fatalf("static join: %+v", jr)
	}
	old := jr.MemberID
	now(t, c.Sync(syncReq("g", old, 1, map[string]string{old: "assigned"})))
	other, otherJoin := joinNew(t, c, "g")
	oldRejoin := c.Join(static(old, "v1"), testClient)
	now(t, otherJoin)
	r := now(t, oldRejoin)
	gen := r.Generation
	otherSync := c.Sync(syncReq("g", other, gen, nil))
	now(t, c.Sync(syncReq("g", r.LeaderID, gen, map[string]string{old: "assigned", other: "theirs"})))
	now(t, otherSync)

	// The restarted instance joins with no member id: it takes over
	// without a rebalance and keeps its assignment.
	jr = now(t, c.Join(static("", "v1"), testClient))
	if jr.ErrorCode != 0 || jr.Generation != gen || jr.MemberID == old {
		t.Fatalf("static rejoin: %+v", jr)
	}
	replaced := jr.MemberID
	if s := describeState(t, c, "g"); s != "Stable" {
		t.Fatalf("static replacement rebalanced: %q", s)
	}
	sr := now(t, c.Sync(syncReq("g", replaced, gen, nil)))
	if string(sr.MemberAssignment) != "assigned" {
		t.Fatalf("replacement got assignment %q", sr.MemberAssignment)
	}
	wantCode(t, "other member unaffected", heartbeat(c, "g", other, gen, nil), nil)
	wantCode(t, "stale incarnation", heartbeat(c, "g", old, gen, &inst), kerr.FencedInstanceID)
	wantCode(t, "current incarnation", heartbeat(c, "g", replaced, gen, &inst), nil)
	wantCode(t, "stale join", now(t, c.Join(static(old, "v1"), testClient)).ErrorCode, kerr.FencedInstanceID)
	commit := kmsg.NewPtrOffsetCommitRequest()
	commit.Version, commit.Group, commit.MemberID, commit.Generation, commit.InstanceID = 8, "g", old, gen, &inst
	wantCode(t, "stale commit", c.ValidateCommit(commit).Code, kerr.FencedInstanceID)

	// A replacement that prefers another protocol does not rebalance
	// while the group's choice stays (the other member only has range).
	r2 := static("", "v2")
	r2.Protocols[0].Name = "roundrobin"
	r2.Protocols = append(r2.Protocols, kmsg.JoinGroupRequestProtocol{Name: "range"})
	if jr := now(t, c.Join(r2, testClient)); jr.ErrorCode != 0 || jr.Generation != gen || *jr.Protocol != "range" {
		t.Fatalf("static rejoin preferring another protocol: %+v", jr)
	}
	if s := describeState(t, c, "g"); s != "Stable" {
		t.Fatalf("state %q", s)
	}

	// Alone in a group, a replacement whose preference changes the choice
	// makes the group rebalance.
	solo := "solo"
	sr1 := joinReq("h", "", 9)
	sr1.InstanceID = &solo
	first := now(t, c.Join(sr1, testClient))
	now(t, c.Sync(syncReq("h", first.MemberID, first.Generation, nil)))
	sr2 := joinReq("h", "", 9)
	sr2.InstanceID = &solo
	sr2.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "roundrobin"}, {Name: "range"}}
	jr = now(t, c.Join(sr2, testClient)) // alone: the join phase completes at once
	if jr.Generation != first.Generation+1 || *jr.Protocol != "roundrobin" {
		t.Fatalf("static rejoin changing the protocol: %+v", jr)
	}
}

func TestSessionTimeoutRemovesMember(t *testing.T) {
	c, _ := newTestCoordinator(t, Config{})
	a, gen := stableSingle(t, c, "g")
	// b joins with a short session and never heartbeats after its sync.
	rb := now(t, c.Join(joinReq("g", "", 9), testClient))
	breq := joinReq("g", rb.MemberID, 9)
	breq.SessionTimeoutMillis = 50
	bJoin := c.Join(breq, testClient)
	aJoin := c.Join(joinReq("g", a, 9), testClient)
	now(t, bJoin)
	gen = now(t, aJoin).Generation
	bSync := c.Sync(syncReq("g", rb.MemberID, gen, nil))
	now(t, c.Sync(syncReq("g", a, gen, map[string]string{a: "A", rb.MemberID: "B"})))
	now(t, bSync)

	deadline := time.Now().Add(10 * time.Second)
	for heartbeat(c, "g", a, gen, nil) != kerr.RebalanceInProgress.Code {
		if time.Now().After(deadline) {
			t.Fatal("b's session never expired")
		}
		time.Sleep(5 * time.Millisecond)
	}
	wantCode(t, "expired member", heartbeat(c, "g", rb.MemberID, gen, nil), kerr.UnknownMemberID)
	r := now(t, c.Join(joinReq("g", a, 9), testClient))
	if r.Generation != gen+1 || len(r.Members) != 1 {
		t.Fatalf("rejoin after expiry: %+v", r)
	}
}

func TestRebalanceTimeoutRemovesLaggards(t *testing.T) {
	c, _ := newTestCoordinator(t, Config{})
	short := func(id string) *kmsg.JoinGroupRequest {
		r := joinReq("g", id, 3)
		r.RebalanceTimeoutMillis = 50
		return r
	}
	a := now(t, c.Join(short(""), testClient)).MemberID
	bJoin := c.Join(short(""), testClient) // a must rejoin; it never does
	rb := eventually(t, bJoin)
	if rb.ErrorCode != 0 || len(rb.Members) != 1 || rb.LeaderID != rb.MemberID {
		t.Fatalf("join after the rebalance timeout: %+v", rb)
	}
	wantCode(t, "member that did not rejoin", heartbeat(c, "g", a, rb.Generation, nil), kerr.UnknownMemberID)
}

func TestSyncTimeoutRemovesMembers(t *testing.T) {
	c, _ := newTestCoordinator(t, Config{})
	req := joinReq("g", "", 3)
	req.RebalanceTimeoutMillis = 50
	r := now(t, c.Join(req, testClient))
	// The member never syncs: once the rebalance timeout passes it is
	// removed and the group, now without members, is Empty.
	deadline := time.Now().Add(10 * time.Second)
	for describeState(t, c, "g") != "Empty" {
		if time.Now().After(deadline) {
			t.Fatalf("member that never synced is still there: %q", describeState(t, c, "g"))
		}
		time.Sleep(5 * time.Millisecond)
	}
	wantCode(t, "removed member", heartbeat(c, "g", r.MemberID, r.Generation, nil), kerr.UnknownMemberID)
}

// TestPendingMemberBlocksJoin: a member id handed out with
// MEMBER_ID_REQUIRED holds the join phase open until it joins or its session
// expires.
func TestPendingMemberBlocksJoin(t *testing.T) {
	c, _ := newTestCoordinator(t, Config{})
	a, _ := stableSingle(t, c, "g")
	req := joinReq("g", "", 9)
	req.SessionTimeoutMillis = 50
	pending := now(t, c.Join(req, testClient))
	wantCode(t, "pending", pending.ErrorCode, kerr.MemberIDRequired)
	aJoin := c.Join(joinReq("g", a, 9), testClient) // the leader rejoins: a rebalance
	parked(t, aJoin)
	r := eventually(t, aJoin)
	if r.ErrorCode != 0 || len(r.Members) != 1 {
		t.Fatalf("join after the pending member expired: %+v", r)
	}
	wantCode(t, "expired pending id", now(t, c.Join(joinReq("g", pending.MemberID, 9), testClient)).ErrorCode, kerr.UnknownMemberID)
}

func TestLeave(t *testing.T) {
	c, _ := newTestCoordinator(t, Config{})
	inst := "i-1"
	sreq := joinReq("g", "", 9)
	sreq.InstanceID = &inst
	s := now(t, c.Join(sreq, testClient)).MemberID
	d, dJoin := joinNew(t, c, "g")
	sJoin := c.Join(func() *kmsg.JoinGroupRequest { r := joinReq("g", s, 9); r.InstanceID = &inst; return r }(), testClient)
	gen := now(t, sJoin).Generation
	now(t, dJoin)

	req := kmsg.NewPtrLeaveGroupRequest()
	req.Version, req.Group = 5, "g"
	wrong := "i-2"
	req.Members = []kmsg.LeaveGroupRequestMember{
		{MemberID: "nobody"},
		{MemberID: "wrong-id", InstanceID: &inst},
		{InstanceID: &wrong},
		{MemberID: d},
	}
	resp := c.Leave(req)
	want := []*kerr.Error{kerr.UnknownMemberID, kerr.FencedInstanceID, kerr.UnknownMemberID, nil}
	if resp.ErrorCode != 0 || len(resp.Members) != len(want) {
		t.Fatalf("leave: %+v", resp)
	}
	for i, w := range want {
		wantCode(t, "leave member", resp.Members[i].ErrorCode, w)
	}
	if st := describeState(t, c, "g"); st != "PreparingRebalance" {
		t.Fatalf("state after a leave %q", st)
	}
	// The static member leaves by instance id alone; the group empties.
	req.Members = []kmsg.LeaveGroupRequestMember{{InstanceID: &inst}}
	resp = c.Leave(req)
	if resp.Members[0].ErrorCode != 0 || resp.Members[0].MemberID != s {
		t.Fatalf("leave by instance id: %+v", resp.Members[0])
	}
	if st := describeState(t, c, "g"); st != "Empty" {
		t.Fatalf("state after everyone left %q", st)
	}
	wantCode(t, "heartbeat after leaving", heartbeat(c, "g", s, gen, nil), kerr.UnknownMemberID)

	old := kmsg.NewPtrLeaveGroupRequest()
	old.Version, old.Group, old.MemberID = 2, "g", "nobody"
	wantCode(t, "v2 leave of an unknown member", c.Leave(old).ErrorCode, kerr.UnknownMemberID)
	old.Group = "no-group"
	wantCode(t, "leave of an unknown group", c.Leave(old).ErrorCode, kerr.UnknownMemberID)
}

func TestValidateCommitClassic(t *testing.T) {
	c, md := newTestCoordinator(t, Config{})
	a, gen := stableSingle(t, c, "stable")
	md.offsets["offsets-only"] = true
	tests := []struct {
		name     string
		group    string
		member   string
		gen      int32
		version  int16
		instance *string
		want     *kerr.Error
	}{
		{"member of the current generation", "stable", a, gen, 8, nil, nil},
		{"old generation", "stable", a, gen - 1, 8, nil, kerr.IllegalGeneration},
		{"unknown member", "stable", "x", gen, 8, nil, kerr.UnknownMemberID},
		{"admin commit into a group with members", "stable", "", -1, 8, nil, kerr.UnknownMemberID},
		{"admin commit into a new group", "simple", "", -1, 2, nil, nil},
		{"admin commit into a group known by its offsets", "offsets-only", "", -1, 9, nil, nil},
		{"member commit into an unknown group, v8", "unknown", "x", 3, 8, nil, kerr.IllegalGeneration},
		{"member commit into an unknown group, v9", "unknown", "x", 3, 9, nil, kerr.GroupIDNotFound},
		{"member commit into an empty group", "offsets-only", "x", 3, 9, nil, kerr.UnknownMemberID},
		{"empty group id", "", "", -1, 9, nil, kerr.InvalidGroupID},
	}
	for _, tt := range tests {
		req := kmsg.NewPtrOffsetCommitRequest()
		req.Version, req.Group, req.MemberID, req.Generation, req.InstanceID = tt.version, tt.group, tt.member, tt.gen, tt.instance
		wantCode(t, tt.name, c.ValidateCommit(req).Code, tt.want)
	}
	if st := describeState(t, c, "simple"); st != "Empty" {
		t.Fatalf("group created by an admin commit: %q", st)
	}
}

func TestCloseAnswersParkedRequests(t *testing.T) {
	c, _ := newTestCoordinator(t, Config{})
	a, _ := stableSingle(t, c, "g")
	_, bJoin := joinNew(t, c, "g")
	_ = a
	parked(t, bJoin)
	c.Close()
	wantCode(t, "parked join", eventually(t, bJoin).ErrorCode, kerr.NotCoordinator)
	wantCode(t, "join after close", now(t, c.Join(joinReq("g", "", 9), testClient)).ErrorCode, kerr.NotCoordinator)
}
