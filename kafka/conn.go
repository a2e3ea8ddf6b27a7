package kafka

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// respond produces a request's response. The connection's writer goroutine
// calls it, so responses leave in request order while the slow part of a
// request (waiting for a flush, a long-poll fetch) overlaps with reading the
// next requests. A nil response means none is sent (acks=0 produce).
type respond func() kmsg.Response

// inflight is one request read from the connection, waiting for its turn to
// be answered.
type inflight struct {
	key     int16
	version int16
	corr    int32
	resp    respond
	// closeAfter closes the connection after this response (or instead of
	// it when resp returns nil), as Kafka does for acks=0 produce errors.
	closeAfter bool
	// isRaw marks a bare SASL token reply (after a v0 SaslHandshake):
	// raw is written with a length prefix only, and resp is unused.
	isRaw bool
	raw   []byte
	// ready, when set, is closed once resp can answer without waiting (a
	// produce's flush): before waiting on it, the writer sends the
	// responses it holds back for batching.
	ready <-chan struct{}
	// fetchSets holds a fetch response's record batches (recordset.go);
	// resp fills it in the writer goroutine.
	fetchSets fetchSets
}

// clientConn is one client connection. Only serve's goroutine reads; only the
// writer goroutine writes.
type clientConn struct {
	s        *Server
	nc       net.Conn
	log      *slog.Logger
	clientID string
	ctx      context.Context
	cancel   context.CancelFunc
	// unanswered counts requests read and not yet answered, so a graceful
	// shutdown can wait for them.
	unanswered atomic.Int64
	// producing counts produce requests in the write path whose producer
	// waits for an answer (acks 1 or all), to tell when it can send no more.
	producing atomic.Int64

	// listener is what the accepting listener demands; tlsConn is the TLS
	// layer on SSL listeners. principal is who the connection proved to be
	// (User:ANONYMOUS until then) and sasl its SASL exchange; both are
	// owned by the reader goroutine, like every handler's own work.
	listener  *ListenerConfig
	tlsConn   *tls.Conn
	principal string
	sasl      saslState
}

func newConn(s *Server, nc net.Conn) *clientConn {
	ctx, cancel := context.WithCancel(s.ctx)
	l, tc := listenerOf(nc)
	return &clientConn{
		s:         s,
		nc:        nc,
		log:       s.log.With("remote", nc.RemoteAddr().String()),
		ctx:       ctx,
		cancel:    cancel,
		listener:  l,
		tlsConn:   tc,
		principal: AnonymousPrincipal,
	}
}

// errFrame marks a problem with the client's bytes: the connection is closed
// and one line is logged, everyone else keeps being served.
var errFrame = errors.New("bad request frame")

func (c *clientConn) serve() {
	defer c.nc.Close()
	defer c.cancel()
	if c.tlsConn != nil && !c.handshakeTLS() {
		return
	}

	queue := make(chan *inflight, c.s.cfg.MaxInflightPerConn)
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		c.writeLoop(queue)
	}()

	err := c.readLoop(queue)
	// Read before cancel below: a connection ended by the server's own
	// shutdown is not worth a log line, one ended by its client may be.
	serverClosing := c.ctx.Err() != nil
	if err != nil {
		// The client is gone (or sent garbage): nothing more can be written,
		// so release requests parked on its behalf (long polls, joins).
		c.cancel()
	}
	close(queue)
	<-writerDone
	switch {
	case err == nil, errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed), serverClosing:
	case errors.Is(err, errSASL):
		c.log.Info("closing kafka connection", "client_id", c.clientID, "principal", c.principal, "err", err)
	case errors.Is(err, errFrame):
		c.log.Warn("closing kafka connection", "client_id", c.clientID, "err", err)
	default:
		c.log.Debug("kafka connection ended", "client_id", c.clientID, "err", err)
	}
}

func (c *clientConn) readLoop(queue chan<- *inflight) error {
	br := bufio.NewReaderSize(c.nc, 64<<10)
	var sizeBuf [4]byte
	for {
		if _, err := io.ReadFull(br, sizeBuf[:]); err != nil {
			return err
		}
		size := int32(binary.BigEndian.Uint32(sizeBuf[:]))
		rawToken := c.sasl.raw && c.sasl.stage != saslIdle // a bare SASL token may be short
		if size < 8 && !(rawToken && size >= 0) {
			return fmt.Errorf("%w: frame size %d is below the smallest request header", errFrame, size)
		}
		if size > c.s.cfg.MaxRequestBytes {
			return fmt.Errorf("%w: frame of %d bytes exceeds --max-request-bytes %d", errFrame, size, c.s.cfg.MaxRequestBytes)
		}
		body := c.s.frames.get(int(size))
		if _, err := io.ReadFull(br, body); err != nil {
			return err
		}
		in, err := c.decode(body)
		if err != nil {
			return err
		}
		if !in.isRaw && in.key == produceKey {
			// The handler has appended the batches, which copies them, and
			// kmsg copied the strings: nothing reads the frame again.
			c.s.frames.put(body)
		}
		c.unanswered.Add(1)
		select {
		case queue <- in:
		case <-c.ctx.Done():
			c.unanswered.Add(-1)
			return c.ctx.Err()
		}
		if in.closeAfter {
			return nil
		}
	}
}

// decode parses a request frame and starts its handler.
func (c *clientConn) decode(body []byte) (*inflight, error) {
	if c.sasl.raw && c.sasl.stage != saslIdle {
		return c.rawSASL(body)
	}
	r := kbin.Reader{Src: body}
	key := r.Int16()
	version := r.Int16()
	corr := r.Int32()
	clientID := r.NullableString()
	if !r.Ok() {
		return nil, fmt.Errorf("%w: truncated request header", errFrame)
	}
	if clientID != nil {
		c.clientID = *clientID
	}

	a, known := apis[key]
	if key == apiVersionsKey && (version < a.min || version > a.max) {
		// Clients probe with their newest ApiVersions; Kafka answers with
		// UNSUPPORTED_VERSION and the full table encoded as v0 so they can
		// retry with a version both sides know.
		return &inflight{key: key, version: 0, corr: corr, resp: c.s.unsupportedAPIVersions()}, nil
	}
	if !known {
		return nil, fmt.Errorf("%w: unknown api key %d (correlation id %d)", errFrame, key, corr)
	}
	if err := c.saslGate(key); err != nil {
		return nil, err
	}
	if version < a.min || version > a.max {
		return nil, fmt.Errorf("%w: %s version %d is not served (versions %d-%d)", errFrame, kmsg.NameForKey(key), version, a.min, a.max)
	}
	req := kmsg.RequestForKey(key)
	req.SetVersion(version)
	if req.IsFlexible() {
		kmsg.SkipTags(&r)
	}
	if !r.Ok() {
		return nil, fmt.Errorf("%w: truncated %s v%d request header", errFrame, kmsg.NameForKey(key), version)
	}
	if err := req.ReadFrom(r.Src); err != nil {
		return nil, fmt.Errorf("%w: malformed %s v%d request: %v", errFrame, kmsg.NameForKey(key), version, err)
	}
	in := &inflight{key: key, version: version, corr: corr}
	resp, err := c.authorize(a, req, in)
	if err != nil {
		return nil, err
	}
	in.resp = resp
	return in, nil
}

func (c *clientConn) writeLoop(queue <-chan *inflight) {
	bw := bufio.NewWriterSize(c.nc, 64<<10)
	var buf []byte
	broken := false
	for in := range queue {
		c.answer(in, bw, &buf, &broken)
	}
	if !broken {
		bw.Flush()
	}
}

// answer waits for one request's response and writes it.
func (c *clientConn) answer(in *inflight, bw *bufio.Writer, buf *[]byte, broken *bool) {
	defer c.unanswered.Add(-1)
	if *broken {
		return // drained so the reader never blocks; responses are dropped
	}
	if in.isRaw {
		*buf = binary.BigEndian.AppendUint32((*buf)[:0], uint32(len(in.raw)))
		*buf = append(*buf, in.raw...)
		if _, err := bw.Write(*buf); err != nil || bw.Flush() != nil {
			*broken = true
			c.nc.Close()
		}
		return
	}
	if in.ready != nil && bw.Buffered() > 0 {
		select {
		case <-in.ready:
		default:
			// Acks already written must not wait a flush interval
			// behind this one: a pipelining producer is waiting for them.
			if err := bw.Flush(); err != nil {
				*broken = true
				c.nc.Close()
				return
			}
		}
	}
	resp := in.resp()
	if resp != nil {
		var err error
		if fr, ok := resp.(*kmsg.FetchResponse); ok && in.fetchSets != nil && piecewise(fr) {
			err = writeFetch(bw, in, fr, in.fetchSets, buf)
		} else {
			in.fetchSets.materialize()
			*buf = appendResponse((*buf)[:0], in, resp)
			_, err = bw.Write(*buf)
		}
		in.fetchSets = nil
		if err != nil {
			*broken = true
			c.nc.Close()
			return
		}
	}
	if in.closeAfter {
		bw.Flush()
		c.nc.Close()
		*broken = true
		return
	}
	// Flush once the writer catches up with the reader, so pipelined
	// responses share a syscall. The in-flight count includes this one.
	if c.unanswered.Load() <= 1 {
		if err := bw.Flush(); err != nil {
			*broken = true
			c.nc.Close()
		}
	}
}

// appendResponse frames resp: size, correlation id, header tags for flexible
// versions (except ApiVersions, whose response header is always v0 so a
// client can parse it before it knows what we speak), then the body.
func appendResponse(dst []byte, in *inflight, resp kmsg.Response) []byte {
	resp.SetVersion(in.version)
	dst = append(dst, 0, 0, 0, 0)
	dst = kbin.AppendInt32(dst, in.corr)
	if resp.IsFlexible() && in.key != apiVersionsKey {
		dst = append(dst, 0)
	}
	dst = resp.AppendTo(dst)
	binary.BigEndian.PutUint32(dst, uint32(len(dst)-4))
	return dst
}

// handshakeTLS runs the TLS handshake before the first request, so the
// client certificate's principal is known, and logs why it failed.
func (c *clientConn) handshakeTLS() bool {
	ctx, cancel := context.WithTimeout(c.ctx, 10*time.Second)
	defer cancel()
	if err := c.tlsConn.HandshakeContext(ctx); err != nil {
		c.log.Info("kafka TLS handshake failed", "listener", c.listener.Name, "err", err)
		return false
	}
	c.principal = tlsPrincipal(c.tlsConn)
	return true
}
