package kafka

import (
	"bufio"
	"encoding/binary"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/wisp-stream/wisp/kafka/recordbatch"
)

// A fetch response is mostly record batches that already sit in the read
// cache. Building it the ordinary way copies them twice (into the partition's
// RecordBatches, then into the encoded response) into freshly zeroed memory;
// during a catch-up read that was most of the agent's work per fetch. Instead
// a partition's batches are kept as a recordSet of pieces (cache memory,
// referenced, and the few bytes a batch must change, copied), and the writer
// sends the response as the encoded fields with the pieces in between, so
// batch bytes are copied once, into the socket.

// copyBelow is the batch size under which a batch is copied whole rather
// than referenced: the connection's bufio.Writer copies pieces that small
// into its buffer anyway, so referencing them would save no copy and cost a
// piece each (a thousand partitions of one record make a thousand).
const copyBelow = 4 << 10

// batchHead is the prefix of a batch that a fetch rewrites: the base offset
// and the partition leader epoch (both outside the CRC).
const batchHead = 16

// arena holds the bytes that record sets copy, in chunks that never move, so
// pieces may point into them. One arena serves a whole fetch.
type arena struct {
	buf []byte
}

const arenaChunk = 32 << 10

func (a *arena) alloc(n int) []byte {
	if cap(a.buf)-len(a.buf) < n {
		a.buf = make([]byte, 0, max(arenaChunk, n))
	}
	lo := len(a.buf)
	a.buf = a.buf[:lo+n]
	return a.buf[lo : lo+n]
}

// recordSet is one partition's record batches in a fetch response.
type recordSet struct {
	a       *arena
	pieces  [][]byte
	n       int
	records int64 // for the agent's fetch traffic figures
}

// add appends one whole batch, read from a data file, with its base offset
// set to base and its leader epoch to 0. raw is not modified: it may be cache
// memory, which is shared and immutable.
func (r *recordSet) add(raw []byte, base int64) {
	if len(raw) < copyBelow {
		r.copyHead(raw, base)
	} else {
		r.copyHead(raw[:batchHead], base)
		r.pieces = append(r.pieces, raw[batchHead:])
	}
	r.n += len(raw)
}

// copyHead copies b, the start of a batch, into the set and rewrites the
// copy's base offset to base and its leader epoch to 0.
func (r *recordSet) copyHead(b []byte, base int64) {
	dst := r.copyIn(b)
	recordbatch.SetBaseOffset(dst, base)
	recordbatch.SetPartitionLeaderEpoch(dst, 0)
}

// addParts is add for a batch whose bytes lie in several pieces of cache
// memory (it straddles cache blocks), in order: only its head is copied,
// the rest is sent from where it lies.
func (r *recordSet) addParts(parts [][]byte, base int64) {
	if len(parts) == 1 {
		r.add(parts[0], base)
		return
	}
	var head [batchHead]byte
	n := 0
	for _, p := range parts {
		n += copy(head[n:], p)
		if n == batchHead {
			break
		}
	}
	r.copyHead(head[:n], base)
	skip := n
	for _, p := range parts {
		r.n += len(p)
		if skip >= len(p) {
			skip -= len(p)
			continue
		}
		r.pieces = append(r.pieces, p[skip:])
		skip = 0
	}
}

// copyIn copies b into the arena as the set's next bytes and returns the
// copy. A copy that lands right after the set's last piece extends it, so a
// run of small batches is one piece.
func (r *recordSet) copyIn(b []byte) []byte {
	dst := r.a.alloc(len(b))
	copy(dst, b)
	if i := len(r.pieces) - 1; i >= 0 && adjacent(r.pieces[i], dst) {
		r.pieces[i] = r.pieces[i][:len(r.pieces[i])+len(dst)]
	} else {
		r.pieces = append(r.pieces, dst)
	}
	return dst
}

// adjacent reports whether b starts where a ends, in a's backing array. Two
// allocations never share an address, so only arena pieces of one chunk can
// be adjacent; cache memory never is.
func adjacent(a, b []byte) bool {
	return len(b) > 0 && cap(a) > len(a) && &a[:len(a)+1][len(a)] == &b[0]
}

// bytes returns the set as one slice (for the paths that need one).
func (r *recordSet) bytes() []byte {
	out := make([]byte, 0, r.n)
	for _, p := range r.pieces {
		out = append(out, p...)
	}
	return out
}

// fetchSets maps the partitions of a fetch response to their record sets.
// Partitions not in it carry their RecordBatches inline.
type fetchSets map[*kmsg.FetchResponseTopicPartition]*recordSet

// piecewise reports whether writeFetch can encode resp: it encodes every
// field Wisp sets, and leaves the rest (tagged fields Wisp never sends) to
// kmsg through materialize.
func piecewise(resp *kmsg.FetchResponse) bool {
	if resp.UnknownTags.Len() != 0 || len(resp.Brokers) != 0 {
		return false
	}
	for i := range resp.Topics {
		t := &resp.Topics[i]
		if t.UnknownTags.Len() != 0 {
			return false
		}
		for j := range t.Partitions {
			p := &t.Partitions[j]
			if p.UnknownTags.Len() != 0 ||
				p.DivergingEpoch.Epoch != -1 || p.DivergingEpoch.EndOffset != -1 || p.DivergingEpoch.UnknownTags.Len() != 0 ||
				p.CurrentLeader.LeaderID != -1 || p.CurrentLeader.LeaderEpoch != -1 || p.CurrentLeader.UnknownTags.Len() != 0 ||
				p.SnapshotID.EndOffset != -1 || p.SnapshotID.Epoch != -1 || p.SnapshotID.UnknownTags.Len() != 0 {
				return false
			}
			for _, at := range p.AbortedTransactions {
				if at.UnknownTags.Len() != 0 {
					return false
				}
			}
		}
	}
	return true
}

// materialize moves every record set into its partition's RecordBatches, so
// kmsg can encode the response.
func (sets fetchSets) materialize() {
	for p, r := range sets {
		p.RecordBatches = r.bytes()
	}
}

// writeFetch frames and writes a fetch response whose record sets are in
// sets, encoding exactly what appendResponse would for the same response with
// the sets materialized. head is scratch space for the encoded fields.
func writeFetch(bw *bufio.Writer, in *inflight, resp *kmsg.FetchResponse, sets fetchSets, head *[]byte) error {
	resp.SetVersion(in.version)
	version := in.version
	flexible := resp.IsFlexible()

	// Encoded fields go into *head; a set's pieces go between them. spans
	// records, in order, either a range of *head (data == nil) or a piece.
	type span struct {
		lo, hi int
		data   []byte
	}
	var spans []span
	dst := (*head)[:0]
	mark := 0
	cut := func() {
		if len(dst) > mark {
			spans = append(spans, span{lo: mark, hi: len(dst)})
		}
		mark = len(dst)
	}

	dst = append(dst, 0, 0, 0, 0)
	dst = kbin.AppendInt32(dst, in.corr)
	if flexible {
		dst = append(dst, 0)
	}
	dst = kbin.AppendInt32(dst, resp.ThrottleMillis)
	if version >= 7 {
		dst = kbin.AppendInt16(dst, resp.ErrorCode)
		dst = kbin.AppendInt32(dst, resp.SessionID)
	}
	arrayLen := func(n int) {
		if flexible {
			dst = kbin.AppendCompactArrayLen(dst, n)
		} else {
			dst = kbin.AppendArrayLen(dst, n)
		}
	}
	arrayLen(len(resp.Topics))
	for i := range resp.Topics {
		t := &resp.Topics[i]
		switch {
		case version >= 13:
			dst = kbin.AppendUuid(dst, t.TopicID)
		case flexible:
			dst = kbin.AppendCompactString(dst, t.Topic)
		default:
			dst = kbin.AppendString(dst, t.Topic)
		}
		arrayLen(len(t.Partitions))
		for j := range t.Partitions {
			p := &t.Partitions[j]
			dst = kbin.AppendInt32(dst, p.Partition)
			dst = kbin.AppendInt16(dst, p.ErrorCode)
			dst = kbin.AppendInt64(dst, p.HighWatermark)
			dst = kbin.AppendInt64(dst, p.LastStableOffset)
			if version >= 5 {
				dst = kbin.AppendInt64(dst, p.LogStartOffset)
			}
			if flexible {
				dst = kbin.AppendCompactNullableArrayLen(dst, len(p.AbortedTransactions), p.AbortedTransactions == nil)
			} else {
				dst = kbin.AppendNullableArrayLen(dst, len(p.AbortedTransactions), p.AbortedTransactions == nil)
			}
			for _, at := range p.AbortedTransactions {
				dst = kbin.AppendInt64(dst, at.ProducerID)
				dst = kbin.AppendInt64(dst, at.FirstOffset)
				if flexible {
					dst = append(dst, 0)
				}
			}
			if version >= 11 {
				dst = kbin.AppendInt32(dst, p.PreferredReadReplica)
			}
			if r := sets[p]; r != nil {
				if flexible {
					dst = kbin.AppendUvarint(dst, uint32(r.n)+1)
				} else {
					dst = kbin.AppendInt32(dst, int32(r.n))
				}
				cut()
				for _, piece := range r.pieces {
					spans = append(spans, span{data: piece})
				}
			} else if flexible {
				dst = kbin.AppendCompactNullableBytes(dst, p.RecordBatches)
			} else {
				dst = kbin.AppendNullableBytes(dst, p.RecordBatches)
			}
			if flexible {
				dst = append(dst, 0) // partition tags: piecewise checked there are none
			}
		}
		if flexible {
			dst = append(dst, 0) // topic tags
		}
	}
	if flexible {
		dst = append(dst, 0) // response tags
	}
	cut()
	*head = dst

	size := -4
	for _, s := range spans {
		if s.data != nil {
			size += len(s.data)
		} else {
			size += s.hi - s.lo
		}
	}
	binary.BigEndian.PutUint32(dst, uint32(size))
	for _, s := range spans {
		b := s.data
		if b == nil {
			b = dst[s.lo:s.hi]
		}
		if _, err := bw.Write(b); err != nil {
			return err
		}
	}
	return nil
}
