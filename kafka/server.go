// Package kafka serves the Kafka wire protocol on top of Wisp's metadata
// (fsm) and data path (the agent's flusher and read cache). One file per API
// key holds its handler and the versions it serves; the ApiVersions answer is
// derived from those registrations.
package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wisp-stream/wisp/fsm"
	"github.com/wisp-stream/wisp/kafka/group"
	"github.com/wisp-stream/wisp/kafka/recordbatch"
)

// Config holds what the protocol layer needs to know about its agent.
type Config struct {
	// NodeID is this agent's broker id in Metadata responses.
	NodeID int32
	// AdvertisedHost and AdvertisedPort are what clients are told to dial.
	AdvertisedHost string
	AdvertisedPort int32
	// MaxRequestBytes bounds one request frame; a larger frame closes the connection.
	MaxRequestBytes int32
	// AutoCreateTopics creates unknown topics on Metadata and Produce, as Kafka does by default.
	AutoCreateTopics bool
	// DefaultPartitions is the partition count of auto-created topics and of
	// CreateTopics requests that leave it to the broker (-1).
	DefaultPartitions int32
	// MaxInflightPerConn bounds requests read ahead of their responses on one connection.
	MaxInflightPerConn int
	// Groups tunes the consumer group coordinator; zero values take its
	// defaults (Kafka's).
	Groups group.Config
	// Security is authentication and authorization (see auth.go); what each
	// listener demands comes with the listener (WrapListener).
	Security SecurityConfig

	// Connection limits (see limits.go); zero values take the defaults.
	// MaxConnections caps connections served at once; further ones are
	// closed at accept and counted (ConnStats.Refused).
	MaxConnections int
	// RequestReadTimeout bounds the time spent waiting for the rest of a
	// request once its first byte has arrived.
	RequestReadTimeout time.Duration
	// ConnectionsMaxIdle closes a connection with no traffic either way and
	// no request in progress for this long (connections.max.idle.ms).
	ConnectionsMaxIdle time.Duration
	// MaxPendingRequestBytes bounds the memory of requests being received,
	// over all connections. At least MaxRequestBytes.
	MaxPendingRequestBytes int64
}

func (c *Config) setDefaults() {
	if c.MaxRequestBytes <= 0 {
		c.MaxRequestBytes = 100 << 20
	}
	if c.DefaultPartitions <= 0 {
		c.DefaultPartitions = 1
	}
	if c.MaxInflightPerConn <= 0 {
		c.MaxInflightPerConn = 32
	}
	if c.MaxConnections <= 0 {
		c.MaxConnections = DefaultMaxConnections
	}
	if c.RequestReadTimeout <= 0 {
		c.RequestReadTimeout = DefaultRequestReadTimeout
	}
	if c.ConnectionsMaxIdle <= 0 {
		c.ConnectionsMaxIdle = DefaultConnectionsMaxIdle
	}
	if c.MaxPendingRequestBytes <= 0 {
		c.MaxPendingRequestBytes = DefaultMaxPendingRequestBytes
	}
	c.MaxPendingRequestBytes = max(c.MaxPendingRequestBytes, int64(c.MaxRequestBytes))
}

// Broker is one live agent as the Kafka protocol names it.
type Broker struct {
	NodeID int32
	Host   string
	Port   int32
	Rack   *string
}

// ProduceBatch is one validated record batch bound for a partition.
// Raw aliases the request buffer; the appender copies it before the request
// is released.
type ProduceBatch struct {
	TopicID   [16]byte
	Partition int32
	Header    recordbatch.Header
	Raw       []byte
	// TxnEnd, set on one of a transaction's markers, is carried by the
	// CommitFile that indexes them: the markers and the transaction's
	// completion are applied together (see fsm/txn.go).
	TxnEnd *fsm.TxnEnd
}

// Ticket is a produce request's place in the write path. Done is closed once
// the file holding its batches is in the bucket and committed (or failed).
type Ticket interface {
	Done() <-chan struct{}
	// Results is valid after Done: one result per appended batch, in order,
	// or an error meaning nothing of the request was committed.
	Results() ([]fsm.BatchResult, error)
}

// Backend is what the protocol layer needs from the running agent.
type Backend interface {
	// Metadata is the local replica of the metadata state machine.
	Metadata() *fsm.FSM
	// Apply commits a command through Raft and returns the FSM's response.
	Apply(ctx context.Context, cmd fsm.Command) (any, error)
	// Append adds the batches of one produce request, atomically, to the
	// pending file. It may block for back-pressure until ctx is done.
	Append(ctx context.Context, batches []ProduceBatch) (Ticket, error)
	// SealSoon asks that the pending file be sealed as soon as the write
	// path's bounds on files per interval allow: a producer is waiting on
	// it with every request it may have in flight, so holding the file
	// only holds back the records queued in that client.
	SealSoon()
	// ReadAt reads a byte range of a data file through the read cache. A
	// range within one aligned block of ReadBlockSize bytes is cache memory,
	// not a copy: the caller must not modify it.
	ReadAt(ctx context.Context, key string, off, n int64) ([]byte, error)
	// ReadBlockSize is the read cache's block size (0: any).
	ReadBlockSize() int64
	// FetchServed counts the record bytes and records one fetch response
	// returns, for the agent's traffic figures.
	FetchServed(bytes, records int64)
	// Prefetch starts loading a byte range into the read cache, in the
	// background, for a ReadAt expected soon.
	Prefetch(key string, off, n int64)
	// Brokers lists the live agents; the first is the controller.
	Brokers() []Broker
	// SyncMetadata waits until the local replica has caught up with what
	// the Raft leader has committed. Handlers call it when a name they were
	// asked about is missing, so a topic created through another agent a
	// moment ago is found rather than reported unknown.
	SyncMetadata(ctx context.Context) error
}

// Server accepts Kafka connections. Close stops it.
type Server struct {
	cfg     Config
	backend Backend
	log     *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc

	mu    sync.Mutex
	lns   []net.Listener
	conns map[net.Conn]*clientConn
	wg    sync.WaitGroup

	autoCreate sync.Mutex // serialises auto-creation so racing producers create a topic once

	limits      *connLimits
	refusedLogs atomic.Int64 // unix seconds of the last "connection refused" log line

	groups *group.Coordinator // consumer groups this agent coordinates

	frames framePool // produce request frames, recycled across connections
}

// NewServer builds a server; call Serve with a listener.
func NewServer(cfg Config, backend Backend, logger *slog.Logger) *Server {
	cfg.setDefaults()
	if logger == nil {
		logger = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		cfg:     cfg,
		backend: backend,
		log:     logger,
		ctx:     ctx,
		cancel:  cancel,
		conns:   make(map[net.Conn]*clientConn),
		limits:  newConnLimits(cfg),
	}
	gcfg := cfg.Groups
	if gcfg.Logger == nil {
		gcfg.Logger = logger.With("component", "groups")
	}
	s.groups = group.New(gcfg, groupMetadata{s})
	return s
}

// Serve accepts connections on ln until Close. It returns nil after Close.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.ctx.Err() != nil {
		s.mu.Unlock()
		return ln.Close()
	}
	s.lns = append(s.lns, ln)
	s.mu.Unlock()

	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			// Temporary accept errors (EMFILE) must not kill the listener.
			delay = min(max(delay*2, 5*time.Millisecond), time.Second)
			s.log.Warn("kafka accept failed; retrying", "err", err, "retry_in", delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		s.mu.Lock()
		if s.ctx.Err() != nil {
			s.mu.Unlock()
			nc.Close()
			return nil
		}
		if len(s.conns) >= s.cfg.MaxConnections {
			s.mu.Unlock()
			s.refuse(nc)
			continue
		}
		lc := newLimitConn(nc, s.limits)
		cc := newConn(s, lc)
		lc.busy = func() bool { return cc.unanswered.Load() > 0 }
		s.conns[lc] = cc
		s.limits.accepted.Add(1)
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			cc.serve()
			s.mu.Lock()
			delete(s.conns, lc)
			s.mu.Unlock()
		}()
	}
}

// Close stops accepting and the group coordinator, lets every connection
// finish answering the requests it has already read (until ctx ends), then
// closes the connections and waits for their goroutines. The agent drains
// the flusher first, so producers waiting on a flush get their acks. Safe to
// call more than once.
func (s *Server) Close(ctx context.Context) error {
	s.mu.Lock()
	for _, ln := range s.lns {
		ln.Close()
	}
	s.lns = nil
	s.mu.Unlock()
	// Parked JoinGroup and SyncGroup requests are answered NOT_COORDINATOR
	// now rather than waiting out a rebalance.
	s.groups.Close()

	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for s.unanswered() > 0 && ctx.Err() == nil {
		select {
		case <-tick.C:
		case <-ctx.Done():
		}
	}

	s.mu.Lock()
	s.cancel()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

// refuse closes a connection beyond --max-connections at once: the client
// sees a reset and retries elsewhere or later, and the agent spends nothing
// on it. One log line a minute at most, since a flood would repeat it.
func (s *Server) refuse(nc net.Conn) {
	n := s.limits.refused.Add(1)
	nc.Close()
	now := time.Now().Unix()
	if last := s.refusedLogs.Load(); now-last >= 60 && s.refusedLogs.CompareAndSwap(last, now) {
		s.log.Warn("kafka connection refused: --max-connections reached; raise it or find the client opening so many",
			"max_connections", s.cfg.MaxConnections, "remote", nc.RemoteAddr().String(), "refused_total", n)
	}
}

// ConnStats reports the connection limits' counters.
func (s *Server) ConnStats() ConnStats {
	s.mu.Lock()
	open := int64(len(s.conns))
	s.mu.Unlock()
	l := s.limits
	return ConnStats{
		Open: open, Accepted: l.accepted.Load(), Refused: l.refused.Load(),
		IdleClosed: l.idleClosed.Load(), SlowClosed: l.slowClosed.Load(),
		PendingBytes: l.pending.Load(), BudgetExceeded: l.budgetExceeded.Load(), Unread: l.unread.Load(),
	}
}

// unanswered counts requests read but not yet answered, over all connections.
func (s *Server) unanswered() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	for _, cc := range s.conns {
		n += cc.unanswered.Load()
	}
	return n
}

func (s *Server) self() Broker {
	return Broker{NodeID: s.cfg.NodeID, Host: s.cfg.AdvertisedHost, Port: s.cfg.AdvertisedPort}
}

func (s *Server) brokers() []Broker {
	if bs := s.backend.Brokers(); len(bs) > 0 {
		return bs
	}
	return []Broker{s.self()}
}

// topicByName finds a topic in the local replica, syncing with the leader
// once when it is missing.
func (s *Server) topicByName(ctx context.Context, name string) (fsm.TopicInfo, bool) {
	md := s.backend.Metadata()
	if t, ok := md.Topic(name); ok {
		return t, true
	}
	if s.backend.SyncMetadata(ctx) != nil {
		return fsm.TopicInfo{}, false
	}
	return md.Topic(name)
}

// topicByID is topicByName for topic ids.
func (s *Server) topicByID(ctx context.Context, id [16]byte) (fsm.TopicInfo, bool) {
	md := s.backend.Metadata()
	if t, ok := md.TopicByID(id); ok {
		return t, true
	}
	if s.backend.SyncMetadata(ctx) != nil {
		return fsm.TopicInfo{}, false
	}
	return md.TopicByID(id)
}

// applyTopic runs a topic admin command and unwraps its result.
func (s *Server) applyTopic(ctx context.Context, cmd fsm.Command) (fsm.TopicResult, error) {
	res, err := s.backend.Apply(ctx, cmd)
	if err != nil {
		return fsm.TopicResult{}, err
	}
	tr, ok := res.(fsm.TopicResult)
	if !ok {
		return fsm.TopicResult{}, fmt.Errorf("unexpected fsm response %T to %T", res, cmd)
	}
	return tr, nil
}
