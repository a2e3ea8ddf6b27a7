package fsm

import (
	"errors"
	"math"
	"reflect"
	"testing"
)

func sampleCommands() []Command {
	a, b := topicID("a"), topicID("b")
	return []Command{
		InitCluster{ClusterID: "c-1", NowMs: 7},
		CreateTopic{Name: "orders", ID: a, Partitions: 12, Configs: map[string]string{"retention.ms": "1000"}, NowMs: 8},
		CreateTopic{Name: "bare", ID: b, Partitions: 1},
		DeleteTopic{Name: "orders", NowMs: 9},
		CreatePartitions{Name: "orders", Count: 24},
		CommitFile{Key: "f/1", Size: 300, NodeID: 3, NowMs: 1_700_000_000_000, Batches: []BatchMeta{
			{TopicID: a, Partition: 0, Pos: 0, Len: 100, Records: 10, MaxTimestamp: 1_699_999_999_990, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1},
			{TopicID: b, Partition: 5, Pos: 100, Len: 150, Records: 1, MaxTimestamp: 1_700_000_000_100, ProducerID: 77, ProducerEpoch: 2, BaseSequence: 1 << 30},
			{TopicID: a, Partition: 1, Pos: 250, Len: 50, Records: 3, MaxTimestamp: math.MinInt64, ProducerID: math.MaxInt64, ProducerEpoch: math.MaxInt16, BaseSequence: math.MaxInt32},
		}},
		CommitFile{Key: "empty", Size: 0, NowMs: 1},
		CommitFile{Key: "extremes", Size: math.MaxInt64, NodeID: math.MinInt32, NowMs: math.MaxInt64, Batches: []BatchMeta{
			{Partition: math.MinInt32, Pos: math.MaxInt64, Len: math.MaxInt32, Records: math.MinInt32, MaxTimestamp: math.MinInt64, ProducerID: math.MinInt64, ProducerEpoch: math.MinInt16, BaseSequence: math.MinInt32},
			{Partition: math.MaxInt32, Pos: math.MinInt64, Len: math.MinInt32, Records: math.MaxInt32, MaxTimestamp: math.MaxInt64},
		}},
		InitProducerID{ProducerID: -1, ProducerEpoch: -1, NowMs: 10},
		InitProducerID{ProducerID: 42, ProducerEpoch: 3, NowMs: 11},
		ForgetFiles{Keys: []string{"f/1", "", "f/2"}},
		ForgetFiles{},
		CommitOffsets{Group: "billing", NowMs: 1_700_000_000_000, Offsets: []OffsetCommit{
			{TopicID: a, Partition: 0, Offset: 42, LeaderEpoch: -1},
			{TopicID: b, Partition: 7, Offset: 0, LeaderEpoch: 3, Metadata: "consumer-1 was here"},
			{TopicID: a, Partition: math.MaxInt32, Offset: math.MaxInt64, LeaderEpoch: math.MinInt32, Metadata: "\x00"},
		}},
		CommitOffsets{Group: "", NowMs: -1},
		DeleteGroup{Group: "billing"},
		DeleteOffsets{Group: "billing", Partitions: []PartitionKey{{TopicID: a, Partition: 3}, {TopicID: b}}},
		DeleteOffsets{Group: "g"},
		AlterTopicConfigs{Name: "orders", Replace: true, Set: map[string]string{"retention.ms": "-1", "retention.bytes": "1024"}},
		AlterTopicConfigs{Name: "orders", Set: map[string]string{"cleanup.policy": "compact,delete"}, Delete: []string{"retention.ms"}},
		AlterTopicConfigs{Name: "bare", Replace: true},
		TrimLog{TopicID: a, Partition: 3, NewLogStart: 1 << 40, NowMs: 1_700_000_000_000},
		TrimLog{TopicID: b, Partition: math.MaxInt32, NewLogStart: -1},
		CompactFiles{Key: "files/c1", Size: 1 << 30, NodeID: 2, Level: 1, NowMs: 1_700_000_000_000, Runs: []CompactRun{
			{TopicID: a, Partition: 0, FirstOffset: 0, LastOffset: 999, Pos: 8, Len: 4096},
			{TopicID: b, Partition: math.MaxInt32, FirstOffset: math.MaxInt64 - 1, LastOffset: math.MaxInt64, Pos: math.MaxInt64, Len: math.MinInt64},
		}},
		CompactFiles{Key: "", Level: math.MaxInt32},
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	for _, c := range sampleCommands() {
		t.Run(c.Type().String(), func(t *testing.T) {
			enc, err := Encode(c)
			if err != nil {
				t.Fatalf("encode: %v", err)
			}
			if CommandType(enc[0]) != c.Type() {
				t.Fatalf("type byte %d, want %d", enc[0], c.Type())
			}
			got, err := Decode(enc)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if !reflect.DeepEqual(got, c) {
				t.Fatalf("round trip:\n got %#v\nwant %#v", got, c)
			}
			// A pointer encodes the same as the value.
			p := reflect.New(reflect.TypeOf(c))
			p.Elem().Set(reflect.ValueOf(c))
			enc2, err := Encode(p.Interface().(Command))
			if err != nil || string(enc2) != string(enc) {
				t.Fatalf("pointer encoding differs: %v", err)
			}
		})
	}
}

type unregistered struct{}

func (unregistered) Type() CommandType { return 99 }

func TestEncodeErrors(t *testing.T) {
	for _, c := range []Command{nil, (*CommitFile)(nil), unregistered{}} {
		if _, err := Encode(c); err == nil {
			t.Errorf("Encode(%#v) succeeded", c)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	valid, err := Encode(sampleCommands()[5]) // CommitFile
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrMalformed},
		{"type only", []byte{byte(CmdCreateTopic)}, ErrMalformed},
		{"unknown type", []byte{99, 1}, ErrUnknownCommand},
		{"unknown ignorable type", []byte{0x80 | 99, 1}, ErrUnknownCommand},
		{"version zero", []byte{byte(CmdCreateTopic), 0, '{', '}'}, ErrUnknownVersion},
		{"future version", []byte{byte(CmdCommitFile), 3}, ErrUnknownVersion},
		{"bad json", append([]byte{byte(CmdCreateTopic), 1}, `{"name":`...), ErrMalformed},
		{"json unknown field", append([]byte{byte(CmdDeleteTopic), 1}, `{"name":"x","extra":1}`...), ErrMalformed},
		{"json trailing data", append([]byte{byte(CmdDeleteTopic), 1}, `{"name":"x"} {}`...), ErrMalformed},
		{"json wrong type", append([]byte{byte(CmdCreatePartitions), 1}, `{"count":"many"}`...), ErrMalformed},
		{"commit truncated", valid[:len(valid)-1], ErrMalformed},
		{"commit trailing byte", append(valid[:len(valid):len(valid)], 0), ErrMalformed},
		{"commit empty payload", []byte{byte(CmdCommitFile), 1}, ErrMalformed},
		// key "", size, node, now = 0; one topic id missing.
		{"commit short topic id", []byte{byte(CmdCommitFile), 1, 0, 0, 0, 0, 1, 1, 2, 3}, ErrMalformed},
		// no topics, one batch of nine zero bytes: topic index 0 of 0.
		{"commit bad topic index", []byte{byte(CmdCommitFile), 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0}, ErrMalformed},
		// a batch count far beyond what the bytes can hold.
		{"commit huge count", []byte{byte(CmdCommitFile), 1, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f}, ErrMalformed},
		// partition varint 2^32 does not fit an int32.
		{"commit partition out of range", []byte{byte(CmdCommitFile), 1, 0, 0, 0, 0, 1,
			1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
			1, 0, 0x80, 0x80, 0x80, 0x80, 0x20, 0, 0, 0, 0, 0, 0, 0}, ErrMalformed},
		{"forget count beyond bytes", []byte{byte(CmdForgetFiles), 1, 5, 0}, ErrMalformed},
		{"offsets future version", []byte{byte(CmdCommitOffsets), 2}, ErrUnknownVersion},
		{"offsets empty payload", []byte{byte(CmdCommitOffsets), 1}, ErrMalformed},
		// group "g", now 0, no topics, one offset naming topic index 0.
		{"offsets bad topic index", []byte{byte(CmdCommitOffsets), 1, 1, 'g', 0, 0, 1, 0, 0, 0, 0, 0}, ErrMalformed},
		{"offsets huge count", []byte{byte(CmdCommitOffsets), 1, 1, 'g', 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f}, ErrMalformed},
		{"offsets trailing byte", []byte{byte(CmdCommitOffsets), 1, 1, 'g', 0, 0, 0, 0}, ErrMalformed},
		{"delete offsets unknown field", append([]byte{byte(CmdDeleteOffsets), 1}, `{"group":"g","all":true}`...), ErrMalformed},
		{"forget key beyond bytes", []byte{byte(CmdForgetFiles), 1, 1, 9, 'a'}, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Decode(tt.in)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Decode = %#v, %v; want error %v", c, err, tt.want)
			}
		})
	}
}

// TestCommitFileEncodedSize measures the Raft entry of a file that touches
// 1,000 partitions: it must stay a small entry, not grow with record data.
func TestCommitFileEncodedSize(t *testing.T) {
	const now = int64(1_760_000_000_000)
	build := func(idempotent bool) CommitFile {
		c := CommitFile{Key: "wisp/data/01J9Z7K3Q2X8M4T6V0B5N1C7D3.wisp", Size: 0, NodeID: 7, NowMs: now}
		pos := int64(0)
		for i := range 1000 {
			length := int32(4000 + (i*7919)%60000) // 4-64 KiB batches
			b := BatchMeta{
				TopicID:      topicID(string(rune('a' + i%10))), // 10 topics of 100 partitions
				Partition:    int32(i / 10),
				Pos:          pos,
				Len:          length,
				Records:      int32(1 + i%500),
				MaxTimestamp: now - int64(i%250), // stamped within the 250 ms flush window
				ProducerID:   -1, ProducerEpoch: -1, BaseSequence: -1,
			}
			if idempotent {
				b.ProducerID, b.ProducerEpoch, b.BaseSequence = 100_000+int64(i%50), 3, int32(1_000_000+i*37)
			}
			c.Batches = append(c.Batches, b)
			pos += int64(length)
		}
		c.Size = pos
		return c
	}
	for _, tt := range []struct {
		name       string
		idempotent bool
	}{{"plain", false}, {"idempotent", true}} {
		t.Run(tt.name, func(t *testing.T) {
			c := build(tt.idempotent)
			enc, err := Encode(c)
			if err != nil {
				t.Fatal(err)
			}
			perBatch := float64(len(enc)) / float64(len(c.Batches))
			t.Logf("1,000-partition commit (%s): %d bytes, %.1f bytes per batch", tt.name, len(enc), perBatch)
			if perBatch >= 40 {
				t.Fatalf("%.1f bytes per batch, want < 40", perBatch)
			}
			back, err := Decode(enc)
			if err != nil || !reflect.DeepEqual(back, c) {
				t.Fatalf("round trip failed: %v", err)
			}
		})
	}
}

// FuzzDecode: Decode never panics, and whatever it accepts re-encodes to
// something that decodes to the same command.
func FuzzDecode(f *testing.F) {
	for _, c := range sampleCommands() {
		enc, err := Encode(c)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(enc)
	}
	f.Add([]byte{})
	f.Add([]byte{0x85, 1})
	f.Fuzz(func(t *testing.T, in []byte) {
		c, err := Decode(in)
		if err != nil {
			return
		}
		enc, err := Encode(c)
		if err != nil {
			t.Fatalf("decoded %#v does not encode: %v", c, err)
		}
		again, err := Decode(enc)
		if err != nil {
			t.Fatalf("re-encoded %#v does not decode: %v", c, err)
		}
		if !reflect.DeepEqual(again, c) {
			t.Fatalf("unstable: %#v became %#v", c, again)
		}
	})
}
