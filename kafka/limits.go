package kafka

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"
)

// Hostile or broken clients must not be able to take the agent down or
// starve other clients. The connection loop (conn.go) reads frames through a
// limitConn, which adds what a plain socket lacks:
//
//   - an idle timeout (Kafka's connections.max.idle.ms): a connection with
//     no bytes either way and no request still being answered is closed;
//   - a read timeout per request: once the first byte of a frame has
//     arrived, the rest must arrive within RequestReadTimeout of time spent
//     waiting for the client (a slowloris dribbling a frame is cut, while a
//     reader held up by our own back-pressure is not);
//   - a write timeout per chunk of response, so a client that stops reading
//     cannot park the connection's writer (and the responses queued behind
//     it) forever;
//   - a server-wide budget for partially received frames: readLoop allocates
//     a frame's whole announced size as soon as it has read the size prefix,
//     so limitConn reserves that size before it hands the prefix over. Ten
//     thousand connections announcing 100 MiB each wait for the budget
//     instead of allocating a terabyte.
//
// The accept loop (server.go) adds the connection cap.

// Defaults for the limits in Config.
const (
	DefaultMaxConnections         = 10000
	DefaultRequestReadTimeout     = 30 * time.Second
	DefaultConnectionsMaxIdle     = 10 * time.Minute
	DefaultMaxPendingRequestBytes = 512 << 20
)

// ConnStats counts what the connection limits did, for metrics.
type ConnStats struct {
	Open           int64 // connections being served now
	Accepted       int64 // connections accepted since start
	Refused        int64 // closed at accept: --max-connections reached
	IdleClosed     int64 // closed after --connections-max-idle without traffic
	SlowClosed     int64 // closed: a request did not arrive within --request-read-timeout
	PendingBytes   int64 // budget held by partially received frames now
	BudgetExceeded int64 // closed: no budget for a frame within the read timeout
	Unread         int64 // closed: the client stopped reading its responses
}

// connLimits is the server-wide state behind limitConn.
type connLimits struct {
	idle     time.Duration
	request  time.Duration
	maxFrame int64 // --max-request-bytes: larger frames are refused unread
	budget   *semaphore.Weighted
	pending  atomic.Int64

	accepted, refused, idleClosed, slowClosed, budgetExceeded, unread atomic.Int64
}

func newConnLimits(cfg Config) *connLimits {
	return &connLimits{
		idle:     cfg.ConnectionsMaxIdle,
		request:  cfg.RequestReadTimeout,
		maxFrame: int64(cfg.MaxRequestBytes),
		budget:   semaphore.NewWeighted(cfg.MaxPendingRequestBytes),
	}
}

// errIdle ends a connection that stayed idle too long. It wraps
// os.ErrDeadlineExceeded, which the connection loop treats as a normal end.
var errIdle = fmt.Errorf("connection idle past --connections-max-idle: %w", os.ErrDeadlineExceeded)

// limitConn is an accepted connection as the connection loop sees it. Read
// is called by the reader goroutine only; Write by the writer goroutine.
type limitConn struct {
	net.Conn
	lim *connLimits
	// busy reports whether requests read from this connection are still
	// unanswered; such a connection is waiting on us, not idle.
	busy func() bool

	lastActive atomic.Int64 // unix nanoseconds of the last byte either way
	reserved   atomic.Int64 // budget held for the frame being received
	closed     atomic.Bool
	// done ends a wait for budget when the connection is closed, so a
	// shutdown does not wait out the read timeout.
	done   context.Context
	cancel context.CancelFunc

	// Frame tracking, reader goroutine only.
	inFrame   bool
	sizeBuf   [4]byte
	sizeN     int           // bytes of the size prefix seen
	remaining int64         // body bytes of the current frame not yet seen
	waited    time.Duration // time spent waiting for the current frame's bytes
}

func newLimitConn(nc net.Conn, lim *connLimits) *limitConn {
	c := &limitConn{Conn: nc, lim: lim, busy: func() bool { return false }}
	c.done, c.cancel = context.WithCancel(context.Background())
	c.lastActive.Store(time.Now().UnixNano())
	return c
}

// Unwrap returns the connection limitConn wraps, so code that needs the
// listener's own connection type can find it under the limits.
func (c *limitConn) Unwrap() net.Conn { return c.Conn }

func (c *limitConn) Read(p []byte) (int, error) {
	for {
		now := time.Now()
		var deadline time.Time
		if c.inFrame && c.lim.request > 0 {
			left := c.lim.request - c.waited
			if left <= 0 {
				return 0, c.slow()
			}
			deadline = now.Add(left)
		} else if c.lim.idle > 0 {
			deadline = time.Unix(0, c.lastActive.Load()).Add(c.lim.idle)
		}
		if err := c.Conn.SetReadDeadline(deadline); err != nil {
			return 0, err
		}
		n, err := c.Conn.Read(p)
		if c.inFrame {
			c.waited += time.Since(now)
		}
		if n > 0 {
			c.lastActive.Store(time.Now().UnixNano())
			if terr := c.track(p[:n]); terr != nil {
				return 0, terr
			}
			// An error that came with data shows up again on the next Read.
			return n, nil
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			return n, err
		}
		if c.inFrame {
			return 0, c.slow()
		}
		// Idle deadline: writes (long polls answered, joins completed) and
		// requests still being worked on count as activity.
		if c.busy() {
			c.lastActive.Store(time.Now().UnixNano())
			continue
		}
		if time.Since(time.Unix(0, c.lastActive.Load())) < c.lim.idle {
			continue
		}
		c.lim.idleClosed.Add(1)
		return 0, errIdle
	}
}

func (c *limitConn) slow() error {
	c.lim.slowClosed.Add(1)
	return fmt.Errorf("%w: request not received within --request-read-timeout %s (slow or stalled client)", errFrame, c.lim.request)
}

// writeChunk is how much of a response must leave within one request
// read timeout: a client that stops reading its responses is cut, one on a
// slow link (down to about 35 KB/s at the default 30 s) is not. It is also
// the size of one write: at 64 KiB, the syscalls and deadline resets of an
// 8 MiB fetch response cost a catch-up read about 7% of its throughput (one
// A/B: 651 and 700 MiB/s).
const writeChunk = 1 << 20

// Write gives every chunk of a response the request read timeout to leave,
// so a client that never reads cannot park the writer, and with it the
// responses queued behind, forever.
func (c *limitConn) Write(p []byte) (int, error) {
	written := 0
	for written < len(p) {
		chunk := p[written:min(len(p), written+writeChunk)]
		if c.lim.request > 0 {
			if err := c.Conn.SetWriteDeadline(time.Now().Add(c.lim.request)); err != nil {
				return written, err
			}
		}
		n, err := c.Conn.Write(chunk)
		written += n
		if n > 0 {
			c.lastActive.Store(time.Now().UnixNano())
		}
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				c.lim.unread.Add(1)
				err = fmt.Errorf("client read no response bytes for --request-read-timeout %s: %w", c.lim.request, err)
			}
			return written, err
		}
	}
	return written, nil
}

// Close releases the frame budget held by this connection.
func (c *limitConn) Close() error {
	c.closed.Store(true)
	c.cancel()
	c.release()
	return c.Conn.Close()
}

func (c *limitConn) release() {
	if n := c.reserved.Swap(0); n > 0 {
		c.lim.pending.Add(-n)
		c.lim.budget.Release(n)
	}
}

// track follows frame boundaries through b, the bytes just read, reserving
// budget for a frame that continues past b. Frame sizes readLoop refuses
// (negative, over --max-request-bytes) reserve nothing: readLoop closes the
// connection without allocating.
func (c *limitConn) track(b []byte) error {
	for len(b) > 0 {
		if !c.inFrame {
			c.inFrame, c.sizeN, c.remaining, c.waited = true, 0, 0, 0
		}
		if c.sizeN < 4 {
			k := copy(c.sizeBuf[c.sizeN:], b)
			c.sizeN += k
			b = b[k:]
			if c.sizeN < 4 {
				return nil
			}
			size := int64(int32(binary.BigEndian.Uint32(c.sizeBuf[:])))
			c.remaining = max(size, 0)
			if c.remaining > int64(len(b)) && c.remaining <= c.lim.maxFrame {
				if err := c.reserve(c.remaining); err != nil {
					return err
				}
			}
		}
		k := min(c.remaining, int64(len(b)))
		c.remaining -= k
		b = b[k:]
		if c.remaining == 0 {
			c.inFrame = false
			c.release()
		}
	}
	return nil
}

// reserve takes n bytes of the budget, waiting at most what is left of the
// request read timeout.
func (c *limitConn) reserve(n int64) error {
	if !c.lim.budget.TryAcquire(n) {
		ctx, cancel := context.WithTimeout(c.done, max(c.lim.request-c.waited, time.Millisecond))
		start := time.Now()
		err := c.lim.budget.Acquire(ctx, n)
		cancel()
		c.waited += time.Since(start)
		if err != nil {
			if c.done.Err() != nil {
				return net.ErrClosed // closed while waiting: nothing was taken
			}
			c.lim.budgetExceeded.Add(1)
			return fmt.Errorf("%w: no memory for a %d-byte request within --request-read-timeout: --max-pending-request-bytes is held by other partially received requests", errFrame, n)
		}
	}
	c.lim.pending.Add(n)
	c.reserved.Store(n)
	if c.closed.Load() {
		c.release() // Close ran while we waited
	}
	return nil
}
