package fsm

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
)

// CompactFiles swaps runs of manifest entries for a file that already holds
// their batches (compaction). For each run the entries covering
// FirstOffset..LastOffset are replaced by one entry naming [Pos, Pos+Len) of
// Key. A partition may have several runs (from version 3 on): they must not
// overlap, and each becomes its own entry, so a big output file still has
// entries small enough for a fetch to read whole. A run must start and end
// exactly on the current entries' boundaries; otherwise the proposer's view
// is stale (retention or another compaction changed the partition meanwhile)
// and the whole command is refused without any change. Old files left
// without references die at NowMs, which the proposer stamps.
type CompactFiles struct {
	Key    string // object key of the new file
	Size   int64  // bytes in the new file
	NodeID int32  // agent that wrote it
	Level  int32  // level of the new file (n+1 for level-n inputs)
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

// CompactFiles v3 layout (varints zigzag unless marked u):
//
//	key str | size | node | level | now
//	u run count, then per run:
//	  16-byte topic id | partition | first | last - first | pos | len | u flags
//
// flags bit 0 is AbsoluteOffsets. v2 has the same bytes but a partition may
// not be named twice: v3 exists so that a replica which would refuse a
// second run of a partition stops on the unknown version instead of
// diverging. No v1 or v2 proposer ever named a partition twice, so applying
// old entries under the v3 rule changes nothing. v1 is v2 without flags.

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
	type span struct{ i, j int } // entries [i, j) of the manifest before any change
	taken := make(map[PartitionKey][]span, len(c.Runs))
	for _, r := range c.Runs {
		k := PartitionKey{TopicID: r.TopicID, Partition: r.Partition}
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
		for _, o := range taken[k] {
			if i < o.j && o.i < j {
				return compactError(kerr.InvalidRequest, "runs of %x/%d overlap at offsets %d..%d", r.TopicID, r.Partition, r.FirstOffset, r.LastOffset)
			}
		}
		taken[k] = append(taken[k], span{i: i, j: j})
	}

	res := CompactFilesResult{}
	for _, r := range c.Runs {
		// Searched again: an earlier run of the same partition may have
		// shifted the indexes, never the offsets.
		p := s.partition(r.TopicID, r.Partition)
		i := p.m.search(r.FirstOffset)
		j := p.m.search(r.LastOffset) + 1
		maxTs := int64(-1)
		for _, e := range p.m.entries[i:j] {
			maxTs = max(maxTs, e.MaxTimestamp)
		}
		removed := p.m.replace(i, j, Entry{
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

// LevelWindow finds a partition's compaction work at one level. The window
// is the oldest run of at least minEntries consecutive entries whose files
// are at level and whose bytes sum to at most maxBytes, taken as long as
// maxBytes allows; nil if there is none or the partition does not exist.
// Entries too big to reach minEntries within maxBytes are passed over, so
// smaller ones after them still get merged. atLevel counts all the
// partition's entries at level, in a window or not.
func (f *FSM) LevelWindow(topicID [16]byte, p int32, level int32, minEntries int, maxBytes int64) (window []Entry, atLevel int) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	part := f.s.partition(topicID, p)
	if part == nil {
		return nil, 0
	}
	es := part.m.entries
	at := make([]bool, len(es))
	for i, e := range es {
		at[i] = f.s.files[e.Key].level == level
		if at[i] {
			atLevel++
		}
	}
	minEntries = max(minEntries, 1)
	for s := 0; s < len(es) && window == nil; {
		if !at[s] {
			s++
			continue
		}
		e := s // [s, e) is a maximal run at level
		for e < len(es) && at[e] {
			e++
		}
		// Slide [a, b) over the run, b as far as maxBytes allows.
		b, bytes := s, int64(0)
		for a := s; a < e; a++ {
			if b < a {
				b, bytes = a, 0
			}
			for b < e && bytes+es[b].Len <= maxBytes {
				bytes += es[b].Len
				b++
			}
			if b-a >= minEntries {
				window = make([]Entry, 0, b-a)
				for _, x := range es[a:b] {
					window = append(window, x.Entry)
				}
				break
			}
			if b > a {
				bytes -= es[a].Len
			}
		}
		s = e
	}
	return window, atLevel
}
