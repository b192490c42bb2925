// Package monitoring measures the running system: Prometheus metrics (HTTP
// latency by route, append latency, ingest, projection lag, errors), a
// bounded ring of recent errors fed by the structured logger, and an
// instrumented event store. It holds no globals: cmd builds one Monitor and
// hands it to the components it observes.
package monitoring

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/algoauto/algoauto/eventstore"
)

// Monitor owns a Prometheus registry and the recent-errors ring.
type Monitor struct {
	reg      *prometheus.Registry
	httpDur  *prometheus.HistogramVec
	appendD  *prometheus.HistogramVec
	appended *prometheus.CounterVec
	errCount *prometheus.CounterVec
	Errors   *ErrorRing
}

// New returns a monitor with Go runtime and process collectors registered.
func New() *Monitor {
	m := &Monitor{reg: prometheus.NewRegistry(), Errors: NewErrorRing(200)}
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.httpDur = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "algoauto_http_request_duration_seconds", Help: "HTTP request latency by route pattern, method and status code.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
	}, []string{"route", "method", "code"})
	m.appendD = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "algoauto_store_append_duration_seconds", Help: "Event store append latency (until durable), by outcome.",
		Buckets: []float64{.0002, .0005, .001, .002, .005, .01, .025, .05, .1, .25, 1},
	}, []string{"outcome"})
	m.appended = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "algoauto_store_appended_events_total", Help: "Events acknowledged by the event store, by stream category.",
	}, []string{"category"})
	m.errCount = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "algoauto_log_errors_total", Help: "Log records at warn level or above, by level and component.",
	}, []string{"level", "component"})
	m.reg.MustRegister(m.httpDur, m.appendD, m.appended, m.errCount)
	m.Errors.count = m.errCount
	return m
}

// Registry returns the registry, for components that add their own
// collectors.
func (m *Monitor) Registry() *prometheus.Registry { return m.reg }

// Handler serves /metrics in the Prometheus text format.
func (m *Monitor) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Gauge registers a gauge read from fn at each scrape.
func (m *Monitor) Gauge(name, help string, fn func() float64) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, fn))
}

// Counter registers a counter read from fn at each scrape; fn must never
// decrease.
func (m *Monitor) Counter(name, help string, fn func() float64) {
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, fn))
}

// ObserveHTTP records one request's latency under its route pattern (not
// the raw path, so that ids do not explode the label set).
func (m *Monitor) ObserveHTTP(route, method string, code int, d time.Duration) {
	if route == "" {
		route = "unmatched"
	}
	m.httpDur.WithLabelValues(route, method, strconv.Itoa(code)).Observe(d.Seconds())
}

// Middleware measures every request through next. route names the
// request's route pattern (e.g. the ServeMux pattern).
func (m *Monitor) Middleware(next http.Handler, route func(*http.Request) string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		next.ServeHTTP(sw, r)
		m.ObserveHTTP(route(r), r.Method, sw.code, time.Since(start))
	})
}

type statusWriter struct {
	http.ResponseWriter
	code  int
	wrote bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.code, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer (flush,
// hijack for WebSocket upgrades).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Store wraps an event store so that appends are timed and counted.
type Store struct {
	eventstore.Store
	m *Monitor
}

// InstrumentStore returns st with its appends measured.
func (m *Monitor) InstrumentStore(st eventstore.Store) *Store { return &Store{Store: st, m: m} }

// Append implements eventstore.Store.
func (s *Store) Append(ctx context.Context, stream string, expected eventstore.ExpectedVersion, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	start := time.Now()
	res, err := s.Store.Append(ctx, stream, expected, events...)
	outcome := "ok"
	if err != nil {
		outcome = "error"
	}
	s.m.appendD.WithLabelValues(outcome).Observe(time.Since(start).Seconds())
	if err == nil && !res.Duplicate && len(events) > 0 {
		s.m.appended.WithLabelValues(eventstore.StreamCategory(stream)).Add(float64(len(events)))
	}
	return res, err
}

// ErrorEntry is one recent warning or error.
type ErrorEntry struct {
	Time      time.Time      `json:"time"`
	Level     string         `json:"level"`
	Component string         `json:"component,omitempty"`
	Message   string         `json:"message"`
	Attrs     map[string]any `json:"attrs,omitempty"`
}

// ErrorRing keeps the most recent warnings and errors.
type ErrorRing struct {
	mu    sync.Mutex
	buf   []ErrorEntry
	next  int
	full  bool
	total int64
	count *prometheus.CounterVec
}

// NewErrorRing returns a ring of the last n entries.
func NewErrorRing(n int) *ErrorRing { return &ErrorRing{buf: make([]ErrorEntry, max(n, 1))} }

// Add records an entry.
func (r *ErrorRing) Add(e ErrorEntry) {
	r.mu.Lock()
	r.buf[r.next] = e
	r.next = (r.next + 1) % len(r.buf)
	r.full = r.full || r.next == 0
	r.total++
	r.mu.Unlock()
	if r.count != nil {
		r.count.WithLabelValues(e.Level, e.Component).Inc()
	}
}

// Recent returns up to limit entries, newest first, and how many were ever
// recorded.
func (r *ErrorRing) Recent(limit int) ([]ErrorEntry, int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := r.next
	if r.full {
		n = len(r.buf)
	}
	if limit <= 0 || limit > n {
		limit = n
	}
	out := make([]ErrorEntry, 0, limit)
	for i := 1; i <= limit; i++ {
		out = append(out, r.buf[(r.next-i+len(r.buf))%len(r.buf)])
	}
	return out, r.total
}

// LogHandler returns a slog.Handler that passes every record to next and
// copies records at warn level or above into the ring. The "component"
// attribute (set with logger.With) becomes the entry's component.
func (r *ErrorRing) LogHandler(next slog.Handler) slog.Handler {
	return &ringHandler{next: next, ring: r}
}

type ringHandler struct {
	next  slog.Handler
	ring  *ErrorRing
	attrs []slog.Attr
}

func (h *ringHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn || h.next.Enabled(ctx, l)
}

func (h *ringHandler) Handle(ctx context.Context, rec slog.Record) error {
	if rec.Level >= slog.LevelWarn {
		e := ErrorEntry{Time: rec.Time.UTC(), Level: rec.Level.String(), Message: rec.Message}
		add := func(a slog.Attr) bool {
			if a.Key == "component" {
				e.Component = a.Value.String()
				return true
			}
			if e.Attrs == nil {
				e.Attrs = map[string]any{}
			}
			e.Attrs[a.Key] = a.Value.Resolve().String()
			return true
		}
		for _, a := range h.attrs {
			add(a)
		}
		rec.Attrs(add)
		h.ring.Add(e)
	}
	if h.next.Enabled(ctx, rec.Level) {
		return h.next.Handle(ctx, rec)
	}
	return nil
}

func (h *ringHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &ringHandler{next: h.next.WithAttrs(as), ring: h.ring, attrs: append(append([]slog.Attr(nil), h.attrs...), as...)}
}

func (h *ringHandler) WithGroup(name string) slog.Handler {
	return &ringHandler{next: h.next.WithGroup(name), ring: h.ring, attrs: h.attrs}
}

// GaugeMap registers a gauge family with one label, read from fn at each
// scrape: one series per key of the map fn returns.
func (m *Monitor) GaugeMap(name, help, label string, fn func() map[string]float64) {
	m.reg.MustRegister(&mapCollector{desc: prometheus.NewDesc(name, help, []string{label}, nil), fn: fn})
}

type mapCollector struct {
	desc *prometheus.Desc
	fn   func() map[string]float64
}

func (c *mapCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *mapCollector) Collect(ch chan<- prometheus.Metric) {
	for k, v := range c.fn() {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, v, k)
	}
}
