package fsm

import (
	"reflect"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

func TestCommitOffsets(t *testing.T) {
	h := newHarness(t)
	a := h.createTopic("a", 2)
	b := h.createTopic("b", 1)

	tests := []struct {
		name  string
		cmd   CommitOffsets
		codes []int16
	}{
		{"stores offsets with epoch and metadata", CommitOffsets{Group: "g", NowMs: 100, Offsets: []OffsetCommit{
			{TopicID: a, Partition: 0, Offset: 10, LeaderEpoch: 1, Metadata: "m0"},
			{TopicID: b, Partition: 0, Offset: 3, LeaderEpoch: -1},
		}}, []int16{0, 0}},
		{"a later commit replaces the partition's offset", CommitOffsets{Group: "g", NowMs: 200, Offsets: []OffsetCommit{
			{TopicID: a, Partition: 0, Offset: 12, LeaderEpoch: 2},
		}}, []int16{0}},
		{"unknown partitions are refused one by one", CommitOffsets{Group: "g", NowMs: 300, Offsets: []OffsetCommit{
			{TopicID: a, Partition: 2, Offset: 1},
			{TopicID: topicID("nope"), Partition: 0, Offset: 1},
			{TopicID: a, Partition: 1, Offset: 5, LeaderEpoch: -1},
			{TopicID: a, Partition: -1, Offset: 1},
		}}, []int16{kerr.UnknownTopicOrPartition.Code, kerr.UnknownTopicOrPartition.Code, 0, kerr.UnknownTopicOrPartition.Code}},
		{"metadata over the limit is refused", CommitOffsets{Group: "g", Offsets: []OffsetCommit{
			{TopicID: b, Partition: 0, Offset: 99, Metadata: strings.Repeat("x", MaxOffsetMetadata+1)},
			{TopicID: b, Partition: 0, Offset: 4, Metadata: strings.Repeat("y", MaxOffsetMetadata)},
		}}, []int16{kerr.OffsetMetadataTooLarge.Code, 0}},
		{"an empty group id stores nothing", CommitOffsets{Group: "", Offsets: []OffsetCommit{{TopicID: a, Offset: 1}}},
			[]int16{kerr.InvalidGroupID.Code}},
		{"a second group is independent", CommitOffsets{Group: "h", NowMs: 400, Offsets: []OffsetCommit{{TopicID: a, Partition: 0, Offset: 1}}},
			[]int16{0}},
	}
	for _, tt := range tests {
		res := h.apply(tt.cmd).(CommitOffsetsResult)
		if !reflect.DeepEqual(res.ErrorCodes, tt.codes) {
			t.Fatalf("%s: codes %v, want %v", tt.name, res.ErrorCodes, tt.codes)
		}
	}

	want := []CommittedOffset{
		{Topic: "a", TopicID: a, Partition: 0, Offset: 12, LeaderEpoch: 2, CommitMs: 200},
		{Topic: "a", TopicID: a, Partition: 1, Offset: 5, LeaderEpoch: -1, CommitMs: 300},
		{Topic: "b", TopicID: b, Partition: 0, Offset: 4, Metadata: strings.Repeat("y", MaxOffsetMetadata)},
	}
	if got := h.f.CommittedOffsets("g"); !reflect.DeepEqual(got, want) {
		t.Fatalf("CommittedOffsets(g) =\n%+v\nwant\n%+v", got, want)
	}
	if got := h.f.OffsetGroups(); !reflect.DeepEqual(got, []string{"g", "h"}) {
		t.Fatalf("OffsetGroups = %v", got)
	}
	if _, ok := h.f.CommittedOffset("g", a, 9); ok {
		t.Fatal("offset of a partition never committed")
	}
	if got := h.f.CommittedOffsets("unknown"); len(got) != 0 || h.f.HasOffsets("unknown") {
		t.Fatalf("unknown group has offsets %v", got)
	}
}

func TestDeleteGroupAndOffsets(t *testing.T) {
	h := newHarness(t)
	a := h.createTopic("a", 3)
	h.apply(CommitOffsets{Group: "g", Offsets: []OffsetCommit{{TopicID: a, Partition: 0, Offset: 1}, {TopicID: a, Partition: 1, Offset: 2}}})
	h.apply(CommitOffsets{Group: "h", Offsets: []OffsetCommit{{TopicID: a, Partition: 0, Offset: 3}}})

	res := h.apply(DeleteOffsets{Group: "g", Partitions: []PartitionKey{{TopicID: a, Partition: 0}, {TopicID: a, Partition: 2}}}).(DeleteOffsetsResult)
	if res.Deleted != 1 {
		t.Fatalf("DeleteOffsets deleted %d, want 1", res.Deleted)
	}
	if _, ok := h.f.CommittedOffset("g", a, 0); ok {
		t.Fatal("deleted offset still there")
	}
	if c, ok := h.f.CommittedOffset("g", a, 1); !ok || c.Offset != 2 {
		t.Fatalf("other offset of the group: %+v %v", c, ok)
	}
	if c, ok := h.f.CommittedOffset("h", a, 0); !ok || c.Offset != 3 {
		t.Fatalf("other group's offset: %+v %v", c, ok)
	}
	if res := h.apply(DeleteOffsets{Group: "nope", Partitions: []PartitionKey{{TopicID: a}}}).(DeleteOffsetsResult); res.Deleted != 0 {
		t.Fatalf("unknown group deleted %d", res.Deleted)
	}

	// Deleting the last offset forgets the group.
	h.apply(DeleteOffsets{Group: "g", Partitions: []PartitionKey{{TopicID: a, Partition: 1}}})
	if h.f.HasOffsets("g") {
		t.Fatal("group without offsets still listed")
	}

	if res := h.apply(DeleteGroup{Group: "h"}).(DeleteOffsetsResult); res.Deleted != 1 {
		t.Fatalf("DeleteGroup deleted %d, want 1", res.Deleted)
	}
	if got := h.f.OffsetGroups(); len(got) != 0 {
		t.Fatalf("groups left: %v", got)
	}
	if res := h.apply(DeleteGroup{Group: "h"}).(DeleteOffsetsResult); res.Deleted != 0 {
		t.Fatalf("second DeleteGroup deleted %d", res.Deleted)
	}
}

// TestDeleteTopicDropsOffsets: a deleted topic takes every group's offsets
// with it, so a topic created later under the same name starts clean.
func TestDeleteTopicDropsOffsets(t *testing.T) {
	h := newHarness(t)
	doomed := h.createTopic("doomed", 2)
	keep := h.createTopic("keep", 1)
	h.apply(CommitOffsets{Group: "both", Offsets: []OffsetCommit{{TopicID: doomed, Offset: 5}, {TopicID: keep, Offset: 6}}})
	h.apply(CommitOffsets{Group: "only", Offsets: []OffsetCommit{{TopicID: doomed, Partition: 1, Offset: 7}}})

	h.apply(DeleteTopic{Name: "doomed"})
	want := []CommittedOffset{{Topic: "keep", TopicID: keep, Offset: 6}}
	if got := h.f.CommittedOffsets("both"); !reflect.DeepEqual(got, want) {
		t.Fatalf("both = %+v, want %+v", got, want)
	}
	if h.f.HasOffsets("only") {
		t.Fatal("group whose only topic was deleted still has offsets")
	}

	// Same name, new id: no offsets, and commits to the old id are refused.
	h.apply(CreateTopic{Name: "doomed", ID: topicID("doomed-2"), Partitions: 2})
	if _, ok := h.f.CommittedOffset("both", topicID("doomed-2"), 0); ok {
		t.Fatal("recreated topic inherited an offset")
	}
	res := h.apply(CommitOffsets{Group: "late", Offsets: []OffsetCommit{{TopicID: doomed, Offset: 9}}}).(CommitOffsetsResult)
	if res.ErrorCodes[0] != kerr.UnknownTopicOrPartition.Code || h.f.HasOffsets("late") {
		t.Fatalf("commit to a deleted topic id: %+v", res)
	}
}
