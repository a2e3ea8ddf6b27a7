package agent

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/hashicorp/raft"

	"github.com/wisp-stream/wisp/fsm"
	"github.com/wisp-stream/wisp/objstore"
)

// GCConfig tunes the two loops that remove objects from the bucket.
type GCConfig struct {
	// OrphanScanInterval is how often the bucket is reconciled against the
	// manifest (also once at start-up).
	OrphanScanInterval time.Duration
	// OrphanGrace protects recent objects: an upload whose commit is still
	// on its way looks exactly like an orphan, so only objects older than
	// this are ever deleted. It must exceed the longest upload plus commit.
	OrphanGrace time.Duration
	// DeadFileGrace is how long a dead file (deleted topic, superseded by
	// compaction) stays readable for fetches already in flight.
	DeadFileGrace time.Duration
}

// collector deletes objects no manifest references. It runs only on the
// Raft leader, so one agent at a time touches the bucket this way. Deleting
// is never a metadata operation: dead files are removed from the bucket
// first, then forgotten through Raft.
type collector struct {
	cfg    GCConfig
	store  objstore.Store
	fsm    *fsm.FSM
	raft   *raftNode
	prefix func() string
	drop   func(key string) // evicts a deleted file from the read cache
	log    *slog.Logger
	now    func() time.Time

	compactor *compactor // nil: no compaction
	m         *metrics   // nil in unit tests
}

func (c *collector) run(ctx context.Context) {
	scan := time.NewTimer(0) // reconcile once at start-up
	defer scan.Stop()
	dead := time.NewTicker(max(c.cfg.DeadFileGrace/4, time.Second))
	defer dead.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-scan.C:
			if c.isLeader() {
				if n, err := c.collectOrphans(ctx); err != nil {
					c.log.Warn("orphan scan failed; will retry", "err", err, "retry_in", c.cfg.OrphanScanInterval)
				} else if n > 0 {
					c.log.Info("deleted orphaned objects", "count", n)
				}
			}
			scan.Reset(c.cfg.OrphanScanInterval)
		case <-dead.C:
			if c.isLeader() {
				if err := c.applyRetention(ctx); err != nil {
					c.log.Warn("retention pass failed; will retry", "err", err)
				}
				if err := c.compact(ctx); err != nil {
					c.log.Warn("compaction pass failed; will retry", "err", err)
				}
				if err := c.deleteDead(ctx); err != nil {
					c.log.Warn("deleting dead files failed; will retry", "err", err)
				}
			}
		}
	}
}

func (c *collector) isLeader() bool { return c.raft.raft.State() == raft.Leader }

// collectOrphans deletes data files under this cluster's prefix that the
// manifest neither references nor lists as dead, oldest first, skipping any
// younger than the grace period. It returns how many it deleted.
func (c *collector) collectOrphans(ctx context.Context) (int, error) {
	if c.fsm.ClusterID() == "" {
		return 0, nil
	}
	prefix := c.prefix() + "files/"
	objs, err := c.store.List(ctx, prefix)
	if err != nil {
		return 0, fmt.Errorf("list %s: %w", prefix, err)
	}
	dead := map[string]bool{}
	for _, d := range c.fsm.DeadFiles() {
		dead[d.Key] = true
	}
	cutoff := c.now().Add(-c.cfg.OrphanGrace)
	deleted := 0
	for _, o := range objs { // keys start with the upload time: sorted oldest first
		if !strings.HasSuffix(o.Key, ".wisp") || o.Modified.After(cutoff) {
			continue
		}
		if c.fsm.FileLive(o.Key) || dead[o.Key] {
			continue
		}
		if err := c.store.Delete(ctx, o.Key); err != nil {
			return deleted, fmt.Errorf("delete orphan %s: %w", o.Key, err)
		}
		c.drop(o.Key)
		c.log.Info("deleted orphaned object: uploaded but never committed", "key", o.Key, "bytes", o.Size, "modified", o.Modified)
		deleted++
	}
	return deleted, nil
}

// deleteDead removes dead files whose grace has passed, then forgets them.
func (c *collector) deleteDead(ctx context.Context) error {
	cutoff := c.now().Add(-c.cfg.DeadFileGrace).UnixMilli()
	var gone []string
	for _, d := range c.fsm.DeadFiles() {
		if d.DiedMs > cutoff {
			continue
		}
		if err := c.store.Delete(ctx, d.Key); err != nil {
			return fmt.Errorf("delete dead file %s: %w", d.Key, err)
		}
		c.drop(d.Key)
		gone = append(gone, d.Key)
	}
	if len(gone) == 0 {
		return nil
	}
	if _, err := c.raft.apply(ctx, &fsm.ForgetFiles{Keys: gone}); err != nil {
		return fmt.Errorf("forget %d deleted files: %w", len(gone), err)
	}
	c.log.Info("deleted dead files", "count", len(gone))
	return nil
}
