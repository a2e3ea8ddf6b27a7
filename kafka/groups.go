package kafka

import (
	"hash/fnv"

	"github.com/wisp-stream/wisp/kafka/group"
)

// Consumer groups: the coordinator (package group) keeps membership in
// memory; committed offsets are Raft commands (fsm.CommitOffsets and
// friends) read back from the local replica. The handlers of the group APIs
// (findcoordinator.go ... consumergroupdescribe.go) check that this agent
// coordinates the group, then hand the request to the coordinator.

// coordinatorFor names the agent that coordinates a group, by rendezvous
// hashing of the group id over the live agents: every agent computes the
// same answer from the same membership, and when an agent joins or leaves
// only the groups it gains or held move (their members rejoin; committed
// offsets are in Raft, so nothing is lost).
func (s *Server) coordinatorFor(groupID string) Broker {
	brokers := s.brokers()
	best, bestScore := brokers[0], uint64(0)
	for i, b := range brokers {
		h := fnv.New64a()
		h.Write([]byte(groupID))
		h.Write([]byte{0, byte(b.NodeID >> 24), byte(b.NodeID >> 16), byte(b.NodeID >> 8), byte(b.NodeID)})
		score := mix64(h.Sum64())
		if i == 0 || score > bestScore || score == bestScore && b.NodeID < best.NodeID {
			best, bestScore = b, score
		}
	}
	return best
}

// mix64 is splitmix64's finalizer: FNV alone spreads inputs that differ
// only in their last bytes (the node id) poorly over the high bits.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

// coordinates reports whether this agent coordinates the group; requests for
// other groups are answered NOT_COORDINATOR so the client asks
// FindCoordinator again.
func (s *Server) coordinates(groupID string) bool {
	return s.coordinatorFor(groupID).NodeID == s.cfg.NodeID
}

// groupClient describes the connection for DescribeGroups: client id and
// the host as Kafka prints it ("/" + address).
func (c *clientConn) groupClient() group.Client {
	return group.Client{ID: c.clientID, Host: "/" + c.clientHost()}
}

// groupMetadata shows the coordinator the local metadata replica.
type groupMetadata struct{ s *Server }

var _ group.Metadata = groupMetadata{}

func (m groupMetadata) Topic(name string) (group.Topic, bool) {
	t, ok := m.s.backend.Metadata().Topic(name)
	return group.Topic{Name: t.Name, ID: t.ID, Partitions: t.Partitions}, ok
}

func (m groupMetadata) TopicByID(id [16]byte) (group.Topic, bool) {
	t, ok := m.s.backend.Metadata().TopicByID(id)
	return group.Topic{Name: t.Name, ID: t.ID, Partitions: t.Partitions}, ok
}

func (m groupMetadata) Topics() []group.Topic {
	ts := m.s.backend.Metadata().Topics()
	out := make([]group.Topic, len(ts))
	for i, t := range ts {
		out[i] = group.Topic{Name: t.Name, ID: t.ID, Partitions: t.Partitions}
	}
	return out
}

func (m groupMetadata) HasOffsets(groupID string) bool {
	return m.s.backend.Metadata().HasOffsets(groupID)
}

func (m groupMetadata) OffsetGroups() []string {
	return m.s.backend.Metadata().OffsetGroups()
}

// describeCoordinated answers a describe of ids in request order: the groups
// this agent coordinates come from describe (called once, in order), the
// others get notCoordinator.
func describeCoordinated[G any](s *Server, ids []string, describe func([]string) []G, notCoordinator func(id string) G) []G {
	var mine []string
	for _, id := range ids {
		if s.coordinates(id) {
			mine = append(mine, id)
		}
	}
	described := describe(mine)
	out := make([]G, 0, len(ids))
	for _, id := range ids {
		if s.coordinates(id) {
			out = append(out, described[0])
			described = described[1:]
			continue
		}
		out = append(out, notCoordinator(id))
	}
	return out
}
