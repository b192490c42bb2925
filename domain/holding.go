package domain

import (
	"math"
	"math/bits"
)

// Holding is a net position at weighted-average cost, exact to the paisa:
// Qty is signed (long > 0), Basis the signed cost of the open quantity
// (positive long, negative short). A fill that reduces the holding releases
// the closed share of the basis (rounded half away from zero) and realises
// the difference from the fill's value; a flip closes the whole holding
// and opens the rest at the fill price. The positions read model, the
// paper broker and the engine's risk book all account with it.
type Holding struct {
	Qty   int64
	Basis Price
}

// Fill applies one execution of signed quantity q (buy > 0) at price and
// returns the P&L it realises.
func (h *Holding) Fill(q int64, price Price) (realized Price) {
	if h.Qty != 0 && (h.Qty > 0) != (q > 0) {
		closing := min(abs64(q), abs64(h.Qty))
		qc := closing
		if q < 0 {
			qc = -closing
		}
		released := h.Basis
		if closing != abs64(h.Qty) {
			released = Price(MulDivRound(int64(h.Basis), closing, abs64(h.Qty)))
		}
		realized = -Price(qc)*price - released
		h.Basis -= released
		h.Qty += qc
		q -= qc
	}
	if q != 0 {
		h.Qty += q
		h.Basis += Price(q) * price
	}
	return realized
}

// Avg is the average price, Basis/Qty rounded half away from zero (0 when
// flat).
func (h Holding) Avg() Price {
	if h.Qty == 0 {
		return 0
	}
	return Price(MulDivRound(int64(h.Basis), 1, h.Qty))
}

// Unrealized is the open quantity's P&L at last: Qty*last - Basis (0 when
// flat or without a price).
func (h Holding) Unrealized(last Price) Price {
	if h.Qty == 0 || last == 0 {
		return 0
	}
	return Price(h.Qty)*last - h.Basis
}

func abs64(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

// MulDivRound returns a*b/c rounded half away from zero, computed in 128
// bits so that a*b cannot overflow. c must not be 0. Callers pass |b| <= |c|,
// so the result is no larger than |a|; a quotient that would not fit in
// 64 bits saturates instead.
func MulDivRound(a, b, c int64) int64 {
	neg := (a < 0) != (b < 0) != (c < 0)
	ua, ub, uc := uint64(abs64(a)), uint64(abs64(b)), uint64(abs64(c))
	hi, lo := bits.Mul64(ua, ub)
	if hi >= uc {
		if neg {
			return math.MinInt64
		}
		return math.MaxInt64
	}
	quo, rem := bits.Div64(hi, lo, uc)
	if rem >= uc-rem { // rem*2 >= uc without overflow
		quo++
	}
	if neg {
		return -int64(quo)
	}
	return int64(quo)
}
