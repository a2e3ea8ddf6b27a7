package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/wisp-stream/wisp/gossip"
)

// The JSON API behind the console, under /api/v1/. Every agent answers every
// endpoint for the whole cluster: metadata from its Raft replica, traffic by
// asking the other agents for their own samples, consumer groups through the
// cluster's Kafka listener (so whichever agent coordinates a group, the
// answer is the same). The README documents each endpoint.

const apiPrefix = "/api/v1"

// peerTimeout bounds one agent-to-agent API call made while answering.
const peerTimeout = 2 * time.Second

func (a *Agent) apiRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET "+apiPrefix+"/agents", a.apiAgents)
	mux.HandleFunc("GET "+apiPrefix+"/throughput", a.apiThroughput)
	mux.HandleFunc("GET "+apiPrefix+"/objstore", a.apiObjstore)
	mux.HandleFunc("GET "+apiPrefix+"/topics", a.apiTopics)
	mux.HandleFunc("POST "+apiPrefix+"/topics", a.apiCreateTopic)
	mux.HandleFunc("GET "+apiPrefix+"/topics/{topic}", a.apiTopic)
	mux.HandleFunc("DELETE "+apiPrefix+"/topics/{topic}", a.apiDeleteTopic)
	mux.HandleFunc("GET "+apiPrefix+"/groups", a.apiGroups)
	mux.HandleFunc("GET "+apiPrefix+"/groups/{group}", a.apiGroup)
	mux.HandleFunc(apiPrefix+"/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Errorf("no API endpoint %s %s; see the README's JSON API section", r.Method, r.URL.Path))
	})
}

// apiError is the body of every non-2xx answer.
type apiError struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // the client went away: nothing to do
}

func writeError(w http.ResponseWriter, status int, err error) {
	writeJSON(w, status, apiError{Error: err.Error()})
}

// AgentInfo is one agent in GET /api/v1/agents.
type AgentInfo struct {
	NodeID int32  `json:"nodeId"`
	Zone   string `json:"zone"`
	// RaftRole is leader, voter, non-voter, or none (not yet added by the
	// leader).
	RaftRole   string `json:"raftRole"`
	KafkaAddr  string `json:"kafkaAddr"`
	HTTPAddr   string `json:"httpAddr"`
	GossipAddr string `json:"gossipAddr"`
	// State is alive, leaving (shutting down gracefully) or missing (in the
	// Raft configuration but gone from gossip).
	State string `json:"state"`
	// StartedMs is when the agent started (Unix ms); 0 and UptimeSeconds -1
	// when unknown.
	StartedMs     int64   `json:"startedMs"`
	UptimeSeconds float64 `json:"uptimeSeconds"`
	// Self marks the agent that answered.
	Self bool `json:"self"`
}

// AgentsResponse is GET /api/v1/agents.
type AgentsResponse struct {
	ClusterID string      `json:"clusterId"`
	NodeID    int32       `json:"nodeId"`   // the agent that answered
	LeaderID  int32       `json:"leaderId"` // the Raft leader; 0 while there is none
	Agents    []AgentInfo `json:"agents"`   // sorted by node id
}

func (a *Agent) apiAgents(w http.ResponseWriter, r *http.Request) {
	resp, err := a.agents()
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, fmt.Errorf("read the raft configuration: %w; retry once the agent has a leader", err))
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func (a *Agent) agents() (AgentsResponse, error) {
	servers, err := a.RaftServers()
	if err != nil {
		return AgentsResponse{}, err
	}
	resp := AgentsResponse{ClusterID: a.fsm.ClusterID(), NodeID: a.nodeID, Agents: []AgentInfo{}}
	if _, id := a.raft.raft.LeaderWithID(); id != "" {
		n, _ := strconv.ParseInt(string(id), 10, 32)
		resp.LeaderID = int32(n)
	}
	now := time.Now()
	seen := map[string]bool{}
	role := func(id string) string {
		switch {
		case id == strconv.Itoa(int(resp.LeaderID)):
			return "leader"
		case servers[id] == "voter":
			return "voter"
		case servers[id] == "nonvoter":
			return "non-voter"
		}
		return "none"
	}
	members := a.gossip.Members()
	if !slices.ContainsFunc(members, func(m gossip.Member) bool { return m.Meta.NodeID == a.nodeID }) {
		members = append(members, a.gossip.LocalMember()) // while leaving gossip
	}
	for _, m := range members {
		id := strconv.Itoa(int(m.Meta.NodeID))
		seen[id] = true
		info := AgentInfo{
			NodeID: m.Meta.NodeID, Zone: m.Meta.AZ, RaftRole: role(id),
			KafkaAddr: m.Meta.KafkaAddr, HTTPAddr: m.Meta.HTTPAddr, GossipAddr: m.Addr,
			State: "alive", StartedMs: m.Meta.StartedMs, UptimeSeconds: -1,
			Self: m.Meta.NodeID == a.nodeID,
		}
		if m.Meta.HasRole(roleLeaving) {
			info.State = "leaving"
		}
		if info.StartedMs > 0 {
			info.UptimeSeconds = now.Sub(time.UnixMilli(info.StartedMs)).Truncate(time.Second).Seconds()
		}
		resp.Agents = append(resp.Agents, info)
	}
	for id := range servers {
		if seen[id] {
			continue
		}
		n, _ := strconv.ParseInt(id, 10, 32)
		resp.Agents = append(resp.Agents, AgentInfo{NodeID: int32(n), RaftRole: role(id), State: "missing", UptimeSeconds: -1})
	}
	slices.SortFunc(resp.Agents, func(x, y AgentInfo) int { return int(x.NodeID) - int(y.NodeID) })
	return resp, nil
}

// peerAnswer is one other agent's answer to an API call.
type peerAnswer struct {
	nodeID int32
	body   []byte
	err    error
}

// askPeers sends GET path to every other live agent that serves HTTP, in
// parallel, each bounded by peerTimeout.
func (a *Agent) askPeers(ctx context.Context, path string) []peerAnswer {
	var peers []gossip.Member
	for _, m := range a.gossip.Members() {
		if m.Meta.NodeID != a.nodeID && m.Meta.HTTPAddr != "" && m.Meta.KafkaAddr != "" {
			peers = append(peers, m)
		}
	}
	out := make([]peerAnswer, len(peers))
	var wg sync.WaitGroup
	for i, m := range peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = peerAnswer{nodeID: m.Meta.NodeID}
			out[i].body, out[i].err = a.peerGet(ctx, m.Meta.HTTPAddr, path)
		}()
	}
	wg.Wait()
	return out
}

func (a *Agent) peerGet(ctx context.Context, addr, path string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, peerTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := a.raft.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		var e apiError
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			return nil, fmt.Errorf("agent at %s: %s", addr, e.Error)
		}
		return nil, fmt.Errorf("agent at %s answered %s", addr, resp.Status)
	}
	return body, nil
}

var errBadRequest = errors.New("bad request")

// syncRead catches the local replica up with what the Raft leader has
// committed before a metadata read, so every agent gives the same answer and
// a client sees its own writes. Without a reachable leader the replica
// answers as it is: a console that shows slightly old data beats none.
func (a *Agent) syncRead(ctx context.Context) {
	if err := (*backend)(a).SyncMetadata(ctx); err != nil {
		a.log.Debug("API read from a replica that may lag the leader", "err", err)
	}
}
