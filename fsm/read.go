package fsm

import (
	"maps"
	"slices"
	"strings"
)

// The read methods take the read lock and return copies: callers may keep
// and modify what they get. Each call sees the state after some Apply; two
// calls may see different states.

// TopicInfo describes a topic.
type TopicInfo struct {
	Name       string
	ID         [16]byte
	Partitions int32
	Configs    map[string]string // nil when none
	CreatedMs  int64
}

func (t TopicInfo) clone() TopicInfo {
	t.Configs = maps.Clone(t.Configs)
	return t
}

// PartitionInfo summarizes a partition's manifest.
type PartitionInfo struct {
	LogStartOffset int64
	HighWatermark  int64 // next offset to be assigned
	Bytes          int64 // bytes of data the manifest points at
	Entries        int
}

// Entry is one manifest entry: offsets BaseOffset..LastOffset (inclusive) are
// whole batches stored back to back at bytes [Pos, Pos+Len) of object Key.
type Entry struct {
	BaseOffset, LastOffset int64
	Key                    string
	Pos, Len               int64
	MaxTimestamp           int64
	// AbsoluteOffsets says the stored batches carry their real base offsets
	// and may leave gaps (key compaction removed records): readers take each
	// batch's offsets from its header instead of counting from BaseOffset.
	// Such an entry may have Len 0 and then holds no batch at all.
	AbsoluteOffsets bool
}

// DeadFile is a file no manifest entry references any more. The deleter may
// remove it from the bucket once a grace period has passed since DiedMs, then
// propose ForgetFiles.
type DeadFile struct {
	Key       string
	Size      int64
	DiedIndex uint64 // raft log index of the command that killed it
	DiedMs    int64
}

// FileInfo describes a live file.
type FileInfo struct {
	Key       string
	Size      int64
	NodeID    int32 // agent that wrote it
	CreatedMs int64
	Refs      int64 // manifest entries pointing into it
	Level     int32 // 0: written by a flush; 1 and up: written by compaction
}

// AppliedIndex is the raft index of the last applied command.
func (f *FSM) AppliedIndex() uint64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.s.applied
}

// ClusterID is the id set by the first InitCluster, or "".
func (f *FSM) ClusterID() string {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.s.clusterID
}

// NextProducerID is the producer id counter: the next InitProducerID that
// allocates gets this id unless it is already in use.
func (f *FSM) NextProducerID() int64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.s.nextPID
}

// Topics returns all topics sorted by name.
func (f *FSM) Topics() []TopicInfo {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := make([]TopicInfo, 0, len(f.s.topics))
	for _, t := range f.s.topics {
		out = append(out, t.info.clone())
	}
	slices.SortFunc(out, func(a, b TopicInfo) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Topic looks a topic up by name.
func (f *FSM) Topic(name string) (TopicInfo, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	t := f.s.topics[name]
	if t == nil {
		return TopicInfo{}, false
	}
	return t.info.clone(), true
}

// TopicByID looks a topic up by id.
func (f *FSM) TopicByID(id [16]byte) (TopicInfo, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	t := f.s.byID[id]
	if t == nil {
		return TopicInfo{}, false
	}
	return t.info.clone(), true
}

func (p *partition) info() PartitionInfo {
	return PartitionInfo{LogStartOffset: p.logStart, HighWatermark: p.hw, Bytes: p.m.bytes, Entries: len(p.m.entries)}
}

// Partition summarizes one partition; false if the topic or partition does
// not exist.
func (f *FSM) Partition(topicID [16]byte, p int32) (PartitionInfo, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	part := f.s.partition(topicID, p)
	if part == nil {
		return PartitionInfo{}, false
	}
	return part.info(), true
}

// Entries returns up to maxEntries entries starting with the one containing offset
// from, or the first one after it (so a from below the log start offset
// starts at the first entry, and a from at or past the high watermark gets
// none), together with the partition's info at that same moment. A fetch
// serves whole entries and lets the client skip records below from. It
// returns false if the topic or partition does not exist.
func (f *FSM) Entries(topicID [16]byte, p int32, from int64, maxEntries int) ([]Entry, PartitionInfo, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	part := f.s.partition(topicID, p)
	if part == nil {
		return nil, PartitionInfo{}, false
	}
	es := part.m.entries
	i := part.m.search(from)
	j := i + min(maxEntries, len(es)-i)
	if j <= i {
		return nil, part.info(), true
	}
	out := make([]Entry, 0, j-i)
	for _, e := range es[i:j] {
		out = append(out, e.Entry)
	}
	return out, part.info(), true
}

// EntryForTimestamp returns the first entry whose MaxTimestamp >= ts (the
// entry holding the first record at or after ts, as ListOffsets wants);
// false if there is none or the partition does not exist.
func (f *FSM) EntryForTimestamp(topicID [16]byte, p int32, ts int64) (Entry, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	part := f.s.partition(topicID, p)
	if part == nil {
		return Entry{}, false
	}
	i := part.m.searchTime(ts)
	if i == len(part.m.entries) {
		return Entry{}, false
	}
	return part.m.entries[i].Entry, true
}

// DeadFiles returns the dead files, oldest death first.
func (f *FSM) DeadFiles() []DeadFile {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return slices.Clone(f.s.dead)
}

// FileLive reports whether a manifest entry still references key.
func (f *FSM) FileLive(key string) bool {
	f.mu.RLock()
	defer f.mu.RUnlock()
	_, ok := f.s.files[key]
	return ok
}

// File describes a live file; false if key is not live (unknown or dead).
func (f *FSM) File(key string) (FileInfo, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	r, ok := f.s.files[key]
	if !ok {
		return FileInfo{}, false
	}
	return FileInfo{Key: key, Size: r.size, NodeID: r.nodeID, CreatedMs: r.createdMs, Refs: r.refs, Level: r.level}, true
}
