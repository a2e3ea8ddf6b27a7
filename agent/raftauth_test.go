package agent

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// plainStream is raftStream without the peer filter: TCP on loopback.
func plainStream(t *testing.T) *raftStream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return &raftStream{Listener: ln}
}

func authStreamFor(t *testing.T, secret string) *authStream {
	t.Helper()
	s := newAuthStream(plainStream(t), secret, slog.New(slog.DiscardHandler))
	t.Cleanup(func() { s.Close() })
	return s
}

// acceptOne returns the next connection Accept hands to Raft, or nil if
// none comes within wait.
func acceptOne(s *authStream, wait time.Duration) net.Conn {
	got := make(chan net.Conn, 1)
	go func() {
		c, err := s.Accept()
		if err != nil {
			c = nil
		}
		got <- c
	}()
	select {
	case c := <-got:
		return c
	case <-time.After(wait):
		return nil
	}
}

func TestRaftHandshakeSameSecret(t *testing.T) {
	a, b := authStreamFor(t, testSecret), authStreamFor(t, testSecret)
	conn, err := a.Dial(raft.ServerAddress(b.Addr().String()), 5*time.Second)
	if err != nil {
		t.Fatalf("dial with the same secret: %v", err)
	}
	defer conn.Close()
	in := acceptOne(b, 5*time.Second)
	if in == nil {
		t.Fatal("the acceptor never handed the authenticated connection to raft")
	}
	defer in.Close()
	// The streams carry raft's bytes untouched both ways after the handshake.
	conn.Write([]byte("append entries"))
	buf := make([]byte, 14)
	if _, err := io.ReadFull(in, buf); err != nil || string(buf) != "append entries" {
		t.Fatalf("acceptor read %q, %v", buf, err)
	}
	in.Write([]byte("ok"))
	if _, err := io.ReadFull(conn, buf[:2]); err != nil || string(buf[:2]) != "ok" {
		t.Fatalf("dialer read %q, %v", buf[:2], err)
	}
	if a.accepted.Load() != 0 || b.accepted.Load() != 1 || b.refused.Load() != 0 {
		t.Fatalf("counters: a accepted %d, b accepted %d refused %d", a.accepted.Load(), b.accepted.Load(), b.refused.Load())
	}
}

func TestRaftHandshakeRefusesNonMembers(t *testing.T) {
	member := authStreamFor(t, testSecret)
	addr := raft.ServerAddress(member.Addr().String())

	t.Run("wrong secret dialing", func(t *testing.T) {
		intruder := authStreamFor(t, "a different secret, long enough")
		if _, err := intruder.Dial(addr, 5*time.Second); err == nil || !strings.Contains(err.Error(), "secret") {
			t.Fatalf("dial with a wrong secret = %v, want an error about the secret", err)
		}
	})
	t.Run("member dialing a wrong-secret agent", func(t *testing.T) {
		intruder := authStreamFor(t, "a different secret, long enough")
		if _, err := member.Dial(raft.ServerAddress(intruder.Addr().String()), 5*time.Second); err == nil || !strings.Contains(err.Error(), "secret") {
			t.Fatalf("dial to a wrong-secret agent = %v", err)
		}
		if c := acceptOne(intruder, 200*time.Millisecond); c != nil {
			t.Fatal("the wrong-secret agent got a raft connection from a member")
		}
	})
	t.Run("no secret dialing", func(t *testing.T) {
		c, err := net.Dial("tcp", string(addr))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// What raft itself would send: an rpc type byte and msgpack.
		c.Write(append([]byte{1}, bytes.Repeat([]byte{0x80}, 60)...))
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if n, err := c.Read(make([]byte, 1)); err == nil {
			t.Fatalf("a peer without the handshake got %d bytes back", n)
		}
	})
	t.Run("member dialing an agent without a secret", func(t *testing.T) {
		open := plainStream(t)
		defer open.Close()
		go func() {
			c, err := open.Accept()
			if err == nil {
				io.Copy(io.Discard, io.LimitReader(c, 40)) // raft reads, finds no rpc, closes
				c.Close()
			}
		}()
		if _, err := member.Dial(raft.ServerAddress(open.Addr().String()), 5*time.Second); err == nil {
			t.Fatal("a member completed a handshake with an agent that has no secret")
		}
	})
	if c := acceptOne(member, 200*time.Millisecond); c != nil {
		t.Fatal("a non-member's connection reached raft")
	}
	if member.refused.Load() < 2 {
		t.Fatalf("refused counter %d, want at least 2", member.refused.Load())
	}
}

// TestRaftHandshakeSilentPeersDoNotBlock: connections that never speak are
// dropped after the handshake timeout and do not hold up a real peer.
func TestRaftHandshakeSilentPeersDoNotBlock(t *testing.T) {
	a, b := authStreamFor(t, testSecret), authStreamFor(t, testSecret)
	for range 20 {
		c, err := net.Dial("tcp", b.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	conn, err := a.Dial(raft.ServerAddress(b.Addr().String()), raftHandshakeWait/2)
	if err != nil {
		t.Fatalf("a member could not connect while silent connections were open: %v", err)
	}
	conn.Close()
	if acceptOne(b, 5*time.Second) == nil {
		t.Fatal("the member's connection was not accepted")
	}
}
