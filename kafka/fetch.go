package kafka

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/wisp-stream/wisp/fsm"
	"github.com/wisp-stream/wisp/kafka/recordbatch"
)

// Fetch v4-v18 (v0-v3 answer with message sets older clients cannot get from
// magic-2 data). v13+ names topics by id. Fetch sessions are not kept: every
// response carries session id 0, which clients treat as sessionless.
func init() {
	register(api{key: 1, min: 4, max: 18, handle: handleFetch})
}

// entriesPerRead bounds how much of the manifest one partition read walks.
const entriesPerRead = 64

func handleFetch(c *clientConn, kreq kmsg.Request, in *inflight) respond {
	req := kreq.(*kmsg.FetchRequest)
	return func() kmsg.Response { return c.s.fetch(c.ctx, req, in) }
}

// fetchPart is one requested partition, resolved against the manifest.
type fetchPart struct {
	key      fsm.PartitionKey
	offset   int64
	maxBytes int32
	code     int16
	resp     *kmsg.FetchResponseTopicPartition
	// readCommitted reads only up to the last stable offset (txnfetch.go).
	readCommitted bool
	// lagging: the offset is past this replica's high watermark and the
	// replica could not catch up with the Raft leader, so the offset may
	// well exist; the partition waits instead of being out of range.
	lagging bool
}

// fetch answers req; the partitions' record batches go to in.fetchSets, for
// the writer to send without copying them into the response (recordset.go).
func (s *Server) fetch(ctx context.Context, req *kmsg.FetchRequest, in *inflight) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	if req.SessionID != 0 {
		resp.ErrorCode = kerr.FetchSessionIDNotFound.Code
		return resp
	}
	md := s.backend.Metadata()
	deadline := time.Now().Add(time.Duration(req.MaxWaitMillis) * time.Millisecond)

	var parts []*fetchPart
	resp.Topics = make([]kmsg.FetchResponseTopic, len(req.Topics))
	for i, rt := range req.Topics {
		t := &resp.Topics[i]
		*t = kmsg.NewFetchResponseTopic()
		t.Topic, t.TopicID = rt.Topic, rt.TopicID
		var (
			info fsm.TopicInfo
			ok   bool
		)
		unknown := kerr.UnknownTopicOrPartition.Code
		if req.Version >= 13 {
			info, ok = md.TopicByID(rt.TopicID)
			unknown = kerr.UnknownTopicID.Code
		} else {
			info, ok = md.Topic(rt.Topic)
		}
		t.Partitions = make([]kmsg.FetchResponseTopicPartition, len(rt.Partitions))
		for j, rp := range rt.Partitions {
			p := &t.Partitions[j]
			*p = kmsg.NewFetchResponseTopicPartition()
			p.Partition = rp.Partition
			p.HighWatermark, p.LastStableOffset, p.LogStartOffset = -1, -1, -1
			fp := &fetchPart{offset: rp.FetchOffset, maxBytes: rp.PartitionMaxBytes, resp: p, readCommitted: req.IsolationLevel == isolationReadCommitted}
			if !ok || rp.Partition < 0 || rp.Partition >= info.Partitions {
				fp.code = unknown
			} else {
				fp.key = fsm.PartitionKey{TopicID: info.ID, Partition: rp.Partition}
			}
			parts = append(parts, fp)
		}
	}

	// An offset past this replica's high watermark may be one the leader has
	// committed and this replica not yet applied: the consumer learned it
	// through another agent, or just produced it through this one. Catch up
	// before calling it out of range, which makes clients reset their
	// position; when catching up fails, such partitions wait like
	// partitions at their end (KIP-392 followers answer the same way).
	if s.pastLocalEnd(parts) && s.backend.SyncMetadata(ctx) != nil {
		for _, fp := range parts {
			if fp.code == 0 {
				info, _ := md.Partition(fp.key.TopicID, fp.key.Partition)
				fp.lagging = fp.offset > info.HighWatermark
			}
		}
	}

	var waiter *fsm.Waiter
	var keys []fsm.PartitionKey
	defer func() {
		if waiter != nil {
			md.Unwatch(waiter, keys)
		}
	}()
	for {
		available, done := s.fetchAvailable(parts)
		if done || available >= int64(req.MinBytes) || !time.Now().Before(deadline) || ctx.Err() != nil {
			break
		}
		if waiter == nil {
			// Register before waiting, then look again: a commit that lands
			// between the check above and Watch must not be slept through.
			waiter = fsm.NewWaiter()
			for _, fp := range parts {
				if fp.code == 0 {
					keys = append(keys, fp.key)
				}
			}
			md.Watch(waiter, keys)
			continue
		}
		timer := time.NewTimer(time.Until(deadline))
		select {
		case <-waiter.C:
		case <-timer.C:
		case <-ctx.Done():
		}
		timer.Stop()
	}

	budget := int64(req.MaxBytes)
	if req.Version < 3 || budget <= 0 {
		budget = 1 << 62
	}
	s.prefetch(parts, budget)
	first := true
	a := &arena{}
	var served, records int64
	for _, fp := range parts {
		p := fp.resp
		if fp.code != 0 {
			p.ErrorCode = fp.code
			continue
		}
		info, _ := md.Partition(fp.key.TopicID, fp.key.Partition)
		end, lso := s.readEnd(fp, info.HighWatermark)
		p.HighWatermark, p.LastStableOffset, p.LogStartOffset = info.HighWatermark, lso, info.LogStartOffset
		switch {
		case fp.offset < info.LogStartOffset || fp.offset > info.HighWatermark && !fp.lagging:
			p.ErrorCode = kerr.OffsetOutOfRange.Code
			continue
		case fp.offset >= end || budget <= 0:
			continue
		}
		limit := min(int64(fp.maxBytes), budget)
		recs, last, code := s.readPartition(ctx, a, fp.key, fp.offset, end, limit, first)
		p.ErrorCode = code
		if fp.readCommitted {
			p.AbortedTransactions = s.abortedIn(fp.key, fp.offset, last)
		}
		if recs.n > 0 {
			if in.fetchSets == nil {
				in.fetchSets = fetchSets{}
			}
			in.fetchSets[p] = recs
			budget -= int64(recs.n)
			first = false
			served += int64(recs.n)
			records += recs.records
		}
	}
	if served > 0 {
		s.backend.FetchServed(served, records)
	}
	// Kafka sends an empty record set, never a null one; some clients
	// (segmentio/kafka-go) cannot parse a null.
	for i := range resp.Topics {
		for j := range resp.Topics[i].Partitions {
			if resp.Topics[i].Partitions[j].RecordBatches == nil {
				resp.Topics[i].Partitions[j].RecordBatches = []byte{}
			}
		}
	}
	return resp
}

// pastLocalEnd reports whether some partition's fetch offset is past this
// replica's high watermark.
func (s *Server) pastLocalEnd(parts []*fetchPart) bool {
	md := s.backend.Metadata()
	for _, fp := range parts {
		if fp.code != 0 {
			continue
		}
		if info, ok := md.Partition(fp.key.TopicID, fp.key.Partition); ok && fp.offset > info.HighWatermark {
			return true
		}
	}
	return false
}

// prefetchMax bounds the bytes one fetch asks the cache to load ahead.
const prefetchMax = 64 << 20

// prefetch asks the cache for every partition's next entries, twice what the
// partition may return now: this fetch's share and the next one's. A consumer
// catching up then waits for the GETs of all its partitions at once, and the
// next fetch finds its data loaded, instead of each partition's read missing
// in turn. Entries already cached (what tailing consumers read) cost a lookup.
func (s *Server) prefetch(parts []*fetchPart, budget int64) {
	md := s.backend.Metadata()
	total := min(2*budget, prefetchMax)
	for _, fp := range parts {
		if fp.code != 0 {
			continue
		}
		want := min(2*int64(fp.maxBytes), total)
		entries, _, _ := md.Entries(fp.key.TopicID, fp.key.Partition, fp.offset, entriesPerRead)
		for _, e := range entries {
			if want <= 0 {
				break
			}
			s.backend.Prefetch(e.Key, e.Pos, e.Len)
			want -= e.Len
			total -= e.Len
		}
		if total <= 0 {
			return
		}
	}
}

// fetchAvailable sums the committed bytes past each partition's fetch offset.
// done reports that the fetch must answer now (a partition has an error).
func (s *Server) fetchAvailable(parts []*fetchPart) (available int64, done bool) {
	md := s.backend.Metadata()
	for _, fp := range parts {
		if fp.code != 0 {
			return 0, true
		}
		info, ok := md.Partition(fp.key.TopicID, fp.key.Partition)
		if !ok {
			// Deleted while we waited.
			fp.code = kerr.UnknownTopicOrPartition.Code
			return 0, true
		}
		if fp.offset < info.LogStartOffset || fp.offset > info.HighWatermark && !fp.lagging {
			return 0, true
		}
		end := info.HighWatermark
		if fp.readCommitted {
			end, _ = s.readEnd(fp, end)
		}
		if fp.offset >= end {
			continue
		}
		entries, _, _ := md.Entries(fp.key.TopicID, fp.key.Partition, fp.offset, entriesPerRead)
		for _, e := range entries {
			if e.BaseOffset >= end {
				break
			}
			available += e.Len
		}
	}
	return available, false
}

// readPartition returns whole batches starting with the one that holds
// offset and ending before end, up to limit bytes, and the last offset they
// hold (-1 if none); with atLeastOne the first batch is returned even
// when it alone exceeds the limit (KIP-74), so a large batch never wedges a
// consumer. Base offsets are rewritten on the way out: they sit outside the
// batch CRC, so the stored bytes stay exactly as produced. Entries written
// by key compaction (AbsoluteOffsets) carry their real base offsets and may
// leave gaps: a fetch inside a gap gets the next batch, and an entry without
// batches is passed over.
func (s *Server) readPartition(ctx context.Context, a *arena, key fsm.PartitionKey, offset, end, limit int64, atLeastOne bool) (*recordSet, int64, int16) {
	md := s.backend.Metadata()
	out := &recordSet{a: a}
	last := int64(-1)
	for {
		entries, _, ok := md.Entries(key.TopicID, key.Partition, offset, entriesPerRead)
		if !ok {
			return out, last, kerr.UnknownTopicOrPartition.Code
		}
		if len(entries) == 0 {
			return out, last, 0
		}
		for _, e := range entries {
			if int64(out.n) >= limit && !(atLeastOne && out.n == 0) || e.BaseOffset >= end {
				return out, last, 0
			}
			if e.Len == 0 {
				offset = max(offset, e.LastOffset+1)
				continue
			}
			full := false
			err := s.walkEntry(ctx, e, offset, func(base int64, h recordbatch.Header) bool {
				if base >= end || int64(out.n)+int64(h.Size()) > limit && !(atLeastOne && out.n == 0) {
					full = true
					return false
				}
				return true
			}, func(base int64, h recordbatch.Header, parts [][]byte) {
				out.addParts(parts, base)
				out.records += int64(h.NumRecords)
				last = base + h.OffsetCount() - 1
			})
			if err != nil {
				if errors.Is(err, errEntryRead) {
					s.log.Warn("fetch could not read data file", "key", e.Key, "pos", e.Pos, "len", e.Len, "err", err)
				} else {
					s.log.Error("data file chunk does not parse as record batches", "key", e.Key, "pos", e.Pos, "err", err)
				}
				if out.n > 0 {
					return out, last, 0
				}
				if errors.Is(err, errEntryRead) {
					return out, last, kerr.KafkaStorageError.Code
				}
				return out, last, kerr.CorruptMessage.Code
			}
			if full {
				return out, last, 0
			}
			offset = max(offset, e.LastOffset+1)
		}
	}
}

// errEntryRead marks walkEntry's read failures, as against bytes that do not
// parse.
var errEntryRead = errors.New("read failed")

// walkEntry passes the batches of e that hold offsets from on, in order, to
// take, as long as accept (asked first, with the batch's base offset and
// header) agrees. It reads e a cache block at a time (recordbatch.WalkBlocks),
// and a block's bytes come from cache memory uncopied, so a fetch that wants
// 1 MiB from the middle of an 8 MiB compacted entry touches the blocks it
// passes and copies none; a batch that straddles blocks is taken as its
// pieces in each. Reading whole entries copied every entry of more than one
// block on every fetch: two thirds of an agent's CPU in a catch-up read,
// most of it the kernel faulting in the fresh memory copied into.
func (s *Server) walkEntry(ctx context.Context, e fsm.Entry, from int64, accept func(base int64, h recordbatch.Header) bool, take func(base int64, h recordbatch.Header, parts [][]byte)) error {
	read := func(off, n int64) ([]byte, error) {
		b, err := s.backend.ReadAt(ctx, e.Key, off, n)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", errEntryRead, err)
		}
		return b, nil
	}
	next := e.BaseOffset
	err := recordbatch.WalkBlocks(read, e.Pos, e.Len, s.backend.ReadBlockSize(), func(h recordbatch.Header, bytes func() ([][]byte, error)) (bool, error) {
		base := next
		if e.AbsoluteOffsets { // written by key compaction: real offsets, maybe gaps
			base = h.BaseOffset
		}
		next = base + h.OffsetCount()
		if next <= from {
			return true, nil
		}
		if !accept(base, h) {
			return false, nil
		}
		parts, err := bytes()
		if err != nil {
			return false, err
		}
		take(base, h, parts)
		return true, nil
	})
	if err != nil && !errors.Is(err, errEntryRead) {
		return fmt.Errorf("%s [%d,+%d): %w", e.Key, e.Pos, e.Len, err)
	}
	return err
}
