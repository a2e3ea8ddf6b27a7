package fsm

import (
	"maps"
	"math"
	"slices"
)

// Snapshot records of transactions (version 6+), written after the security
// records:
//
//	recTxn, one per transactional id, sorted by id:
//	  id str | producer id | epoch | last epoch | timeout | u state |
//	  start ms | update ms | u partition count, (16-byte topic id | partition)... |
//	  u group count, then per group: name str | u offset count, then per offset:
//	    16-byte topic id | partition | offset | leader epoch | metadata str | commit ms
//	recTxnPartition, one per partition with transaction state, in topic and
//	partition order:
//	  16-byte topic id | partition | u ongoing count, (producer id | first offset)...
//	  sorted by producer id | u aborted count, (producer id | first | last)...
//	  in marker order

// writeTxns writes the transaction records.
func (s *state) writeTxns(rw *recordWriter) error {
	for _, id := range slices.Sorted(maps.Keys(s.txns.byID)) {
		t := s.txns.byID[id]
		w := rw.record(recTxn)
		w.str(id)
		w.varint(t.pid)
		w.varint(int64(t.epoch))
		w.varint(int64(t.lastEpoch))
		w.varint(int64(t.timeoutMs))
		w.uvarint(uint64(t.state))
		w.varint(t.startMs)
		w.varint(t.updateMs)
		w.uvarint(uint64(len(t.parts)))
		for _, k := range t.parts {
			w.id(k.TopicID)
			w.varint(int64(k.Partition))
		}
		w.uvarint(uint64(len(t.groups)))
		for _, g := range t.groups {
			w.str(g.group)
			w.uvarint(uint64(len(g.offsets)))
			for _, o := range g.offsets {
				w.id(o.key.TopicID)
				w.varint(int64(o.key.Partition))
				w.varint(o.c.offset)
				w.varint(int64(o.c.leaderEpoch))
				w.str(o.c.metadata)
				w.varint(o.c.commitMs)
			}
		}
		rw.flush()
		if rw.err != nil {
			return rw.err
		}
	}
	for _, name := range slices.Sorted(maps.Keys(s.topics)) {
		t := s.topics[name]
		for i, p := range t.parts {
			if p.tx == nil || p.tx.empty() {
				continue
			}
			w := rw.record(recTxnPartition)
			w.id(t.info.ID)
			w.varint(int64(i))
			w.uvarint(uint64(len(p.tx.ongoing)))
			for _, pid := range slices.Sorted(maps.Keys(p.tx.ongoing)) {
				w.varint(pid)
				w.varint(p.tx.ongoing[pid])
			}
			// Ranges that ended below the log start are not written: they
			// are dropped lazily at the next abort, so the bytes of equal
			// states could otherwise differ.
			live := liveAborted(p.tx.aborted, p.logStart)
			w.uvarint(uint64(len(live)))
			for _, a := range live {
				w.varint(a.ProducerID)
				w.varint(a.FirstOffset)
				w.varint(a.LastOffset)
			}
			rw.flush()
		}
		if rw.err != nil {
			return rw.err
		}
	}
	return rw.err
}

func liveAborted(as []abortedEntry, logStart int64) []abortedEntry {
	k := 0
	for k < len(as) && as[k].LastOffset < logStart {
		k++
	}
	return as[k:]
}

// txnRecord reads one transaction record. Partitions and pending offsets of
// a transaction may name deleted topics (completion skips them); ongoing and
// aborted entries must name an existing partition and fit its offsets.
func (rs *restorer) txnRecord(kind byte, r *rbuf) error {
	switch kind {
	case recTxn:
		return rs.txn(r)
	case recTxnPartition:
		return rs.txnPartition(r)
	}
	return badSnapshot("unknown transaction record kind %d", kind)
}

func (rs *restorer) txn(r *rbuf) error {
	id := r.str()
	t := &txn{pid: r.varint(), epoch: r.int16(), lastEpoch: r.int16(), timeoutMs: r.int32()}
	st := r.uvarint()
	t.startMs, t.updateMs = r.varint(), r.varint()
	n := r.count(17)
	for range n {
		k := PartitionKey{TopicID: r.id(), Partition: r.int32()}
		if r.err != nil {
			return r.err
		}
		if len(t.parts) > 0 && comparePartitionKeys(t.parts[len(t.parts)-1], k) >= 0 {
			return badSnapshot("transaction %q: partitions out of order", id)
		}
		t.parts = append(t.parts, k)
	}
	ng := r.count(2)
	for range ng {
		g := txnGroup{group: r.str()}
		no := r.count(21)
		for range no {
			o := pendingOffset{key: PartitionKey{TopicID: r.id(), Partition: r.int32()}}
			o.c = committed{offset: r.varint(), leaderEpoch: r.int32(), metadata: r.str(), commitMs: r.varint()}
			if r.err != nil {
				return r.err
			}
			if len(g.offsets) > 0 && comparePartitionKeys(g.offsets[len(g.offsets)-1].key, o.key) >= 0 {
				return badSnapshot("transaction %q group %q: offsets out of order", id, g.group)
			}
			g.offsets = append(g.offsets, o)
		}
		if r.err != nil {
			return r.err
		}
		if g.group == "" || len(t.groups) > 0 && t.groups[len(t.groups)-1].group >= g.group {
			return badSnapshot("transaction %q: group %q empty or out of order", id, g.group)
		}
		t.groups = append(t.groups, g)
	}
	if r.err != nil {
		return r.err
	}
	switch {
	case id == "":
		return badSnapshot("transaction without an id")
	case st > uint64(TxnCompleteAbort):
		return badSnapshot("transaction %q in state %d", id, st)
	case t.pid < 0 || t.epoch < 0 || t.lastEpoch < -1 || t.timeoutMs <= 0:
		return badSnapshot("transaction %q: producer %d epoch %d last epoch %d timeout %d", id, t.pid, t.epoch, t.lastEpoch, t.timeoutMs)
	case rs.s.txns.get(id) != nil:
		return badSnapshot("transaction %q twice", id)
	}
	if other, dup := rs.s.txns.byPID[t.pid]; dup {
		return badSnapshot("producer %d belongs to transactions %q and %q", t.pid, other, id)
	}
	t.state = TxnState(st)
	rs.s.txns.put(id, t)
	return nil
}

func (rs *restorer) txnPartition(r *rbuf) error {
	k := PartitionKey{TopicID: r.id(), Partition: r.int32()}
	if r.err != nil {
		return r.err
	}
	p := rs.s.partition(k.TopicID, k.Partition)
	if p == nil {
		return badSnapshot("transaction state of unknown partition %x/%d", k.TopicID, k.Partition)
	}
	if p.tx != nil {
		return badSnapshot("transaction state of %x/%d twice", k.TopicID, k.Partition)
	}
	pt := &partTxn{}
	n := r.count(2)
	lastPID := int64(math.MinInt64)
	for i := range n {
		pid, first := r.varint(), r.varint()
		if r.err != nil {
			return r.err
		}
		if (i > 0 && pid <= lastPID) || first < 0 || first >= p.hw {
			return badSnapshot("%x/%d: ongoing transaction of producer %d at %d", k.TopicID, k.Partition, pid, first)
		}
		lastPID = pid
		if pt.ongoing == nil {
			pt.ongoing = make(map[int64]int64, n)
		}
		pt.ongoing[pid] = first
	}
	na := r.count(3)
	for range na {
		a := AbortedTxn{ProducerID: r.varint(), FirstOffset: r.varint(), LastOffset: r.varint()}
		if r.err != nil {
			return r.err
		}
		if a.FirstOffset < 0 || a.LastOffset < a.FirstOffset || a.LastOffset >= p.hw ||
			len(pt.aborted) > 0 && pt.aborted[len(pt.aborted)-1].LastOffset >= a.LastOffset {
			return badSnapshot("%x/%d: aborted range %d..%d out of order or beyond the log", k.TopicID, k.Partition, a.FirstOffset, a.LastOffset)
		}
		pt.addAborted(a, math.MinInt64)
	}
	if pt.empty() {
		return badSnapshot("empty transaction state of %x/%d", k.TopicID, k.Partition)
	}
	p.tx = pt
	return nil
}
