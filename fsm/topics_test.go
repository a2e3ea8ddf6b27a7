package fsm

import (
	"reflect"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

func TestInitCluster(t *testing.T) {
	h := newHarness(t)
	if got := h.f.ClusterID(); got != "" {
		t.Fatalf("ClusterID before init = %q", got)
	}
	for _, id := range []string{"first", "second"} {
		if res := h.apply(InitCluster{ClusterID: id, NowMs: 1}); res != nil {
			t.Fatalf("InitCluster returned %#v, want nil", res)
		}
	}
	if got := h.f.ClusterID(); got != "first" {
		t.Fatalf("ClusterID = %q, want the first one", got)
	}
	if got := h.f.AppliedIndex(); got != 2 {
		t.Fatalf("AppliedIndex = %d, want 2", got)
	}
}

func TestCreateTopic(t *testing.T) {
	existing := topicID("existing")
	tests := []struct {
		name string
		cmd  CreateTopic
		want *kerr.Error // nil: success
	}{
		{"ok", CreateTopic{Name: "orders", ID: topicID("orders"), Partitions: 3}, nil},
		{"name with all allowed characters", CreateTopic{Name: "a.B_9-z", ID: topicID("x"), Partitions: 1}, nil},
		{"name of 249 characters", CreateTopic{Name: strings.Repeat("n", 249), ID: topicID("x"), Partitions: 1}, nil},
		{"name exists", CreateTopic{Name: "existing", ID: topicID("other"), Partitions: 1}, kerr.TopicAlreadyExists},
		{"id in use", CreateTopic{Name: "fresh", ID: existing, Partitions: 1}, kerr.TopicAlreadyExists},
		{"zero partitions", CreateTopic{Name: "p0", ID: topicID("p0"), Partitions: 0}, kerr.InvalidPartitions},
		{"negative partitions", CreateTopic{Name: "pn", ID: topicID("pn"), Partitions: -1}, kerr.InvalidPartitions},
		{"too many partitions", CreateTopic{Name: "pm", ID: topicID("pm"), Partitions: MaxPartitions + 1}, kerr.InvalidPartitions},
		{"empty name", CreateTopic{Name: "", ID: topicID("e"), Partitions: 1}, kerr.InvalidTopicException},
		{"dot", CreateTopic{Name: ".", ID: topicID("d"), Partitions: 1}, kerr.InvalidTopicException},
		{"dot dot", CreateTopic{Name: "..", ID: topicID("dd"), Partitions: 1}, kerr.InvalidTopicException},
		{"name of 250 characters", CreateTopic{Name: strings.Repeat("n", 250), ID: topicID("l"), Partitions: 1}, kerr.InvalidTopicException},
		{"space", CreateTopic{Name: "a b", ID: topicID("s"), Partitions: 1}, kerr.InvalidTopicException},
		{"slash", CreateTopic{Name: "a/b", ID: topicID("sl"), Partitions: 1}, kerr.InvalidTopicException},
		{"non-ASCII", CreateTopic{Name: "café", ID: topicID("u"), Partitions: 1}, kerr.InvalidTopicException},
		{"zero id", CreateTopic{Name: "zid", Partitions: 1}, kerr.InvalidTopicException},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.createTopic("existing", 1)
			tt.cmd.NowMs = 1234
			res := h.apply(tt.cmd).(TopicResult)
			_, found := h.f.Topic(tt.cmd.Name)
			if tt.want != nil {
				if res.ErrorCode != tt.want.Code || res.ErrorMessage == "" {
					t.Fatalf("result %+v, want code %d with a message", res, tt.want.Code)
				}
				if tt.cmd.Name != "existing" && found {
					t.Fatalf("failed create left topic %q behind", tt.cmd.Name)
				}
				if got := len(h.f.Topics()); got != 1 {
					t.Fatalf("%d topics after failed create, want 1", got)
				}
				return
			}
			want := TopicInfo{Name: tt.cmd.Name, ID: tt.cmd.ID, Partitions: tt.cmd.Partitions, CreatedMs: 1234}
			if res.ErrorCode != 0 || !reflect.DeepEqual(res.Topic, want) {
				t.Fatalf("result %+v, want topic %+v", res, want)
			}
			if byName, _ := h.f.Topic(tt.cmd.Name); !reflect.DeepEqual(byName, want) {
				t.Fatalf("Topic = %+v", byName)
			}
			if byID, _ := h.f.TopicByID(tt.cmd.ID); !reflect.DeepEqual(byID, want) {
				t.Fatalf("TopicByID = %+v", byID)
			}
			for p := range tt.cmd.Partitions {
				if info, ok := h.f.Partition(tt.cmd.ID, p); !ok || info != (PartitionInfo{}) {
					t.Fatalf("partition %d = %+v, %v; want empty", p, info, ok)
				}
			}
			if _, ok := h.f.Partition(tt.cmd.ID, tt.cmd.Partitions); ok {
				t.Fatalf("partition %d exists", tt.cmd.Partitions)
			}
		})
	}
}

func TestTopicConfigsAreCopies(t *testing.T) {
	h := newHarness(t)
	configs := map[string]string{"cleanup.policy": "delete"}
	c := CreateTopic{Name: "t", ID: topicID("t"), Partitions: 1, Configs: configs}
	// Apply directly, without encoding, so the FSM sees the caller's map.
	h.f.mu.Lock()
	res := h.f.s.createTopic(c)
	h.f.mu.Unlock()
	configs["cleanup.policy"] = "compact"
	res.Topic.Configs["x"] = "y"
	got, _ := h.f.Topic("t")
	got.Configs["z"] = "w"
	all := h.f.Topics()
	if want := map[string]string{"cleanup.policy": "delete"}; !reflect.DeepEqual(all[0].Configs, want) {
		t.Fatalf("configs = %v, want %v", all[0].Configs, want)
	}
}

func TestTopicsSorted(t *testing.T) {
	h := newHarness(t)
	for _, n := range []string{"b", "c", "a"} {
		h.createTopic(n, 1)
	}
	var names []string
	for _, ti := range h.f.Topics() {
		names = append(names, ti.Name)
	}
	if want := []string{"a", "b", "c"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("Topics = %v, want %v", names, want)
	}
}

func TestCreatePartitions(t *testing.T) {
	tests := []struct {
		name  string
		topic string
		count int32
		want  *kerr.Error
	}{
		{"grow", "t", 5, nil},
		{"unknown topic", "nope", 5, kerr.UnknownTopicOrPartition},
		{"same count", "t", 2, kerr.InvalidPartitions},
		{"fewer", "t", 1, kerr.InvalidPartitions},
		{"too many", "t", MaxPartitions + 1, kerr.InvalidPartitions},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			id := h.createTopic("t", 2)
			h.mustCommit("f", plain(id, 1, 0, 10, 4))
			res := h.apply(CreatePartitions{Name: tt.topic, Count: tt.count}).(TopicResult)
			info, _ := h.f.Topic("t")
			if tt.want != nil {
				if res.ErrorCode != tt.want.Code || info.Partitions != 2 {
					t.Fatalf("result %+v, partitions %d; want code %d and 2 partitions", res, info.Partitions, tt.want.Code)
				}
				return
			}
			if res.ErrorCode != 0 || res.Topic.Partitions != tt.count || info.Partitions != tt.count {
				t.Fatalf("result %+v, partitions %d; want %d", res, info.Partitions, tt.count)
			}
			if p, ok := h.f.Partition(id, tt.count-1); !ok || p.HighWatermark != 0 {
				t.Fatalf("new partition = %+v, %v", p, ok)
			}
			if p, _ := h.f.Partition(id, 1); p.HighWatermark != 4 {
				t.Fatalf("existing partition lost its data: %+v", p)
			}
		})
	}
}

func TestDeleteTopic(t *testing.T) {
	h := newHarness(t)
	id := h.createTopic("t", 2)
	other := h.createTopic("other", 1)
	h.mustCommit("only-t", plain(id, 0, 0, 10, 1), plain(id, 1, 10, 10, 1))
	h.mustCommit("shared", plain(id, 0, 0, 10, 1), plain(other, 0, 10, 10, 1))

	if res := h.apply(DeleteTopic{Name: "nope"}).(TopicResult); res.ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("delete unknown: %+v", res)
	}
	res := h.apply(DeleteTopic{Name: "t", NowMs: 9000}).(TopicResult)
	if res.ErrorCode != 0 || res.Topic.Name != "t" || res.Topic.ID != id {
		t.Fatalf("delete: %+v", res)
	}
	deleteIndex := h.index
	if _, ok := h.f.Topic("t"); ok {
		t.Fatal("topic still there by name")
	}
	if _, ok := h.f.TopicByID(id); ok {
		t.Fatal("topic still there by id")
	}
	if _, ok := h.f.Partition(id, 0); ok {
		t.Fatal("partition still there")
	}
	if _, _, ok := h.f.Entries(id, 0, 0, 10); ok {
		t.Fatal("entries still there")
	}
	want := []DeadFile{{Key: "only-t", Size: 20, DiedIndex: deleteIndex, DiedMs: 9000}}
	if got := h.f.DeadFiles(); !reflect.DeepEqual(got, want) {
		t.Fatalf("DeadFiles = %+v, want %+v", got, want)
	}
	if h.f.FileLive("only-t") || !h.f.FileLive("shared") {
		t.Fatalf("live: only-t=%v shared=%v; want false, true", h.f.FileLive("only-t"), h.f.FileLive("shared"))
	}
	if fi, _ := h.f.File("shared"); fi.Refs != 1 {
		t.Fatalf("shared refs = %d, want 1", fi.Refs)
	}

	// The name and a fresh id can be used again, with no trace of the old topic.
	h.createTopic("t", 1)
	if p, _ := h.f.Partition(topicID("t"), 0); p.HighWatermark != 0 {
		t.Fatalf("recreated topic inherited data: %+v", p)
	}
}
