package agent

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/wisp-stream/wisp/fsm"
	"github.com/wisp-stream/wisp/kafka/recordbatch"
	"github.com/wisp-stream/wisp/objstore/datafile"
)

// Compaction runs on the Raft leader inside the collector loop, in two
// levels. Every flush writes a small level-0 file; reading old data then
// costs one GET per flush. When a partition has a window of at least FanIn
// consecutive level-0 entries, the leader copies their batches byte for
// byte into one level-1 entry (at most maxRunBytes). Level-1 files are one
// per pass, so they pile up in turn: when a partition has FanIn level-1
// entries, the leader copies a window of them (up to MaxBytes) into a
// level-2 file, as several entries each at most maxRunBytes. Level 2 is the
// last level: its files hold up to MaxBytes, so the object count follows the
// data, and so does the manifest, whose entries stay a few fetch sizes long.
//
// Each output file holds runs of many partitions. It is PUT under files/
// (so a crash before the commit leaves an ordinary orphan for the bucket
// scan), then CompactFiles swaps the entries atomically, or is refused as a
// whole when retention or another compaction changed them meanwhile.
// Offsets do not change: fetch rewrites base offsets from the manifest, so
// copied batches read back exactly as before. The old files die when their
// last entry goes and are deleted after the dead-file grace, so fetches in
// flight still find them. Runs of compacted topics are rewritten instead of
// copied (see compactKeys in compaction_keys.go), and only below the last
// stable offset, without aborted records (compaction_txn.go).

// CompactionConfig tunes the compactor.
type CompactionConfig struct {
	// FanIn is the fewest entries of one level that a partition must have
	// for them to be merged into the next level; the same at every level
	// (a uniform size ratio, as in most LSM trees). 0 disables compaction.
	FanIn int
	// MaxBytes bounds one output file, which is built in memory, and so a
	// level-1 window merged into level 2.
	MaxBytes int64
	// NodeID names the writer in the new files' keys and metadata.
	NodeID int32
}

// defaultCompactionMaxBytes bounds an output file (and the compactor's
// memory).
const defaultCompactionMaxBytes = 64 << 20

// maxRunBytes bounds every entry compaction writes. A fetch reads an entry
// whole from its start, whatever offset it wants, so a consumer crossing an
// entry of n bytes in fetches of f bytes reads about n²/2f: entries must
// stay a few fetch sizes long. It also bounds a level-0 window: level-0
// entries averaging more than maxRunBytes/FanIn are left alone, being big
// enough already.
const maxRunBytes = 8 << 20

// maxCompactionLevel is the level of the biggest files; compaction writes
// levels 1 to maxCompactionLevel, each from the level below.
const maxCompactionLevel = 2

func init() {
	registerResult(fsm.CompactFilesResult{})
}

// compactor holds the state of compaction passes; the collector owns it.
type compactor struct {
	cfg  CompactionConfig
	read func(ctx context.Context, key string, off, n int64) ([]byte, error)
	// block is the read cache's block size: copyRun reads a block at a time,
	// from cache memory (0: whole entries).
	block int64
	seq   uint64 // makes output keys unique; only the collector goroutine uses it
}

func (cp *compactor) nextSeq() uint64 {
	cp.seq++
	return cp.seq
}

// compactionJob is the runs one output file will hold.
type compactionJob struct {
	level int32 // of the output
	runs  []partRun
	bytes int64
}

type partRun struct {
	topicID   [16]byte
	partition int32
	entries   []fsm.Entry
	// keyed is set for topics whose cleanup.policy compacts: the run keeps
	// only the newest record per key. deleteRetentionMs is then the topic's
	// delete.retention.ms.
	keyed             bool
	deleteRetentionMs int64
	// fromStart says entries begin at the partition's first entry: no older
	// record of any key is live, so expired tombstones may go.
	fromStart bool
	// aborted lists the aborted transactions over a keyed run's offsets:
	// their records are dropped (see compaction_txn.go).
	aborted abortedIndex
}

func (cp *compactor) maxBytes() int64 {
	if cp.cfg.MaxBytes > 0 {
		return cp.cfg.MaxBytes
	}
	return defaultCompactionMaxBytes
}

// compact runs one compaction pass: level 0 into level 1, then level 1
// (including what the first step just wrote) into level 2. It is called from
// the collector's loop on the leader only. A refused commit (the manifest
// changed under the job) is not an error: its output is left to the orphan
// scan and the next pass plans again.
func (c *collector) compact(ctx context.Context) error {
	cp := c.compactor
	if cp == nil || cp.cfg.FanIn <= 0 || c.fsm.ClusterID() == "" {
		return nil
	}
	var errs []error
	for level := int32(1); level <= maxCompactionLevel; level++ {
		if err := c.compactLevel(ctx, level); err != nil {
			errs = append(errs, err)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return errors.Join(errs...)
}

// compactLevel plans and runs the jobs that write level out from level
// out-1, and reports the backlog it found.
func (c *collector) compactLevel(ctx context.Context, out int32) error {
	cp := c.compactor
	maxBytes := cp.maxBytes()
	window := maxBytes // a level-2 window becomes several entries
	if out == 1 {
		window = min(maxBytes, maxRunBytes) // a level-1 window becomes one entry
	}
	var (
		job     = compactionJob{level: out}
		errs    []error
		jobs    []compactionJob
		backlog int
	)
	for _, t := range c.fsm.Topics() {
		for p := range t.Partitions {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			run, atLevel := c.fsm.LevelWindow(t.ID, p, out-1, cp.cfg.FanIn, window)
			if run == nil {
				continue
			}
			backlog += atLevel
			pr := partRun{topicID: t.ID, partition: p, entries: run}
			pr.keyed, pr.deleteRetentionMs = topicCompacts(t.Configs)
			if pr.keyed && !c.planKeyedRun(&pr, run, cp.cfg.FanIn, window) {
				continue // waits for the last stable offset to pass it
			}
			var n int64
			for _, e := range pr.entries {
				n += e.Len
			}
			if len(job.runs) > 0 && job.bytes+n > maxBytes {
				jobs = append(jobs, job)
				job = compactionJob{level: out}
			}
			job.runs = append(job.runs, pr)
			job.bytes += n
		}
	}
	if len(job.runs) > 0 {
		jobs = append(jobs, job)
	}
	if c.m != nil {
		c.m.compaction.backlog.WithLabelValues(levelLabel(out - 1)).Set(float64(backlog))
	}
	for _, j := range jobs {
		if err := c.runCompaction(ctx, j); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// runCompaction builds, uploads and commits one output file.
func (c *collector) runCompaction(ctx context.Context, job compactionJob) error {
	if c.m != nil {
		c.m.compaction.inFlight.Set(1)
		defer c.m.compaction.inFlight.Set(0)
	}
	cp := c.compactor
	// Sized for the inputs (and a footer), so the buffer never grows: a
	// 64 MiB file built from 256 KiB was copied eight times over.
	b := datafile.NewBuilderSize(int(job.bytes) + 64<<10)
	var runs []fsm.CompactRun
	inputs := 0
	now := c.now()
	for _, r := range job.runs {
		pos := b.Len()
		var (
			cuts []int64
			err  error
		)
		if r.keyed {
			cuts, err = compactKeys(ctx, cp.read, b, r, now.UnixMilli())
		} else {
			cuts, err = cp.copyRun(ctx, b, r)
		}
		if err != nil {
			return err
		}
		inputs += len(r.entries)
		runs = append(runs, splitRun(r, pos, cuts, maxRunBytes)...)
	}
	data := b.Finish()
	key := fmt.Sprintf("%sfiles/%020d-%d-L%d-%d.wisp", c.prefix(), now.UnixNano(), cp.cfg.NodeID, job.level, cp.nextSeq())
	if err := c.store.Put(ctx, key, data); err != nil {
		return fmt.Errorf("compaction: put %s (%d bytes): %w", key, len(data), err)
	}
	res, err := c.raft.apply(ctx, &fsm.CompactFiles{
		Key:    key,
		Size:   int64(len(data)),
		NodeID: cp.cfg.NodeID,
		Level:  job.level,
		NowMs:  now.UnixMilli(),
		Runs:   runs,
	})
	if err != nil {
		// Applied or not, nothing is lost: a live file stays, an
		// uncommitted one is an orphan.
		return fmt.Errorf("compaction: commit %s: %w", key, err)
	}
	cr, ok := res.(fsm.CompactFilesResult)
	if !ok {
		return fmt.Errorf("compaction: unexpected fsm response %T", res)
	}
	if cr.ErrorCode != 0 {
		if c.m != nil {
			c.m.compactRefused.Inc()
		}
		c.log.Info("compaction refused; its output is left for the orphan scan", "key", key,
			"err", kerr.ErrorForCode(cr.ErrorCode), "detail", cr.ErrorMessage)
		return nil
	}
	if c.m != nil {
		c.m.compactRuns.Inc()
		c.m.compactBytes.Add(float64(len(data)))
		c.m.compactInputs.Add(float64(inputs))
	}
	c.log.Info("compacted entries", "level", job.level, "key", key, "bytes", len(data), "partitions", len(job.runs),
		"entries_in", inputs, "entries_out", len(runs), "replaced", cr.Replaced)
	return nil
}

// splitRun turns the output of r, written to the builder from pos with
// cuts[k] the builder's length after input entry k, into CompactRuns: runs
// of whole input entries whose output stays within limit bytes (an entry
// over it alone), each one manifest entry. Entries with absolute offsets
// never share a run with copied ones, whose batches carry no offsets.
func splitRun(r partRun, pos int64, cuts []int64, limit int64) []fsm.CompactRun {
	abs := func(k int) bool { return r.keyed || r.entries[k].AbsoluteOffsets }
	var out []fsm.CompactRun
	emit := func(first, last int, from, to int64) {
		out = append(out, fsm.CompactRun{
			TopicID:         r.topicID,
			Partition:       r.partition,
			FirstOffset:     r.entries[first].BaseOffset,
			LastOffset:      r.entries[last].LastOffset,
			Pos:             from,
			Len:             to - from,
			AbsoluteOffsets: abs(first),
		})
	}
	first, from := 0, pos
	for k := 1; k < len(r.entries); k++ {
		if cuts[k]-from > limit || abs(k) != abs(first) {
			emit(first, k-1, from, cuts[k-1])
			first, from = k, cuts[k-1]
		}
	}
	emit(first, len(r.entries)-1, from, cuts[len(cuts)-1])
	return out
}

// copyRun appends the batches of r's entries to b byte for byte, checking
// they hold exactly the offsets the manifest says. cuts[k] is b's length
// after entry k.
func (cp *compactor) copyRun(ctx context.Context, b *datafile.Builder, r partRun) (cuts []int64, err error) {
	cuts = make([]int64, len(r.entries))
	for k, e := range r.entries {
		if e.Len == 0 { // a key-compacted entry left empty
			cuts[k] = b.Len()
			continue
		}
		read := func(off, n int64) ([]byte, error) { return cp.read(ctx, e.Key, off, n) }
		next := e.BaseOffset
		werr := recordbatch.WalkBlocks(read, e.Pos, e.Len, cp.block, func(h recordbatch.Header, bytes func() ([][]byte, error)) (bool, error) {
			base := next
			if e.AbsoluteOffsets { // written by key compaction: real offsets, maybe gaps
				if h.BaseOffset < next {
					next = e.LastOffset + 2 // reported as a mismatch below
					return false, nil
				}
				base = h.BaseOffset
			}
			parts, err := bytes()
			if err != nil {
				return false, err
			}
			b.AppendParts(r.topicID, r.partition, parts)
			next = base + h.OffsetCount()
			return true, nil
		})
		if werr != nil {
			return nil, fmt.Errorf("compaction: %s [%d,+%d): %w", e.Key, e.Pos, e.Len, werr)
		}
		if next > e.LastOffset+1 || (!e.AbsoluteOffsets && next != e.LastOffset+1) {
			return nil, fmt.Errorf("compaction: %s [%d,+%d) holds offsets %d..%d, the manifest says %d..%d",
				e.Key, e.Pos, e.Len, e.BaseOffset, next-1, e.BaseOffset, e.LastOffset)
		}
		cuts[k] = b.Len()
	}
	return cuts, nil
}
