package kcmd

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
)

func TestProduceThenFetch(t *testing.T) {
	c := newCluster(t, kfake.SeedTopics(3, "events"))

	produce := optionsFor(t, c, TypeProduce)
	produce.Topic = "events"
	produce.Partition = 2
	produce.Records = "first,,second, with a comma,,third"
	equalLines(t, "produce", mustRun(t, produce), []string{
		`result: partition:2 offset:0 value:"first"`,
		`result: partition:2 offset:1 value:"second, with a comma"`,
		`result: partition:2 offset:2 value:"third"`,
	})

	tests := []struct {
		name       string
		partition  int32
		offset     int64
		maxRecords int
		want       []string
	}{
		{"all partitions from 0", -1, 0, 3, []string{
			`partition:2 offset:0 key:"hello" value:"first"`,
			`partition:2 offset:1 key:"hello" value:"second, with a comma"`,
			`partition:2 offset:2 key:"hello" value:"third"`,
			`fetched 3 records from topic "events"`,
		}},
		{"one partition from offset 1", 2, 1, 2, []string{
			`partition:2 offset:1 key:"hello" value:"second, with a comma"`,
			`partition:2 offset:2 key:"hello" value:"third"`,
			`fetched 2 records from topic "events"`,
		}},
		{"stops at max records", 2, 0, 2, []string{
			`partition:2 offset:0 key:"hello" value:"first"`,
			`partition:2 offset:1 key:"hello" value:"second, with a comma"`,
			`fetched 2 records from topic "events"`,
		}},
		{"earliest", 2, -2, 1, []string{
			`partition:2 offset:0 key:"hello" value:"first"`,
			`fetched 1 records from topic "events"`,
		}},
		// The only case that ends by going idle: it also shows that
		// --partition is honoured, since partition 2 has records.
		{"empty partition goes idle", 0, 0, 100, []string{
			`fetched 0 records from topic "events"`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := optionsFor(t, c, TypeFetch)
			o.Topic, o.Partition, o.Offset, o.MaxRecords = "events", tt.partition, tt.offset, tt.maxRecords
			if tt.maxRecords > len(tt.want)-1 {
				o.Timeout = idleTimeout
			}
			equalLines(t, "fetch", mustRun(t, o), tt.want)
		})
	}
}

func TestProducePartitionerAndNullKey(t *testing.T) {
	c := newCluster(t, kfake.SeedTopics(4, "events"))

	o := optionsFor(t, c, TypeProduce)
	o.Topic = "events"
	o.Key = ""
	o.Records = "a,,b"
	got := mustRun(t, o)
	re := regexp.MustCompile(`^result: partition:([0-3]) offset:(\d+) value:"(a|b)"$`)
	if len(got) != 2 {
		t.Fatalf("produce printed %d lines, want 2: %q", len(got), got)
	}
	for _, l := range got {
		if !re.MatchString(l) {
			t.Errorf("produce line %q does not match %s", l, re)
		}
	}

	f := optionsFor(t, c, TypeFetch)
	f.Topic, f.MaxRecords = "events", 2
	fetched := mustRun(t, f)
	if last := fetched[len(fetched)-1]; last != `fetched 2 records from topic "events"` {
		t.Errorf("fetch count line = %q, want 2 records", last)
	}
	for _, l := range fetched[:len(fetched)-1] {
		if !strings.Contains(l, `key:""`) {
			t.Errorf("fetch line %q: want an empty (null) key", l)
		}
	}
}

func TestProduceFetchErrors(t *testing.T) {
	c := newCluster(t, kfake.SeedTopics(2, "events"))

	tests := []struct {
		name   string
		modify func(*Options)
		is     error
		says   []string
	}{
		{"produce to missing topic", func(o *Options) {
			o.Type, o.Topic, o.Records = TypeProduce, "nope", "x"
		}, kerr.UnknownTopicOrPartition, []string{`"nope"`, "--type create-topic"}},
		{"fetch from missing topic", func(o *Options) {
			o.Type, o.Topic = TypeFetch, "nope"
		}, kerr.UnknownTopicOrPartition, []string{`"nope"`, "--type list-topics"}},
		{"produce to missing partition", func(o *Options) {
			o.Type, o.Topic, o.Records, o.Partition = TypeProduce, "events", "x", 5
		}, ErrInvalidOptions, []string{"--partition 5", "0 to 1"}},
		{"fetch past the end", func(o *Options) {
			o.Type, o.Topic, o.Partition, o.Offset = TypeFetch, "events", 0, 50
		}, kerr.OffsetOutOfRange, []string{"OFFSET_OUT_OF_RANGE", "--offset -2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := optionsFor(t, c, "")
			tt.modify(&o)
			out, err := run(t, o)
			if !errors.Is(err, tt.is) {
				t.Fatalf("err = %v, want %v (output %q)", err, tt.is, out)
			}
			for _, s := range tt.says {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
		})
	}
}
