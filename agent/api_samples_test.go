package agent

import (
	"reflect"
	"testing"
	"time"

	"github.com/wisp-stream/wisp/objstore"
)

func sample(t int64, produce float64) Sample {
	s := Sample{T: t, ProduceBytesPerSec: produce, ObjstoreRequestsPerSec: map[string]float64{}}
	for _, op := range storeOps {
		s.ObjstoreRequestsPerSec[string(op)] = 0
	}
	return s
}

func TestAPISumSeries(t *testing.T) {
	tests := []struct {
		name string
		all  [][]Sample
		n    int
		want []Sample
	}{
		{"no samples", [][]Sample{nil, {}}, 10, []Sample{}},
		{"one agent", [][]Sample{{sample(10, 1), sample(11, 2)}}, 10, []Sample{sample(10, 1), sample(11, 2)}},
		{
			// The second agent has not sampled second 12 yet: the sum stops
			// at 11 rather than show a dip.
			"stops at the newest second every agent has",
			[][]Sample{{sample(10, 1), sample(11, 2), sample(12, 3)}, {sample(10, 10), sample(11, 20)}},
			10, []Sample{sample(10, 11), sample(11, 22)},
		},
		{
			// An agent that started later adds nothing to earlier seconds.
			"a late starter",
			[][]Sample{{sample(10, 1), sample(11, 2)}, {sample(11, 5)}},
			10, []Sample{sample(10, 1), sample(11, 7)},
		},
		{"keeps the last n seconds", [][]Sample{{sample(10, 1), sample(11, 2), sample(12, 3)}}, 2, []Sample{sample(11, 2), sample(12, 3)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := sumSeries(tc.all, tc.n); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("sumSeries = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestAPISampleRing(t *testing.T) {
	var o opsState
	for i := int64(0); i < sampleRing+5; i++ {
		o.add(sample(i, float64(i)))
	}
	o.add(sample(sampleRing+4, 99)) // a second tick in the same second replaces
	got := o.series(0)
	if len(got) != sampleRing || got[0].T != 5 || got[len(got)-1].ProduceBytesPerSec != 99 {
		t.Fatalf("ring holds %d samples from %d, last %+v", len(got), got[0].T, got[len(got)-1])
	}
	if last := o.series(3); len(last) != 3 || last[0].T != sampleRing+2 {
		t.Fatalf("series(3) = %+v", last)
	}
}

func TestAPISampleBetweenIsRatePerSecond(t *testing.T) {
	at := time.Unix(100, 0)
	prev := totals{at: at, produceBytes: 1000, requests: map[objstore.Op]int64{objstore.OpPut: 4}}
	cur := totals{at: at.Add(2 * time.Second), produceBytes: 5000, produceRecords: 10, requests: map[objstore.Op]int64{objstore.OpPut: 10}}
	s := sampleBetween(prev, cur)
	if s.T != 102 || s.ProduceBytesPerSec != 2000 || s.ProduceRecordsPerSec != 5 || s.ObjstoreRequestsPerSec["put"] != 3 || s.ObjstoreRequestsPerSec["get"] != 0 {
		t.Fatalf("sample = %+v", s)
	}
}
