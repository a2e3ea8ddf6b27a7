package fsm

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
)

// CompactFiles swaps runs of manifest entries for one file that already
// holds their batches, copied byte for byte (compaction). For each run the
// entries covering FirstOffset..LastOffset are replaced by one entry naming
// [Pos, Pos+Len) of Key. A run must start and end exactly on the current
// entries' boundaries; otherwise the proposer's view is stale (retention or
// another compaction changed the partition meanwhile) and the whole command
// is refused without any change. Old files left without references die at
// NowMs, which the proposer stamps.
type CompactFiles struct {
	Key    string // object key of the new file
	Size   int64  // bytes in the new file
	NodeID int32  // agent that wrote it
	Level  int32  // level of the new file (1 for level-0 inputs)
	NowMs  int64
	Runs   []CompactRun
}

// CompactRun is one partition's part of a CompactFiles: its offsets
// FirstOffset..LastOffset are stored back to back at [Pos, Pos+Len) of the
// new file.
type CompactRun struct {
	TopicID                 [16]byte
	Partition               int32
	FirstOffset, LastOffset int64
	Pos, Len                int64
	// AbsoluteOffsets marks batches rewritten by key compaction: they carry
	// their real base offsets and may leave gaps (see Entry). Only such a
	// run may be empty (Len 0).
	AbsoluteOffsets bool
}

// Type implements Command.
func (CompactFiles) Type() CommandType { return CmdCompactFiles }

// CompactFiles v2 layout (varints zigzag unless marked u):
//
//	key str | size | node | level | now
//	u run count, then per run:
//	  16-byte topic id | partition | first | last - first | pos | len | u flags
//
// flags bit 0 is AbsoluteOffsets. v1 is v2 without flags.

// minRunBytes is the smallest encoding of one run.
const minRunBytes = 16 + 5

func encodeCompactFiles(dst []byte, c Command) ([]byte, error) {
	cf, ok := c.(CompactFiles)
	if !ok {
		return nil, fmt.Errorf("fsm: CompactFiles codec given %T", c)
	}
	w := wbuf{b: append(make([]byte, 0, len(dst)+64+len(cf.Key)+40*len(cf.Runs)), dst...)}
	w.str(cf.Key)
	w.varint(cf.Size)
	w.varint(int64(cf.NodeID))
	w.varint(int64(cf.Level))
	w.varint(cf.NowMs)
	w.uvarint(uint64(len(cf.Runs)))
	for _, r := range cf.Runs {
		w.id(r.TopicID)
		w.varint(int64(r.Partition))
		w.varint(r.FirstOffset)
		w.varint(r.LastOffset - r.FirstOffset)
		w.varint(r.Pos)
		w.varint(r.Len)
		var flags uint64
		if r.AbsoluteOffsets {
			flags |= entryAbsoluteOffsets
		}
		w.uvarint(flags)
	}
	return w.b, nil
}

// entryAbsoluteOffsets is the flag bit of Entry.AbsoluteOffsets in
// CompactFiles runs and snapshot entries.
const entryAbsoluteOffsets = 1

func decodeCompactFiles(version byte, p []byte) (Command, error) {
	r := rbuf{b: p}
	cf := CompactFiles{Key: r.str(), Size: r.varint(), NodeID: r.int32(), Level: r.int32(), NowMs: r.varint()}
	if n := r.count(minRunBytes); n > 0 {
		cf.Runs = make([]CompactRun, n)
		for i := range cf.Runs {
			run := CompactRun{TopicID: r.id(), Partition: r.int32(), FirstOffset: r.varint()}
			run.LastOffset = run.FirstOffset + r.varint()
			run.Pos, run.Len = r.varint(), r.varint()
			if version >= 2 {
				flags := r.uvarint()
				if r.err == nil && flags&^entryAbsoluteOffsets != 0 {
					r.fail("unknown run flags %#x", flags)
				}
				run.AbsoluteOffsets = flags&entryAbsoluteOffsets != 0
			}
			cf.Runs[i] = run
		}
	}
	if err := r.done(); err != nil {
		return nil, err
	}
	return cf, nil
}

func compactError(e *kerr.Error, format string, args ...any) CompactFilesResult {
	return CompactFilesResult{ErrorCode: e.Code, ErrorMessage: fmt.Sprintf(format, args...)}
}

// compactFiles checks every run before changing anything, so a refused
// command leaves the state as it was.
func (s *state) compactFiles(index uint64, c CompactFiles) CompactFilesResult {
	switch {
	case c.Key == "" || c.Size < 0 || c.Level < 0 || len(c.Runs) == 0:
		return compactError(kerr.InvalidRequest, "compaction of %q: empty key, runs or bad size/level", c.Key)
	case s.knownFile(c.Key):
		return compactError(kerr.DuplicateResource, "file %q was committed before", c.Key)
	}
	type span struct {
		p    *partition
		i, j int
	}
	spans := make([]span, len(c.Runs))
	seen := make(map[PartitionKey]struct{}, len(c.Runs))
	for n, r := range c.Runs {
		k := PartitionKey{TopicID: r.TopicID, Partition: r.Partition}
		if _, dup := seen[k]; dup {
			return compactError(kerr.InvalidRequest, "partition %x/%d named twice", r.TopicID, r.Partition)
		}
		seen[k] = struct{}{}
		if r.Len < 0 || (r.Len == 0 && !r.AbsoluteOffsets) || r.Pos < 0 || r.Pos > c.Size-r.Len || r.LastOffset < r.FirstOffset {
			return compactError(kerr.InvalidRequest, "run of %x/%d: bytes [%d,+%d) outside a %d-byte file or offsets %d..%d reversed",
				r.TopicID, r.Partition, r.Pos, r.Len, c.Size, r.FirstOffset, r.LastOffset)
		}
		p := s.partition(r.TopicID, r.Partition)
		if p == nil {
			return compactError(kerr.UnknownTopicOrPartition, "partition %x/%d does not exist", r.TopicID, r.Partition)
		}
		es := p.m.entries
		i := p.m.search(r.FirstOffset)
		j := p.m.search(r.LastOffset) + 1
		if i >= len(es) || j > len(es) || es[i].BaseOffset != r.FirstOffset || es[j-1].LastOffset != r.LastOffset {
			return compactError(kerr.OffsetOutOfRange, "offsets %d..%d of %x/%d are no longer whole manifest entries",
				r.FirstOffset, r.LastOffset, r.TopicID, r.Partition)
		}
		spans[n] = span{p: p, i: i, j: j}
	}

	res := CompactFilesResult{}
	for n, r := range c.Runs {
		sp := spans[n]
		maxTs := int64(-1)
		for _, e := range sp.p.m.entries[sp.i:sp.j] {
			maxTs = max(maxTs, e.MaxTimestamp)
		}
		removed := sp.p.m.replace(sp.i, sp.j, Entry{
			BaseOffset:      r.FirstOffset,
			LastOffset:      r.LastOffset,
			Key:             c.Key,
			Pos:             r.Pos,
			Len:             r.Len,
			MaxTimestamp:    maxTs,
			AbsoluteOffsets: r.AbsoluteOffsets,
		})
		res.Replaced += len(removed)
		for _, e := range removed {
			s.unref(e.Key, index, c.NowMs)
		}
	}
	s.files[c.Key] = fileRec{size: c.Size, nodeID: c.NodeID, createdMs: c.NowMs, refs: int64(len(c.Runs)), level: c.Level}
	return res
}

// LevelStat counts the live files of one level.
type LevelStat struct {
	Level int32
	Files int
	Bytes int64
}

// Levels returns the live files and their bytes per level, lowest level
// first; levels without files are left out. It walks every live file, so it
// suits a metrics scrape, not a hot path.
func (f *FSM) Levels() []LevelStat {
	f.mu.RLock()
	defer f.mu.RUnlock()
	var out []LevelStat
	for _, r := range f.s.files {
		for int(r.level) >= len(out) {
			out = append(out, LevelStat{Level: int32(len(out))})
		}
		out[r.level].Files++
		out[r.level].Bytes += r.size
	}
	kept := out[:0]
	for _, l := range out {
		if l.Files > 0 {
			kept = append(kept, l)
		}
	}
	return kept
}

// LevelRun returns the oldest run of consecutive entries of a partition
// whose files are at level: it starts at the first such entry and stops
// before the first entry of another level or when adding the next entry
// would exceed maxBytes (it always holds at least one entry when any entry is
// at level). The compactor proposes CompactFiles for such a run; nil if the
// partition has none or does not exist.
func (f *FSM) LevelRun(topicID [16]byte, p int32, level int32, maxBytes int64) []Entry {
	f.mu.RLock()
	defer f.mu.RUnlock()
	part := f.s.partition(topicID, p)
	if part == nil {
		return nil
	}
	var out []Entry
	var bytes int64
	for _, e := range part.m.entries {
		if f.s.files[e.Key].level != level {
			if out != nil {
				break
			}
			continue
		}
		if out != nil && bytes+e.Len > maxBytes {
			break
		}
		out = append(out, e.Entry)
		bytes += e.Len
	}
	return out
}
