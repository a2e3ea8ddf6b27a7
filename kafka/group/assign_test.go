package group

import (
	"fmt"
	"slices"
	"testing"
)

func subsTo(topics ...string) func(string) bool {
	return func(t string) bool { return slices.Contains(topics, t) }
}

// checkAssignment fails unless every partition of every subscribed topic
// goes to exactly one member subscribed to its topic.
func checkAssignment(t *testing.T, ids []string, subs map[string]func(string) bool, topics []Topic, out map[string]tpSet) {
	t.Helper()
	owner := map[tp]string{}
	for _, id := range ids {
		for k := range out[id] {
			if prev, dup := owner[k]; dup {
				t.Fatalf("partition %v given to %s and %s", k, prev, id)
			}
			owner[k] = id
		}
	}
	for _, topic := range topics {
		subscribed := slices.ContainsFunc(ids, func(id string) bool { return subs[id](topic.Name) })
		for p := range topic.Partitions {
			id, ok := owner[tp{topic.ID, p}]
			switch {
			case subscribed && !ok:
				t.Fatalf("%s/%d unassigned", topic.Name, p)
			case ok && !subs[id](topic.Name):
				t.Fatalf("%s/%d given to %s, not subscribed", topic.Name, p, id)
			case !subscribed && ok:
				t.Fatalf("%s/%d assigned though nobody subscribes", topic.Name, p)
			}
		}
	}
}

func loads(ids []string, out map[string]tpSet) []int {
	var l []int
	for _, id := range ids {
		l = append(l, len(out[id]))
	}
	return l
}

func TestAssignUniform(t *testing.T) {
	a, b := topicNamed("a", 12), topicNamed("b", 3)
	tests := []struct {
		name   string
		ids    []string
		subs   map[string]func(string) bool
		topics []Topic
		want   []int // load per member, in ids order
	}{
		{"one member takes everything", []string{"m1"}, map[string]func(string) bool{"m1": subsTo("a", "b")}, []Topic{a, b}, []int{15}},
		{"even split", []string{"m1", "m2", "m3"}, map[string]func(string) bool{"m1": subsTo("a"), "m2": subsTo("a"), "m3": subsTo("a")}, []Topic{a}, []int{4, 4, 4}},
		{"uneven count", []string{"m1", "m2"}, map[string]func(string) bool{"m1": subsTo("a", "b"), "m2": subsTo("a", "b")}, []Topic{a, b}, []int{8, 7}},
		{"more members than partitions", []string{"m1", "m2", "m3", "m4"}, map[string]func(string) bool{
			"m1": subsTo("b"), "m2": subsTo("b"), "m3": subsTo("b"), "m4": subsTo("b")}, []Topic{b}, []int{1, 1, 1, 0}},
		{"heterogeneous subscriptions", []string{"m1", "m2"}, map[string]func(string) bool{"m1": subsTo("a", "b"), "m2": subsTo("b")}, []Topic{a, b}, []int{12, 3}},
		{"nobody subscribes", []string{"m1"}, map[string]func(string) bool{"m1": subsTo("zzz")}, []Topic{a}, []int{0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := assignUniform(tt.ids, tt.subs, tt.topics, nil)
			checkAssignment(t, tt.ids, tt.subs, tt.topics, out)
			if got := loads(tt.ids, out); !slices.Equal(got, tt.want) {
				t.Fatalf("loads %v, want %v", got, tt.want)
			}
		})
	}
}

// TestAssignUniformIsSticky: when a member joins, only the partitions it
// needs move; when one leaves, only its partitions move.
func TestAssignUniformIsSticky(t *testing.T) {
	topic := topicNamed("t", 12)
	subs := map[string]func(string) bool{}
	for i := range 4 {
		subs[fmt.Sprintf("m%d", i)] = subsTo("t")
	}
	three := []string{"m0", "m1", "m2"}
	before := assignUniform(three, subs, []Topic{topic}, nil)
	four := []string{"m0", "m1", "m2", "m3"}
	after := assignUniform(four, subs, []Topic{topic}, before)
	checkAssignment(t, four, subs, []Topic{topic}, after)
	if got := loads(four, after); !slices.Equal(got, []int{3, 3, 3, 3}) {
		t.Fatalf("loads after a join %v", got)
	}
	for _, id := range three {
		for k := range after[id] {
			if _, had := before[id][k]; !had {
				t.Fatalf("%s gained %v when a member joined", id, k)
			}
		}
	}
	left := assignUniform(three, subs, []Topic{topic}, after)
	for _, id := range three {
		for k := range after[id] {
			if _, kept := left[id][k]; !kept {
				t.Fatalf("%s lost %v when another member left", id, k)
			}
		}
	}
}

func TestAssignRange(t *testing.T) {
	a, b := topicNamed("a", 7), topicNamed("b", 2)
	ids := []string{"m1", "m2", "m3"}
	subs := map[string]func(string) bool{"m1": subsTo("a", "b"), "m2": subsTo("a", "b"), "m3": subsTo("a")}
	out := assignRange(ids, subs, []Topic{a, b})
	checkAssignment(t, ids, subs, []Topic{a, b}, out)
	want := map[string][]tp{
		"m1": {{a.ID, 0}, {a.ID, 1}, {a.ID, 2}, {b.ID, 0}},
		"m2": {{a.ID, 3}, {a.ID, 4}, {b.ID, 1}},
		"m3": {{a.ID, 5}, {a.ID, 6}},
	}
	for id, w := range want {
		slices.SortFunc(w, cmpTP)
		if got := out[id].sorted(); !slices.Equal(got, w) {
			t.Fatalf("%s got %v, want %v", id, got, w)
		}
	}
}
