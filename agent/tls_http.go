package agent

import (
	"bufio"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// HTTPS on the HTTP listener. One port serves both: a connection opening
// with a TLS ClientHello gets TLS, any other gets plain HTTP, which answers
// only the agent-to-agent routes (/internal/..., authenticated by the
// cluster secret) so agents keep reaching each other while browsers,
// Prometheus and probes must use https.

// tlsRecordHandshake is the first byte of every TLS ClientHello.
const tlsRecordHandshake = 0x16

// sniffTimeout bounds the wait for a connection's first byte.
const sniffTimeout = 10 * time.Second

// sniffListener sorts accepted connections into TLS and plain ones off the
// accept path, so a client that never sends a byte delays nobody.
type sniffListener struct {
	net.Listener
	cfg   *tls.Config
	conns chan net.Conn
	done  chan struct{}
	err   error // set before done is closed
	once  sync.Once
}

func newSniffListener(ln net.Listener, cfg *tls.Config) *sniffListener {
	l := &sniffListener{Listener: ln, cfg: cfg, conns: make(chan net.Conn), done: make(chan struct{})}
	go l.acceptLoop()
	return l
}

func (l *sniffListener) acceptLoop() {
	var delay time.Duration
	for {
		nc, err := l.Listener.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			if !errors.Is(err, net.ErrClosed) {
				// Temporary accept errors (EMFILE) must not kill the listener.
				delay = min(max(delay*2, 5*time.Millisecond), time.Second)
				select {
				case <-time.After(delay):
					continue
				case <-l.done:
				}
			}
			l.once.Do(func() { l.err = err; close(l.done) })
			return
		}
		delay = 0
		go l.sniff(nc)
	}
}

func (l *sniffListener) sniff(nc net.Conn) {
	br := bufio.NewReader(nc)
	nc.SetReadDeadline(time.Now().Add(sniffTimeout))
	first, err := br.Peek(1)
	nc.SetReadDeadline(time.Time{})
	if err != nil {
		nc.Close()
		return
	}
	var out net.Conn = &peekedConn{Conn: nc, r: br}
	if first[0] == tlsRecordHandshake {
		out = tls.Server(out, l.cfg) // http.Server runs the handshake and sets Request.TLS
	}
	select {
	case l.conns <- out:
	case <-l.done:
		nc.Close()
	}
}

func (l *sniffListener) Accept() (net.Conn, error) {
	select {
	case nc := <-l.conns:
		return nc, nil
	case <-l.done:
		return nil, l.err
	}
}

func (l *sniffListener) Close() error {
	err := l.Listener.Close()
	l.once.Do(func() { l.err = net.ErrClosed; close(l.done) })
	return err
}

// peekedConn reads first what sniffing buffered.
type peekedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *peekedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// internalPrefix is where the agent-to-agent routes live.
const internalPrefix = "/internal/"

// requireTLS refuses plain-HTTP requests outside the agent-to-agent routes
// when the listener serves HTTPS.
func requireTLS(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil && !strings.HasPrefix(r.URL.Path, internalPrefix) {
			http.Error(w, "this listener serves HTTPS: use https://"+r.Host+r.URL.RequestURI(), http.StatusBadRequest)
			return
		}
		h.ServeHTTP(w, r)
	})
}
