package agent

import (
	"fmt"
	"net/http"
	"net/http/pprof"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/wisp-stream/wisp/agent/console"
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
	// Agent-to-agent routes: signed with the cluster secret (clusterauth.go).
	mux.Handle("POST "+applyPath, a.httpAuth.protect("apply", a.raft.applyHandler()))
	mux.Handle("POST "+leavePath, a.httpAuth.protect("leave", a.raft.leaveHandler()))
	mux.Handle("GET "+indexPath, a.httpAuth.protect("index", a.raft.indexHandler()))
	mux.Handle(cache.BlockPath, a.httpAuth.protect("cache", cache.BlockHandler(a.cache)))
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.metrics.reg, promhttp.HandlerOpts{}))
	a.apiRoutes(mux)
	ui := console.Handler()
	mux.Handle("GET /{$}", ui)
	mux.Handle("GET "+console.AssetPrefix, ui)
	if a.cfg.Pprof {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
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
