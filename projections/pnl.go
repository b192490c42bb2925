package projections

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/algoauto/algoauto/domain"
	"github.com/algoauto/algoauto/eventstore"
	"github.com/algoauto/algoauto/eventstore/codec"
)

// The pnl projection: a day P&L time series per account, mode and strategy
// and per account and mode (the account total), one point per minute of
// IST event time, and the statistics the dashboard shows.
//
// Accounting is the positions projection's (weighted-average cost in exact
// paise, charges per fill as charges.go decides), kept per book: one book
// per account, mode and strategy, and a total book per account and mode
// that sums its strategy books.
//
// Event time: a tick's exchange time, a fill's recorded time (the fill
// carries no time of its own), an adoption's own time (At). A book's clock
// only moves forward: an event whose minute is before the book's current
// minute is folded into the current minute.
//
// Adoptions: an adopted broker position (domain.PositionAdopted) goes to
// the account's manual book (strategy ""), as the positions projection
// books it: its difference is applied at the broker's average price,
// realising nothing, with no charges, fill or trade. Its unrealized P&L
// counts from that average (it is in the day's net from the adoption on),
// and later fills close it against it.
//
// Points: a book gets a point for the minute of every event that changes
// its P&L: its fills and adoptions, and ticks of instruments it holds
// open. A point is the book's state after the last such event of the
// minute. Minutes without events are not stored; PnLQuery.Fill carries the
// previous point forward through them when asked.
//
// A point's figures are of its IST day: realized (gross) and charges since
// the day began; unrealized is the open positions' P&L at the last tick
// prices against their cost; net = realized + unrealized − the unrealized
// the book carried into the day (positions held overnight) − charges, so the
// nets of the days add up to the book's whole P&L.
//
// Memory: the minute series keeps the current day plus the previous
// KeepDays days (default 5) per book; older days are dropped. Day totals
// (one small record per book and day) and the drawdown and trade
// statistics are kept for the whole log.
//
// A closed trade is a fill that reduces an open position (a partial close,
// a full close or the closing part of a flip; each such fill of an order is
// one trade). Its P&L is the gross realized P&L that fill booked against the
// weighted-average cost; charges are not in it. It wins above zero and loses
// below; a zero is a scratch: closed but neither.
//
// Capital: no event sets an account's capital yet, so it comes from
// PnLConfig (paper accounts ₹10,00,000 by default). It only scales ratios
// (returns, drawdown %). The state records the configuration it was folded
// with, and a snapshot folded with another one is refused (the runner then
// folds from the start).

// PnLConfig configures the pnl projection.
type PnLConfig struct {
	// PaperCapital is the initial capital of paper accounts not named in
	// Capital. Default ₹10,00,000.
	PaperCapital domain.Price
	// LiveCapital is the initial capital of live accounts not named in
	// Capital. Default 0: unknown, and the ratios that need it are null.
	LiveCapital domain.Price
	// Capital names the initial capital of accounts (in both modes).
	Capital map[string]domain.Price
	// KeepDays is how many days before the current one the minute series
	// keeps per book. Default 5.
	KeepDays int
}

// DefaultPaperCapital is the capital of a paper account: ₹10,00,000.
const DefaultPaperCapital = domain.Price(10_00_000 * 100)

// ManualStrategy selects the orders placed without a strategy in a
// PnLQuery (their Strategy is "").
const ManualStrategy = "-"

type pnlSettings struct {
	PaperCapital domain.Price            `json:"paper_capital"`
	LiveCapital  domain.Price            `json:"live_capital"`
	Capital      map[string]domain.Price `json:"capital,omitempty"`
	KeepDays     int                     `json:"keep_days"`
}

func (c *pnlSettings) capital(account string, mode domain.Mode) domain.Price {
	if v, ok := c.Capital[account]; ok {
		return v
	}
	if mode == domain.Live {
		return c.LiveCapital
	}
	return c.PaperCapital
}

// pnlPoint is one minute of a book's day: realized and charges since the
// day began, unrealized at the minute's last prices.
type pnlPoint struct {
	M int64        `json:"m"` // Unix minutes
	R domain.Price `json:"r"`
	U domain.Price `json:"u"`
	C domain.Price `json:"c"`
}

type pnlDay struct {
	Day   int64        `json:"day"`    // IST days since 1970-01-01
	OpenR domain.Price `json:"open_r"` // the book's cumulative realized when the day began
	OpenC domain.Price `json:"open_c"` // cumulative charges
	OpenU domain.Price `json:"open_u"` // unrealized carried into the day
	// Points are in minute order, at most one per minute.
	Points []pnlPoint `json:"points"`
}

func (d *pnlDay) net(pt pnlPoint) domain.Price { return pt.R + pt.U - d.OpenU - pt.C }

// DayTotal is one book's day: its figures at the day's last point and the
// day's fills and closed trades.
type DayTotal struct {
	Day          int64        `json:"day"`  // IST days since 1970-01-01
	Date         string       `json:"date"` // YYYY-MM-DD
	Realized     domain.Price `json:"realized"`
	Unrealized   domain.Price `json:"unrealized"`
	Charges      domain.Price `json:"charges"`
	Net          domain.Price `json:"net"`
	Fills        int64        `json:"fills"`
	ClosedTrades int64        `json:"closed_trades"`
	Wins         int64        `json:"wins"`
	Losses       int64        `json:"losses"`
	GrossProfit  domain.Price `json:"gross_profit"` // sum of winning trades' P&L
	GrossLoss    domain.Price `json:"gross_loss"`   // sum of losing trades' |P&L|
}

type pnlBook struct {
	Account  string      `json:"account"`
	Mode     domain.Mode `json:"mode"`
	Strategy string      `json:"strategy,omitempty"`
	Total    bool        `json:"total,omitempty"`
	// Members are a total book's strategy books (keys, sorted).
	Members []string `json:"members,omitempty"`
	// Positions are a strategy book's, by "EXCHANGE:SYMBOL\x1fPRODUCT".
	Positions  map[string]*Position `json:"positions,omitempty"`
	Realized   domain.Price         `json:"realized"` // cumulative, gross
	Charges    domain.Price         `json:"charges"`  // cumulative
	Unrealized domain.Price         `json:"unrealized"`
	Minute     int64                `json:"minute"` // of the current point
	Days       []*pnlDay            `json:"days"`   // the series kept, oldest first
	Totals     []DayTotal           `json:"totals"` // every day, oldest first
	DD         drawdown             `json:"drawdown"`
}

// cum is the book's net P&L since the start of the log.
func (b *pnlBook) cum() domain.Price { return b.Realized + b.Unrealized - b.Charges }

type pnlOrder struct {
	Book      string               `json:"book"`
	Inst      string               `json:"inst"` // "EXCHANGE:SYMBOL"
	Product   domain.Product       `json:"product"`
	Side      domain.Side          `json:"side"`
	LotSize   int64                `json:"lot_size,omitempty"`
	Segment   domain.ChargeSegment `json:"segment,omitempty"`
	Quantity  int64                `json:"quantity"`
	Filled    int64                `json:"filled"`
	FillValue domain.Price         `json:"fill_value"`
}

type pnlState struct {
	Config     pnlSettings             `json:"config"`
	LastMinute int64                   `json:"last_minute"` // the latest event minute folded
	Books      map[string]*pnlBook     `json:"books"`
	Orders     map[string]*pnlOrder    `json:"orders"` // until fully filled
	Last       map[string]domain.Price `json:"last"`   // "EXCHANGE:SYMBOL" -> last price
	Orphans    int64                   `json:"orphan_fills"`
	Bad        int64                   `json:"bad_events"`

	// held indexes the strategy books by the instruments they have held
	// (sorted keys); derived from Books (not encoded).
	held map[string][]string
}

// PnL is the pnl projection.
type PnL struct {
	state[pnlState]
	reg *codec.Registry
	cfg pnlSettings
	dec codec.TickDecoder
	t   domain.Tick
}

// NewPnL returns an empty pnl projection decoding with reg.
func NewPnL(reg *codec.Registry, cfg PnLConfig) *PnL {
	s := pnlSettings{PaperCapital: cfg.PaperCapital, LiveCapital: cfg.LiveCapital, KeepDays: cfg.KeepDays}
	if s.PaperCapital <= 0 {
		s.PaperCapital = DefaultPaperCapital
	}
	s.LiveCapital = max(s.LiveCapital, 0)
	if s.KeepDays <= 0 {
		s.KeepDays = 5
	}
	if len(cfg.Capital) > 0 {
		s.Capital = maps.Clone(cfg.Capital)
	}
	p := &PnL{reg: reg, cfg: s}
	p.st = p.empty()
	return p
}

func (p *PnL) empty() pnlState {
	c := p.cfg
	c.Capital = maps.Clone(p.cfg.Capital)
	return pnlState{Config: c, Books: map[string]*pnlBook{}, Orders: map[string]*pnlOrder{}, Last: map[string]domain.Price{},
		held: map[string][]string{}}
}

// Name implements Projection.
func (*PnL) Name() string { return "pnl" }

// Version implements Projection. Version 2: adopted broker positions
// (PositionAdopted).
func (*PnL) Version() int { return 2 }

// Filter implements Projection.
func (*PnL) Filter() eventstore.Filter {
	return eventstore.Filter{Types: []string{domain.TypeTickReceived, domain.TypeOrderIntentRecorded, domain.TypeOrderFilled,
		domain.TypePositionAdopted}}
}

// unixMinute is t's minute since the epoch (floored).
func unixMinute(t time.Time) int64 {
	s := t.Unix()
	if s < 0 {
		return (s - 59) / 60
	}
	return s / 60
}

func minuteDay(m int64) int64 { return istDay(time.Unix(m*60, 0)) }

func dayDate(d int64) string {
	return time.Unix(d*86400-istOffset, 0).In(domain.IST()).Format(time.DateOnly)
}

// ParseDay parses an IST date (YYYY-MM-DD) into the day number the pnl
// projection uses.
func ParseDay(s string) (int64, error) {
	t, err := time.ParseInLocation(time.DateOnly, s, domain.IST())
	if err != nil {
		return 0, err
	}
	return istDay(t), nil
}

func bookKey(account string, mode domain.Mode, strategy string) string {
	return account + "\x1f" + string(mode) + "\x1fs:" + strategy
}

func totalKey(account string, mode domain.Mode) string {
	return account + "\x1f" + string(mode) + "\x1ft"
}

// Apply implements Projection.
func (p *PnL) Apply(evs []eventstore.RecordedEvent, upTo eventstore.Position) {
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
			p.tick(strings.TrimPrefix(ev.Stream, "tick-"), &p.t)
		case domain.TypeOrderIntentRecorded, domain.TypeOrderFilled, domain.TypePositionAdopted:
			de, err := p.reg.Decode(ev)
			if err != nil {
				p.st.Bad++
				continue
			}
			switch e := de.(type) {
			case domain.OrderIntentRecorded:
				p.intent(&e)
			case domain.OrderFilled:
				p.fill(&e, ev.RecordedAt)
			case domain.PositionAdopted:
				at := e.At
				if at.IsZero() {
					at = ev.RecordedAt
				}
				p.adopt(&e, at)
			}
		}
	}
	p.advance(upTo)
}

func (p *PnL) book(key string, mk func() *pnlBook) *pnlBook {
	b := p.st.Books[key]
	if b == nil {
		b = mk()
		p.st.Books[key] = b
	}
	return b
}

// strategyBook returns the key and book of an account, mode and strategy
// and the account's total book, creating them.
func (p *PnL) strategyBook(account string, mode domain.Mode, strategy string) (string, *pnlBook, *pnlBook) {
	key := bookKey(account, mode, strategy)
	b := p.book(key, func() *pnlBook {
		return &pnlBook{Account: account, Mode: mode, Strategy: strategy, Positions: map[string]*Position{}}
	})
	t := p.book(totalKey(account, mode), func() *pnlBook { return &pnlBook{Account: account, Mode: mode, Total: true} })
	if i, found := slices.BinarySearch(t.Members, key); !found {
		t.Members = slices.Insert(t.Members, i, key)
	}
	return key, b, t
}

func (p *PnL) intent(e *domain.OrderIntentRecorded) {
	if _, dup := p.st.Orders[e.OrderID]; dup {
		return
	}
	key, _, _ := p.strategyBook(e.Account, e.Mode, e.Strategy)
	p.st.Orders[e.OrderID] = &pnlOrder{Book: key, Inst: e.Exchange + ":" + e.Symbol, Product: e.Product, Side: e.Side,
		LotSize: e.LotSize, Segment: domain.ChargeSegmentOf(e.Exchange, e.Symbol), Quantity: e.Quantity}
}

func (p *PnL) index(inst, key string) {
	keys := p.st.held[inst]
	if i, found := slices.BinarySearch(keys, key); !found {
		p.st.held[inst] = slices.Insert(keys, i, key)
	}
}

func (p *PnL) fill(e *domain.OrderFilled, at time.Time) {
	o := p.st.Orders[e.OrderID]
	if o == nil {
		p.st.Orphans++ // no intent in the log, or already fully filled
		return
	}
	b := p.st.Books[o.Book]
	t := p.st.Books[totalKey(b.Account, b.Mode)]
	p.rollTo(at, b, t)

	pk := o.Inst + "\x1f" + string(o.Product)
	pos := b.Positions[pk]
	if pos == nil {
		exch, sym, _ := strings.Cut(o.Inst, ":")
		pos = &Position{Account: b.Account, Mode: b.Mode, Strategy: b.Strategy, Exchange: exch, Symbol: sym, Product: o.Product, LotSize: o.LotSize}
		b.Positions[pk] = pos
		p.index(o.Inst, o.Book)
	}
	value := domain.Price(e.Quantity) * e.Price
	charges := fillCharges(e.Charges, o.Segment, o.Side, o.FillValue, value)
	o.Filled += e.Quantity
	o.FillValue += value
	if o.Filled >= o.Quantity {
		delete(p.st.Orders, e.OrderID)
	}
	q := e.Quantity
	if o.Side == domain.Sell {
		q = -q
	}
	closing := pos.NetQty != 0 && (pos.NetQty > 0) != (q > 0)
	before := pos.Realized
	pos.fill(q, e.Price, charges)
	realized := pos.Realized - before
	for _, bk := range []*pnlBook{b, t} {
		bk.Realized += realized
		bk.Charges += charges
		d := &bk.Totals[len(bk.Totals)-1]
		d.Fills++
		if closing {
			d.ClosedTrades++
			switch {
			case realized > 0:
				d.Wins++
				d.GrossProfit += realized
			case realized < 0:
				d.Losses++
				d.GrossLoss -= realized
			}
		}
	}
	p.revalue(b, t)
}

// adopt books an adopted broker position in the account's manual book (see
// the doc above): no realised P&L, charges, fill or trade.
func (p *PnL) adopt(e *domain.PositionAdopted, at time.Time) {
	exch, sym, ok := strings.Cut(e.Instrument, ":")
	if !ok {
		p.st.Bad++
		return
	}
	key, b, t := p.strategyBook(e.Account, e.Mode, "")
	p.rollTo(at, b, t)
	pk := e.Instrument + "\x1f" + string(e.Product)
	pos := b.Positions[pk]
	if pos == nil {
		pos = &Position{Account: b.Account, Mode: b.Mode, Exchange: exch, Symbol: sym, Product: e.Product}
		b.Positions[pk] = pos
		p.index(e.Instrument, key)
	}
	pos.adopt(e.Delta(), e.AvgPrice)
	p.revalue(b, t)
}

func (p *PnL) tick(inst string, tk *domain.Tick) {
	m := unixMinute(tk.ExchangeTime)
	p.st.LastMinute = max(p.st.LastMinute, m)
	if _, ok := p.st.Last[inst]; ok {
		p.st.Last[inst] = tk.LTP
	} else {
		p.st.Last[strings.Clone(inst)] = tk.LTP
	}
	for _, key := range p.st.held[inst] {
		b := p.st.Books[key]
		if !holdsOpen(b, inst) {
			continue
		}
		t := p.st.Books[totalKey(b.Account, b.Mode)]
		p.roll(b, m)
		p.roll(t, m)
		p.revalue(b, t)
	}
}

// holdsOpen reports whether b has an open position in inst (any product).
func holdsOpen(b *pnlBook, inst string) bool {
	for k, pos := range b.Positions {
		if pos.NetQty != 0 && len(k) > len(inst) && k[len(inst)] == '\x1f' && strings.HasPrefix(k, inst) {
			return true
		}
	}
	return false
}

// revalue marks strategy book b and its total t to the last prices and
// records their points.
func (p *PnL) revalue(b, t *pnlBook) {
	b.Unrealized = p.unrealized(b)
	var u domain.Price
	for _, k := range t.Members {
		u += p.st.Books[k].Unrealized
	}
	t.Unrealized = u
	p.record(b)
	p.record(t)
}

func (p *PnL) unrealized(b *pnlBook) domain.Price {
	var u domain.Price
	for k, pos := range b.Positions {
		if pos.NetQty != 0 {
			inst, _, _ := strings.Cut(k, "\x1f") // the key is "EXCHANGE:SYMBOL\x1fPRODUCT"
			u += pos.Unrealized(p.st.Last[inst])
		}
	}
	return u
}

// rollTo moves the projection's clock and the books' to at's minute (roll).
func (p *PnL) rollTo(at time.Time, books ...*pnlBook) {
	m := unixMinute(at)
	p.st.LastMinute = max(p.st.LastMinute, m)
	for _, b := range books {
		p.roll(b, m)
	}
}

// roll moves book b's clock to minute m (never back): the point of the
// minute it leaves is final and enters the drawdown; a new IST day opens a
// new day of the series (dropping the oldest beyond KeepDays) and a new day
// total.
func (p *PnL) roll(b *pnlBook, m int64) {
	if len(b.Days) > 0 && m > b.Minute {
		b.DD.add(p.st.Config.capital(b.Account, b.Mode), b.cum())
	}
	m = max(m, b.Minute)
	b.Minute = m
	day := minuteDay(m)
	if n := len(b.Days); n > 0 && b.Days[n-1].Day == day {
		return
	}
	b.Days = append(b.Days, &pnlDay{Day: day, OpenR: b.Realized, OpenC: b.Charges, OpenU: b.Unrealized, Points: []pnlPoint{}})
	if extra := len(b.Days) - (p.st.Config.KeepDays + 1); extra > 0 {
		b.Days = slices.Delete(b.Days, 0, extra)
	}
	b.Totals = append(b.Totals, DayTotal{Day: day, Date: dayDate(day)})
}

// record sets the point of b's current minute to its state now.
func (p *PnL) record(b *pnlBook) {
	d := b.Days[len(b.Days)-1]
	pt := pnlPoint{M: b.Minute, R: b.Realized - d.OpenR, U: b.Unrealized, C: b.Charges - d.OpenC}
	if n := len(d.Points); n > 0 && d.Points[n-1].M == pt.M {
		d.Points[n-1] = pt
	} else {
		d.Points = append(d.Points, pt)
	}
	tot := &b.Totals[len(b.Totals)-1]
	tot.Realized, tot.Unrealized, tot.Charges, tot.Net = pt.R, pt.U, pt.C, d.net(pt)
}

// UnmarshalState implements Projection. It refuses a state folded with
// another configuration (capital or days kept).
func (p *PnL) UnmarshalState(b []byte) error {
	return p.load(b, "pnl", p.empty(), func(st *pnlState) error {
		if st.Config.PaperCapital != p.cfg.PaperCapital || st.Config.LiveCapital != p.cfg.LiveCapital ||
			st.Config.KeepDays != p.cfg.KeepDays || !maps.Equal(st.Config.Capital, p.cfg.Capital) {
			return fmt.Errorf("folded with another configuration (%+v, this one is %+v)", st.Config, p.cfg)
		}
		st.held = map[string][]string{}
		for key, bk := range st.Books {
			if bk == nil {
				return fmt.Errorf("book %q is null", key)
			}
			if bk.Total {
				continue
			}
			if bk.Positions == nil {
				bk.Positions = map[string]*Position{}
			}
			for _, pos := range bk.Positions {
				inst := pos.Exchange + ":" + pos.Symbol
				if !slices.Contains(st.held[inst], key) {
					st.held[inst] = append(st.held[inst], key)
				}
			}
		}
		for _, keys := range st.held {
			slices.Sort(keys)
		}
		for _, bk := range st.Books {
			for _, d := range bk.Days {
				if d.Points == nil {
					d.Points = []pnlPoint{}
				}
			}
		}
		if st.Orders == nil {
			st.Orders = map[string]*pnlOrder{}
		}
		if st.Last == nil {
			st.Last = map[string]domain.Price{}
		}
		if st.Books == nil {
			st.Books = map[string]*pnlBook{}
		}
		return nil
	})
}

// PnLQuery selects books. Accounts nil means every account (callers scope
// it to what a user may see); Mode "" both modes. Strategy "" selects the
// account totals, ManualStrategy the orders without a strategy, any other
// name that strategy. Day is an IST date (YYYY-MM-DD); "" is the latest day
// folded (the IST day of the latest event time seen). Fill carries each
// point forward through the minutes without one, up to the day's last
// point (on the latest day, up to the latest event minute).
type PnLQuery struct {
	Accounts []string
	Mode     domain.Mode
	Strategy string
	Day      string
	Fill     bool
}

// PnLPoint is one minute of a day P&L series (figures as the pnl doc says).
type PnLPoint struct {
	Time       time.Time    `json:"time"` // the minute's start, IST
	Realized   domain.Price `json:"realized"`
	Unrealized domain.Price `json:"unrealized"`
	Charges    domain.Price `json:"charges"`
	Net        domain.Price `json:"net"`
}

// selected returns the books q selects, sorted by key.
func (p *PnL) selected(q PnLQuery) []*pnlBook {
	keys := make([]string, 0, len(p.st.Books))
	for k := range p.st.Books {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var out []*pnlBook
	for _, k := range keys {
		b := p.st.Books[k]
		if q.Accounts != nil && !slices.Contains(q.Accounts, b.Account) || q.Mode != "" && b.Mode != q.Mode {
			continue
		}
		switch q.Strategy {
		case "":
			if !b.Total {
				continue
			}
		case ManualStrategy:
			if b.Total || b.Strategy != "" {
				continue
			}
		default:
			if b.Total || b.Strategy != q.Strategy {
				continue
			}
		}
		out = append(out, b)
	}
	return out
}

func (p *PnL) day(s string) (int64, error) {
	if s == "" {
		return minuteDay(p.st.LastMinute), nil
	}
	return ParseDay(s)
}

// ErrBadDay: a query's day is not a YYYY-MM-DD date.
var ErrBadDay = errors.New("day must be an IST date YYYY-MM-DD")

// LatestDay is the IST date (YYYY-MM-DD) of the latest event time folded:
// the day a PnLQuery with no Day asks for.
func (p *PnL) LatestDay() string {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return dayDate(minuteDay(p.st.LastMinute))
}

// Series returns the minute series of q's day summed over the books q
// selects (each book counting, at every minute, its latest point at or
// before it), and the log position it reflects. A day older than the
// series keeps, or not a YYYY-MM-DD date (check with ParseDay), is empty.
func (p *PnL) Series(q PnLQuery) ([]PnLPoint, eventstore.Position) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	pos := p.at()
	day, err := p.day(q.Day)
	if err != nil {
		return []PnLPoint{}, pos
	}
	var days []*pnlDay
	var minutes []int64
	for _, b := range p.selected(q) {
		for _, d := range b.Days {
			if d.Day == day && len(d.Points) > 0 {
				days = append(days, d)
				for _, pt := range d.Points {
					minutes = append(minutes, pt.M)
				}
			}
		}
	}
	out := []PnLPoint{}
	if len(minutes) == 0 {
		return out, pos
	}
	slices.Sort(minutes)
	minutes = slices.Compact(minutes)
	if q.Fill {
		last := minutes[len(minutes)-1]
		if minuteDay(p.st.LastMinute) == day {
			last = max(last, p.st.LastMinute)
		}
		all := make([]int64, 0, last-minutes[0]+1)
		for m := minutes[0]; m <= last; m++ {
			all = append(all, m)
		}
		minutes = all
	}
	next := make([]int, len(days)) // per day: index of its first point after the minute
	for _, m := range minutes {
		pt := PnLPoint{Time: time.Unix(m*60, 0).In(domain.IST())}
		for i, d := range days {
			for next[i] < len(d.Points) && d.Points[next[i]].M <= m {
				next[i]++
			}
			cur := pnlPoint{U: d.OpenU} // before its first point: nothing yet today
			if next[i] > 0 {
				cur = d.Points[next[i]-1]
			}
			pt.Realized += cur.R
			pt.Unrealized += cur.U
			pt.Charges += cur.C
			pt.Net += d.net(cur)
		}
		out = append(out, pt)
	}
	return out, pos
}

// Stats are the statistics of one book over the whole log (as of the
// position of the answer). Ratios that are undefined are null, with the
// reason in Unavailable under the field's name.
type Stats struct {
	Days           int               `json:"days"` // days with at least one point
	Realized       domain.Price      `json:"realized"`
	Unrealized     domain.Price      `json:"unrealized"`
	Charges        domain.Price      `json:"charges"`
	NetPnL         domain.Price      `json:"net_pnl"` // realized + unrealized − charges
	ClosedTrades   int64             `json:"closed_trades"`
	Wins           int64             `json:"wins"`
	Losses         int64             `json:"losses"`
	GrossProfit    domain.Price      `json:"gross_profit"`
	GrossLoss      domain.Price      `json:"gross_loss"`
	WinRatePct     *float64          `json:"win_rate_pct"`
	ProfitFactor   *float64          `json:"profit_factor"`
	MaxDrawdown    domain.Price      `json:"max_drawdown"`
	MaxDrawdownPct *float64          `json:"max_drawdown_pct"`
	Sharpe         *float64          `json:"sharpe"`
	Sortino        *float64          `json:"sortino"`
	Unavailable    map[string]string `json:"unavailable,omitempty"`
}

func (s *Stats) set(field string, dst **float64, v float64, reason string) {
	if reason != "" {
		if s.Unavailable == nil {
			s.Unavailable = map[string]string{}
		}
		s.Unavailable[field] = reason
		return
	}
	*dst = &v
}

// stats computes b's statistics: trades from its day totals, drawdown over
// its final points plus the current one, Sharpe and Sortino over the daily
// nets of the days it has (each / capital).
func (p *PnL) stats(b *pnlBook, capital domain.Price) Stats {
	s := Stats{Days: len(b.Totals), Realized: b.Realized, Unrealized: b.Unrealized, Charges: b.Charges, NetPnL: b.cum()}
	nets := make([]domain.Price, 0, len(b.Totals))
	for _, d := range b.Totals {
		s.ClosedTrades += d.ClosedTrades
		s.Wins += d.Wins
		s.Losses += d.Losses
		s.GrossProfit += d.GrossProfit
		s.GrossLoss += d.GrossLoss
		nets = append(nets, d.Net)
	}
	wr, why := WinRatePct(s.Wins, s.ClosedTrades)
	s.set("win_rate_pct", &s.WinRatePct, wr, why)
	pf, why := ProfitFactor(s.GrossProfit, s.GrossLoss)
	s.set("profit_factor", &s.ProfitFactor, pf, why)
	dd := b.DD
	if len(b.Days) > 0 {
		dd.add(capital, b.cum()) // the current minute's point
	}
	s.MaxDrawdown = dd.Max
	why = ""
	if !dd.PctOK {
		why = "capital unknown"
	}
	s.set("max_drawdown_pct", &s.MaxDrawdownPct, dd.MaxPct, why)
	if capital <= 0 {
		s.set("sharpe", &s.Sharpe, 0, "capital unknown")
		s.set("sortino", &s.Sortino, 0, "capital unknown")
		return s
	}
	rets := DailyReturns(nets, capital)
	sh, why := Sharpe(rets)
	s.set("sharpe", &s.Sharpe, sh, why)
	so, why := Sortino(rets)
	s.set("sortino", &s.Sortino, so, why)
	return s
}

func (p *PnL) openPositions(b *pnlBook) int {
	n := 0
	count := func(bk *pnlBook) {
		for _, pos := range bk.Positions {
			if pos.NetQty != 0 {
				n++
			}
		}
	}
	if b.Total {
		for _, k := range b.Members {
			count(p.st.Books[k])
		}
	} else {
		count(b)
	}
	return n
}

// Summary is the dashboard's summary of one account and mode (or one of its
// strategies): the day's figures, the open positions now, and the
// statistics over the whole log.
type Summary struct {
	Account       string       `json:"account"`
	Mode          domain.Mode  `json:"mode"`
	Strategy      *string      `json:"strategy,omitempty"` // nil for the account total
	Day           string       `json:"day"`                // YYYY-MM-DD, IST
	Capital       domain.Price `json:"capital"`
	DayPnL        domain.Price `json:"day_pnl"` // realized + unrealized − unrealized carried in, gross of charges
	Realized      domain.Price `json:"realized"`
	Unrealized    domain.Price `json:"unrealized"`
	Charges       domain.Price `json:"charges"`
	Net           domain.Price `json:"net"` // day_pnl − charges
	OpenPositions int          `json:"open_positions"`
	TradeCount    int64        `json:"trade_count"` // fills of the day

	WinRatePct     *float64          `json:"win_rate_pct"`
	ProfitFactor   *float64          `json:"profit_factor"`
	MaxDrawdown    domain.Price      `json:"max_drawdown"`
	MaxDrawdownPct *float64          `json:"max_drawdown_pct"`
	Sharpe         *float64          `json:"sharpe"`
	Sortino        *float64          `json:"sortino"`
	Unavailable    map[string]string `json:"unavailable,omitempty"`
}

// Summaries returns the summary of every book q selects for q's day, the
// day (YYYY-MM-DD) and the log position they reflect.
func (p *PnL) Summaries(q PnLQuery) ([]Summary, string, eventstore.Position, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	pos := p.at()
	day, err := p.day(q.Day)
	if err != nil {
		return nil, "", pos, fmt.Errorf("%w: %q", ErrBadDay, q.Day)
	}
	out := []Summary{}
	for _, b := range p.selected(q) {
		capital := p.st.Config.capital(b.Account, b.Mode)
		st := p.stats(b, capital)
		s := Summary{Account: b.Account, Mode: b.Mode, Day: dayDate(day), Capital: capital, OpenPositions: p.openPositions(b),
			WinRatePct: st.WinRatePct, ProfitFactor: st.ProfitFactor, MaxDrawdown: st.MaxDrawdown, MaxDrawdownPct: st.MaxDrawdownPct,
			Sharpe: st.Sharpe, Sortino: st.Sortino, Unavailable: st.Unavailable}
		if !b.Total {
			name := b.Strategy
			s.Strategy = &name
		}
		i, found := slices.BinarySearchFunc(b.Totals, day, func(d DayTotal, day int64) int { return cmp.Compare(d.Day, day) })
		switch {
		case found:
			d := b.Totals[i]
			s.Realized, s.Unrealized, s.Charges, s.Net, s.TradeCount = d.Realized, d.Unrealized, d.Charges, d.Net, d.Fills
			s.DayPnL = d.Net + d.Charges
		case i == len(b.Totals):
			s.Unrealized = b.Unrealized // a later day with no event yet for this book
		}
		out = append(out, s)
	}
	return out, dayDate(day), pos, nil
}

// StrategyPerformance is the statistics of one strategy of an account
// ("" for the orders placed without one).
type StrategyPerformance struct {
	Strategy string `json:"strategy"`
	Stats
}

// AccountPerformance is the statistics of one account and mode, and of
// each of its strategies.
type AccountPerformance struct {
	Account    string                `json:"account"`
	Mode       domain.Mode           `json:"mode"`
	Capital    domain.Price          `json:"capital"`
	Daily      []DayTotal            `json:"daily"` // every day, oldest first
	Strategies []StrategyPerformance `json:"strategies"`
	Stats
}

// Performance returns the statistics of the accounts and modes q selects
// (q.Strategy, if set, keeps only that strategy in Strategies; q.Day is not
// used) and the log position they reflect.
func (p *PnL) Performance(q PnLQuery) ([]AccountPerformance, eventstore.Position) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	strategy := q.Strategy
	q.Strategy = ""
	out := []AccountPerformance{}
	for _, t := range p.selected(q) {
		capital := p.st.Config.capital(t.Account, t.Mode)
		ap := AccountPerformance{Account: t.Account, Mode: t.Mode, Capital: capital, Daily: slices.Clone(t.Totals),
			Strategies: []StrategyPerformance{}, Stats: p.stats(t, capital)}
		for _, k := range t.Members {
			b := p.st.Books[k]
			if strategy != "" && (strategy == ManualStrategy && b.Strategy != "" || strategy != ManualStrategy && b.Strategy != strategy) {
				continue
			}
			ap.Strategies = append(ap.Strategies, StrategyPerformance{Strategy: b.Strategy, Stats: p.stats(b, capital)})
		}
		out = append(out, ap)
	}
	return out, p.at()
}
