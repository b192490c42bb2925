package engine

import (
	"context"
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/algoauto/algoauto/domain"
	"github.com/algoauto/algoauto/engine/strategy"
	"github.com/algoauto/algoauto/eventstore"
)

// Signal outcomes.
const (
	SignalPending  = "PENDING"
	SignalAccepted = "ACCEPTED"
	SignalRejected = "REJECTED"
)

// signalState is a signal as the engine folded it.
type signalState struct {
	raised   domain.SignalRaised
	status   string
	orderIDs []string
	rule     string
	reason   string
}

// foldSignal applies a signal event. e.mu is held.
func (e *Engine) foldSignal(de domain.Event) {
	switch ev := de.(type) {
	case domain.SignalRaised:
		if e.signals[ev.SignalID] == nil {
			e.signals[ev.SignalID] = &signalState{raised: ev, status: SignalPending}
		}
	case domain.SignalAccepted:
		if s := e.signals[ev.SignalID]; s != nil {
			s.status, s.orderIDs = SignalAccepted, ev.OrderIDs
		}
	case domain.SignalRejected:
		s := e.signals[ev.SignalID]
		if s == nil {
			return
		}
		s.status, s.rule, s.reason = SignalRejected, ev.Rule, ev.Reason
		// Live, raiseLocked tells the strategy its rejected signal's leg
		// is done; on load the note waits for the strategy's replay. A
		// broker rejection ends the leg through its order instead.
		if e.loading && ev.Rule != "broker" {
			if r := e.runners[s.raised.Account][s.raised.Strategy]; r != nil && r.source == s.raised.Source {
				e.queueNoteLocked(fillNote{r: r, sigID: ev.SignalID, fromSignal: true,
					fill: strategy.Fill{Done: true, Reason: ev.Rule + ": " + ev.Reason}})
			}
		}
	}
}

// SignalRequest is a signal from outside (a webhook, an n8n flow, a
// TradingView-style alert) or from a person: POST /api/v1/signals.
type SignalRequest struct {
	Source         string // who sends it: the API key's source, or "user:<name>"
	IdempotencyKey string // required: a repeat answers with the first result
	Account        string
	Strategy       string
	Exchange       string
	Symbol         string // "EXCHANGE:SYMBOL" or a symbol on Exchange (NFO by default)
	Side           domain.Side
	Quantity       int64
	OrderType      domain.OrderType // MARKET by default
	Price          domain.Price
	Product        domain.Product // MIS by default
	Reason         string
}

// SignalResult is what became of a signal.
type SignalResult struct {
	SignalID  string   `json:"signal_id"`
	Status    string   `json:"status"`
	OrderIDs  []string `json:"order_ids,omitempty"`
	Rule      string   `json:"rule,omitempty"`
	Reason    string   `json:"reason,omitempty"`
	Duplicate bool     `json:"duplicate,omitempty"`
}

func (s *signalState) result() SignalResult {
	return SignalResult{SignalID: s.raised.SignalID, Status: s.status, OrderIDs: s.orderIDs, Rule: s.rule, Reason: s.reason}
}

// SignalID returns the deterministic id of a signal: one per (source,
// idempotency key).
func SignalID(source, key string) string {
	sum := sha256.Sum256([]byte(source + "\x00" + key))
	return "S" + strings.ToLower(base32.StdEncoding.EncodeToString(sum[:])[:19])
}

// Submit records a signal and decides it: accepted (its order placed) or
// rejected with the rule and reason. A repeat of an idempotency key answers
// with the first result, whatever the body says.
func (e *Engine) Submit(ctx context.Context, a Actor, r SignalRequest) (SignalResult, error) {
	bad := func(field, format string, args ...any) error {
		return &domain.CommandError{Code: domain.CodeInvalid, Field: field, Message: fmt.Sprintf(format, args...)}
	}
	switch {
	case strings.TrimSpace(r.IdempotencyKey) == "":
		return SignalResult{}, bad("idempotency_key", "is required (header Idempotency-Key or the field): a repeat is answered with the first result")
	case len(r.IdempotencyKey) > 200:
		return SignalResult{}, bad("idempotency_key", "at most 200 characters")
	case r.Source == "":
		return SignalResult{}, bad("source", "must not be empty")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.submitLocked(ctx, a, r, e.cfg.Now())
}

// submitLocked is Submit with e.mu held; the signal is raised at raisedAt
// (the wall clock for outside signals, the tick's time for strategies).
func (e *Engine) submitLocked(ctx context.Context, a Actor, r SignalRequest, raisedAt time.Time) (SignalResult, error) {
	id := SignalID(r.Source, r.IdempotencyKey)
	if s := e.signals[id]; s != nil {
		res := s.result()
		res.Duplicate = true
		return res, nil
	}
	req := OrderRequest{Account: r.Account, Exchange: r.Exchange, Symbol: r.Symbol, Side: r.Side, Quantity: r.Quantity,
		Type: r.OrderType, Price: r.Price, Product: r.Product}
	if err := e.resolveSymbol(&req, raisedAt); err != nil {
		return SignalResult{}, err
	}
	if err := req.normalise(); err != nil {
		return SignalResult{}, err
	}
	if err := a.mayTouch(req.Account); err != nil {
		return SignalResult{}, err
	}
	raised := domain.SignalRaised{SignalID: id, Source: r.Source, Strategy: r.Strategy, Account: req.Account,
		Exchange: req.Exchange, Symbol: req.Symbol, Side: req.Side, Quantity: req.Quantity, OrderType: req.Type,
		Price: req.Price, Reason: r.Reason, RaisedAt: raisedAt}
	if err := raised.Validate(); err != nil {
		return SignalResult{}, &domain.CommandError{Code: domain.CodeInvalid, Message: err.Error()}
	}
	md := eventstore.Metadata{User: a.User, Account: req.Account, Source: r.Source, CorrelationID: id}
	stream := domain.SignalStream(r.Source)
	if err := e.append(ctx, stream, id, md, raised); err != nil {
		return SignalResult{}, err
	}
	s := e.signals[id]
	if err := e.decideLocked(ctx, s, req, md); err != nil {
		return s.result(), err
	}
	return s.result(), nil
}

// decideLocked takes a raised signal to accepted (with its order placed)
// or rejected. e.mu is held.
func (e *Engine) decideLocked(ctx context.Context, s *signalState, req OrderRequest, md eventstore.Metadata) error {
	stream := domain.SignalStream(s.raised.Source)
	reject := func(rule, reason string) error {
		return e.append(ctx, stream, s.raised.SignalID, md, domain.SignalRejected{SignalID: s.raised.SignalID, Rule: rule, Reason: reason})
	}
	c := e.controlLocked(req.Account)
	if err := e.canTradeLocked(c); err != nil {
		ce := err.(*domain.CommandError)
		rule := ce.Rule
		if rule == "" {
			rule = "trading_" + c.State
		}
		return reject(rule, ce.Message)
	}
	in := domain.OrderIntentRecorded{Account: req.Account, Mode: c.Mode,
		Strategy: s.raised.Strategy, SignalID: s.raised.SignalID, Exchange: req.Exchange, Symbol: req.Symbol,
		Side: req.Side, Quantity: req.Quantity, Type: req.Type, Product: req.Product, Price: req.Price, AlgoID: e.cfg.AlgoID}
	if inst, ok := e.instrument(req.Exchange, req.Symbol); ok {
		in.LotSize = inst.LotSize
	}
	at := s.raised.RaisedAt
	d := e.checkLocked(in, at, false)
	ref, refused := d.Refusal()
	if !refused {
		ref, refused = e.admitLocked(req.Account, at, len(d.Slices))
	}
	if refused {
		return e.append(ctx, stream, s.raised.SignalID, md, domain.SignalRejected{SignalID: s.raised.SignalID,
			Rule: string(ref.Rule), Reason: ref.Message, Limit: ref.Limit, Actual: ref.Actual, Unit: string(ref.Unit)})
	}
	// One order per freeze-quantity slice, each with its own deterministic
	// client order id (leg = slice index).
	var ids []string
	rejected := 0
	for leg, q := range d.Slices {
		in := in
		cid := ClientOrderID(s.raised.Source, s.raised.SignalID, leg)
		in.OrderID, in.ClientOrderID, in.Quantity = cid, cid, q
		if err := in.Validate(); err != nil {
			return reject("invalid_order", err.Error())
		}
		o, err := e.route(ctx, in, md)
		if err != nil {
			return err
		}
		if o.status == orderRejected {
			rejected++
		}
		ids = append(ids, o.intent.OrderID)
	}
	if rejected == len(ids) {
		return reject("broker", "the broker rejected the order")
	}
	return e.append(ctx, stream, s.raised.SignalID, md, domain.SignalAccepted{SignalID: s.raised.SignalID, OrderIDs: ids})
}

func uuidString() (string, error) {
	u, err := uuid.NewV7()
	if err != nil {
		return "", fmt.Errorf("engine: id: %w", err)
	}
	return u.String(), nil
}
