package fsm

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

func cred(user string, mech int8, fill byte) ScramCredential {
	n := scramKeyLen(mech)
	return ScramCredential{User: user, Mechanism: mech, Iterations: 4096,
		Salt: []byte("salt-" + user), StoredKey: bytes.Repeat([]byte{fill}, n), ServerKey: bytes.Repeat([]byte{fill + 1}, n)}
}

func topicACL(name string, pattern int8, principal string, op, perm int8) ACL {
	return ACL{ResourceType: ACLResourceTopic, ResourceName: name, PatternType: pattern, Principal: principal, Host: "*", Operation: op, Permission: perm}
}

func strp(s string) *string { return &s }

func securityCommands() []Command {
	return []Command{
		UpsertScram{Credentials: []ScramCredential{cred("alice", ScramSHA256, 1), cred("bob", ScramSHA512, 7)}},
		UpsertScram{Credentials: []ScramCredential{cred("alice", ScramSHA256, 9)}, OnlyIfAbsent: true},
		UpsertScram{},
		DeleteScram{Keys: []ScramKey{{User: "bob", Mechanism: ScramSHA512}, {User: "nobody", Mechanism: ScramSHA256}}},
		CreateACLs{ACLs: []ACL{topicACL("orders", ACLPatternLiteral, "User:alice", 3, ACLPermAllow),
			{ResourceType: ACLResourceCluster, ResourceName: ACLClusterName, PatternType: ACLPatternLiteral, Principal: "User:*", Host: "10.0.0.1", Operation: 7, Permission: ACLPermDeny}}},
		DeleteACLs{Filters: []ACLFilter{
			{ResourceType: ACLResourceAny, PatternType: ACLPatternAny, Operation: ACLOpAny, Permission: ACLPermAny},
			{ResourceType: ACLResourceTopic, ResourceName: strp("orders"), PatternType: ACLPatternMatch, Principal: strp("User:alice"), Host: strp("*"), Operation: 3, Permission: ACLPermAllow},
		}},
	}
}

func TestSecurityCommandsRoundTrip(t *testing.T) {
	for _, c := range securityCommands() {
		enc, err := Encode(c)
		if err != nil {
			t.Fatalf("encode %T: %v", c, err)
		}
		got, err := Decode(enc)
		if err != nil {
			t.Fatalf("decode %T: %v", c, err)
		}
		if !reflect.DeepEqual(got, c) {
			t.Fatalf("round trip:\n got %#v\nwant %#v", got, c)
		}
	}
	if CmdUpsertScram != 14 || CmdDeleteScram != 15 || CmdCreateACLs != 16 || CmdDeleteACLs != 17 {
		t.Fatal("security command numbers moved: the numbering is append-only")
	}
}

func TestScramApply(t *testing.T) {
	h := newHarness(t)
	res := h.apply(UpsertScram{Credentials: []ScramCredential{
		cred("alice", ScramSHA256, 1), cred("alice", ScramSHA512, 2),
		{User: "broken", Mechanism: ScramSHA256, Iterations: 4096, Salt: []byte("s"), StoredKey: []byte("short"), ServerKey: []byte("short")},
		{User: "", Mechanism: ScramSHA256},
		{User: "odd", Mechanism: 3},
	}}).(ScramResult)
	want := []int16{0, 0, kerr.UnacceptableCredential.Code, kerr.UnacceptableCredential.Code, kerr.UnacceptableCredential.Code}
	if !reflect.DeepEqual(res.ErrorCodes, want) {
		t.Fatalf("upsert codes %v, want %v", res.ErrorCodes, want)
	}

	// OnlyIfAbsent keeps what is there; a plain upsert replaces it.
	h.apply(UpsertScram{Credentials: []ScramCredential{cred("alice", ScramSHA256, 5), cred("carol", ScramSHA256, 6)}, OnlyIfAbsent: true})
	if c, _ := h.f.ScramCredential("alice", ScramSHA256); c.StoredKey[0] != 1 {
		t.Fatal("OnlyIfAbsent replaced an existing credential")
	}
	if _, ok := h.f.ScramCredential("carol", ScramSHA256); !ok {
		t.Fatal("OnlyIfAbsent did not add a missing credential")
	}
	h.apply(UpsertScram{Credentials: []ScramCredential{cred("alice", ScramSHA256, 5)}})
	if c, _ := h.f.ScramCredential("alice", ScramSHA256); c.StoredKey[0] != 5 {
		t.Fatal("upsert did not replace the credential")
	}

	del := h.apply(DeleteScram{Keys: []ScramKey{{"alice", ScramSHA512}, {"alice", ScramSHA512}, {"zed", ScramSHA256}}}).(ScramResult)
	if want := []int16{0, kerr.ResourceNotFound.Code, kerr.ResourceNotFound.Code}; !reflect.DeepEqual(del.ErrorCodes, want) {
		t.Fatalf("delete codes %v, want %v", del.ErrorCodes, want)
	}
	var users []string
	for _, c := range h.f.ScramCredentials() {
		users = append(users, c.User+"/"+ScramMechanismName(c.Mechanism))
	}
	if want := []string{"alice/SCRAM-SHA-256", "carol/SCRAM-SHA-256"}; !reflect.DeepEqual(users, want) {
		t.Fatalf("credentials %v, want %v", users, want)
	}
}

func TestACLApply(t *testing.T) {
	h := newHarness(t)
	allowRead := topicACL("orders", ACLPatternLiteral, "User:alice", 3, ACLPermAllow)
	denyWrite := topicACL("ord", ACLPatternPrefixed, "User:*", 4, ACLPermDeny)
	group := ACL{ResourceType: ACLResourceGroup, ResourceName: "g", PatternType: ACLPatternLiteral, Principal: "User:alice", Host: "*", Operation: 3, Permission: ACLPermAllow}
	res := h.apply(CreateACLs{ACLs: []ACL{
		allowRead, denyWrite, allowRead, group,
		{ResourceType: ACLResourceCluster, ResourceName: "other", PatternType: ACLPatternLiteral, Principal: "User:a", Host: "*", Operation: 7, Permission: ACLPermAllow},
		topicACL("x", ACLPatternMatch, "User:a", 3, ACLPermAllow),
		topicACL("x", ACLPatternLiteral, "alice", 3, ACLPermAllow),
	}}).(CreateACLsResult)
	bad := kerr.InvalidRequest.Code
	if want := []int16{0, 0, 0, 0, bad, bad, bad}; !reflect.DeepEqual(res.ErrorCodes, want) {
		t.Fatalf("create codes %v, want %v", res.ErrorCodes, want)
	}
	acls, v1 := h.f.ACLs()
	if want := []ACL{allowRead, denyWrite, group}; !reflect.DeepEqual(acls, want) {
		t.Fatalf("ACLs %v, want %v (deduplicated, sorted)", acls, want)
	}

	// Creating an existing binding changes nothing, not even the version.
	h.apply(CreateACLs{ACLs: []ACL{allowRead}})
	if _, v := h.f.ACLs(); v != v1 {
		t.Fatalf("version moved from %d to %d without a change", v1, v)
	}

	del := h.apply(DeleteACLs{Filters: []ACLFilter{
		{ResourceType: ACLResourceTopic, ResourceName: strp("orders-eu"), PatternType: ACLPatternMatch, Operation: ACLOpAny, Permission: ACLPermAny},
		{ResourceType: ACLResourceTopic, PatternType: ACLPatternPrefixed, Operation: ACLOpAny, Permission: ACLPermAny},
		{ResourceType: 0, PatternType: ACLPatternAny, Operation: ACLOpAny, Permission: ACLPermAny},
	}}).(DeleteACLsResult)
	if want := []int16{0, 0, bad}; !reflect.DeepEqual(del.ErrorCodes, want) {
		t.Fatalf("delete codes %v, want %v", del.ErrorCodes, want)
	}
	// orders-eu is matched by the prefix "ord" but not by the literal "orders".
	if want := [][]ACL{{denyWrite}, {denyWrite}, nil}; !reflect.DeepEqual(del.Deleted, want) {
		t.Fatalf("deleted %v, want %v", del.Deleted, want)
	}
	acls, v2 := h.f.ACLs()
	if want := []ACL{allowRead, group}; !reflect.DeepEqual(acls, want) || v2 == v1 {
		t.Fatalf("after delete: %v (version %d, was %d)", acls, v2, v1)
	}
}

func TestACLFilterMatches(t *testing.T) {
	lit := topicACL("orders", ACLPatternLiteral, "User:alice", 3, ACLPermAllow)
	wild := topicACL("*", ACLPatternLiteral, "User:*", 8, ACLPermDeny)
	pre := topicACL("ord", ACLPatternPrefixed, "User:bob", 4, ACLPermAllow)
	all := ACLFilter{ResourceType: ACLResourceAny, PatternType: ACLPatternAny, Operation: ACLOpAny, Permission: ACLPermAny}
	with := func(f func(*ACLFilter)) ACLFilter { c := all; f(&c); return c }
	tests := []struct {
		name   string
		filter ACLFilter
		want   []bool // lit, wild, pre
	}{
		{"everything", all, []bool{true, true, true}},
		{"group only", with(func(f *ACLFilter) { f.ResourceType = ACLResourceGroup }), []bool{false, false, false}},
		{"literal patterns", with(func(f *ACLFilter) { f.PatternType = ACLPatternLiteral }), []bool{true, true, false}},
		{"any pattern, exact name", with(func(f *ACLFilter) { f.ResourceName = strp("orders") }), []bool{true, false, false}},
		{"literal name", with(func(f *ACLFilter) { f.PatternType = ACLPatternLiteral; f.ResourceName = strp("*") }), []bool{false, true, false}},
		{"match orders", with(func(f *ACLFilter) { f.PatternType = ACLPatternMatch; f.ResourceName = strp("orders") }), []bool{true, true, true}},
		{"match other", with(func(f *ACLFilter) { f.PatternType = ACLPatternMatch; f.ResourceName = strp("payments") }), []bool{false, true, false}},
		{"prefixed exact", with(func(f *ACLFilter) { f.PatternType = ACLPatternPrefixed; f.ResourceName = strp("ord") }), []bool{false, false, true}},
		{"principal", with(func(f *ACLFilter) { f.Principal = strp("User:*") }), []bool{false, true, false}},
		{"host", with(func(f *ACLFilter) { f.Host = strp("10.0.0.1") }), []bool{false, false, false}},
		{"operation", with(func(f *ACLFilter) { f.Operation = 4 }), []bool{false, false, true}},
		{"permission", with(func(f *ACLFilter) { f.Permission = ACLPermDeny }), []bool{false, true, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for i, a := range []ACL{lit, wild, pre} {
				if got := tt.filter.Matches(a); got != tt.want[i] {
					t.Errorf("%v: Matches = %v, want %v", a, got, tt.want[i])
				}
			}
		})
	}
}

// secureState is richState plus credentials and ACLs of every shape.
func secureState(t testing.TB) *harness {
	h := richState(t)
	h.apply(UpsertScram{Credentials: []ScramCredential{cred("alice", ScramSHA256, 1), cred("alice", ScramSHA512, 3), cred("bob", ScramSHA256, 5)}})
	h.apply(CreateACLs{ACLs: []ACL{
		topicACL("orders", ACLPatternLiteral, "User:alice", 3, ACLPermAllow),
		topicACL("ord", ACLPatternPrefixed, "User:*", 4, ACLPermDeny),
		{ResourceType: ACLResourceCluster, ResourceName: ACLClusterName, PatternType: ACLPatternLiteral, Principal: "User:bob", Host: "10.1.2.3", Operation: 12, Permission: ACLPermAllow},
		{ResourceType: ACLResourceTransactionalID, ResourceName: "tx-", PatternType: ACLPatternPrefixed, Principal: "User:bob", Host: "*", Operation: 2, Permission: ACLPermAllow},
	}})
	return h
}

type securityView struct {
	Scram []ScramCredential
	ACLs  []ACL
}

func securityOf(f *FSM) securityView {
	acls, _ := f.ACLs()
	return securityView{Scram: f.ScramCredentials(), ACLs: acls}
}

func TestSnapshotSecurityRoundTrip(t *testing.T) {
	h := secureState(t)
	data := snapshotBytes(t, h.f)
	if data[0] < 5 {
		t.Fatalf("snapshot version %d holds no security records", data[0])
	}
	// Version 5, the first with security records, restores them too.
	var v5 bytes.Buffer
	if err := h.f.s.writeSnapshotAs(&v5, 5); err != nil {
		t.Fatal(err)
	}
	fromV5 := New(nil)
	if err := fromV5.Restore(io.NopCloser(&v5)); err != nil {
		t.Fatalf("restore v5: %v", err)
	}
	restored := New(nil)
	if err := restored.Restore(io.NopCloser(bytes.NewReader(data))); err != nil {
		t.Fatal(err)
	}
	want := securityOf(h.f)
	if got := securityOf(fromV5); !reflect.DeepEqual(got, want) {
		t.Fatalf("v5 security state differs:\n got %+v\nwant %+v", got, want)
	}
	if len(want.Scram) != 3 || len(want.ACLs) != 4 {
		t.Fatalf("secure state is not rich: %+v", want)
	}
	if got := securityOf(restored); !reflect.DeepEqual(got, want) {
		t.Fatalf("security state differs:\n got %+v\nwant %+v", got, want)
	}
	if got, want := viewOf(restored, richKeys...), viewOf(h.f, richKeys...); !reflect.DeepEqual(got, want) {
		t.Fatal("the rest of the state differs")
	}
	if _, v := restored.ACLs(); v == 0 {
		t.Fatal("restored ACL version is 0: an authorizer would keep a stale index")
	}
	// Both replicas answer the same security commands the same way.
	r := &harness{t: t, f: restored, index: h.index}
	for _, c := range securityCommands() {
		if got, want := r.apply(c), h.apply(c); !reflect.DeepEqual(got, want) {
			t.Fatalf("%T: restored answered %+v, original %+v", c, got, want)
		}
	}
	if again := snapshotBytes(t, restored); !bytes.Equal(again, snapshotBytes(t, h.f)) {
		t.Fatal("snapshots of equal states differ")
	}
}

// TestRestoreVersion4: a snapshot from before security state restores with
// none, and a version 4 snapshot carrying security records is refused.
func TestRestoreVersion4(t *testing.T) {
	h := secureState(t)
	var buf bytes.Buffer
	if err := h.f.s.writeSnapshotAs(&buf, 4); err != nil {
		t.Fatal(err)
	}
	restored := New(nil)
	if err := restored.Restore(io.NopCloser(bytes.NewReader(buf.Bytes()))); err != nil {
		t.Fatalf("restore v4: %v", err)
	}
	if got := securityOf(restored); len(got.Scram) != 0 || len(got.ACLs) != 0 {
		t.Fatalf("v4 restore has security state %+v", got)
	}
	if got, want := viewOf(restored, richKeys...), viewOf(h.f, richKeys...); !reflect.DeepEqual(got, want) {
		t.Fatal("v4 restore differs")
	}

	buf.Reset()
	if err := h.f.s.writeSnapshotAs(&buf, 5); err != nil {
		t.Fatal(err)
	}
	v5 := buf.Bytes()
	bad := withChecksum(append([]byte{4}, v5[1:len(v5)-4]...))
	if err := New(nil).Restore(io.NopCloser(bytes.NewReader(bad))); !errors.Is(err, ErrBadSnapshot) {
		t.Fatalf("v4 snapshot with security records: %v, want ErrBadSnapshot", err)
	}
}

func TestRestoreRejectsBadSecurityRecords(t *testing.T) {
	acl := func(a ACL) []byte {
		w := &wbuf{b: []byte{recACL}}
		w.varint(int64(a.ResourceType))
		w.str(a.ResourceName)
		w.varint(int64(a.PatternType))
		w.str(a.Principal)
		w.str(a.Host)
		w.varint(int64(a.Operation))
		w.varint(int64(a.Permission))
		return w.b
	}
	scram := func(c ScramCredential) []byte {
		w := &wbuf{b: []byte{recScram}}
		w.str(c.User)
		w.varint(int64(c.Mechanism))
		w.varint(int64(c.Iterations))
		w.str(string(c.Salt))
		w.str(string(c.StoredKey))
		w.str(string(c.ServerKey))
		return w.b
	}
	snapshot := func(records ...[]byte) []byte {
		out := []byte{snapshotVersion}
		hdr := &wbuf{b: []byte{recHeader}}
		hdr.uvarint(1)
		hdr.str("c")
		hdr.varint(1)
		for _, r := range append([][]byte{hdr.b}, append(records, []byte{recEnd})...) {
			w := &wbuf{}
			w.uvarint(uint64(len(r)))
			out = append(append(out, w.b...), r...)
		}
		return withChecksum(out)
	}
	a := topicACL("a", ACLPatternLiteral, "User:x", 3, ACLPermAllow)
	b := topicACL("b", ACLPatternLiteral, "User:x", 3, ACLPermAllow)
	good := cred("alice", ScramSHA256, 1)
	short := good
	short.StoredKey = []byte{1}

	if err := New(nil).Restore(io.NopCloser(bytes.NewReader(snapshot(scram(good), acl(a), acl(b))))); err != nil {
		t.Fatalf("well-formed records refused: %v", err)
	}
	for name, data := range map[string][]byte{
		"ACLs out of order":     snapshot(acl(b), acl(a)),
		"ACL twice":             snapshot(acl(a), acl(a)),
		"invalid ACL":           snapshot(acl(topicACL("a", ACLPatternMatch, "User:x", 3, ACLPermAllow))),
		"credential twice":      snapshot(scram(good), scram(good)),
		"short key":             snapshot(scram(short)),
		"truncated ACL":         snapshot(acl(a)[:4]),
		"int8 out of range ACL": snapshot(append([]byte{recACL}, 0x80, 0x04)),
	} {
		t.Run(name, func(t *testing.T) {
			if err := New(nil).Restore(io.NopCloser(bytes.NewReader(data))); !errors.Is(err, ErrBadSnapshot) {
				t.Fatalf("Restore = %v, want ErrBadSnapshot", err)
			}
		})
	}
}
