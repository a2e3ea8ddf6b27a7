package tests

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/wisp-stream/wisp/kafka/recordbatch"
)

// rawConn speaks the Kafka framing directly, so tests can send what no well
// behaved client would.
type rawConn struct {
	t    testing.TB
	nc   net.Conn
	corr int32
}

func dialRaw(t testing.TB, addr string) *rawConn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(30 * time.Second))
	return &rawConn{t: t, nc: nc}
}

// frame encodes req with a request header for its version.
func (c *rawConn) frame(req kmsg.Request) []byte {
	c.corr++
	b := []byte{0, 0, 0, 0}
	b = kbin.AppendInt16(b, req.Key())
	b = kbin.AppendInt16(b, req.GetVersion())
	b = kbin.AppendInt32(b, c.corr)
	b = kbin.AppendNullableString(b, nil)
	if req.IsFlexible() {
		b = append(b, 0)
	}
	b = req.AppendTo(b)
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	return b
}

func (c *rawConn) send(b []byte) {
	c.t.Helper()
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// readFrame returns the next response's correlation id and the rest.
func (c *rawConn) readFrame() (int32, []byte, error) {
	var size [4]byte
	if _, err := io.ReadFull(c.nc, size[:]); err != nil {
		return 0, nil, err
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(c.nc, body); err != nil {
		return 0, nil, err
	}
	return int32(binary.BigEndian.Uint32(body)), body[4:], nil
}

// roundTrip sends req and decodes its response.
func (c *rawConn) roundTrip(req kmsg.Request) kmsg.Response {
	c.t.Helper()
	c.send(c.frame(req))
	corr, body, err := c.readFrame()
	if err != nil {
		c.t.Fatalf("read %s response: %v", kmsg.NameForKey(req.Key()), err)
	}
	if corr != c.corr {
		c.t.Fatalf("correlation id %d, want %d", corr, c.corr)
	}
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	if resp.IsFlexible() && req.Key() != 18 {
		body = body[1:] // header tags
	}
	if err := resp.ReadFrom(body); err != nil {
		c.t.Fatalf("decode %s response: %v", kmsg.NameForKey(req.Key()), err)
	}
	return resp
}

// initProducerID asks for a producer id without a transactional id: a new
// one for pid -1, else the next epoch of pid (KIP-360).
func (c *rawConn) initProducerID(pid int64, epoch int16) *kmsg.InitProducerIDResponse {
	c.t.Helper()
	req := kmsg.NewPtrInitProducerIDRequest()
	req.Version = 4
	req.ProducerID, req.ProducerEpoch = pid, epoch
	return c.roundTrip(req).(*kmsg.InitProducerIDResponse)
}

// expectClosed asserts the agent closes the connection.
func (c *rawConn) expectClosed() {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, _, err := c.readFrame(); err == nil {
		c.t.Fatal("connection answered; want it closed")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		c.t.Fatal("connection stayed open; want it closed")
	}
}

func apiVersions(t testing.TB, c *rawConn) {
	t.Helper()
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = 3
	req.ClientSoftwareName, req.ClientSoftwareVersion = "wisp-test", "1"
	resp := c.roundTrip(req).(*kmsg.ApiVersionsResponse)
	if resp.ErrorCode != 0 || len(resp.ApiKeys) == 0 {
		t.Fatalf("ApiVersions v3: error %d, %d keys", resp.ErrorCode, len(resp.ApiKeys))
	}
}

func TestAPIVersions(t *testing.T) {
	ta := startAgent(t, testConfig(t))
	c := dialRaw(t, ta.AdvertisedAddr())

	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = 3
	resp := c.roundTrip(req).(*kmsg.ApiVersionsResponse)
	versions := map[int16][2]int16{}
	for _, k := range resp.ApiKeys {
		versions[k.ApiKey] = [2]int16{k.MinVersion, k.MaxVersion}
	}
	for key, want := range map[int16][2]int16{
		0:  {0, 13}, // Produce from v0: librdkafka needs it to keep compression
		1:  {4, 18}, // Fetch: topic ids from v13
		3:  {0, 13}, // Metadata
		18: {0, 4},
		22: {0, 5},
	} {
		if got, ok := versions[key]; !ok || got != want {
			t.Errorf("%s advertised %v, want %v", kmsg.NameForKey(key), got, want)
		}
	}

	// A version newer than ours: error 35 and the full table, as v0.
	c.send(func() []byte {
		b := c.frame(req)
		binary.BigEndian.PutUint16(b[6:], 99)
		return b
	}())
	_, body, err := c.readFrame()
	if err != nil {
		t.Fatal(err)
	}
	v0 := kmsg.NewPtrApiVersionsResponse()
	v0.Version = 0
	if err := v0.ReadFrom(body); err != nil {
		t.Fatalf("unsupported ApiVersions answer does not decode as v0: %v", err)
	}
	if v0.ErrorCode != kerr.UnsupportedVersion.Code || len(v0.ApiKeys) != len(resp.ApiKeys) {
		t.Fatalf("unsupported ApiVersions: error %d with %d keys, want 35 with %d", v0.ErrorCode, len(v0.ApiKeys), len(resp.ApiKeys))
	}
}

func TestBadFramesCloseOnlyThatConnection(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxRequestBytes = 64 << 10
	ta := startAgent(t, cfg)
	bystander := dialRaw(t, ta.AdvertisedAddr())
	apiVersions(t, bystander)

	cases := []struct {
		name  string
		frame func(c *rawConn) []byte
	}{
		{"unknown api key", func(c *rawConn) []byte {
			b := c.frame(kmsg.NewPtrApiVersionsRequest())
			binary.BigEndian.PutUint16(b[4:], 9999)
			return b
		}},
		{"unsupported version", func(c *rawConn) []byte {
			r := kmsg.NewPtrMetadataRequest()
			b := c.frame(r)
			binary.BigEndian.PutUint16(b[6:], 99)
			return b
		}},
		{"oversized frame", func(c *rawConn) []byte {
			return binary.BigEndian.AppendUint32(nil, 65<<10)
		}},
		{"negative size", func(c *rawConn) []byte {
			return []byte{0xff, 0xff, 0xff, 0xf0}
		}},
		{"truncated body", func(c *rawConn) []byte {
			r := kmsg.NewPtrMetadataRequest()
			r.Version = 4
			topic := "x"
			r.Topics = []kmsg.MetadataRequestTopic{{Topic: &topic}}
			b := c.frame(r)
			b = b[:len(b)-3]
			binary.BigEndian.PutUint32(b, uint32(len(b)-4))
			return b
		}},
		{"garbage header", func(c *rawConn) []byte {
			return []byte{0, 0, 0, 3, 1, 2, 3}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := dialRaw(t, ta.AdvertisedAddr())
			c.send(tc.frame(c))
			c.expectClosed()
			apiVersions(t, bystander)
		})
	}
}

func TestResponsesLeaveInRequestOrder(t *testing.T) {
	ta := startAgent(t, testConfig(t))
	createTopic(t, ta.client(), "ordered", 1)
	info, _ := ta.Metadata().Topic("ordered")
	c := dialRaw(t, ta.AdvertisedAddr())

	// A long-poll fetch that will wait, then a request that is answered at
	// once: the second answer must not overtake the first.
	fetch := kmsg.NewPtrFetchRequest()
	fetch.Version = 12
	fetch.MaxWaitMillis = 300
	fetch.MinBytes = 1
	fetch.MaxBytes = 1 << 20
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic, ft.TopicID = "ordered", info.ID
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.PartitionMaxBytes = 1 << 20
	ft.Partitions = append(ft.Partitions, fp)
	fetch.Topics = append(fetch.Topics, ft)
	var out []byte
	out = append(out, c.frame(fetch)...)
	av := kmsg.NewPtrApiVersionsRequest()
	av.Version = 3
	out = append(out, c.frame(av)...)
	c.send(out)
	for want := int32(1); want <= 2; want++ {
		corr, _, err := c.readFrame()
		if err != nil {
			t.Fatal(err)
		}
		if corr != want {
			t.Fatalf("response %d carried correlation id %d: responses overtook each other", want, corr)
		}
	}
}

// produceRaw sends one Produce v9 request of the given batches to partition 0.
func produceRaw(t testing.TB, c *rawConn, topic string, acks int16, batches ...[]byte) kmsg.ProduceResponseTopicPartition {
	t.Helper()
	return produceRawWith(t, c, topic, acks, 10000, batches...)
}

// produceRawTimeout is produceRaw with acks=all and the given request timeout.
func produceRawTimeout(t testing.TB, c *rawConn, topic string, timeoutMs int32, batches ...[]byte) kmsg.ProduceResponseTopicPartition {
	t.Helper()
	return produceRawWith(t, c, topic, -1, timeoutMs, batches...)
}

func produceRawWith(t testing.TB, c *rawConn, topic string, acks int16, timeoutMs int32, batches ...[]byte) kmsg.ProduceResponseTopicPartition {
	t.Helper()
	resp := c.roundTrip(produceRequest(topic, acks, timeoutMs, batches...)).(*kmsg.ProduceResponse)
	return resp.Topics[0].Partitions[0]
}

// produceRequest is a v9 Produce of batches to partition 0 of topic.
func produceRequest(topic string, acks int16, timeoutMs int32, batches ...[]byte) *kmsg.ProduceRequest {
	req := kmsg.NewPtrProduceRequest()
	req.Version = 9
	req.Acks = acks
	req.TimeoutMillis = timeoutMs
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = bytes.Join(batches, nil)
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

func batch(pid int64, epoch int16, seq int32, values ...string) []byte {
	var recs []recordbatch.Record
	for _, v := range values {
		recs = append(recs, recordbatch.Record{Value: []byte(v)})
	}
	return recordbatch.Build(recordbatch.BuildOptions{
		FirstTimestamp: time.Now().UnixMilli(),
		ProducerID:     pid, ProducerEpoch: epoch, BaseSequence: seq,
	}, recs)
}

func plainBatch(values ...string) []byte { return batch(-1, -1, -1, values...) }

func TestProduceErrors(t *testing.T) {
	ta := startAgent(t, testConfig(t))
	createTopic(t, ta.client(), "t", 1)
	c := dialRaw(t, ta.AdvertisedAddr())

	badCRC := plainBatch("a")
	badCRC[len(badCRC)-1] ^= 0xff
	oldMagic := plainBatch("a")
	oldMagic[16] = 1
	cases := []struct {
		name  string
		topic string
		batch []byte
		want  int16
	}{
		{"bad crc", "t", badCRC, kerr.CorruptMessage.Code},
		{"truncated batch", "t", plainBatch("abc")[:40], kerr.CorruptMessage.Code},
		{"magic 1", "t", oldMagic, kerr.UnsupportedForMessageFormat.Code},
		{"unknown topic", "missing", plainBatch("a"), kerr.UnknownTopicOrPartition.Code},
		{"good", "t", plainBatch("a", "b"), 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := produceRaw(t, c, tc.topic, -1, tc.batch)
			if p.ErrorCode != tc.want {
				t.Fatalf("error code %d (%v), want %d", p.ErrorCode, kerr.ErrorForCode(p.ErrorCode), tc.want)
			}
		})
	}
	info, _ := ta.Metadata().Topic("t")
	if pi, _ := ta.Metadata().Partition(info.ID, 0); pi.HighWatermark != 2 {
		t.Fatalf("high watermark %d after one good batch of 2 records; rejected batches must not be stored", pi.HighWatermark)
	}
}

// A producer with every request it may send (five, for an idempotent one)
// waiting on the pending file holds its next records until one is answered;
// the agent seals the file then instead of holding it for the rest of the
// flush interval. A producer with requests to spare, or one that is not
// idempotent and so may have more in flight, waits for the interval.
func TestAProducerWithEveryRequestWaitingGetsItsFileSealed(t *testing.T) {
	tests := []struct {
		name       string
		idempotent bool
		requests   int
		sealed     bool
	}{
		{"idempotent, five requests waiting", true, 5, true},
		{"idempotent, four requests waiting", true, 4, false},
		{"not idempotent, five requests waiting", false, 5, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ta := startAgent(t, testConfig(t, withFlushInterval(time.Minute)))
			createTopic(t, ta.client(), "held", 1)
			c := dialRaw(t, ta.AdvertisedAddr())
			pid, epoch := int64(-1), int16(-1)
			if tt.idempotent {
				ir := c.initProducerID(-1, -1)
				if ir.ErrorCode != 0 || ir.ProducerID < 0 {
					t.Fatalf("InitProducerID: error %d id %d", ir.ErrorCode, ir.ProducerID)
				}
				pid, epoch = ir.ProducerID, ir.ProducerEpoch
			}
			for i := range tt.requests {
				seq := int32(-1)
				if tt.idempotent {
					seq = int32(i)
				}
				c.send(c.frame(produceRequest("held", -1, 120_000, batch(pid, epoch, seq, fmt.Sprint("r", i)))))
			}
			wait := time.Second // of a one-minute interval
			if tt.sealed {
				wait = 20 * time.Second
			}
			c.nc.SetReadDeadline(time.Now().Add(wait))
			_, body, err := c.readFrame()
			switch {
			case tt.sealed && err != nil:
				t.Fatalf("no answer within %s of a one-minute flush interval: %v", wait, err)
			case tt.sealed:
				resp := kmsg.NewPtrProduceResponse()
				resp.Version = 9
				if err := resp.ReadFrom(body[1:]); err != nil {
					t.Fatal(err)
				}
				if p := resp.Topics[0].Partitions[0]; p.ErrorCode != 0 || p.BaseOffset != 0 {
					t.Fatalf("first request answered error %d at offset %d, want offset 0", p.ErrorCode, p.BaseOffset)
				}
			case err == nil:
				t.Fatalf("answered within %s of a one-minute flush interval, with requests to spare", wait)
			default:
				if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
					t.Fatalf("connection failed instead of waiting: %v", err)
				}
			}
		})
	}
}

func TestIdempotentSequences(t *testing.T) {
	ta := startAgent(t, testConfig(t))
	createTopic(t, ta.client(), "idem", 1)
	c := dialRaw(t, ta.AdvertisedAddr())

	ir := c.initProducerID(-1, -1)
	if ir.ErrorCode != 0 || ir.ProducerID < 0 {
		t.Fatalf("InitProducerID: error %d id %d", ir.ErrorCode, ir.ProducerID)
	}
	pid, epoch := ir.ProducerID, ir.ProducerEpoch

	steps := []struct {
		name       string
		epoch      int16
		seq        int32
		n          int
		wantCode   int16
		wantOffset int64
	}{
		{"first", epoch, 0, 3, 0, 0},
		{"next", epoch, 3, 2, 0, 3},
		{"retry of first gets its original offset", epoch, 0, 3, 0, 0},
		{"retry of second", epoch, 3, 2, 0, 3},
		{"gap", epoch, 9, 1, kerr.OutOfOrderSequenceNumber.Code, -1},
		{"in order after the gap was refused", epoch, 5, 1, 0, 5},
	}
	for _, s := range steps {
		vals := make([]string, s.n)
		for i := range vals {
			vals[i] = fmt.Sprint(s.seq + int32(i))
		}
		p := produceRaw(t, c, "idem", -1, batch(pid, s.epoch, s.seq, vals...))
		if p.ErrorCode != s.wantCode || (s.wantCode == 0 && p.BaseOffset != s.wantOffset) {
			t.Fatalf("%s: error %d offset %d, want error %d offset %d", s.name, p.ErrorCode, p.BaseOffset, s.wantCode, s.wantOffset)
		}
	}

	// Bump the epoch (KIP-360 re-init); the old epoch is then fenced.
	ir = c.initProducerID(pid, epoch)
	if ir.ErrorCode != 0 || ir.ProducerID != pid || ir.ProducerEpoch != epoch+1 {
		t.Fatalf("re-init: error %d id %d epoch %d, want id %d epoch %d", ir.ErrorCode, ir.ProducerID, ir.ProducerEpoch, pid, epoch+1)
	}
	if p := produceRaw(t, c, "idem", -1, batch(pid, epoch+1, 0, "new")); p.ErrorCode != 0 || p.BaseOffset != 6 {
		t.Fatalf("new epoch from seq 0: error %d offset %d, want offset 6", p.ErrorCode, p.BaseOffset)
	}
	if p := produceRaw(t, c, "idem", -1, batch(pid, epoch, 6, "stale")); p.ErrorCode != kerr.InvalidProducerEpoch.Code {
		t.Fatalf("old epoch: error %d, want INVALID_PRODUCER_EPOCH", p.ErrorCode)
	}
	if p := produceRaw(t, c, "idem", -1, batch(pid, epoch+2, 4, "jump")); p.ErrorCode != kerr.OutOfOrderSequenceNumber.Code {
		t.Fatalf("new epoch not starting at 0: error %d, want OUT_OF_ORDER_SEQUENCE_NUMBER", p.ErrorCode)
	}
}

// fetchReq asks for partition 0 from offset and partition 1 from 0.
func fetchReq(version int16, topic string, id [16]byte, offset int64, partMax int32, wait int32) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.Version = version
	req.MaxWaitMillis = wait
	req.MinBytes = 1
	req.MaxBytes = 50 << 20
	req.SessionEpoch = -1
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic, ft.TopicID = topic, id
	for p := range int32(2) {
		fp := kmsg.NewFetchRequestTopicPartition()
		fp.Partition = p
		if p == 0 {
			fp.FetchOffset = offset
		}
		fp.PartitionMaxBytes = partMax
		fp.LogStartOffset = -1
		ft.Partitions = append(ft.Partitions, fp)
	}
	req.Topics = append(req.Topics, ft)
	return req
}

func TestFetchRules(t *testing.T) {
	onBackends(t, testFetchRules)
}

func testFetchRules(t *testing.T, bucket string) {
	ta := startAgent(t, testConfig(t, withBucket(bucket)))
	createTopic(t, ta.client(), "f", 2)
	info, _ := ta.Metadata().Topic("f")
	c := dialRaw(t, ta.AdvertisedAddr())
	big := make([]byte, 200<<10)
	for i := range big {
		big[i] = byte(i)
	}
	// Two batches on partition 0: offsets 0-2 and 3 (one large record).
	produceRaw(t, c, "f", -1, plainBatch("a", "b", "c"))
	produceRaw(t, c, "f", -1, plainBatch(string(big)))

	for _, version := range []int16{4, 11, 12, 13, 16, 18} {
		t.Run(fmt.Sprintf("v%d", version), func(t *testing.T) {
			fetch := func(offset int64, partMax int32) []kmsg.FetchResponseTopicPartition {
				resp := c.roundTrip(fetchReq(version, "f", info.ID, offset, partMax, 0)).(*kmsg.FetchResponse)
				if resp.ErrorCode != 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 2 {
					t.Fatalf("fetch: error %d, %d topics; every requested partition must be listed", resp.ErrorCode, len(resp.Topics))
				}
				return resp.Topics[0].Partitions
			}
			ps := fetch(1, 1<<20)
			p0 := ps[0]
			wantLSO := int64(0)
			if version < 5 {
				wantLSO = -1 // not in the v4 response
			}
			if p0.ErrorCode != 0 || p0.HighWatermark != 4 || p0.LastStableOffset != 4 || p0.LogStartOffset != wantLSO {
				t.Fatalf("partition 0: error %d hw %d lso %d lso %d", p0.ErrorCode, p0.HighWatermark, p0.LastStableOffset, p0.LogStartOffset)
			}
			offs := batchOffsets(t, p0.RecordBatches)
			if len(offs) != 2 || offs[0] != 0 || offs[1] != 3 {
				t.Fatalf("fetch from offset 1 returned batches at %v, want [0 3] (starting with the batch that holds offset 1)", offs)
			}
			if ps[1].ErrorCode != 0 || ps[1].HighWatermark != 0 || len(ps[1].RecordBatches) != 0 {
				t.Fatalf("empty partition 1: error %d hw %d, %d bytes", ps[1].ErrorCode, ps[1].HighWatermark, len(ps[1].RecordBatches))
			}
			// KIP-74: the large batch comes back whole though it exceeds the limit.
			if offs := batchOffsets(t, fetch(3, 1024)[0].RecordBatches); len(offs) != 1 || offs[0] != 3 {
				t.Fatalf("fetch of a batch larger than max bytes returned %v, want the whole batch at 3", offs)
			}
			// The small batch fits a 1 KiB limit; the large one after it must not be added.
			if offs := batchOffsets(t, fetch(0, 1024)[0].RecordBatches); len(offs) != 1 || offs[0] != 0 {
				t.Fatalf("limited fetch returned batches %v, want only [0]", offs)
			}
			if p := fetch(4, 1<<20)[0]; p.ErrorCode != 0 || len(p.RecordBatches) != 0 {
				t.Fatalf("fetch at the high watermark: error %d, %d bytes; want no error and no records", p.ErrorCode, len(p.RecordBatches))
			}
			if p := fetch(5, 1<<20)[0]; p.ErrorCode != kerr.OffsetOutOfRange.Code {
				t.Fatalf("fetch beyond the high watermark: error %d, want OFFSET_OUT_OF_RANGE", p.ErrorCode)
			}
		})
	}
}

// batchOffsets decodes fetched batches (checking each CRC) and returns their base offsets.
func batchOffsets(t testing.TB, b []byte) []int64 {
	t.Helper()
	bs, err := recordbatch.Split(b)
	if err != nil {
		t.Fatalf("fetched bytes are not valid record batches: %v", err)
	}
	var offs []int64
	for _, x := range bs {
		offs = append(offs, x.Header.BaseOffset)
	}
	return offs
}

func TestLongPollWokenByCommit(t *testing.T) {
	ta := startAgent(t, testConfig(t))
	createTopic(t, ta.client(), "lp", 2)
	info, _ := ta.Metadata().Topic("lp")
	c := dialRaw(t, ta.AdvertisedAddr())
	// MaxWait far beyond the connection deadline: only a wake-up by the
	// commit can answer this fetch in time.
	c.nc.SetDeadline(time.Now().Add(20 * time.Second))
	produced := make(chan struct{})
	go func() {
		defer close(produced)
		time.Sleep(200 * time.Millisecond)
		p := dialRaw(t, ta.AdvertisedAddr())
		produceRaw(t, p, "lp", -1, plainBatch("wake"))
	}()
	defer func() { <-produced }()
	resp := c.roundTrip(fetchReq(12, "lp", info.ID, 0, 1<<20, 120_000)).(*kmsg.FetchResponse)
	if offs := batchOffsets(t, resp.Topics[0].Partitions[0].RecordBatches); len(offs) != 1 {
		t.Fatalf("long poll returned %d batches, want the one produced while it waited", len(offs))
	}
}

func TestListOffsets(t *testing.T) {
	ta := startAgent(t, testConfig(t))
	cl := ta.client()
	createTopic(t, cl, "lo", 1)
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	var recs []*kgo.Record
	for i := range 10 {
		recs = append(recs, &kgo.Record{Topic: "lo", Value: []byte{byte(i)}, Timestamp: base.Add(time.Duration(i) * time.Second)})
	}
	produceAll(t, cl, recs)
	c := dialRaw(t, ta.AdvertisedAddr())
	for _, tc := range []struct {
		name       string
		ts         int64
		wantOffset int64
	}{
		{"latest", -1, 10},
		{"earliest", -2, 0},
		{"exact timestamp", base.Add(4 * time.Second).UnixMilli(), 4},
		{"between timestamps", base.Add(4*time.Second + 500*time.Millisecond).UnixMilli(), 5},
		{"before everything", base.Add(-time.Hour).UnixMilli(), 0},
		{"after everything", base.Add(time.Hour).UnixMilli(), -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := kmsg.NewPtrListOffsetsRequest()
			req.Version = 7
			rt := kmsg.NewListOffsetsRequestTopic()
			rt.Topic = "lo"
			rp := kmsg.NewListOffsetsRequestTopicPartition()
			rp.Timestamp = tc.ts
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
			p := c.roundTrip(req).(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0]
			if p.ErrorCode != 0 || p.Offset != tc.wantOffset {
				t.Fatalf("error %d offset %d, want offset %d", p.ErrorCode, p.Offset, tc.wantOffset)
			}
		})
	}
}

func TestAcksZero(t *testing.T) {
	ta := startAgent(t, testConfig(t))
	createTopic(t, ta.client(), "fire", 1)
	c := dialRaw(t, ta.AdvertisedAddr())
	req := kmsg.NewPtrProduceRequest()
	req.Version = 7
	req.Acks = 0
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = "fire"
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = plainBatch("x", "y")
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	c.send(c.frame(req))
	// No response comes for acks=0: the next answer is ApiVersions'.
	av := kmsg.NewPtrApiVersionsRequest()
	if resp := c.roundTrip(av).(*kmsg.ApiVersionsResponse); resp.ErrorCode != 0 {
		t.Fatalf("ApiVersions after acks=0 produce: %d", resp.ErrorCode)
	}
	info, _ := ta.Metadata().Topic("fire")
	waitFor(t, 10*time.Second, "acks=0 records to be committed", func() bool {
		p, _ := ta.Metadata().Partition(info.ID, 0)
		return p.HighWatermark == 2
	})
}

func TestAdminAPIs(t *testing.T) {
	ta := startAgent(t, testConfig(t))
	c := dialRaw(t, ta.AdvertisedAddr())

	create := kmsg.NewPtrCreateTopicsRequest()
	create.Version = 7
	ct := kmsg.NewCreateTopicsRequestTopic()
	ct.Topic, ct.NumPartitions, ct.ReplicationFactor = "admin", 3, 3
	retention := "3600000"
	ct.Configs = []kmsg.CreateTopicsRequestTopicConfig{{Name: "retention.ms", Value: &retention}}
	create.Topics = append(create.Topics, ct)
	cr := c.roundTrip(create).(*kmsg.CreateTopicsResponse).Topics[0]
	if cr.ErrorCode != 0 || cr.NumPartitions != 3 || cr.TopicID == [16]byte{} {
		t.Fatalf("create: error %d partitions %d id %x", cr.ErrorCode, cr.NumPartitions, cr.TopicID)
	}
	if again := c.roundTrip(create).(*kmsg.CreateTopicsResponse).Topics[0]; again.ErrorCode != kerr.TopicAlreadyExists.Code {
		t.Fatalf("second create: error %d, want TOPIC_ALREADY_EXISTS", again.ErrorCode)
	}
	bad := "nonsense"
	ct.Topic = "badcfg"
	ct.Configs = []kmsg.CreateTopicsRequestTopicConfig{{Name: "cleanup.policy", Value: &bad}}
	create.Topics = []kmsg.CreateTopicsRequestTopic{ct}
	if r := c.roundTrip(create).(*kmsg.CreateTopicsResponse).Topics[0]; r.ErrorCode != kerr.InvalidConfig.Code {
		t.Fatalf("bad config: error %d, want INVALID_CONFIG", r.ErrorCode)
	}

	// Metadata by topic id (v12+) finds it with every partition.
	md := kmsg.NewPtrMetadataRequest()
	md.Version = 12
	md.Topics = []kmsg.MetadataRequestTopic{{TopicID: cr.TopicID}}
	mr := c.roundTrip(md).(*kmsg.MetadataResponse)
	if len(mr.Topics) != 1 || mr.Topics[0].Topic == nil || *mr.Topics[0].Topic != "admin" || len(mr.Topics[0].Partitions) != 3 {
		t.Fatalf("metadata by id: %+v", mr.Topics)
	}
	if mr.ControllerID != ta.NodeID() || len(mr.Brokers) != 1 || mr.Brokers[0].NodeID != ta.NodeID() {
		t.Fatalf("metadata names controller %d and brokers %+v; want this agent %d", mr.ControllerID, mr.Brokers, ta.NodeID())
	}

	// DescribeConfigs: the override is a topic config, the rest defaults.
	dc := kmsg.NewPtrDescribeConfigsRequest()
	dc.Version = 4
	dc.Resources = []kmsg.DescribeConfigsRequestResource{{ResourceType: 2, ResourceName: "admin"}}
	dr := c.roundTrip(dc).(*kmsg.DescribeConfigsResponse).Resources[0]
	sources := map[string]kmsg.ConfigSource{}
	values := map[string]string{}
	for _, cfg := range dr.Configs {
		sources[cfg.Name] = cfg.Source
		if cfg.Value != nil {
			values[cfg.Name] = *cfg.Value
		}
	}
	if values["retention.ms"] != "3600000" || sources["retention.ms"] != kmsg.ConfigSourceDynamicTopicConfig {
		t.Fatalf("retention.ms = %q from source %v, want the override from DYNAMIC_TOPIC_CONFIG", values["retention.ms"], sources["retention.ms"])
	}
	if values["cleanup.policy"] != "delete" || sources["cleanup.policy"] != kmsg.ConfigSourceDefaultConfig {
		t.Fatalf("cleanup.policy = %q from %v, want the default", values["cleanup.policy"], sources["cleanup.policy"])
	}

	// CreatePartitions grows, never shrinks.
	cp := kmsg.NewPtrCreatePartitionsRequest()
	cp.Version = 3
	cp.TimeoutMillis = 5000
	cp.Topics = []kmsg.CreatePartitionsRequestTopic{{Topic: "admin", Count: 5}}
	if r := c.roundTrip(cp).(*kmsg.CreatePartitionsResponse).Topics[0]; r.ErrorCode != 0 {
		t.Fatalf("grow to 5: error %d", r.ErrorCode)
	}
	cp.Topics[0].Count = 2
	if r := c.roundTrip(cp).(*kmsg.CreatePartitionsResponse).Topics[0]; r.ErrorCode != kerr.InvalidPartitions.Code {
		t.Fatalf("shrink: error %d, want INVALID_PARTITIONS", r.ErrorCode)
	}
	if info, _ := ta.Metadata().Topic("admin"); info.Partitions != 5 {
		t.Fatalf("partitions %d after growing to 5", info.Partitions)
	}

	// DescribeCluster names this agent.
	dcl := kmsg.NewPtrDescribeClusterRequest()
	dcl.Version = 1
	if r := c.roundTrip(dcl).(*kmsg.DescribeClusterResponse); r.ClusterID == "" || len(r.Brokers) != 1 || r.ControllerID != ta.NodeID() {
		t.Fatalf("describe cluster: id %q brokers %d controller %d", r.ClusterID, len(r.Brokers), r.ControllerID)
	}

	// DeleteTopics by name, then by id for a missing one.
	del := kmsg.NewPtrDeleteTopicsRequest()
	del.Version = 6
	name := "admin"
	del.Topics = []kmsg.DeleteTopicsRequestTopic{{Topic: &name}}
	if r := c.roundTrip(del).(*kmsg.DeleteTopicsResponse).Topics[0]; r.ErrorCode != 0 {
		t.Fatalf("delete: error %d", r.ErrorCode)
	}
	if _, ok := ta.Metadata().Topic("admin"); ok {
		t.Fatal("topic still exists after delete")
	}
	del.Topics = []kmsg.DeleteTopicsRequestTopic{{TopicID: cr.TopicID}}
	if r := c.roundTrip(del).(*kmsg.DeleteTopicsResponse).Topics[0]; r.ErrorCode != kerr.UnknownTopicID.Code {
		t.Fatalf("delete of a deleted id: error %d, want UNKNOWN_TOPIC_ID", r.ErrorCode)
	}
	_ = errors.New
	_ = context.Background
}

func deleteTopicRaw(t testing.TB, c *rawConn, topic string) {
	t.Helper()
	del := kmsg.NewPtrDeleteTopicsRequest()
	del.Version = 6
	del.Topics = []kmsg.DeleteTopicsRequestTopic{{Topic: &topic}}
	if r := c.roundTrip(del).(*kmsg.DeleteTopicsResponse).Topics[0]; r.ErrorCode != 0 {
		t.Fatalf("delete topic %s: error %d", topic, r.ErrorCode)
	}
}

// Produce frames are recycled once their batches are appended. A client
// that pipelines large produce requests (the next frames arrive while the
// first ones wait for their flush) must read back every record it sent,
// byte for byte.
func TestPipelinedLargeProducesKeepTheirBytes(t *testing.T) {
	ta := startAgent(t, testConfig(t))
	createTopic(t, ta.client(), "big", 1)
	c := dialRaw(t, ta.AdvertisedAddr())
	var sent [][]byte
	var out []byte
	for i := range 8 {
		v := make([]byte, 80<<10+i*37<<10)
		for j := range v {
			v[j] = byte(i*31 + j*7)
		}
		sent = append(sent, v)
		req := kmsg.NewPtrProduceRequest()
		req.Version, req.Acks, req.TimeoutMillis = 9, -1, 10000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = "big"
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Records = recordbatch.Build(recordbatch.BuildOptions{FirstTimestamp: time.Now().UnixMilli(), ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1},
			[]recordbatch.Record{{Value: v}})
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		out = append(out, c.frame(req)...)
	}
	c.send(out) // all eight before any answer
	for i := range sent {
		_, body, err := c.readFrame()
		if err != nil {
			t.Fatalf("produce response %d: %v", i, err)
		}
		resp := kmsg.NewPtrProduceResponse()
		resp.Version = 9
		if err := resp.ReadFrom(body[1:]); err != nil { // past the header's tags
			t.Fatal(err)
		}
		if p := resp.Topics[0].Partitions[0]; p.ErrorCode != 0 || p.BaseOffset != int64(i) {
			t.Fatalf("produce %d: error %d at offset %d, want offset %d", i, p.ErrorCode, p.BaseOffset, i)
		}
	}

	cl := ta.client(kgo.ConsumeTopics("big"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var got [][]byte
	for len(got) < len(sent) && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) { got = append(got, r.Value) })
	}
	if len(got) != len(sent) {
		t.Fatalf("read back %d of %d records", len(got), len(sent))
	}
	for i := range sent {
		if !bytes.Equal(got[i], sent[i]) {
			t.Fatalf("record %d (%d bytes) came back different (%d bytes)", i, len(sent[i]), len(got[i]))
		}
	}
}
