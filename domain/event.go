package domain

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Event is a fact recorded in the log. EventType is the stable, persisted
// name of the event type; Validate checks the payload and returns a
// *FieldError naming the first field that is wrong and why.
type Event interface {
	EventType() string
	Validate() error
}

// FieldError reports an invalid field of an event or command.
type FieldError struct {
	Type   string // event or command type, e.g. "TickReceived"
	Field  string // JSON field name, e.g. "ltp"
	Reason string // why it is invalid, e.g. "must be > 0, got -5.00"
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("%s: invalid %s: %s", e.Type, e.Field, e.Reason)
}

func fieldErr(typ, field, format string, args ...any) *FieldError {
	return &FieldError{Type: typ, Field: field, Reason: fmt.Sprintf(format, args...)}
}

// checker collects the first validation failure of an event in declaration
// order, so that Validate methods read as a list of rules.
type checker struct {
	typ string
	err *FieldError
}

func (c *checker) fail(field, format string, args ...any) {
	if c.err == nil {
		c.err = fieldErr(c.typ, field, format, args...)
	}
}

func (c *checker) nonEmpty(field, v string) {
	switch {
	case strings.TrimSpace(v) == "":
		c.fail(field, "must not be empty")
	case !utf8.ValidString(v):
		c.fail(field, "is not valid UTF-8")
	}
}

func (c *checker) positive(field string, v int64) {
	if v <= 0 {
		c.fail(field, "must be > 0, got %d", v)
	}
}

func (c *checker) nonNegative(field string, v int64) {
	if v < 0 {
		c.fail(field, "must be >= 0, got %d", v)
	}
}

func (c *checker) positivePrice(field string, p Price) {
	if p <= 0 {
		c.fail(field, "must be > 0, got %s", p)
	}
}

func (c *checker) nonNegativePrice(field string, p Price) {
	if p < 0 {
		c.fail(field, "must be >= 0, got %s", p)
	}
}

func (c *checker) timeSet(field string, t time.Time) {
	if t.IsZero() {
		c.fail(field, "must be set")
	}
}

func (c *checker) result() error {
	if c.err == nil {
		return nil
	}
	return c.err
}

// Side is the direction of an order or signal: BUY or SELL.
type Side string

// The two sides.
const (
	Buy  Side = "BUY"
	Sell Side = "SELL"
)

// ParseSide accepts BUY or SELL in any case.
func ParseSide(s string) (Side, error) {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "BUY":
		return Buy, nil
	case "SELL":
		return Sell, nil
	}
	return "", fmt.Errorf("side %q: want BUY or SELL", s)
}

// Valid reports whether s is BUY or SELL.
func (s Side) Valid() bool { return s == Buy || s == Sell }

// OrderType is MARKET, LIMIT, SL (stop-loss limit) or SL-M (stop-loss market).
type OrderType string

// The order types NSE brokers accept.
const (
	Market    OrderType = "MARKET"
	Limit     OrderType = "LIMIT"
	StopLimit OrderType = "SL"
	StopMkt   OrderType = "SL-M"
)

// Valid reports whether t is one of the four order types.
func (t OrderType) Valid() bool {
	return t == Market || t == Limit || t == StopLimit || t == StopMkt
}

// Product is the broker product: MIS (intraday), NRML (carry-forward F&O)
// or CNC (delivery equity).
type Product string

// The products.
const (
	MIS  Product = "MIS"
	NRML Product = "NRML"
	CNC  Product = "CNC"
)

// Valid reports whether p is MIS, NRML or CNC.
func (p Product) Valid() bool { return p == MIS || p == NRML || p == CNC }

// Mode is how an account trades: paper (simulated broker) or live.
type Mode string

// The trading modes.
const (
	Paper Mode = "paper"
	Live  Mode = "live"
)

// Valid reports whether m is paper or live.
func (m Mode) Valid() bool { return m == Paper || m == Live }
