package risk

import (
	"fmt"
	"sync"
	"time"

	"github.com/algoauto/algoauto/domain"
)

// DefaultConsecutive is how many consecutive breaching observations trip
// the kill switch by default.
const DefaultConsecutive = 3

// Observation is one mark of an account's day P&L and drawdown, at the
// event time of what caused it (a tick, a fill).
type Observation struct {
	At       time.Time
	DayPnL   domain.Price // loss negative
	Drawdown domain.Price // fall from the day's peak, non-negative (magnitude used)
}

// Trip is the Breaker's answer to one observation.
type Trip struct {
	// Trip is true on the one observation that trips the breaker: the
	// caller records KillSwitchTriggered{Auto: true, Rule: Refusal.Rule}
	// with Refusal's numbers.
	Trip bool
	// Breach says this observation is over a limit, and Refusal which one
	// (daily loss before drawdown when both).
	Breach  bool
	Refusal Refusal
	// Count is the number of consecutive breaching observations so far.
	Count int
	// Tripped says the breaker is tripped (latched until Reset).
	Tripped bool
}

// Breaker trips the kill switch automatically when the day's loss or the
// drawdown stays over its limit (domain.RiskLimits.MaxDailyLoss and
// MaxDrawdown) for N consecutive observations, so one bad tick cannot halt
// the account. Any non-breaching observation resets the count. Breaching
// observations count only at distinct, increasing event times: several
// marks made for the same tick count once. Once tripped it stays tripped,
// and reports Trip only once, until Reset.
//
// A Breaker is safe for concurrent use; its answers depend only on the
// sequence of calls.
type Breaker struct {
	mu       sync.Mutex
	limits   domain.RiskLimits
	n        int
	count    int
	lastAt   time.Time // event time of the last counted breach
	tripped  bool
	lastTrip Refusal
}

// NewBreaker returns a breaker on limits that trips after consecutive
// breaching observations (0 or less: DefaultConsecutive).
func NewBreaker(limits domain.RiskLimits, consecutive int) *Breaker {
	if consecutive <= 0 {
		consecutive = DefaultConsecutive
	}
	return &Breaker{limits: limits, n: consecutive}
}

// SetLimits applies new limits (RiskLimitsChanged). The count of
// consecutive breaches is kept: the next observation is judged against the
// new limits and resets it if it no longer breaches.
func (b *Breaker) SetLimits(limits domain.RiskLimits) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.limits = limits
}

// Observe feeds one observation and says whether it trips the kill switch.
func (b *Breaker) Observe(o Observation) Trip {
	b.mu.Lock()
	defer b.mu.Unlock()
	rs := breaches(b.limits, o.DayPnL, o.Drawdown)
	if len(rs) == 0 {
		b.count = 0
		b.lastAt = time.Time{}
		return Trip{Tripped: b.tripped}
	}
	r := rs[0]
	if b.count == 0 || o.At.After(b.lastAt) {
		b.count++
		b.lastAt = o.At
	}
	t := Trip{Breach: true, Refusal: r, Count: b.count}
	if !b.tripped && b.count >= b.n {
		b.tripped = true
		b.lastTrip = r
		t.Trip = true
		t.Refusal.Message = fmt.Sprintf("%s for %d consecutive observations (trips at %d), last at %s",
			r.Message, b.count, b.n, o.At.Format(time.RFC3339Nano))
	}
	t.Tripped = b.tripped
	return t
}

// Tripped reports whether the breaker has tripped since the last Reset, and
// the refusal it tripped on.
func (b *Breaker) Tripped() (Refusal, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.lastTrip, b.tripped
}

// Reset re-arms the breaker and clears the count; call it on
// KillSwitchReset.
func (b *Breaker) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.tripped, b.count, b.lastAt, b.lastTrip = false, 0, time.Time{}, Refusal{}
}
