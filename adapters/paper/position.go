package paper

import (
	"math"
	"math/bits"
	"time"

	"github.com/algoauto/algoauto/domain"
)

// position is the net holding in one instrument and product, at
// weighted-average cost: basis is the signed cost of the open quantity in
// paise (positive long, negative short), as in projections.Position.
type position struct {
	qty      int64
	basis    int64
	openedAt time.Time // when it last went from flat (or through zero) to open
	sqOrder  *order    // the square-off order closing it, if any
}

// fill applies one execution of signed quantity q (buy > 0) at price
// (paise) at time at.
func (p *position) fill(q, price int64, at time.Time) {
	if p.qty != 0 && (p.qty > 0) != (q > 0) {
		closing := min(abs(q), abs(p.qty))
		qc := closing
		if q < 0 {
			qc = -closing
		}
		released := p.basis
		if closing != abs(p.qty) {
			released = mulDivRound(p.basis, closing, abs(p.qty))
		}
		p.basis -= released
		p.qty += qc
		q -= qc
	}
	if q != 0 {
		if p.qty == 0 {
			p.openedAt = at
		}
		p.qty += q
		p.basis += q * price
	}
}

// avg is the average price, basis/qty rounded half away from zero (0 when
// flat).
func (p *position) avg() domain.Price {
	if p.qty == 0 {
		return 0
	}
	return domain.Price(mulDivRound(p.basis, 1, p.qty))
}

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

// mulDivRound returns a*b/c rounded half away from zero, computed in 128
// bits so that a*b cannot overflow. c must not be 0. Callers pass |b| <= |c|,
// so the result is no larger than |a|; a quotient that would not fit in
// 64 bits saturates instead.
func mulDivRound(a, b, c int64) int64 {
	neg := (a < 0) != (b < 0) != (c < 0)
	ua, ub, uc := uint64(abs(a)), uint64(abs(b)), uint64(abs(c))
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
