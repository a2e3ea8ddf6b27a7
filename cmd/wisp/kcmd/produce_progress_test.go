package kcmd

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
)

// TestProduceManyRecordsInOrderWithProgress produces enough records to be a
// long operation: every record still gets its result line, in the order
// typed with consecutive offsets, and the summary goes to the progress
// writer, not stdout.
func TestProduceManyRecordsInOrderWithProgress(t *testing.T) {
	c := newCluster(t, kfake.SeedTopics(1, "many"))
	var prog bytes.Buffer
	saved := progressOut
	progressOut = &prog
	t.Cleanup(func() { progressOut = saved })

	const n = progressAfter + 500
	values := make([]string, n)
	for i := range values {
		values[i] = fmt.Sprintf("v%d", i)
	}
	o := optionsFor(t, c, TypeProduce)
	o.Topic = "many"
	o.Partition = 0
	o.Records = strings.Join(values, RecordSeparator)
	lines := mustRun(t, o)
	if len(lines) != n {
		t.Fatalf("produce printed %d result lines, want %d", len(lines), n)
	}
	for i, l := range lines {
		want := fmt.Sprintf("result: partition:0 offset:%d value:%q", i, values[i])
		if l != want {
			t.Fatalf("line %d = %q, want %q", i, l, want)
		}
	}
	if !strings.Contains(prog.String(), fmt.Sprintf("kcmd: produced %d records in ", n)) {
		t.Fatalf("progress output %q has no final summary", prog.String())
	}
}
