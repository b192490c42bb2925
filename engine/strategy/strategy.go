package strategy

import (
	"time"

	"github.com/algoauto/algoauto/domain"
)

// Strategy is a deterministic trading state machine (see the package
// documentation for the determinism and concurrency contracts).
//
// OnTick, OnFill and OnTimer return the signals the event caused, in the
// order they are to be raised; nil when none (the common case, which must
// not allocate). The returned slice belongs to the caller. Calls are made
// from one goroutine, in log order; times passed in (tick ExchangeTime,
// fill At, timer now) are interpreted in IST by the built-ins, and a
// strategy treats its clock as the latest time it has been given, so an
// out-of-order exchange timestamp never moves it backwards.
type Strategy interface {
	// Name is the name of the Definition the strategy was made from.
	Name() string
	// OnTick is called for market ticks, at least those of the
	// instruments the strategy trades or watches; a strategy ignores ticks
	// it has no use for.
	OnTick(env Env, t domain.Tick) []Signal
	// OnFill is called for each execution of an order made from one of
	// this strategy's signals, and with Done set once the signal's orders
	// are finished.
	OnFill(env Env, f Fill) []Signal
	// OnTimer is the clock beat: the engine calls it while the strategy is
	// enabled, at least once per second of clock time (event time in replay
	// and backtest), so that time-based rules fire when no tick arrives.
	OnTimer(env Env, now time.Time) []Signal
	// State is a snapshot of the strategy's state for the REST status,
	// JSON-encodable and sharing no memory with the strategy.
	State() any
}

// Signal is a strategy's request to trade. Quantity is in units (lots ×
// lot size); LotSize is the lot size used, so the engine can record it on
// the order intent. Price is the limit price (LIMIT, SL), Trigger the
// trigger price (SL, SL-M); both are zero for MARKET. RefPrice is the last
// LTP of the instrument the strategy saw when it decided (0 if it has seen
// none, e.g. an option picked a moment ago), kept for the audit trail and
// slippage reports; it is not an order price.
type Signal struct {
	// Leg is the deterministic intent id, unique within the strategy
	// instance over time (see the package documentation).
	Leg       string           `json:"leg"`
	Exchange  string           `json:"exchange"`
	Symbol    string           `json:"symbol"`
	Side      domain.Side      `json:"side"`
	Quantity  int64            `json:"quantity"`
	LotSize   int64            `json:"lot_size,omitempty"`
	OrderType domain.OrderType `json:"order_type"`
	Price     domain.Price     `json:"price,omitempty"`
	Trigger   domain.Price     `json:"trigger,omitempty"`
	Product   domain.Product   `json:"product"`
	RefPrice  domain.Price     `json:"ref_price,omitempty"`
	// Reason says why, for people: "golden cross: sma(9) 24512.40 > sma(21) 24498.10".
	Reason string `json:"reason"`
	// At is the strategy's clock when it raised the signal.
	At time.Time `json:"at"`
}

// Fill is an execution of one of the strategy's own orders, addressed by the
// Leg of the signal the order came from. Quantity and Price are this
// execution's (Quantity may be 0 on a report that only sets Done). Done says
// no more executions will come for the leg: it is filled in full, or the rest
// was refused (risk gate, broker) or cancelled, in which case Reason says
// why. A signal split into several orders (freeze quantity) is done when all
// of them are.
//
// A Fill with an empty Leg is an execution of an order the strategy did
// not place that closed (part of) its position: flattening after a stop or
// the kill switch, or the broker's square-off; Reason says which. The
// built-ins take the position left as their new target: they do not
// re-open what was closed for them.
type Fill struct {
	Leg      string       `json:"leg"`
	Exchange string       `json:"exchange"`
	Symbol   string       `json:"symbol"`
	Side     domain.Side  `json:"side"`
	Quantity int64        `json:"quantity"`
	Price    domain.Price `json:"price"`
	At       time.Time    `json:"at"`
	Done     bool         `json:"done,omitempty"`
	Reason   string       `json:"reason,omitempty"`
}

// Env is what a strategy may ask of the engine: instrument lookups in the
// instruments master. It is declared here, by its consumer; the engine's
// adapter over the instruments package is a few lines. All methods are pure
// functions of the master the engine loaded (replay must see the same
// master as live did) and return an error when the master has no answer.
// They are called from the strategy's goroutine; the built-ins cache their
// answers, so Env is not on the per-tick path.
type Env interface {
	// Instrument returns the instrument exchange:symbol.
	Instrument(exchange, symbol string) (domain.Instrument, error)
	// Future returns the current-month (nearest unexpired) futures
	// contract of underlying ("NIFTY") at the instant at.
	Future(underlying string, at time.Time) (domain.Instrument, error)
	// NearestWeekly returns the expiry date (midnight IST, as
	// domain.Instrument.Expiry) of the nearest option expiry of underlying
	// that has not expired at the instant at.
	NearestWeekly(underlying string, at time.Time) (time.Time, error)
	// ATMStrike returns the listed strike of underlying's options
	// expiring at expiry that is nearest to spot.
	ATMStrike(underlying string, expiry time.Time, spot domain.Price) (domain.Price, error)
	// Option returns the option of underlying with this expiry, strike and
	// type (domain.InstrumentCall or domain.InstrumentPut).
	Option(underlying string, expiry time.Time, strike domain.Price, typ domain.InstrumentType) (domain.Instrument, error)
}
