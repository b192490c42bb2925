package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/algoauto/algoauto/api/auth"
	"github.com/algoauto/algoauto/domain"
	"github.com/algoauto/algoauto/engine"
	"github.com/algoauto/algoauto/engine/strategy"
)

// Trading is the engine as the trading routes use it: control commands,
// the kill switch, manual orders and signals. Every method checks the
// actor's access itself.
type Trading interface {
	Control(account string) engine.ControlStatus
	Command(ctx context.Context, a engine.Actor, account string, cmd engine.ControlCommand, reason string, flatten bool) (engine.ControlStatus, error)
	SetMode(ctx context.Context, a engine.Actor, account string, to domain.Mode, confirm string) (engine.ControlStatus, error)
	Kill(ctx context.Context, a engine.Actor, account, reason string) (engine.ControlStatus, error)
	ResetKill(ctx context.Context, a engine.Actor, account, confirm, reason string) (engine.ControlStatus, error)
	PlaceOrder(ctx context.Context, a engine.Actor, r engine.OrderRequest) (engine.OrderResult, error)
	CancelOrder(ctx context.Context, a engine.Actor, orderID string) (engine.OrderResult, error)
	ModifyOrder(ctx context.Context, a engine.Actor, orderID string, ch domain.OrderChange) (engine.OrderResult, error)
	Submit(ctx context.Context, a engine.Actor, r engine.SignalRequest) (engine.SignalResult, error)
	Controls() []engine.ControlStatus
	EnableStrategy(ctx context.Context, a engine.Actor, account, name string, params json.RawMessage) (engine.ControlStatus, error)
	DisableStrategy(ctx context.Context, a engine.Actor, account, name, reason string) (engine.ControlStatus, error)
	Strategies(see func(account string) bool) []engine.StrategyStatus
	Definitions() []strategy.Definition
	CheckReconciliation(ctx context.Context, a engine.Actor, account string) (engine.ControlStatus, error)
	AdoptPosition(ctx context.Context, a engine.Actor, r engine.AdoptRequest) (engine.ControlStatus, error)
	SetRiskLimits(ctx context.Context, a engine.Actor, account string, l domain.RiskLimits) (engine.ControlStatus, error)
}

// tradingRoutes registers the write side of trading.
func (s *Server) tradingRoutes() {
	for _, cmd := range []engine.ControlCommand{engine.CmdStart, engine.CmdStop, engine.CmdPause, engine.CmdResume} {
		s.mux.HandleFunc("POST /api/v1/control/"+string(cmd), func(w http.ResponseWriter, r *http.Request) { s.handleControlCommand(w, r, cmd) })
	}
	s.mux.HandleFunc("GET /api/v1/control/paper-trading", s.handleGetPaperTrading)
	s.mux.HandleFunc("POST /api/v1/control/paper-trading", s.handleSetPaperTrading)
	s.mux.HandleFunc("POST /api/v1/control/kill-switch", s.handleKill)
	s.mux.HandleFunc("POST /api/v1/control/kill-switch/reset", s.handleKillReset)
	s.mux.HandleFunc("POST /api/v1/control/reconciliation/check", s.handleReconcileCheck)
	s.mux.HandleFunc("POST /api/v1/control/reconciliation/adopt", s.handleReconcileAdopt)
	s.mux.HandleFunc("POST /api/v1/orders", s.handlePlaceOrder)
	s.mux.HandleFunc("DELETE /api/v1/orders/{id}", s.handleCancelOrder)
	s.mux.HandleFunc("PATCH /api/v1/orders/{id}", s.handleModifyOrder)
	s.mux.HandleFunc("POST /api/v1/signals", s.handleSubmitSignal)
	s.mux.HandleFunc("GET /api/v1/autonomous/status", s.handleAutonomousStatus)
	s.mux.HandleFunc("GET /api/v1/autonomous/strategies", s.handleAutonomousStrategies)
	s.mux.HandleFunc("POST /api/v1/autonomous/enable", s.handleEnableStrategy)
	s.mux.HandleFunc("POST /api/v1/autonomous/disable", s.handleDisableStrategy)
	s.mux.HandleFunc("PUT /api/v1/control/risk-limits", s.handleSetRiskLimits)
}

// actor is the engine's view of the request's caller. Without
// authentication (a server built without Deps.Auth, as in tests) the caller
// is a local admin.
func (s *Server) actor(r *http.Request) (engine.Actor, auth.Principal, error) {
	if s.auth == nil {
		return engine.Actor{User: "local", Admin: true, Trader: true}, auth.Principal{Username: "local", AllAccounts: true}, nil
	}
	p, err := principal(r)
	if err != nil {
		return engine.Actor{}, p, err
	}
	return engine.Actor{User: p.Username, Admin: p.IsAdmin(), Trader: p.CanWrite(), CanSee: p.CanSee}, p, nil
}

// account is the request's account, or the caller's paper account.
func account(given string, p auth.Principal) (string, error) {
	if given != "" {
		return given, nil
	}
	if p.Username == "" || p.Username == "local" {
		return "", invalid("account", "is required")
	}
	return domain.PaperAccount(p.Username), nil
}

func (s *Server) handleControlCommand(w http.ResponseWriter, r *http.Request, cmd engine.ControlCommand) {
	var req struct {
		Account string `json:"account"`
		Reason  string `json:"reason"`
		Flatten bool   `json:"flatten"`
	}
	if err := decodeBody(r, &req, true); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	flatten := req.Flatten
	if v := r.URL.Query().Get("flatten"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			writeError(w, r, s.log, invalid("flatten", "must be true or false, got %q", v))
			return
		}
		flatten = b
	}
	if flatten && cmd != engine.CmdStop {
		writeError(w, r, s.log, invalid("flatten", "only stop flattens"))
		return
	}
	s.controlAnswer(w, r, req.Account, func(a engine.Actor, acct string) (engine.ControlStatus, error) {
		return s.trading.Command(r.Context(), a, acct, cmd, req.Reason, flatten)
	})
}

// controlAnswer resolves the actor and account, runs do and answers the
// account's control status.
func (s *Server) controlAnswer(w http.ResponseWriter, r *http.Request, given string, do func(engine.Actor, string) (engine.ControlStatus, error)) {
	a, p, err := s.actor(r)
	if err == nil {
		var acct string
		if acct, err = account(given, p); err == nil {
			var st engine.ControlStatus
			if st, err = do(a, acct); err == nil {
				writeJSON(w, http.StatusOK, ControlView(st))
				return
			}
		}
	}
	writeError(w, r, s.log, err)
}

// ControlView renders a control status as the API shows it (REST and the
// WebSocket COMMAND answers); kill_switch as the read model
// shows it.
func ControlView(st engine.ControlStatus) map[string]any {
	ks := map[string]any{"active": st.Kill, "reason": st.KillReason}
	if !st.KillSince.IsZero() {
		ks["since"] = st.KillSince.UTC()
	}
	if st.KillRule != "" {
		ks["rule"] = st.KillRule
	}
	return map[string]any{"account": st.Account, "state": st.State, "mode": st.Mode, "paper": st.Mode == domain.Paper,
		"kill_switch": ks, "open_orders": st.OpenOrders, "strategies": st.Strategies, "risk_limits": st.Limits, "version": st.Version,
		"reconciliation": st.Reconciliation}
}

func (s *Server) handleGetPaperTrading(w http.ResponseWriter, r *http.Request) {
	a, p, err := s.actor(r)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	acct, err := account(r.URL.Query().Get("account"), p)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	if a.CanSee != nil && !a.CanSee(acct) {
		writeError(w, r, s.log, &Error{Code: CodeForbidden, Message: "no access to account " + strconv.Quote(acct)})
		return
	}
	st := s.trading.Control(acct)
	writeJSON(w, http.StatusOK, map[string]any{"account": acct, "paper": st.Mode == domain.Paper, "mode": st.Mode})
}

// handleSetPaperTrading serves POST /api/v1/control/paper-trading
// {"account"?, "paper": bool} or {"mode": "paper"|"live"}, with
// {"confirm":"LIVE"} to go live.
func (s *Server) handleSetPaperTrading(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Account string      `json:"account"`
		Paper   *bool       `json:"paper"`
		Mode    domain.Mode `json:"mode"`
		Confirm string      `json:"confirm"`
	}
	if err := decodeBody(r, &req, false); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	to := req.Mode
	switch {
	case req.Paper != nil && to != "":
		writeError(w, r, s.log, invalid("mode", "give paper or mode, not both"))
		return
	case req.Paper != nil && *req.Paper:
		to = domain.Paper
	case req.Paper != nil:
		to = domain.Live
	case to == "":
		writeError(w, r, s.log, invalid("paper", `is required: {"paper":true} or {"paper":false,"confirm":"LIVE"}`))
		return
	}
	s.controlAnswer(w, r, req.Account, func(a engine.Actor, acct string) (engine.ControlStatus, error) {
		return s.trading.SetMode(r.Context(), a, acct, to, req.Confirm)
	})
}

// accountField is the optional "account" of a control request body
// (default: the caller's paper account).
type accountField struct {
	Account string `json:"account"`
}

func (f accountField) account() string { return f.Account }

// controlRequest decodes a control command's JSON body into a T, runs do
// for the caller on the body's account, and answers that account's
// control status.
func controlRequest[T interface{ account() string }](s *Server, w http.ResponseWriter, r *http.Request,
	do func(a engine.Actor, acct string, req T) (engine.ControlStatus, error)) {
	var req T
	if err := decodeBody(r, &req, false); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	s.controlAnswer(w, r, req.account(), func(a engine.Actor, acct string) (engine.ControlStatus, error) {
		return do(a, acct, req)
	})
}

func (s *Server) handleKill(w http.ResponseWriter, r *http.Request) {
	type body struct {
		accountField
		Reason string `json:"reason"`
	}
	controlRequest(s, w, r, func(a engine.Actor, acct string, req body) (engine.ControlStatus, error) {
		return s.trading.Kill(r.Context(), a, acct, req.Reason)
	})
}

func (s *Server) handleKillReset(w http.ResponseWriter, r *http.Request) {
	type body struct {
		accountField
		Confirm string `json:"confirm"`
		Reason  string `json:"reason"`
	}
	controlRequest(s, w, r, func(a engine.Actor, acct string, req body) (engine.ControlStatus, error) {
		return s.trading.ResetKill(r.Context(), a, acct, req.Confirm, req.Reason)
	})
}

// handleReconcileCheck serves POST /api/v1/control/reconciliation/check
// {"account"?}: an admin checks the account against its broker again.
func (s *Server) handleReconcileCheck(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Account string `json:"account"`
	}
	if err := decodeBody(r, &req, true); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	s.controlAnswer(w, r, req.Account, func(a engine.Actor, acct string) (engine.ControlStatus, error) {
		return s.trading.CheckReconciliation(r.Context(), a, acct)
	})
}

// handleReconcileAdopt serves POST /api/v1/control/reconciliation/adopt
// {"account"?, "instrument", "confirm":"ADOPT", "reason"}: an admin takes
// the broker's view of an instrument as the engine's own.
func (s *Server) handleReconcileAdopt(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Account    string `json:"account"`
		Instrument string `json:"instrument"`
		Confirm    string `json:"confirm"`
		Reason     string `json:"reason"`
	}
	if err := decodeBody(r, &req, false); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	s.controlAnswer(w, r, req.Account, func(a engine.Actor, acct string) (engine.ControlStatus, error) {
		return s.trading.AdoptPosition(r.Context(), a, engine.AdoptRequest{Account: acct, Instrument: req.Instrument, Confirm: req.Confirm, Reason: req.Reason})
	})
}

// orderBody is the JSON of POST /api/v1/orders; prices in rupees.
type orderBody struct {
	Account      string           `json:"account"`
	Symbol       string           `json:"symbol"`
	Exchange     string           `json:"exchange"`
	Side         domain.Side      `json:"side"`
	Quantity     int64            `json:"quantity"`
	Type         domain.OrderType `json:"type"`
	Price        domain.Price     `json:"price"`
	TriggerPrice domain.Price     `json:"trigger_price"`
	Product      domain.Product   `json:"product"`
}

func (s *Server) handlePlaceOrder(w http.ResponseWriter, r *http.Request) {
	var req orderBody
	if err := decodeBody(r, &req, false); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	a, p, err := s.actor(r)
	if err == nil {
		req.Account, err = account(req.Account, p)
	}
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	res, err := s.trading.PlaceOrder(r.Context(), a, engine.OrderRequest{Account: req.Account, Exchange: req.Exchange, Symbol: req.Symbol,
		Side: req.Side, Quantity: req.Quantity, Type: req.Type, Price: req.Price, TriggerPrice: req.TriggerPrice, Product: req.Product,
		IdempotencyKey: r.Header.Get("Idempotency-Key")})
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	status := http.StatusCreated
	if res.Duplicate {
		status = http.StatusOK
	}
	writeJSON(w, status, res)
}

func (s *Server) handleCancelOrder(w http.ResponseWriter, r *http.Request) {
	a, _, err := s.actor(r)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	res, err := s.trading.CancelOrder(r.Context(), a, r.PathValue("id"))
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (s *Server) handleModifyOrder(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Quantity     int64            `json:"quantity"`
		Price        domain.Price     `json:"price"`
		TriggerPrice domain.Price     `json:"trigger_price"`
		Type         domain.OrderType `json:"type"`
	}
	if err := decodeBody(r, &req, false); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	a, _, err := s.actor(r)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	res, err := s.trading.ModifyOrder(r.Context(), a, r.PathValue("id"),
		domain.OrderChange{Quantity: req.Quantity, Price: req.Price, TriggerPrice: req.TriggerPrice, Type: req.Type})
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// handleSubmitSignal serves POST /api/v1/signals: an idempotency key is
// required (header Idempotency-Key, or "idempotency_key"); a repeat
// answers 200 with the first result, a new signal 201 (accepted or
// rejected, with the rule and reason). Sent with an API key (X-API-Key),
// the signal's source is the key's and its account the key's (a body
// naming another account is a 403); otherwise the source is
// "user:<username>".
func (s *Server) handleSubmitSignal(w http.ResponseWriter, r *http.Request) {
	var req struct {
		IdempotencyKey string           `json:"idempotency_key"`
		Account        string           `json:"account"`
		Strategy       string           `json:"strategy"`
		Symbol         string           `json:"symbol"`
		Exchange       string           `json:"exchange"`
		Side           domain.Side      `json:"side"`
		Quantity       int64            `json:"quantity"`
		OrderType      domain.OrderType `json:"order_type"`
		Price          domain.Price     `json:"price"`
		Product        domain.Product   `json:"product"`
		Reason         string           `json:"reason"`
	}
	if err := decodeBody(r, &req, false); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	a, p, err := s.actor(r)
	source := "user:" + a.User
	switch {
	case err != nil:
	case p.APIKeyID != "":
		source = p.Source
		if req.Account != "" && req.Account != p.Accounts[0] {
			err = &Error{Code: CodeForbidden, Message: "this API key may trade only account " + strconv.Quote(p.Accounts[0]) + ", not " + strconv.Quote(req.Account)}
		}
		req.Account = p.Accounts[0]
	default:
		req.Account, err = account(req.Account, p)
	}
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	key := r.Header.Get("Idempotency-Key")
	if key == "" {
		key = req.IdempotencyKey
	} else if req.IdempotencyKey != "" && req.IdempotencyKey != key {
		writeError(w, r, s.log, invalid("idempotency_key", "differs from the Idempotency-Key header"))
		return
	}
	res, err := s.trading.Submit(r.Context(), a, engine.SignalRequest{Source: source, IdempotencyKey: key,
		Account: req.Account, Strategy: req.Strategy, Exchange: req.Exchange, Symbol: req.Symbol, Side: req.Side,
		Quantity: req.Quantity, OrderType: req.OrderType, Price: req.Price, Product: req.Product, Reason: req.Reason})
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	status := http.StatusCreated
	if res.Duplicate {
		status = http.StatusOK
	}
	writeJSON(w, status, res)
}

// handleAutonomousStatus serves GET /api/v1/autonomous/status: the
// control of every account the caller may see that the engine knows, and
// the strategies running on them with their state.
func (s *Server) handleAutonomousStatus(w http.ResponseWriter, r *http.Request) {
	a, _, err := s.actor(r)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	accounts := []map[string]any{}
	for _, st := range s.trading.Controls() {
		if a.CanSee == nil || a.CanSee(st.Account) {
			accounts = append(accounts, ControlView(st))
		}
	}
	running := s.trading.Strategies(a.CanSee)
	if running == nil {
		running = []engine.StrategyStatus{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"accounts": accounts, "strategies": running})
}

// handleAutonomousStrategies serves GET /api/v1/autonomous/strategies: the
// strategies one may enable (name, description, parameters) and those
// running on the caller's accounts with their parameters and state.
func (s *Server) handleAutonomousStrategies(w http.ResponseWriter, r *http.Request) {
	a, _, err := s.actor(r)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	defs := s.trading.Definitions()
	if defs == nil {
		defs = []strategy.Definition{}
	}
	running := s.trading.Strategies(a.CanSee)
	if running == nil {
		running = []engine.StrategyStatus{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"definitions": defs, "running": running})
}

// handleEnableStrategy serves POST /api/v1/autonomous/enable
// {"strategy","account"?,"params"?}: parameters are validated against the
// strategy's schema (400 naming each bad one) and recorded complete, with
// defaults filled in.
func (s *Server) handleEnableStrategy(w http.ResponseWriter, r *http.Request) {
	type body struct {
		accountField
		Strategy string          `json:"strategy"`
		Params   json.RawMessage `json:"params"`
	}
	controlRequest(s, w, r, func(a engine.Actor, acct string, req body) (engine.ControlStatus, error) {
		if req.Strategy == "" {
			return engine.ControlStatus{}, invalid("strategy", "is required")
		}
		return s.trading.EnableStrategy(r.Context(), a, acct, req.Strategy, req.Params)
	})
}

// handleDisableStrategy serves POST /api/v1/autonomous/disable
// {"strategy","account"?,"reason"?}.
func (s *Server) handleDisableStrategy(w http.ResponseWriter, r *http.Request) {
	type body struct {
		accountField
		Strategy string `json:"strategy"`
		Reason   string `json:"reason"`
	}
	controlRequest(s, w, r, func(a engine.Actor, acct string, req body) (engine.ControlStatus, error) {
		if req.Strategy == "" {
			return engine.ControlStatus{}, invalid("strategy", "is required")
		}
		return s.trading.DisableStrategy(r.Context(), a, acct, req.Strategy, req.Reason)
	})
}

// handleSetRiskLimits serves PUT /api/v1/control/risk-limits
// {"account", "limits": {...}} (admin): the account's limits are replaced
// (absent fields: no limit).
func (s *Server) handleSetRiskLimits(w http.ResponseWriter, r *http.Request) {
	type body struct {
		accountField
		Limits domain.RiskLimits `json:"limits"`
	}
	controlRequest(s, w, r, func(a engine.Actor, acct string, req body) (engine.ControlStatus, error) {
		return s.trading.SetRiskLimits(r.Context(), a, acct, req.Limits)
	})
}
