package gossip

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
)

// errPartitioned is what a dial to a blocked address fails with.
var errPartitioned = errors.New("gossip: address blocked by partition")

// faultTransport wraps memberlist's UDP+TCP transport with a switchable
// partition: the fault seam tests use to cut an agent off (see
// Gossip.Partition). With no partition set it only forwards.
type faultTransport struct {
	inner   *memberlist.NetTransport
	blocked atomic.Pointer[func(addr string) bool]
	packets chan *memberlist.Packet
	closing chan struct{} // closed first by Shutdown: drop what cannot be handed over
	done    chan struct{} // closed once the inner transport is down: stop the pump
	wg      sync.WaitGroup
	once    sync.Once
}

var _ memberlist.NodeAwareTransport = (*faultTransport)(nil)

// newFaultTransport binds ip:port (port 0 picks one free for both TCP and
// UDP, retrying as the pair can collide).
func newFaultTransport(ip string, port int, cfg *memberlist.NetTransportConfig) (*faultTransport, error) {
	cfg.BindAddrs, cfg.BindPort = []string{ip}, port
	attempts := 1
	if port == 0 {
		attempts = 10
	}
	var inner *memberlist.NetTransport
	var err error
	for range attempts {
		if inner, err = memberlist.NewNetTransport(cfg); err == nil {
			break
		}
		if !strings.Contains(err.Error(), "address already in use") {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	t := &faultTransport{inner: inner, packets: make(chan *memberlist.Packet),
		closing: make(chan struct{}), done: make(chan struct{})}
	t.wg.Add(1)
	go t.pumpPackets()
	return t, nil
}

// port returns the bound port.
func (t *faultTransport) port() int { return t.inner.GetAutoBindPort() }

func (t *faultTransport) setBlocked(f func(addr string) bool) {
	if f == nil {
		t.blocked.Store(nil)
		return
	}
	t.blocked.Store(&f)
}

func (t *faultTransport) isBlocked(addr string) bool {
	f := t.blocked.Load()
	return f != nil && (*f)(addr)
}

// pumpPackets forwards inbound packets, dropping those from blocked peers.
// memberlist sends UDP from its bound socket, so a packet's source is the
// sender's gossip address.
func (t *faultTransport) pumpPackets() {
	defer t.wg.Done()
	in := t.inner.PacketCh()
	for {
		select {
		case p := <-in:
			if p.From != nil && t.isBlocked(p.From.String()) {
				continue
			}
			select {
			case t.packets <- p:
			case <-t.closing:
			}
		case <-t.done:
			return
		}
	}
}

func (t *faultTransport) FinalAdvertiseAddr(ip string, port int) (net.IP, int, error) {
	return t.inner.FinalAdvertiseAddr(ip, port)
}

func (t *faultTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	return t.WriteToAddress(b, memberlist.Address{Addr: addr})
}

// WriteToAddress drops packets to a blocked peer silently, as a lossy
// network would: memberlist then sees missed acks, not send errors.
func (t *faultTransport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	if t.isBlocked(a.Addr) {
		return time.Now(), nil
	}
	return t.inner.WriteToAddress(b, a)
}

func (t *faultTransport) PacketCh() <-chan *memberlist.Packet { return t.packets }

func (t *faultTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return t.DialAddressTimeout(memberlist.Address{Addr: addr}, timeout)
}

func (t *faultTransport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	if t.isBlocked(a.Addr) {
		return nil, fmt.Errorf("dial %s: %w", a.Addr, errPartitioned)
	}
	return t.inner.DialAddressTimeout(a, timeout)
}

func (t *faultTransport) StreamCh() <-chan net.Conn { return t.inner.StreamCh() }

// Shutdown closes the inner listeners while the pump still drains them (so
// the inner UDP reader is never stuck handing over a packet, whether or not
// memberlist still reads), then stops the pump. Idempotent.
func (t *faultTransport) Shutdown() error {
	var err error
	t.once.Do(func() {
		close(t.closing)
		err = t.inner.Shutdown()
		close(t.done)
		t.wg.Wait()
	})
	return err
}
