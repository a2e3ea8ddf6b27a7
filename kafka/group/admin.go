package group

import (
	"math"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Group types as ListGroups v5 names them.
const (
	TypeClassic  = "classic"
	TypeConsumer = "consumer"
)

// authorizedOpsNotRequested is Kafka's value for "not computed".
const authorizedOpsNotRequested = math.MinInt32

// List answers ListGroups with every group this coordinator knows, in
// memory or only by its committed offsets (those are Empty classic groups
// with no protocol type, as a group created by offset commits is in Kafka).
// The state and type filters match case-insensitively; empty filters match
// everything.
func (c *Coordinator) List(states, types []string) []kmsg.ListGroupsResponseGroup {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	var out []kmsg.ListGroupsResponseGroup
	add := func(id, protocolType, state, typ string) {
		if len(states) > 0 && !containsFold(states, state) || len(types) > 0 && !containsFold(types, typ) {
			return
		}
		lg := kmsg.NewListGroupsResponseGroup()
		lg.Group, lg.ProtocolType, lg.GroupState, lg.GroupType = id, protocolType, state, typ
		out = append(out, lg)
	}
	for _, id := range sortedKeys(c.groups) {
		g := c.groups[id]
		if g.consumer != nil {
			add(id, "consumer", g.consumer.state(), TypeConsumer)
		} else {
			add(id, g.classic.protocolType, g.classic.state.String(), TypeClassic)
		}
	}
	for _, id := range c.md.OffsetGroups() {
		if c.groups[id] == nil {
			add(id, "", stateEmpty.String(), TypeClassic)
		}
	}
	return out
}

func containsFold(list []string, s string) bool {
	return slices.ContainsFunc(list, func(v string) bool { return strings.EqualFold(strings.TrimSpace(v), s) })
}

// Describe answers DescribeGroups. A group that does not exist, or is a
// consumer-protocol group, is described as Dead without error (Kafka's
// answer below DescribeGroups v6). Member metadata and assignments are only
// shown while the group is Stable, as in Kafka.
func (c *Coordinator) Describe(ids []string) []kmsg.DescribeGroupsResponseGroup {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]kmsg.DescribeGroupsResponseGroup, 0, len(ids))
	for _, id := range ids {
		dg := kmsg.NewDescribeGroupsResponseGroup()
		dg.Group = id
		dg.AuthorizedOperations = authorizedOpsNotRequested
		dg.State = stateDead.String()
		if c.closed {
			dg.ErrorCode = kerr.NotCoordinator.Code
			out = append(out, dg)
			continue
		}
		g := c.lookup(id, false)
		if g == nil || g.classic == nil {
			out = append(out, dg)
			continue
		}
		cg := g.classic
		dg.State = cg.state.String()
		dg.ProtocolType = cg.protocolType
		stable := cg.state == stateStable
		if stable {
			dg.Protocol = cg.protocol
		}
		for _, mid := range sortedKeys(cg.members) {
			m := cg.members[mid]
			dm := kmsg.NewDescribeGroupsResponseGroupMember()
			dm.MemberID, dm.InstanceID, dm.ClientID, dm.ClientHost = m.id, m.instanceID, m.clientID, m.clientHost
			if stable {
				dm.ProtocolMetadata = m.metadataFor(cg.protocol)
				dm.MemberAssignment = m.assignment
			}
			dg.Members = append(dg.Members, dm)
		}
		out = append(out, dg)
	}
	return out
}

// DescribeConsumer answers ConsumerGroupDescribe. A group that does not
// exist or is a classic group answers GROUP_ID_NOT_FOUND, which is how
// kafka-consumer-groups knows to fall back to DescribeGroups.
func (c *Coordinator) DescribeConsumer(ids []string) []kmsg.ConsumerGroupDescribeResponseGroup {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]kmsg.ConsumerGroupDescribeResponseGroup, 0, len(ids))
	for _, id := range ids {
		dg := kmsg.NewConsumerGroupDescribeResponseGroup()
		dg.Group = id
		dg.AuthorizedOperations = authorizedOpsNotRequested
		if c.closed {
			dg.ErrorCode = kerr.NotCoordinator.Code
			out = append(out, dg)
			continue
		}
		g := c.groups[id]
		switch {
		case g == nil && !c.md.HasOffsets(id):
			dg.ErrorCode = kerr.GroupIDNotFound.Code
			dg.ErrorMessage = kmsg.StringPtr("Group " + id + " not found.")
		case g == nil || g.consumer == nil:
			dg.ErrorCode = kerr.GroupIDNotFound.Code
			dg.ErrorMessage = kmsg.StringPtr("Group " + id + " is not a consumer group.")
		default:
			c.describeConsumer(g.consumer, &dg)
		}
		out = append(out, dg)
	}
	return out
}

func (c *Coordinator) describeConsumer(cg *consumerGroup, dg *kmsg.ConsumerGroupDescribeResponseGroup) {
	dg.State = cg.state()
	dg.Epoch = cg.epoch
	dg.AssignmentEpoch = cg.assignmentEpoch
	dg.AssignorName = cg.assignor
	toAssignment := func(s tpSet) kmsg.Assignment {
		var a kmsg.Assignment
		a.TopicPartitions = groupByTopic(s, func(id [16]byte, ps []int32) kmsg.AssignmentTopicPartition {
			t := kmsg.NewAssignmentTopicPartition()
			t.TopicID, t.Partitions = id, ps
			if info, ok := c.md.TopicByID(id); ok {
				t.Topic = info.Name
			}
			return t
		})
		return a
	}
	for _, id := range sortedKeys(cg.members) {
		m := cg.members[id]
		dm := kmsg.NewConsumerGroupDescribeResponseGroupMember()
		dm.MemberID, dm.InstanceID, dm.RackID = m.id, m.instanceID, m.rackID
		dm.MemberEpoch = m.epoch
		if m.away {
			dm.MemberEpoch = epochStaticLeave
		}
		dm.ClientID, dm.ClientHost = m.clientID, m.clientHost
		dm.SubscribedTopics = slices.Clone(m.topics)
		if m.regex != nil {
			dm.SubscribedTopicRegex = kmsg.StringPtr(m.regexSrc)
		}
		dm.Assignment = toAssignment(m.assignedSet())
		dm.TargetAssignment = toAssignment(m.target)
		dm.MemberType = 1 // consumer protocol
		dg.Members = append(dg.Members, dm)
	}
}

// Delete forgets a group for DeleteGroups if it has no members: 0, or
// NON_EMPTY_GROUP, or GROUP_ID_NOT_FOUND for a group that does not exist.
// The caller then deletes the group's committed offsets.
func (c *Coordinator) Delete(id string) int16 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return kerr.NotCoordinator.Code
	}
	g := c.lookup(id, false)
	if g == nil {
		return kerr.GroupIDNotFound.Code
	}
	// Only members count, as Kafka's state does: a member id handed out
	// with MEMBER_ID_REQUIRED and not used yet does not keep the group.
	if g.classic != nil && len(g.classic.members) > 0 || g.consumer != nil && len(g.consumer.members) > 0 {
		return kerr.NonEmptyGroup.Code
	}
	c.log.Info("deleting group", "group", id)
	c.remove(g)
	return 0
}

// CheckOffsetDelete decides an OffsetDelete: a group-level code
// (GROUP_ID_NOT_FOUND, or NON_EMPTY_GROUP for a non-consumer classic group
// with members), or 0 and a test telling which topics the group's members
// subscribe to (their offsets must stay: GROUP_SUBSCRIBED_TO_TOPIC).
func (c *Coordinator) CheckOffsetDelete(id string) (int16, func(topic string) bool) {
	none := func(string) bool { return false }
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return kerr.NotCoordinator.Code, none
	}
	g := c.lookup(id, false)
	if g == nil {
		return kerr.GroupIDNotFound.Code, none
	}
	if cg := g.consumer; cg != nil {
		subs := make([]*cmember, 0, len(cg.members))
		for _, m := range cg.members {
			subs = append(subs, &cmember{topics: slices.Clone(m.topics), regex: m.regex})
		}
		return 0, func(topic string) bool {
			return slices.ContainsFunc(subs, func(m *cmember) bool { return m.subscribes(topic) })
		}
	}
	cg := g.classic
	if len(cg.members) == 0 {
		return 0, none
	}
	if cg.protocolType != "consumer" {
		return kerr.NonEmptyGroup.Code, none
	}
	topics := make(map[string]bool)
	for _, m := range cg.members {
		for _, p := range m.protocols {
			var md kmsg.ConsumerMemberMetadata
			if err := md.ReadFrom(p.Metadata); err != nil {
				// Unreadable subscriptions: keep every offset.
				return 0, func(string) bool { return true }
			}
			for _, t := range md.Topics {
				topics[t] = true
			}
		}
	}
	return 0, func(topic string) bool { return topics[topic] }
}
