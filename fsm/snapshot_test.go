package fsm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"reflect"
	"testing"
)

// richState builds state holding every record type: cluster id, topics with
// and without configs, partitions with merged and unmerged entries across
// shared files, full and partial producer windows, producers without windows,
// live and dead files and an advanced producer id counter.
func richState(t testing.TB) *harness {
	h := newHarness(t)
	h.apply(InitCluster{ClusterID: "cluster-1", NowMs: 1})
	a := h.createTopic("alpha", 3)
	h.apply(CreateTopic{Name: "beta", ID: topicID("beta"), Partitions: 2, Configs: map[string]string{"retention.ms": "60000", "x": ""}, NowMs: 2})
	b := topicID("beta")
	h.createTopic("doomed", 1)
	h.apply(CreatePartitions{Name: "alpha", Count: 4})

	for range 3 {
		h.apply(InitProducerID{ProducerID: -1, ProducerEpoch: -1, NowMs: 3}) // 1, 2, 3
	}
	h.apply(InitProducerID{ProducerID: 2, ProducerEpoch: 0, NowMs: 4}) // 2 at epoch 1

	h.mustCommit("f1",
		plain(a, 0, 0, 10, 3), plain(a, 0, 10, 10, 2), // merged
		plain(b, 1, 20, 30, 7),
		idem(a, 1, 50, 10, 1, 1, 0, 0),
	)
	for i := range 7 { // producer 1 fills its window on alpha/2, producer 2 writes twice
		h.mustCommit("w"+string(rune('a'+i)), idem(a, 2, 0, 10, 2, 1, 0, int32(2*i)), idem(a, 2, 10, 10, 1, 2, 1, int32(i)))
	}
	h.mustCommit("doomed-file", plain(topicID("doomed"), 0, 0, 10, 1))
	h.apply(CommitOffsets{Group: "readers", NowMs: 6, Offsets: []OffsetCommit{
		{TopicID: a, Partition: 0, Offset: 5, LeaderEpoch: -1},
		{TopicID: b, Partition: 1, Offset: 7, LeaderEpoch: 2, Metadata: "m"},
		{TopicID: topicID("doomed"), Partition: 0, Offset: 1, LeaderEpoch: -1}, // dropped with its topic
	}})
	h.apply(CommitOffsets{Group: "only-doomed", NowMs: 6, Offsets: []OffsetCommit{{TopicID: topicID("doomed"), Offset: 1}}})
	h.apply(CommitOffsets{Group: "writers", NowMs: 7, Offsets: []OffsetCommit{{TopicID: a, Partition: 3, Offset: 0, LeaderEpoch: 0, Metadata: "x"}}})
	h.apply(CommitOffsets{Group: "gone", NowMs: 7, Offsets: []OffsetCommit{{TopicID: a, Partition: 1, Offset: 1}}})
	h.apply(DeleteGroup{Group: "gone"})
	h.commit("rejected", plain(topicID("nope"), 0, 0, 10, 1))
	h.apply(DeleteTopic{Name: "doomed", NowMs: 5})
	h.mustCommit("f2", plain(b, 0, 0, 100, 50), plain(a, 3, 100, 20, 4))
	h.commit("unknown-producer", idem(b, 0, 0, 10, 1, 99, 4, 17))
	return h
}

// view is everything the read API shows, for comparing two FSMs.
type view struct {
	Applied  uint64
	Cluster  string
	NextPID  int64
	Topics   []TopicInfo
	Parts    map[PartitionKey]PartitionInfo
	Entries  map[PartitionKey][]Entry
	ByTime   map[PartitionKey][]Entry
	Dead     []DeadFile
	Files    map[string]FileInfo
	Liveness map[string]bool
	Offsets  map[string][]CommittedOffset
}

func viewOf(f *FSM, keys ...string) view {
	v := view{
		Applied: f.AppliedIndex(), Cluster: f.ClusterID(), NextPID: f.NextProducerID(), Topics: f.Topics(),
		Parts: map[PartitionKey]PartitionInfo{}, Entries: map[PartitionKey][]Entry{}, ByTime: map[PartitionKey][]Entry{},
		Dead: f.DeadFiles(), Files: map[string]FileInfo{}, Liveness: map[string]bool{},
	}
	for _, t := range v.Topics {
		if byID, ok := f.TopicByID(t.ID); !ok || !reflect.DeepEqual(byID, t) {
			panic("TopicByID disagrees with Topics")
		}
		for p := range t.Partitions {
			k := PartitionKey{t.ID, p}
			v.Parts[k], _ = f.Partition(t.ID, p)
			v.Entries[k], _, _ = f.Entries(t.ID, p, 0, 1<<30)
			for _, ts := range []int64{0, 3999, 4000, 4001} {
				e, _ := f.EntryForTimestamp(t.ID, p, ts)
				v.ByTime[k] = append(v.ByTime[k], e)
			}
		}
	}
	for _, k := range keys {
		v.Files[k], _ = f.File(k)
		v.Liveness[k] = f.FileLive(k)
	}
	v.Offsets = map[string][]CommittedOffset{}
	for _, g := range f.OffsetGroups() {
		if !f.HasOffsets(g) {
			panic("OffsetGroups lists a group without offsets")
		}
		v.Offsets[g] = f.CommittedOffsets(g)
		for _, c := range v.Offsets[g] {
			if one, ok := f.CommittedOffset(g, c.TopicID, c.Partition); !ok || one != c {
				panic("CommittedOffset disagrees with CommittedOffsets")
			}
		}
	}
	return v
}

var richKeys = []string{"f1", "wa", "wg", "doomed-file", "rejected", "f2", "unknown-producer", "absent"}

// probes are commands whose results depend on every piece of producer state:
// duplicates in windows, next sequences, fencing, epochs and the id counter.
func probes() []Command {
	a, b := topicID("alpha"), topicID("beta")
	return []Command{
		CommitFile{Key: "probe", Size: 1000, NowMs: 9, Batches: []BatchMeta{
			idem(a, 2, 0, 10, 2, 1, 0, 4),  // duplicate, in producer 1's window
			idem(a, 2, 10, 10, 2, 1, 0, 2), // too old for the window of 5
			idem(a, 2, 20, 10, 1, 1, 0, 14),
			idem(a, 2, 30, 10, 1, 2, 1, 6), // duplicate of producer 2
			idem(a, 2, 40, 10, 1, 2, 0, 7), // fenced epoch
			idem(a, 1, 50, 10, 1, 1, 0, 1),
			idem(b, 0, 60, 10, 1, 99, 4, 17), // duplicate of the unknown producer
			idem(b, 0, 70, 10, 1, 99, 3, 18), // fenced
			plain(b, 1, 80, 10, 1),
		}},
		InitProducerID{ProducerID: 2, ProducerEpoch: 1},
		InitProducerID{ProducerID: 99, ProducerEpoch: 4},
		InitProducerID{ProducerID: -1, ProducerEpoch: -1},
		CommitFile{Key: "f1", Size: 10},       // live key
		CommitFile{Key: "rejected", Size: 10}, // dead key
		CommitOffsets{Group: "readers", NowMs: 11, Offsets: []OffsetCommit{{TopicID: a, Partition: 1, Offset: 9}, {TopicID: a, Partition: 9, Offset: 9}}},
		DeleteOffsets{Group: "writers", Partitions: []PartitionKey{{TopicID: a, Partition: 3}}},
		DeleteTopic{Name: "beta", NowMs: 10},
	}
}

func TestSnapshotRoundTrip(t *testing.T) {
	h := richState(t)
	data := snapshotBytes(t, h.f)

	restored := New(nil)
	if err := restored.Restore(io.NopCloser(bytes.NewReader(data))); err != nil {
		t.Fatalf("restore: %v", err)
	}
	want := viewOf(h.f, richKeys...)
	if got := viewOf(restored, richKeys...); !reflect.DeepEqual(got, want) {
		t.Fatalf("restored state differs:\n got %+v\nwant %+v", got, want)
	}
	if len(want.Dead) != 2 || len(want.Topics) != 2 || want.NextPID != 4 || len(want.Offsets) != 2 {
		t.Fatalf("rich state is not rich: %+v", want)
	}

	// Producer windows and epochs are not visible through reads; the same
	// commands must get the same answers from both replicas.
	r := &harness{t: t, f: restored, index: h.index}
	for i, c := range probes() {
		if got, want := r.apply(c), h.apply(c); !reflect.DeepEqual(got, want) {
			t.Fatalf("probe %d (%T): restored answered %+v, original %+v", i, c, got, want)
		}
	}
	if !reflect.DeepEqual(viewOf(restored, richKeys...), viewOf(h.f, richKeys...)) {
		t.Fatal("replicas diverged after probes")
	}

	// The same state persists to the same bytes.
	if again := snapshotBytes(t, restored); !bytes.Equal(again, snapshotBytes(t, h.f)) {
		t.Fatal("snapshots of equal states differ")
	}
}

// TestSnapshotIsPointInTime: Apply goes on while Persist streams.
func TestSnapshotIsPointInTime(t *testing.T) {
	h := richState(t)
	want := viewOf(h.f, richKeys...)
	snap, err := h.f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range probes() {
		h.apply(c)
	}
	h.mustCommit("later", plain(topicID("alpha"), 0, 0, 10, 1), plain(topicID("alpha"), 0, 10, 10, 1))
	// What a future compaction or retention command does to a manifest must
	// not show through either.
	h.f.mu.Lock()
	m := &h.f.s.topics["alpha"].parts[2].m
	m.replace(0, 3, Entry{BaseOffset: 0, LastOffset: m.entries[2].LastOffset, Key: "compacted", Len: 1})
	m.trimBefore(m.entries[1].BaseOffset)
	h.f.mu.Unlock()
	var sink memSink
	if err := snap.Persist(&sink); err != nil {
		t.Fatal(err)
	}
	restored := New(nil)
	if err := restored.Restore(io.NopCloser(&sink.Buffer)); err != nil {
		t.Fatal(err)
	}
	if got := viewOf(restored, richKeys...); !reflect.DeepEqual(got, want) {
		t.Fatalf("snapshot saw later applies:\n got %+v\nwant %+v", got, want)
	}
}

// withChecksum replaces the trailing CRC so a modified body passes it.
func withChecksum(body []byte) []byte {
	return binary.BigEndian.AppendUint32(bytes.Clone(body), crc32.Checksum(body, castagnoli))
}

func TestRestoreRejectsBadSnapshots(t *testing.T) {
	good := snapshotBytes(t, richState(t).f)
	body := good[:len(good)-4]
	flipped := bytes.Clone(good)
	flipped[len(flipped)/2] ^= 0x40

	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"unknown version", append([]byte{snapshotVersion + 1}, good[1:]...)},
		{"version zero", append([]byte{0}, good[1:]...)},
		{"flipped byte", flipped},
		{"truncated", good[:len(good)/2]},
		{"no checksum", body},
		{"trailing data", append(bytes.Clone(good), 0)},
		{"no end record, valid checksum", withChecksum(body[:len(body)-2])},
		{"record before header", withChecksum([]byte{1, 2, recEnd + 99, 0, 2, 1, recEnd})},
		{"huge record length", withChecksum([]byte{1, 0xff, 0xff, 0xff, 0xff, 0x0f})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			id := h.createTopic("keep", 1)
			h.mustCommit("k", plain(id, 0, 0, 10, 1))
			before := viewOf(h.f, "k")
			err := h.f.Restore(io.NopCloser(bytes.NewReader(tt.data)))
			if !errors.Is(err, ErrBadSnapshot) {
				t.Fatalf("Restore = %v, want ErrBadSnapshot", err)
			}
			if after := viewOf(h.f, "k"); !reflect.DeepEqual(after, before) {
				t.Fatal("failed restore changed the state")
			}
		})
	}
}

// TestRestoreVersion1 reads a snapshot written before group offsets existed:
// the same records without group records, under version byte 1.
func TestRestoreVersion1(t *testing.T) {
	h := richState(t)
	for _, g := range h.f.OffsetGroups() {
		h.apply(DeleteGroup{Group: g})
	}
	want := viewOf(h.f, richKeys...)
	var buf bytes.Buffer
	if err := h.f.s.writeSnapshotAs(&buf, 2); err != nil {
		t.Fatal(err)
	}
	v2 := buf.Bytes()
	v1 := withChecksum(append([]byte{1}, v2[1:len(v2)-4]...))
	restored := New(nil)
	if err := restored.Restore(io.NopCloser(bytes.NewReader(v1))); err != nil {
		t.Fatalf("restore v1: %v", err)
	}
	if got := viewOf(restored, richKeys...); !reflect.DeepEqual(got, want) {
		t.Fatalf("v1 restore differs:\n got %+v\nwant %+v", got, want)
	}

	// A group record has no meaning in version 1.
	buf.Reset()
	if err := richState(t).f.s.writeSnapshotAs(&buf, 2); err != nil {
		t.Fatal(err)
	}
	withGroups := buf.Bytes()
	bad := withChecksum(append([]byte{1}, withGroups[1:len(withGroups)-4]...))
	if err := New(nil).Restore(io.NopCloser(bytes.NewReader(bad))); !errors.Is(err, ErrBadSnapshot) {
		t.Fatalf("v1 snapshot with group records: %v, want ErrBadSnapshot", err)
	}
}

func TestRestoreEmptyState(t *testing.T) {
	data := snapshotBytes(t, New(nil))
	f := richState(t).f
	if err := f.Restore(io.NopCloser(bytes.NewReader(data))); err != nil {
		t.Fatal(err)
	}
	if got, want := viewOf(f, richKeys...), viewOf(New(nil), richKeys...); !reflect.DeepEqual(got, want) {
		t.Fatalf("restoring an empty snapshot left %+v", got)
	}
}

// FuzzRestore: Restore never panics. Inputs get a valid checksum so the
// fuzzer reaches the record decoders.
func FuzzRestore(f *testing.F) {
	good := snapshotBytes(f, richState(f).f)
	f.Add(good[:len(good)-4])
	f.Add(snapshotBytes(f, New(nil))[:5])
	f.Fuzz(func(t *testing.T, body []byte) {
		s, err := readSnapshot(bytes.NewReader(withChecksum(body)))
		if err == nil {
			// Whatever was accepted must be usable.
			fsm := New(nil)
			fsm.s = s
			viewOf(fsm)
			snapshotBytes(t, fsm)
		}
	})
}
