package api

import (
	"context"
	"fmt"
	"maps"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/algoauto/algoauto/domain"
	"github.com/algoauto/algoauto/eventstore"
	"github.com/algoauto/algoauto/projections"
)

// Read-model routes. Every answer carries "position": the log position the
// data reflects, so a client can resume a stream or ask again as of it.

func (s *Server) handleProjections(w http.ResponseWriter, r *http.Request) {
	st, err := s.proj.Status(r.Context())
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"projections": st})
}

// handleRebuild serves POST /api/v1/projections/{name}/rebuild: the
// projection is refolded from the start of the log while the current one
// keeps serving, then swapped in.
func (s *Server) handleRebuild(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if err := s.proj.Rebuild(r.Context(), name); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	st, err := s.proj.Status(r.Context())
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	for _, p := range st {
		if p.Name == name {
			writeJSON(w, http.StatusOK, p)
			return
		}
	}
	writeError(w, r, s.log, fmt.Errorf("%q: %w", name, projections.ErrUnknownProjection))
}

// QuoteView is a quote as the API shows it.
type QuoteView struct {
	projections.Quote
	Change    domain.Price `json:"change"`
	ChangePct float64      `json:"change_pct"`
	TickAge   float64      `json:"tick_age_seconds"`
}

func (s *Server) quoteView(q projections.Quote) QuoteView {
	ch, pct := q.Change()
	return QuoteView{Quote: q, Change: ch, ChangePct: round2(pct), TickAge: round2(s.now().Sub(q.ExchangeTime).Seconds())}
}

func round2(f float64) float64 { return math.Round(f*100) / 100 }

func (s *Server) handleIndices(w http.ResponseWriter, r *http.Request) {
	q, err := liveModel[*projections.Quotes](s, "quotes")
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	idx, pos := q.Indices()
	out := []QuoteView{}
	for _, qt := range idx {
		out = append(out, s.quoteView(qt))
	}
	writeJSON(w, http.StatusOK, map[string]any{"position": uint64(pos), "indices": out})
}

func (s *Server) handleSymbols(w http.ResponseWriter, r *http.Request) {
	q, err := liveModel[*projections.Quotes](s, "quotes")
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	type symbol struct {
		Exchange string       `json:"exchange"`
		Symbol   string       `json:"symbol"`
		Token    uint32       `json:"token,omitempty"`
		Index    bool         `json:"index"`
		LTP      domain.Price `json:"ltp"`
	}
	all, pos := q.All(nil)
	out := []symbol{}
	for _, qt := range all {
		out = append(out, symbol{qt.Exchange, qt.Symbol, qt.Token, domain.IsIndex(qt.Exchange, qt.Symbol), qt.LTP})
	}
	writeJSON(w, http.StatusOK, map[string]any{"position": uint64(pos), "symbols": out})
}

// handleQuote serves GET /api/v1/market-data/quote/{symbol}; symbol is
// "EXCHANGE:SYMBOL" or a symbol traded on one exchange only.
func (s *Server) handleQuote(w http.ResponseWriter, r *http.Request) {
	q, err := liveModel[*projections.Quotes](s, "quotes")
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	sym := r.PathValue("symbol")
	qt, ok := q.Quote(sym)
	if !ok {
		writeError(w, r, s.log, &Error{Code: CodeNotFound, Message: fmt.Sprintf("no quote for %q (use EXCHANGE:SYMBOL, e.g. NSE:NIFTY 50; GET /api/v1/market-data/symbols lists them)", sym)})
		return
	}
	writeJSON(w, http.StatusOK, s.quoteView(qt))
}

func (s *Server) handleMarketStatus(w http.ResponseWriter, r *http.Request) {
	st := s.cal.Status(s.now())
	out := map[string]any{
		"exchange": "NSE", "segment": "F&O", "phase": st.Phase, "is_open": st.Phase == domain.PhaseOpen,
		"at": st.At, "next_open": st.NextOpen,
	}
	if st.Holiday != "" {
		out["holiday"] = st.Holiday
	}
	if !st.Closes.IsZero() {
		out["closes"] = st.Closes
	}
	writeJSON(w, http.StatusOK, out)
}

// asOf resolves ?position=N or ?asOf=<RFC3339> to a log position; ok is
// false when neither is given (the live model answers).
func (s *Server) asOf(ctx context.Context, r *http.Request) (eventstore.Position, bool, error) {
	q := r.URL.Query()
	pv, tv := q.Get("position"), q.Get("asOf")
	switch {
	case pv != "" && tv != "":
		return 0, false, invalid("asOf", "give position or asOf, not both")
	case pv != "":
		n, err := strconv.ParseUint(pv, 10, 64)
		if err != nil {
			return 0, false, invalid("position", "must be a non-negative integer log position, got %q", pv)
		}
		return eventstore.Position(n), true, nil
	case tv != "":
		t, err := time.Parse(time.RFC3339Nano, tv)
		if err != nil && strings.Contains(tv, " ") {
			// An unencoded '+' of the UTC offset arrives as a space.
			t, err = time.Parse(time.RFC3339Nano, strings.Replace(tv, " ", "+", 1))
		}
		if err != nil {
			return 0, false, invalid("asOf", "must be an RFC 3339 time such as 2026-11-20T15:30:00+05:30, got %q", tv)
		}
		// Everything recorded at or before t: up to the event before the
		// first one recorded after t.
		p, found, err := s.events.PositionAt(ctx, t.Add(time.Nanosecond))
		if err != nil {
			return 0, false, err
		}
		if found {
			return p - 1, true, nil
		}
		head, err := s.events.Head(ctx)
		return head, true, err
	}
	return 0, false, nil
}

// answer is what a read-model route answers: the log position its data
// reflects, the fields beside "position" and "as_of", and, for a paged
// list, the cursor of the next page.
type answer struct {
	pos    eventstore.Position
	fields map[string]any
	// next is the position of the page's last item when the page is full
	// (limit items, limit being at least 1: there may be more; 0: the last
	// page). It goes out as the X-Next-Cursor header and the "next_cursor"
	// field, and under nextAlias, the list's older name for it (next_after,
	// next_before).
	next      uint64
	nextAlias string
}

// serveReadModel serves a read-model route, the same way for every one:
// parse reads the request's filters (a bad one is a 400 before any replay
// starts), readModel resolves the named read model live or as of
// ?position= or ?asOf=, ask reads it, and the answer goes out as
// {"position","as_of",...} with the next page's cursor.
func serveReadModel[T projections.Projection, Q any](s *Server, w http.ResponseWriter, r *http.Request, name string,
	parse func(*http.Request) (Q, error), ask func(T, Q) (answer, error)) {
	q, err := parse(r)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	model, asOf, err := readModel[T](s, r, name)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	a, err := ask(model, q)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	body := make(map[string]any, len(a.fields)+4)
	maps.Copy(body, a.fields)
	body["position"], body["as_of"] = uint64(a.pos), asOf
	if a.next != 0 {
		w.Header().Set("X-Next-Cursor", strconv.FormatUint(a.next, 10))
		body["next_cursor"] = a.next
		if a.nextAlias != "" {
			body[a.nextAlias] = a.next
		}
	}
	writeJSON(w, http.StatusOK, body)
}

// noFilters is the parse of a route that takes no filters.
func noFilters(*http.Request) (struct{}, error) { return struct{}{}, nil }

// accountsParam returns the accounts of ?account= (comma-separated; nil:
// every account) narrowed by visibleAccounts to those the request's user
// may see.
func (s *Server) accountsParam(r *http.Request) ([]string, error) {
	var requested []string
	if v := r.URL.Query().Get("account"); v != "" {
		requested = strings.Split(v, ",")
	}
	return s.visibleAccounts(r, requested)
}

// modeParam reads an optional ?mode= (paper or live).
func modeParam(q url.Values) (domain.Mode, error) {
	m := domain.Mode(q.Get("mode"))
	if m != "" && !m.Valid() {
		return "", invalid("mode", "must be paper or live, got %q", m)
	}
	return m, nil
}

// refuse answers 400 when q carries a parameter of names: one a sibling
// route takes but this one cannot apply. Ignoring it would answer, say,
// every fill to a client that asked for some.
func refuse(q url.Values, why string, names ...string) error {
	for _, n := range names {
		if q.Has(n) {
			return invalid(n, "%s", why)
		}
	}
	return nil
}

// PositionTotals sums the positions of an answer.
type PositionTotals struct {
	Realized    domain.Price `json:"realized"`
	Unrealized  domain.Price `json:"unrealized"`
	Charges     domain.Price `json:"charges"`
	TotalPnL    domain.Price `json:"total_pnl"`
	TotalPnLNet domain.Price `json:"total_pnl_net"`
	Open        int          `json:"open_positions"`
}

// positionQuery parses account, mode, strategy, symbol and open.
func (s *Server) positionQuery(r *http.Request) (projections.PositionQuery, error) {
	q := r.URL.Query()
	pq := projections.PositionQuery{Strategy: q.Get("strategy"), Symbol: q.Get("symbol")}
	var err error
	if pq.Accounts, err = s.accountsParam(r); err != nil {
		return pq, err
	}
	if pq.Mode, err = modeParam(q); err != nil {
		return pq, err
	}
	if v := q.Get("open"); v != "" {
		if pq.OpenOnly, err = strconv.ParseBool(v); err != nil {
			return pq, invalid("open", "must be true or false, got %q", v)
		}
	}
	return pq, nil
}

// handlePositions serves GET /api/v1/positions?account=&mode=&strategy=
// &symbol=&open=&position=|asOf=, with the totals of the positions.
func (s *Server) handlePositions(w http.ResponseWriter, r *http.Request) {
	serveReadModel(s, w, r, "positions", s.positionQuery, func(m *projections.Positions, pq projections.PositionQuery) (answer, error) {
		list, pos := m.List(pq)
		var tot PositionTotals
		for _, v := range list {
			tot.Realized += v.Realized
			tot.Unrealized += v.Unrealized
			tot.Charges += v.Charges
			tot.TotalPnL += v.TotalPnL
			tot.TotalPnLNet += v.TotalPnLNet
			if v.OpenPosition {
				tot.Open++
			}
		}
		return answer{pos: pos, fields: map[string]any{"positions": list, "totals": tot}}, nil
	})
}

// readModel returns the named projection as T for a request: the live one,
// or, with ?position= or ?asOf=, a replay of it to that point (asOf tells
// which).
func readModel[T projections.Projection](s *Server, r *http.Request, name string) (model T, asOf bool, err error) {
	upTo, asOf, err := s.asOf(r.Context(), r)
	if err != nil {
		return model, false, err
	}
	if !asOf {
		model, err = liveModel[T](s, name)
		return model, false, err
	}
	// A replay reads the log from the start: at most cap(s.replays) run at
	// once, the rest wait their turn (or give up with the request).
	select {
	case s.replays <- struct{}{}:
	case <-r.Context().Done():
		return model, false, r.Context().Err()
	}
	defer func() { <-s.replays }()
	p, err := s.proj.Replay(r.Context(), name, upTo)
	if err != nil {
		return model, false, err
	}
	return typed[T](p, name, true)
}

// liveModel returns the live instance of the named projection as T.
func liveModel[T projections.Projection](s *Server, name string) (T, error) {
	p, _ := s.proj.Get(name)
	model, _, err := typed[T](p, name, false)
	return model, err
}

func typed[T projections.Projection](p projections.Projection, name string, asOf bool) (T, bool, error) {
	model, ok := p.(T)
	if !ok {
		return model, false, &Error{Code: CodeUnavailable, Message: "the " + name + " read model is not running"}
	}
	return model, asOf, nil
}

// orderQuery parses the filters and paging of the order book: account
// (comma-separated), mode, strategy, symbol, status, cursor or after (a
// log position, exclusive), limit (default 100, at most MaxEventsPerPage).
func (s *Server) orderQuery(r *http.Request) (projections.OrderQuery, error) {
	q := r.URL.Query()
	oq := projections.OrderQuery{Strategy: q.Get("strategy"), Symbol: q.Get("symbol"), Status: q.Get("status")}
	var err error
	if oq.Mode, err = modeParam(q); err != nil {
		return oq, err
	}
	if oq.After, err = cursorParam(q, "after"); err != nil {
		return oq, err
	}
	if oq.Accounts, err = s.accountsParam(r); err != nil {
		return oq, err
	}
	oq.Limit, err = s.limitParam(q)
	return oq, err
}

// tradeQuery is orderQuery for fills, which have no status: status= is
// refused, not ignored.
func (s *Server) tradeQuery(r *http.Request) (projections.OrderQuery, error) {
	if err := refuse(r.URL.Query(), "fills have no status; GET /api/v1/orders?status= selects orders by status", "status"); err != nil {
		return projections.OrderQuery{}, err
	}
	return s.orderQuery(r)
}

// positionParam reads an optional log position parameter (0 when absent).
func positionParam(q url.Values, name string) (uint64, error) {
	v := q.Get(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, invalid(name, "must be a non-negative integer log position, got %q", v)
	}
	return n, nil
}

// cursorParam reads the cursor of a paged list: ?cursor= (the previous
// page's X-Next-Cursor or next_cursor) or the list's own name for it,
// alias (from, after, before), not both; 0 when absent.
func cursorParam(q url.Values, alias string) (uint64, error) {
	if q.Get("cursor") != "" && q.Get(alias) != "" {
		return 0, invalid("cursor", "give cursor or %s, not both", alias)
	}
	if q.Get(alias) != "" {
		return positionParam(q, alias)
	}
	return positionParam(q, "cursor")
}

// limitParam reads ?limit= (default 100, capped at MaxEventsPerPage).
func (s *Server) limitParam(q url.Values) (int, error) {
	v := q.Get("limit")
	if v == "" {
		return min(100, s.cfg.MaxEventsPerPage), nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, invalid("limit", "must be a positive integer, got %q", v)
	}
	return min(n, s.cfg.MaxEventsPerPage), nil
}

// handleOrders serves GET /api/v1/orders: the order book in creation
// order, paged by the position of each order's intent.
func (s *Server) handleOrders(w http.ResponseWriter, r *http.Request) {
	serveReadModel(s, w, r, "orders", s.orderQuery, func(o *projections.Orders, oq projections.OrderQuery) (answer, error) {
		list, pos := o.List(oq)
		a := answer{pos: pos, fields: map[string]any{"orders": list}, nextAlias: "next_after"}
		if len(list) == oq.Limit { // a full page: there may be more
			a.next = list[len(list)-1].CreatedPosition
		}
		return a, nil
	})
}

// handleOrder serves GET /api/v1/orders/{id} with the order's history.
// Another account's order is "no order", like one that does not exist.
func (s *Server) handleOrder(w http.ResponseWriter, r *http.Request) {
	visible := func(r *http.Request) ([]string, error) { return s.visibleAccounts(r, nil) }
	serveReadModel(s, w, r, "orders", visible, func(o *projections.Orders, accounts []string) (answer, error) {
		id := r.PathValue("id")
		ord, pos, ok := o.Order(id, accounts)
		if !ok {
			return answer{}, &Error{Code: CodeNotFound, Message: fmt.Sprintf("no order %q", id)}
		}
		return answer{pos: pos, fields: map[string]any{"order": ord}}, nil
	})
}

// handleTrades serves GET /api/v1/dashboard/trades: fills in log order,
// paged by position.
func (s *Server) handleTrades(w http.ResponseWriter, r *http.Request) {
	serveReadModel(s, w, r, "orders", s.tradeQuery, func(o *projections.Orders, oq projections.OrderQuery) (answer, error) {
		trades, pos := o.Trades(oq)
		a := answer{pos: pos, fields: map[string]any{"trades": trades}, nextAlias: "next_after"}
		if len(trades) == oq.Limit { // a full page: there may be more
			a.next = trades[len(trades)-1].Position
		}
		return a, nil
	})
}

// signalQuery parses account, strategy, source, status (PENDING, ACCEPTED,
// REJECTED) and the paging: cursor or before (a log position, exclusive;
// signals come newest first) and limit.
func (s *Server) signalQuery(r *http.Request) (projections.SignalQuery, error) {
	q := r.URL.Query()
	sq := projections.SignalQuery{Strategy: q.Get("strategy"), Source: q.Get("source"), Status: q.Get("status")}
	var err error
	if sq.Accounts, err = s.accountsParam(r); err != nil {
		return sq, err
	}
	if sq.Before, err = cursorParam(q, "before"); err != nil {
		return sq, err
	}
	sq.Limit, err = s.limitParam(q)
	return sq, err
}

// handleSignals serves GET /api/v1/signals: recent signals, newest first,
// with accepted or rejected and why.
func (s *Server) handleSignals(w http.ResponseWriter, r *http.Request) {
	serveReadModel(s, w, r, "signals", s.signalQuery, func(m *projections.Signals, sq projections.SignalQuery) (answer, error) {
		list, pos := m.List(sq)
		a := answer{pos: pos, fields: map[string]any{"signals": list}, nextAlias: "next_before"}
		if len(list) == sq.Limit { // a full page: there may be more
			a.next = list[len(list)-1].Position
		}
		return a, nil
	})
}
