package ws

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/time/rate"

	"github.com/algoauto/algoauto/adapters/bus"
	"github.com/algoauto/algoauto/domain"
	"github.com/algoauto/algoauto/eventstore"
)

func newLimiter(r float64, burst int) *rate.Limiter { return rate.NewLimiter(rate.Limit(r), burst) }

// sub is one room subscription of one connection.
type sub struct {
	c      *conn
	room   room
	legacy bool // subscribed in the seeds' form: MARKET_DATA messages
	types  []string
	stream string // events room: exact stream, or prefix when it ends in '*'
	view   string // subscribers with the same view see the same items: one encoding

	// guarded by c.mu
	catchingUp bool
	buf        []bus.Update // live updates held while catching up
	overflow   bool         // buf exceeded MaxPending: catch up again from last
	heldDirty  uint64       // state rooms: a change seen while catching up
	last       uint64       // last position delivered or queued
	gone       bool
}

// conn is one client socket.
type conn struct {
	hub     *Hub
	ws      *websocket.Conn
	id      Identity
	ctx     context.Context
	cancel  context.CancelFunc
	limiter *rate.Limiter
	subWG   sync.WaitGroup // catch-up goroutines

	direct  chan []byte    // encoded messages that go out before queued frames
	writers sync.WaitGroup // the writer goroutine, while one runs
	hb      *time.Timer    // next heartbeat

	closeOnce sync.Once

	mu          sync.Mutex
	closeCode   websocket.StatusCode // a close asked for before the upgrade
	closeReason string
	slow        bool // closing for being too slow: nothing more is queued
	subs        map[string]*sub
	writing     bool              // a writer goroutine runs
	ended       bool              // no writer may start: the socket is done
	hbDue       bool              // a HEARTBEAT (and ping) is due
	frames      []*frame          // live batches queued for the writer
	dirty       map[string]uint64 // state rooms to refresh -> position that changed them
	npending    int               // items in frames
}

// frame is one view of a room's batch: the items the subscribers sharing
// that view may see, in position order, and their messages encoded once.
type frame struct {
	items []bus.Update
	msgs  [][]byte
}

// newFrame renders the items of a batch that s sees; nil when none.
func newFrame(s *sub, items []bus.Update) *frame {
	mine := items
	for i := range items {
		if !s.matches(&items[i]) {
			mine = make([]bus.Update, 0, len(items)-1)
			for j := range items {
				if s.matches(&items[j]) {
					mine = append(mine, items[j])
				}
			}
			break
		}
	}
	if len(mine) == 0 {
		return nil
	}
	msgs := render(s, mine)
	f := &frame{items: mine, msgs: make([][]byte, 0, len(msgs))}
	for _, m := range msgs {
		b, err := json.Marshal(m)
		if err != nil {
			s.c.hub.log.Error("websocket: encode message", "room", s.room.name, "err", err)
			continue
		}
		f.msgs = append(f.msgs, b)
	}
	return f
}

// viewKey names what s sees of its room: subscribers with equal keys get
// the same bytes.
func viewKey(s *sub) string {
	var b strings.Builder
	field := func(v string) { // length-prefixed: no two lists encode alike
		b.WriteString(strconv.Itoa(len(v)))
		b.WriteByte(':')
		b.WriteString(v)
	}
	field(strconv.FormatBool(s.legacy))
	field(s.room.exchange)
	switch {
	case s.room.name == RoomEvents:
		field(s.stream)
		for _, t := range s.types {
			field(t)
		}
	case s.room.kind == kindConflated || s.room.name == RoomProviders:
	case s.c.id.Admin:
		b.WriteString("*")
	default:
		accts := slices.Clone(s.c.id.Accounts)
		slices.Sort(accts)
		for _, a := range accts {
			field(a)
		}
	}
	return b.String()
}

// matches reports whether the subscription delivers u (room filters and
// account scope).
func (s *sub) matches(u *bus.Update) bool {
	switch {
	case s.room.name == RoomEvents:
		if len(s.types) > 0 && !slices.Contains(s.types, u.Kind) {
			return false
		}
		if s.stream != "" {
			if p, ok := strings.CutSuffix(s.stream, "*"); ok {
				return strings.HasPrefix(u.Key, p)
			}
			return u.Key == s.stream
		}
		return true
	case s.room.kind == kindConflated:
		return s.room.exchange == "" || strings.HasPrefix(u.Key, s.room.exchange+":")
	case s.room.name == RoomProviders:
		return true
	}
	return s.c.id.CanSee(u.Account)
}

// offer queues a frame of live items for the client without blocking the
// hub; a client whose queue passes MaxPending items is closed.
func (c *conn) offer(s *sub, f *frame) {
	c.mu.Lock()
	if s.gone || c.slow {
		c.mu.Unlock()
		return
	}
	if s.catchingUp {
		if len(s.buf)+len(f.items) > c.hub.cfg.MaxPending {
			s.buf, s.overflow = nil, true
		} else if !s.overflow {
			s.buf = append(s.buf, f.items...)
		}
		c.mu.Unlock()
		return
	}
	if f.items[len(f.items)-1].Position <= s.last {
		c.mu.Unlock()
		return
	}
	if f.items[0].Position <= s.last { // a resume already sent part of this batch
		i, _ := slices.BinarySearchFunc(f.items, s.last+1, func(u bus.Update, p uint64) int { return cmp.Compare(u.Position, p) })
		f = newFrame(s, f.items[i:])
	}
	s.last = f.items[len(f.items)-1].Position
	c.frames = append(c.frames, f)
	c.npending += len(f.items)
	if c.npending > c.hub.cfg.MaxPending {
		c.slow = true
		c.frames, c.npending = nil, 0
		c.mu.Unlock()
		c.hub.slowClosed.Add(1)
		c.closeWith(websocket.StatusPolicyViolation, "client too slow: send queue full")
		return
	}
	c.mu.Unlock()
	c.wakeWriter()
}

// wakeWriter makes sure a writer runs to send what is queued. An idle
// connection has no writer goroutine: one starts when there is something
// to send and ends when everything is sent. Whoever queues something calls
// wakeWriter after queueing it, and the writer only ends after seeing,
// under c.mu, that nothing is queued, so nothing is left behind.
func (c *conn) wakeWriter() {
	c.mu.Lock()
	if c.writing || c.ended {
		c.mu.Unlock()
		return
	}
	c.writing = true
	c.writers.Add(1)
	c.mu.Unlock()
	go c.writeLoop()
}

// markDirty notes that a state room changed: the writer sends a fresh view.
func (c *conn) markDirty(s *sub, items []bus.Update) {
	var pos uint64
	for i := range items {
		if s.matches(&items[i]) {
			pos = max(pos, items[i].Position)
		}
	}
	c.mu.Lock()
	if pos <= s.last || s.gone || c.slow {
		c.mu.Unlock()
		return
	}
	if s.catchingUp {
		s.heldDirty = max(s.heldDirty, pos)
		c.mu.Unlock()
		return
	}
	c.markDirtyLocked(s.room.name, pos)
	c.mu.Unlock()
	c.wakeWriter()
}

func (c *conn) markDirtyLocked(name string, pos uint64) {
	if c.dirty == nil {
		c.dirty = map[string]uint64{}
	}
	c.dirty[name] = max(c.dirty[name], pos)
}

// closeWith starts the close handshake with the client; the read loop then
// ends and the connection's goroutines with it.
func (c *conn) closeWith(code websocket.StatusCode, reason string) {
	c.mu.Lock()
	ws := c.ws
	if ws == nil { // not upgraded yet: serve closes it right after
		c.closeCode, c.closeReason = code, reason
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	c.closeOnce.Do(func() {
		c.hub.wg.Add(1)
		go func() {
			defer c.hub.wg.Done()
			_ = ws.Close(code, reason)
		}()
	})
}

// send encodes m and queues it ahead of pending items; it blocks while the
// queue is full, until the connection ends.
func (c *conn) send(m serverMsg) bool {
	b, err := json.Marshal(m)
	if err != nil {
		c.hub.log.Error("websocket: encode message", "type", m.Type, "err", err)
		return false
	}
	select {
	case c.direct <- b:
		c.wakeWriter()
		return true
	case <-c.ctx.Done():
		return false
	}
}

func (c *conn) sendError(code, msg string) {
	c.send(serverMsg{Type: MsgError, Code: code, Message: msg})
}

// readLoop reads client messages until the socket ends.
func (c *conn) readLoop() {
	strikes := 0
	for {
		_, b, err := c.ws.Read(c.ctx)
		if err != nil {
			return
		}
		if !c.limiter.Allow() {
			strikes++
			if strikes > c.hub.cfg.InboundBurst {
				c.closeWith(websocket.StatusPolicyViolation, "too many messages")
				return
			}
			c.sendError(ErrCodeRateLimited, "too many messages: slow down")
			continue
		}
		var m clientMsg
		if err := json.Unmarshal(b, &m); err != nil {
			c.sendError(ErrCodeBadMessage, "want a JSON object such as {\"type\":\"SUBSCRIBE\",\"room\":\"orders\"}")
			continue
		}
		c.handle(m)
	}
}

func (c *conn) handle(m clientMsg) {
	switch strings.ToUpper(m.Type) {
	case "PING":
		c.send(serverMsg{Type: MsgPong, Time: time.Now().UTC().Format(time.RFC3339Nano)})
	case "COMMAND":
		c.command(m)
	case "SUBSCRIBE":
		legacy := false
		if m.Room == "" && m.Symbol != "" {
			m.Room, legacy = prefixMarket+m.Symbol, true
		}
		rm, err := parseRoom(m.Room)
		if err != nil {
			c.sendError(ErrCodeBadRoom, err.Error())
			return
		}
		if rm.name == RoomEvents && !c.id.Admin {
			c.sendError(ErrCodeForbidden, "the events room is for admins")
			return
		}
		if rm.name == RoomEvents && m.Stream != "" {
			if _, err := eventstore.ParseFilter(m.Stream, m.Types...); err != nil {
				c.sendError(ErrCodeBadMessage, "stream: "+err.Error())
				return
			}
		}
		c.subscribe(rm, m, legacy)
	case "UNSUBSCRIBE":
		if m.Room == "" && m.Symbol != "" {
			m.Room = prefixMarket + m.Symbol
		}
		rm, err := parseRoom(m.Room)
		if err != nil {
			c.sendError(ErrCodeBadRoom, err.Error())
			return
		}
		c.unsubscribe(rm.name)
	default:
		c.sendError(ErrCodeBadMessage, "unknown type "+strconvQuote(m.Type)+": want SUBSCRIBE, UNSUBSCRIBE, PING or COMMAND")
	}
}

// command runs a COMMAND on the reading goroutine (one at a time per
// socket, within the inbound rate limit) and answers RESULT or ERROR.
func (c *conn) command(m clientMsg) {
	fail := func(code, msg, rule string) {
		c.send(serverMsg{Type: MsgError, Code: code, Message: msg, Rule: rule, ID: m.ID})
	}
	if c.hub.deps.Command == nil {
		fail(ErrCodeUnavailable, "commands are not served here", "")
		return
	}
	if m.Command == "" {
		fail(ErrCodeBadMessage, "command: want start, stop, pause, resume, kill, reset-kill, paper or live", "")
		return
	}
	ctx, cancel := context.WithTimeout(c.ctx, commandTimeout)
	defer cancel()
	res, err := c.hub.deps.Command(ctx, c.id, Command{Name: strings.ToLower(m.Command), Account: m.Account, Reason: m.Reason,
		Flatten: m.Flatten, Confirm: m.Confirm})
	if err != nil {
		var ce *domain.CommandError
		if errors.As(err, &ce) {
			fail(ce.Code, ce.Error(), ce.Rule)
			return
		}
		c.hub.log.Warn("websocket command failed", "command", m.Command, "user", c.id.Username, "err", err)
		fail(ErrCodeUnavailable, "the command failed: "+err.Error(), "")
		return
	}
	c.send(serverMsg{Type: MsgResult, ID: m.ID, Data: res})
}

// commandTimeout bounds one COMMAND (broker calls included).
const commandTimeout = 30 * time.Second

func strconvQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func (c *conn) unsubscribe(name string) {
	c.mu.Lock()
	s := c.subs[name]
	if s != nil {
		s.gone = true
		delete(c.subs, name)
	}
	c.mu.Unlock()
	c.hub.unregister(c, name)
}

func (c *conn) subscribe(rm room, m clientMsg, legacy bool) {
	c.unsubscribe(rm.name)
	c.mu.Lock()
	if len(c.subs) >= c.hub.cfg.MaxSubscriptions {
		c.mu.Unlock()
		c.sendError(ErrCodeTooMany, "too many subscriptions on one connection")
		return
	}
	s := &sub{c: c, room: rm, legacy: legacy, types: m.Types, stream: m.Stream, catchingUp: true}
	s.view = viewKey(s)
	c.subs[rm.name] = s
	c.mu.Unlock()
	minPos := c.hub.register(s)
	c.subWG.Add(1)
	go func() {
		defer c.subWG.Done()
		c.catchUp(s, m.Since, minPos)
	}()
}

// catchUp sends the subscription's starting point (a snapshot, or the log
// after since), then the live updates held meanwhile, then switches the
// subscription to live. Every message of the room before the switch is in
// c.direct before any live item of the room can be pending, and the writer
// drains c.direct before pending items, so order holds.
func (c *conn) catchUp(s *sub, since *uint64, minPos uint64) {
	ctx := c.ctx
	c.send(serverMsg{Type: MsgSubscribed, Room: s.room.name})
	canReplay := s.room.kind == kindLog && c.hub.deps.Log != nil && c.hub.deps.Deriver != nil
	fail := func(err error) {
		if ctx.Err() == nil {
			c.hub.log.Warn("websocket resume failed", "room", s.room.name, "err", err)
			c.sendError(ErrCodeUnavailable, "resume failed: the event log is unavailable")
		}
	}
	resumed := false
	if since != nil && canReplay {
		c.mu.Lock()
		s.last = *since
		c.mu.Unlock()
		var err error
		if resumed, err = c.replay(ctx, s, true); err != nil {
			fail(err)
			return
		}
	}
	if !resumed {
		if !c.snapshot(ctx, s, minPos) {
			return
		}
		// The read model may be behind what the hub already dispatched:
		// the log closes that gap for rooms that deliver every change.
		if canReplay {
			if _, err := c.replay(ctx, s, false); err != nil {
				fail(err)
				return
			}
		}
	}
	for {
		c.mu.Lock()
		if s.gone {
			c.mu.Unlock()
			return
		}
		if s.overflow {
			s.overflow, s.buf = false, nil
			c.mu.Unlock()
			if !canReplay {
				if !c.snapshot(ctx, s, c.hub.head.Load()) {
					return
				}
				continue
			}
			if _, err := c.replay(ctx, s, false); err != nil {
				fail(err)
				return
			}
			continue
		}
		held := s.buf
		s.buf = nil
		if len(held) == 0 {
			s.catchingUp = false
			dirty := s.heldDirty > s.last
			if dirty {
				c.markDirtyLocked(s.room.name, s.heldDirty)
			}
			c.mu.Unlock()
			if dirty {
				c.wakeWriter()
			}
			return
		}
		c.mu.Unlock()
		var items []bus.Update
		for _, u := range held {
			if u.Position > s.last {
				items = append(items, u)
			}
		}
		if !c.sendItems(s, items) {
			return
		}
	}
}

// snapshot sends the room's SNAPSHOT; rooms without one start live from the
// hub's current position.
func (c *conn) snapshot(ctx context.Context, s *sub, minPos uint64) bool {
	var (
		data any
		pos  = minPos
		ok   bool
		err  error
	)
	if c.hub.deps.Snapshot != nil {
		wctx, cancel := context.WithTimeout(ctx, c.hub.cfg.SnapshotWait)
		data, pos, ok, err = c.hub.deps.Snapshot(wctx, c.snapshotRoom(s), c.id, minPos)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				c.hub.log.Warn("websocket snapshot failed", "room", s.room.name, "err", err)
				c.sendError(ErrCodeUnavailable, "snapshot of "+s.room.name+" failed: "+err.Error())
			}
			return false
		}
	}
	if !ok {
		data, pos = nil, minPos
	}
	c.mu.Lock()
	s.last = pos
	c.mu.Unlock()
	return c.send(serverMsg{Type: MsgSnapshot, Room: s.room.name, Position: pos, Data: data})
}

// snapshotRoom names the room for the SnapshotFunc, with its exchange when
// the client gave one.
func (c *conn) snapshotRoom(s *sub) string {
	if s.room.exchange != "" {
		return prefixMarket + s.room.exchange + ":" + s.room.symbol
	}
	return s.room.name
}

// replay sends the room's changes after s.last from the log. With limit,
// it returns false (and sends nothing more) when there are more than
// MaxReplay and the room has a snapshot to send instead.
func (c *conn) replay(ctx context.Context, s *sub, limit bool) (bool, error) {
	filter := roomFilter(s)
	limit = limit && s.room.name != RoomEvents && c.hub.deps.Snapshot != nil
	c.mu.Lock()
	after := s.last
	c.mu.Unlock()
	var held []bus.Update // with limit: nothing is sent until the end is in reach
	for {
		evs, err := c.hub.deps.Log.ReadAll(ctx, eventstore.ReadAllOptions{After: eventstore.Position(after), Count: 512, Filter: filter})
		if err != nil {
			return false, err
		}
		var items []bus.Update
		for i := range evs {
			ups, err := c.hub.deps.Deriver.Derive(ctx, &evs[i])
			if err != nil {
				continue
			}
			for _, u := range ups {
				if u.Room == s.room.name && s.matches(&u) {
					items = append(items, u)
				}
			}
		}
		if len(evs) > 0 {
			after = uint64(evs[len(evs)-1].Position)
		}
		if limit {
			held = append(held, items...)
			if len(held) > c.hub.cfg.MaxReplay {
				return false, nil
			}
		} else if len(items) > 0 && !c.sendItems(s, items) {
			return false, ctx.Err()
		}
		if len(evs) < 512 {
			break
		}
	}
	if len(held) > 0 && !c.sendItems(s, held) {
		return false, ctx.Err()
	}
	c.mu.Lock()
	s.last = max(s.last, after)
	c.mu.Unlock()
	return true, nil
}

// roomFilter narrows the log read of a resume to the room's streams.
func roomFilter(s *sub) eventstore.Filter {
	switch s.room.name {
	case RoomEvents:
		f, _ := eventstore.ParseFilter(s.stream, s.types...)
		return f
	case RoomOrders:
		return eventstore.Filter{StreamPrefix: "order-"}
	case RoomTrades:
		return eventstore.Filter{StreamPrefix: "order-", Types: []string{"OrderFilled"}}
	case RoomSignals:
		return eventstore.Filter{StreamPrefix: "signal-"}
	case RoomControl:
		return eventstore.Filter{StreamPrefix: "control-"}
	}
	return eventstore.Filter{}
}

// sendItems sends replayed or held items as the room's messages, advancing
// s.last.
func (c *conn) sendItems(s *sub, items []bus.Update) bool {
	for _, m := range render(s, items) {
		if !c.send(m) {
			return false
		}
	}
	if len(items) > 0 {
		c.mu.Lock()
		s.last = max(s.last, items[len(items)-1].Position)
		c.mu.Unlock()
		c.hub.itemsOut.Add(uint64(len(items)))
	}
	return true
}

// render turns a room's items into messages: ORDER_UPDATE per order
// change, MARKET_DATA per quote for seeds-form market subscriptions,
// otherwise one UPDATE per maxItemsPerMessage items.
func render(s *sub, items []bus.Update) []serverMsg {
	if len(items) == 0 {
		return nil
	}
	switch {
	case s.room.name == RoomOrders:
		out := make([]serverMsg, len(items))
		for i, u := range items {
			out[i] = serverMsg{Type: MsgOrderUpdate, Room: s.room.name, Position: u.Position, Data: itemOf(u)}
		}
		return out
	case s.legacy:
		out := make([]serverMsg, len(items))
		for i, u := range items {
			var q struct {
				Provider string `json:"provider"`
			}
			_ = json.Unmarshal(u.Data, &q)
			out[i] = serverMsg{Type: MsgMarketData, Room: s.room.name, Position: u.Position, Provider: q.Provider, Symbol: s.room.symbol, Data: u.Data}
		}
		return out
	}
	var out []serverMsg
	for chunk := range slices.Chunk(items, maxItemsPerMessage) {
		data := make([]Item, len(chunk))
		for i, u := range chunk {
			data[i] = itemOf(u)
		}
		out = append(out, serverMsg{Type: MsgUpdate, Room: s.room.name, Position: chunk[len(chunk)-1].Position, Data: data})
	}
	return out
}

// maxItemsPerMessage keeps one UPDATE well under common client read
// limits.
const maxItemsPerMessage = 256

func itemOf(u bus.Update) Item {
	return Item{Position: u.Position, Kind: u.Kind, Key: u.Key, Account: u.Account, Data: u.Data}
}

// writeLoop writes what is queued until nothing is, then ends (see
// wakeWriter). Batching happens in the hub (Config.BatchWindow).
func (c *conn) writeLoop() {
	defer c.writers.Done()
	for {
		ok := c.ctx.Err() == nil && c.flush()
		c.mu.Lock()
		if ok && (len(c.frames) > 0 || len(c.dirty) > 0 || c.hbDue || len(c.direct) > 0) {
			c.mu.Unlock()
			continue
		}
		c.writing = false
		if !ok { // the socket is failing: its read loop ends it
			c.ended = true
		}
		c.mu.Unlock()
		return
	}
}

// heartbeat queues a HEARTBEAT with a protocol ping, every
// Config.Heartbeat.
func (c *conn) heartbeat() {
	c.mu.Lock()
	if c.ended {
		c.mu.Unlock()
		return
	}
	c.hbDue = true
	c.hb.Reset(c.hub.cfg.Heartbeat)
	c.mu.Unlock()
	c.wakeWriter()
}

// snapshotRetry paces refreshes of a state room whose read model is
// behind or failed.
const snapshotRetry = 100 * time.Millisecond

func (c *conn) ping() {
	ctx, cancel := context.WithTimeout(c.ctx, c.hub.cfg.PongTimeout)
	defer cancel()
	if err := c.ws.Ping(ctx); err != nil && c.ctx.Err() == nil {
		c.closeWith(websocket.StatusPolicyViolation, "no pong")
	}
}

func mustJSON(m serverMsg) []byte {
	b, _ := json.Marshal(m)
	return b
}

func (c *conn) write(b []byte) bool {
	ctx, cancel := context.WithTimeout(c.ctx, c.hub.cfg.WriteTimeout)
	defer cancel()
	if err := c.ws.Write(ctx, websocket.MessageText, b); err != nil {
		c.mu.Lock()
		first := !c.slow
		c.slow = true
		c.mu.Unlock()
		if first && errors.Is(err, context.DeadlineExceeded) {
			c.hub.slowClosed.Add(1)
			c.closeWith(websocket.StatusPolicyViolation, "client too slow: write timed out")
		}
		return false
	}
	c.hub.messagesOut.Add(1)
	return true
}

// flush writes what is queued: first every direct message queued so far
// (they precede live frames of their room), then the frames, then fresh
// views of dirty state rooms.
func (c *conn) flush() bool {
	c.mu.Lock()
	frames, dirty, hb := c.frames, c.dirty, c.hbDue
	c.frames, c.dirty, c.npending, c.hbDue = nil, nil, 0, false
	c.mu.Unlock()
	for {
		select {
		case b := <-c.direct:
			if !c.write(b) {
				return false
			}
			continue
		default:
		}
		break
	}
	for _, f := range frames {
		for _, b := range f.msgs {
			if !c.write(b) {
				return false
			}
		}
		c.hub.itemsOut.Add(uint64(len(f.items)))
	}
	if hb {
		if !c.write(mustJSON(serverMsg{Type: MsgHeartbeat, Time: time.Now().UTC().Format(time.RFC3339)})) {
			return false
		}
		go c.ping()
	}
	for name, pos := range dirty {
		c.mu.Lock()
		s := c.subs[name]
		c.mu.Unlock()
		if s == nil || c.hub.deps.Snapshot == nil {
			continue
		}
		ctx, cancel := context.WithTimeout(c.ctx, c.hub.cfg.SnapshotWait)
		data, at, ok, err := c.hub.deps.Snapshot(ctx, name, c.id, pos)
		cancel()
		if err != nil || !ok {
			if c.ctx.Err() != nil {
				return false
			}
			// The read model lags or failed: try again shortly.
			time.AfterFunc(snapshotRetry, func() {
				c.mu.Lock()
				c.markDirtyLocked(name, pos)
				c.mu.Unlock()
				c.wakeWriter()
			})
			continue
		}
		c.mu.Lock()
		s.last = max(s.last, at)
		c.mu.Unlock()
		if !c.write(mustJSON(serverMsg{Type: MsgUpdate, Room: name, Position: at, Data: data})) {
			return false
		}
	}
	return true
}
