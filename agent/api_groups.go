package agent

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/wisp-stream/wisp/kafka"
)

// Group membership lives in memory on the agent that coordinates the group
// (chosen by hash), so the groups API asks the cluster through its own Kafka
// listener, as any admin client would: FindCoordinator routes each describe
// to the right agent, and every agent gives the same answer. Committed
// offsets and high watermarks come from the local Raft replica.

// adminClient is a Kafka admin client of this agent's own listener, made on
// first use and closed at shutdown.
type adminClient struct {
	cl     *kgo.Client
	adm    *kadm.Client
	closed bool
}

func (a *Agent) admin() (*kadm.Client, error) {
	a.ops.mu.Lock()
	defer a.ops.mu.Unlock()
	if a.ops.admin.closed {
		return nil, errShuttingDown
	}
	if a.ops.admin.adm != nil {
		return a.ops.admin.adm, nil
	}
	seed, err := a.consoleSeed()
	if err != nil {
		return nil, err
	}
	if host, port, err := net.SplitHostPort(seed); err == nil {
		if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
			seed = net.JoinHostPort("127.0.0.1", port)
		}
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(seed), kgo.ClientID("wisp-console"), kgo.RetryTimeout(adminTimeout))
	if err != nil {
		return nil, fmt.Errorf("create the console's Kafka client for %s: %w", seed, err)
	}
	a.ops.admin.cl, a.ops.admin.adm = cl, kadm.NewClient(cl)
	return a.ops.admin.adm, nil
}

// closeAdmin closes the admin client; later API calls that need it fail.
func (a *Agent) closeAdmin() {
	a.ops.mu.Lock()
	cl := a.ops.admin.cl
	a.ops.admin = adminClient{closed: true}
	a.ops.mu.Unlock()
	if cl != nil {
		cl.Close()
	}
}

// GroupAssignment is the partitions of one topic assigned to a member.
type GroupAssignment struct {
	Topic      string  `json:"topic"`
	Partitions []int32 `json:"partitions"`
}

// GroupMember is one member of a consumer group.
type GroupMember struct {
	MemberID    string            `json:"memberId"`
	InstanceID  string            `json:"instanceId,omitempty"`
	ClientID    string            `json:"clientId"`
	ClientHost  string            `json:"clientHost"`
	Assignments []GroupAssignment `json:"assignments"`
}

// GroupOffset is a group's position in one partition.
type GroupOffset struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	// CommittedOffset is -1 when the group has not committed here yet.
	CommittedOffset int64 `json:"committedOffset"`
	HighWatermark   int64 `json:"highWatermark"`
	LogStartOffset  int64 `json:"logStartOffset"`
	// Lag is HighWatermark minus CommittedOffset (never negative); null
	// without a committed offset.
	Lag *int64 `json:"lag"`
	// MemberID owns the partition in the current assignment, "" if none.
	MemberID string `json:"memberId,omitempty"`
}

// Group is one consumer group in the groups API.
type Group struct {
	Group string `json:"group"`
	// Type is classic (JoinGroup/SyncGroup) or consumer (KIP-848).
	Type         string        `json:"type"`
	State        string        `json:"state"`
	ProtocolType string        `json:"protocolType"`
	Protocol     string        `json:"protocol"` // the assignor
	Coordinator  int32         `json:"coordinator"`
	Members      []GroupMember `json:"members"`
	Offsets      []GroupOffset `json:"offsets"`
	// TotalLag sums the known lags.
	TotalLag int64 `json:"totalLag"`
}

// GroupsResponse is GET /api/v1/groups.
type GroupsResponse struct {
	Groups []Group `json:"groups"` // sorted by group id
}

func (a *Agent) apiGroups(w http.ResponseWriter, r *http.Request) {
	groups, err := a.groups(r.Context(), "")
	if err != nil {
		writeError(w, http.StatusBadGateway, err)
		return
	}
	writeJSON(w, http.StatusOK, GroupsResponse{Groups: groups})
}

func (a *Agent) apiGroup(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("group")
	groups, err := a.groups(r.Context(), id)
	if err != nil {
		writeError(w, http.StatusBadGateway, err)
		return
	}
	if len(groups) == 0 {
		writeError(w, http.StatusNotFound, fmt.Errorf("group %q does not exist (no members and no committed offsets); GET %s/groups lists them", id, apiPrefix))
		return
	}
	writeJSON(w, http.StatusOK, groups[0])
}

// groups describes every group, or only the one named by only.
func (a *Agent) groups(ctx context.Context, only string) ([]Group, error) {
	ctx, cancel := context.WithTimeout(ctx, adminTimeout)
	defer cancel()
	adm, err := a.admin()
	if err != nil {
		return nil, err
	}
	listed, err := adm.ListGroups(ctx)
	if err != nil {
		return nil, fmt.Errorf("list consumer groups through the Kafka listener: %w; retry, or check the agents' logs", err)
	}
	// ListGroups v5 can tell the two protocols apart; a server that does
	// not filter by type lists nothing here and all groups are classic.
	consumers, err := adm.ListGroupsByType(ctx, []string{"consumer"})
	if err != nil {
		consumers = kadm.ListedGroups{}
	}
	ids := map[string]bool{}
	for id := range listed {
		ids[id] = true
	}
	for _, id := range a.fsm.OffsetGroups() {
		ids[id] = true // committed offsets, no member ever described
	}
	var classicIDs, consumerIDs []string
	for id := range ids {
		if only != "" && id != only {
			continue
		}
		if _, ok := consumers[id]; ok {
			consumerIDs = append(consumerIDs, id)
		} else {
			classicIDs = append(classicIDs, id)
		}
	}
	out := []Group{}
	// An empty list would describe every group: only ask with names.
	if len(classicIDs) > 0 {
		described, err := adm.DescribeGroups(ctx, classicIDs...)
		if err != nil && len(described) == 0 {
			return nil, fmt.Errorf("describe consumer groups: %w; retry, or check the agents' logs", err)
		}
		for _, id := range classicIDs {
			d, ok := described[id]
			g := Group{Group: id, Type: "classic", State: "Unknown", Coordinator: listed[id].Coordinator}
			if ok {
				if d.Err != nil {
					return nil, fmt.Errorf("describe consumer group %q: %w", id, d.Err)
				}
				g.State, g.ProtocolType, g.Protocol, g.Coordinator = d.State, d.ProtocolType, d.Protocol, d.Coordinator.NodeID
				for _, m := range d.Members {
					gm := GroupMember{MemberID: m.MemberID, ClientID: m.ClientID, ClientHost: m.ClientHost, Assignments: []GroupAssignment{}}
					if m.InstanceID != nil {
						gm.InstanceID = *m.InstanceID
					}
					if c, ok := m.Assigned.AsConsumer(); ok {
						for _, t := range c.Topics {
							gm.Assignments = append(gm.Assignments, GroupAssignment{Topic: t.Topic, Partitions: slices.Sorted(slices.Values(t.Partitions))})
						}
					}
					g.Members = append(g.Members, gm)
				}
			}
			out = append(out, g)
		}
	}
	if len(consumerIDs) > 0 {
		described, err := adm.DescribeConsumerGroups(ctx, consumerIDs...)
		if err != nil && len(described) == 0 {
			return nil, fmt.Errorf("describe consumer groups: %w; retry, or check the agents' logs", err)
		}
		for _, id := range consumerIDs {
			d, ok := described[id]
			g := Group{Group: id, Type: "consumer", State: "Unknown", ProtocolType: "consumer", Coordinator: listed[id].Coordinator}
			if ok {
				if d.Err != nil {
					return nil, fmt.Errorf("describe consumer group %q: %w", id, d.Err)
				}
				g.State, g.Protocol, g.Coordinator = d.State, d.AssignorName, d.Coordinator.NodeID
				for _, m := range d.Members {
					gm := GroupMember{MemberID: m.MemberID, ClientID: m.ClientID, ClientHost: m.ClientHost, Assignments: []GroupAssignment{}}
					if m.InstanceID != nil {
						gm.InstanceID = *m.InstanceID
					}
					for _, t := range m.Assignment.Sorted() {
						gm.Assignments = append(gm.Assignments, GroupAssignment{Topic: t.Topic, Partitions: slices.Sorted(slices.Values(t.Partitions))})
					}
					g.Members = append(g.Members, gm)
				}
			}
			out = append(out, g)
		}
	}
	// After describing: the replica then holds commits at least as recent
	// as the membership shown.
	a.syncRead(ctx)
	for i := range out {
		a.fillOffsets(&out[i])
	}
	slices.SortFunc(out, func(x, y Group) int { return strings.Compare(x.Group, y.Group) })
	return out, nil
}

// fillOffsets adds committed offsets, high watermarks and lag for every
// partition the group has committed to or has assigned.
func (a *Agent) fillOffsets(g *Group) {
	type tp struct {
		topic string
		p     int32
	}
	if g.Members == nil {
		g.Members = []GroupMember{}
	}
	owner := map[tp]string{}
	for _, m := range g.Members {
		for _, as := range m.Assignments {
			for _, p := range as.Partitions {
				owner[tp{as.Topic, p}] = m.MemberID
			}
		}
	}
	committed := map[tp]int64{}
	for _, c := range a.fsm.CommittedOffsets(g.Group) {
		committed[tp{c.Topic, c.Partition}] = c.Offset
	}
	keys := map[tp]bool{}
	for k := range owner {
		keys[k] = true
	}
	for k := range committed {
		keys[k] = true
	}
	g.Offsets = []GroupOffset{}
	for k := range keys {
		o := GroupOffset{Topic: k.topic, Partition: k.p, CommittedOffset: -1, MemberID: owner[k]}
		if t, ok := a.fsm.Topic(k.topic); ok {
			if info, ok := a.fsm.Partition(t.ID, k.p); ok {
				o.HighWatermark, o.LogStartOffset = info.HighWatermark, info.LogStartOffset
			}
		}
		if c, ok := committed[k]; ok {
			o.CommittedOffset = c
			lag := max(o.HighWatermark-c, 0)
			o.Lag = &lag
			g.TotalLag += lag
		}
		g.Offsets = append(g.Offsets, o)
	}
	slices.SortFunc(g.Offsets, func(x, y GroupOffset) int {
		return cmp.Or(strings.Compare(x.Topic, y.Topic), cmp.Compare(x.Partition, y.Partition))
	})
}

// errNoConsoleListener is the console's answer for group and topic-admin
// pages when every Kafka listener needs TLS or a login.
var errNoConsoleListener = errors.New("the console's group and topic actions need a PLAINTEXT Kafka listener (it holds no Kafka credentials): add one on loopback, e.g. --listeners PLAINTEXT://127.0.0.1:9092,SASL_SSL://0.0.0.0:9093")

// consoleSeed picks the listener the console's admin client dials: the
// first PLAINTEXT one. It has no credentials, so with --authorizer it acts
// as User:ANONYMOUS and gets what that principal's ACLs allow; the console
// never bypasses authorization.
func (a *Agent) consoleSeed() (string, error) {
	for _, kl := range a.kafkaLns {
		if kl.spec.protocol == kafka.ProtocolPlaintext {
			return kl.raw.Addr().String(), nil
		}
	}
	return "", errNoConsoleListener
}
