// Package api serves AlgoAuto over HTTP: health probes and the audit API
// over the event log. Handlers read through small interfaces declared here;
// every error leaves through writeError, which maps it to one JSON shape,
// {"error":{"code","message"}}, and one status per code.
//
// With Deps.Auth set (serve always sets it) every route but the health
// probes, /metrics, market status, login and refresh needs a Bearer access
// token; see auth.go. The default address binds to 127.0.0.1 only.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/algoauto/algoauto/api/auth"
	"github.com/algoauto/algoauto/domain"
	"github.com/algoauto/algoauto/eventstore"
	"github.com/algoauto/algoauto/eventstore/codec"
	"github.com/algoauto/algoauto/monitoring"
	"github.com/algoauto/algoauto/projections"
)

// EventReader is what the audit API and as-of queries read.
type EventReader interface {
	ReadAll(ctx context.Context, opts eventstore.ReadAllOptions) ([]eventstore.RecordedEvent, error)
	Head(ctx context.Context) (eventstore.Position, error)
	PositionAt(ctx context.Context, t time.Time) (eventstore.Position, bool, error)
}

// Projections is what the read-model routes need from the projection
// runner.
type Projections interface {
	Status(ctx context.Context) ([]projections.Status, error)
	Get(name string) (projections.Projection, bool)
	Replay(ctx context.Context, name string, upTo eventstore.Position) (projections.Projection, error)
	Rebuild(ctx context.Context, name string) error
}

// Deps are the server's collaborators.
type Deps struct {
	Events   EventReader
	Registry *codec.Registry
	// Projections serves the read models; nil leaves their routes out.
	Projections Projections
	// Calendar answers market status; default the built-in NSE calendar.
	Calendar *domain.Calendar
	// Now is the wall clock for market status; default time.Now.
	Now func() time.Time
	// Monitor, when set, serves /metrics, the monitoring routes and the
	// recent-errors ring, and times every request.
	Monitor *monitoring.Monitor
	// StoreKind names the store in health answers ("embedded", "postgres"...).
	StoreKind string
	// Auth, when set, serves /auth/* and /api/v1/users/*, requires an
	// access token on every route but the health probes, /metrics, market
	// status, login and refresh, and scopes read models to the caller's
	// accounts (see auth.go). Nil leaves the API open.
	Auth *auth.Service
	// WebSocket, when set, serves GET /ws and the option-chain stream
	// GET /api/v1/truedata/options/stream; it authenticates upgrades itself
	// (a browser cannot send an Authorization header on a WebSocket).
	WebSocket WebSocket
	// Trading, when set, serves the write side of trading: control
	// commands, the kill switch, manual orders and signals (trading.go).
	Trading Trading
}

// WebSocket is the hub behind /ws (api/ws.Hub).
type WebSocket interface {
	http.Handler
	ServeOptionsStream(w http.ResponseWriter, r *http.Request)
}

// Check is one readiness condition; it returns nil when satisfied.
type Check struct {
	Name  string
	Check func(ctx context.Context) error
}

// Config configures the HTTP server.
type Config struct {
	Addr   string // default 127.0.0.1:8080
	Logger *slog.Logger
	// MaxEventsPerPage caps limit= of every paged list (events, orders,
	// trades, signals); default 1000.
	MaxEventsPerPage int
	// Ready lists the conditions /health/ready requires.
	Ready []Check
	// Version is reported by /health.
	Version string
}

// Server is the HTTP server.
type Server struct {
	cfg     Config
	log     *slog.Logger
	events  EventReader
	reg     *codec.Registry
	proj    Projections
	replays chan struct{} // bounds concurrent as-of replays
	mon     *monitoring.Monitor
	auth    *auth.Service
	trading Trading
	kind    string
	cal     *domain.Calendar
	now     func() time.Time
	mux     *routeMux // records its patterns (openapi.go)
	srv     *http.Server
	started time.Time
}

// NewServer builds the server and its routes.
func NewServer(cfg Config, deps Deps) *Server {
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:8080"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxEventsPerPage <= 0 {
		cfg.MaxEventsPerPage = 1000
	}
	if deps.Calendar == nil {
		deps.Calendar = domain.NSECalendar()
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	s := &Server{cfg: cfg, log: cfg.Logger, events: deps.Events, reg: deps.Registry, proj: deps.Projections,
		replays: make(chan struct{}, 2), mon: deps.Monitor, kind: deps.StoreKind, cal: deps.Calendar, now: deps.Now, mux: newRouteMux(), started: time.Now()}
	s.auth, s.trading = deps.Auth, deps.Trading
	get := func(path string, h http.HandlerFunc) { s.mux.HandleFunc("GET "+path, h) }
	get("/health", s.handleHealth)
	get("/health/live", s.handleLive)
	get("/health/ready", s.handleReady)
	get("/api/v1/openapi.json", s.handleOpenAPI)
	get("/api/v1/events", s.handleEvents)
	get("/api/v1/events/head", s.handleHead)
	get("/api/market/market-status", s.handleMarketStatus)
	get("/api/v1/options/greeks", s.handleOptionGreeks)
	get("/api/v1/db-health/check", s.handleDBHealth)
	get("/api/v1/monitoring/system", s.handleSystem)
	if s.mon != nil {
		s.mux.Handle("GET /metrics", s.mon.Handler())
		get("/api/v1/monitoring/metrics", s.handleMetricsJSON)
		get("/api/v1/errors/recent", s.handleRecentErrors)
	}
	if s.proj != nil {
		get("/api/v1/projections", s.handleProjections)
		s.mux.HandleFunc("POST /api/v1/projections/{name}/rebuild", s.handleRebuild)
		get("/api/market/indices", s.handleIndices)
		get("/api/v1/market-data/symbols", s.handleSymbols)
		get("/api/v1/market-data/quote/{symbol}", s.handleQuote)
		get("/api/v1/positions", s.handlePositions)
		get("/api/v1/orders", s.handleOrders)
		get("/api/v1/orders/{id}", s.handleOrder)
		get("/api/v1/dashboard/trades", s.handleTrades)
		get("/api/v1/signals", s.handleSignals)
		get("/api/v1/dashboard/summary", s.handleDashboardSummary)
		get("/api/v1/dashboard/pnl", s.handleDashboardPnL)
		get("/api/v1/dashboard/performance", s.handleDashboardPerformance)
		get("/api/v1/control/status", s.handleControlStatus)
		get("/api/v1/providers", s.handleProviders)
		get("/api/v1/truedata/options/option-chain/{underlying}", s.handleOptionChain)
		get("/api/v1/truedata/options/greeks/{symbol}", s.handleOptionSymbolGreeks)
		get("/api/v1/truedata/options/data/{symbol}", s.handleOptionData)
		get("/api/v1/truedata/options/all-options", s.handleAllOptions)
		s.mux.HandleFunc("POST /api/v1/truedata/options/subscribe", s.handleOptionSubscribe)
	}
	if deps.WebSocket != nil {
		s.mux.Handle("GET /ws", deps.WebSocket)
		get("/api/v1/truedata/options/stream", deps.WebSocket.ServeOptionsStream)
	}
	if deps.Trading != nil {
		s.tradingRoutes()
	}
	var h http.Handler = http.HandlerFunc(s.route)
	if s.auth != nil {
		s.authRoutes()
		h = s.authenticate(h)
	}
	if s.mon != nil {
		h = s.mon.Middleware(h, func(r *http.Request) string {
			_, pattern := s.mux.Handler(r)
			return pattern
		})
	}
	s.srv = &http.Server{
		Handler:           http.MaxBytesHandler(h, 1<<20),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	return s
}

// route serves a request through the mux, answering unknown paths and
// wrong methods in the API's error shape (the mux's own replies are text).
func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	if _, pattern := s.mux.Handler(r); pattern != "" {
		s.mux.ServeHTTP(w, r)
		return
	}
	var allowed []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := s.mux.Handler(probe); pattern != "" {
			allowed = append(allowed, m)
		}
	}
	if len(allowed) == 0 {
		writeError(w, r, s.log, &Error{Code: CodeNotFound, Message: fmt.Sprintf("no route for %s %s", r.Method, r.URL.Path)})
		return
	}
	if slices.Contains(allowed, http.MethodGet) {
		allowed = append(allowed, http.MethodHead)
	}
	w.Header().Set("Allow", strings.Join(allowed, ", "))
	writeError(w, r, s.log, &Error{Code: CodeMethodNotAllowed, Message: fmt.Sprintf("%s %s: only %s", r.Method, r.URL.Path, strings.Join(allowed, ", "))})
}

// Handler returns the routes (tests serve them with httptest).
func (s *Server) Handler() http.Handler { return s.srv.Handler }

// Listen binds the configured address and returns the listener, so that a
// bad address fails before anything else starts.
func (s *Server) Listen() (net.Listener, error) {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("api: listen on %s: %w", s.cfg.Addr, err)
	}
	return ln, nil
}

// Serve serves on ln until ctx is done, then shuts down gracefully within
// 5 seconds.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("api: serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("api: shutdown: %w", err)
	}
	<-errc
	return nil
}

func (s *Server) handleLive(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"status": "alive"})
}

type checkResult struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail,omitempty"`
}

func (s *Server) runChecks(ctx context.Context) ([]checkResult, bool) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	out := make([]checkResult, 0, len(s.cfg.Ready))
	ok := true
	for _, c := range s.cfg.Ready {
		res := checkResult{Name: c.Name, OK: true}
		if err := c.Check(ctx); err != nil {
			res.OK, res.Detail, ok = false, err.Error(), false
		}
		out = append(out, res)
	}
	return out, ok
}

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	checks, ok := s.runChecks(r.Context())
	status := "ok"
	if !ok {
		status = "degraded"
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"status": status, "version": s.cfg.Version,
		"uptime_seconds": int64(time.Since(s.started).Seconds()), "checks": checks,
	})
}

// handleReady serves GET /health/ready: 200 when every check passes, else
// 503 in the error shape with the status and the checks beside "error".
func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	checks, ok := s.runChecks(r.Context())
	if ok {
		writeJSON(w, http.StatusOK, map[string]any{"status": "ready", "checks": checks})
		return
	}
	var failing []string
	for _, c := range checks {
		if !c.OK {
			failing = append(failing, c.Name)
		}
	}
	writeErrorWith(w, r, s.log, &Error{Code: CodeUnavailable, Message: "not ready: failing checks: " + strings.Join(failing, ", ")},
		map[string]any{"status": "not_ready", "checks": checks})
}

func (s *Server) handleHead(w http.ResponseWriter, r *http.Request) {
	h, err := s.events.Head(r.Context())
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"position": uint64(h)})
}

// handleEvents serves GET /api/v1/events?from=|cursor=&limit=&stream=&type=.
// from (or cursor) is exclusive (events after that position; 0 = the
// beginning); stream is an exact stream name, or a prefix when it ends in
// '*'; type is a comma-separated list; limit defaults to 100 and is capped.
// It pages like the read-model lists (see answer in readmodels.go):
// X-Next-Cursor when the page is full. X-Next-From, on every page with
// events, is the position to follow the log from as it grows.
func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	from, err := cursorParam(q, "from")
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	limit, err := s.limitParam(q)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	opts := eventstore.ReadAllOptions{After: eventstore.Position(from), Count: limit}
	filter, err := eventstore.ParseFilter(q.Get("stream"), q["type"]...)
	if err != nil {
		writeError(w, r, s.log, invalid("stream", "%v", err))
		return
	}
	opts.Filter = filter
	evs, err := s.events.ReadAll(r.Context(), opts)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	out := make([]codec.Envelope, 0, len(evs))
	for i := range evs {
		env, err := s.reg.Envelope(&evs[i])
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		out = append(out, env)
	}
	if len(evs) > 0 {
		last := strconv.FormatUint(uint64(evs[len(evs)-1].Position), 10)
		w.Header().Set("X-Next-From", last)
		if len(evs) == limit {
			w.Header().Set("X-Next-Cursor", last)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Error codes of the API's error shape.
const (
	CodeInvalid          = "invalid"
	CodeNotFound         = "not_found"
	CodeMethodNotAllowed = "method_not_allowed"
	CodeConflict         = "conflict"
	CodeUnavailable      = "unavailable"
	CodeInternal         = "internal"
	CodeUnauthorized     = "unauthorized"
	CodeForbidden        = "forbidden"
	CodeRateLimited      = "rate_limited"
	CodeRefused          = "refused" // a risk rule refused an order
)

var codeStatus = map[string]int{
	CodeInvalid:          http.StatusBadRequest,
	CodeNotFound:         http.StatusNotFound,
	CodeMethodNotAllowed: http.StatusMethodNotAllowed,
	CodeConflict:         http.StatusConflict,
	CodeUnavailable:      http.StatusServiceUnavailable,
	CodeInternal:         http.StatusInternalServerError,
	CodeUnauthorized:     http.StatusUnauthorized,
	CodeForbidden:        http.StatusForbidden,
	CodeRateLimited:      http.StatusTooManyRequests,
	CodeRefused:          http.StatusUnprocessableEntity,
}

// Error is an API error with a code from the table above; Rule names the
// risk rule of a refusal.
type Error struct {
	Code    string
	Message string
	Rule    string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func invalid(field, format string, args ...any) *Error {
	return &Error{Code: CodeInvalid, Message: field + ": " + fmt.Sprintf(format, args...)}
}

// writeError is the one place errors become HTTP responses (with
// writeErrorWith). Internal errors are logged and reported without detail.
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	writeErrorWith(w, r, log, err, nil)
}

// writeErrorWith is writeError with fields beside "error" in the body: the
// health answers keep their status and checks there for probes and
// dashboards.
func writeErrorWith(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error, fields map[string]any) {
	var (
		e  *Error
		ce *domain.CommandError
	)
	ae, isAuth := authError(w, err)
	switch {
	case errors.As(err, &e):
	case errors.As(err, &ce):
		e = &Error{Code: ce.Code, Message: ce.Error(), Rule: ce.Rule}
		if _, ok := codeStatus[e.Code]; !ok {
			e.Code = CodeInvalid
		}
	case isAuth:
		e = ae
	case errors.Is(err, eventstore.ErrStreamNotFound), errors.Is(err, projections.ErrUnknownProjection):
		e = &Error{Code: CodeNotFound, Message: err.Error()}
	case errors.Is(err, eventstore.ErrConcurrencyConflict), errors.Is(err, eventstore.ErrDuplicateEventID):
		e = &Error{Code: CodeConflict, Message: err.Error()}
	case errors.Is(err, eventstore.ErrInvalidStream), errors.Is(err, eventstore.ErrInvalidEvent), errors.Is(err, projections.ErrBeyondHead):
		e = &Error{Code: CodeInvalid, Message: err.Error()}
	case errors.Is(err, eventstore.ErrUnavailable), errors.Is(err, eventstore.ErrClosed):
		e = &Error{Code: CodeUnavailable, Message: "the event store is unavailable"}
		log.Warn("request failed: store unavailable", "path", r.URL.Path, "err", err)
	case errors.Is(err, projections.ErrNotRunning):
		e = &Error{Code: CodeUnavailable, Message: "the read models are not running (the server is starting or stopping)"}
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		return // the client went away
	case errors.Is(err, context.Canceled):
		e = &Error{Code: CodeUnavailable, Message: "the server is stopping"}
	default:
		e = &Error{Code: CodeInternal, Message: "internal error"}
		log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if e.Code == CodeUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="algoauto"`)
	}
	status, ok := codeStatus[e.Code]
	if !ok {
		status = http.StatusInternalServerError
	}
	body := make(map[string]any, len(fields)+1)
	maps.Copy(body, fields)
	eb := map[string]string{"code": e.Code, "message": e.Message}
	if e.Rule != "" {
		eb["rule"] = e.Rule
	}
	body["error"] = eb
	writeJSON(w, status, body)
}
