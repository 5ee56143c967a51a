package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// serveHTTP serves operations endpoints on addr until stop is called:
//
//	/              the live view: SKUs, remaining, rate and leader (live.go)
//	/live.json     what the live view shows, as JSON
//	/metrics       Prometheus metrics of reg
//	/healthz       200 "ok" while the process runs
//	/readyz        200 "leading", or 200 "standby" while etcd answers; else 503
//	/debug/stats   the responder's counters as JSON
//	/debug/pprof/  Go profiles
//
// Handlers run concurrently with Run and read only what Run publishes
// atomically. stop shuts the server down, waiting up to 2 s for requests in
// flight, and waits for it.
func (m *Main) serveHTTP(addr string, reg *prometheus.Registry) (stop func(), err error) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", m.servePage)
	mux.HandleFunc("GET /live.json", m.serveLive)
	mux.Handle("GET /metrics", promhttp.InstrumentMetricHandler(reg,
		promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg, Timeout: 10 * time.Second})))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		state, ok := m.readiness(r.Context())
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		fmt.Fprintln(w, state)
	})
	mux.HandleFunc("GET /debug/stats", func(w http.ResponseWriter, r *http.Request) {
		resp := m.resp.Load()
		if resp == nil {
			http.Error(w, "starting", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(resp.Stats())
	})
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("-http %s: %w", addr, err)
	}
	m.httpAddr = ln.Addr().String()
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			m.log.Error("http server failed", "err", err)
		}
	}()
	return func() {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		<-done
	}, nil
}

// readiness says whether this node leads and serves, or stands by able to
// lead (etcd answers within a second).
func (m *Main) readiness(ctx context.Context) (string, bool) {
	if m.Leading() {
		return "leading", true
	}
	parts := m.parts.Load()
	if parts == nil {
		return "starting", false
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if _, err := (*parts)[0].elector.Leader(ctx); err != nil {
		return "etcd unreachable: " + err.Error(), false
	}
	return "standby", true
}
