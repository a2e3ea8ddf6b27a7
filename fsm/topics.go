package fsm

import (
	"fmt"
	"maps"

	"github.com/twmb/franz-go/pkg/kerr"
)

// MaxPartitions bounds a topic's partition count. Every replica allocates
// state for every partition, so an absurd count in one command would exhaust
// every replica's memory at once.
const MaxPartitions = 100_000

// maxTopicNameLen is Kafka's limit (249, so that "<name>-<partition>" dirs fit).
const maxTopicNameLen = 249

// validTopicName applies Kafka's rules: 1-249 characters of [a-zA-Z0-9._-],
// and not "." or "..".
func validTopicName(name string) error {
	if name == "" || len(name) > maxTopicNameLen {
		return fmt.Errorf("topic name must be 1 to %d characters, got %d", maxTopicNameLen, len(name))
	}
	if name == "." || name == ".." {
		return fmt.Errorf("topic name cannot be %q", name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("topic name %q contains %q; allowed are ASCII letters, digits, '.', '_' and '-'", name, c)
		}
	}
	return nil
}

func topicError(e *kerr.Error, format string, args ...any) TopicResult {
	return TopicResult{ErrorCode: e.Code, ErrorMessage: fmt.Sprintf(format, args...)}
}

func (s *state) createTopic(c CreateTopic) TopicResult {
	if err := validTopicName(c.Name); err != nil {
		return topicError(kerr.InvalidTopicException, "%v", err)
	}
	if c.ID == ([16]byte{}) {
		return topicError(kerr.InvalidTopicException, "topic %q: topic id must not be zero", c.Name)
	}
	if _, ok := s.topics[c.Name]; ok {
		return topicError(kerr.TopicAlreadyExists, "topic %q already exists", c.Name)
	}
	if _, ok := s.byID[c.ID]; ok {
		return topicError(kerr.TopicAlreadyExists, "topic id %x is already in use", c.ID)
	}
	if c.Partitions < 1 || c.Partitions > MaxPartitions {
		return topicError(kerr.InvalidPartitions, "topic %q: partition count %d not in [1, %d]", c.Name, c.Partitions, MaxPartitions)
	}
	configs := maps.Clone(c.Configs)
	if len(configs) == 0 {
		configs = nil // one representation of "no configs", so snapshots round-trip exactly
	}
	t := &topic{
		info: TopicInfo{Name: c.Name, ID: c.ID, Partitions: c.Partitions, Configs: configs, CreatedMs: c.NowMs},
	}
	t.parts = growPartitions(nil, int(c.Partitions))
	s.topics[c.Name] = t
	s.byID[c.ID] = t
	return TopicResult{Topic: t.info.clone()}
}

func growPartitions(parts []*partition, n int) []*partition {
	for len(parts) < n {
		parts = append(parts, &partition{})
	}
	return parts
}

func (s *state) createPartitions(c CreatePartitions) TopicResult {
	t := s.topics[c.Name]
	if t == nil {
		return topicError(kerr.UnknownTopicOrPartition, "topic %q does not exist", c.Name)
	}
	if c.Count <= t.info.Partitions || c.Count > MaxPartitions {
		return topicError(kerr.InvalidPartitions, "topic %q has %d partitions; new count %d must be greater and at most %d",
			c.Name, t.info.Partitions, c.Count, MaxPartitions)
	}
	t.parts = growPartitions(t.parts, int(c.Count))
	t.info.Partitions = c.Count
	return TopicResult{Topic: t.info.clone()}
}

// deleteTopic removes the topic with its manifests, producer windows and
// every group's committed offsets for it. Files left without references die
// at this index, in manifest order.
func (s *state) deleteTopic(index uint64, c DeleteTopic) (TopicResult, []PartitionKey) {
	t := s.topics[c.Name]
	if t == nil {
		return topicError(kerr.UnknownTopicOrPartition, "topic %q does not exist", c.Name), nil
	}
	delete(s.topics, c.Name)
	delete(s.byID, t.info.ID)
	keys := make([]PartitionKey, len(t.parts))
	for i, p := range t.parts {
		keys[i] = PartitionKey{TopicID: t.info.ID, Partition: int32(i)}
		for _, e := range p.m.entries {
			s.unref(e.Key, index, c.NowMs)
		}
	}
	s.dropTopicOffsets(t.info.ID)
	return TopicResult{Topic: t.info.clone()}, keys
}
