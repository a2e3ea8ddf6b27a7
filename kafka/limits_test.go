package kafka

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// limitServer serves Kafka on loopback with the given limits.
func limitServer(t *testing.T, cfg Config) (*Server, string) {
	t.Helper()
	s := NewServer(cfg, brokersOnly{bs: []Broker{{NodeID: 1, Host: "127.0.0.1", Port: 9092}}}, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Serve(ln)
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Close(ctx)
		<-done
	})
	return s, ln.Addr().String()
}

// apiVersionsFrame is a complete ApiVersions v0 request frame.
func apiVersionsFrame(corr int32) []byte {
	b := []byte{0, 0, 0, 0}
	b = kbin.AppendInt16(b, 18)
	b = kbin.AppendInt16(b, 0)
	b = kbin.AppendInt32(b, corr)
	b = kbin.AppendNullableString(b, nil)
	b = (&kmsg.ApiVersionsRequest{Version: 0}).AppendTo(b)
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	return b
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// closedWithin reports whether the server closes c within d (a reset,
// when the client wrote after the close, counts too).
func closedWithin(c net.Conn, d time.Duration) bool {
	c.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, c)
	return !errors.Is(err, os.ErrDeadlineExceeded)
}

// answers sends one ApiVersions request and reads the response.
func answers(t *testing.T, c net.Conn, corr int32) bool {
	t.Helper()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(apiVersionsFrame(corr)); err != nil {
		return false
	}
	var size [4]byte
	if _, err := io.ReadFull(c, size[:]); err != nil {
		return false
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(c, body); err != nil {
		return false
	}
	return int32(binary.BigEndian.Uint32(body)) == corr
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestMaxConnectionsRefusesExcess(t *testing.T) {
	s, addr := limitServer(t, Config{MaxConnections: 3})
	var held []net.Conn
	for i := range 3 {
		c := dial(t, addr)
		if !answers(t, c, int32(i)) {
			t.Fatalf("connection %d within the limit was not served", i)
		}
		held = append(held, c)
	}
	extra := dial(t, addr)
	if !closedWithin(extra, 5*time.Second) {
		t.Fatal("a connection beyond --max-connections was not closed")
	}
	if st := s.ConnStats(); st.Refused != 1 || st.Open != 3 {
		t.Fatalf("stats %+v, want 1 refused and 3 open", st)
	}
	held[0].Close()
	waitUntil(t, "the closed connection to leave", func() bool { return s.ConnStats().Open == 2 })
	if !answers(t, dial(t, addr), 9) {
		t.Fatal("a connection was refused after another one closed")
	}
}

func TestSlowRequestIsCut(t *testing.T) {
	s, addr := limitServer(t, Config{RequestReadTimeout: 300 * time.Millisecond})
	slow := dial(t, addr)
	frame := apiVersionsFrame(1)
	// Each byte arrives within any per-read timeout, but the request as a
	// whole never does.
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for _, b := range frame[:len(frame)-1] {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			if _, err := slow.Write([]byte{b}); err != nil {
				return
			}
		}
	}()
	good := dial(t, addr)
	if !answers(t, good, 2) {
		t.Fatal("a normal client was not served next to a slow one")
	}
	if !closedWithin(slow, 5*time.Second) {
		t.Fatal("the slow request's connection was not closed")
	}
	if st := s.ConnStats(); st.SlowClosed != 1 || st.PendingBytes != 0 {
		t.Fatalf("stats %+v, want one slow close and no pending bytes", st)
	}
	if !answers(t, good, 3) {
		t.Fatal("the normal client's connection was hurt")
	}
}

func TestIdleConnectionIsClosed(t *testing.T) {
	s, addr := limitServer(t, Config{ConnectionsMaxIdle: 300 * time.Millisecond})
	c := dial(t, addr)
	if !answers(t, c, 1) {
		t.Fatal("not served")
	}
	start := time.Now()
	if !closedWithin(c, 5*time.Second) {
		t.Fatal("an idle connection was not closed")
	}
	if d := time.Since(start); d < 250*time.Millisecond {
		t.Fatalf("closed after %s, before the idle timeout", d)
	}
	if st := s.ConnStats(); st.IdleClosed != 1 || st.SlowClosed != 0 {
		t.Fatalf("stats %+v, want one idle close", st)
	}
}

// TestPendingBytesBounded: a size prefix reserves memory before readLoop
// allocates it; connections beyond the budget wait for it (without
// allocating), stalled frames are cut, and the budget comes back.
func TestPendingBytesBounded(t *testing.T) {
	const frame = 1 << 20
	s, addr := limitServer(t, Config{MaxRequestBytes: frame, MaxPendingRequestBytes: 2 * frame, RequestReadTimeout: 500 * time.Millisecond})
	announce := func() net.Conn {
		c := dial(t, addr)
		var p [4]byte
		binary.BigEndian.PutUint32(p[:], frame)
		c.Write(append(p[:], 0, 18)) // the start of a 1 MiB frame, then silence
		return c
	}
	var conns []net.Conn
	for range 4 {
		conns = append(conns, announce())
	}
	peak := int64(0)
	waitUntil(t, "every announced frame to be cut", func() bool {
		st := s.ConnStats()
		peak = max(peak, st.PendingBytes)
		return st.SlowClosed+st.BudgetExceeded == 4
	})
	if peak != 2*frame {
		t.Fatalf("at most %d bytes were reserved at once, want exactly the %d budget (two frames waiting for it)", peak, 2*frame)
	}
	for _, c := range conns {
		if !closedWithin(c, 5*time.Second) {
			t.Fatal("a stalled frame's connection stayed open")
		}
	}
	if st := s.ConnStats(); st.PendingBytes != 0 {
		t.Fatalf("stats %+v: want the budget returned", st)
	}
	if !answers(t, dial(t, addr), 5) {
		t.Fatal("no service after the budget was returned")
	}
}

func TestSizePrefixOutOfRangeRefusedUnread(t *testing.T) {
	s, addr := limitServer(t, Config{})
	for _, prefix := range []uint32{0x80000000, 0x7fffffff, 0xffffffff, 3} {
		c := dial(t, addr)
		var p [4]byte
		binary.BigEndian.PutUint32(p[:], prefix)
		c.Write(p[:])
		if !closedWithin(c, 5*time.Second) {
			t.Fatalf("size prefix %#x: connection not closed", prefix)
		}
	}
	if st := s.ConnStats(); st.PendingBytes != 0 {
		t.Fatalf("out-of-range prefixes reserved %d bytes", st.PendingBytes)
	}
}

// TestClientNotReadingIsCut: a client that sends requests and never reads
// the responses is closed, not parked forever. Which limit cuts it depends on
// TCP: the responses fill the buffers and a write times out ("unread"), or
// the client's kernel, its receive buffer full, stops sending mid-frame and
// the request read times out ("slow"); both take the read timeout.
func TestClientNotReadingIsCut(t *testing.T) {
	s, addr := limitServer(t, Config{RequestReadTimeout: 500 * time.Millisecond})
	c := dial(t, addr).(*net.TCPConn)
	c.SetReadBuffer(4 << 10)
	go func() {
		frames := make([]byte, 0, 1<<20)
		for i := range 1 << 16 {
			frames = append(frames, apiVersionsFrame(int32(i))...)
		}
		c.Write(frames) // fails once the server closes the connection
	}()
	waitUntil(t, "the connection to be cut", func() bool {
		st := s.ConnStats()
		return st.Unread+st.SlowClosed == 1 && st.Open == 0
	})
	if !answers(t, dial(t, addr), 1) {
		t.Fatal("no service after cutting a client that does not read")
	}
}

// TestWriteTimeout: a response that cannot leave within the read timeout
// fails the write and is counted, so the writer is never parked for good.
func TestWriteTimeout(t *testing.T) {
	lim := newConnLimits(Config{RequestReadTimeout: 200 * time.Millisecond, MaxPendingRequestBytes: 1 << 20})
	server, client := net.Pipe() // nobody reads client
	defer client.Close()
	c := newLimitConn(server, lim)
	defer c.Close()
	n, err := c.Write(make([]byte, 3*writeChunk))
	if !errors.Is(err, os.ErrDeadlineExceeded) || n != 0 {
		t.Fatalf("Write to a client that never reads = %d, %v; want a deadline error", n, err)
	}
	if lim.unread.Load() != 1 {
		t.Fatalf("unread counter %d, want 1", lim.unread.Load())
	}
	// A client that reads, however slowly, gets every byte.
	go io.Copy(io.Discard, client)
	if n, err := c.Write(make([]byte, 3*writeChunk)); err != nil || n != 3*writeChunk {
		t.Fatalf("Write to a reading client = %d, %v", n, err)
	}
}

// TestCloseDoesNotWaitForBudget: connections waiting for the pending-bytes
// budget do not hold up a shutdown until their read timeout.
func TestCloseDoesNotWaitForBudget(t *testing.T) {
	const frame = 1 << 20
	s := NewServer(Config{MaxRequestBytes: frame, MaxPendingRequestBytes: frame, RequestReadTimeout: time.Minute},
		brokersOnly{bs: []Broker{{NodeID: 1}}}, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	for range 3 {
		c := dial(t, ln.Addr().String())
		var p [4]byte
		binary.BigEndian.PutUint32(p[:], frame)
		c.Write(append(p[:], 0, 18))
	}
	waitUntil(t, "one frame to hold the whole budget", func() bool { return s.ConnStats().PendingBytes == frame })
	closed := make(chan struct{})
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		s.Close(ctx)
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(20 * time.Second):
		t.Fatal("Close waited for connections parked on the budget")
	}
	if st := s.ConnStats(); st.PendingBytes != 0 || st.Open != 0 {
		t.Fatalf("after Close: %+v", st)
	}
}
