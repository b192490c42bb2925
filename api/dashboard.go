package api

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/algoauto/algoauto/domain"
	"github.com/algoauto/algoauto/projections"
)

// Dashboard routes: summary, P&L series, performance (from the pnl
// projection), control status (control) and provider health (providers).
// Each answers as of ?position=N or ?asOf=RFC3339 through readModel, with
// "position" (the log position the data reflects) and "as_of".

// dashboardAccounts returns the accounts of ?account= (comma-separated;
// nil: every account) narrowed by visibleAccounts to those the request's
// user may see.
func (s *Server) dashboardAccounts(r *http.Request) ([]string, error) {
	var requested []string
	if v := r.URL.Query().Get("account"); v != "" {
		requested = strings.Split(v, ",")
	}
	return s.visibleAccounts(r, requested)
}

// pnlQuery parses account, mode, strategy ("-" for manual orders), day
// (YYYY-MM-DD, IST) and fill (true/false).
func (s *Server) pnlQuery(r *http.Request) (projections.PnLQuery, error) {
	q := r.URL.Query()
	pq := projections.PnLQuery{Strategy: q.Get("strategy"), Day: q.Get("day")}
	var err error
	if pq.Accounts, err = s.dashboardAccounts(r); err != nil {
		return pq, err
	}
	if v := q.Get("mode"); v != "" {
		pq.Mode = domain.Mode(v)
		if !pq.Mode.Valid() {
			return pq, invalid("mode", "must be paper or live, got %q", v)
		}
	}
	if pq.Day != "" {
		if _, err := projections.ParseDay(pq.Day); err != nil {
			return pq, invalid("day", "must be a date YYYY-MM-DD (IST), got %q", pq.Day)
		}
	}
	if v := q.Get("fill"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return pq, invalid("fill", "must be true or false, got %q", v)
		}
		pq.Fill = b
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
	pq, err := s.pnlQuery(r)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	model, asOf, err := readModel[*projections.PnL](s, r, "pnl")
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	rows, day, pos, err := model.Summaries(pq)
	if err != nil {
		writeError(w, r, s.log, invalid("day", "%v", err))
		return
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
	writeJSON(w, http.StatusOK, map[string]any{"position": uint64(pos), "as_of": asOf, "day": day, "accounts": rows, "totals": tot})
}

// handleDashboardPnL serves GET /api/v1/dashboard/pnl?account=&mode=
// &strategy=&day=&fill=: the day's per-minute P&L series summed over the
// selected accounts (account totals unless strategy= names one).
func (s *Server) handleDashboardPnL(w http.ResponseWriter, r *http.Request) {
	pq, err := s.pnlQuery(r)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	model, asOf, err := readModel[*projections.PnL](s, r, "pnl")
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	day := pq.Day
	if day == "" {
		day = model.LatestDay()
	}
	pq.Day = day
	points, pos := model.Series(pq)
	writeJSON(w, http.StatusOK, map[string]any{"position": uint64(pos), "as_of": asOf, "day": day, "points": points})
}

// handleDashboardPerformance serves GET /api/v1/dashboard/performance
// ?account=&mode=&strategy=: the statistics per account and mode, with
// each strategy's, and the daily totals.
func (s *Server) handleDashboardPerformance(w http.ResponseWriter, r *http.Request) {
	pq, err := s.pnlQuery(r)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	model, asOf, err := readModel[*projections.PnL](s, r, "pnl")
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	list, pos := model.Performance(pq)
	writeJSON(w, http.StatusOK, map[string]any{"position": uint64(pos), "as_of": asOf, "accounts": list})
}

// handleControlStatus serves GET /api/v1/control/status?account=: each
// account's trading state, mode, strategies, risk limits, kill switch and
// last change (read only).
func (s *Server) handleControlStatus(w http.ResponseWriter, r *http.Request) {
	accounts, err := s.dashboardAccounts(r)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	model, asOf, err := readModel[*projections.Control](s, r, "control")
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	list, pos := model.List(accounts)
	writeJSON(w, http.StatusOK, map[string]any{"position": uint64(pos), "as_of": asOf, "accounts": list})
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
	model, asOf, err := readModel[*projections.Providers](s, r, "providers")
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	list, pos := model.List()
	out := make([]ProviderView, 0, len(list))
	for _, h := range list {
		v := ProviderView{ProviderHealth: h}
		if !h.LastTickAt.IsZero() {
			age := round2(s.now().Sub(h.LastTickAt).Seconds())
			v.TickAge = &age
		}
		out = append(out, v)
	}
	writeJSON(w, http.StatusOK, map[string]any{"position": uint64(pos), "as_of": asOf, "providers": out})
}
