package agent

import (
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/wisp-stream/wisp/cache"
)

func (a *Agent) httpHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if reason := a.notReady(); reason != "" {
			http.Error(w, "not ready: "+reason, http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.Handle("POST "+applyPath, a.raft.applyHandler())
	mux.Handle("POST "+leavePath, a.raft.leaveHandler())
	mux.Handle("GET "+indexPath, a.raft.indexHandler())
	mux.Handle(cache.BlockPath, cache.BlockHandler(a.cache))
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.metrics.reg, promhttp.HandlerOpts{}))
	return mux
}

// notReady says why the agent cannot serve Kafka traffic, or "" when it can.
func (a *Agent) notReady() string {
	switch {
	case !a.ready.Load():
		return "starting or shutting down"
	case a.fsm.ClusterID() == "":
		return "cluster id not yet committed"
	}
	if addr, _ := a.raft.raft.LeaderWithID(); addr == "" {
		return "no raft leader"
	}
	return ""
}
