package fsm

import (
	"maps"
	"slices"
)

// state is everything the FSM replicates. It is mutated only by Apply (under
// FSM.mu held for writing) and replaced wholesale by Restore.
type state struct {
	applied   uint64
	clusterID string
	nextPID   int64 // next producer id to try; ids with state are skipped

	topics map[string]*topic
	byID   map[[16]byte]*topic

	producers map[int64]producer
	files     map[string]fileRec // live files, each referenced by >= 1 entry
	dead      []DeadFile         // in DiedIndex order
	deadKeys  map[string]struct{}

	// offsets holds consumer groups' committed offsets by group id.
	// sharedOffsets names the groups whose maps a snapshot may still be
	// reading; the next write to one of them copies it first.
	offsets       map[string]groupOffsets
	sharedOffsets map[string]struct{}

	// scram holds SCRAM credentials; acls the ACL bindings, sorted. Neither
	// is mutated in place (see security.go), so clones share them.
	// aclVersion is the log index of the last ACL change; aclIndex groups
	// acls by resource for authorization (see security_index.go).
	scram      map[ScramKey]ScramCredential
	acls       []ACL
	aclVersion uint64
	aclIndex   aclIndex

	// txns holds the transactional ids (see txn.go).
	txns txnTable

	// recent remembers the outcomes of the last commits for their retries
	// (see recent.go). Snapshots leave it out.
	recent recentCommits
}

type topic struct {
	info  TopicInfo // info.Configs is never mutated in place: snapshots share it
	parts []*partition
}

type partition struct {
	logStart int64
	hw       int64
	m        manifest
	// windows holds the last batches of each idempotent producer that wrote
	// here. It lives with the partition so that deleting the topic drops it.
	windows map[int64]seqWindow
	// tx is the partition's transaction state (ongoing first offsets,
	// aborted ranges); nil when it has none.
	tx *partTxn
}

// producer is the per-id state: the fencing epoch and when it was last used
// (for a future expiry command; Apply itself never reads a clock).
type producer struct {
	epoch  int16
	lastMs int64
}

type fileRec struct {
	size      int64
	nodeID    int32
	createdMs int64
	refs      int64 // manifest entries that point into the file
	level     int32 // 0 for ingestion files, n+1 for compaction output of level n
}

func newState() *state {
	return &state{
		nextPID:   1,
		topics:    make(map[string]*topic),
		byID:      make(map[[16]byte]*topic),
		producers: make(map[int64]producer),
		files:     make(map[string]fileRec),
		deadKeys:  make(map[string]struct{}),

		offsets:       make(map[string]groupOffsets),
		sharedOffsets: make(map[string]struct{}),

		scram: make(map[ScramKey]ScramCredential),
	}
}

// clone returns a copy for a snapshot to persist while Apply goes on. It costs
// one small copy per topic, partition, producer, file and group; the
// manifests and the groups' offsets, which hold most of the state, are shared
// copy-on-write (see manifest.shared and state.groupForWrite).
// The caller must hold the write lock because it marks manifests and offsets
// shared.
func (s *state) clone() *state {
	c := &state{
		applied:   s.applied,
		clusterID: s.clusterID,
		nextPID:   s.nextPID,
		topics:    make(map[string]*topic, len(s.topics)),
		byID:      make(map[[16]byte]*topic, len(s.byID)),
		producers: maps.Clone(s.producers),
		files:     maps.Clone(s.files),
		dead:      slices.Clone(s.dead),
		offsets:   maps.Clone(s.offsets),

		scram:      maps.Clone(s.scram),
		acls:       s.acls,
		aclVersion: s.aclVersion,
		aclIndex:   s.aclIndex,

		txns: s.txns.clone(),
	}
	for name := range s.offsets {
		s.sharedOffsets[name] = struct{}{}
	}
	for name, t := range s.topics {
		ct := &topic{info: t.info, parts: make([]*partition, len(t.parts))}
		for i, p := range t.parts {
			p.m.shared = true
			cp := *p
			cp.windows = maps.Clone(p.windows)
			cp.tx = p.tx.clone()
			ct.parts[i] = &cp
		}
		c.topics[name] = ct
		c.byID[t.info.ID] = ct
	}
	return c
}

// partition returns the partition named by a topic id and index, or nil.
func (s *state) partition(id [16]byte, p int32) *partition {
	t := s.byID[id]
	if t == nil || p < 0 || int(p) >= len(t.parts) {
		return nil
	}
	return t.parts[p]
}

// unref drops one reference to key; a file left without references becomes
// dead at the given log index.
func (s *state) unref(key string, index uint64, nowMs int64) {
	f, ok := s.files[key]
	if !ok {
		panic("fsm: manifest entry references unknown file " + key)
	}
	f.refs--
	if f.refs > 0 {
		s.files[key] = f
		return
	}
	delete(s.files, key)
	s.markDead(key, f.size, index, nowMs)
}

func (s *state) markDead(key string, size int64, index uint64, nowMs int64) {
	s.dead = append(s.dead, DeadFile{Key: key, Size: size, DiedIndex: index, DiedMs: nowMs})
	s.deadKeys[key] = struct{}{}
}
