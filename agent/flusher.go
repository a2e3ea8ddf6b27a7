package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/wisp-stream/wisp/fsm"
	"github.com/wisp-stream/wisp/kafka"
	"github.com/wisp-stream/wisp/objstore"
	"github.com/wisp-stream/wisp/objstore/datafile"
)

// FlusherConfig sets when files are sealed and how much may be in flight.
type FlusherConfig struct {
	Interval    time.Duration // seal the pending file this long after its first batch
	MaxBytes    int64         // or as soon as it holds this many bytes
	MaxBuffered int64         // bytes pending plus uploading; Append waits beyond it
	MaxPuts     int           // uploads in flight at once
	PutTimeout  time.Duration // per attempt
	PutAttempts int
	NodeID      int32
}

// Committer commits a file's manifest through Raft.
type Committer func(ctx context.Context, c *fsm.CommitFile) (fsm.CommitFileResult, error)

// Flusher is the produce write path: it buffers the batches of every
// partition into one pending file, seals it on time or size, uploads sealed
// files concurrently, and commits their manifests strictly in seal order, so
// a producer's batch N+1 can never get a lower offset than batch N. Tickets
// complete only after the commit: an ack means in the bucket and in Raft.
type Flusher struct {
	cfg    FlusherConfig
	store  objstore.Store
	commit Committer
	prefix func() string              // key prefix, e.g. "wisp/<cluster>/"
	prime  func(key string, b []byte) // hands a written file to the read cache
	log    *slog.Logger
	m      *metrics // nil in unit tests

	mu       sync.Mutex
	cur      *pendingFile
	seq      uint64 // last sealed file's sequence
	failUpTo uint64 // files sealed up to this sequence fail without commit
	buffered int64
	freed    chan struct{} // closed and replaced whenever buffered drops
	closed   bool
	// sealedAt holds the times of the last two seals, older first: an
	// early seal waits until Interval after the older one (bringForwardLocked).
	sealedAt [2]time.Time
	// lastFileBytes is the size of the last file sealed (nextFileCap).
	lastFileBytes int
	queue         chan *pendingFile
	puts          chan struct{} // upload slots
	loopDone      chan struct{}
	closeOnce     sync.Once
}

type pendingFile struct {
	seq     uint64
	b       *datafile.Builder
	metas   []fsm.BatchMeta
	ends    []fsm.TxnEnd // transactions completed by markers in this file
	tickets []*ticket
	bytes   int64

	// timer seals the file at deadline: Interval after its first batch,
	// or earlier for records that waited in their client.
	timer    *time.Timer
	deadline time.Time

	key     string
	data    []byte
	putDone chan struct{}
	putErr  error
}

type ticket struct {
	done    chan struct{}
	first   int
	n       int
	results []fsm.BatchResult
	err     error
}

func (t *ticket) Done() <-chan struct{}               { return t.done }
func (t *ticket) Results() ([]fsm.BatchResult, error) { return t.results, t.err }

// NewFlusher starts the commit loop. prefix is read at seal time because the
// cluster id is known only once Raft has a leader.
func NewFlusher(cfg FlusherConfig, store objstore.Store, commit Committer, prefix func() string, prime func(string, []byte), logger *slog.Logger) *Flusher {
	if cfg.MaxPuts <= 0 {
		cfg.MaxPuts = 4
	}
	if cfg.PutTimeout <= 0 {
		cfg.PutTimeout = 30 * time.Second
	}
	if cfg.PutAttempts <= 0 {
		cfg.PutAttempts = 3
	}
	f := &Flusher{
		cfg:      cfg,
		store:    store,
		commit:   commit,
		prefix:   prefix,
		prime:    prime,
		log:      logger,
		freed:    make(chan struct{}),
		queue:    make(chan *pendingFile, 1024),
		puts:     make(chan struct{}, cfg.MaxPuts),
		loopDone: make(chan struct{}),
	}
	go f.commitLoop()
	return f
}

// Append adds the batches of one produce request to the pending file, all
// of them or none, so one request is committed atomically. It blocks while
// the agent holds more than MaxBuffered bytes, until ctx ends. The caller
// may reuse the batches' Raw buffers once Append returns.
func (f *Flusher) Append(ctx context.Context, batches []kafka.ProduceBatch) (kafka.Ticket, error) {
	var size int64
	for _, b := range batches {
		size += int64(len(b.Raw))
	}
	f.mu.Lock()
	for f.buffered > 0 && f.buffered+size > f.cfg.MaxBuffered && !f.closed {
		freed := f.freed
		f.mu.Unlock()
		select {
		case <-freed:
		case <-ctx.Done():
			return nil, fmt.Errorf("produce waited for buffer space (%d bytes buffered, limit %d): %w", f.buffered, f.cfg.MaxBuffered, ctx.Err())
		}
		f.mu.Lock()
	}
	defer f.mu.Unlock()
	if f.closed {
		return nil, errShuttingDown
	}
	now := time.Now()
	if f.cur == nil {
		cur := &pendingFile{b: datafile.NewBuilderSize(f.nextFileCap()), deadline: now.Add(f.cfg.Interval)}
		f.cur = cur
		cur.timer = time.AfterFunc(f.cfg.Interval, func() {
			f.mu.Lock()
			defer f.mu.Unlock()
			if f.cur == cur {
				f.sealLocked()
			}
		})
	}
	cur := f.cur
	t := &ticket{done: make(chan struct{}), first: len(cur.metas), n: len(batches)}
	for _, b := range batches {
		pos := cur.b.Append(b.TopicID, b.Partition, b.Raw)
		cur.metas = append(cur.metas, fsm.BatchMeta{
			TopicID:       b.TopicID,
			Partition:     b.Partition,
			Pos:           pos,
			Len:           int32(len(b.Raw)),
			Records:       int32(b.Header.OffsetCount()),
			MaxTimestamp:  b.Header.MaxTimestamp,
			ProducerID:    b.Header.ProducerID,
			ProducerEpoch: b.Header.ProducerEpoch,
			BaseSequence:  b.Header.BaseSequence,
			Transactional: b.Header.Transactional(),
			Control:       b.Header.Control(),
		})
		if b.TxnEnd != nil {
			cur.ends = append(cur.ends, *b.TxnEnd)
		}
	}
	cur.tickets = append(cur.tickets, t)
	cur.bytes += size
	f.buffered += size
	if f.m != nil {
		f.m.buffered.Set(float64(f.buffered))
	}
	if cur.b.Len() >= f.cfg.MaxBytes {
		f.sealLocked()
	} else {
		f.bringForwardLocked(cur, batches, now)
	}
	return t, nil
}

// bringForwardLocked moves the pending file's deadline to Interval after
// the oldest record just appended was produced (its batch's first
// timestamp). A client with all its requests in flight (five, for
// idempotent producers) holds new records until the file with those
// requests is acked; without this they would then wait a second interval in
// the next file, so produce latency would reach twice the interval. When
// the deadline has passed already, the file is sealed after a short grace,
// so that the rest of the client's burst (several requests, one batch per
// partition each) joins it. Timestamps in the future or older than
// 2 x Interval + 1s (replayed data, skewed clocks) are ignored.
//
// The cost bound: no deadline is brought before Interval after the seal
// before last, so at most two files are sealed per Interval and the PUT rate
// at most doubles, whatever the clients' timestamps say. Two, not one: a
// client with all its requests in flight alternates between a file of
// records that waited (sealed almost at once) and one of records that did
// not (sealed when the oldest is an interval old), so it needs two seals
// per interval; allowing one early seal made every other burst wait a
// second interval, the tail of produce latency at short intervals.
func (f *Flusher) bringForwardLocked(cur *pendingFile, batches []kafka.ProduceBatch, now time.Time) {
	nowMs := now.UnixMilli()
	horizon := (2*f.cfg.Interval + time.Second).Milliseconds()
	oldest := int64(-1)
	for _, b := range batches {
		if age := nowMs - b.Header.FirstTimestamp; age >= 0 && age <= horizon && age > oldest {
			oldest = age
		}
	}
	if oldest < 0 {
		return
	}
	deadline := now.Add(f.cfg.Interval - time.Duration(oldest)*time.Millisecond)
	if !deadline.After(now) {
		deadline = now.Add(min(f.cfg.Interval/10, 5*time.Millisecond))
	}
	f.moveDeadlineLocked(cur, deadline, now)
}

// moveDeadlineLocked brings cur's seal forward to deadline, but not before
// Interval after the seal before last (the bound of two seals per Interval),
// and never back.
func (f *Flusher) moveDeadlineLocked(cur *pendingFile, deadline, now time.Time) {
	deadline = maxTime(deadline, f.sealedAt[0].Add(f.cfg.Interval))
	if !deadline.Before(cur.deadline) {
		return
	}
	cur.deadline = deadline
	cur.timer.Reset(deadline.Sub(now))
}

// SealSoon seals the pending file now, or as soon as the bound of two seals
// per Interval allows. The protocol layer calls it when a producer has all
// the requests it may send waiting in the write path (five, for idempotent
// producers): from then on its new records wait in the client, and holding
// the file for the rest of the interval makes them wait for it and then for
// their own file, up to twice the interval plus two uploads. Sealing at
// once costs files, within the bound bringForwardLocked keeps: at 5 MiB/s
// from one franz-go producer (1 and 1,000 partitions, 20 s each), 9.2 data
// files a second instead of 8.6 at a 250 ms interval and 98 instead of 72
// at 20 ms, for produce latency at the median of 147 ms instead of 196 and
// 15 instead of 20.
func (f *Flusher) SealSoon() {
	f.mu.Lock()
	defer f.mu.Unlock()
	cur := f.cur
	if cur == nil {
		return
	}
	now := time.Now()
	if !f.sealedAt[0].Add(f.cfg.Interval).After(now) {
		f.sealLocked()
		return
	}
	f.moveDeadlineLocked(cur, now, now)
}

// nextFileCap sizes the next pending file's buffer after the last file
// sealed, with an eighth to spare: load changes slowly compared with the
// flush interval, so a steady stream fills its buffer without growing it,
// and a quiet agent does not hold MaxBytes per file.
func (f *Flusher) nextFileCap() int {
	return max(64<<10, min(f.lastFileBytes+f.lastFileBytes/8, 2*int(f.cfg.MaxBytes)))
}

// sealLocked moves the pending file into the upload/commit pipeline.
func (f *Flusher) sealLocked() {
	cur := f.cur
	if cur == nil {
		return
	}
	f.cur = nil
	if cur.timer != nil {
		cur.timer.Stop()
	}
	f.seq++
	cur.seq = f.seq
	f.sealedAt = [2]time.Time{f.sealedAt[1], time.Now()}
	cur.putDone = make(chan struct{})
	cur.key = fmt.Sprintf("%sfiles/%020d-%d-%d.wisp", f.prefix(), time.Now().UnixNano(), f.cfg.NodeID, cur.seq)
	cur.data = cur.b.Finish()
	cur.b = nil
	f.lastFileBytes = len(cur.data)
	f.queue <- cur // capacity bounds sealed files; blocking here is back-pressure
	go f.upload(cur)
}

func (f *Flusher) upload(pf *pendingFile) {
	defer close(pf.putDone)
	f.puts <- struct{}{}
	defer func() { <-f.puts }()
	var err error
	start := time.Now()
	if f.m != nil {
		defer func() { f.m.putSeconds.Observe(time.Since(start).Seconds()) }()
	}
	for attempt := 1; attempt <= f.cfg.PutAttempts; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), f.cfg.PutTimeout)
		err = f.store.Put(ctx, pf.key, pf.data)
		cancel()
		if err == nil {
			if f.prime != nil {
				f.prime(pf.key, pf.data)
			}
			return
		}
		f.log.Warn("uploading data file failed", "key", pf.key, "bytes", len(pf.data), "attempt", attempt, "err", err)
		if attempt < f.cfg.PutAttempts {
			time.Sleep(time.Duration(attempt) * 100 * time.Millisecond)
		}
	}
	pf.putErr = fmt.Errorf("put %s (%d bytes) to %s: %w", pf.key, len(pf.data), f.store, err)
}

// commitLoop commits sealed files one at a time in seal order.
func (f *Flusher) commitLoop() {
	defer close(f.loopDone)
	for pf := range f.queue {
		<-pf.putDone
		err := pf.putErr
		f.mu.Lock()
		poisoned := pf.seq <= f.failUpTo
		f.mu.Unlock()
		if err == nil && poisoned {
			err = fmt.Errorf("%w: an earlier data file failed, so later ones are refused to keep offsets in order", kafka.ErrNotCommitted)
		}
		var res fsm.CommitFileResult
		if err == nil {
			start := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			res, err = f.commit(ctx, &fsm.CommitFile{
				Key:     pf.key,
				Size:    int64(len(pf.data)),
				NodeID:  f.cfg.NodeID,
				NowMs:   time.Now().UnixMilli(),
				Batches: pf.metas,
				TxnEnds: pf.ends,
			})
			cancel()
			if f.m != nil {
				f.m.commitSeconds.Observe(time.Since(start).Seconds())
			}
			if err == nil && len(res.Batches) != len(pf.metas) {
				err = fmt.Errorf("commit of %s returned %d results for %d batches", pf.key, len(res.Batches), len(pf.metas))
			}
			if err == nil && outcomeForgotten(res) {
				// The producers retry: idempotent ones are deduplicated,
				// others may write twice, as after any timed-out produce.
				err = fmt.Errorf("commit of %s was retried after its first attempt was applied, and the metadata no longer holds that attempt's offsets", pf.key)
			}
		}
		if err != nil && !poisoned {
			// Fail everything sealed or pending now: the producers' retries
			// then arrive in order, instead of later batches overtaking them.
			f.mu.Lock()
			f.failUpTo = f.seq
			if f.cur != nil {
				f.failUpTo++ // the pending file gets the next sequence when sealed
			}
			f.mu.Unlock()
			f.log.Error("data file not committed; failing its produce requests with a retriable error", "key", pf.key, "err", err)
		}
		for _, t := range pf.tickets {
			if err != nil {
				t.err = fmt.Errorf("%w: %w", kafka.ErrNotCommitted, err)
			} else {
				t.results = res.Batches[t.first : t.first+t.n]
			}
			close(t.done)
		}
		if f.m != nil {
			if err != nil {
				f.m.flushFailures.Inc()
			} else {
				f.m.flushFiles.Inc()
				f.m.flushBytes.Add(float64(len(pf.data)))
				f.m.flushBatches.Add(float64(len(pf.metas)))
			}
		}
		f.mu.Lock()
		f.buffered -= pf.bytes
		if f.m != nil {
			f.m.buffered.Set(float64(f.buffered))
		}
		close(f.freed)
		f.freed = make(chan struct{})
		f.mu.Unlock()
		pf.data, pf.metas = nil, nil
	}
}

// Close seals the pending file and waits until every sealed file is
// committed or failed, or ctx ends. Appends after Close fail. Idempotent.
func (f *Flusher) Close(ctx context.Context) error {
	f.closeOnce.Do(func() {
		f.mu.Lock()
		f.closed = true
		f.sealLocked()
		close(f.queue)
		close(f.freed)
		f.freed = make(chan struct{})
		f.mu.Unlock()
	})
	select {
	case <-f.loopDone:
		return nil
	case <-ctx.Done():
		return errors.Join(errors.New("flusher did not drain before the shutdown deadline"), ctx.Err())
	}
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// outcomeForgotten reports a commit refused whole because its key is known
// but its outcome is not (see fsm/recent.go): the file is in the log, but
// the offsets its batches got are unknown.
func outcomeForgotten(res fsm.CommitFileResult) bool {
	for _, b := range res.Batches {
		if b.ErrorCode != kerr.DuplicateResource.Code {
			return false
		}
	}
	return len(res.Batches) > 0
}
