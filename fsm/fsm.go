package fsm

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/raft"
)

// FSM implements raft.FSM. Raft calls Apply, Snapshot and Restore from its
// FSM goroutine; every other method may be called from any goroutine.
type FSM struct {
	logger *slog.Logger

	mu sync.RWMutex // guards s; readers take it shared
	s  *state

	watchMu  sync.Mutex // guards watchers and appliedCh; never held together with mu
	watchers map[PartitionKey]map[*Waiter]struct{}

	// appliedIdx mirrors s.applied for WaitApplied, which must not take mu;
	// appliedCh is closed when it next advances (nil while nobody waits).
	appliedIdx atomic.Uint64
	appliedCh  chan struct{}
}

var _ raft.FSM = (*FSM)(nil)

// New returns an empty FSM. A nil logger discards.
func New(logger *slog.Logger) *FSM {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &FSM{
		logger:   logger,
		s:        newState(),
		watchers: make(map[PartitionKey]map[*Waiter]struct{}),
	}
}

// Apply applies one committed log entry and returns the command's result (see
// results.go for which type). It panics when the entry is not a command this
// replica understands, unless the command type carries IgnorableFlag: going
// on without it would let this replica silently diverge from the others.
func (f *FSM) Apply(l *raft.Log) interface{} {
	cmd, err := Decode(l.Data)
	if err != nil {
		if errors.Is(err, ErrUnknownCommand) && CommandType(l.Data[0])&IgnorableFlag != 0 {
			f.logger.Warn("skipping unknown ignorable command", "index", l.Index, "type", l.Data[0])
			f.mu.Lock()
			f.s.applied = l.Index
			f.mu.Unlock()
			f.advanced(l.Index, nil)
			return nil
		}
		panic(fmt.Sprintf("fsm: cannot apply raft log index %d: %v", l.Index, err))
	}

	res, advanced := f.applyLocked(l.Index, cmd)

	// Outside mu: a woken fetch will want the read lock at once.
	f.advanced(l.Index, advanced)
	return res
}

// applyLocked applies cmd under the write lock. The deferred unlock keeps
// readers from deadlocking should a caller recover an invariant panic.
func (f *FSM) applyLocked(index uint64, cmd Command) (any, []PartitionKey) {
	f.mu.Lock()
	defer f.mu.Unlock()
	res, advanced := f.s.apply(index, cmd)
	f.s.applied = index
	return res, advanced
}

// apply dispatches one decoded command. It returns the Apply response and the
// partitions whose waiters must be woken.
func (s *state) apply(index uint64, cmd Command) (any, []PartitionKey) {
	switch c := cmd.(type) {
	case InitCluster:
		if s.clusterID == "" {
			s.clusterID = c.ClusterID
		}
		return nil, nil
	case CreateTopic:
		return s.createTopic(c), nil
	case DeleteTopic:
		return s.deleteTopic(index, c)
	case CreatePartitions:
		return s.createPartitions(c), nil
	case CommitFile:
		return s.commitFile(index, c)
	case InitProducerID:
		return s.initProducerID(c), nil
	case ForgetFiles:
		s.forgetFiles(c)
		return nil, nil
	case CommitOffsets:
		return s.commitOffsets(c), nil
	case DeleteGroup:
		return s.deleteGroup(c), nil
	case DeleteOffsets:
		return s.deleteOffsets(c), nil
	case AlterTopicConfigs:
		return s.alterTopicConfigs(c), nil
	case TrimLog:
		return s.trimLog(index, c), nil
	case CompactFiles:
		return s.compactFiles(index, c), nil
	}
	if res, ok := s.applySecurity(index, cmd); ok {
		return res, nil
	}
	if res, ok := s.applyTxn(index, cmd); ok {
		return res, nil
	}
	panic(fmt.Sprintf("fsm: no apply for command %T at index %d", cmd, index))
}

// forgetFiles drops keys from the dead list; unknown keys are ignored so a
// retried ForgetFiles is harmless.
func (s *state) forgetFiles(c ForgetFiles) {
	drop := make(map[string]struct{}, len(c.Keys))
	for _, k := range c.Keys {
		if _, ok := s.deadKeys[k]; ok {
			drop[k] = struct{}{}
			delete(s.deadKeys, k)
		}
	}
	if len(drop) == 0 {
		return
	}
	kept := make([]DeadFile, 0, len(s.dead)-len(drop))
	for _, d := range s.dead {
		if _, ok := drop[d.Key]; !ok {
			kept = append(kept, d)
		}
	}
	s.dead = kept
}
