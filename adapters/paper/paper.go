package paper

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/algoauto/algoauto/domain"
)

// Defaults applied by New to zero Config fields.
const (
	DefaultName      = "paper"
	DefaultLatency   = 50 * time.Millisecond
	DefaultSquareOff = 15*time.Hour + 20*time.Minute // 15:20 IST
)

// NoLatency as Config.Latency makes orders live at the instant they are
// placed; NoSquareOff as Config.SquareOff disables the MIS square-off.
const (
	NoLatency   time.Duration = -1
	NoSquareOff time.Duration = -1
)

// TickSize is the price step of NSE and NFO instruments: 0.05 rupee.
const TickSize domain.Price = 5

// squareOffPrefix starts the client order ids of square-off orders.
const squareOffPrefix = "sq-"

// Config configures a Broker.
type Config struct {
	// Account is the trading account the broker serves (required). Place
	// rejects intents of other accounts; Apply ignores them.
	Account string
	// Name is what Name returns; default "paper".
	Name string
	// Seed seeds the latency jitter; the same seed gives the same fills.
	Seed int64
	// Latency is the event-time delay between placing an order and its
	// being live at the simulated exchange. Zero means DefaultLatency;
	// NoLatency (any negative value) means none.
	Latency time.Duration
	// LatencyJitter adds a per-order delay uniform in [0, LatencyJitter]
	// to Latency. Must not be negative.
	LatencyJitter time.Duration
	// Now is the engine's clock, read by Place, Modify and Cancel. Nil
	// means the ExchangeTime of the last tick handed to OnTick or Apply.
	Now func() time.Time
	// Charges is the charge schedule of fills; nil means
	// domain.DefaultChargeSchedule(). &domain.ChargeSchedule{} charges
	// nothing.
	Charges *domain.ChargeSchedule
	// SquareOff is the time of day, after midnight IST, of the MIS
	// square-off. Zero means DefaultSquareOff; NoSquareOff (any negative
	// value) disables it.
	SquareOff time.Duration
}

// Broker is the simulated broker of one account. Create it with New.
type Broker struct {
	cfg     Config
	latency time.Duration
	sched   domain.ChargeSchedule

	mu        sync.Mutex
	clock     time.Time                 // ExchangeTime of the latest tick seen
	seq       int64                     // orders created (and intents applied), for ordering
	nextID    int64                     // number of the next broker order id
	orders    map[string]*order         // by client order id
	open      map[instrument][]*order   // live (not final) orders by instrument, in seq order
	positions map[positionKey]*position // by instrument and product
	intents   map[string]*intent        // Apply: by the engine's order id
	sqDirty   bool                      // sqDue must be recomputed
	sqDue     time.Time                 // earliest square-off due; zero: none
	faults    map[op][]FaultMode
}

type instrument struct{ exchange, symbol string }

type positionKey struct {
	instrument
	product domain.Product
}

// order is one order at the broker.
type order struct {
	seq        int64
	orderID    string // the engine's order id, when known
	clientID   string
	brokerID   string
	inst       instrument
	side       domain.Side
	typ        domain.OrderType
	product    domain.Product
	qty        int64
	lotSize    int64
	price      domain.Price
	trigger    domain.Price
	seg        domain.ChargeSegment
	status     domain.BrokerOrderStatus
	triggered  bool
	filled     int64
	value      domain.Price // cumulative fill value
	fills      int64
	reason     string
	squareOff  bool
	placedAt   time.Time
	eligibleAt time.Time
	updatedAt  time.Time
}

// New returns a broker with no orders and no positions.
func New(cfg Config) (*Broker, error) {
	if strings.TrimSpace(cfg.Account) == "" {
		return nil, errors.New("paper: Config.Account is required")
	}
	if cfg.Name == "" {
		cfg.Name = DefaultName
	}
	latency := cfg.Latency
	switch {
	case latency == 0:
		latency = DefaultLatency
	case latency < 0:
		latency = 0
	}
	if cfg.LatencyJitter < 0 {
		return nil, fmt.Errorf("paper: Config.LatencyJitter %v is negative", cfg.LatencyJitter)
	}
	switch {
	case cfg.SquareOff == 0:
		cfg.SquareOff = DefaultSquareOff
	case cfg.SquareOff < 0:
		cfg.SquareOff = NoSquareOff
	case cfg.SquareOff >= 24*time.Hour:
		return nil, fmt.Errorf("paper: Config.SquareOff %v is not a time of day", cfg.SquareOff)
	}
	sched := domain.DefaultChargeSchedule()
	if cfg.Charges != nil {
		sched = *cfg.Charges
	}
	if err := sched.Validate(); err != nil {
		return nil, fmt.Errorf("paper: Config.Charges: %w", err)
	}
	return &Broker{
		cfg:       cfg,
		latency:   latency,
		sched:     sched,
		nextID:    1,
		orders:    map[string]*order{},
		open:      map[instrument][]*order{},
		positions: map[positionKey]*position{},
		intents:   map[string]*intent{},
		faults:    map[op][]FaultMode{},
	}, nil
}

// Name implements engine.Broker.
func (b *Broker) Name() string { return b.cfg.Name }

// Account returns the account the broker serves.
func (b *Broker) Account() string { return b.cfg.Account }

// IsSquareOff reports whether clientOrderID names a broker-initiated MIS
// square-off order.
func IsSquareOff(clientOrderID string) bool { return strings.HasPrefix(clientOrderID, squareOffPrefix) }

// now returns the broker's idea of the current instant. b.mu is held.
func (b *Broker) now() time.Time {
	if b.cfg.Now != nil {
		return b.cfg.Now()
	}
	return b.clock
}

// Place implements engine.Broker.
func (b *Broker) Place(ctx context.Context, in domain.OrderIntentRecorded) (domain.ExecutionReport, error) {
	if err := ctx.Err(); err != nil {
		return domain.ExecutionReport{}, fmt.Errorf("paper: place %s: %w: %w", in.ClientOrderID, domain.ErrOrderNotSent, err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	f, faulted := b.popFault(opPlace)
	if faulted && f != FaultTimeoutAfterAccept {
		return domain.ExecutionReport{}, faultErr("place", in.ClientOrderID, f)
	}
	rep := b.place(in, b.now())
	if faulted {
		return domain.ExecutionReport{}, faultErr("place", in.ClientOrderID, f)
	}
	return rep, nil
}

func (b *Broker) place(in domain.OrderIntentRecorded, now time.Time) domain.ExecutionReport {
	if o, ok := b.orders[in.ClientOrderID]; ok {
		rep := domain.ExecutionReport{ClientOrderID: o.clientID, BrokerOrderID: o.brokerID, FilledQty: o.filled, At: now}
		if o.status == domain.BrokerRejected {
			rep.Kind, rep.Reason = domain.ReportRejected, o.reason
		} else {
			rep.Kind, rep.Reason = domain.ReportAccepted, "duplicate client order id: order is "+string(o.status)
		}
		return rep
	}
	reject := func(reason string) domain.ExecutionReport {
		return domain.ExecutionReport{Kind: domain.ReportRejected, ClientOrderID: in.ClientOrderID, Reason: reason, At: now}
	}
	// Rejections the log cannot hold for this account: answered, not kept.
	if err := in.Validate(); err != nil {
		return reject(err.Error())
	}
	if in.Account != b.cfg.Account {
		return reject(fmt.Sprintf("account %q is not this broker's (%q)", in.Account, b.cfg.Account))
	}
	if in.Mode != domain.Paper {
		return reject(fmt.Sprintf("mode %q: the paper broker takes paper orders only", in.Mode))
	}
	o := b.newOrder(in, now)
	reason := b.checkParams(o)
	if reason == "" {
		reason = b.checkPlace(o, now)
	}
	if reason != "" {
		o.status, o.reason = domain.BrokerRejected, reason
		b.orders[o.clientID] = o
		return reject(reason)
	}
	b.accept(o, b.allocID())
	return domain.ExecutionReport{Kind: domain.ReportAccepted, ClientOrderID: o.clientID, BrokerOrderID: o.brokerID, At: now}
}

// newOrder builds the order of an intent placed at now, not yet accepted.
func (b *Broker) newOrder(in domain.OrderIntentRecorded, now time.Time) *order {
	b.seq++
	o := &order{
		seq: b.seq, orderID: in.OrderID, clientID: in.ClientOrderID,
		inst: instrument{in.Exchange, in.Symbol}, side: in.Side, typ: in.Type, product: in.Product,
		qty: in.Quantity, lotSize: in.LotSize, price: in.Price, trigger: in.TriggerPrice,
		seg: domain.ChargeSegmentOf(in.Exchange, in.Symbol), squareOff: IsSquareOff(in.ClientOrderID),
		placedAt: now, updatedAt: now,
	}
	o.normalise()
	o.eligibleAt = now
	if o.squareOff {
		o.reason = b.squareOffReason()
	} else {
		o.eligibleAt = now.Add(b.delay(o.clientID))
	}
	return o
}

// normalise drops the price and trigger fields the order type ignores.
func (o *order) normalise() {
	switch o.typ {
	case domain.Market:
		o.price, o.trigger = 0, 0
	case domain.Limit:
		o.trigger = 0
	case domain.StopMkt:
		o.price = 0
	}
}

// delay returns the latency of the order with the given client order id.
func (b *Broker) delay(clientID string) time.Duration {
	d := b.latency
	if j := b.cfg.LatencyJitter; j > 0 {
		h := fnv.New64a()
		h.Write([]byte(clientID))
		r := rand.New(rand.NewPCG(uint64(b.cfg.Seed), h.Sum64()))
		d += time.Duration(r.Int64N(int64(j) + 1))
	}
	return d
}

func (b *Broker) allocID() string {
	id := "P" + strconv.FormatInt(b.nextID, 10)
	b.nextID++
	return id
}

// noteID keeps the broker order id counter above an id seen in the log.
func (b *Broker) noteID(brokerID string) {
	if n, err := strconv.ParseInt(strings.TrimPrefix(brokerID, "P"), 10, 64); err == nil && strings.HasPrefix(brokerID, "P") && n >= b.nextID {
		b.nextID = n + 1
	}
}

// accept makes o a live order with the broker order id.
func (b *Broker) accept(o *order, brokerID string) {
	o.brokerID = brokerID
	o.status = domain.BrokerOpen
	if o.isStop() {
		o.status = domain.BrokerTriggerPending
	}
	b.orders[o.clientID] = o
	b.open[o.inst] = append(b.open[o.inst], o)
	if o.product == domain.MIS {
		b.sqDirty = true
	}
}

func (o *order) isStop() bool { return o.typ == domain.StopLimit || o.typ == domain.StopMkt }

func (o *order) isLimit() bool {
	return o.typ == domain.Limit || o.typ == domain.StopLimit
}

// checkParams checks what Place and Modify both require: prices on the
// tick and the stop-limit relation.
func (b *Broker) checkParams(o *order) string {
	if o.isLimit() && o.price <= 0 {
		return fmt.Sprintf("%s order needs a price", o.typ)
	}
	if o.isStop() && o.trigger <= 0 {
		return fmt.Sprintf("%s order needs a trigger price", o.typ)
	}
	if o.price%TickSize != 0 {
		return fmt.Sprintf("price %s is not a multiple of the tick size %s", o.price, TickSize)
	}
	if o.trigger%TickSize != 0 {
		return fmt.Sprintf("trigger price %s is not a multiple of the tick size %s", o.trigger, TickSize)
	}
	if o.typ == domain.StopLimit {
		if o.side == domain.Buy && o.price < o.trigger {
			return fmt.Sprintf("SL buy: price %s is below the trigger price %s", o.price, o.trigger)
		}
		if o.side == domain.Sell && o.price > o.trigger {
			return fmt.Sprintf("SL sell: price %s is above the trigger price %s", o.price, o.trigger)
		}
	}
	if o.lotSize > 0 && o.qty%o.lotSize != 0 {
		return fmt.Sprintf("quantity %d is not a whole number of lots of %d", o.qty, o.lotSize)
	}
	if o.side == domain.Sell && o.product == domain.CNC {
		if held := b.cncAvailable(o); o.qty-o.filled > held {
			return fmt.Sprintf("CNC sell of %d exceeds the %d held and not already being sold", o.qty-o.filled, held)
		}
	}
	return ""
}

// checkPlace checks what only Place requires.
func (b *Broker) checkPlace(o *order, now time.Time) string {
	if o.squareOff {
		return fmt.Sprintf("client order ids starting with %q are reserved for the broker's square-off orders", squareOffPrefix)
	}
	if domain.IsIndex(o.inst.exchange, o.inst.symbol) {
		return fmt.Sprintf("%s:%s is an index and cannot be traded", o.inst.exchange, o.inst.symbol)
	}
	if o.product == domain.MIS && b.cfg.SquareOff >= 0 && !now.Before(b.cutoff(now)) {
		return fmt.Sprintf("MIS orders are not accepted after the square-off time %s IST", clockTime(b.cfg.SquareOff))
	}
	return ""
}

// cncAvailable is the long CNC quantity of o's instrument not already
// being sold by other open CNC sell orders.
func (b *Broker) cncAvailable(o *order) int64 {
	var held int64
	if p := b.positions[positionKey{o.inst, domain.CNC}]; p != nil && p.qty > 0 {
		held = p.qty
	}
	for _, x := range b.open[o.inst] {
		if x.clientID != o.clientID && x.product == domain.CNC && x.side == domain.Sell {
			held -= x.qty - x.filled
		}
	}
	return max(held, 0)
}

// Modify implements engine.Broker.
func (b *Broker) Modify(ctx context.Context, clientOrderID string, ch domain.OrderChange) (domain.ExecutionReport, error) {
	if err := ctx.Err(); err != nil {
		return domain.ExecutionReport{}, fmt.Errorf("paper: modify %s: %w: %w", clientOrderID, domain.ErrOrderNotSent, err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	f, faulted := b.popFault(opModify)
	if faulted && f != FaultTimeoutAfterAccept {
		return domain.ExecutionReport{}, faultErr("modify", clientOrderID, f)
	}
	rep := b.modify(clientOrderID, ch, b.now())
	if faulted {
		return domain.ExecutionReport{}, faultErr("modify", clientOrderID, f)
	}
	return rep, nil
}

func (b *Broker) modify(clientID string, ch domain.OrderChange, now time.Time) domain.ExecutionReport {
	o, reason := b.changeable(clientID, "modify")
	rep := domain.ExecutionReport{Kind: domain.ReportRejected, ClientOrderID: clientID, At: now}
	if reason == "" {
		reason = b.change(o, ch, now)
	}
	if o != nil {
		rep.BrokerOrderID, rep.FilledQty = o.brokerID, o.filled
	}
	if reason != "" {
		rep.Reason = reason
		return rep
	}
	rep.Kind = domain.ReportModified
	return rep
}

// change applies a modification to the open order o, or returns why it
// cannot and leaves o as it was.
func (b *Broker) change(o *order, ch domain.OrderChange, now time.Time) string {
	if ch.Type != "" && !ch.Type.Valid() {
		return fmt.Sprintf("type must be MARKET, LIMIT, SL or SL-M, got %q", ch.Type)
	}
	if ch.Quantity < 0 || ch.Price < 0 || ch.TriggerPrice < 0 {
		return "quantity and prices must not be negative"
	}
	next := *o
	if ch.Quantity > 0 {
		next.qty = ch.Quantity
	}
	if ch.Price > 0 {
		next.price = ch.Price
	}
	if ch.TriggerPrice > 0 {
		next.trigger = ch.TriggerPrice
	}
	if ch.Type != "" && ch.Type != o.typ {
		next.typ = ch.Type
		next.triggered = false // a new stop order waits for its trigger again
	}
	next.normalise()
	if next.qty <= next.filled {
		return fmt.Sprintf("quantity %d is not above the %d already filled", next.qty, next.filled)
	}
	if r := b.checkParams(&next); r != "" {
		return r
	}
	next.updatedAt = now
	next.status = domain.BrokerOpen
	if next.isStop() && !next.triggered {
		next.status = domain.BrokerTriggerPending
	}
	*o = next
	return ""
}

// changeable returns the order clientID names if it can be modified or
// cancelled, or the reason it cannot.
func (b *Broker) changeable(clientID, what string) (*order, string) {
	o, ok := b.orders[clientID]
	switch {
	case !ok:
		return nil, fmt.Sprintf("no order with client order id %q", clientID)
	case o.status.Final():
		return o, fmt.Sprintf("cannot %s: order is %s", what, o.status)
	case o.squareOff:
		return o, fmt.Sprintf("cannot %s a square-off order", what)
	}
	return o, ""
}

// Cancel implements engine.Broker.
func (b *Broker) Cancel(ctx context.Context, clientOrderID string) (domain.ExecutionReport, error) {
	if err := ctx.Err(); err != nil {
		return domain.ExecutionReport{}, fmt.Errorf("paper: cancel %s: %w: %w", clientOrderID, domain.ErrOrderNotSent, err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	f, faulted := b.popFault(opCancel)
	if faulted && f != FaultTimeoutAfterAccept {
		return domain.ExecutionReport{}, faultErr("cancel", clientOrderID, f)
	}
	now := b.now()
	var rep domain.ExecutionReport
	o, reason := b.changeable(clientOrderID, "cancel")
	if reason != "" {
		rep = domain.ExecutionReport{Kind: domain.ReportRejected, ClientOrderID: clientOrderID, Reason: reason, At: now}
		if o != nil {
			rep.BrokerOrderID, rep.FilledQty = o.brokerID, o.filled
		}
	} else {
		rep = b.cancel(o, "cancelled on request", now)
	}
	if faulted {
		return domain.ExecutionReport{}, faultErr("cancel", clientOrderID, f)
	}
	return rep, nil
}

// cancel cancels the open remainder of o.
func (b *Broker) cancel(o *order, reason string, now time.Time) domain.ExecutionReport {
	o.status, o.reason, o.updatedAt = domain.BrokerCancelled, reason, now
	b.closeOrder(o)
	return domain.ExecutionReport{Kind: domain.ReportCancelled, ClientOrderID: o.clientID, BrokerOrderID: o.brokerID,
		FilledQty: o.filled, Reason: reason, At: now}
}

// closeOrder removes a final order from the live orders.
func (b *Broker) closeOrder(o *order) {
	list := b.open[o.inst]
	if i := slices.Index(list, o); i >= 0 {
		list = slices.Delete(list, i, i+1)
	}
	if len(list) == 0 {
		delete(b.open, o.inst)
	} else {
		b.open[o.inst] = list
	}
	if o.product == domain.MIS {
		b.sqDirty = true
	}
}

// Lookup implements engine.Broker.
func (b *Broker) Lookup(ctx context.Context, clientOrderID string) (domain.BrokerOrder, bool, error) {
	if err := ctx.Err(); err != nil {
		return domain.BrokerOrder{}, false, fmt.Errorf("paper: lookup %s: %w", clientOrderID, err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	o, ok := b.orders[clientOrderID]
	if !ok {
		return domain.BrokerOrder{}, false, nil
	}
	return b.view(o), true, nil
}

// Orders implements engine.Broker: every order, rejected ones included, in
// the order they were placed.
func (b *Broker) Orders(ctx context.Context) ([]domain.BrokerOrder, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("paper: orders: %w", err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	list := make([]*order, 0, len(b.orders))
	for _, o := range b.orders {
		list = append(list, o)
	}
	slices.SortFunc(list, func(x, y *order) int { return cmp.Compare(x.seq, y.seq) })
	out := make([]domain.BrokerOrder, len(list))
	for i, o := range list {
		out[i] = b.view(o)
	}
	return out, nil
}

func (b *Broker) view(o *order) domain.BrokerOrder {
	v := domain.BrokerOrder{
		BrokerOrderID: o.brokerID, ClientOrderID: o.clientID, Account: b.cfg.Account,
		Exchange: o.inst.exchange, Symbol: o.inst.symbol, Side: o.side, Type: o.typ, Product: o.product,
		Quantity: o.qty, FilledQty: o.filled, Price: o.price, TriggerPrice: o.trigger,
		Status: o.status, Reason: o.reason, UpdatedAt: o.updatedAt,
	}
	if o.filled > 0 {
		v.AvgPrice = domain.Price(domain.MulDivRound(int64(o.value), 1, o.filled))
	}
	return v
}

// Positions implements engine.Broker: the non-flat positions, sorted by
// exchange, symbol and product.
func (b *Broker) Positions(ctx context.Context) ([]domain.BrokerPosition, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("paper: positions: %w", err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	out := []domain.BrokerPosition{}
	for _, k := range b.positionKeys() {
		p := b.positions[k]
		if p.qty == 0 {
			continue
		}
		out = append(out, domain.BrokerPosition{Account: b.cfg.Account, Exchange: k.exchange, Symbol: k.symbol,
			Product: k.product, Quantity: p.qty, AvgPrice: p.avg()})
	}
	return out, nil
}

// Holdings implements engine.Broker: the long CNC positions, sorted by
// exchange and symbol.
func (b *Broker) Holdings(ctx context.Context) ([]domain.BrokerHolding, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("paper: holdings: %w", err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	out := []domain.BrokerHolding{}
	for _, k := range b.positionKeys() {
		if p := b.positions[k]; k.product == domain.CNC && p.qty > 0 {
			out = append(out, domain.BrokerHolding{Account: b.cfg.Account, Exchange: k.exchange, Symbol: k.symbol,
				Quantity: p.qty, AvgPrice: p.avg()})
		}
	}
	return out, nil
}

// positionKeys returns the position keys sorted by exchange, symbol and
// product.
func (b *Broker) positionKeys() []positionKey {
	keys := make([]positionKey, 0, len(b.positions))
	for k := range b.positions {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(x, y positionKey) int {
		return cmp.Or(cmp.Compare(x.exchange, y.exchange), cmp.Compare(x.symbol, y.symbol), cmp.Compare(x.product, y.product))
	})
	return keys
}

// orderCharges returns the schedule's charges of an order of one segment
// and side whose fills so far have the turnover value.
func (b *Broker) orderCharges(seg domain.ChargeSegment, side domain.Side, value domain.Price) domain.Price {
	if seg == "" || value <= 0 {
		return 0
	}
	c, err := b.sched.For(seg, side, 1, value)
	if err != nil {
		return 0 // the schedule was validated by New; only an overflowing turnover lands here
	}
	return c.Total
}

// clockTime renders a time of day as "15:20".
func clockTime(d time.Duration) string {
	return fmt.Sprintf("%02d:%02d", int(d/time.Hour), int(d%time.Hour/time.Minute))
}

func sortBySeq(list []*order) {
	slices.SortFunc(list, func(x, y *order) int { return cmp.Compare(x.seq, y.seq) })
}
