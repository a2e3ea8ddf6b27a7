package kafka

import (
	"slices"
	"testing"
)

func TestZoneRouting(t *testing.T) {
	a, b := "a", "b"
	all := []Broker{{NodeID: 1, Rack: &a}, {NodeID: 2, Rack: &b}, {NodeID: 3, Rack: &a}, {NodeID: 4}}
	ids := func(bs []Broker) []int32 {
		var out []int32
		for _, x := range bs {
			out = append(out, x.NodeID)
		}
		return out
	}
	for _, tc := range []struct {
		clientID string
		want     []int32
	}{
		{"", []int32{1, 2, 3, 4}},
		{"app", []int32{1, 2, 3, 4}},
		{"app,wisp_az=a", []int32{1, 3}},
		{"wisp_az=b, other=x", []int32{2}},
		{"wisp_az=c", []int32{1, 2, 3, 4}}, // no agent there: all of them
		{"ws_az=a", []int32{1, 2, 3, 4}},   // only wisp_az is ours
	} {
		if got := ids(zoneBrokers(all, clientZone(tc.clientID))); !slices.Equal(got, tc.want) {
			t.Errorf("client.id %q: brokers %v, want %v", tc.clientID, got, tc.want)
		}
	}
}

func TestPartitionLeadersSpread(t *testing.T) {
	brokers := []Broker{{NodeID: 1}, {NodeID: 2}, {NodeID: 3}}
	count := map[int32]int{}
	var id [16]byte
	id[0] = 7
	for p := int32(0); p < 300; p++ {
		l := partitionLeader(id, p, brokers)
		if l2 := partitionLeader(id, p, brokers); l2 != l {
			t.Fatalf("partition %d: leader %d then %d; it must be stable", p, l, l2)
		}
		count[l]++
	}
	for _, b := range brokers {
		if c := count[b.NodeID]; c < 60 || c > 140 {
			t.Fatalf("broker %d leads %d of 300 partitions; leaders must spread (%v)", b.NodeID, c, count)
		}
	}
}
