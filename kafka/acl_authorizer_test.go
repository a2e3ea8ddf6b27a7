package kafka

import (
	"net"
	"testing"

	"github.com/hashicorp/raft"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/wisp-stream/wisp/fsm"
)

// fsmBackend is a Backend with only the metadata replica: enough for the
// authorizer, which only reads ACLs.
type fsmBackend struct {
	Backend
	md *fsm.FSM
}

func (b fsmBackend) Metadata() *fsm.FSM { return b.md }

type addrConn struct {
	net.Conn
	remote net.Addr
}

func (c addrConn) RemoteAddr() net.Addr { return c.remote }

// aclConn is a connection of principal from 127.0.0.1 to a server whose
// metadata holds acls.
func aclConn(t *testing.T, sec SecurityConfig, principal string, acls ...fsm.ACL) *clientConn {
	t.Helper()
	md := fsm.New(nil)
	if len(acls) > 0 {
		enc, err := fsm.Encode(fsm.CreateACLs{ACLs: acls})
		if err != nil {
			t.Fatal(err)
		}
		if res := md.Apply(&raft.Log{Index: 1, Data: enc}).(fsm.CreateACLsResult); res.ErrorCodes[0] != 0 {
			t.Fatalf("create ACLs: %v", res.ErrorCodes)
		}
	}
	s := &Server{cfg: Config{Security: sec}, backend: fsmBackend{md: md}}
	return &clientConn{s: s, nc: addrConn{remote: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5555}}, principal: principal}
}

func acl(resType int8, name string, pattern int8, principal, host string, op, perm int8) fsm.ACL {
	return fsm.ACL{ResourceType: resType, ResourceName: name, PatternType: pattern, Principal: principal, Host: host, Operation: op, Permission: perm}
}

const (
	lit   = fsm.ACLPatternLiteral
	pre   = fsm.ACLPatternPrefixed
	allow = fsm.ACLPermAllow
	deny  = fsm.ACLPermDeny
	opAll = fsm.ACLOpAll
)

func TestAuthorized(t *testing.T) {
	on := SecurityConfig{Authorizer: true, SuperUsers: []string{"User:root"}}
	type check struct {
		principal string
		op, res   int8
		name      string
		want      bool
	}
	tests := []struct {
		name   string
		sec    SecurityConfig
		acls   []fsm.ACL
		checks []check
	}{
		{"authorizer off allows everything", SecurityConfig{}, nil, []check{
			{"User:ANONYMOUS", opWrite, resTopic, "t", true},
		}},
		{"no ACL refuses, unless everyone is allowed then", on, nil, []check{
			{"User:alice", opRead, resTopic, "t", false},
			{"User:root", opAlter, resCluster, "", true},
		}},
		{"allow if no ACL found", SecurityConfig{Authorizer: true, AllowEveryoneIfNoACL: true},
			[]fsm.ACL{acl(resTopic, "guarded", lit, "User:bob", "*", opRead, allow)}, []check{
				{"User:alice", opWrite, resTopic, "open", true},
				{"User:alice", opRead, resTopic, "guarded", false},
			}},
		{"literal allow and the operations it implies", on, []fsm.ACL{
			acl(resTopic, "orders", lit, "User:alice", "*", opRead, allow),
			acl(resTopic, "orders", lit, "User:alice", "*", opAlterConfigs, allow),
		}, []check{
			{"User:alice", opRead, resTopic, "orders", true},
			{"User:alice", opDescribe, resTopic, "orders", true},
			{"User:alice", opDescribeConfigs, resTopic, "orders", true},
			{"User:alice", opWrite, resTopic, "orders", false},
			{"User:alice", opRead, resTopic, "orders2", false},
			{"User:bob", opRead, resTopic, "orders", false},
		}},
		{"deny wins over allow", on, []fsm.ACL{
			acl(resTopic, "*", lit, "User:*", "*", opAll, allow),
			acl(resTopic, "orders", lit, "User:alice", "*", opWrite, deny),
			acl(resGroup, "g", lit, "User:*", "*", opAll, deny),
		}, []check{
			{"User:alice", opWrite, resTopic, "orders", false},
			{"User:alice", opRead, resTopic, "orders", true},
			{"User:bob", opWrite, resTopic, "orders", true},
			{"User:bob", opRead, resGroup, "g", false},
			{"User:root", opRead, resGroup, "g", true},
		}},
		{"prefixed patterns", on, []fsm.ACL{
			acl(resTopic, "logs-", pre, "User:alice", "*", opWrite, allow),
			acl(resTopic, "logs-secret", pre, "User:alice", "*", opAll, deny),
		}, []check{
			{"User:alice", opWrite, resTopic, "logs-app", true},
			{"User:alice", opWrite, resTopic, "logs-", true},
			{"User:alice", opWrite, resTopic, "logs", false},
			{"User:alice", opWrite, resTopic, "logs-secret-1", false},
		}},
		{"host must match", on, []fsm.ACL{
			acl(resTopic, "t", lit, "User:alice", "10.0.0.1", opRead, allow),
			acl(resTopic, "u", lit, "User:alice", "127.0.0.1", opRead, allow),
		}, []check{
			{"User:alice", opRead, resTopic, "t", false},
			{"User:alice", opRead, resTopic, "u", true},
		}},
		{"cluster resource", on, []fsm.ACL{
			acl(resCluster, fsm.ACLClusterName, lit, "User:ops", "*", opAlter, allow),
		}, []check{
			{"User:ops", opAlter, resCluster, "", true},
			{"User:ops", opDescribe, resCluster, "anything", true},
			{"User:ops", opCreate, resCluster, "", false},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, ch := range tt.checks {
				c := aclConn(t, tt.sec, ch.principal, tt.acls...)
				if got := c.authorized(ch.op, ch.res, ch.name); got != ch.want {
					t.Errorf("%s op %d on resource %d %q: %v, want %v", ch.principal, ch.op, ch.res, ch.name, got, ch.want)
				}
			}
		})
	}
}

func TestAuthorizedAnyOfType(t *testing.T) {
	on := SecurityConfig{Authorizer: true}
	tests := []struct {
		name string
		acls []fsm.ACL
		want bool
	}{
		{"no ACL", nil, false},
		{"literal allow", []fsm.ACL{acl(resTopic, "a", lit, "User:alice", "*", opWrite, allow)}, true},
		{"literal allow denied by the same literal", []fsm.ACL{
			acl(resTopic, "a", lit, "User:alice", "*", opWrite, allow),
			acl(resTopic, "a", lit, "User:alice", "*", opWrite, deny)}, false},
		{"prefix allow dominated by a shorter prefix deny", []fsm.ACL{
			acl(resTopic, "ab", pre, "User:alice", "*", opWrite, allow),
			acl(resTopic, "a", pre, "User:*", "*", opAll, deny)}, false},
		{"prefix allow beside an unrelated deny", []fsm.ACL{
			acl(resTopic, "ab", pre, "User:alice", "*", opWrite, allow),
			acl(resTopic, "x", pre, "User:*", "*", opAll, deny)}, true},
		{"wildcard deny", []fsm.ACL{
			acl(resTopic, "ab", pre, "User:alice", "*", opWrite, allow),
			acl(resTopic, "*", lit, "User:alice", "*", opWrite, deny)}, false},
		{"read does not grant write", []fsm.ACL{acl(resTopic, "a", lit, "User:alice", "*", opRead, allow)}, false},
		{"other principal", []fsm.ACL{acl(resTopic, "a", lit, "User:bob", "*", opWrite, allow)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := aclConn(t, on, "User:alice", tt.acls...)
			if got := c.authorizedAnyOfType(opWrite, resTopic); got != tt.want {
				t.Fatalf("authorizedAnyOfType = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestEveryAPIHasAnAuthRule: a served API without a rule would be refused
// whenever the authorizer is on.
func TestEveryAPIHasAnAuthRule(t *testing.T) {
	for _, a := range sortedAPIs() {
		if _, ok := authRules[a.key]; !ok {
			t.Errorf("%s (key %d) has no authorization rule in authRules (auth_rules*.go)", kmsg.NameForKey(a.key), a.key)
		}
	}
}
