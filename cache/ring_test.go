package cache

import (
	"fmt"
	"math"
	"testing"
)

func ringNodes(ids ...int32) []Node {
	nodes := make([]Node, len(ids))
	for i, id := range ids {
		nodes[i] = Node{ID: id, Addr: fmt.Sprintf("10.0.0.%d:8080", id)}
	}
	return nodes
}

// testBlocks is 10,000 (key, block) pairs shaped like real ones: many files,
// a few blocks each.
func testBlocks() []blockID {
	var ids []blockID
	for f := range 1000 {
		key := fmt.Sprintf("wisp/c0ffee/files/%020d-%d.wsp", 1700000000000+f*250, f%7)
		for b := range int64(10) {
			ids = append(ids, blockID{key, b})
		}
	}
	return ids
}

func owners(r *Ring, blocks []blockID) []int32 {
	out := make([]int32, len(blocks))
	for i, b := range blocks {
		out[i] = r.Owner(b.key, b.block).ID
	}
	return out
}

func TestRingDeterministic(t *testing.T) {
	blocks := testBlocks()
	a := NewRing(ringNodes(1, 2, 3, 4))
	b := NewRing(ringNodes(4, 2, 3, 1, 2)) // another order, and a duplicate
	oa, ob := owners(a, blocks), owners(b, blocks)
	for i := range blocks {
		if oa[i] != ob[i] {
			t.Fatalf("block %v: owner %d on one ring, %d on the other", blocks[i], oa[i], ob[i])
		}
	}
	if !a.Equal(b) || b.Len() != 4 {
		t.Errorf("rings over the same nodes differ: %v vs %v", a.Nodes(), b.Nodes())
	}
	// Golden owners: the hash must never change between releases, or agents
	// of two versions would disagree on owners during a rolling upgrade.
	golden := []struct {
		key   string
		block int64
		want  int32
	}{
		{"wisp/c/files/a", 0, 2},
		{"wisp/c/files/a", 1, 1},
		{"wisp/c/files/a", 7, 2},
		{"wisp/c/files/a", 1 << 40, 2},
		{"wisp/c/files/b", 0, 4},
		{"wisp/c/files/b", 1, 4},
		{"wisp/c/files/b", 7, 2},
		{"", 0, 3},
		{"", 1, 1},
		{"", 1 << 40, 4},
	}
	for _, g := range golden {
		if got := a.Owner(g.key, g.block).ID; got != g.want {
			t.Errorf("Owner(%q, %d) = %d, want %d", g.key, g.block, got, g.want)
		}
	}
	if got := a.Owner("x", 0); got.Addr != fmt.Sprintf("10.0.0.%d:8080", got.ID) {
		t.Errorf("Owner returned %+v: address does not belong to the id", got)
	}
}

func TestRingBalance(t *testing.T) {
	blocks := testBlocks()
	for n := 3; n <= 5; n++ {
		t.Run(fmt.Sprintf("%d nodes", n), func(t *testing.T) {
			ids := make([]int32, n)
			for i := range ids {
				ids[i] = int32(101 + i*7) // ids need not be dense
			}
			counts := map[int32]int{}
			for _, o := range owners(NewRing(ringNodes(ids...)), blocks) {
				counts[o]++
			}
			fair := float64(len(blocks)) / float64(n)
			for _, id := range ids {
				if dev := math.Abs(float64(counts[id])-fair) / fair; dev > 0.25 {
					t.Errorf("node %d owns %d blocks, %.0f%% off the fair %.0f", id, counts[id], dev*100, fair)
				}
			}
			t.Logf("blocks per node: %v", counts)
		})
	}
}

func TestRingMinimalMovement(t *testing.T) {
	blocks := testBlocks()
	base := []int32{1, 2, 3, 4}
	before := owners(NewRing(ringNodes(base...)), blocks)

	t.Run("add a node", func(t *testing.T) {
		after := owners(NewRing(ringNodes(append(base, 5)...)), blocks)
		moved := 0
		for i := range blocks {
			if before[i] != after[i] {
				moved++
				if after[i] != 5 {
					t.Fatalf("block %v moved from %d to %d, not to the new node", blocks[i], before[i], after[i])
				}
			}
		}
		checkMoved(t, moved, len(blocks), 5)
	})
	t.Run("remove a node", func(t *testing.T) {
		after := owners(NewRing(ringNodes(1, 2, 4)), blocks)
		moved := 0
		for i := range blocks {
			if before[i] != after[i] {
				moved++
				if before[i] != 3 {
					t.Fatalf("block %v moved from %d, which is still there", blocks[i], before[i])
				}
			}
		}
		checkMoved(t, moved, len(blocks), 4)
	})
}

// checkMoved wants about 1/n of the blocks moved, within the balance bound.
func checkMoved(t *testing.T, moved, total, n int) {
	t.Helper()
	fair := float64(total) / float64(n)
	if math.Abs(float64(moved)-fair)/fair > 0.25 {
		t.Errorf("%d of %d blocks moved, want about %.0f", moved, total, fair)
	}
}

func TestRingEdges(t *testing.T) {
	var nilRing *Ring
	for _, r := range []*Ring{nilRing, NewRing(nil)} {
		if got := r.Owner("k", 3); got != (Node{}) {
			t.Errorf("empty ring owner = %+v", got)
		}
		if r.Len() != 0 || len(r.Nodes()) != 0 {
			t.Errorf("empty ring has nodes %v", r.Nodes())
		}
	}
	one := NewRing(ringNodes(9))
	for b := range int64(100) {
		if got := one.Owner("k", b).ID; got != 9 {
			t.Fatalf("single-node ring gave block %d to %d", b, got)
		}
	}
	// The block number is part of the hash: one file's blocks spread out.
	r := NewRing(ringNodes(1, 2, 3))
	seen := map[int32]bool{}
	for b := range int64(30) {
		seen[r.Owner("one/file", b).ID] = true
	}
	if len(seen) != 3 {
		t.Errorf("30 blocks of one file landed on %d node(s)", len(seen))
	}
	if NewRing(ringNodes(1, 2)).Equal(NewRing([]Node{{ID: 1, Addr: "10.0.0.1:8080"}, {ID: 2, Addr: "elsewhere:1"}})) {
		t.Error("rings with different addresses compare equal")
	}
}

func TestPeerSet(t *testing.T) {
	p := NewPeerSet(2)
	if p.Self() != 2 || p.Ring().Len() != 0 {
		t.Fatalf("new PeerSet: self %d, %d nodes", p.Self(), p.Ring().Len())
	}
	if !p.Set(ringNodes(1, 2, 3)) {
		t.Error("first Set reported no change")
	}
	r := p.Ring()
	if p.Set(ringNodes(3, 2, 1)) {
		t.Error("Set of the same nodes reported a change")
	}
	if p.Ring() != r {
		t.Error("Set of the same nodes replaced the ring")
	}
	if !p.Set(ringNodes(1, 2)) || p.Ring().Len() != 2 {
		t.Error("Set of fewer nodes did not take effect")
	}
	if r.Len() != 3 {
		t.Error("an old ring changed after a swap")
	}
}
