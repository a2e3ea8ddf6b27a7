package cache

import (
	"cmp"
	"encoding/binary"
	"slices"
	"strconv"
	"sync/atomic"
)

// Node is one agent taking part in the shared cache.
type Node struct {
	ID   int32
	Addr string // host:port of the agent's HTTP listener, which serves BlockHandler
}

// VirtualNodes is how many points each node has on the ring. More points
// spread blocks more evenly (the spread shrinks as 1/sqrt(points)); 128
// keeps every node within a few tens of percent of its fair share.
const VirtualNodes = 128

// Ring assigns every (object key, block) an owning node by consistent
// hashing: adding or removing one of N nodes moves only about 1/N of the
// blocks, all of them to or from that node. A Ring is immutable and safe for
// concurrent use; on a membership change build a new one and swap it in
// (PeerSet does). Every agent must build its ring from the same node set to
// agree on owners: the hash is fixed (FNV-1a with a 64-bit finalizer), not
// seeded per process.
type Ring struct {
	nodes  []Node   // sorted by ID, unique
	points []uint64 // sorted
	owners []int32  // owners[i]: index in nodes of the node at points[i]
}

// NewRing builds a ring over nodes. Order does not matter; of two nodes
// with the same ID the first is kept. An empty ring owns nothing.
func NewRing(nodes []Node) *Ring {
	uniq := make([]Node, 0, len(nodes))
	for _, n := range nodes {
		if !slices.ContainsFunc(uniq, func(u Node) bool { return u.ID == n.ID }) {
			uniq = append(uniq, n)
		}
	}
	slices.SortFunc(uniq, func(a, b Node) int { return cmp.Compare(a.ID, b.ID) })

	type point struct {
		hash  uint64
		owner int32
	}
	pts := make([]point, 0, len(uniq)*VirtualNodes)
	var buf []byte
	for i, n := range uniq {
		for v := range VirtualNodes {
			buf = strconv.AppendInt(append(buf[:0], "wisp-cache-node/"...), int64(n.ID), 10)
			buf = strconv.AppendInt(append(buf, '/'), int64(v), 10)
			pts = append(pts, point{hash64(buf), int32(i)})
		}
	}
	// Ties (vanishingly rare) go to the lower node id, so every agent agrees.
	slices.SortFunc(pts, func(a, b point) int {
		if c := cmp.Compare(a.hash, b.hash); c != 0 {
			return c
		}
		return cmp.Compare(a.owner, b.owner)
	})
	r := &Ring{nodes: uniq, points: make([]uint64, len(pts)), owners: make([]int32, len(pts))}
	for i, p := range pts {
		r.points[i], r.owners[i] = p.hash, p.owner
	}
	return r
}

// Owner returns the node owning block of key: the node of the first point at
// or after the block's hash, wrapping around. An empty or nil ring returns
// the zero Node, whose empty Addr means "nobody: read the store".
func (r *Ring) Owner(key string, block int64) Node {
	if r == nil || len(r.points) == 0 {
		return Node{}
	}
	h := blockHash(key, block)
	i, _ := slices.BinarySearch(r.points, h)
	if i == len(r.points) {
		i = 0
	}
	return r.nodes[r.owners[i]]
}

// Nodes returns the ring's nodes sorted by ID. The caller may modify the
// returned slice.
func (r *Ring) Nodes() []Node {
	if r == nil {
		return nil
	}
	return slices.Clone(r.nodes)
}

// Len returns the number of nodes.
func (r *Ring) Len() int {
	if r == nil {
		return 0
	}
	return len(r.nodes)
}

// Equal reports whether r and o have the same nodes with the same addresses,
// and so assign every block to the same owner.
func (r *Ring) Equal(o *Ring) bool {
	return slices.Equal(r.nodesOrNil(), o.nodesOrNil())
}

func (r *Ring) nodesOrNil() []Node {
	if r == nil {
		return nil
	}
	return r.nodes
}

func blockHash(key string, block int64) uint64 {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(block))
	h := fnvOffset
	for i := 0; i < len(key); i++ {
		h = (h ^ uint64(key[i])) * fnvPrime
	}
	h = (h ^ 0xff) * fnvPrime // separator: ("a", 1) and ("a\x00…", …) differ
	for _, c := range b {
		h = (h ^ uint64(c)) * fnvPrime
	}
	return mix64(h)
}

func hash64(b []byte) uint64 {
	h := fnvOffset
	for _, c := range b {
		h = (h ^ uint64(c)) * fnvPrime
	}
	return mix64(h)
}

const (
	fnvOffset uint64 = 14695981039346656037
	fnvPrime  uint64 = 1099511628211
)

// mix64 is the murmur3 finalizer: FNV alone leaves the high bits of similar
// inputs (block 1, block 2, …) correlated, which would cluster them on the
// ring.
func mix64(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// PeerSet is the Peers of one agent: its own id and the current ring,
// replaced whole by Set when membership changes. Safe for concurrent use:
// readers get the ring of the moment and keep using it for one load.
type PeerSet struct {
	self int32
	ring atomic.Pointer[Ring]
}

// NewPeerSet returns the peers of agent self, starting with an empty ring
// (every block is read from the store until Set is called).
func NewPeerSet(self int32) *PeerSet {
	p := &PeerSet{self: self}
	p.ring.Store(NewRing(nil))
	return p
}

// Set rebuilds the ring over nodes and swaps it in; it reports whether
// ownership changed (an unchanged node set keeps the current ring). Call it
// from one goroutine (the one following membership).
func (p *PeerSet) Set(nodes []Node) bool {
	r := NewRing(nodes)
	if r.Equal(p.ring.Load()) {
		return false
	}
	p.ring.Store(r)
	return true
}

// Ring implements Peers.
func (p *PeerSet) Ring() *Ring { return p.ring.Load() }

// Self implements Peers.
func (p *PeerSet) Self() int32 { return p.self }
