package paper

import (
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
	h := domain.Holding{Qty: p.qty, Basis: domain.Price(p.basis)}
	h.Fill(q, domain.Price(price))
	if h.Qty != 0 && (p.qty == 0 || (p.qty > 0) != (h.Qty > 0)) {
		p.openedAt = at // opened from flat, or flipped through zero
	}
	p.qty, p.basis = h.Qty, int64(h.Basis)
}

// avg is the average price, basis/qty rounded half away from zero (0 when
// flat).
func (p *position) avg() domain.Price {
	return domain.Holding{Qty: p.qty, Basis: domain.Price(p.basis)}.Avg()
}
