package agent

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
)

// Prices are per-request prices of the bucket, in US dollars per 1,000
// requests. PUT and LIST are billed alike by S3 (its "PUT, COPY, POST, LIST"
// tier); DELETE is free.
type Prices struct {
	PutPer1000 float64 `json:"putPer1000"`
	GetPer1000 float64 `json:"getPer1000"`
}

// DefaultPrices are S3 Standard's request prices (us-east-1): $0.005 per
// 1,000 PUT/LIST and $0.0004 per 1,000 GET.
func DefaultPrices() Prices { return Prices{PutPer1000: 0.005, GetPer1000: 0.0004} }

// per1000 is the price of 1,000 requests of one kind.
func (p Prices) per1000(op string) float64 {
	switch op {
	case "put", "list":
		return p.PutPer1000
	case "get":
		return p.GetPer1000
	}
	return 0
}

// ThroughputResponse is GET /api/v1/throughput.
type ThroughputResponse struct {
	// Scope is "cluster" (every agent's samples summed per second) or
	// "local" (?scope=local: this agent's own).
	Scope  string  `json:"scope"`
	NodeID int32   `json:"nodeId"`
	Agents []int32 `json:"agents"` // the agents whose samples are included
	// Unreachable lists agents that did not answer, with why.
	Unreachable map[string]string `json:"unreachable,omitempty"`
	// Series holds one sample per second, oldest first, at most
	// ?seconds= (default 300, at most 600) long.
	Series []Sample `json:"series"`
}

// seconds reads ?name= as a count of seconds in [1, max], def when absent.
func secondsParam(r *http.Request, name string, def, limit int) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > limit {
		return 0, fmt.Errorf("%w: ?%s=%q must be a whole number of seconds from 1 to %d", errBadRequest, name, v, limit)
	}
	return n, nil
}

func (a *Agent) apiThroughput(w http.ResponseWriter, r *http.Request) {
	n, err := secondsParam(r, "seconds", 300, sampleRing)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	writeJSON(w, http.StatusOK, a.throughput(r, n))
}

// throughput sums this agent's series with every other agent's, second by
// second. Seconds after the newest one every answering agent has sampled are
// left out, so the last point never dips because an agent's tick is late.
func (a *Agent) throughput(r *http.Request, n int) ThroughputResponse {
	resp := ThroughputResponse{Scope: "local", NodeID: a.nodeID, Agents: []int32{a.nodeID}, Series: a.ops.series(n)}
	if r.URL.Query().Get("scope") == "local" {
		return resp
	}
	resp.Scope = "cluster"
	all := [][]Sample{resp.Series}
	for _, p := range a.askPeers(r.Context(), fmt.Sprintf("%s/throughput?scope=local&seconds=%d", apiPrefix, n)) {
		var pr ThroughputResponse
		if p.err == nil {
			p.err = json.Unmarshal(p.body, &pr)
		}
		if p.err != nil {
			if resp.Unreachable == nil {
				resp.Unreachable = map[string]string{}
			}
			resp.Unreachable[strconv.Itoa(int(p.nodeID))] = p.err.Error()
			continue
		}
		resp.Agents = append(resp.Agents, p.nodeID)
		all = append(all, pr.Series)
	}
	slices.Sort(resp.Agents)
	resp.Series = sumSeries(all, n)
	return resp
}

// sumSeries adds samples of the same second; an agent without a sample for a
// second (it had just started) adds nothing to it.
func sumSeries(all [][]Sample, n int) []Sample {
	var last int64 = -1
	for _, s := range all {
		if len(s) == 0 {
			continue
		}
		if t := s[len(s)-1].T; last < 0 || t < last {
			last = t
		}
	}
	if last < 0 {
		return []Sample{}
	}
	byT := map[int64]*Sample{}
	for _, series := range all {
		for _, s := range series {
			if s.T > last || s.T <= last-int64(n) {
				continue
			}
			sum := byT[s.T]
			if sum == nil {
				sum = &Sample{T: s.T, ObjstoreRequestsPerSec: map[string]float64{}}
				for _, op := range storeOps {
					sum.ObjstoreRequestsPerSec[string(op)] = 0
				}
				byT[s.T] = sum
			}
			sum.ProduceBytesPerSec += s.ProduceBytesPerSec
			sum.ProduceRecordsPerSec += s.ProduceRecordsPerSec
			sum.FetchBytesPerSec += s.FetchBytesPerSec
			sum.FetchRecordsPerSec += s.FetchRecordsPerSec
			for op, v := range s.ObjstoreRequestsPerSec {
				sum.ObjstoreRequestsPerSec[op] += v
			}
		}
	}
	out := make([]Sample, 0, len(byT))
	for _, s := range byT {
		out = append(out, *s)
	}
	slices.SortFunc(out, func(x, y Sample) int { return int(x.T - y.T) })
	return out
}

// OpTotals are one kind's object-store requests since the agents started.
type OpTotals struct {
	Requests int64 `json:"requests"`
	Bytes    int64 `json:"bytes"`
	Errors   int64 `json:"errors"`
}

// ObjstoreResponse is GET /api/v1/objstore.
type ObjstoreResponse struct {
	Scope       string            `json:"scope"`
	NodeID      int32             `json:"nodeId"`
	Agents      []int32           `json:"agents"`
	Unreachable map[string]string `json:"unreachable,omitempty"`
	// WindowSeconds is how many seconds the rates average over (?window=,
	// default 60), fewer while the agents have not run that long.
	WindowSeconds int `json:"windowSeconds"`
	// RequestsPerSec is the average rate by kind: put, get, delete, list.
	RequestsPerSec map[string]float64 `json:"requestsPerSec"`
	// Totals counts requests since each agent started, by kind.
	Totals map[string]OpTotals `json:"totals"`
	// Prices are the agent's --price-* flags unless ?putPer1000= or
	// ?getPer1000= override them.
	Prices Prices `json:"prices"`
	// CostPerDay is RequestsPerSec x 86,400 x the price, by kind and in
	// Total, in US dollars: what a day at this rate would cost.
	CostPerDay map[string]float64 `json:"costPerDay"`
}

func (a *Agent) apiObjstore(w http.ResponseWriter, r *http.Request) {
	window, err := secondsParam(r, "window", 60, sampleRing)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	prices := a.cfg.Prices
	for _, p := range []struct {
		name string
		dst  *float64
	}{{"putPer1000", &prices.PutPer1000}, {"getPer1000", &prices.GetPer1000}} {
		if v := r.URL.Query().Get(p.name); v != "" {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || f < 0 {
				writeError(w, http.StatusBadRequest, fmt.Errorf("%w: ?%s=%q must be a price in dollars, 0 or more", errBadRequest, p.name, v))
				return
			}
			*p.dst = f
		}
	}
	local := r.URL.Query().Get("scope") == "local"
	resp := ObjstoreResponse{Scope: "local", NodeID: a.nodeID, Agents: []int32{a.nodeID}, Prices: prices, Totals: map[string]OpTotals{}}
	for op, s := range a.store.Snapshot() {
		resp.Totals[string(op)] = OpTotals{Requests: s.Requests, Bytes: s.Bytes, Errors: s.Errors}
	}
	series := a.ops.series(window)
	if !local {
		resp.Scope = "cluster"
		all := [][]Sample{series}
		for _, p := range a.askPeers(r.Context(), fmt.Sprintf("%s/objstore?scope=local&window=%d", apiPrefix, window)) {
			var pr struct {
				ObjstoreResponse
				Series []Sample `json:"series"`
			}
			if p.err == nil {
				p.err = json.Unmarshal(p.body, &pr)
			}
			if p.err != nil {
				if resp.Unreachable == nil {
					resp.Unreachable = map[string]string{}
				}
				resp.Unreachable[strconv.Itoa(int(p.nodeID))] = p.err.Error()
				continue
			}
			resp.Agents = append(resp.Agents, p.nodeID)
			for op, t := range pr.Totals {
				sum := resp.Totals[op]
				sum.Requests += t.Requests
				sum.Bytes += t.Bytes
				sum.Errors += t.Errors
				resp.Totals[op] = sum
			}
			all = append(all, pr.Series)
		}
		slices.Sort(resp.Agents)
		series = sumSeries(all, window)
	}
	resp.WindowSeconds = len(series)
	resp.RequestsPerSec = map[string]float64{}
	resp.CostPerDay = map[string]float64{"total": 0}
	for _, op := range storeOps {
		var sum float64
		for _, s := range series {
			sum += s.ObjstoreRequestsPerSec[string(op)]
		}
		rate := 0.0
		if len(series) > 0 {
			rate = sum / float64(len(series))
		}
		resp.RequestsPerSec[string(op)] = rate
		cost := rate * 86400 / 1000 * prices.per1000(string(op))
		resp.CostPerDay[string(op)] = cost
		resp.CostPerDay["total"] += cost
	}
	if local {
		// Peers need the raw series to sum it with the others.
		writeJSON(w, http.StatusOK, struct {
			ObjstoreResponse
			Series []Sample `json:"series"`
		}{resp, series})
		return
	}
	writeJSON(w, http.StatusOK, resp)
}
