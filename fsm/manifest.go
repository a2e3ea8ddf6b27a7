package fsm

import (
	"slices"
	"sort"
)

// manifest is one partition's index: entries ordered by offset, without gaps
// or overlaps between them, each naming a byte range of one file. It is an
// index, not a log: compaction replaces a run of entries with one (replace),
// retention drops a prefix (trimBefore), so its size follows live data.
type manifest struct {
	entries []entry
	bytes   int64 // sum of entries' Len
	// shared is set when a snapshot holds the entries slice. Elements below
	// len(entries) must then not be written in place: own copies them first.
	// Appending is safe because a snapshot never reads past its own length.
	shared bool
}

type entry struct {
	Entry
	// runMaxTs is the largest MaxTimestamp of this and all earlier entries.
	// It never decreases, so the first entry whose MaxTimestamp >= ts is
	// found by binary search on it.
	runMaxTs int64
}

// own makes entries safe to write in place.
func (m *manifest) own() {
	if m.shared {
		m.entries = slices.Clone(m.entries)
		m.shared = false
	}
}

// add appends e, whose BaseOffset must follow the last entry's LastOffset.
// When e continues the last entry both in the same file and in offsets the
// two become one entry, and add reports merged: no new file reference.
func (m *manifest) add(e Entry) (merged bool) {
	m.bytes += e.Len
	if n := len(m.entries); n > 0 {
		last := &m.entries[n-1]
		if last.Key == e.Key && last.Pos+last.Len == e.Pos && last.LastOffset+1 == e.BaseOffset &&
			last.AbsoluteOffsets == e.AbsoluteOffsets {
			m.own()
			last = &m.entries[n-1]
			last.LastOffset = e.LastOffset
			last.Len += e.Len
			last.MaxTimestamp = max(last.MaxTimestamp, e.MaxTimestamp)
			last.runMaxTs = max(last.runMaxTs, e.MaxTimestamp)
			return true
		}
	}
	run := e.MaxTimestamp
	if n := len(m.entries); n > 0 {
		run = max(run, m.entries[n-1].runMaxTs)
	}
	m.entries = append(m.entries, entry{Entry: e, runMaxTs: run})
	return false
}

// search returns the index of the entry containing offset, or of the first
// entry after it; len(entries) when offset is past the last entry.
func (m *manifest) search(offset int64) int {
	return sort.Search(len(m.entries), func(i int) bool { return m.entries[i].LastOffset >= offset })
}

// searchTime returns the index of the first entry whose MaxTimestamp >= ts,
// or len(entries).
func (m *manifest) searchTime(ts int64) int {
	return sort.Search(len(m.entries), func(i int) bool { return m.entries[i].runMaxTs >= ts })
}

// replace swaps entries [i, j) for the single entry e, which must cover
// exactly their offsets (compaction rewrites many small files' batches into
// one bigger file). It returns the removed entries so the caller can drop
// their file references.
func (m *manifest) replace(i, j int, e Entry) []Entry {
	if i < 0 || j > len(m.entries) || i >= j ||
		e.BaseOffset != m.entries[i].BaseOffset || e.LastOffset != m.entries[j-1].LastOffset {
		panic("fsm: manifest replace does not cover a run of entries")
	}
	removed := make([]Entry, 0, j-i)
	for _, old := range m.entries[i:j] {
		removed = append(removed, old.Entry)
		m.bytes -= old.Len
	}
	m.own()
	m.entries = slices.Replace(m.entries, i, j, entry{Entry: e})
	m.bytes += e.Len
	m.fixRunMax(i)
	return removed
}

// trimBefore drops the entries wholly below offset (retention) and returns
// them; an entry containing offset stays whole, since fetches serve whole
// batches. The backing array is reallocated once it is mostly dead, so memory
// follows live entries.
func (m *manifest) trimBefore(offset int64) []Entry {
	k := m.search(offset)
	if k == 0 {
		return nil
	}
	removed := make([]Entry, k)
	for i := range k {
		removed[i] = m.entries[i].Entry
		m.bytes -= m.entries[i].Len
	}
	m.entries = m.entries[k:]
	if cap(m.entries) > 2*len(m.entries)+16 || m.shared {
		m.entries = slices.Clone(m.entries)
		m.shared = false
	}
	m.fixRunMax(0)
	return removed
}

// fixRunMax recomputes runMaxTs from index i on; entries must be owned.
func (m *manifest) fixRunMax(i int) {
	for ; i < len(m.entries); i++ {
		run := m.entries[i].MaxTimestamp
		if i > 0 {
			run = max(run, m.entries[i-1].runMaxTs)
		}
		m.entries[i].runMaxTs = run
	}
}
