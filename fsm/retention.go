package fsm

import (
	"maps"

	"github.com/twmb/franz-go/pkg/kerr"
)

// alterTopicConfigs applies a config change. The topic's config map is
// replaced, never written in place, because snapshots share it.
func (s *state) alterTopicConfigs(c AlterTopicConfigs) TopicResult {
	t := s.topics[c.Name]
	if t == nil {
		return topicError(kerr.UnknownTopicOrPartition, "topic %q does not exist", c.Name)
	}
	var next map[string]string
	if c.Replace {
		next = maps.Clone(c.Set)
	} else {
		next = maps.Clone(t.info.Configs)
		if next == nil {
			next = make(map[string]string, len(c.Set))
		}
		for _, k := range c.Delete {
			delete(next, k)
		}
		maps.Copy(next, c.Set)
	}
	if len(next) == 0 {
		next = nil // one representation of "no configs", as createTopic
	}
	t.info.Configs = next
	return TopicResult{Topic: t.info.clone()}
}

// trimLog advances a partition's log start and drops the manifest entries
// wholly below it. Their files lose one reference each; a file left with
// none dies at this index, so the deleter removes it after its grace.
func (s *state) trimLog(index uint64, c TrimLog) TrimLogResult {
	p := s.partition(c.TopicID, c.Partition)
	if p == nil {
		return TrimLogResult{ErrorCode: kerr.UnknownTopicOrPartition.Code, LogStartOffset: -1}
	}
	if c.NewLogStart < 0 || c.NewLogStart > p.hw {
		return TrimLogResult{ErrorCode: kerr.OffsetOutOfRange.Code, LogStartOffset: -1}
	}
	if c.NewLogStart <= p.logStart {
		return TrimLogResult{LogStartOffset: p.logStart}
	}
	p.logStart = c.NewLogStart
	for _, e := range p.m.trimBefore(c.NewLogStart) {
		s.unref(e.Key, index, c.NowMs)
	}
	return TrimLogResult{LogStartOffset: p.logStart}
}

// RetentionTarget computes where retention would move a partition's log
// start: past the oldest entries whose MaxTimestamp is below expireBeforeMs
// (math.MinInt64 disables time retention), then past further oldest entries
// as long as the bytes that remain stay at or above maxBytes (negative
// disables size retention), which is how Kafka keeps at least
// retention.bytes. Expiry stops at the first entry that has not expired, as
// Kafka stops at the first segment that has not: offsets stay contiguous.
// An entry without a timestamp (MaxTimestamp < 0) ages from its file's
// creation. It returns the current log start and the target (equal when
// nothing is due); false if the partition does not exist. The caller
// proposes TrimLog when target > logStart.
func (f *FSM) RetentionTarget(topicID [16]byte, p int32, expireBeforeMs, maxBytes int64) (logStart, target int64, ok bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	part := f.s.partition(topicID, p)
	if part == nil {
		return 0, 0, false
	}
	es := part.m.entries
	k := 0
	for k < len(es) {
		ts := es[k].MaxTimestamp
		if ts < 0 {
			ts = f.s.files[es[k].Key].createdMs
		}
		if ts >= expireBeforeMs {
			break
		}
		k++
	}
	if maxBytes >= 0 {
		left := part.m.bytes
		for i := range k {
			left -= es[i].Len
		}
		for k < len(es) && left-es[k].Len >= maxBytes {
			left -= es[k].Len
			k++
		}
	}
	target = part.logStart
	switch {
	case k > 0 && k == len(es):
		target = part.hw
	case k > 0:
		target = max(target, es[k].BaseOffset)
	}
	return part.logStart, target, true
}
