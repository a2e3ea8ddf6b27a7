package agent

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
)

// Raft stream authentication. With a cluster secret every Raft TCP stream
// starts with a mutual challenge-response before Raft sees a byte:
//
//	dialer   -> acceptor: magic "WISPRFT1" | dialer nonce Nd (32)
//	acceptor -> dialer:   magic "WISPRFT1" | acceptor nonce Na (32) | HMAC(k, "acceptor" | Nd | Na)
//	dialer   -> acceptor: HMAC(k, "dialer" | Nd | Na)
//	acceptor -> dialer:   status byte (0 accepted, 1 refused)
//
// k is derived from the secret. Fresh nonces on both sides make a recorded
// handshake useless, and the role labels stop one side's proof being
// reflected as the other's. A peer that fails is closed before Raft runs:
// it can neither vote, nor send entries, nor receive any.
//
// Handshakes run off the accept path, bounded in number and in time, so a
// flood of silent connections delays no real peer by more than one
// handshake timeout and cannot grow memory.

const (
	raftAuthMagic       = "WISPRFT1"
	raftNonceSize       = 32
	raftHandshakeWait   = 5 * time.Second
	raftMaxHandshakes   = 256
	raftStatusAccepted  = 0
	raftStatusRefused   = 1
	raftAcceptorLabel   = "acceptor"
	raftDialerLabel     = "dialer"
	raftHelloSize       = len(raftAuthMagic) + raftNonceSize
	raftChallengeSize   = len(raftAuthMagic) + raftNonceSize + sha256.Size
	raftRefusalLogEvery = 10 * time.Second
)

// errRaftAuth marks a failed Raft handshake.
var errRaftAuth = errors.New("raft peer authentication failed")

// authStream is a raft.StreamLayer that authenticates every connection both
// ways with the cluster's Raft key.
type authStream struct {
	inner raft.StreamLayer
	key   []byte
	log   *slog.Logger

	conns     chan net.Conn
	done      chan struct{}
	closeOnce sync.Once
	slots     chan struct{} // handshakes in progress

	accepted, refused atomic.Int64
	lastWarn          atomic.Int64
}

var _ raft.StreamLayer = (*authStream)(nil)

func newAuthStream(inner raft.StreamLayer, secret string, log *slog.Logger) *authStream {
	s := &authStream{
		inner: inner,
		key:   deriveKey(secret, purposeRaft),
		log:   log,
		conns: make(chan net.Conn),
		done:  make(chan struct{}),
		slots: make(chan struct{}, raftMaxHandshakes),
	}
	go s.acceptLoop()
	return s
}

func (s *authStream) acceptLoop() {
	var delay time.Duration
	for {
		c, err := s.inner.Accept()
		if err != nil {
			select {
			case <-s.done:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				s.Close()
				return
			}
			delay = min(max(delay*2, 5*time.Millisecond), time.Second)
			time.Sleep(delay)
			continue
		}
		delay = 0
		select {
		case s.slots <- struct{}{}:
		default:
			s.refuse(c, errors.New("too many raft handshakes in progress"))
			continue
		}
		go func() {
			defer func() { <-s.slots }()
			if err := acceptHandshake(c, s.key, raftHandshakeWait); err != nil {
				s.refuse(c, err)
				return
			}
			s.accepted.Add(1)
			select {
			case s.conns <- c:
			case <-s.done:
				c.Close()
			}
		}()
	}
}

func (s *authStream) refuse(c net.Conn, err error) {
	s.refused.Add(1)
	c.Close()
	now := time.Now().UnixNano()
	if last := s.lastWarn.Load(); now-last >= int64(raftRefusalLogEvery) && s.lastWarn.CompareAndSwap(last, now) {
		s.log.Warn("refused a raft connection that did not prove it knows the cluster secret", "remote", c.RemoteAddr().String(), "err", err)
	}
}

// Accept returns the next authenticated connection.
func (s *authStream) Accept() (net.Conn, error) {
	select {
	case c := <-s.conns:
		return c, nil
	case <-s.done:
		return nil, net.ErrClosed
	}
}

// Close stops accepting; handshakes in flight end within their timeout.
func (s *authStream) Close() error {
	var err error
	s.closeOnce.Do(func() {
		close(s.done)
		err = s.inner.Close()
	})
	return err
}

func (s *authStream) Addr() net.Addr { return s.inner.Addr() }

// Dial connects to a peer and authenticates it (and us to it) within timeout.
func (s *authStream) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	start := time.Now()
	c, err := s.inner.Dial(address, timeout)
	if err != nil {
		return nil, err
	}
	if err := dialHandshake(c, s.key, max(timeout-time.Since(start), time.Second)); err != nil {
		c.Close()
		return nil, fmt.Errorf("raft peer %s: %w", address, err)
	}
	return c, nil
}

func raftMAC(key []byte, label string, dialerNonce, acceptorNonce []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(label))
	m.Write(dialerNonce)
	m.Write(acceptorNonce)
	return m.Sum(nil)
}

// acceptHandshake runs the acceptor's side on c.
func acceptHandshake(c net.Conn, key []byte, wait time.Duration) error {
	if err := c.SetDeadline(time.Now().Add(wait)); err != nil {
		return err
	}
	hello := make([]byte, raftHelloSize)
	if _, err := io.ReadFull(c, hello); err != nil {
		return fmt.Errorf("%w: no handshake from the peer: %w", errRaftAuth, err)
	}
	if !bytes.Equal(hello[:len(raftAuthMagic)], []byte(raftAuthMagic)) {
		return fmt.Errorf("%w: the peer did not start the handshake (an agent without --cluster-secret, or not an agent)", errRaftAuth)
	}
	dialerNonce := hello[len(raftAuthMagic):]
	acceptorNonce := make([]byte, raftNonceSize)
	if _, err := rand.Read(acceptorNonce); err != nil {
		return err
	}
	challenge := append([]byte(raftAuthMagic), acceptorNonce...)
	challenge = append(challenge, raftMAC(key, raftAcceptorLabel, dialerNonce, acceptorNonce)...)
	if _, err := c.Write(challenge); err != nil {
		return fmt.Errorf("%w: %w", errRaftAuth, err)
	}
	proof := make([]byte, sha256.Size)
	if _, err := io.ReadFull(c, proof); err != nil {
		return fmt.Errorf("%w: the peer did not answer the challenge (it does not know this cluster's secret): %w", errRaftAuth, err)
	}
	if !hmac.Equal(proof, raftMAC(key, raftDialerLabel, dialerNonce, acceptorNonce)) {
		c.Write([]byte{raftStatusRefused})
		return fmt.Errorf("%w: the peer's proof does not match this cluster's secret", errRaftAuth)
	}
	if _, err := c.Write([]byte{raftStatusAccepted}); err != nil {
		return fmt.Errorf("%w: %w", errRaftAuth, err)
	}
	return c.SetDeadline(time.Time{})
}

// dialHandshake runs the dialer's side on c.
func dialHandshake(c net.Conn, key []byte, wait time.Duration) error {
	if err := c.SetDeadline(time.Now().Add(wait)); err != nil {
		return err
	}
	dialerNonce := make([]byte, raftNonceSize)
	if _, err := rand.Read(dialerNonce); err != nil {
		return err
	}
	if _, err := c.Write(append([]byte(raftAuthMagic), dialerNonce...)); err != nil {
		return fmt.Errorf("%w: %w", errRaftAuth, err)
	}
	challenge := make([]byte, raftChallengeSize)
	if _, err := io.ReadFull(c, challenge); err != nil {
		return fmt.Errorf("%w: no handshake answer (is --cluster-secret set on that agent too?): %w", errRaftAuth, err)
	}
	if !bytes.Equal(challenge[:len(raftAuthMagic)], []byte(raftAuthMagic)) {
		return fmt.Errorf("%w: the peer answered without the handshake (is --cluster-secret set on that agent too?)", errRaftAuth)
	}
	acceptorNonce := challenge[len(raftAuthMagic) : len(raftAuthMagic)+raftNonceSize]
	if !hmac.Equal(challenge[len(raftAuthMagic)+raftNonceSize:], raftMAC(key, raftAcceptorLabel, dialerNonce, acceptorNonce)) {
		return fmt.Errorf("%w: the peer does not know this cluster's secret (different --cluster-secret?)", errRaftAuth)
	}
	if _, err := c.Write(raftMAC(key, raftDialerLabel, dialerNonce, acceptorNonce)); err != nil {
		return fmt.Errorf("%w: %w", errRaftAuth, err)
	}
	var status [1]byte
	if _, err := io.ReadFull(c, status[:]); err != nil {
		return fmt.Errorf("%w: the peer closed the connection after our proof: %w", errRaftAuth, err)
	}
	if status[0] != raftStatusAccepted {
		return fmt.Errorf("%w: the peer refused our proof (different --cluster-secret?)", errRaftAuth)
	}
	return c.SetDeadline(time.Time{})
}
