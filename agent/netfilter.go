package agent

import (
	"context"
	"errors"
	"net"
	"time"

	"github.com/hashicorp/raft"
)

// PeerFilter reports whether traffic with the agent at ip must be dropped.
// It is the network fault seam of the agent-to-agent paths (Raft, forwarded
// writes, the shared cache, gossip): tests cut an agent off and heal it by
// changing what it returns. Kafka client traffic is never filtered.
type PeerFilter func(ip string) bool

var errPartitioned = errors.New("peer unreachable (partitioned)")

func hostOf(addr string) string {
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return addr
}

// filteredConn fails every read and write while its peer is cut off, so
// pooled connections die with the partition instead of outliving it.
type filteredConn struct {
	net.Conn
	peer    string
	blocked PeerFilter
}

func (c *filteredConn) Read(b []byte) (int, error) {
	if c.blocked(c.peer) {
		c.Conn.Close()
		return 0, errPartitioned
	}
	return c.Conn.Read(b)
}

func (c *filteredConn) Write(b []byte) (int, error) {
	if c.blocked(c.peer) {
		c.Conn.Close()
		return 0, errPartitioned
	}
	return c.Conn.Write(b)
}

// filteredListener drops connections from cut-off peers.
type filteredListener struct {
	net.Listener
	blocked PeerFilter
}

func (l *filteredListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		peer := hostOf(c.RemoteAddr().String())
		if l.blocked(peer) {
			c.Close()
			continue
		}
		return &filteredConn{Conn: c, peer: peer, blocked: l.blocked}, nil
	}
}

// peerDialer dials other agents from this agent's own address, so a peer
// can tell who is calling when agents share a host on 127.0.0.x addresses.
type peerDialer struct {
	local   net.Addr
	blocked PeerFilter
}

func (d peerDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	peer := hostOf(addr)
	if d.blocked != nil && d.blocked(peer) {
		return nil, errPartitioned
	}
	nd := net.Dialer{Timeout: 5 * time.Second, LocalAddr: d.local}
	c, err := nd.DialContext(ctx, network, addr)
	if err != nil || d.blocked == nil {
		return c, err
	}
	return &filteredConn{Conn: c, peer: peer, blocked: d.blocked}, nil
}

// localTCPAddr is the address to dial from: the bind host when it is a
// specific IP, else any.
func localTCPAddr(bind string) net.Addr {
	ip := net.ParseIP(hostOf(bind))
	if ip == nil || ip.IsUnspecified() {
		return nil
	}
	return &net.TCPAddr{IP: ip}
}

// raftStream is Raft's stream layer over TCP, through the peer filter.
type raftStream struct {
	net.Listener
	advertise net.Addr
	dial      peerDialer
}

func (s *raftStream) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return s.dial.DialContext(ctx, "tcp", string(address))
}

func (s *raftStream) Addr() net.Addr {
	if s.advertise != nil {
		return s.advertise
	}
	return s.Listener.Addr()
}
