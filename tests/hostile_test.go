package tests

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/wisp-stream/wisp/agent"
)

// Hostile clients against one real agent: random bytes, truncated frames,
// size prefixes of 2 GiB and at the size limit, slowloris writers, a client
// that never reads its responses and ten thousand idle connections. Throughout, a franz-go producer on its own connection
// keeps producing and getting acks, the agent stays up, its heap stays
// within a bound that a per-connection leak or an unbounded allocation
// would break, and every acked record is readable at the end.

const (
	hostileMaxConns    = 4000
	hostileIdleConns   = 10000
	hostileReadTimeout = 2 * time.Second
	hostileFrameLimit  = 64 << 20
)

// heapInUse is the agent process's live heap after a collection (the agent
// runs in this process; the test's own sockets are small next to it).
func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// raiseFileLimit makes room for the idle connections: both ends of each
// live in this process.
func raiseFileLimit(t *testing.T, need uint64) {
	t.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if lim.Cur < need {
		lim.Cur = min(max(need, lim.Cur), lim.Max)
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			t.Fatalf("raise the open-file limit to %d: %v", need, err)
		}
	}
	if lim.Cur < need {
		t.Fatalf("this test needs %d open files; the hard limit is %d (raise it with ulimit -Hn)", need, lim.Max)
	}
}

// steadyProducer produces one record at a time until stopped, keeping what
// was acked, and fails the test when a produce fails.
type steadyProducer struct {
	acked   atomic.Int64
	mu      sync.Mutex
	values  map[string]bool
	errs    chan error
	stop    chan struct{}
	stopped chan struct{}
}

func startSteadyProducer(t *testing.T, ta *testAgent, topic string) *steadyProducer {
	cl := ta.client(kgo.RecordRetries(0), kgo.RequestRetries(0), kgo.ProduceRequestTimeout(20*time.Second))
	createTopicIfMissing(t, cl, topic, 1)
	p := &steadyProducer{values: map[string]bool{}, errs: make(chan error, 1), stop: make(chan struct{}), stopped: make(chan struct{})}
	go func() {
		defer close(p.stopped)
		for i := 0; ; i++ {
			select {
			case <-p.stop:
				return
			default:
			}
			v := fmt.Sprintf("steady-%06d", i)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte(v)}).FirstErr()
			cancel()
			if err != nil {
				p.errs <- fmt.Errorf("produce %s: %w", v, err)
				return
			}
			p.mu.Lock()
			p.values[v] = true
			p.mu.Unlock()
			p.acked.Add(1)
		}
	}()
	return p
}

// progressing waits until the producer gets more acks, failing on errors.
func (p *steadyProducer) progressing(t *testing.T, during string) {
	t.Helper()
	start := p.acked.Load()
	deadline := time.Now().Add(30 * time.Second)
	for p.acked.Load() < start+5 {
		select {
		case err := <-p.errs:
			t.Fatalf("during %s: %v", during, err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("during %s the producer got %d acks in 30s", during, p.acked.Load()-start)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (p *steadyProducer) finish(t *testing.T) map[string]bool {
	t.Helper()
	close(p.stop)
	<-p.stopped
	select {
	case err := <-p.errs:
		t.Fatal(err)
	default:
	}
	return p.values
}

// eventuallyClosed reports whether the agent closes c within d (a reset,
// when the client wrote after the close, counts too).
func eventuallyClosed(c net.Conn, d time.Duration) bool {
	c.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, c)
	return !errors.Is(err, os.ErrDeadlineExceeded)
}

func dialKafka(t *testing.T, ta *testAgent) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", ta.KafkaAddr(), 10*time.Second)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	return c
}

// apiVersionsFrame is a complete ApiVersions v0 request.
func apiVersionsFrame() []byte {
	return []byte{0, 0, 0, 10, 0, 18, 0, 0, 0, 0, 0, 1, 0xff, 0xff}
}

func TestHostileClients(t *testing.T) {
	raiseFileLimit(t, hostileIdleConns+hostileMaxConns+1000)
	ta := startAgent(t, testConfig(t, func(c *agent.Config) {
		c.MaxConnections = hostileMaxConns
		c.RequestReadTimeout = hostileReadTimeout
		c.MaxRequestBytes = hostileFrameLimit
		c.MaxPendingRequestBytes = 2 * hostileFrameLimit
	}))
	prod := startSteadyProducer(t, ta, "steady")
	prod.progressing(t, "warm-up")
	base := heapInUse()
	peak := base
	sample := func() { peak = max(peak, heapInUse()) }
	t.Logf("heap in use at start: %d MiB", base>>20)

	t.Run("random bytes", func(t *testing.T) {
		var wg sync.WaitGroup
		for range 50 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := dialKafka(t, ta)
				defer c.Close()
				junk := make([]byte, 64<<10)
				rand.Read(junk)
				c.Write(junk)
				if !eventuallyClosed(c, 2*hostileReadTimeout+5*time.Second) {
					t.Error("a connection sending random bytes was not closed")
				}
			}()
		}
		wg.Wait()
		prod.progressing(t, "random bytes")
	})

	t.Run("truncated frames", func(t *testing.T) {
		frame := apiVersionsFrame()
		for _, cut := range []int{1, 3, 4, 6, len(frame) - 1} {
			c := dialKafka(t, ta)
			c.Write(frame[:cut])
			c.(*net.TCPConn).CloseWrite()
			if !eventuallyClosed(c, 10*time.Second) {
				t.Fatalf("a frame cut after %d bytes left the connection open", cut)
			}
			c.Close()
		}
		// The agent still answers a whole frame on a fresh connection.
		c := dialKafka(t, ta)
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		c.Write(frame)
		var size [4]byte
		if _, err := io.ReadFull(c, size[:]); err != nil {
			t.Fatalf("no answer to a whole frame after truncated ones: %v", err)
		}
		prod.progressing(t, "truncated frames")
	})

	t.Run("2 GiB and negative size prefixes", func(t *testing.T) {
		for _, size := range []uint32{1 << 31, 1<<31 - 1, 0xffffffff, hostileFrameLimit + 1} {
			c := dialKafka(t, ta)
			var p [4]byte
			binary.BigEndian.PutUint32(p[:], size)
			c.Write(p[:])
			if !eventuallyClosed(c, 10*time.Second) {
				t.Fatalf("size prefix %#x: connection not closed", size)
			}
			c.Close()
		}
		sample()
		prod.progressing(t, "huge size prefixes")
	})

	t.Run("many announced frames at the size limit", func(t *testing.T) {
		// Each connection announces a whole frame and sends a few bytes:
		// without the pending-bytes budget each would allocate 64 MiB.
		var conns []net.Conn
		for range 40 {
			c := dialKafka(t, ta)
			var p [4]byte
			binary.BigEndian.PutUint32(p[:], hostileFrameLimit)
			c.Write(append(p[:], 0, 0, 0, 18))
			conns = append(conns, c)
		}
		time.Sleep(hostileReadTimeout / 2)
		sample()
		if got := metricSum(t, ta, "wisp_kafka_pending_request_bytes", nil); got > 2*hostileFrameLimit {
			t.Fatalf("%v bytes reserved for partial frames, over the %d budget", got, 2*hostileFrameLimit)
		}
		for _, c := range conns {
			if !eventuallyClosed(c, 2*hostileReadTimeout+10*time.Second) {
				t.Fatal("a stalled frame's connection stayed open")
			}
			c.Close()
		}
		prod.progressing(t, "announced frames")
	})

	t.Run("slowloris", func(t *testing.T) {
		var wg sync.WaitGroup
		for range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := dialKafka(t, ta)
				defer c.Close()
				frame := append([]byte{0, 0, 3, 0}, make([]byte, 768)...) // a 768-byte request, one byte at a time
				done := make(chan bool, 1)
				go func() { done <- eventuallyClosed(c, 4*hostileReadTimeout+10*time.Second) }()
				for _, b := range frame {
					if _, err := c.Write([]byte{b}); err != nil {
						break
					}
					select {
					case closed := <-done:
						if !closed {
							t.Error("a slowloris connection was not closed")
						}
						return
					case <-time.After(200 * time.Millisecond):
					}
				}
				t.Error("the slowloris sent its whole frame: it was never cut")
			}()
		}
		prod.progressing(t, "slowloris")
		wg.Wait()
		if n := metricSum(t, ta, "wisp_kafka_connections_closed_total", map[string]string{"reason": "slow"}); n < 20 {
			t.Fatalf("%v connections closed as slow, want at least 20", n)
		}
	})

	t.Run("a client that never reads", func(t *testing.T) {
		// Cut either when a response cannot leave (unread) or when the
		// client's kernel, its receive buffer full, stops sending mid-frame
		// (slow); either way within the read timeout, not parked forever.
		cut := func() float64 {
			return metricSum(t, ta, "wisp_kafka_connections_closed_total", map[string]string{"reason": "unread"}) +
				metricSum(t, ta, "wisp_kafka_connections_closed_total", map[string]string{"reason": "slow"})
		}
		before := cut()
		c := dialKafka(t, ta)
		defer c.Close()
		c.(*net.TCPConn).SetReadBuffer(4 << 10)
		frames := make([]byte, 0, 1<<20)
		for range 1 << 16 {
			frames = append(frames, apiVersionsFrame()...)
		}
		go c.Write(frames) // ends when the agent closes the connection
		waitFor(t, 4*hostileReadTimeout+10*time.Second, "the non-reading client to be cut", func() bool {
			return cut() >= before+1
		})
		prod.progressing(t, "a client that never reads")
	})

	t.Run("ten thousand idle connections", func(t *testing.T) {
		before := heapInUse()
		conns := make([]net.Conn, 0, hostileIdleConns)
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for range hostileIdleConns {
			c, err := net.DialTimeout("tcp", ta.KafkaAddr(), 10*time.Second)
			if err != nil {
				t.Fatalf("dial %d: %v", len(conns), err)
			}
			conns = append(conns, c)
		}
		waitFor(t, 30*time.Second, "the excess connections to be refused", func() bool {
			return metricSum(t, ta, "wisp_kafka_connections_refused_total", nil) >= hostileIdleConns-hostileMaxConns
		})
		open := metricSum(t, ta, "wisp_kafka_connections", nil)
		if open > hostileMaxConns {
			t.Fatalf("%v connections served, over --max-connections %d", open, hostileMaxConns)
		}
		held := heapInUse()
		sample()
		perConn := (int64(held) - int64(before)) / int64(open)
		t.Logf("%v connections held, %d refused; heap %d MiB -> %d MiB (%d KiB per held connection)",
			open, int(metricSum(t, ta, "wisp_kafka_connections_refused_total", nil)), before>>20, held>>20, perConn>>10)
		// Each held connection costs its two goroutines and its read and
		// write buffers (about 130 KiB); a leak of a request-sized buffer
		// per connection would be hundreds of times more.
		if perConn > 256<<10 {
			t.Fatalf("%d KiB of heap per idle connection", perConn>>10)
		}
		prod.progressing(t, "ten thousand idle connections")
		for _, c := range conns {
			c.Close()
		}
		conns = nil
		waitFor(t, 30*time.Second, "the idle connections to be released", func() bool {
			return metricSum(t, ta, "wisp_kafka_connections", nil) < 100
		})
	})

	// The agent is up and every acked record is there.
	resp, err := http.Get("http://" + ta.HTTPAddr() + "/healthz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz after the hostile clients: %v %v", resp, err)
	}
	resp.Body.Close()
	acked := prod.finish(t)
	t.Logf("the producer got %d acks during the test; peak heap %d MiB (start %d MiB)", len(acked), peak>>20, base>>20)
	if limit := base + 2*hostileFrameLimit + hostileMaxConns*(256<<10) + 256<<20; peak > limit {
		t.Fatalf("peak heap %d MiB over the %d MiB bound", peak>>20, limit>>20)
	}
	for _, r := range consumeN(t, ta, "steady", len(acked)) {
		delete(acked, string(r.Value))
	}
	if len(acked) != 0 {
		t.Fatalf("%d acked records are missing", len(acked))
	}
}
