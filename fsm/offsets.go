package fsm

import (
	"bytes"
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
)

// MaxOffsetMetadata bounds the metadata string of one committed offset, as
// Kafka's offset.metadata.max.bytes does by default.
const MaxOffsetMetadata = 4096

// committed is one stored offset of a group.
type committed struct {
	offset      int64
	leaderEpoch int32
	metadata    string
	commitMs    int64
}

// groupOffsets holds a group's committed offsets by partition. It is never
// mutated in place once a snapshot may share it: writers replace the map
// (see state.groupForWrite).
type groupOffsets map[PartitionKey]committed

// groupForWrite returns the group's offsets ready for mutation, creating
// them if needed. Snapshots share the maps of the state they copied, so the
// first write to a group after a snapshot copies its map.
func (s *state) groupForWrite(group string) groupOffsets {
	g, ok := s.offsets[group]
	if !ok {
		g = make(groupOffsets)
		s.offsets[group] = g
		return g
	}
	if _, shared := s.sharedOffsets[group]; shared {
		g = maps.Clone(g)
		s.offsets[group] = g
		delete(s.sharedOffsets, group)
	}
	return g
}

// commitOffsets stores each offset whose partition exists. Offsets of
// partitions that do not exist (a topic deleted while its consumers were
// still committing) are refused one by one, so a deleted topic leaves no
// offsets behind for a later topic of the same name to inherit.
func (s *state) commitOffsets(c CommitOffsets) CommitOffsetsResult {
	res := CommitOffsetsResult{ErrorCodes: make([]int16, len(c.Offsets))}
	if c.Group == "" {
		for i := range res.ErrorCodes {
			res.ErrorCodes[i] = kerr.InvalidGroupID.Code
		}
		return res
	}
	var g groupOffsets
	for i, o := range c.Offsets {
		switch {
		case s.partition(o.TopicID, o.Partition) == nil:
			res.ErrorCodes[i] = kerr.UnknownTopicOrPartition.Code
		case len(o.Metadata) > MaxOffsetMetadata:
			res.ErrorCodes[i] = kerr.OffsetMetadataTooLarge.Code
		default:
			if g == nil {
				g = s.groupForWrite(c.Group)
			}
			g[PartitionKey{TopicID: o.TopicID, Partition: o.Partition}] = committed{
				offset: o.Offset, leaderEpoch: o.LeaderEpoch, metadata: o.Metadata, commitMs: c.NowMs,
			}
		}
	}
	return res
}

// deleteGroup drops all of a group's offsets.
func (s *state) deleteGroup(c DeleteGroup) DeleteOffsetsResult {
	n := len(s.offsets[c.Group])
	delete(s.offsets, c.Group)
	delete(s.sharedOffsets, c.Group)
	return DeleteOffsetsResult{Deleted: n}
}

// deleteOffsets drops the named offsets of a group; a group left without
// offsets is forgotten.
func (s *state) deleteOffsets(c DeleteOffsets) DeleteOffsetsResult {
	cur, ok := s.offsets[c.Group]
	if !ok {
		return DeleteOffsetsResult{}
	}
	n := 0
	for _, k := range c.Partitions {
		if _, ok := cur[k]; ok {
			n++
		}
	}
	if n == 0 {
		return DeleteOffsetsResult{}
	}
	g := s.groupForWrite(c.Group)
	for _, k := range c.Partitions {
		delete(g, k)
	}
	if len(g) == 0 {
		delete(s.offsets, c.Group)
	}
	return DeleteOffsetsResult{Deleted: n}
}

// dropTopicOffsets removes every group's offsets of a deleted topic.
func (s *state) dropTopicOffsets(id [16]byte) {
	for name, g := range s.offsets {
		has := false
		for k := range g {
			if k.TopicID == id {
				has = true
				break
			}
		}
		if !has {
			continue
		}
		w := s.groupForWrite(name)
		maps.DeleteFunc(w, func(k PartitionKey, _ committed) bool { return k.TopicID == id })
		if len(w) == 0 {
			delete(s.offsets, name)
		}
	}
}

// CommittedOffset is one committed offset of a consumer group.
type CommittedOffset struct {
	Topic       string
	TopicID     [16]byte
	Partition   int32
	Offset      int64
	LeaderEpoch int32
	Metadata    string
	CommitMs    int64
}

// CommittedOffsets returns a group's committed offsets sorted by topic name
// and partition; none if the group has no offsets.
func (f *FSM) CommittedOffsets(group string) []CommittedOffset {
	f.mu.RLock()
	defer f.mu.RUnlock()
	g := f.s.offsets[group]
	out := make([]CommittedOffset, 0, len(g))
	for k, c := range g {
		t := f.s.byID[k.TopicID]
		if t == nil {
			continue // unreachable: deleting a topic drops its offsets
		}
		out = append(out, CommittedOffset{
			Topic: t.info.Name, TopicID: k.TopicID, Partition: k.Partition,
			Offset: c.offset, LeaderEpoch: c.leaderEpoch, Metadata: c.metadata, CommitMs: c.commitMs,
		})
	}
	slices.SortFunc(out, func(a, b CommittedOffset) int {
		return cmp.Or(strings.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
	})
	return out
}

// CommittedOffset returns one committed offset; false if the group has none
// for that partition.
func (f *FSM) CommittedOffset(group string, topicID [16]byte, partition int32) (CommittedOffset, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	c, ok := f.s.offsets[group][PartitionKey{TopicID: topicID, Partition: partition}]
	t := f.s.byID[topicID]
	if !ok || t == nil {
		return CommittedOffset{}, false
	}
	return CommittedOffset{
		Topic: t.info.Name, TopicID: topicID, Partition: partition,
		Offset: c.offset, LeaderEpoch: c.leaderEpoch, Metadata: c.metadata, CommitMs: c.commitMs,
	}, true
}

// OffsetGroups lists the groups that have committed offsets, sorted.
func (f *FSM) OffsetGroups() []string {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return slices.Sorted(maps.Keys(f.s.offsets))
}

// HasOffsets reports whether a group has any committed offset.
func (f *FSM) HasOffsets(group string) bool {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return len(f.s.offsets[group]) > 0
}

// sortedOffsetKeys orders a group's partitions by topic id, then partition,
// so snapshots of equal states are equal bytes.
func sortedOffsetKeys(g groupOffsets) []PartitionKey {
	keys := slices.Collect(maps.Keys(g))
	slices.SortFunc(keys, func(a, b PartitionKey) int {
		return cmp.Or(bytes.Compare(a.TopicID[:], b.TopicID[:]), cmp.Compare(a.Partition, b.Partition))
	})
	return keys
}

// CommitOffsets v1 layout (varints are zigzag unless marked u):
//
//	group str | now
//	u topic count, 16-byte ids in first-use order
//	u offset count, then per offset:
//	  u topic index | partition | offset | leader epoch | metadata str

// minOffsetBytes is the smallest encoding of one offset: five one-byte fields.
const minOffsetBytes = 5

func encodeCommitOffsets(dst []byte, c Command) ([]byte, error) {
	co, ok := c.(CommitOffsets)
	if !ok {
		return nil, fmt.Errorf("fsm: CommitOffsets codec given %T", c)
	}
	idx := make(map[[16]byte]uint64)
	var ids [][16]byte
	for _, o := range co.Offsets {
		if _, ok := idx[o.TopicID]; !ok {
			idx[o.TopicID] = uint64(len(ids))
			ids = append(ids, o.TopicID)
		}
	}
	w := wbuf{b: dst}
	w.str(co.Group)
	w.varint(co.NowMs)
	w.uvarint(uint64(len(ids)))
	for _, id := range ids {
		w.id(id)
	}
	w.uvarint(uint64(len(co.Offsets)))
	for _, o := range co.Offsets {
		w.uvarint(idx[o.TopicID])
		w.varint(int64(o.Partition))
		w.varint(o.Offset)
		w.varint(int64(o.LeaderEpoch))
		w.str(o.Metadata)
	}
	return w.b, nil
}

func decodeCommitOffsets(_ byte, p []byte) (Command, error) {
	r := rbuf{b: p}
	var co CommitOffsets
	co.Group = r.str()
	co.NowMs = r.varint()
	ids := make([][16]byte, r.count(16))
	for i := range ids {
		ids[i] = r.id()
	}
	n := r.count(minOffsetBytes)
	if r.err != nil {
		return nil, r.err
	}
	if n > 0 {
		co.Offsets = make([]OffsetCommit, n)
	}
	for i := range co.Offsets {
		o := &co.Offsets[i]
		ti := r.uvarint()
		if r.err == nil && ti >= uint64(len(ids)) {
			r.fail("offset %d: topic index %d of %d", i, ti, len(ids))
		}
		if r.err != nil {
			return nil, r.err
		}
		o.TopicID = ids[ti]
		o.Partition = r.int32()
		o.Offset = r.varint()
		o.LeaderEpoch = r.int32()
		o.Metadata = r.str()
	}
	if err := r.done(); err != nil {
		return nil, err
	}
	return co, nil
}
