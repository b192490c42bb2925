package ws

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/algoauto/algoauto/adapters/bus"
	"github.com/algoauto/algoauto/eventstore"
)

// Config configures the hub; zero values take the defaults in brackets.
type Config struct {
	Logger *slog.Logger
	// AllowedOrigins are exact origins ("https://dash.example.com") a
	// browser may connect from; the request's own host is always allowed and
	// requests without an Origin header (non-browser clients) are accepted.
	AllowedOrigins []string
	// MaxMessageBytes caps one inbound message [64 KiB].
	MaxMessageBytes int64
	// MaxConnsPerUser caps one user's open sockets [8].
	MaxConnsPerUser int
	// InboundRate and InboundBurst limit client messages per second [20, 40].
	InboundRate  float64
	InboundBurst int
	// BatchWindow is how long live updates are gathered per room before
	// they are encoded once and written to every subscriber [50ms]; a
	// negative window sends as soon as the hub is free (updates that arrive
	// meanwhile still go out together).
	BatchWindow time.Duration
	// Heartbeat is the HEARTBEAT and protocol ping interval [30s];
	// PongTimeout how long a pong may take [10s].
	Heartbeat   time.Duration
	PongTimeout time.Duration
	// WriteTimeout bounds one write to a client [5s].
	WriteTimeout time.Duration
	// MaxPending is how many live items may wait for one client before it
	// counts as too slow and is closed [8192].
	MaxPending int
	// MaxReplay is how many changes a resume replays from the log before it
	// answers with a fresh SNAPSHOT instead (rooms that have one) [10000].
	MaxReplay int
	// MaxSubscriptions caps the rooms of one connection [256].
	MaxSubscriptions int
	// SnapshotWait bounds the wait for a read model to reach the position
	// the hub has already dispatched [2s].
	SnapshotWait time.Duration
}

func (c *Config) defaults() {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defd := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	if c.MaxMessageBytes <= 0 {
		c.MaxMessageBytes = 64 << 10
	}
	if c.InboundRate <= 0 {
		c.InboundRate = 20
	}
	def(&c.MaxConnsPerUser, 8)
	def(&c.InboundBurst, 40)
	def(&c.MaxPending, 8192)
	def(&c.MaxReplay, 10_000)
	def(&c.MaxSubscriptions, 256)
	if c.BatchWindow == 0 { // negative: no window
		c.BatchWindow = 50 * time.Millisecond
	}
	defd(&c.Heartbeat, 30*time.Second)
	defd(&c.PongTimeout, 10*time.Second)
	defd(&c.WriteTimeout, 5*time.Second)
	defd(&c.SnapshotWait, 2*time.Second)
}

// LogReader is the part of the event log the resume path reads.
type LogReader interface {
	ReadAll(ctx context.Context, opts eventstore.ReadAllOptions) ([]eventstore.RecordedEvent, error)
}

// SnapshotFunc answers a room's read model as the user may see it, and the
// log position it reflects, which is at least minPos (the implementation
// waits for its read model to get there). ok is false for rooms without a
// snapshot.
type SnapshotFunc func(ctx context.Context, room string, id Identity, minPos uint64) (data any, pos uint64, ok bool, err error)

// Deps are the hub's collaborators.
type Deps struct {
	// Authenticate checks the upgrade request (Authorization header or
	// access_token query parameter); required.
	Authenticate func(r *http.Request) (Identity, error)
	// Log and Deriver serve resumes ("since"); without them a resume
	// answers with a snapshot.
	Log     LogReader
	Deriver *Deriver
	// Snapshot serves SNAPSHOT messages and state-room views.
	Snapshot SnapshotFunc
	// Command runs a COMMAND for the user; nil: COMMAND answers an ERROR.
	// Errors carrying a code (a *domain.CommandError) keep it.
	Command func(ctx context.Context, id Identity, c Command) (any, error)
}

// Stats are the hub's counters for monitoring.
type Stats struct {
	Clients     int64
	MessagesOut uint64
	ItemsOut    uint64
	SlowClosed  uint64
	Dropped     uint64 // duplicate live updates ignored
}

// Hub fans live updates out to WebSocket clients.
type Hub struct {
	cfg  Config
	deps Deps
	log  *slog.Logger

	mu      sync.RWMutex
	rooms   map[string]*roomState
	users   map[string]map[*conn]struct{}
	lastPos map[string]uint64 // per room: live dedupe
	head    atomic.Uint64     // highest position dispatched
	active  []*roomState      // rooms with a pending batch, in order of their first update
	armed   bool              // a flush is due: kick was signalled
	kick    chan struct{}
	closed  bool
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	clients     atomic.Int64
	messagesOut atomic.Uint64
	itemsOut    atomic.Uint64
	slowClosed  atomic.Uint64
	dropped     atomic.Uint64
}

// NewHub returns a hub; call Run to feed it and ServeHTTP to accept
// clients.
func NewHub(cfg Config, deps Deps) *Hub {
	cfg.defaults()
	ctx, cancel := context.WithCancel(context.Background())
	h := &Hub{cfg: cfg, deps: deps, log: cfg.Logger, rooms: map[string]*roomState{},
		users: map[string]map[*conn]struct{}{}, lastPos: map[string]uint64{}, kick: make(chan struct{}, 1), ctx: ctx, cancel: cancel}
	go h.flushLoop()
	return h
}

// roomState is one room's subscribers and its batch of live updates not
// yet handed to them.
type roomState struct {
	name     string
	kind     roomKind
	subs     map[*conn]*sub
	list     []*sub // subs as a slice; nil after a change
	pending  []bus.Update
	conflate map[string]int // conflated rooms: key -> index in pending
	active   bool
}

func (rs *roomState) subscribers() []*sub {
	if rs.list == nil {
		rs.list = make([]*sub, 0, len(rs.subs))
		for _, s := range rs.subs {
			rs.list = append(rs.list, s)
		}
	}
	return rs.list
}

// Stats returns the hub's counters.
func (h *Hub) Stats() Stats {
	return Stats{Clients: h.clients.Load(), MessagesOut: h.messagesOut.Load(), ItemsOut: h.itemsOut.Load(),
		SlowClosed: h.slowClosed.Load(), Dropped: h.dropped.Load()}
}

// Run dispatches updates until ctx ends or updates is closed, then closes
// every client (status 1001, going away) and waits for their goroutines.
func (h *Hub) Run(ctx context.Context, updates <-chan bus.Update) error {
	defer h.Close()
	for {
		select {
		case <-ctx.Done():
			return nil
		case u, ok := <-updates:
			if !ok {
				return nil
			}
			h.Dispatch(u)
		}
	}
}

// Close closes every client and waits for their goroutines; later upgrades
// are refused with 503.
func (h *Hub) Close() {
	h.mu.Lock()
	h.closed = true
	var conns []*conn
	for _, m := range h.users {
		for c := range m {
			conns = append(conns, c)
		}
	}
	h.mu.Unlock()
	for _, c := range conns {
		c.closeWith(websocket.StatusGoingAway, "server stopping")
	}
	done := make(chan struct{})
	go func() { h.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second): // clients that do not answer the close
	}
	h.cancel()
	<-done
}

// Dispatch hands one live update to its room's batch; the batch goes to
// the room's subscribers at the end of the batch window. Updates at or
// below the room's last dispatched position are duplicates (several
// publishers, a redelivery) and are ignored. Dispatch never blocks on a
// client.
func (h *Hub) Dispatch(u bus.Update) {
	h.mu.Lock()
	if u.Position <= h.lastPos[u.Room] {
		h.mu.Unlock()
		h.dropped.Add(1)
		return
	}
	h.lastPos[u.Room] = u.Position
	if u.Position > h.head.Load() {
		h.head.Store(u.Position)
	}
	rs := h.rooms[u.Room]
	if rs == nil { // nobody listens: a later subscriber starts from a snapshot or the log
		h.mu.Unlock()
		return
	}
	if i, ok := rs.conflate[u.Key]; ok {
		rs.pending[i] = u
	} else {
		if rs.kind == kindConflated {
			if rs.conflate == nil {
				rs.conflate = map[string]int{}
			}
			rs.conflate[u.Key] = len(rs.pending)
		}
		rs.pending = append(rs.pending, u)
	}
	if !rs.active {
		rs.active = true
		h.active = append(h.active, rs)
	}
	kick := !h.armed
	h.armed = true
	h.mu.Unlock()
	if kick {
		select {
		case h.kick <- struct{}{}:
		default:
		}
	}
}

// flushLoop hands pending batches to subscribers: one batch window after
// the first update of a batch, or at once with a negative window.
func (h *Hub) flushLoop() {
	var timer *time.Timer
	for {
		select {
		case <-h.ctx.Done():
			return
		case <-h.kick:
		}
		if w := h.cfg.BatchWindow; w > 0 {
			if timer == nil {
				timer = time.NewTimer(w)
			} else {
				timer.Reset(w)
			}
			select {
			case <-h.ctx.Done():
				return
			case <-timer.C:
			}
		}
		h.flush()
	}
}

// roomBatch is one room's batch and the subscribers it goes to.
type roomBatch struct {
	kind  roomKind
	items []bus.Update
	subs  []*sub
}

// flush takes every pending batch and offers it to the room's
// subscribers. Each distinct view of a batch (the same filters and account
// scope) is encoded once and the same bytes are queued for every
// subscriber that shares it.
func (h *Hub) flush() {
	h.mu.Lock()
	batches := make([]roomBatch, 0, len(h.active))
	for _, rs := range h.active {
		if rs.kind == kindConflated { // a replaced key keeps its slot but not its position
			slices.SortFunc(rs.pending, func(a, b bus.Update) int { return cmp.Compare(a.Position, b.Position) })
		}
		batches = append(batches, roomBatch{kind: rs.kind, items: rs.pending, subs: rs.subscribers()})
		rs.pending, rs.conflate, rs.active = nil, nil, false
	}
	h.active, h.armed = nil, false
	h.mu.Unlock()
	for _, b := range batches {
		if b.kind == kindState {
			for _, s := range b.subs {
				s.c.markDirty(s, b.items)
			}
			continue
		}
		var views map[string]*frame
		for _, s := range b.subs {
			f, ok := views[s.view]
			if !ok {
				f = newFrame(s, b.items)
				if views == nil {
					views = map[string]*frame{}
				}
				views[s.view] = f
			}
			if f != nil {
				s.c.offer(s, f)
			}
		}
	}
}

// ServeHTTP upgrades GET /ws.
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.serve(w, r, nil) }

// ServeOptionsStream upgrades GET /api/v1/truedata/options/stream?symbol=X:
// a socket already subscribed to options:X (option-chain updates with
// Greeks); it speaks the same protocol as /ws.
func (h *Hub) ServeOptionsStream(w http.ResponseWriter, r *http.Request) {
	sym := r.URL.Query().Get("symbol")
	rm, err := parseRoom(prefixOptions + sym)
	if sym == "" || err != nil {
		httpError(w, http.StatusBadRequest, "invalid", "symbol: want an underlying such as NIFTY or BANKNIFTY")
		return
	}
	h.serve(w, r, &rm)
}

func httpError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"error":{"code":%q,"message":%q}}`+"\n", code, msg)
}

func (h *Hub) originAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	if slices.Contains(h.cfg.AllowedOrigins, origin) {
		return true
	}
	u, err := url.Parse(origin)
	return err == nil && strings.EqualFold(u.Host, r.Host)
}

func (h *Hub) serve(w http.ResponseWriter, r *http.Request, auto *room) {
	if !h.originAllowed(r) {
		httpError(w, http.StatusForbidden, "forbidden", "origin "+r.Header.Get("Origin")+" is not allowed")
		return
	}
	if h.deps.Authenticate == nil {
		httpError(w, http.StatusServiceUnavailable, "unavailable", "authentication is not configured")
		return
	}
	id, err := h.deps.Authenticate(r)
	if err != nil {
		w.Header().Set("WWW-Authenticate", "Bearer")
		httpError(w, http.StatusUnauthorized, "unauthorized", err.Error())
		return
	}
	c := &conn{hub: h, id: id, subs: map[string]*sub{}, direct: make(chan []byte, 16),
		limiter: newLimiter(h.cfg.InboundRate, h.cfg.InboundBurst)}
	h.mu.Lock()
	switch {
	case h.closed:
		h.mu.Unlock()
		httpError(w, http.StatusServiceUnavailable, "unavailable", "the server is stopping")
		return
	case len(h.users[id.UserID]) >= h.cfg.MaxConnsPerUser:
		h.mu.Unlock()
		w.Header().Set("Retry-After", "5")
		httpError(w, http.StatusTooManyRequests, "rate_limited", fmt.Sprintf("at most %d WebSocket connections per user", h.cfg.MaxConnsPerUser))
		return
	}
	if h.users[id.UserID] == nil {
		h.users[id.UserID] = map[*conn]struct{}{}
	}
	h.users[id.UserID][c] = struct{}{}
	h.wg.Add(1)
	h.mu.Unlock()

	// The HTTP server's read and write timeouts would otherwise end the
	// hijacked connection; the hub keeps its own (write timeout, pongs).
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true}) // origin checked above
	if err != nil {
		h.log.Debug("websocket upgrade failed", "err", err)
		h.removeConn(c)
		h.wg.Done()
		return
	}
	// The socket lives on its own goroutine: the handler returns, so the
	// HTTP server frees its per-connection state (buffers, the request,
	// the stack its handler chain grew).
	go func() {
		defer h.wg.Done()
		defer h.removeConn(c)
		c.run(ws, auto)
	}()
}

// run serves an upgraded socket until it ends.
func (c *conn) run(ws *websocket.Conn, auto *room) {
	h := c.hub
	ws.SetReadLimit(h.cfg.MaxMessageBytes)
	c.mu.Lock()
	c.ws = ws
	code, reason := c.closeCode, c.closeReason
	c.mu.Unlock()
	if code != 0 {
		c.closeWith(code, reason)
	}
	h.clients.Add(1)
	defer h.clients.Add(-1)
	c.ctx, c.cancel = context.WithCancel(h.ctx)
	defer c.cancel()
	c.mu.Lock()
	c.hb = time.AfterFunc(h.cfg.Heartbeat, c.heartbeat)
	c.mu.Unlock()
	if auto != nil {
		c.subscribe(*auto, clientMsg{}, false)
	}
	c.readLoop()
	c.cancel()
	c.mu.Lock()
	c.ended = true
	c.hb.Stop()
	c.mu.Unlock()
	c.writers.Wait()
	c.subWG.Wait()
	c.closeOnce.Do(func() { _ = ws.CloseNow() })
}

func (h *Hub) removeConn(c *conn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for name := range c.subs {
		h.unregisterLocked(c, name)
	}
	if m := h.users[c.id.UserID]; m != nil {
		delete(m, c)
		if len(m) == 0 {
			delete(h.users, c.id.UserID)
		}
	}
}

// CloseUser closes every socket of a user (logout, revoked session), with
// status 1008 and reason "session revoked".
func (h *Hub) CloseUser(userID string) {
	h.mu.RLock()
	conns := make([]*conn, 0, len(h.users[userID]))
	for c := range h.users[userID] {
		conns = append(conns, c)
	}
	h.mu.RUnlock()
	for _, c := range conns {
		c.closeWith(websocket.StatusPolicyViolation, "session revoked")
	}
}

// register adds s to its room's live set and returns the highest position
// dispatched so far: every later update reaches s, earlier ones are in its
// snapshot or the log.
func (h *Hub) register(s *sub) uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	rs := h.rooms[s.room.name]
	if rs == nil {
		rs = &roomState{name: s.room.name, kind: s.room.kind, subs: map[*conn]*sub{}}
		h.rooms[s.room.name] = rs
	}
	rs.subs[s.c] = s
	rs.list = nil
	return h.head.Load()
}

func (h *Hub) unregister(c *conn, name string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.unregisterLocked(c, name)
}

func (h *Hub) unregisterLocked(c *conn, name string) {
	rs := h.rooms[name]
	if rs == nil {
		return
	}
	if _, ok := rs.subs[c]; !ok {
		return
	}
	delete(rs.subs, c)
	rs.list = nil
	if len(rs.subs) == 0 { // a pending batch still goes out, to nobody
		delete(h.rooms, name)
	}
}

var errNoSnapshot = errors.New("no snapshot for this room")
