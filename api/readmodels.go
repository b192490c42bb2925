package api

import (
	"context"
	"fmt"
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

// PositionTotals sums the positions of an answer.
type PositionTotals struct {
	Realized    domain.Price `json:"realized"`
	Unrealized  domain.Price `json:"unrealized"`
	Charges     domain.Price `json:"charges"`
	TotalPnL    domain.Price `json:"total_pnl"`
	TotalPnLNet domain.Price `json:"total_pnl_net"`
	Open        int          `json:"open_positions"`
}

// handlePositions serves GET /api/v1/positions?account=&mode=&strategy=
// &symbol=&open=&position=|asOf=. account is a comma-separated list.
func (s *Server) handlePositions(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var pq projections.PositionQuery
	if v := q.Get("account"); v != "" {
		pq.Accounts = strings.Split(v, ",")
	}
	accounts, err := s.visibleAccounts(r, pq.Accounts)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	pq.Accounts = accounts
	if v := q.Get("mode"); v != "" {
		pq.Mode = domain.Mode(v)
		if !pq.Mode.Valid() {
			writeError(w, r, s.log, invalid("mode", "must be paper or live, got %q", v))
			return
		}
	}
	pq.Strategy, pq.Symbol = q.Get("strategy"), q.Get("symbol")
	if v := q.Get("open"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			writeError(w, r, s.log, invalid("open", "must be true or false, got %q", v))
			return
		}
		pq.OpenOnly = b
	}
	model, asOf, err := readModel[*projections.Positions](s, r, "positions")
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	list, pos := model.List(pq)
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
	writeJSON(w, http.StatusOK, map[string]any{"position": uint64(pos), "as_of": asOf, "positions": list, "totals": tot})
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

// orderQuery parses the filters and paging shared by orders and trades:
// account (comma-separated), mode, strategy, symbol, status, after (a log
// position, exclusive), limit (default 100, at most MaxEventsPerPage).
func (s *Server) orderQuery(r *http.Request) (projections.OrderQuery, error) {
	q := r.URL.Query()
	oq := projections.OrderQuery{Strategy: q.Get("strategy"), Symbol: q.Get("symbol"), Status: q.Get("status")}
	if v := q.Get("account"); v != "" {
		oq.Accounts = strings.Split(v, ",")
	}
	if v := q.Get("mode"); v != "" {
		oq.Mode = domain.Mode(v)
		if !oq.Mode.Valid() {
			return oq, invalid("mode", "must be paper or live, got %q", v)
		}
	}
	var err error
	if oq.After, err = positionParam(q, "after"); err != nil {
		return oq, err
	}
	if oq.Accounts, err = s.visibleAccounts(r, oq.Accounts); err != nil {
		return oq, err
	}
	oq.Limit, err = s.limitParam(q)
	return oq, err
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
// order, paged by the position of each order's intent ("next_after").
func (s *Server) handleOrders(w http.ResponseWriter, r *http.Request) {
	oq, err := s.orderQuery(r)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	o, asOf, err := readModel[*projections.Orders](s, r, "orders")
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	list, pos := o.List(oq)
	out := map[string]any{"position": uint64(pos), "as_of": asOf, "orders": list}
	if len(list) == oq.Limit {
		out["next_after"] = list[len(list)-1].CreatedPosition
	}
	writeJSON(w, http.StatusOK, out)
}

// handleOrder serves GET /api/v1/orders/{id} with the order's history.
func (s *Server) handleOrder(w http.ResponseWriter, r *http.Request) {
	o, _, err := readModel[*projections.Orders](s, r, "orders")
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	id := r.PathValue("id")
	accounts, err := s.visibleAccounts(r, nil) // another account's order is "no order"
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	ord, pos, ok := o.Order(id, accounts)
	if !ok {
		writeError(w, r, s.log, &Error{Code: CodeNotFound, Message: fmt.Sprintf("no order %q", id)})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"position": uint64(pos), "order": ord})
}

// handleTrades serves GET /api/v1/dashboard/trades: fills in log order,
// paged by position ("next_after").
func (s *Server) handleTrades(w http.ResponseWriter, r *http.Request) {
	oq, err := s.orderQuery(r)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	o, asOf, err := readModel[*projections.Orders](s, r, "orders")
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	trades, pos := o.Trades(oq)
	out := map[string]any{"position": uint64(pos), "as_of": asOf, "trades": trades}
	if len(trades) == oq.Limit {
		out["next_after"] = trades[len(trades)-1].Position
	}
	writeJSON(w, http.StatusOK, out)
}

// handleSignals serves GET /api/v1/signals: recent signals, newest first,
// with accepted or rejected and why. Filters: account, strategy, source,
// status (PENDING, ACCEPTED, REJECTED); paging: before (a log position,
// exclusive) and limit; as-of with position or asOf.
func (s *Server) handleSignals(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	sq := projections.SignalQuery{Strategy: q.Get("strategy"), Source: q.Get("source"), Status: q.Get("status")}
	if v := q.Get("account"); v != "" {
		sq.Accounts = strings.Split(v, ",")
	}
	var err error
	if sq.Accounts, err = s.visibleAccounts(r, sq.Accounts); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	if sq.Before, err = positionParam(q, "before"); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	if sq.Limit, err = s.limitParam(q); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	sm, asOf, err := readModel[*projections.Signals](s, r, "signals")
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	list, pos := sm.List(sq)
	out := map[string]any{"position": uint64(pos), "as_of": asOf, "signals": list}
	if len(list) == sq.Limit {
		out["next_before"] = list[len(list)-1].Position
	}
	writeJSON(w, http.StatusOK, out)
}
