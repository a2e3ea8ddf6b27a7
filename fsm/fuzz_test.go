package fsm

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/hashicorp/raft"
)

// FuzzApply: whatever decodable commands the leader proposes, applying them
// to a populated state machine never panics (domain errors are responses),
// and the state they leave survives a snapshot and restore unchanged. Raft
// commands come only from cluster members, but a bug in one agent's
// proposer must not take every replica down.
func FuzzApply(f *testing.F) {
	cmds := append(sampleCommands(), probes()...)
	for i, c := range cmds {
		first := mustEncode(f, c)
		second := mustEncode(f, cmds[(i+1)%len(cmds)])
		f.Add(first, second)
	}
	f.Add([]byte{}, []byte{0x85, 1})
	f.Fuzz(func(t *testing.T, first, second []byte) {
		h := richState(t)
		for _, in := range [][]byte{first, second} {
			if _, err := Decode(in); err != nil {
				continue // Apply panics on these by design (STYLE 2); Decode's own fuzzer covers them
			}
			h.index++
			h.f.Apply(&raft.Log{Index: h.index, Data: in})
		}
		keys := append(richKeys, "f/1", "empty", "extremes", "files/c1", "probe")
		before := viewOf(h.f, keys...)
		restored := New(nil)
		if err := restored.Restore(io.NopCloser(bytes.NewReader(snapshotBytes(t, h.f)))); err != nil {
			t.Fatalf("the state left by applied commands does not restore: %v", err)
		}
		if after := viewOf(restored, keys...); !reflect.DeepEqual(before, after) {
			t.Fatalf("snapshot round trip changed the state:\nbefore %+v\nafter  %+v", before, after)
		}
	})
}

func mustEncode(t testing.TB, c Command) []byte {
	t.Helper()
	b, err := Encode(c)
	if err != nil {
		t.Fatalf("encode %T: %v", c, err)
	}
	return b
}

// TestUpdateFuzzCorpus writes the committed seed corpora of FuzzDecode,
// FuzzApply and FuzzRestore from the real encoders when
// WISP_UPDATE_FUZZ_CORPUS is set (`make fuzz-corpus`), and always checks
// that the committed seeds still decode to what the encoders write.
func TestUpdateFuzzCorpus(t *testing.T) {
	cmds := append(sampleCommands(), probes()...)
	write := os.Getenv("WISP_UPDATE_FUZZ_CORPUS") != ""
	for i, c := range cmds {
		enc := mustEncode(t, c)
		name := fmt.Sprintf("seed-%02d-%s", i, c.Type())
		if write {
			writeCorpus(t, "FuzzDecode", name, enc)
			writeCorpus(t, "FuzzApply", name, enc, mustEncode(t, cmds[(i+1)%len(cmds)]))
		}
		got, err := Decode(enc)
		if err != nil || !reflect.DeepEqual(mustEncode(t, got), enc) {
			t.Fatalf("%s: encoded command does not decode back: %v", name, err)
		}
	}
	if write {
		// FuzzRestore's input is a snapshot without its trailing CRC.
		for name, f := range map[string]*FSM{"seed-rich-state": richState(t).f, "seed-empty-state": New(nil)} {
			snap := snapshotBytes(t, f)
			writeCorpus(t, "FuzzRestore", name, snap[:len(snap)-4])
		}
	}
}

// writeCorpus writes one seed of []byte arguments in the go test fuzz v1
// format to testdata/fuzz/target/name.
func writeCorpus(t *testing.T, target, name string, args ...[]byte) {
	t.Helper()
	dir := filepath.Join("testdata", "fuzz", target)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	b.WriteString("go test fuzz v1\n")
	for _, a := range args {
		fmt.Fprintf(&b, "[]byte(%q)\n", a)
	}
	if err := os.WriteFile(filepath.Join(dir, name), b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}
