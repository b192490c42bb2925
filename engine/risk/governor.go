package risk

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// Orders-per-second bounds. NSE's TOPS threshold (circular NSE/INVG/67858)
// is 10 orders per second per exchange segment for unregistered algos; the
// governor stays strictly below it.
const (
	TOPSThreshold       = 10
	DefaultOrdersPerSec = 8
)

// Rate is an order budget: at most N orders in any window of length Per
// (any half-open interval [a, a+Per)).
type Rate struct {
	N   int
	Per time.Duration
}

// Governor is the orders-per-second governor of one account: it admits an
// order only if, with it, no window of any of its rates holds more orders
// than the rate allows. Each exchange order (each freeze slice) counts as
// one. It keeps one account-wide budget, stricter than TOPS, which counts
// per exchange segment.
//
// It runs on event time only. Times are kept as Unix nanoseconds (years
// 1678-2262). A Governor is safe for concurrent use; its decisions depend
// only on the sequence of calls.
type Governor struct {
	mu    sync.Mutex
	rates []Rate
	// hist holds the most recent admitted or scheduled send times in
	// ascending order, as a ring of the largest N any rate has had.
	hist []int64
	head int // index of the oldest entry
	n    int // entries held
}

// NewGovernor returns a governor of maxPerSec orders per second (0:
// DefaultOrdersPerSec; pass domain.RiskLimits.MaxOrdersPerSec) plus any
// further budgets, such as a broker's per-minute and per-day limits
// (Kite: Rate{200, time.Minute}, Rate{3000, 24 * time.Hour}). maxPerSec
// must be below TOPSThreshold; every Rate needs a positive N and Per.
func NewGovernor(maxPerSec int64, more ...Rate) (*Governor, error) {
	rates, err := govRates(maxPerSec, more)
	if err != nil {
		return nil, err
	}
	g := &Governor{}
	g.setRates(rates)
	return g, nil
}

func govRates(maxPerSec int64, more []Rate) ([]Rate, error) {
	if maxPerSec == 0 {
		maxPerSec = DefaultOrdersPerSec
	}
	if maxPerSec < 0 || maxPerSec >= TOPSThreshold {
		return nil, fmt.Errorf("risk: orders per second %d: must be 1 to %d, strictly below the exchange's %d", maxPerSec, TOPSThreshold-1, TOPSThreshold)
	}
	rates := []Rate{{N: int(maxPerSec), Per: time.Second}}
	for _, r := range more {
		if r.N <= 0 || r.Per <= 0 {
			return nil, errors.New("risk: a governor rate needs N > 0 and Per > 0")
		}
		rates = append(rates, r)
	}
	return rates, nil
}

// Reconfigure changes the budgets (as NewGovernor's arguments) and keeps
// the history of admitted orders, so a RiskLimitsChanged cannot open a
// fresh burst. On error the governor is unchanged.
func (g *Governor) Reconfigure(maxPerSec int64, more ...Rate) error {
	rates, err := govRates(maxPerSec, more)
	if err != nil {
		return err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.setRates(rates)
	return nil
}

func (g *Governor) setRates(rates []Rate) {
	// The ring never shrinks: lowering a rate and raising it again must
	// still see every order of the window.
	size := len(g.hist)
	for _, r := range rates {
		size = max(size, r.N)
	}
	keep := min(g.n, size)
	hist := make([]int64, size)
	for i := range keep {
		hist[i] = g.at(g.n - keep + i)
	}
	g.rates, g.hist, g.head, g.n = rates, hist, 0, keep
}

// Rates returns the budgets in force, the per-second one first.
func (g *Governor) Rates() []Rate {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]Rate(nil), g.rates...)
}

// at returns the i-th oldest entry held.
func (g *Governor) at(i int) int64 { return g.hist[(g.head+i)%len(g.hist)] }

// recent returns the k-th most recent entry (k >= 1); ok is false when
// fewer than k are held.
func (g *Governor) recent(k int) (int64, bool) {
	if k > g.n {
		return 0, false
	}
	return g.at(g.n - k), true
}

func (g *Governor) push(t int64) {
	if g.n < len(g.hist) {
		g.hist[(g.head+g.n)%len(g.hist)] = t
		g.n++
		return
	}
	g.hist[g.head] = t
	g.head = (g.head + 1) % len(g.hist)
}

// inWindow counts the held entries after t-per (all held entries are at or
// before t). The count is exact up to the ring size.
func (g *Governor) inWindow(t int64, per time.Duration) int {
	from := t - int64(per)
	lo, hi := 0, g.n // first index whose entry is > from
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if g.at(mid) > from {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return g.n - lo
}

func (g *Governor) last() (int64, bool) { return g.recent(1) }

// Allow admits one order at event time at and records it; false means it
// must not be sent now. Same as Admit(at, 1).
func (g *Governor) Allow(at time.Time) bool {
	_, ok := g.Admit(at, 1)
	return ok
}

// Admit admits n orders (the slices of one parent order) at event time at,
// all or none, and records them. When it refuses, nothing is recorded and
// the Refusal (rule ops_governor) gives the budget, the count the window
// would reach and the earliest time they would be admitted. An at earlier
// than the latest admitted or scheduled order is refused: orders are
// admitted in time order (queue behind Schedule instead).
func (g *Governor) Admit(at time.Time, n int) (Refusal, bool) {
	if n <= 0 {
		return Refusal{}, true
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	t := at.UnixNano()
	next, feasible := g.next(t, n)
	nextMsg := "they can never be admitted together: send them with Schedule"
	if feasible {
		nextMsg = "earliest " + time.Unix(0, next).In(at.Location()).Format(time.RFC3339Nano)
	}
	if last, ok := g.last(); ok && t < last {
		return Refusal{Rule: RuleOpsGovernor, Message: fmt.Sprintf(
			"%d orders at %s are earlier than the latest admitted or scheduled order at %s; %s",
			n, at.Format(time.RFC3339Nano), time.Unix(0, last).In(at.Location()).Format(time.RFC3339Nano), nextMsg)}, false
	}
	for _, r := range g.rates {
		c := g.inWindow(t, r.Per)
		if n > r.N || c+n > r.N {
			return Refusal{Rule: RuleOpsGovernor, Limit: int64(r.N), Actual: int64(c + n), Unit: UnitOrders,
				Message: fmt.Sprintf("%d orders at %s with %d already in the last %s would be %d, over the budget of %d per %s; %s",
					n, at.Format(time.RFC3339Nano), c, r.Per, c+n, r.N, r.Per, nextMsg)}, false
		}
	}
	for range n {
		g.push(t)
	}
	return Refusal{}, true
}

// next returns the earliest time, not before t nor before the latest held
// entry, at which n orders fit every budget at once; false when n exceeds
// some rate's N.
func (g *Governor) next(t int64, n int) (int64, bool) {
	if last, ok := g.last(); ok {
		t = max(t, last)
	}
	for _, r := range g.rates {
		if n > r.N {
			return 0, false
		}
		// n more fit when the (N-n+1)-th most recent entry has left the
		// window: it is at or before t-Per.
		if s, ok := g.recent(r.N - n + 1); ok {
			t = max(t, s+int64(r.Per))
		}
	}
	return t, true
}

// NextAllowed returns the earliest time, at or after at and after every
// order already admitted or scheduled, at which n orders would be admitted
// together. It records nothing. ok is false when n is over some budget's N,
// so the orders can never go together.
func (g *Governor) NextAllowed(at time.Time, n int) (time.Time, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	t, ok := g.next(at.UnixNano(), max(n, 1))
	if !ok {
		return time.Time{}, false
	}
	return time.Unix(0, t).In(at.Location()), true
}

// Schedule queues n orders instead of refusing them: it records and returns
// the earliest send time of each, in order, the first at or after at and
// after every order already admitted or scheduled. The caller sends each
// order when its event-time clock reaches its time.
func (g *Governor) Schedule(at time.Time, n int) []time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]time.Time, 0, max(n, 0))
	t := at.UnixNano()
	for range n {
		t, _ = g.next(t, 1) // one order always fits some time
		g.push(t)
		out = append(out, time.Unix(0, t).In(at.Location()))
	}
	return out
}
