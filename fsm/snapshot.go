package fsm

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"maps"
	"slices"

	"github.com/hashicorp/raft"
)

// ErrBadSnapshot wraps every reason Restore rejects a snapshot: unknown
// version, checksum mismatch, malformed or inconsistent records.
var ErrBadSnapshot = errors.New("fsm: bad snapshot")

// Snapshot format, version 6:
//
//	version byte
//	records, each: uvarint length, kind byte, payload
//	  header, files, dead files, producers, then each topic followed by its
//	  partitions in order, then one record per consumer group holding its
//	  committed offsets, then one record per SCRAM credential (by user and
//	  mechanism), then one per ACL binding (sorted), then one per
//	  transactional id and one per partition with transaction state (see
//	  txn_snapshot.go), then an end record
//	CRC-32C (big endian) of everything before it
//
// Version 5 is the same without transaction records; version 4 is version 5
// without SCRAM and ACL records; version 3 is version 4
// without the flags (AbsoluteOffsets) of manifest entries; version 2 is
// version 3 without the file level (files are then level 0); version 1 is
// version 2 without group records. Restore reads all six.
//
// Records keep memory bounded on both sides: Persist encodes one at a time,
// Restore reads one at a time. A new layout gets a new version byte, and
// Restore keeps reading the previous one.
const snapshotVersion = 6

// minSnapshotVersion is the oldest layout Restore still reads.
const minSnapshotVersion = 1

const (
	recEnd byte = iota
	recHeader
	recFile
	recDead
	recProducer
	recTopic
	recPartition
	recGroupOffsets // version 2+
	recScram        // version 5+
	recACL          // version 5+
	recTxn          // version 6+
	recTxnPartition // version 6+
)

// maxRecordLen bounds one record (a partition with millions of entries is
// still far below it) so a corrupt length fails instead of reading forever.
const maxRecordLen = 1 << 30

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

type fsmSnapshot struct{ s *state }

// Snapshot captures the state for Persist. It copies per-topic, -partition,
// -producer and -file headers; manifests are shared copy-on-write.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.Lock() // clone marks manifests shared
	defer f.mu.Unlock()
	return &fsmSnapshot{s: f.s.clone()}, nil
}

// Persist streams the snapshot to sink; it runs concurrently with Apply.
func (sn *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if err := sn.s.writeSnapshot(sink); err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("fsm: persist snapshot: %w", err)
	}
	return sink.Close()
}

// Release implements raft.FSMSnapshot; the copy is garbage collected.
func (sn *fsmSnapshot) Release() {}

// Restore replaces the state with the snapshot read from rc, which it closes.
// On error the current state is kept. Waiters are woken, since any high
// watermark may have moved.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	s, err := readSnapshot(rc)
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.s = s
	f.mu.Unlock()
	f.wakeAll()
	f.advanced(s.applied, nil)
	f.logger.Info("restored snapshot", "index", s.applied, "topics", len(s.topics), "files", len(s.files), "dead_files", len(s.dead), "groups", len(s.offsets))
	return nil
}

// recordWriter frames records onto a checksummed buffered stream.
type recordWriter struct {
	bw  *bufio.Writer
	crc uint32
	w   wbuf // the record being built
	err error
}

func (rw *recordWriter) Write(p []byte) (int, error) {
	rw.crc = crc32.Update(rw.crc, castagnoli, p)
	return rw.bw.Write(p)
}

// record starts a record of the given kind; flush writes it.
func (rw *recordWriter) record(kind byte) *wbuf {
	rw.w.b = append(rw.w.b[:0], kind)
	return &rw.w
}

func (rw *recordWriter) flush() {
	if rw.err != nil {
		return
	}
	var n [binary.MaxVarintLen64]byte
	if _, err := rw.Write(binary.AppendUvarint(n[:0], uint64(len(rw.w.b)))); err != nil {
		rw.err = err
		return
	}
	_, rw.err = rw.Write(rw.w.b)
}

func (s *state) writeSnapshot(out io.Writer) error { return s.writeSnapshotAs(out, snapshotVersion) }

// writeSnapshotAs writes the given layout version (2 to 6); older versions
// drop what they cannot hold (file levels, entry flags, credentials, ACLs,
// transactions), for tests of Restore's backward compatibility.
func (s *state) writeSnapshotAs(out io.Writer, version byte) error {
	rw := &recordWriter{bw: bufio.NewWriterSize(out, 64<<10)}
	if _, err := rw.Write([]byte{version}); err != nil {
		return err
	}

	w := rw.record(recHeader)
	w.uvarint(s.applied)
	w.str(s.clusterID)
	w.varint(s.nextPID)
	rw.flush()

	keys := slices.Sorted(maps.Keys(s.files))
	fileIdx := make(map[string]uint64, len(keys))
	for i, k := range keys {
		fileIdx[k] = uint64(i)
		f := s.files[k]
		w := rw.record(recFile)
		w.str(k)
		w.varint(f.size)
		w.varint(int64(f.nodeID))
		w.varint(f.createdMs)
		if version >= 3 {
			w.varint(int64(f.level))
		}
		rw.flush()
	}
	for _, d := range s.dead {
		w := rw.record(recDead)
		w.str(d.Key)
		w.varint(d.Size)
		w.uvarint(d.DiedIndex)
		w.varint(d.DiedMs)
		rw.flush()
	}
	for _, pid := range slices.Sorted(maps.Keys(s.producers)) {
		p := s.producers[pid]
		w := rw.record(recProducer)
		w.varint(pid)
		w.varint(int64(p.epoch))
		w.varint(p.lastMs)
		rw.flush()
	}
	for _, name := range slices.Sorted(maps.Keys(s.topics)) {
		t := s.topics[name]
		w := rw.record(recTopic)
		w.str(name)
		w.id(t.info.ID)
		w.varint(int64(t.info.Partitions))
		w.varint(t.info.CreatedMs)
		w.uvarint(uint64(len(t.info.Configs)))
		for _, k := range slices.Sorted(maps.Keys(t.info.Configs)) {
			w.str(k)
			w.str(t.info.Configs[k])
		}
		rw.flush()
		for i, p := range t.parts {
			writePartition(rw.record(recPartition), int32(i), p, fileIdx, version)
			rw.flush()
		}
		if rw.err != nil {
			return rw.err
		}
	}
	for _, name := range slices.Sorted(maps.Keys(s.offsets)) {
		g := s.offsets[name]
		w := rw.record(recGroupOffsets)
		w.str(name)
		w.uvarint(uint64(len(g)))
		for _, k := range sortedOffsetKeys(g) {
			c := g[k]
			w.id(k.TopicID)
			w.varint(int64(k.Partition))
			w.varint(c.offset)
			w.varint(int64(c.leaderEpoch))
			w.str(c.metadata)
			w.varint(c.commitMs)
		}
		rw.flush()
		if rw.err != nil {
			return rw.err
		}
	}
	if version >= 5 {
		if err := s.writeSecurity(rw); err != nil {
			return err
		}
	}
	if version >= 6 {
		if err := s.writeTxns(rw); err != nil {
			return err
		}
	}
	rw.record(recEnd)
	rw.flush()
	if rw.err != nil {
		return rw.err
	}
	if err := rw.bw.Flush(); err != nil {
		return err
	}
	_, err := out.Write(binary.BigEndian.AppendUint32(nil, rw.crc))
	return err
}

func writePartition(w *wbuf, index int32, p *partition, fileIdx map[string]uint64, version byte) {
	w.varint(int64(index))
	w.varint(p.logStart)
	w.varint(p.hw)
	w.uvarint(uint64(len(p.m.entries)))
	next := int64(0)
	for _, e := range p.m.entries {
		w.varint(e.BaseOffset - next)
		w.varint(e.LastOffset - e.BaseOffset)
		w.uvarint(fileIdx[e.Key])
		w.varint(e.Pos)
		w.varint(e.Len)
		w.varint(e.MaxTimestamp)
		if version >= 4 {
			var flags uint64
			if e.AbsoluteOffsets {
				flags |= entryAbsoluteOffsets
			}
			w.uvarint(flags)
		}
		next = e.LastOffset + 1
	}
	w.uvarint(uint64(len(p.windows)))
	for _, pid := range slices.Sorted(maps.Keys(p.windows)) {
		win := p.windows[pid]
		w.varint(pid)
		w.varint(int64(win.epoch))
		w.uvarint(uint64(win.n))
		for _, b := range win.b[:win.n] {
			w.varint(int64(b.first))
			w.varint(int64(b.last))
			w.varint(b.base)
			w.varint(int64(b.records))
		}
	}
}

func badSnapshot(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadSnapshot, fmt.Sprintf(format, args...))
}

// checksumReader hashes exactly the bytes its callers consume.
type checksumReader struct {
	br  *bufio.Reader
	crc uint32
	one [1]byte
}

func (c *checksumReader) ReadByte() (byte, error) {
	b, err := c.br.ReadByte()
	if err == nil {
		c.one[0] = b
		c.crc = crc32.Update(c.crc, castagnoli, c.one[:])
	}
	return b, err
}

func (c *checksumReader) Read(p []byte) (int, error) {
	n, err := c.br.Read(p)
	c.crc = crc32.Update(c.crc, castagnoli, p[:n])
	return n, err
}

func readSnapshot(r io.Reader) (*state, error) {
	cr := &checksumReader{br: bufio.NewReaderSize(r, 64<<10)}
	v, err := cr.ReadByte()
	if err != nil {
		return nil, badSnapshot("read version: %v", err)
	}
	if v < minSnapshotVersion || v > snapshotVersion {
		return nil, badSnapshot("unknown version %d", v)
	}
	rs := newRestorer()
	rs.version = v
	var buf []byte
	for {
		n, err := binary.ReadUvarint(cr)
		if err != nil {
			return nil, badSnapshot("read record length: %v", err)
		}
		if n == 0 || n > maxRecordLen {
			return nil, badSnapshot("record length %d", n)
		}
		// Grow with the data actually read, not with a length that may be corrupt.
		buf = buf[:0]
		for uint64(len(buf)) < n {
			chunk := min(n-uint64(len(buf)), 1<<20)
			buf = slices.Grow(buf, int(chunk))
			if _, err := io.ReadFull(cr, buf[len(buf):len(buf)+int(chunk)]); err != nil {
				return nil, badSnapshot("read record: %v", err)
			}
			buf = buf[:len(buf)+int(chunk)]
		}
		if buf[0] == recEnd {
			if n != 1 {
				return nil, badSnapshot("end record of %d bytes", n)
			}
			break
		}
		if err := rs.record(buf[0], buf[1:]); err != nil {
			return nil, err
		}
	}
	want := cr.crc
	var sum [4]byte
	if _, err := io.ReadFull(cr.br, sum[:]); err != nil {
		return nil, badSnapshot("read checksum: %v", err)
	}
	if got := binary.BigEndian.Uint32(sum[:]); got != want {
		return nil, badSnapshot("checksum %08x, computed %08x", got, want)
	}
	if _, err := cr.br.ReadByte(); err != io.EOF {
		return nil, badSnapshot("data after checksum")
	}
	return rs.finish()
}

// restorer rebuilds a state from records, checking the invariants that Apply
// and the read methods rely on.
type restorer struct {
	s         *state
	version   byte
	sawHeader bool
	fileKeys  []string
	cur       *topic // topic whose partitions come next
	nextPart  int
}

func newRestorer() *restorer { return &restorer{s: newState()} }

func (rs *restorer) record(kind byte, p []byte) error {
	r := &rbuf{b: p}
	if !rs.sawHeader && kind != recHeader {
		return badSnapshot("record kind %d before header", kind)
	}
	if kind != recPartition {
		if err := rs.topicDone(); err != nil {
			return err
		}
	}
	var err error
	switch kind {
	case recHeader:
		err = rs.header(r)
	case recFile:
		err = rs.file(r)
	case recDead:
		err = rs.dead(r)
	case recProducer:
		err = rs.producer(r)
	case recTopic:
		err = rs.topic(r)
	case recPartition:
		err = rs.partition(r)
	case recGroupOffsets:
		if rs.version < 2 {
			return badSnapshot("group offsets record in a version %d snapshot", rs.version)
		}
		err = rs.groupOffsets(r)
	case recScram, recACL:
		if rs.version < 5 {
			return badSnapshot("security record kind %d in a version %d snapshot", kind, rs.version)
		}
		err = rs.security(kind, r)
	case recTxn, recTxnPartition:
		if rs.version < 6 {
			return badSnapshot("transaction record kind %d in a version %d snapshot", kind, rs.version)
		}
		err = rs.txnRecord(kind, r)
	default:
		return badSnapshot("unknown record kind %d", kind)
	}
	if err == nil {
		err = r.done()
	}
	if err != nil && !errors.Is(err, ErrBadSnapshot) {
		err = fmt.Errorf("%w: record kind %d: %w", ErrBadSnapshot, kind, err)
	}
	return err
}

func (rs *restorer) header(r *rbuf) error {
	if rs.sawHeader {
		return badSnapshot("second header")
	}
	rs.sawHeader = true
	rs.s.applied = r.uvarint()
	rs.s.clusterID = r.str()
	rs.s.nextPID = r.varint()
	return nil
}

func (rs *restorer) file(r *rbuf) error {
	key := r.str()
	f := fileRec{size: r.varint(), nodeID: r.int32(), createdMs: r.varint()}
	if rs.version >= 3 {
		f.level = r.int32()
	}
	if r.err != nil {
		return r.err
	}
	if f.level < 0 {
		return badSnapshot("file %q at level %d", key, f.level)
	}
	if _, dup := rs.s.files[key]; dup {
		return badSnapshot("file %q twice", key)
	}
	rs.s.files[key] = f
	rs.fileKeys = append(rs.fileKeys, key)
	return nil
}

func (rs *restorer) dead(r *rbuf) error {
	d := DeadFile{Key: r.str(), Size: r.varint(), DiedIndex: r.uvarint(), DiedMs: r.varint()}
	if r.err != nil {
		return r.err
	}
	if rs.s.knownFile(d.Key) {
		return badSnapshot("dead file %q is also live or listed twice", d.Key)
	}
	if n := len(rs.s.dead); n > 0 && rs.s.dead[n-1].DiedIndex > d.DiedIndex {
		return badSnapshot("dead files out of order at %q", d.Key)
	}
	rs.s.markDead(d.Key, d.Size, d.DiedIndex, d.DiedMs)
	return nil
}

func (rs *restorer) producer(r *rbuf) error {
	pid := r.varint()
	p := producer{epoch: r.int16(), lastMs: r.varint()}
	if r.err != nil {
		return r.err
	}
	if _, dup := rs.s.producers[pid]; dup {
		return badSnapshot("producer %d twice", pid)
	}
	rs.s.producers[pid] = p
	return nil
}

func (rs *restorer) topic(r *rbuf) error {
	info := TopicInfo{Name: r.str(), ID: r.id(), Partitions: r.int32(), CreatedMs: r.varint()}
	if n := r.count(2); n > 0 {
		info.Configs = make(map[string]string, n)
		for range n {
			k := r.str()
			info.Configs[k] = r.str()
		}
	}
	if r.err != nil {
		return r.err
	}
	if err := validTopicName(info.Name); err != nil {
		return badSnapshot("%v", err)
	}
	if info.Partitions < 1 || info.Partitions > MaxPartitions {
		return badSnapshot("topic %q has %d partitions", info.Name, info.Partitions)
	}
	if _, dup := rs.s.topics[info.Name]; dup {
		return badSnapshot("topic %q twice", info.Name)
	}
	if _, dup := rs.s.byID[info.ID]; dup {
		return badSnapshot("topic id %x twice", info.ID)
	}
	t := &topic{info: info, parts: make([]*partition, 0, info.Partitions)}
	rs.s.topics[info.Name] = t
	rs.s.byID[info.ID] = t
	rs.cur, rs.nextPart = t, 0
	return nil
}

// topicDone checks that the current topic got all its partitions.
func (rs *restorer) topicDone() error {
	if rs.cur != nil && len(rs.cur.parts) != int(rs.cur.info.Partitions) {
		return badSnapshot("topic %q: %d of %d partitions", rs.cur.info.Name, len(rs.cur.parts), rs.cur.info.Partitions)
	}
	rs.cur = nil
	return nil
}

func (rs *restorer) partition(r *rbuf) error {
	t := rs.cur
	if t == nil {
		return badSnapshot("partition record outside a topic")
	}
	index := r.int32()
	p := &partition{logStart: r.varint(), hw: r.varint()}
	if r.err != nil {
		return r.err
	}
	if int(index) != len(t.parts) || len(t.parts) >= int(t.info.Partitions) {
		return badSnapshot("topic %q: partition %d out of order", t.info.Name, index)
	}
	if p.logStart < 0 || p.hw < p.logStart {
		return badSnapshot("topic %q partition %d: log start %d, high watermark %d", t.info.Name, index, p.logStart, p.hw)
	}
	n := r.count(6)
	if n > 0 {
		p.m.entries = make([]entry, 0, n)
	}
	next := int64(0)
	for range n {
		var e Entry
		e.BaseOffset = next + r.varint()
		e.LastOffset = e.BaseOffset + r.varint()
		fi := r.uvarint()
		e.Pos, e.Len, e.MaxTimestamp = r.varint(), r.varint(), r.varint()
		if rs.version >= 4 {
			flags := r.uvarint()
			if r.err == nil && flags&^entryAbsoluteOffsets != 0 {
				r.fail("entry flags %#x", flags)
			}
			e.AbsoluteOffsets = flags&entryAbsoluteOffsets != 0
		}
		if r.err != nil {
			return r.err
		}
		if fi >= uint64(len(rs.fileKeys)) || e.BaseOffset < next || e.LastOffset < e.BaseOffset ||
			e.LastOffset >= p.hw || e.Pos < 0 || e.Len < 0 || (e.Len == 0 && !e.AbsoluteOffsets) {
			return badSnapshot("topic %q partition %d: bad entry at offset %d", t.info.Name, index, e.BaseOffset)
		}
		e.Key = rs.fileKeys[fi] // share one string per file
		f := rs.s.files[e.Key]
		f.refs++
		rs.s.files[e.Key] = f
		p.m.entries = append(p.m.entries, entry{Entry: e})
		p.m.bytes += e.Len
		next = e.LastOffset + 1
	}
	p.m.fixRunMax(0)

	nw := r.count(4)
	for range nw {
		pid := r.varint()
		w := seqWindow{epoch: r.int16()}
		cnt := r.uvarint()
		if r.err == nil && (cnt < 1 || cnt > seqWindowSize) {
			r.fail("window of %d batches", cnt)
		}
		for range cnt {
			w.push(seqBatch{first: r.int32(), last: r.int32(), base: r.varint(), records: r.int32()})
			if r.err != nil {
				break
			}
		}
		if r.err != nil {
			return r.err
		}
		if p.windows == nil {
			p.windows = make(map[int64]seqWindow, nw)
		}
		if _, dup := p.windows[pid]; dup {
			return badSnapshot("topic %q partition %d: producer %d twice", t.info.Name, index, pid)
		}
		p.windows[pid] = w
	}
	t.parts = append(t.parts, p)
	return nil
}

// groupOffsets reads one group's offsets. Group records follow all topics,
// so every offset must name an existing partition: Apply never keeps offsets
// of a deleted topic.
func (rs *restorer) groupOffsets(r *rbuf) error {
	name := r.str()
	n := r.count(minOffsetBytes + 16)
	if r.err != nil {
		return r.err
	}
	if name == "" || n == 0 {
		return badSnapshot("group %q with %d offsets", name, n)
	}
	if _, dup := rs.s.offsets[name]; dup {
		return badSnapshot("group %q twice", name)
	}
	g := make(groupOffsets, n)
	for range n {
		k := PartitionKey{TopicID: r.id(), Partition: r.int32()}
		c := committed{offset: r.varint(), leaderEpoch: r.int32(), metadata: r.str(), commitMs: r.varint()}
		if r.err != nil {
			return r.err
		}
		if rs.s.partition(k.TopicID, k.Partition) == nil {
			return badSnapshot("group %q: offset of unknown partition %x/%d", name, k.TopicID, k.Partition)
		}
		if _, dup := g[k]; dup {
			return badSnapshot("group %q: partition %x/%d twice", name, k.TopicID, k.Partition)
		}
		g[k] = c
	}
	rs.s.offsets[name] = g
	return nil
}

func (rs *restorer) finish() (*state, error) {
	if !rs.sawHeader {
		return nil, badSnapshot("no header")
	}
	if err := rs.topicDone(); err != nil {
		return nil, err
	}
	for _, k := range rs.fileKeys {
		if rs.s.files[k].refs == 0 {
			return nil, badSnapshot("live file %q has no manifest entry", k)
		}
	}
	// Any value that differs from the replaced state's makes authorizers
	// rebuild their ACL index.
	rs.s.setACLs(rs.s.acls, rs.s.applied)
	return rs.s, nil
}
