package agent

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/wisp-stream/wisp/fsm"
)

// Retention runs on the Raft leader inside the collector loop. The leader
// reads each partition's manifest, decides how far retention.ms and
// retention.bytes move its log start, and proposes TrimLog with that offset
// and its clock: Apply never reads a clock, so every replica trims the same.
// Files whose every batch fell below the new log start become dead and the
// collector deletes them after the dead-file grace.

// Kafka's defaults, used when a topic has no override (or a bad one, which
// validation at alter time makes unreachable short of a hand-edited log).
const (
	defaultRetentionMs    = 604_800_000 // 7 days
	defaultRetentionBytes = -1          // unlimited
)

func init() {
	registerResult(fsm.TrimLogResult{})
}

// topicRetention reads a topic's retention settings: the time cutoff as
// "expire entries whose MaxTimestamp is below this" (math.MinInt64 when
// time retention is off) and the byte limit (-1 when off). ok is false when
// the cleanup policy does not delete (compact only), so retention does not
// apply.
func topicRetention(configs map[string]string, nowMs int64) (expireBeforeMs, maxBytes int64, ok bool) {
	if policy, set := configs["cleanup.policy"]; set && !strings.Contains(policy, "delete") {
		return 0, 0, false
	}
	ms := configInt(configs, "retention.ms", defaultRetentionMs)
	maxBytes = configInt(configs, "retention.bytes", defaultRetentionBytes)
	expireBeforeMs = math.MinInt64
	if ms >= 0 && ms <= nowMs {
		expireBeforeMs = nowMs - ms
	}
	if expireBeforeMs == math.MinInt64 && maxBytes < 0 {
		return 0, 0, false
	}
	return expireBeforeMs, maxBytes, true
}

func configInt(configs map[string]string, name string, def int64) int64 {
	v, set := configs[name]
	if !set {
		return def
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return def
	}
	return n
}

// applyRetention trims every partition that retention.ms or retention.bytes
// says has data due for deletion. It is called from the collector's loop on
// the leader only. A failed trim is retried on the next pass; the first
// error is returned after the others have been tried.
func (c *collector) applyRetention(ctx context.Context) error {
	if c.fsm.ClusterID() == "" {
		return nil
	}
	nowMs := c.now().UnixMilli()
	var errs []error
	trimmed := 0
	for _, t := range c.fsm.Topics() {
		expireBefore, maxBytes, ok := topicRetention(t.Configs, nowMs)
		if !ok {
			continue
		}
		for p := range t.Partitions {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			start, target, ok := c.fsm.RetentionTarget(t.ID, p, expireBefore, maxBytes)
			if !ok || target <= start {
				continue
			}
			res, err := c.raft.apply(ctx, &fsm.TrimLog{TopicID: t.ID, Partition: p, NewLogStart: target, NowMs: nowMs})
			if err == nil {
				if tr, isTrim := res.(fsm.TrimLogResult); !isTrim {
					err = fmt.Errorf("unexpected fsm response %T", res)
				} else if tr.ErrorCode != 0 && tr.ErrorCode != kerr.UnknownTopicOrPartition.Code { // deleted meanwhile: fine
					err = kerr.ErrorForCode(tr.ErrorCode)
				}
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("trim %s/%d to %d: %w", t.Name, p, target, err))
				continue
			}
			c.log.Debug("retention advanced log start", "topic", t.Name, "partition", p, "from", start, "to", target)
			trimmed++
		}
	}
	if trimmed > 0 {
		c.log.Info("retention trimmed partitions", "count", trimmed)
	}
	return errors.Join(errs...)
}
