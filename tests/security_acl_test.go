package tests

import (
	"context"
	"crypto/pbkdf2"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/wisp-stream/wisp/fsm"
)

// ACL tests: with --authorizer, every request needs an ALLOW binding for its
// principal (or the principal is a super user), DENY wins, and a refused
// request gets the *_AUTHORIZATION_FAILED code Kafka gives.

const (
	opRead, opWrite, opCreate, opDescribe = 3, 4, 5, 8
	anyHost                               = "*"
)

func topicACL(name string, pattern int8, principal string, op, perm int8) fsm.ACL {
	return fsm.ACL{ResourceType: fsm.ACLResourceTopic, ResourceName: name, PatternType: pattern, Principal: principal, Host: anyHost, Operation: op, Permission: perm}
}

func groupACL(name, principal string, op int8) fsm.ACL {
	return fsm.ACL{ResourceType: fsm.ACLResourceGroup, ResourceName: name, PatternType: fsm.ACLPatternLiteral, Principal: principal, Host: anyHost, Operation: op, Permission: fsm.ACLPermAllow}
}

func clusterACL(principal string, op int8) fsm.ACL {
	return fsm.ACL{ResourceType: fsm.ACLResourceCluster, ResourceName: fsm.ACLClusterName, PatternType: fsm.ACLPatternLiteral, Principal: principal, Host: anyHost, Operation: op, Permission: fsm.ACLPermAllow}
}

// setACLs replaces every binding with acls, through cl (a super user's
// client, or one of its brokers).
func setACLs(t testing.TB, cl kmsg.Requestor, acls ...fsm.ACL) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	del := kmsg.NewPtrDeleteACLsRequest()
	f := kmsg.NewDeleteACLsRequestFilter()
	f.ResourceType, f.ResourcePatternType, f.Operation, f.PermissionType = kmsg.ACLResourceTypeAny, kmsg.ACLResourcePatternTypeAny, kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
	del.Filters = append(del.Filters, f)
	if resp, err := del.RequestWith(ctx, cl); err != nil || resp.Results[0].ErrorCode != 0 {
		t.Fatalf("delete ACLs: %v %+v", err, resp)
	}
	if len(acls) == 0 {
		return
	}
	req := kmsg.NewPtrCreateACLsRequest()
	for _, a := range acls {
		c := kmsg.NewCreateACLsRequestCreation()
		c.ResourceType, c.ResourceName, c.ResourcePatternType = kmsg.ACLResourceType(a.ResourceType), a.ResourceName, kmsg.ACLResourcePatternType(a.PatternType)
		c.Principal, c.Host, c.Operation, c.PermissionType = a.Principal, a.Host, kmsg.ACLOperation(a.Operation), kmsg.ACLPermissionType(a.Permission)
		req.Creations = append(req.Creations, c)
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("create ACLs: %v", err)
	}
	for i, r := range resp.Results {
		if r.ErrorCode != 0 {
			t.Fatalf("create ACL %v: error %d %v", acls[i], r.ErrorCode, r.ErrorMessage)
		}
	}
}

// codeOf is the Kafka error code of a request outcome: the error's if the
// client failed, else what pick finds in the response.
func codeOf(t testing.TB, resp kmsg.Response, err error, pick func(kmsg.Response) int16) int16 {
	t.Helper()
	if err != nil {
		var ke *kerr.Error
		if errors.As(err, &ke) {
			return ke.Code
		}
		t.Fatalf("request failed: %v", err)
	}
	return pick(resp)
}

// The actions of the matrix, each sent to one agent as a raw request (no
// client-side retries hide the code). kgo sends a request at the highest
// version both sides know; pinning Kafka 3.0's versions keeps Produce and
// Fetch naming topics by name.
var rawVersions = kgo.MaxVersions(kversion.V3_0_0())

func produceCode(t testing.TB, cl *kgo.Client, node int32, topic string) int16 {
	req := kmsg.NewPtrProduceRequest()
	req.Version, req.Acks, req.TimeoutMillis = 9, -1, 10000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = plainBatch("acl-test")
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := cl.Broker(int(node)).Request(context.Background(), req)
	return codeOf(t, resp, err, func(r kmsg.Response) int16 { return r.(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode })
}

func fetchCode(t testing.TB, cl *kgo.Client, node int32, topic string) int16 {
	resp, err := cl.Broker(int(node)).Request(context.Background(), fetchReq(12, topic, [16]byte{}, 0, 1<<20, 0))
	return codeOf(t, resp, err, func(r kmsg.Response) int16 { return r.(*kmsg.FetchResponse).Topics[0].Partitions[0].ErrorCode })
}

// joinCode joins a group; MEMBER_ID_REQUIRED (the first step of a v4+ join)
// counts as allowed.
func joinCode(t testing.TB, cl *kgo.Client, group string) int16 {
	req := kmsg.NewPtrJoinGroupRequest()
	req.Version, req.Group, req.ProtocolType = 5, group, "consumer"
	req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = 10000, 10000
	p := kmsg.NewJoinGroupRequestProtocol()
	p.Name, p.Metadata = "range", []byte{0, 0, 0, 0, 0, 0, 0, 0}
	req.Protocols = append(req.Protocols, p)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := cl.Request(ctx, req)
	code := codeOf(t, resp, err, func(r kmsg.Response) int16 { return r.(*kmsg.JoinGroupResponse).ErrorCode })
	if code == kerr.MemberIDRequired.Code {
		return 0
	}
	return code
}

func createCode(t testing.TB, cl *kgo.Client, topic string) int16 {
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, 1, 1
	req.Topics = append(req.Topics, rt)
	req.TimeoutMillis = 10000
	resp, err := cl.Request(context.Background(), req)
	return codeOf(t, resp, err, func(r kmsg.Response) int16 { return r.(*kmsg.CreateTopicsResponse).Topics[0].ErrorCode })
}

func TestSecurityACLMatrix(t *testing.T) {
	ta := startAgent(t, testConfig(t, withSASL(t, []string{"SCRAM-SHA-256", "PLAIN"}, "admin:admin-pw", "alice:alice-pw", "bob:bob-pw"),
		func(c *agentConfig) { c.Authorizer, c.SuperUsers = true, []string{"User:admin"} }))
	addr, node := ta.AdvertisedAddr(), ta.NodeID()
	admin := loginClient(t, addr, nil, "SCRAM-SHA-256", "admin", "admin-pw")
	for _, topic := range []string{"orders", "logs-app", "payments"} {
		if code := createCode(t, admin, topic); code != 0 {
			t.Fatalf("admin creates %s: code %d", topic, code)
		}
	}

	const (
		lit, pre     = fsm.ACLPatternLiteral, fsm.ACLPatternPrefixed
		allow, deny  = fsm.ACLPermAllow, fsm.ACLPermDeny
		ok           = int16(0)
		topicRefused = 29 // TOPIC_AUTHORIZATION_FAILED
		groupRefused = 30 // GROUP_AUTHORIZATION_FAILED
	)
	type action struct {
		user, what, name string
		want             int16
	}
	tests := []struct {
		name    string
		acls    []fsm.ACL
		actions []action
	}{
		{"no ACL refuses everyone but super users", nil, []action{
			{"alice", "produce", "orders", topicRefused},
			{"alice", "fetch", "orders", topicRefused},
			{"alice", "join", "readers", groupRefused},
			{"alice", "create", "new-topic", topicRefused},
			{"admin", "produce", "orders", ok},
			{"admin", "fetch", "orders", ok},
			{"admin", "join", "readers", ok},
		}},
		{"write allows produce, not fetch", []fsm.ACL{topicACL("orders", lit, "User:alice", opWrite, allow)}, []action{
			{"alice", "produce", "orders", ok},
			{"alice", "fetch", "orders", topicRefused},
			{"alice", "produce", "payments", topicRefused},
			{"bob", "produce", "orders", topicRefused},
		}},
		{"read on topic and group allows fetch and join", []fsm.ACL{
			topicACL("orders", lit, "User:alice", opRead, allow), groupACL("readers", "User:alice", opRead),
		}, []action{
			{"alice", "fetch", "orders", ok},
			{"alice", "join", "readers", ok},
			{"alice", "join", "writers", groupRefused},
			{"alice", "produce", "orders", topicRefused},
		}},
		{"create on the cluster or on a prefix", []fsm.ACL{
			clusterACL("User:bob", opCreate), topicACL("team-", pre, "User:alice", opCreate, allow),
		}, []action{
			{"bob", "create", "bobs-topic", ok},
			{"alice", "create", "team-alpha", ok},
			{"alice", "create", "other-team", topicRefused},
		}},
		{"deny overrides allow", []fsm.ACL{
			topicACL("*", lit, "User:*", fsm.ACLOpAll, allow),
			topicACL("orders", lit, "User:alice", opWrite, deny),
		}, []action{
			{"alice", "produce", "orders", topicRefused},
			{"alice", "fetch", "orders", ok},
			{"alice", "produce", "payments", ok},
			{"bob", "produce", "orders", ok},
		}},
		{"prefixed pattern", []fsm.ACL{topicACL("logs-", pre, "User:alice", opWrite, allow)}, []action{
			{"alice", "produce", "logs-app", ok},
			{"alice", "produce", "orders", topicRefused},
		}},
	}
	passwords := map[string]string{"admin": "admin-pw", "alice": "alice-pw", "bob": "bob-pw"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			setACLs(t, admin, tt.acls...)
			for _, a := range tt.actions {
				cl := loginClient(t, addr, nil, "PLAIN", a.user, passwords[a.user], rawVersions)
				var got int16
				switch a.what {
				case "produce":
					got = produceCode(t, cl, node, a.name)
				case "fetch":
					got = fetchCode(t, cl, node, a.name)
				case "join":
					got = joinCode(t, cl, a.name)
				case "create":
					got = createCode(t, cl, a.name)
				}
				if got != a.want {
					t.Errorf("%s %s %s: code %d (%v), want %d (%v)", a.user, a.what, a.name, got, kerr.ErrorForCode(got), a.want, kerr.ErrorForCode(a.want))
				}
			}
		})
	}

	t.Run("idempotent producer needs a write ACL somewhere", func(t *testing.T) {
		setACLs(t, admin, topicACL("orders", lit, "User:alice", opRead, allow))
		err := produceOne(loginClient(t, addr, nil, "PLAIN", "alice", "alice-pw"), "orders", "idempotent")
		if !errors.Is(err, kerr.ClusterAuthorizationFailed) {
			t.Fatalf("idempotent produce with READ only: %v, want CLUSTER_AUTHORIZATION_FAILED", err)
		}
		setACLs(t, admin, topicACL("orders", lit, "User:alice", opWrite, allow))
		if err := produceOne(loginClient(t, addr, nil, "PLAIN", "alice", "alice-pw"), "orders", "idempotent"); err != nil {
			t.Fatalf("idempotent produce with WRITE: %v", err)
		}
	})

	t.Run("metadata shows only describable topics", func(t *testing.T) {
		setACLs(t, admin, topicACL("orders", lit, "User:alice", opRead, allow))
		topics, err := kadm.NewClient(loginClient(t, addr, nil, "PLAIN", "alice", "alice-pw")).ListTopics(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if names := topics.Names(); len(names) != 1 || names[0] != "orders" {
			t.Fatalf("alice lists %v, want only orders", names)
		}
	})
}

// aclTool runs the Java kafka-acls (org.apache.kafka.tools.AclCommand) from
// the installed tools' jars.
func aclTool(t *testing.T, bootstrap, props string, args ...string) (string, error) {
	t.Helper()
	lib := filepath.Join(filepath.Dir(kafkaToolsBin(t)), "lib")
	ctx, cancel := context.WithTimeout(context.Background(), toolTimeout)
	defer cancel()
	java := "java"
	if home := os.Getenv("JAVA_HOME"); home != "" {
		java = filepath.Join(home, "bin", "java")
	}
	full := append([]string{"-Xmx256m", "-XX:+UseSerialGC", "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn", "-Dlog4j2.level=warn",
		"-cp", filepath.Join(lib, "*"), "org.apache.kafka.tools.AclCommand",
		"--bootstrap-server", bootstrap, "--command-config", props}, args...)
	cmd := exec.CommandContext(ctx, java, full...)
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	t.Logf("kafka-acls %s: %v", strings.Join(args, " "), exitStatus(err))
	return string(out), err
}

// TestSecurityKafkaACLsTool: kafka-acls adds, lists and removes ACLs, and
// what it adds is what the agent enforces on the Java console consumer.
func TestSecurityKafkaACLsTool(t *testing.T) {
	pki := newTestPKI(t)
	ta := startAgent(t, testConfig(t, withTLS(pki), withSASL(t, []string{"SCRAM-SHA-512"}, "admin:admin-pw", "alice:alice-pw"),
		func(c *agentConfig) { c.Authorizer, c.SuperUsers = true, []string{"User:admin"} }))
	addr := ta.AdvertisedAddr()
	adminProps := javaClientProps(t, pki.caFile, "SCRAM-SHA-512", "admin", "admin-pw")
	aliceProps := javaClientProps(t, pki.caFile, "SCRAM-SHA-512", "alice", "alice-pw")
	tools := newKafkaTools(t, ta)
	tools.run("", "kafka-topics", "--command-config", adminProps, "--create", "--topic", "audit", "--partitions", "1")
	tools.run("a\nb\n", "kafka-console-producer", "--command-config", adminProps, "--topic", "audit")

	run := func(args ...string) string {
		out, err := aclTool(t, addr, adminProps, args...)
		if err != nil {
			t.Fatalf("kafka-acls %v: %v\n%s", args, err, out)
		}
		return out
	}
	run("--add", "--allow-principal", "User:alice", "--operation", "Read", "--topic", "audit", "--group", "auditors")
	run("--add", "--deny-principal", "User:alice", "--operation", "Write", "--resource-pattern-type", "prefixed", "--topic", "aud")
	// A WRITE elsewhere lets alice's idempotent producer start (KIP-679), so
	// the refusal below is the topic's.
	run("--add", "--allow-principal", "User:alice", "--operation", "Write", "--topic", "scratch")
	out := run("--list")
	for _, want := range []string{"name=audit, patternType=LITERAL", "name=aud, patternType=PREFIXED", "name=auditors, patternType=LITERAL",
		"principal=User:alice, host=*, operation=READ, permissionType=ALLOW", "principal=User:alice, host=*, operation=WRITE, permissionType=DENY"} {
		if !strings.Contains(out, want) {
			t.Fatalf("kafka-acls --list lacks %q:\n%s", want, out)
		}
	}
	got := tools.consoleConsume(2, "--command-config", aliceProps, "--topic", "audit", "--group", "auditors", "--from-beginning")
	sameLines(t, "alice reads audit", withoutKeys(got), []string{"a", "b"})
	if _, stderr, _ := tools.try("c\n", "kafka-console-producer", "--command-config", aliceProps, "--topic", "audit"); !strings.Contains(stderr, "TopicAuthorizationException") {
		t.Fatalf("alice wrote to audit despite the deny:\n%s", stderr)
	}

	run("--remove", "--force", "--allow-principal", "User:alice", "--operation", "Read", "--topic", "audit", "--group", "auditors")
	if out := run("--list", "--topic", "audit"); strings.Contains(out, "operation=READ") {
		t.Fatalf("READ still listed after --remove:\n%s", out)
	}
	// The console consumer reports the refusal and exits (with status 0).
	_, stderr, _ := tools.try("", "kafka-console-consumer", "--command-config", aliceProps, "--topic", "audit", "--group", "auditors",
		"--from-beginning", "--max-messages", "1", "--timeout-ms", "20000")
	if !strings.Contains(stderr, "TopicAuthorizationException") || !strings.Contains(stderr, "Processed a total of 0 messages") {
		t.Fatalf("alice consumed after her ACL was removed:\n%s", stderr)
	}
}

// TestSecurityClusterSharesUsersAndACLs: a SCRAM user added through one agent
// logs in on another, and ACLs created through one are enforced by every
// agent.
func TestSecurityClusterSharesUsersAndACLs(t *testing.T) {
	c := startCluster(t, 3, withSASL(t, []string{"SCRAM-SHA-256"}, "admin:admin-pw"),
		func(cfg *agentConfig) { cfg.Authorizer, cfg.SuperUsers = true, []string{"User:admin"} })
	ctx := context.Background()
	admin := loginClient(t, c.agents[0].AdvertisedAddr(), nil, "SCRAM-SHA-256", "admin", "admin-pw")
	// Through agent 0 itself, whoever leads Raft; the client salts the
	// password, as kafka-configs does.
	agent0 := admin.Broker(int(c.agents[0].NodeID()))
	salt := []byte("0123456789abcdef")
	salted, err := pbkdf2.Key(sha256.New, "dave-pw", salt, 4096, sha256.Size)
	if err != nil {
		t.Fatal(err)
	}
	alter := kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
	up := kmsg.NewAlterUserSCRAMCredentialsRequestUpsertion()
	up.Name, up.Mechanism, up.Iterations, up.Salt, up.SaltedPassword = "dave", 1, 4096, salt, salted
	alter.Upsertions = append(alter.Upsertions, up)
	if res, err := alter.RequestWith(ctx, agent0); err != nil || len(res.Results) != 1 || res.Results[0].ErrorCode != 0 {
		t.Fatalf("add dave through agent 0: %v %+v", err, res)
	}
	if code := createCode(t, admin, "shared"); code != 0 {
		t.Fatalf("create topic: code %d", code)
	}

	for i, a := range c.agents[1:] {
		waitFor(t, 10*time.Second, fmt.Sprintf("dave logging in on agent %d", i+1), func() bool {
			cl, err := kgo.NewClient(kgo.SeedBrokers(a.AdvertisedAddr()), kgo.SASL(mechanism("SCRAM-SHA-256", "dave", "dave-pw")))
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			_, err = cl.Broker(int(a.NodeID())).Request(ctx, kmsg.NewPtrApiVersionsRequest())
			return err == nil
		})
	}

	dave := loginClient(t, c.agents[2].AdvertisedAddr(), nil, "SCRAM-SHA-256", "dave", "dave-pw", rawVersions)
	for _, a := range c.agents {
		if code := produceCode(t, dave, a.NodeID(), "shared"); code != 29 {
			t.Fatalf("agent %d let dave produce before any ACL: code %d", a.NodeID(), code)
		}
	}
	setACLs(t, agent0, topicACL("shared", fsm.ACLPatternLiteral, "User:dave", opWrite, fsm.ACLPermAllow))
	for _, a := range c.agents {
		waitFor(t, 10*time.Second, fmt.Sprintf("agent %d enforcing the new ACL", a.NodeID()), func() bool {
			return produceCode(t, dave, a.NodeID(), "shared") == 0
		})
	}
}
