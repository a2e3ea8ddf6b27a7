package agent

import (
	"context"
	"fmt"
	"math"
	"strings"

	"github.com/wisp-stream/wisp/fsm"
	"github.com/wisp-stream/wisp/kafka/recordbatch"
	"github.com/wisp-stream/wisp/objstore/datafile"
)

// Key compaction (cleanup.policy containing "compact"). A compaction run of
// such a topic is rewritten instead of copied: only the newest record of
// each key stays, and tombstones (null values) older than
// delete.retention.ms go. Kept records keep their offsets, so the output
// has gaps; its batches carry their real base offsets and the run is
// committed with AbsoluteOffsets, which tells fetch to trust them.
//
// Keys are deduplicated within one run. The compactor widens a keyed run to
// start at the partition's first entry whenever the whole prefix fits the
// window (one entry, maxRunBytes, into level 1; MaxBytes into level 2,
// split into entries afterwards), so each pass rewrites the already
// compacted head together with the new entries and a full read sees one
// record per key. When the prefix is too large the run is just the window:
// older runs may then still hold superseded values of its keys (weaker than
// Kafka, whose cleaner covers the whole log) until a level-2 pass covers
// them, and tombstones are kept, since dropping one would bring an older
// value back to life. Timing is
// weaker too: a record is superseded only once a pass has run, and a
// tombstone's age is its record timestamp against the proposer's clock.

// defaultDeleteRetentionMs is Kafka's delete.retention.ms default (1 day).
const defaultDeleteRetentionMs = 86_400_000

// topicCompacts reports whether a topic's cleanup.policy compacts keys and,
// if so, its delete.retention.ms.
func topicCompacts(configs map[string]string) (keyed bool, deleteRetentionMs int64) {
	if !strings.Contains(configs["cleanup.policy"], "compact") {
		return false, 0
	}
	return true, configInt(configs, "delete.retention.ms", defaultDeleteRetentionMs)
}

// keyedRun widens run (a partition's compaction window) to start at the
// partition's first entry when all the entries before it and the run fit
// maxBytes; fromStart reports whether it did (or the run already started
// there).
func (c *collector) keyedRun(topicID [16]byte, p int32, run []fsm.Entry, maxBytes int64) (entries []fsm.Entry, fromStart bool) {
	var prefix []fsm.Entry
	var bytes int64
	for _, e := range run {
		bytes += e.Len
	}
	for from := int64(0); ; {
		es, _, ok := c.fsm.Entries(topicID, p, from, 1024)
		if !ok || len(es) == 0 {
			return run, false // the run is gone: the commit will be refused
		}
		for _, e := range es {
			if e.BaseOffset >= run[0].BaseOffset {
				if e.BaseOffset != run[0].BaseOffset {
					return run, false
				}
				return append(prefix, run...), true
			}
			bytes += e.Len
			if bytes > maxBytes {
				return run, false
			}
			prefix = append(prefix, e)
			from = e.LastOffset + 1
		}
	}
}

// inBatch is one batch of a keyed run, decoded.
type inBatch struct {
	h    recordbatch.Header
	base int64 // real offset of its first record
	raw  []byte
	recs []recordbatch.Record // nil for control batches, copied as they are
}

// compactKeys writes the newest record per key of r's entries to b as
// uncompressed batches with real base offsets, one per input batch that
// keeps a record. Batches of r.aborted's transactions are left out before
// keys are counted; markers are copied as they are. The batches cover r's
// offsets up to its last: when the tail was removed an empty batch claims
// it, so consumers move past it.
// Every output batch lies within the offsets of the input entry it came
// from; cuts[k] is b's length after the output of entry k, so the output
// can be split into entries at any input entry boundary.
func compactKeys(ctx context.Context, read func(ctx context.Context, key string, off, n int64) ([]byte, error),
	b *datafile.Builder, r partRun, nowMs int64) (cuts []int64, err error) {
	var batches []inBatch
	latest := map[string]int64{}
	for _, e := range r.entries {
		if e.Len == 0 {
			continue
		}
		data, err := read(ctx, e.Key, e.Pos, e.Len)
		if err != nil {
			return nil, fmt.Errorf("compaction: read %s [%d,+%d): %w", e.Key, e.Pos, e.Len, err)
		}
		next := e.BaseOffset
		var derr error
		werr := recordbatch.Walk(data, func(h recordbatch.Header, raw []byte) bool {
			base := next
			if e.AbsoluteOffsets {
				base = h.BaseOffset
			}
			next = base + h.OffsetCount()
			if r.aborted.aborted(h, base) {
				return true // dropped, and no key's newest value
			}
			ib := inBatch{h: h, base: base, raw: raw}
			if !h.Control() {
				if ib.recs, derr = recordbatch.Records(raw); derr != nil {
					return false
				}
				for _, rec := range ib.recs {
					if rec.Key != nil {
						latest[string(rec.Key)] = base + int64(rec.OffsetDelta)
					}
				}
			}
			batches = append(batches, ib)
			return true
		})
		if werr == nil {
			werr = derr
		}
		if werr != nil {
			return nil, fmt.Errorf("compaction: %s [%d,+%d) does not parse as record batches: %w", e.Key, e.Pos, e.Len, werr)
		}
		if next > e.LastOffset+1 || (!e.AbsoluteOffsets && next != e.LastOffset+1) {
			return nil, fmt.Errorf("compaction: %s [%d,+%d) holds offsets %d..%d, the manifest says %d..%d",
				e.Key, e.Pos, e.Len, e.BaseOffset, next-1, e.BaseOffset, e.LastOffset)
		}
	}

	cuts = make([]int64, len(r.entries))
	k := 0 // input entry of the next output batch
	appendAt := func(base int64, batch []byte) {
		for r.entries[k].LastOffset < base {
			cuts[k] = b.Len()
			k++
		}
		b.Append(r.topicID, r.partition, batch)
	}
	first, last := r.entries[0].BaseOffset, r.entries[len(r.entries)-1].LastOffset
	next := first // first offset not yet covered by an output batch
	tombstoneBefore := nowMs - r.deleteRetentionMs
	for _, ib := range batches {
		if ib.recs == nil {
			out := append([]byte(nil), ib.raw...)
			recordbatch.SetBaseOffset(out, ib.base)
			appendAt(ib.base, out)
			next = ib.base + ib.h.OffsetCount()
			continue
		}
		var kept []recordbatch.Record
		for _, rec := range ib.recs {
			off := ib.base + int64(rec.OffsetDelta)
			if rec.Key != nil && latest[string(rec.Key)] != off {
				continue // superseded
			}
			if rec.Value == nil && r.fromStart && ib.h.Timestamp(rec) <= tombstoneBefore {
				continue // expired tombstone
			}
			kept = append(kept, rec)
		}
		if len(kept) == 0 {
			continue
		}
		shift := kept[0].OffsetDelta
		for i := range kept {
			kept[i].OffsetDelta -= shift
		}
		out := recordbatch.Build(recordbatch.BuildOptions{
			FirstTimestamp:   ib.h.FirstTimestamp,
			ProducerID:       ib.h.ProducerID,
			ProducerEpoch:    ib.h.ProducerEpoch,
			BaseSequence:     ib.h.BaseSequence,
			Transactional:    ib.h.Transactional(),
			KeepOffsetDeltas: true,
		}, kept)
		if ib.h.LogAppendTime() {
			recordbatch.SetLogAppendTime(out, ib.h.MaxTimestamp)
		}
		base := ib.base + int64(shift)
		recordbatch.SetBaseOffset(out, base)
		appendAt(base, out)
		next = base + int64(kept[len(kept)-1].OffsetDelta) + 1
	}
	// Removed records at the tail: an empty batch claims their offsets, as
	// Kafka's cleaner keeps a batch's last offset, so a consumer positioned
	// among them moves on instead of waiting below the high watermark. It
	// starts no lower than the last entry, so that it lies within one input
	// entry; fetch passes over the gaps of the entries before.
	next = max(next, r.entries[len(r.entries)-1].BaseOffset)
	for next <= last {
		delta := min(last-next, math.MaxInt32)
		out := recordbatch.Build(recordbatch.BuildOptions{
			FirstTimestamp:     -1,
			ProducerID:         -1,
			ProducerEpoch:      -1,
			BaseSequence:       -1,
			KeepOffsetDeltas:   true,
			MinLastOffsetDelta: int32(delta),
		}, nil)
		recordbatch.SetBaseOffset(out, next)
		appendAt(next, out)
		next += delta + 1
	}
	for ; k < len(cuts); k++ {
		cuts[k] = b.Len()
	}
	return cuts, nil
}
