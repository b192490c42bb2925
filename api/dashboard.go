package api

import (
	"net/http"
	"strconv"

	"github.com/algoauto/algoauto/domain"
	"github.com/algoauto/algoauto/projections"
)

// Dashboard routes: summary, P&L series, performance (from the pnl
// projection), control status (control) and provider health (providers).
// Each is served by serveReadModel: it answers as of ?position=N or
// ?asOf=RFC3339, with "position" (the log position the data reflects) and
// "as_of".

// pnlParams are the parameters only some pnl routes take.
type pnlParams uint8

const (
	pnlDay  pnlParams = 1 << iota // day=: summary and series
	pnlFill                       // fill=: the series only
)

// pnlQuery parses account, mode, strategy ("-" for manual orders) and, if
// the route takes them, day (YYYY-MM-DD, IST) and fill (true/false). A
// route refuses day or fill when it does not take them, rather than
// answer as if it had applied them.
func (s *Server) pnlQuery(r *http.Request, takes pnlParams) (projections.PnLQuery, error) {
	q := r.URL.Query()
	pq := projections.PnLQuery{Strategy: q.Get("strategy"), Day: q.Get("day")}
	if takes&pnlDay == 0 {
		if err := refuse(q, "performance covers the whole log; a day's figures are in /api/v1/dashboard/summary", "day"); err != nil {
			return pq, err
		}
	}
	if takes&pnlFill == 0 {
		if err := refuse(q, "only the series of /api/v1/dashboard/pnl is filled", "fill"); err != nil {
			return pq, err
		}
	}
	var err error
	if pq.Accounts, err = s.accountsParam(r); err != nil {
		return pq, err
	}
	if pq.Mode, err = modeParam(q); err != nil {
		return pq, err
	}
	if pq.Day != "" {
		if _, err := projections.ParseDay(pq.Day); err != nil {
			return pq, invalid("day", "must be a date YYYY-MM-DD (IST), got %q", pq.Day)
		}
	}
	if v := q.Get("fill"); v != "" {
		if pq.Fill, err = strconv.ParseBool(v); err != nil {
			return pq, invalid("fill", "must be true or false, got %q", v)
		}
	}
	return pq, nil
}

// SummaryTotals sums the money and counts of a summary answer's rows.
type SummaryTotals struct {
	Capital       domain.Price `json:"capital"`
	DayPnL        domain.Price `json:"day_pnl"`
	Realized      domain.Price `json:"realized"`
	Unrealized    domain.Price `json:"unrealized"`
	Charges       domain.Price `json:"charges"`
	Net           domain.Price `json:"net"`
	OpenPositions int          `json:"open_positions"`
	TradeCount    int64        `json:"trade_count"`
}

// handleDashboardSummary serves GET /api/v1/dashboard/summary?account=
// &mode=&strategy=&day=: one row per account and mode (or per strategy with
// strategy=), the day's figures and the statistics over the whole log.
func (s *Server) handleDashboardSummary(w http.ResponseWriter, r *http.Request) {
	parse := func(r *http.Request) (projections.PnLQuery, error) { return s.pnlQuery(r, pnlDay) }
	serveReadModel(s, w, r, "pnl", parse, func(m *projections.PnL, pq projections.PnLQuery) (answer, error) {
		rows, day, pos, err := m.Summaries(pq)
		if err != nil {
			return answer{}, invalid("day", "%v", err)
		}
		var tot SummaryTotals
		for _, v := range rows {
			tot.Capital += v.Capital
			tot.DayPnL += v.DayPnL
			tot.Realized += v.Realized
			tot.Unrealized += v.Unrealized
			tot.Charges += v.Charges
			tot.Net += v.Net
			tot.OpenPositions += v.OpenPositions
			tot.TradeCount += v.TradeCount
		}
		return answer{pos: pos, fields: map[string]any{"day": day, "accounts": rows, "totals": tot}}, nil
	})
}

// handleDashboardPnL serves GET /api/v1/dashboard/pnl?account=&mode=
// &strategy=&day=&fill=: the day's per-minute P&L series summed over the
// selected accounts (account totals unless strategy= names one).
func (s *Server) handleDashboardPnL(w http.ResponseWriter, r *http.Request) {
	parse := func(r *http.Request) (projections.PnLQuery, error) { return s.pnlQuery(r, pnlDay|pnlFill) }
	serveReadModel(s, w, r, "pnl", parse, func(m *projections.PnL, pq projections.PnLQuery) (answer, error) {
		if pq.Day == "" {
			pq.Day = m.LatestDay()
		}
		points, pos := m.Series(pq)
		return answer{pos: pos, fields: map[string]any{"day": pq.Day, "points": points}}, nil
	})
}

// handleDashboardPerformance serves GET /api/v1/dashboard/performance
// ?account=&mode=&strategy=: the statistics over the whole log per account
// and mode, with each strategy's, and the daily totals.
func (s *Server) handleDashboardPerformance(w http.ResponseWriter, r *http.Request) {
	parse := func(r *http.Request) (projections.PnLQuery, error) { return s.pnlQuery(r, 0) }
	serveReadModel(s, w, r, "pnl", parse, func(m *projections.PnL, pq projections.PnLQuery) (answer, error) {
		list, pos := m.Performance(pq)
		return answer{pos: pos, fields: map[string]any{"accounts": list}}, nil
	})
}

// handleControlStatus serves GET /api/v1/control/status?account=: each
// account's trading state, mode, strategies, risk limits, kill switch and
// last change (read only).
func (s *Server) handleControlStatus(w http.ResponseWriter, r *http.Request) {
	serveReadModel(s, w, r, "control", s.accountsParam, func(m *projections.Control, accounts []string) (answer, error) {
		list, pos := m.List(accounts)
		return answer{pos: pos, fields: map[string]any{"accounts": list}}, nil
	})
}

// ProviderView is a provider's health as the API shows it: with the age of
// its last tick against the wall clock (absent before the first tick).
type ProviderView struct {
	projections.ProviderHealth
	TickAge *float64 `json:"tick_age_seconds,omitempty"`
}

// handleProviders serves GET /api/v1/providers: market-data provider
// health (not per account: every user may read it).
func (s *Server) handleProviders(w http.ResponseWriter, r *http.Request) {
	serveReadModel(s, w, r, "providers", noFilters, func(m *projections.Providers, _ struct{}) (answer, error) {
		list, pos := m.List()
		out := make([]ProviderView, 0, len(list))
		for _, h := range list {
			v := ProviderView{ProviderHealth: h}
			if !h.LastTickAt.IsZero() {
				age := round2(s.now().Sub(h.LastTickAt).Seconds())
				v.TickAge = &age
			}
			out = append(out, v)
		}
		return answer{pos: pos, fields: map[string]any{"providers": out}}, nil
	})
}
