package fsm

import (
	"fmt"
	"reflect"
	"testing"
)

// smallFiles builds a manifest of n one-batch entries, each in its own file
// of 10 records and 100 bytes, with the given timestamps.
func smallFiles(ts ...int64) *manifest {
	m := &manifest{}
	for i, t := range ts {
		m.add(Entry{BaseOffset: int64(i) * 10, LastOffset: int64(i)*10 + 9, Key: fmt.Sprintf("small-%d", i), Pos: 0, Len: 100, MaxTimestamp: t})
	}
	return m
}

func entriesOf(m *manifest) []Entry {
	var out []Entry
	for _, e := range m.entries {
		out = append(out, e.Entry)
	}
	return out
}

func TestManifestReplaceRun(t *testing.T) {
	m := smallFiles(10, 20, 30, 40, 50)
	big := Entry{BaseOffset: 10, LastOffset: 39, Key: "big", Pos: 0, Len: 250, MaxTimestamp: 40}
	removed := m.replace(1, 4, big)
	if got := len(removed); got != 3 || removed[0].Key != "small-1" || removed[2].Key != "small-3" {
		t.Fatalf("removed %+v", removed)
	}
	want := []Entry{smallFiles(10).entries[0].Entry, big,
		{BaseOffset: 40, LastOffset: 49, Key: "small-4", Len: 100, MaxTimestamp: 50}}
	if got := entriesOf(m); !reflect.DeepEqual(got, want) {
		t.Fatalf("entries after replace:\n got %+v\nwant %+v", got, want)
	}
	if m.bytes != 450 {
		t.Fatalf("bytes = %d, want 450", m.bytes)
	}
	if i := m.search(25); m.entries[i].Key != "big" {
		t.Fatalf("offset 25 found in %q", m.entries[i].Key)
	}

	defer func() {
		if recover() == nil {
			t.Fatal("replace with an entry that does not cover the run did not panic")
		}
	}()
	m.replace(0, 2, Entry{BaseOffset: 0, LastOffset: 5})
}

func TestManifestTrimBefore(t *testing.T) {
	m := smallFiles(100, 5, 7, 9)
	if removed := m.trimBefore(0); removed != nil {
		t.Fatalf("trim before 0 removed %+v", removed)
	}
	removed := m.trimBefore(15) // offset 15 is inside entry 1, which stays whole
	if len(removed) != 1 || removed[0].Key != "small-0" {
		t.Fatalf("removed %+v", removed)
	}
	if len(m.entries) != 3 || m.entries[0].Key != "small-1" || m.bytes != 300 {
		t.Fatalf("after trim: %+v, %d bytes", entriesOf(m), m.bytes)
	}
	// The trimmed entry's timestamp 100 no longer hides later ones.
	if i := m.searchTime(6); i != 1 {
		t.Fatalf("searchTime(6) = %d, want 1", i)
	}
}

func TestManifestCopyOnWrite(t *testing.T) {
	m := smallFiles(1, 2, 3)
	m.shared = true
	view := m.entries // what a snapshot holds
	before := entriesOf(&manifest{entries: view})

	m.add(Entry{BaseOffset: 30, LastOffset: 39, Key: "small-2", Pos: 100, Len: 10, MaxTimestamp: 9}) // merges into entry 2
	m.replace(0, 2, Entry{BaseOffset: 0, LastOffset: 19, Key: "c", Len: 1})
	m.trimBefore(20)

	if got := entriesOf(&manifest{entries: view}); !reflect.DeepEqual(got, before) {
		t.Fatalf("snapshot view changed:\n got %+v\nwant %+v", got, before)
	}
	if len(m.entries) != 1 || m.entries[0].LastOffset != 39 || m.entries[0].Len != 110 {
		t.Fatalf("live manifest: %+v", entriesOf(m))
	}
}
