package gossip

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestMetaRoundTrip(t *testing.T) {
	tests := []Meta{
		{},
		{NodeID: -5},
		testMeta(42),
		{NodeID: 2147483647, KafkaAddr: "[::1]:9092", Roles: []string{}},
		{NodeID: 7, StartedMs: 1700000000123},
		{NodeID: 8, KafkaAddr: "127.0.0.1:9092", Listeners: map[string]string{"PLAINTEXT": "127.0.0.1:9092", "SASL_SSL": "kafka-8.example.com:9093"}},
	}
	for _, m := range tests {
		b, err := EncodeMeta(m)
		if err != nil {
			t.Fatalf("EncodeMeta(%+v): %v", m, err)
		}
		got, err := DecodeMeta(b)
		if err != nil {
			t.Fatalf("DecodeMeta(%s): %v", b, err)
		}
		if len(m.Roles) == 0 {
			m.Roles = nil // an empty role list is not transmitted
		}
		if !reflect.DeepEqual(got, m) {
			t.Errorf("round trip of %+v gave %+v", m, got)
		}
	}
}

func TestDecodeMetaVersions(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Meta
		wantErr bool
	}{
		{"version 1", `{"v":1,"id":3,"k":"a:1","z":"eu-1a","ro":["broker"]}`, Meta{NodeID: 3, KafkaAddr: "a:1", AZ: "eu-1a", Roles: []string{"broker"}}, false},
		{"version 1 with start time", `{"v":1,"id":5,"st":1700000000000}`, Meta{NodeID: 5, StartedMs: 1700000000000}, false},
		{"newer version with new fields", `{"v":2,"id":4,"h":"b:2","future":{"x":1}}`, Meta{NodeID: 4, HTTPAddr: "b:2"}, false},
		{"no version", `{"id":3}`, Meta{}, true},
		{"empty", ``, Meta{}, true},
		{"null", `null`, Meta{}, true},
		{"not json", `wisp`, Meta{}, true},
		{"wrong type", `{"v":1,"id":"3"}`, Meta{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeMeta([]byte(tc.in))
			if tc.wantErr {
				if !errors.Is(err, ErrBadMeta) {
					t.Fatalf("DecodeMeta = %+v, %v; want ErrBadMeta", got, err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("DecodeMeta = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

// metaOfSize returns a Meta whose encoding is exactly n bytes, by padding AZ.
func metaOfSize(t *testing.T, n int) Meta {
	t.Helper()
	m := testMeta(1)
	m.AZ = ""
	b, err := EncodeMeta(m)
	if err != nil {
		t.Fatal(err)
	}
	pad := n - len(b) - len(`,"z":""`)
	if pad < 1 {
		t.Fatalf("cannot build a %d-byte meta", n)
	}
	m.AZ = strings.Repeat("a", pad)
	return m
}

func TestMetaSizeLimit(t *testing.T) {
	// A realistic worst case: long DNS names everywhere still fits.
	host := strings.Repeat("h", 63) + ".wisp-agents.example.internal"
	big := Meta{
		NodeID: -2147483648, KafkaAddr: host + ":65535", RaftAddr: host + ":65535",
		HTTPAddr: host + ":65535", AZ: "ap-southeast-2-zone-az-long",
		Roles: []string{"broker", "voter", "coordinator", "compactor"},
	}
	if b, err := EncodeMeta(big); err != nil {
		t.Fatalf("realistic meta rejected: %v", err)
	} else {
		t.Logf("realistic large meta: %d of %d bytes", len(b), MaxMetaSize)
	}

	if b, err := EncodeMeta(metaOfSize(t, MaxMetaSize)); err != nil || len(b) != MaxMetaSize {
		t.Fatalf("meta of exactly %d bytes: %d bytes, %v", MaxMetaSize, len(b), err)
	}
	tooBig := metaOfSize(t, MaxMetaSize+1)
	if _, err := EncodeMeta(tooBig); !errors.Is(err, ErrMetaTooLarge) {
		t.Fatalf("meta of %d bytes: %v, want ErrMetaTooLarge", MaxMetaSize+1, err)
	}

	cfg := TestProfile()
	cfg.Meta = tooBig
	if _, err := Start(t.Context(), cfg); !errors.Is(err, ErrMetaTooLarge) {
		t.Fatalf("Start with oversized meta = %v, want ErrMetaTooLarge", err)
	}

	// The largest meta that fits is gossiped whole, and an oversized update
	// is refused without touching what peers see.
	fits := metaOfSize(t, MaxMetaSize)
	n := startNode(t, 1, nil, func(c *Config) { c.Meta = fits })
	peer := startNode(t, 2, []string{n.Addr()}, nil)
	waitFor(t, "the peer to see the maximal meta", func() bool {
		for _, m := range peer.Members() {
			if m.Name == "wisp-1" {
				return reflect.DeepEqual(m.Meta, fits)
			}
		}
		return false
	})
	if err := n.UpdateMeta(tooBig); !errors.Is(err, ErrMetaTooLarge) {
		t.Fatalf("UpdateMeta oversized = %v, want ErrMetaTooLarge", err)
	}
	if got := n.LocalMember().Meta; !reflect.DeepEqual(got, fits) {
		t.Errorf("after a refused update the local meta is %+v", got)
	}
}

func FuzzDecodeMeta(f *testing.F) {
	for _, m := range []Meta{{}, testMeta(1), {NodeID: -1, Roles: []string{"a", ""}}} {
		b, _ := EncodeMeta(m)
		f.Add(b)
	}
	f.Add([]byte(`{"v":9,"id":1,"x":[1,2,3]}`))
	f.Add([]byte(`{"v":1,"ro":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeMeta(b)
		if err != nil {
			if !errors.Is(err, ErrBadMeta) {
				t.Fatalf("error %v does not wrap ErrBadMeta", err)
			}
			return
		}
		enc, err := EncodeMeta(m)
		if err != nil {
			return // decodable but too large to re-advertise: fine
		}
		again, err := DecodeMeta(enc)
		if err != nil || !reflect.DeepEqual(again, m) {
			t.Fatalf("re-encoding %+v gave %+v, %v", m, again, err)
		}
	})
}

func TestEventQueueUnbounded(t *testing.T) {
	q := newEventQueue()
	const n = 1000 // far beyond the channel's buffer
	for i := range n {
		q.push(Event{Type: EventUpdate, Member: Member{Meta: Meta{NodeID: int32(i)}}})
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		q.run(stop)
		close(done)
	}()
	for i := range n {
		ev := <-q.out
		if ev.Member.Meta.NodeID != int32(i) {
			t.Fatalf("event %d is for node %d: out of order", i, ev.Member.Meta.NodeID)
		}
	}
	close(stop)
	<-done
	if _, open := <-q.out; open {
		t.Error("out still open after stop")
	}
}
