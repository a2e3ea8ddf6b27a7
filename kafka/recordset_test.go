package kafka

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// fakeBatch is n bytes shaped like a batch where the writer looks: a base
// offset and leader epoch it must overwrite, and a body it must keep.
func fakeBatch(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i*7)
	}
	return b
}

// patched is what a fetch must send for raw at base: the same bytes with the
// base offset and a zero leader epoch.
func patched(raw []byte, base int64) []byte {
	out := bytes.Clone(raw)
	binary.BigEndian.PutUint64(out, uint64(base))
	binary.BigEndian.PutUint32(out[12:], 0)
	return out
}

// fetchResponseBytes is what writeFetch sends for resp, as one buffer.
func fetchResponseBytes(t *testing.T, in *inflight, resp *kmsg.FetchResponse, sets fetchSets) []byte {
	t.Helper()
	var out bytes.Buffer
	bw := bufio.NewWriterSize(&out, 64) // small, so pieces go both through and around the buffer
	var head []byte
	if err := writeFetch(bw, in, resp, sets, &head); err != nil {
		t.Fatal(err)
	}
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// TestWriteFetchMatchesKmsg: for every Fetch version Wisp serves, the
// piecewise writer sends byte for byte what kmsg encodes for the same
// response with the batches inline, so a client cannot tell them apart.
func TestWriteFetchMatchesKmsg(t *testing.T) {
	type part struct {
		batches []int // sizes; copied below copyBelow, referenced above
		aborted []kmsg.FetchResponseTopicPartitionAbortedTransaction
		nilRecs bool
		code    int16
	}
	many := make([]int, 500) // crosses arena chunks
	for i := range many {
		many[i] = 100 + i%50
	}
	cases := []struct {
		name   string
		topics [][]part
	}{
		{"no topics", nil},
		{"empty partitions", [][]part{{{}, {nilRecs: true}, {code: 1}}}},
		{"small batches copied", [][]part{{{batches: []int{61, 200, 4095}}}}},
		{"large batches referenced", [][]part{{{batches: []int{4096, 1 << 20, 70000}}}}},
		{"mixed, several topics", [][]part{
			{{batches: []int{100, 5000, 100, 100, 9000}}, {}, {batches: many}},
			{{batches: []int{300}, aborted: []kmsg.FetchResponseTopicPartitionAbortedTransaction{{ProducerID: 7, FirstOffset: 3}, {ProducerID: 9, FirstOffset: 40}}}},
			{{batches: []int{4096}, aborted: []kmsg.FetchResponseTopicPartitionAbortedTransaction{}}},
		}},
	}
	for _, tc := range cases {
		for version := int16(4); version <= 18; version++ {
			t.Run(fmt.Sprintf("%s/v%d", tc.name, version), func(t *testing.T) {
				got := kmsg.NewPtrFetchResponse()  // batches as record sets
				want := kmsg.NewPtrFetchResponse() // batches inline, for kmsg
				got.ThrottleMillis, want.ThrottleMillis = 12, 12
				sets := fetchSets{}
				a := &arena{}
				var raws, originals [][]byte
				for ti, parts := range tc.topics {
					gt, wt := kmsg.NewFetchResponseTopic(), kmsg.NewFetchResponseTopic()
					gt.Topic, wt.Topic = fmt.Sprintf("topic-%d", ti), fmt.Sprintf("topic-%d", ti)
					gt.TopicID, wt.TopicID = [16]byte{byte(ti + 1)}, [16]byte{byte(ti + 1)}
					gt.Partitions = make([]kmsg.FetchResponseTopicPartition, len(parts))
					wt.Partitions = make([]kmsg.FetchResponseTopicPartition, len(parts))
					for pi, p := range parts {
						gp, wp := &gt.Partitions[pi], &wt.Partitions[pi]
						*gp, *wp = kmsg.NewFetchResponseTopicPartition(), kmsg.NewFetchResponseTopicPartition()
						for _, fp := range []*kmsg.FetchResponseTopicPartition{gp, wp} {
							fp.Partition, fp.ErrorCode = int32(pi), p.code
							fp.HighWatermark, fp.LastStableOffset, fp.LogStartOffset = 1000, 990, 5
							fp.AbortedTransactions = p.aborted
						}
						if p.nilRecs {
							continue
						}
						gp.RecordBatches, wp.RecordBatches = []byte{}, []byte{}
						if len(p.batches) == 0 {
							continue
						}
						r := &recordSet{a: a}
						var inline []byte
						base := int64(100 * pi)
						for bi, n := range p.batches {
							raw := fakeBatch(n, byte(bi))
							raws, originals = append(raws, raw), append(originals, bytes.Clone(raw))
							r.add(raw, base)
							inline = append(inline, patched(raw, base)...)
							base += 10
						}
						sets[gp] = r
						wp.RecordBatches = inline
					}
					got.Topics = append(got.Topics, gt)
					want.Topics = append(want.Topics, wt)
				}
				if !piecewise(got) {
					t.Fatal("piecewise refused a response with nothing but the fields Wisp sets")
				}
				in := &inflight{key: 1, version: version, corr: 42}
				gotBytes := fetchResponseBytes(t, in, got, sets)
				wantBytes := appendResponse(nil, in, want)
				if !bytes.Equal(gotBytes, wantBytes) {
					t.Fatalf("piecewise fetch response differs from kmsg's: %d bytes, want %d", len(gotBytes), len(wantBytes))
				}
				// The batches were cache memory: they must be as they were.
				for bi, raw := range raws {
					if !bytes.Equal(raw, originals[bi]) {
						t.Fatalf("batch %d was modified in place", bi)
					}
				}
				// And the client can read it back.
				dec := kmsg.NewPtrFetchResponse()
				dec.Version = version
				if err := dec.ReadFrom(gotBytes[8+boolToInt(got.IsFlexible()):]); err != nil {
					t.Fatalf("kmsg cannot decode the response: %v", err)
				}
			})
		}
	}
}

func boolToInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestPiecewiseLeavesTaggedFieldsToKmsg: a partition tagged field Wisp does
// not send piecewise makes the writer fall back to kmsg, which still carries
// the batches once the sets are materialized.
func TestPiecewiseLeavesTaggedFieldsToKmsg(t *testing.T) {
	resp := kmsg.NewPtrFetchResponse()
	tp := kmsg.NewFetchResponseTopic()
	tp.Partitions = []kmsg.FetchResponseTopicPartition{kmsg.NewFetchResponseTopicPartition()}
	resp.Topics = append(resp.Topics, tp)
	p := &resp.Topics[0].Partitions[0]
	if !piecewise(resp) {
		t.Fatal("a default partition must be encodable piecewise")
	}
	p.CurrentLeader.LeaderID = 3
	if piecewise(resp) {
		t.Fatal("piecewise accepted a CurrentLeader it does not encode")
	}
	raw := fakeBatch(5000, 1)
	r := &recordSet{a: &arena{}}
	r.add(raw, 77)
	fetchSets{p: r}.materialize()
	if !bytes.Equal(p.RecordBatches, patched(raw, 77)) {
		t.Fatal("materialize did not put the patched batch into RecordBatches")
	}
}

// TestAddPartsSendsAStraddlingBatchWhole: a batch that straddles cache
// blocks is taken as its pieces in each; the set must still hold the batch
// byte for byte with its base offset rewritten, wherever the cuts fall
// (inside the rewritten head, at its end, in the body), and must not write
// into the pieces, which are shared cache memory.
func TestAddPartsSendsAStraddlingBatchWhole(t *testing.T) {
	for _, tc := range []struct {
		name string
		size int
		cuts []int
	}{
		{"one piece", 9000, nil},
		{"cut in the base offset", 9000, []int{3}},
		{"cut in the leader epoch", 9000, []int{14}},
		{"cut at the head's end", 9000, []int{batchHead}},
		{"cut in the body", 9000, []int{5000}},
		{"three pieces", 9000, []int{10, 4096}},
		{"small batch", 300, []int{100}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw := fakeBatch(tc.size, 3)
			orig := bytes.Clone(raw)
			var parts [][]byte
			from := 0
			for _, c := range append(tc.cuts, tc.size) {
				parts = append(parts, raw[from:c:c])
				from = c
			}
			set := &recordSet{a: &arena{}}
			set.add(fakeBatch(500, 9), 7) // something before, as in a fetch
			set.addParts(parts, 1234)
			want := append(patched(fakeBatch(500, 9), 7), patched(orig, 1234)...)
			if got := set.bytes(); !bytes.Equal(got, want) || set.n != len(want) {
				t.Fatalf("set holds %d bytes (n %d), want %d; equal: %v", len(got), set.n, len(want), bytes.Equal(got, want))
			}
			if !bytes.Equal(raw, orig) {
				t.Fatal("addParts wrote into the pieces")
			}
		})
	}
}
