package api

import (
	"context"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// diskUser is implemented by stores that can report their size.
type diskUser interface {
	DiskUsage(ctx context.Context) (int64, error)
}

// handleDBHealth serves GET /api/v1/db-health/check: the store answers a
// head read, with its latency; when it does not (within 2 s), 503 in the
// error shape with the store, latency and status beside "error" (the
// message keeps the store's error: the route is for operators).
func (s *Server) handleDBHealth(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	start := time.Now()
	head, err := s.events.Head(ctx)
	lat := time.Since(start)
	out := map[string]any{"store": s.kind, "latency_ms": float64(lat.Microseconds()) / 1000}
	if err != nil {
		s.log.Warn("db health check failed", "err", err)
		out["status"] = "unavailable"
		writeErrorWith(w, r, s.log, &Error{Code: CodeUnavailable, Message: "the event store did not answer a head read: " + err.Error()}, out)
		return
	}
	out["status"], out["head"] = "ok", uint64(head)
	writeJSON(w, http.StatusOK, out)
}

// handleSystem serves GET /api/v1/monitoring/system.
func (s *Server) handleSystem(w http.ResponseWriter, r *http.Request) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	out := map[string]any{
		"version":        s.cfg.Version,
		"go_version":     runtime.Version(),
		"uptime_seconds": int64(time.Since(s.started).Seconds()),
		"goroutines":     runtime.NumGoroutine(),
		"cpus":           runtime.NumCPU(),
		"memory": map[string]any{
			"heap_alloc_bytes": ms.HeapAlloc, "heap_inuse_bytes": ms.HeapInuse, "sys_bytes": ms.Sys,
			"total_alloc_bytes": ms.TotalAlloc,
		},
		"gc": map[string]any{
			"count": ms.NumGC, "pause_total_ms": float64(ms.PauseTotalNs) / 1e6,
			"last_pause_ms": float64(ms.PauseNs[(ms.NumGC+255)%256]) / 1e6, "next_gc_bytes": ms.NextGC,
		},
	}
	store := map[string]any{"kind": s.kind}
	if head, err := s.events.Head(r.Context()); err == nil {
		store["head"] = uint64(head)
	} else {
		store["error"] = err.Error()
	}
	if du, ok := s.events.(diskUser); ok {
		if n, err := du.DiskUsage(r.Context()); err == nil {
			store["disk_bytes"] = n
		}
	}
	out["store"] = store
	writeJSON(w, http.StatusOK, out)
}

// handleRecentErrors serves GET /api/v1/errors/recent?limit=N (default 50):
// the newest warnings and errors first.
func (s *Server) handleRecentErrors(w http.ResponseWriter, r *http.Request) {
	limit := 50
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			writeError(w, r, s.log, invalid("limit", "must be a positive integer, got %q", v))
			return
		}
		limit = n
	}
	errs, total := s.mon.Errors.Recent(limit)
	writeJSON(w, http.StatusOK, map[string]any{"errors": errs, "total": total})
}

// metricSample is one series of a metric family in the JSON view.
type metricSample struct {
	Labels map[string]string `json:"labels,omitempty"`
	Value  *float64          `json:"value,omitempty"` // counters and gauges
	Count  *uint64           `json:"count,omitempty"` // histograms and summaries
	Sum    *float64          `json:"sum,omitempty"`
}

// handleMetricsJSON serves GET /api/v1/monitoring/metrics: the same
// families as /metrics, as JSON for dashboards that do not speak the
// Prometheus format. ?prefix=algoauto_ keeps families by name prefix.
func (s *Server) handleMetricsJSON(w http.ResponseWriter, r *http.Request) {
	fams, err := s.mon.Registry().Gather()
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	prefix := r.URL.Query().Get("prefix")
	out := map[string][]metricSample{}
	for _, f := range fams {
		if !strings.HasPrefix(f.GetName(), prefix) {
			continue
		}
		for _, m := range f.GetMetric() {
			out[f.GetName()] = append(out[f.GetName()], sample(f.GetType(), m))
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"metrics": out})
}

func sample(t dto.MetricType, m *dto.Metric) metricSample {
	var smp metricSample
	if len(m.GetLabel()) > 0 {
		smp.Labels = map[string]string{}
		for _, l := range m.GetLabel() {
			smp.Labels[l.GetName()] = l.GetValue()
		}
	}
	f := func(v float64) *float64 { return &v }
	u := func(v uint64) *uint64 { return &v }
	switch t {
	case dto.MetricType_COUNTER:
		smp.Value = f(m.GetCounter().GetValue())
	case dto.MetricType_GAUGE:
		smp.Value = f(m.GetGauge().GetValue())
	case dto.MetricType_UNTYPED:
		smp.Value = f(m.GetUntyped().GetValue())
	case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
		smp.Count, smp.Sum = u(m.GetHistogram().GetSampleCount()), f(m.GetHistogram().GetSampleSum())
	case dto.MetricType_SUMMARY:
		smp.Count, smp.Sum = u(m.GetSummary().GetSampleCount()), f(m.GetSummary().GetSampleSum())
	}
	return smp
}
