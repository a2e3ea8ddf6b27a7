package kafka

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/wisp-stream/wisp/fsm"
	"github.com/wisp-stream/wisp/kafka/recordbatch"
)

// FuzzRequest feeds one request frame through a real connection: the
// connection loop (size prefix, header, body decode, dispatch to the API's
// handler, response encoding) over an in-memory socket, against a real
// metadata state machine. Whatever the bytes, the agent must not panic or
// hang, and must answer with at most one well-formed response carrying the
// request's correlation id, or close the connection.
//
// The input is the frame without its 4-byte size, which the harness adds:
// a random size prefix would almost always be refused before decoding. The
// committed corpus (testdata/fuzz/FuzzRequest) holds every served API at
// its lowest and highest version as franz-go's encoder writes them, plus
// richer requests; `make fuzz-corpus` regenerates it.
func FuzzRequest(f *testing.F) {
	for i, req := range richRequests() {
		f.Add(encodeRequest(req, int32(i))[4:])
	}
	f.Add([]byte{})
	f.Add([]byte{0, 18, 0, 3, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, body []byte) {
		frame := binary.BigEndian.AppendUint32(nil, uint32(len(body)))
		out, err := serveFrames(append(frame, body...))
		if err != nil {
			t.Fatal(err)
		}
		checkResponses(t, body, out)
	})
}

// checkResponses: at most one response, framed, for the request's id.
func checkResponses(t *testing.T, body, out []byte) {
	t.Helper()
	n := 0
	for len(out) > 0 {
		if len(out) < 8 {
			t.Fatalf("response stream ends with %d stray bytes", len(out))
		}
		size := int(binary.BigEndian.Uint32(out))
		if size < 4 || size > len(out)-4 {
			t.Fatalf("response frame size %d with %d bytes left", size, len(out)-4)
		}
		if len(body) < 8 {
			t.Fatalf("a response to a %d-byte frame, too short for a header", len(body))
		}
		if got, want := binary.BigEndian.Uint32(out[4:]), binary.BigEndian.Uint32(body[4:]); got != want {
			t.Fatalf("response correlation id %d, request's %d", got, want)
		}
		out = out[4+size:]
		n++
	}
	if n > 1 {
		t.Fatalf("%d responses to one request", n)
	}
}

// serveFrames runs one connection of a fresh server over in, then ends
// the client's side, and returns everything the server wrote.
func serveFrames(in []byte) ([]byte, error) {
	s := NewServer(Config{
		NodeID: 1, AdvertisedHost: "127.0.0.1", AdvertisedPort: 9092,
		MaxRequestBytes: 4 << 20, AutoCreateTopics: true,
	}, newFuzzBackend(), slog.New(slog.DiscardHandler))
	client, server := memConnPair()
	ln := &oneConnListener{c: server, closed: make(chan struct{})}
	served := make(chan struct{})
	go func() {
		defer close(served)
		s.Serve(ln)
	}()
	var out []byte
	read := make(chan error, 1)
	go func() {
		var err error
		out, err = io.ReadAll(client)
		read <- err
	}()
	client.Write(in)
	client.CloseWrite()
	var err error
	select {
	case err = <-read:
	case <-time.After(10 * time.Second):
		err = errors.New("the connection neither answered nor closed within 10s of the client's end")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.Close(ctx)
	client.Close()
	<-served
	return out, err
}

// fuzzBackend is a Backend over a real FSM applied in memory: a fake
// only in that there is no Raft, no bucket and no flusher.
type fuzzBackend struct {
	Backend // methods added later panic, so the fuzzer reports them
	mu      sync.Mutex
	index   uint64
	md      *fsm.FSM
}

func newFuzzBackend() *fuzzBackend {
	b := &fuzzBackend{md: fsm.New(nil)}
	ctx := context.Background()
	b.Apply(ctx, &fsm.InitCluster{ClusterID: "fuzz", NowMs: 1})
	b.Apply(ctx, &fsm.CreateTopic{Name: "t", ID: [16]byte{1}, Partitions: 3, NowMs: 1})
	return b
}

func (b *fuzzBackend) Metadata() *fsm.FSM { return b.md }

func (b *fuzzBackend) Apply(_ context.Context, cmd fsm.Command) (any, error) {
	data, err := fsm.Encode(cmd)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	b.index++
	res := b.md.Apply(&raft.Log{Index: b.index, Data: data})
	b.mu.Unlock()
	if err, ok := res.(error); ok {
		return nil, err
	}
	return res, nil
}

func (b *fuzzBackend) SealSoon() {}

func (b *fuzzBackend) Append(_ context.Context, batches []ProduceBatch) (Ticket, error) {
	return doneTicket(len(batches)), nil
}

func (b *fuzzBackend) ReadAt(context.Context, string, int64, int64) ([]byte, error) {
	return nil, errors.New("fuzz backend has no bucket")
}

func (b *fuzzBackend) Brokers() []Broker {
	return []Broker{{NodeID: 1, Host: "127.0.0.1", Port: 9092}}
}

func (b *fuzzBackend) SyncMetadata(context.Context) error { return nil }

// doneTicket is a produce request committed at once at offset 0.
type doneTicket int

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

func (t doneTicket) Done() <-chan struct{} { return closedChan }
func (t doneTicket) Results() ([]fsm.BatchResult, error) {
	return make([]fsm.BatchResult, t), nil
}

// memConn is one end of an in-memory connection whose write side can be
// closed on its own (as TCP can), so the server sees the end of the
// client's requests while it can still answer them.
type memConn struct {
	r *io.PipeReader
	w *io.PipeWriter
}

func memConnPair() (*memConn, *memConn) {
	ar, bw := io.Pipe()
	br, aw := io.Pipe()
	return &memConn{r: ar, w: aw}, &memConn{r: br, w: bw}
}

func (c *memConn) Read(p []byte) (int, error)  { return c.r.Read(p) }
func (c *memConn) Write(p []byte) (int, error) { return c.w.Write(p) }
func (c *memConn) CloseWrite() error           { return c.w.Close() }
func (c *memConn) Close() error {
	c.w.Close()
	return c.r.Close()
}
func (c *memConn) LocalAddr() net.Addr              { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9092} }
func (c *memConn) RemoteAddr() net.Addr             { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000} }
func (c *memConn) SetDeadline(time.Time) error      { return nil }
func (c *memConn) SetReadDeadline(time.Time) error  { return nil }
func (c *memConn) SetWriteDeadline(time.Time) error { return nil }

// oneConnListener accepts one connection, then blocks until closed.
type oneConnListener struct {
	mu     sync.Mutex
	c      net.Conn
	once   sync.Once
	closed chan struct{}
}

func (l *oneConnListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	c := l.c
	l.c = nil
	l.mu.Unlock()
	if c != nil {
		return c, nil
	}
	<-l.closed
	return nil, net.ErrClosed
}

func (l *oneConnListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *oneConnListener) Addr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9092}
}

// encodeRequest is the frame franz-go would send for req.
func encodeRequest(req kmsg.Request, corr int32) []byte {
	return kmsg.NewRequestFormatter(kmsg.FormatterClientID("fuzz")).AppendRequest(nil, req, corr)
}

// richRequests are requests with content, aimed at the topic the fuzz
// backend holds, so handlers get past their first checks.
func richRequests() []kmsg.Request {
	batch := recordbatch.Build(recordbatch.BuildOptions{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1},
		[]recordbatch.Record{{Key: []byte("k"), Value: []byte("v")}, {Value: []byte("w")}})
	topic := "t"
	produce := kmsg.NewPtrProduceRequest()
	produce.Version, produce.Acks, produce.TimeoutMillis = 9, -1, 1000
	pt := kmsg.NewProduceRequestTopic()
	pt.Topic = topic
	pp := kmsg.NewProduceRequestTopicPartition()
	pp.Records = batch
	pt.Partitions = append(pt.Partitions, pp)
	produce.Topics = append(produce.Topics, pt)

	fetch := kmsg.NewPtrFetchRequest()
	fetch.Version, fetch.MaxWaitMillis, fetch.MaxBytes = 12, 10, 1<<20
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = topic
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.PartitionMaxBytes = 1 << 20
	ft.Partitions = append(ft.Partitions, fp)
	fetch.Topics = append(fetch.Topics, ft)

	meta := kmsg.NewPtrMetadataRequest()
	meta.Version, meta.AllowAutoTopicCreation = 12, true
	for _, name := range []string{topic, "auto"} {
		mt := kmsg.NewMetadataRequestTopic()
		mt.Topic = kmsg.StringPtr(name)
		meta.Topics = append(meta.Topics, mt)
	}

	create := kmsg.NewPtrCreateTopicsRequest()
	create.Version = 7
	ct := kmsg.NewCreateTopicsRequestTopic()
	ct.Topic, ct.NumPartitions, ct.ReplicationFactor = "c", 2, -1
	cc := kmsg.NewCreateTopicsRequestTopicConfig()
	cc.Name, cc.Value = "cleanup.policy", kmsg.StringPtr("compact")
	ct.Configs = append(ct.Configs, cc)
	create.Topics = append(create.Topics, ct)

	list := kmsg.NewPtrListOffsetsRequest()
	list.Version = 7
	lt := kmsg.NewListOffsetsRequestTopic()
	lt.Topic = topic
	lp := kmsg.NewListOffsetsRequestTopicPartition()
	lp.Timestamp = -1
	lt.Partitions = append(lt.Partitions, lp)
	list.Topics = append(list.Topics, lt)

	join := kmsg.NewPtrJoinGroupRequest()
	join.Version, join.Group, join.SessionTimeoutMillis, join.RebalanceTimeoutMillis, join.ProtocolType = 9, "g", 10000, 10000, "consumer"
	jp := kmsg.NewJoinGroupRequestProtocol()
	jp.Name, jp.Metadata = "range", []byte{0, 1, 0, 0, 0, 1, 0, 1, 't', 0, 0, 0, 0}
	join.Protocols = append(join.Protocols, jp)

	commit := kmsg.NewPtrOffsetCommitRequest()
	commit.Version, commit.Group, commit.Generation = 8, "g", -1
	ot := kmsg.NewOffsetCommitRequestTopic()
	ot.Topic = topic
	op := kmsg.NewOffsetCommitRequestTopicPartition()
	op.Offset = 0
	ot.Partitions = append(ot.Partitions, op)
	commit.Topics = append(commit.Topics, ot)

	initPID := kmsg.NewPtrInitProducerIDRequest()
	initPID.Version, initPID.ProducerID, initPID.ProducerEpoch = 4, -1, -1

	apiv := kmsg.NewPtrApiVersionsRequest()
	apiv.Version, apiv.ClientSoftwareName, apiv.ClientSoftwareVersion = 3, "wisp-fuzz", "1"

	find := kmsg.NewPtrFindCoordinatorRequest()
	find.Version, find.CoordinatorKeys = 4, []string{"g"}

	return []kmsg.Request{apiv, meta, produce, fetch, create, list, join, commit, initPID, find}
}

// corpusRequests is the committed seed corpus: every served API at its
// lowest and highest version with franz-go's defaults, and richRequests.
func corpusRequests() map[string]kmsg.Request {
	out := map[string]kmsg.Request{}
	for _, a := range sortedAPIs() {
		for _, v := range []int16{a.min, a.max} {
			req := kmsg.RequestForKey(a.key)
			if d, ok := req.(interface{ Default() }); ok {
				d.Default()
			}
			req.SetVersion(v)
			out[fmt.Sprintf("%s-v%d", kmsg.NameForKey(a.key), v)] = req
		}
	}
	for _, req := range richRequests() {
		out[fmt.Sprintf("rich-%s-v%d", kmsg.NameForKey(req.Key()), req.GetVersion())] = req
	}
	return out
}

// TestUpdateFuzzCorpus writes the seed corpus when WISP_UPDATE_FUZZ_CORPUS
// is set (`make fuzz-corpus`); otherwise it checks that every committed
// seed is a frame this harness answers sanely.
func TestUpdateFuzzCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzRequest")
	if os.Getenv("WISP_UPDATE_FUZZ_CORPUS") != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, req := range corpusRequests() {
			writeCorpusFile(t, filepath.Join(dir, "seed-"+name), encodeRequest(req, 7)[4:])
		}
	}
	for name, req := range corpusRequests() {
		body := encodeRequest(req, 7)[4:]
		out, err := serveFrames(append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		checkResponses(t, body, out)
		// acks=0 produce is never answered; joins and syncs park until the
		// rebalance, and the client's end releases them unanswered.
		unanswered := req.Key() == 0 && req.(*kmsg.ProduceRequest).Acks == 0 ||
			req.Key() == 11 || req.Key() == 14
		if len(out) == 0 && !unanswered {
			t.Errorf("%s: a valid request from franz-go's encoder got no response", name)
		}
	}
}

// writeCorpusFile writes one []byte seed in the go test fuzz v1 format.
func writeCorpusFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", b), 0o644); err != nil {
		t.Fatal(err)
	}
}
