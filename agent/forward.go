package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"time"

	"github.com/hashicorp/raft"

	"github.com/wisp-stream/wisp/fsm"
)

// Writes from any agent reach the metadata through the Raft leader. A
// follower forwards the encoded command over the leader's HTTP listener and
// gets the state machine's response back, so every agent's apply behaves
// the same: the caller sees the FSM result or an error, never "not leader".

const applyPath = "/internal/v1/raft/apply"

// errNoLeader means no leader is known right now; callers retry until their
// deadline, which rides out an election.
var errNoLeader = errors.New("no raft leader known")

// resultTypes maps the FSM's response types to names for the wire. A type
// missing here cannot be forwarded, which the forwarding test catches.
var resultTypes = map[string]reflect.Type{}

func registerResult(v any) {
	t := reflect.TypeOf(v)
	resultTypes[t.String()] = t
}

func init() {
	registerResult(fsm.CommitFileResult{})
	registerResult(fsm.TopicResult{})
	registerResult(fsm.InitProducerIDResult{})
	registerResult(fsm.CommitOffsetsResult{})
	registerResult(fsm.DeleteOffsetsResult{})
}

type resultEnvelope struct {
	Type  string          `json:"t,omitempty"`
	Value json.RawMessage `json:"v,omitempty"`
	Err   string          `json:"e,omitempty"`
}

func encodeResult(res any, err error) ([]byte, error) {
	if err != nil {
		return json.Marshal(resultEnvelope{Err: err.Error()})
	}
	if res == nil {
		return json.Marshal(resultEnvelope{})
	}
	name := reflect.TypeOf(res).String()
	if _, ok := resultTypes[name]; !ok {
		return nil, fmt.Errorf("fsm result type %s is not registered for forwarding", name)
	}
	v, err := json.Marshal(res)
	if err != nil {
		return nil, err
	}
	return json.Marshal(resultEnvelope{Type: name, Value: v})
}

func decodeResult(b []byte) (any, error) {
	var env resultEnvelope
	if err := json.Unmarshal(b, &env); err != nil {
		return nil, fmt.Errorf("decode forwarded result: %w", err)
	}
	if env.Err != "" {
		return nil, errors.New(env.Err)
	}
	if env.Type == "" {
		return nil, nil
	}
	t, ok := resultTypes[env.Type]
	if !ok {
		return nil, fmt.Errorf("forwarded result of unknown type %s (agents of different versions?)", env.Type)
	}
	p := reflect.New(t)
	if err := json.Unmarshal(env.Value, p.Interface()); err != nil {
		return nil, fmt.Errorf("decode forwarded %s: %w", env.Type, err)
	}
	return p.Elem().Interface(), nil
}

// applyHandler serves forwarded commands on the leader.
func (n *raftNode) applyHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		data, err := io.ReadAll(io.LimitReader(r.Body, 64<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if n.raft.State() != raft.Leader {
			http.Error(w, "not the raft leader", http.StatusMisdirectedRequest)
			return
		}
		timeout := 10 * time.Second
		if ms, err := strconv.Atoi(r.Header.Get("X-Wisp-Timeout-Ms")); err == nil && ms > 0 {
			timeout = time.Duration(ms) * time.Millisecond
		}
		fut := n.raft.Apply(data, timeout)
		var res any
		if err = fut.Error(); err == nil {
			res = fut.Response()
			if e, ok := res.(error); ok {
				res, err = nil, e
			}
		}
		if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) {
			http.Error(w, err.Error(), http.StatusMisdirectedRequest)
			return
		}
		body, encErr := encodeResult(res, err)
		if encErr != nil {
			http.Error(w, encErr.Error(), http.StatusInternalServerError)
			return
		}
		if err == nil {
			w.Header().Set("X-Wisp-Index", strconv.FormatUint(fut.Index(), 10))
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	})
}

// leaderHTTP is the current leader's node id and HTTP address, or an error
// wrapping errNoLeader while there is none (or it is not yet in gossip).
func (n *raftNode) leaderHTTP() (int32, string, error) {
	_, id := n.raft.LeaderWithID()
	if id == "" || n.peerHTTP == nil {
		return 0, "", errNoLeader
	}
	nodeID, err := strconv.Atoi(string(id))
	if err != nil {
		return 0, "", fmt.Errorf("leader id %q is not a node id", id)
	}
	addr, ok := n.peerHTTP(int32(nodeID))
	if !ok {
		return 0, "", fmt.Errorf("%w: leader %d has no known HTTP address yet", errNoLeader, nodeID)
	}
	return int32(nodeID), addr, nil
}

// forward sends an encoded command to the current leader once.
func (n *raftNode) forward(ctx context.Context, data []byte) (any, error) {
	nodeID, addr, err := n.leaderHTTP()
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+applyPath, bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		req.Header.Set("X-Wisp-Timeout-Ms", strconv.FormatInt(time.Until(dl).Milliseconds(), 10))
	}
	resp, err := n.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: forward to leader %d at %s: %v", errNoLeader, nodeID, addr, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	switch resp.StatusCode {
	case http.StatusOK:
		res, err := decodeResult(body)
		if err != nil {
			return nil, err
		}
		// Read your writes: do not return before the local replica has
		// applied the command, or the caller's next read could miss it.
		if idx, perr := strconv.ParseUint(resp.Header.Get("X-Wisp-Index"), 10, 64); perr == nil {
			if werr := n.fsm.WaitApplied(ctx, idx); werr != nil {
				return nil, werr
			}
		}
		return res, nil
	case http.StatusMisdirectedRequest:
		return nil, fmt.Errorf("%w: %d stopped leading: %s", errNoLeader, nodeID, bytes.TrimSpace(body))
	default:
		return nil, fmt.Errorf("leader %d at %s answered %s: %s", nodeID, addr, resp.Status, bytes.TrimSpace(body))
	}
}

const leavePath = "/internal/v1/raft/leave"

// leaveHandler removes the calling agent from the Raft configuration; only
// the leader can.
func (n *raftNode) leaveHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.URL.Query().Get("id")
		if id == "" {
			http.Error(w, "id is required", http.StatusBadRequest)
			return
		}
		if n.raft.State() != raft.Leader {
			http.Error(w, "not the raft leader", http.StatusMisdirectedRequest)
			return
		}
		if err := n.raft.RemoveServer(raft.ServerID(id), 0, 10*time.Second).Error(); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

// requestRemoval asks the leader to remove this agent, retrying through an
// election until ctx ends.
func (n *raftNode) requestRemoval(ctx context.Context) error {
	for {
		err := n.requestRemovalOnce(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (%w)", err, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (n *raftNode) requestRemovalOnce(ctx context.Context) error {
	if n.raft.State() == raft.Leader {
		// Leadership came back to us while leaving: remove ourselves.
		return n.raft.RemoveServer(n.localID, 0, 10*time.Second).Error()
	}
	nodeID, addr, err := n.leaderHTTP()
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+leavePath+"?id="+string(n.localID), nil)
	if err != nil {
		return err
	}
	resp, err := n.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		body, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("leader %d answered %s: %s", nodeID, resp.Status, bytes.TrimSpace(body))
	}
	return nil
}

const indexPath = "/internal/v1/raft/index"

// indexHandler tells a follower how far the leader has committed, so it can
// catch up before answering a read that must see recent writes. The index
// is that of the last committed command, the one the follower's state
// machine will report: after an election or a membership change the commit
// index itself names an entry the state machine never sees, and a follower
// waiting for it would wait for the next write. When the log holds no
// command up to there (compacted into a snapshot, or a leader that received
// its log as a snapshot and has seen no write since), it is the last command
// this leader's state machine applied, which every replica reaches too.
func (n *raftNode) indexHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.raft.State() != raft.Leader {
			http.Error(w, "not the raft leader", http.StatusMisdirectedRequest)
			return
		}
		if err := n.leaderCurrent(); err != nil {
			http.Error(w, "the new raft leader has not committed its first entry: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		idx := n.lastCommandAt(n.raft.CommitIndex())
		if idx == 0 {
			idx = n.fsm.AppliedIndex()
		}
		fmt.Fprint(w, idx)
	})
}

// syncWithLeader waits until the local replica has applied everything the
// leader had committed when asked: a linearizable point for reads that just
// missed (a topic created through another agent a moment ago).
func (n *raftNode) syncWithLeader(ctx context.Context) error {
	if n.raft.State() == raft.Leader {
		return nil
	}
	_, addr, err := n.leaderHTTP()
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+indexPath, nil)
	if err != nil {
		return err
	}
	resp, err := n.http.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %v", errNoLeader, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%w: leader answered %s", errNoLeader, resp.Status)
	}
	idx, err := strconv.ParseUint(string(bytes.TrimSpace(body)), 10, 64)
	if err != nil {
		return err
	}
	return n.fsm.WaitApplied(ctx, idx)
}
