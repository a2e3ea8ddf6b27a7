package fsm

// A commit is retried when its proposer cannot tell whether the first attempt
// was applied: the leader died, or its answer was lost, after the entry was
// committed. The retry then finds its key known. Refusing it would tell the
// producers that records failed which are in the log, with an error they do
// not retry; so the outcome of each recent commit is kept, and a retry of one
// gets the same answer, as a Raft client session would.
//
// The outcomes only shape answers, never the state, so they are not part of
// snapshots: a replica restored from one, or a retry older than the window,
// gets DUPLICATE_RESOURCE, which the proposer treats as an unknown outcome.
const (
	// recentFiles bounds how many commits are remembered, recentBatches
	// how many batch outcomes over all of them (16 bytes each). A retry
	// comes within its proposer's commit timeout; at 150 commits a second
	// of 12 partitions these keep about 100 s, at 60 a second of 1,000
	// partitions about 17 s, in at most 16 MiB.
	recentFiles   = 16384
	recentBatches = 1 << 20
)

// outcome is a BatchResult without its log start offset, which a retry
// reads afresh.
type outcome struct {
	base int64
	code int16
	dup  bool
}

type recentCommits struct {
	byKey   map[string][]outcome
	order   []string // oldest first from head
	head    int
	batches int
}

func (r *recentCommits) add(key string, res []BatchResult) {
	if r.byKey == nil {
		r.byKey = make(map[string][]outcome)
	}
	out := make([]outcome, len(res))
	for i, b := range res {
		out[i] = outcome{base: b.BaseOffset, code: b.ErrorCode, dup: b.Duplicate}
	}
	if old, ok := r.byKey[key]; ok {
		// The key was committed again after ForgetFiles dropped it: keep
		// its place in order, which must name each key once.
		r.batches -= len(old)
	} else {
		r.order = append(r.order, key)
	}
	r.byKey[key] = out
	r.batches += len(out)
	for len(r.order)-r.head > recentFiles || r.batches > recentBatches {
		old := r.order[r.head]
		r.order[r.head] = ""
		r.head++
		r.batches -= len(r.byKey[old])
		delete(r.byKey, old)
	}
	if r.head > len(r.order)/2 && r.head > 1024 {
		r.order = append(r.order[:0:0], r.order[r.head:]...)
		r.head = 0
	}
}

// replayCommit answers a retry of the commit c from its remembered outcome; ok is
// false when none is remembered or it has another number of batches. It does
// not compare the batches themselves: a file key names one upload of one
// agent, and a retry resends the very command that was applied.
func (s *state) replayCommit(c CommitFile) (CommitFileResult, bool) {
	out, ok := s.recent.byKey[c.Key]
	if !ok || len(out) != len(c.Batches) {
		return CommitFileResult{}, false
	}
	res := CommitFileResult{Batches: make([]BatchResult, len(out))}
	for i, o := range out {
		if o.code != 0 {
			res.Batches[i] = BatchResult{ErrorCode: o.code, BaseOffset: -1, LogStartOffset: -1}
			continue
		}
		ls := int64(-1)
		if p := s.partition(c.Batches[i].TopicID, c.Batches[i].Partition); p != nil {
			ls = p.logStart
		}
		res.Batches[i] = BatchResult{BaseOffset: o.base, LogStartOffset: ls, Duplicate: o.dup}
	}
	return res, true
}
