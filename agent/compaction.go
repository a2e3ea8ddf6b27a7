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

// Compaction (copy only, level 0 to level 1) runs on the Raft leader inside
// the collector loop. Every flush writes a small level-0 file; reading old
// data then costs one GET per flush. When a partition's oldest run of
// level-0 entries holds at least FanIn entries, the leader copies their
// batches byte for byte into one new file, PUTs it under files/ (so a crash
// before the commit leaves an ordinary orphan for the bucket scan), then
// proposes CompactFiles, which swaps the entries atomically. Offsets do not
// change: fetch rewrites base offsets from the manifest, so copied batches
// read back exactly as before. The old files die when their last entry goes
// and are deleted after the dead-file grace, so fetches in flight still find
// them. Runs of compacted topics are rewritten instead of copied (see
// compactKeys in compaction_keys.go).

// CompactionConfig tunes the compactor.
type CompactionConfig struct {
	// FanIn is the fewest level-0 entries of a partition worth merging; 0
	// disables compaction. A pass takes a partition's oldest level-0 run as
	// far as maxRunBytes, so a backlog collapses in few passes.
	FanIn int
	// MaxBytes bounds one output file, which is built in memory.
	MaxBytes int64
	// NodeID names the writer in the new files' keys and metadata.
	NodeID int32
}

// defaultCompactionMaxBytes bounds an output file (and the compactor's
// memory).
const defaultCompactionMaxBytes = 64 << 20

// maxRunBytes bounds the one entry a partition's run becomes. A fetch reads
// an entry whole from its start, whatever offset it wants, so a consumer
// crossing an entry of n bytes in fetches of f bytes reads about n²/2f:
// entries must stay a few fetch sizes long. Level-0 entries averaging more
// than maxRunBytes/FanIn are left alone, being big enough already.
const maxRunBytes = 8 << 20

// compactionLevel is the level compaction writes; inputs are one below.
const compactionLevel = 1

func init() {
	registerResult(fsm.CompactFilesResult{})
}

// compactor holds the state of compaction passes; the collector owns it.
type compactor struct {
	cfg  CompactionConfig
	read func(ctx context.Context, key string, off, n int64) ([]byte, error)
	seq  uint64 // makes output keys unique; only the collector goroutine uses it
}

func (cp *compactor) nextSeq() uint64 {
	cp.seq++
	return cp.seq
}

// compactionJob is the runs one output file will hold.
type compactionJob struct {
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
}

// compact runs one compaction pass over every partition. It is called from
// the collector's loop on the leader only. A refused commit (the manifest
// changed under the job) is not an error: its output is left to the orphan
// scan and the next pass plans again.
func (c *collector) compact(ctx context.Context) error {
	cp := c.compactor
	if cp == nil || cp.cfg.FanIn <= 0 || c.fsm.ClusterID() == "" {
		return nil
	}
	maxBytes := cp.cfg.MaxBytes
	if maxBytes <= 0 {
		maxBytes = defaultCompactionMaxBytes
	}
	var (
		job  compactionJob
		errs []error
	)
	flush := func() {
		if len(job.runs) > 0 {
			if err := c.runCompaction(ctx, job); err != nil {
				errs = append(errs, err)
			}
		}
		job = compactionJob{}
	}
	for _, t := range c.fsm.Topics() {
		for p := range t.Partitions {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			run := c.fsm.LevelRun(t.ID, p, compactionLevel-1, min(maxBytes, maxRunBytes))
			if len(run) < cp.cfg.FanIn {
				continue
			}
			pr := partRun{topicID: t.ID, partition: p, entries: run}
			pr.keyed, pr.deleteRetentionMs = topicCompacts(t.Configs)
			if pr.keyed {
				pr.entries, pr.fromStart = c.keyedRun(t.ID, p, run, min(maxBytes, maxRunBytes))
			}
			var n int64
			for _, e := range pr.entries {
				n += e.Len
			}
			if job.bytes+n > maxBytes {
				flush()
			}
			job.runs = append(job.runs, pr)
			job.bytes += n
		}
	}
	flush()
	return errors.Join(errs...)
}

// runCompaction builds, uploads and commits one output file.
func (c *collector) runCompaction(ctx context.Context, job compactionJob) error {
	cp := c.compactor
	b := datafile.NewBuilder()
	runs := make([]fsm.CompactRun, 0, len(job.runs))
	inputs := 0
	now := c.now()
	for _, r := range job.runs {
		pos := b.Len()
		if r.keyed {
			if err := compactKeys(ctx, cp.read, b, r, now.UnixMilli()); err != nil {
				return err
			}
		} else if err := cp.copyRun(ctx, b, r); err != nil {
			return err
		}
		inputs += len(r.entries)
		runs = append(runs, fsm.CompactRun{
			TopicID:         r.topicID,
			Partition:       r.partition,
			FirstOffset:     r.entries[0].BaseOffset,
			LastOffset:      r.entries[len(r.entries)-1].LastOffset,
			Pos:             pos,
			Len:             b.Len() - pos,
			AbsoluteOffsets: r.keyed,
		})
	}
	data := b.Finish()
	key := fmt.Sprintf("%sfiles/%020d-%d-L%d-%d.wisp", c.prefix(), now.UnixNano(), cp.cfg.NodeID, compactionLevel, cp.nextSeq())
	if err := c.store.Put(ctx, key, data); err != nil {
		return fmt.Errorf("compaction: put %s (%d bytes): %w", key, len(data), err)
	}
	res, err := c.raft.apply(ctx, &fsm.CompactFiles{
		Key:    key,
		Size:   int64(len(data)),
		NodeID: cp.cfg.NodeID,
		Level:  compactionLevel,
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
	c.log.Info("compacted level-0 entries", "key", key, "bytes", len(data), "partitions", len(runs), "entries", inputs, "replaced", cr.Replaced)
	return nil
}

// copyRun appends the batches of r's entries to b byte for byte, checking
// they hold exactly the offsets the manifest says.
func (cp *compactor) copyRun(ctx context.Context, b *datafile.Builder, r partRun) error {
	for _, e := range r.entries {
		data, err := cp.read(ctx, e.Key, e.Pos, e.Len)
		if err != nil {
			return fmt.Errorf("compaction: read %s [%d,+%d): %w", e.Key, e.Pos, e.Len, err)
		}
		next := e.BaseOffset
		werr := recordbatch.Walk(data, func(h recordbatch.Header, raw []byte) bool {
			b.Append(r.topicID, r.partition, raw)
			next += h.OffsetCount()
			return true
		})
		if werr != nil {
			return fmt.Errorf("compaction: %s [%d,+%d) does not parse as record batches: %w", e.Key, e.Pos, e.Len, werr)
		}
		if next != e.LastOffset+1 {
			return fmt.Errorf("compaction: %s [%d,+%d) holds offsets %d..%d, the manifest says %d..%d",
				e.Key, e.Pos, e.Len, e.BaseOffset, next-1, e.BaseOffset, e.LastOffset)
		}
	}
	return nil
}
