package fsm

import "fmt"

// CommitFile v2 layout (varints are zigzag unless marked u):
//
//	key str | size | node | now
//	u topic count, 16-byte ids in first-use order
//	u batch count, then per batch:
//	  u topic index | partition | pos - end of previous batch | len | records |
//	  maxTimestamp - now | producer id | producer epoch | base sequence | u flags
//	u txn end count, then per end:
//	  transactional id str | producer id | producer epoch | u commit (0 or 1)
//
// flags: bit 0 transactional, bit 1 control (a transaction marker). v1 is v2
// without flags and ends; a command without transactional content is still
// written as v1, so replicas that predate transactions keep applying
// ordinary commits.
//
// Topic ids are interned per command; positions and timestamps are deltas
// because batches are laid out back to back in the file and were stamped
// moments before the commit, so most fields take one or two bytes.

// minBatchBytes is the smallest encoding of one batch: nine one-byte varints.
const minBatchBytes = 9

func encodeCommitFile(dst []byte, c Command) ([]byte, error) {
	cf, ok := c.(CommitFile)
	if !ok {
		return nil, fmt.Errorf("fsm: CommitFile codec given %T", c)
	}
	idx := make(map[[16]byte]uint64)
	var ids [][16]byte
	for _, b := range cf.Batches {
		if _, ok := idx[b.TopicID]; !ok {
			idx[b.TopicID] = uint64(len(ids))
			ids = append(ids, b.TopicID)
		}
	}
	w := wbuf{b: append(make([]byte, 0, len(dst)+64+len(cf.Key)+16*len(ids)+16*len(cf.Batches)), dst...)}
	w.str(cf.Key)
	w.varint(cf.Size)
	w.varint(int64(cf.NodeID))
	w.varint(cf.NowMs)
	w.uvarint(uint64(len(ids)))
	for _, id := range ids {
		w.id(id)
	}
	txn := len(cf.TxnEnds) > 0
	for _, b := range cf.Batches {
		txn = txn || b.Transactional || b.Control
	}
	if !txn {
		w.b[len(dst)-1] = 1 // the version byte Encode wrote
	}
	w.uvarint(uint64(len(cf.Batches)))
	var end int64
	for _, b := range cf.Batches {
		w.uvarint(idx[b.TopicID])
		w.varint(int64(b.Partition))
		w.varint(b.Pos - end)
		w.varint(int64(b.Len))
		w.varint(int64(b.Records))
		w.varint(b.MaxTimestamp - cf.NowMs)
		w.varint(b.ProducerID)
		w.varint(int64(b.ProducerEpoch))
		w.varint(int64(b.BaseSequence))
		if txn {
			w.uvarint(batchFlags(b))
		}
		end = b.Pos + int64(b.Len)
	}
	if txn {
		w.uvarint(uint64(len(cf.TxnEnds)))
		for _, e := range cf.TxnEnds {
			w.str(e.TransactionalID)
			w.varint(e.ProducerID)
			w.varint(int64(e.ProducerEpoch))
			if e.Commit {
				w.uvarint(1)
			} else {
				w.uvarint(0)
			}
		}
	}
	return w.b, nil
}

const (
	batchTransactional = 1 << iota
	batchControl
)

func batchFlags(b BatchMeta) uint64 {
	var f uint64
	if b.Transactional {
		f |= batchTransactional
	}
	if b.Control {
		f |= batchControl
	}
	return f
}

func decodeCommitFile(version byte, p []byte) (Command, error) {
	r := rbuf{b: p}
	var cf CommitFile
	cf.Key = r.str()
	cf.Size = r.varint()
	cf.NodeID = r.int32()
	cf.NowMs = r.varint()
	ids := make([][16]byte, r.count(16))
	for i := range ids {
		ids[i] = r.id()
	}
	n := r.count(minBatchBytes)
	if r.err != nil {
		return nil, r.err
	}
	if n > 0 {
		cf.Batches = make([]BatchMeta, n)
	}
	var end int64
	for i := range cf.Batches {
		b := &cf.Batches[i]
		ti := r.uvarint()
		if r.err == nil && ti >= uint64(len(ids)) {
			r.fail("batch %d: topic index %d of %d", i, ti, len(ids))
		}
		if r.err != nil {
			return nil, r.err
		}
		b.TopicID = ids[ti]
		b.Partition = r.int32()
		b.Pos = end + r.varint()
		b.Len = r.int32()
		b.Records = r.int32()
		b.MaxTimestamp = cf.NowMs + r.varint()
		b.ProducerID = r.varint()
		b.ProducerEpoch = r.int16()
		b.BaseSequence = r.int32()
		if version >= 2 {
			flags := r.uvarint()
			if r.err == nil && flags&^(batchTransactional|batchControl) != 0 {
				r.fail("batch %d: flags %#x", i, flags)
			}
			b.Transactional, b.Control = flags&batchTransactional != 0, flags&batchControl != 0
		}
		end = b.Pos + int64(b.Len)
	}
	if version >= 2 {
		if n := r.count(4); n > 0 {
			cf.TxnEnds = make([]TxnEnd, n)
		}
		for i := range cf.TxnEnds {
			e := &cf.TxnEnds[i]
			e.TransactionalID = r.str()
			e.ProducerID = r.varint()
			e.ProducerEpoch = r.int16()
			switch c := r.uvarint(); {
			case c > 1 && r.err == nil:
				r.fail("txn end %d: commit %d", i, c)
			default:
				e.Commit = c == 1
			}
		}
	}
	if err := r.done(); err != nil {
		return nil, err
	}
	return cf, nil
}

// ForgetFiles v1 layout: u key count, then length-prefixed keys.

func encodeForgetFiles(dst []byte, c Command) ([]byte, error) {
	ff, ok := c.(ForgetFiles)
	if !ok {
		return nil, fmt.Errorf("fsm: ForgetFiles codec given %T", c)
	}
	w := wbuf{b: dst}
	w.uvarint(uint64(len(ff.Keys)))
	for _, k := range ff.Keys {
		w.str(k)
	}
	return w.b, nil
}

func decodeForgetFiles(_ byte, p []byte) (Command, error) {
	r := rbuf{b: p}
	var ff ForgetFiles
	if n := r.count(1); n > 0 {
		ff.Keys = make([]string, n)
	}
	for i := range ff.Keys {
		ff.Keys[i] = r.str()
	}
	if err := r.done(); err != nil {
		return nil, err
	}
	return ff, nil
}
