package domain

import "time"

// InstrumentType is the kind of a tradable or quoted instrument, as the
// Kite instruments dump names it (INDEX for the spot indices, which the
// dump lists under segment INDICES).
type InstrumentType string

// Instrument types.
const (
	InstrumentEquity InstrumentType = "EQ"
	InstrumentFuture InstrumentType = "FUT"
	InstrumentCall   InstrumentType = "CE"
	InstrumentPut    InstrumentType = "PE"
	InstrumentIndex  InstrumentType = "INDEX"
)

// IsOption reports whether t is CE or PE.
func (t InstrumentType) IsOption() bool { return t == InstrumentCall || t == InstrumentPut }

// Instrument is one row of the instruments master. The key is
// (Exchange, Symbol), Kite's tradingsymbol: exchanges reuse tokens across
// expiries. Expiry is the expiry date at midnight IST (zero: none); the
// contract expires at that day's close (15:30 IST).
type Instrument struct {
	Token         uint32         `json:"token"`
	ExchangeToken uint32         `json:"exchange_token,omitempty"`
	Exchange      string         `json:"exchange"`
	Symbol        string         `json:"symbol"`
	Name          string         `json:"name,omitempty"` // the underlying of a derivative: "NIFTY", "BANKNIFTY"
	Segment       string         `json:"segment"`        // NSE, INDICES, NFO-FUT, NFO-OPT, ...
	Type          InstrumentType `json:"type"`
	Expiry        time.Time      `json:"expiry,omitzero"`
	Strike        Price          `json:"strike,omitempty"`
	TickSize      Price          `json:"tick_size"`
	LotSize       int64          `json:"lot_size"`
	// FreezeQty is the exchange's largest quantity in one order (0: none
	// known); larger orders are split into slices.
	FreezeQty int64 `json:"freeze_qty,omitempty"`
}

// Key returns "EXCHANGE:SYMBOL", the canonical instrument name.
func (i Instrument) Key() string { return i.Exchange + ":" + i.Symbol }

// ExpiresAt returns the instant the contract expires (15:30 IST of its
// expiry day); zero when it has no expiry.
func (i Instrument) ExpiresAt() time.Time {
	if i.Expiry.IsZero() {
		return time.Time{}
	}
	y, m, d := i.Expiry.In(IST()).Date()
	return time.Date(y, m, d, 15, 30, 0, 0, IST())
}
