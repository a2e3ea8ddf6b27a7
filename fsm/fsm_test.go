package fsm

import (
	"reflect"
	"testing"

	"github.com/hashicorp/raft"
)

func TestApplySkipsUnknownIgnorableCommand(t *testing.T) {
	h := newHarness(t)
	h.createTopic("t", 1)
	before := viewOf(h.f)
	res := h.f.Apply(&raft.Log{Index: 2, Data: []byte{byte(IgnorableFlag | 0x33), 1, 'x', 'y'}})
	if res != nil {
		t.Fatalf("skipped command returned %#v", res)
	}
	after := viewOf(h.f)
	if after.Applied != 2 {
		t.Fatalf("AppliedIndex = %d, want 2", after.Applied)
	}
	after.Applied = before.Applied
	if !reflect.DeepEqual(after, before) {
		t.Fatal("skipped command changed state")
	}
}

func TestApplyPanicsOnCommandsItCannotApply(t *testing.T) {
	valid, err := Encode(DeleteTopic{Name: "t"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		data []byte
	}{
		{"unknown type", []byte{0x33, 1}},
		{"empty", nil},
		{"unknown version of a known command", append([]byte{valid[0], 9}, valid[2:]...)},
		{"undecodable known command", append([]byte{byte(CmdCreateTopic), 1}, "{not json"...)},
		{"ignorable bit on a malformed known-looking command", []byte{byte(IgnorableFlag | CmdCommitFile)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := New(nil)
			defer func() {
				if recover() == nil {
					t.Fatal("Apply did not panic")
				}
				if f.AppliedIndex() != 0 {
					t.Fatal("a command that panicked advanced the applied index")
				}
			}()
			f.Apply(&raft.Log{Index: 1, Data: tt.data})
		})
	}
}
