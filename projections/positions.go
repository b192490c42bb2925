package projections

import (
	"slices"
	"strings"

	"github.com/algoauto/algoauto/domain"
	"github.com/algoauto/algoauto/eventstore"
	"github.com/algoauto/algoauto/eventstore/codec"
)

// Position is the holding of one account, in one mode (paper or live),
// for one strategy ("" for manual orders), instrument and product.
//
// Accounting is weighted-average cost. Basis is the signed cost of the open
// quantity in paise (positive long, negative short). A fill that adds to
// the position adds quantity*price to Basis. A fill that reduces it
// releases Basis*closed/|NetQty| (rounded half away from zero to the paisa)
// and books the difference to the fill's value as Realized; a full close
// releases all that is left, so a position that goes back to flat has
// realized exactly its sell value minus its buy value, with no rounding
// drift. A fill that crosses zero (a flip) closes the old side at the fill
// price and opens the rest on the other side at the same price.
//
// An adopted broker position (domain.PositionAdopted) is no trade: its
// difference (the broker's quantity minus the engine's before it) goes to
// the account's manual position (strategy "") of the instrument and
// product as a fill at the broker's average price that realises nothing,
// costs no charges and is not counted in Fills, BuyQty or SellQty; Adopted
// sums it, so NetQty = BuyQty - SellQty + Adopted. From flat the position
// is the broker's quantity at its average; an addition averages in, a
// reduction keeps the average, a flip opens at the broker's average. Ticks
// then value it and later fills close it against that average.
type Position struct {
	Account  string         `json:"account"`
	Mode     domain.Mode    `json:"mode"`
	Strategy string         `json:"strategy,omitempty"`
	Exchange string         `json:"exchange"`
	Symbol   string         `json:"symbol"`
	Product  domain.Product `json:"product"`
	LotSize  int64          `json:"lot_size,omitempty"`

	NetQty    int64        `json:"net_qty"`
	Basis     domain.Price `json:"basis"`
	Realized  domain.Price `json:"realized"` // gross of charges
	Charges   domain.Price `json:"charges"`  // the broker's per fill, else the schedule's (charges.go)
	BuyQty    int64        `json:"buy_qty"`
	SellQty   int64        `json:"sell_qty"`
	BuyValue  domain.Price `json:"buy_value"`
	SellValue domain.Price `json:"sell_value"`
	Fills     int64        `json:"fills"`
	Adopted   int64        `json:"adopted,omitempty"` // net quantity adopted from the broker, signed
	Updated   uint64       `json:"updated_at_position"`
}

// holding is the position's quantity and basis as domain accounts them.
func (p *Position) holding() domain.Holding { return domain.Holding{Qty: p.NetQty, Basis: p.Basis} }

// AvgPrice is Basis/NetQty rounded half away from zero (0 when flat).
func (p *Position) AvgPrice() domain.Price { return p.holding().Avg() }

// Unrealized is the open quantity's P&L at last: NetQty*last - Basis.
func (p *Position) Unrealized(last domain.Price) domain.Price { return p.holding().Unrealized(last) }

// fill applies one execution of signed quantity q (buy > 0) at price.
func (p *Position) fill(q int64, price, charges domain.Price) {
	p.Fills++
	p.Charges += charges
	if q > 0 {
		p.BuyQty += q
		p.BuyValue += domain.Price(q) * price
	} else {
		p.SellQty -= q
		p.SellValue += domain.Price(-q) * price
	}
	h := p.holding()
	p.Realized += h.Fill(q, price)
	p.NetQty, p.Basis = h.Qty, h.Basis
}

// adopt applies an adoption's difference q at the broker's average price
// (see Position).
func (p *Position) adopt(q int64, avg domain.Price) {
	h := p.holding()
	h.Fill(q, avg) // nothing is realised
	p.NetQty, p.Basis = h.Qty, h.Basis
	p.Adopted += q
}

type orderRef struct {
	Key     string      `json:"key"`
	Side    domain.Side `json:"side"`
	LotSize int64       `json:"lot_size,omitempty"`
	// Segment and FillValue price the fills the broker reports no charges
	// for (see charges.go): the charge segment ("" when not charged) and
	// the order's cumulative fill value so far.
	Segment   domain.ChargeSegment `json:"segment,omitempty"`
	FillValue domain.Price         `json:"fill_value,omitempty"`
}

type positionsState struct {
	Positions map[string]*Position    `json:"positions"` // by positionKey
	Orders    map[string]orderRef     `json:"orders"`    // order id -> its position
	Last      map[string]domain.Price `json:"last"`      // "EXCHANGE:SYMBOL" -> last price
	Orphans   int64                   `json:"orphan_fills"`
	Bad       int64                   `json:"bad_events"`
}

// Positions folds order intents, fills and adopted broker positions into
// positions, and ticks into the last prices that value them.
type Positions struct {
	state[positionsState]
	reg *codec.Registry
	dec codec.TickDecoder
	t   domain.Tick
}

// NewPositions returns an empty positions projection decoding with reg.
func NewPositions(reg *codec.Registry) *Positions {
	st := positionsState{Positions: map[string]*Position{}, Orders: map[string]orderRef{}, Last: map[string]domain.Price{}}
	return &Positions{state: state[positionsState]{st: st}, reg: reg}
}

// Name implements Projection.
func (*Positions) Name() string { return "positions" }

// Version implements Projection. Version 2: charges from the schedule when
// a fill carries none. Version 3: adopted broker positions
// (PositionAdopted).
func (*Positions) Version() int { return 3 }

// Filter implements Projection.
func (*Positions) Filter() eventstore.Filter {
	return eventstore.Filter{Types: []string{domain.TypeTickReceived, domain.TypeOrderIntentRecorded, domain.TypeOrderFilled,
		domain.TypePositionAdopted}}
}

func positionKey(i *domain.OrderIntentRecorded) string {
	return positionKeyOf(i.Account, i.Mode, i.Strategy, i.Exchange, i.Symbol, i.Product)
}

func positionKeyOf(account string, mode domain.Mode, strategy, exchange, symbol string, product domain.Product) string {
	return strings.Join([]string{account, string(mode), strategy, exchange, symbol, string(product)}, "\x1f")
}

// Apply implements Projection.
func (p *Positions) Apply(evs []eventstore.RecordedEvent, upTo eventstore.Position) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := range evs {
		ev := &evs[i]
		switch ev.Type {
		case domain.TypeTickReceived:
			if err := p.dec.Decode(ev.Data, &p.t); err != nil {
				p.st.Bad++
				continue
			}
			key := strings.TrimPrefix(ev.Stream, "tick-")
			if _, ok := p.st.Last[key]; ok {
				p.st.Last[key] = p.t.LTP
			} else {
				p.st.Last[strings.Clone(key)] = p.t.LTP
			}
		case domain.TypeOrderIntentRecorded, domain.TypeOrderFilled, domain.TypePositionAdopted:
			de, err := p.reg.Decode(ev)
			if err != nil {
				p.st.Bad++
				continue
			}
			p.applyOrder(de, uint64(ev.Position))
		}
	}
	p.advance(upTo)
}

func (p *Positions) applyOrder(de domain.Event, pos uint64) {
	switch e := de.(type) {
	case domain.OrderIntentRecorded:
		key := positionKey(&e)
		p.st.Orders[e.OrderID] = orderRef{Key: key, Side: e.Side, LotSize: e.LotSize, Segment: domain.ChargeSegmentOf(e.Exchange, e.Symbol)}
		if _, ok := p.st.Positions[key]; !ok {
			p.st.Positions[key] = &Position{Account: e.Account, Mode: e.Mode, Strategy: e.Strategy,
				Exchange: e.Exchange, Symbol: e.Symbol, Product: e.Product, LotSize: e.LotSize, Updated: pos}
		}
		if e.LotSize > 0 {
			p.st.Positions[key].LotSize = e.LotSize
		}
	case domain.OrderFilled:
		ref, ok := p.st.Orders[e.OrderID]
		if !ok {
			p.st.Orphans++ // a fill for an order whose intent is not in the log
			return
		}
		q := e.Quantity
		if ref.Side == domain.Sell {
			q = -q
		}
		value := domain.Price(e.Quantity) * e.Price
		charges := fillCharges(e.Charges, ref.Segment, ref.Side, ref.FillValue, value)
		ref.FillValue += value
		p.st.Orders[e.OrderID] = ref
		pp := p.st.Positions[ref.Key]
		pp.fill(q, e.Price, charges)
		pp.Updated = pos
	case domain.PositionAdopted:
		exch, sym, ok := strings.Cut(e.Instrument, ":")
		if !ok {
			p.st.Bad++
			return
		}
		key := positionKeyOf(e.Account, e.Mode, "", exch, sym, e.Product)
		pp := p.st.Positions[key]
		if pp == nil {
			pp = &Position{Account: e.Account, Mode: e.Mode, Exchange: exch, Symbol: sym, Product: e.Product,
				LotSize: p.lotSize(e.Account, e.Mode, exch, sym)}
			p.st.Positions[key] = pp
		}
		pp.adopt(e.Delta(), e.AvgPrice)
		pp.Updated = pos
	}
}

// lotSize is the lot size the account's other positions in the instrument
// know (0 if none does).
func (p *Positions) lotSize(account string, mode domain.Mode, exchange, symbol string) int64 {
	var lot int64
	for _, pp := range p.st.Positions {
		if pp.Account == account && pp.Mode == mode && pp.Exchange == exchange && pp.Symbol == symbol {
			lot = max(lot, pp.LotSize)
		}
	}
	return lot
}

// UnmarshalState implements Projection.
func (p *Positions) UnmarshalState(b []byte) error {
	return p.load(b, "positions", positionsState{}, func(st *positionsState) error {
		if st.Positions == nil {
			st.Positions = map[string]*Position{}
		}
		if st.Orders == nil {
			st.Orders = map[string]orderRef{}
		}
		if st.Last == nil {
			st.Last = map[string]domain.Price{}
		}
		return nil
	})
}

// PositionView is a position as the API shows it: the stored fields plus
// values derived from them and the last price.
type PositionView struct {
	Position
	Lots         float64      `json:"lots,omitempty"`
	AvgPrice     domain.Price `json:"avg_price"`
	LastPrice    domain.Price `json:"last_price,omitempty"`
	Unrealized   domain.Price `json:"unrealized"`
	RealizedNet  domain.Price `json:"realized_net"`
	TotalPnL     domain.Price `json:"total_pnl"`     // realized + unrealized, gross
	TotalPnLNet  domain.Price `json:"total_pnl_net"` // after charges
	NetPnL       domain.Price `json:"net_pnl"`       // realized + unrealized - charges (= total_pnl_net)
	OpenPosition bool         `json:"open"`
}

// PositionQuery selects positions. Empty fields match everything; Accounts
// nil means every account (callers scope it to what a user may see).
type PositionQuery struct {
	Accounts []string
	Mode     domain.Mode
	Strategy string
	Symbol   string
	OpenOnly bool
}

// List returns the positions q selects, sorted by account, mode, strategy,
// exchange, symbol and product, and the log position they reflect.
func (p *Positions) List(q PositionQuery) ([]PositionView, eventstore.Position) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	keys := make([]string, 0, len(p.st.Positions))
	for k := range p.st.Positions {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := []PositionView{}
	for _, k := range keys {
		pp := p.st.Positions[k]
		if q.Accounts != nil && !slices.Contains(q.Accounts, pp.Account) ||
			q.Mode != "" && pp.Mode != q.Mode || q.Strategy != "" && pp.Strategy != q.Strategy ||
			q.Symbol != "" && pp.Symbol != q.Symbol && pp.Exchange+":"+pp.Symbol != q.Symbol ||
			q.OpenOnly && pp.NetQty == 0 {
			continue
		}
		last := p.st.Last[pp.Exchange+":"+pp.Symbol]
		v := PositionView{Position: *pp, AvgPrice: pp.AvgPrice(), LastPrice: last, Unrealized: pp.Unrealized(last),
			RealizedNet: pp.Realized - pp.Charges, OpenPosition: pp.NetQty != 0}
		v.TotalPnL = pp.Realized + v.Unrealized
		v.TotalPnLNet = v.TotalPnL - pp.Charges
		v.NetPnL = v.TotalPnLNet
		if pp.LotSize > 0 {
			v.Lots = float64(pp.NetQty) / float64(pp.LotSize)
		}
		out = append(out, v)
	}
	return out, p.at()
}
