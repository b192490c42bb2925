package zerodha

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/algoauto/algoauto/domain"
)

// Defaults applied by New to zero Config fields.
const (
	DefaultBaseURL = "https://api.kite.trade"
	DefaultTimeout = 7 * time.Second
)

// Name is what Broker.Name returns.
const Name = "zerodha"

// marketProtectionAuto is Kite's automatic market protection for MARKET
// and SL-M orders.
const marketProtectionAuto = "-1"

// Config configures a Broker.
type Config struct {
	// APIKey is the Kite Connect app's api_key; AccessToken the day's
	// access token (it may be set later with SetAccessToken). Calls made
	// without both fail as not sent, wrapping ErrNoSession.
	APIKey      string
	AccessToken string
	// Account is the engine's trading account the broker serves: Place
	// rejects intents of other accounts, and the broker's orders,
	// positions and holdings carry it.
	Account string
	// BaseURL is Kite's REST root [DefaultBaseURL]; tests point it at a
	// mock.
	BaseURL string
	// HTTPClient sends the requests [an http.Client with a DefaultTimeout
	// timeout]. Its timeout bounds every call; a call that times out after
	// the request was sent has an unknown outcome.
	HTTPClient *http.Client
	// Logger [discard].
	Logger *slog.Logger
	// Now stamps reports for which Kite gives no time, and its IST day
	// scopes Poll's memory [time.Now].
	Now func() time.Time
}

// Broker is the Kite Connect broker of one account. Create it with New.
type Broker struct {
	cfg Config
	log *slog.Logger
	tok atomicString

	pollMu sync.Mutex // serialises Poll

	mu       sync.Mutex
	day      string                 // IST day of the memory below
	placed   map[string]string      // client order id -> Kite order id, of orders Place placed
	inflight map[string]bool        // client order ids being placed
	ids      map[string]string      // client order id -> latest Kite order id known
	orders   map[string]*orderState // Poll's memory, by Kite order id
	seeds    map[string]*seed       // Seed, by client order id
}

type atomicString struct{ p atomic.Pointer[string] }

func (a *atomicString) load() string {
	if s := a.p.Load(); s != nil {
		return *s
	}
	return ""
}

func (a *atomicString) store(s string) { a.p.Store(&s) }

// New returns a broker for cfg. It makes no request: check the session
// with Session.
func New(cfg Config) *Broker {
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: DefaultTimeout}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	b := &Broker{cfg: cfg, log: cfg.Logger}
	b.tok.store(cfg.AccessToken)
	b.resetLocked("")
	return b
}

// resetLocked clears the memory of orders for a new IST day. b.mu is held
// (or b is not shared yet).
func (b *Broker) resetLocked(day string) {
	b.day = day
	b.placed = map[string]string{}
	b.inflight = map[string]bool{}
	b.ids = map[string]string{}
	b.orders = map[string]*orderState{}
	b.seeds = map[string]*seed{}
}

// rollLocked starts a new memory when the IST day of now is not the
// memory's. b.mu is held.
func (b *Broker) rollLocked(now time.Time) {
	day := now.In(domain.IST()).Format(time.DateOnly)
	switch {
	case b.day == "":
		b.day = day
	case b.day != day:
		b.log.Info("a new trading day: forgetting yesterday's orders", "account", b.cfg.Account, "day", day)
		inflight := b.inflight
		b.resetLocked(day)
		b.inflight = inflight
	}
}

// Name implements engine.Broker.
func (b *Broker) Name() string { return Name }

// Account returns the account the broker serves.
func (b *Broker) Account() string { return b.cfg.Account }

// SetAccessToken installs a new access token (the day's login) for the
// calls that follow.
func (b *Broker) SetAccessToken(token string) { b.tok.store(token) }

func (b *Broker) token() string { return b.tok.load() }

// Session checks the access token (GET /user/profile): nil means Kite
// accepts it. A TokenException and a missing token wrap ErrNoSession.
func (b *Broker) Session(ctx context.Context) error {
	var p kiteProfile
	if err := b.do(ctx, "session", http.MethodGet, "/user/profile", nil, &p); err != nil {
		return err
	}
	b.log.Debug("kite session is valid", "account", b.cfg.Account, "user_id", p.UserID)
	return nil
}

// Place implements engine.Broker: POST /orders/regular. See the package
// documentation for the outcomes.
func (b *Broker) Place(ctx context.Context, in domain.OrderIntentRecorded) (domain.ExecutionReport, error) {
	cid := in.ClientOrderID
	reject := func(reason string) domain.ExecutionReport {
		return domain.ExecutionReport{Kind: domain.ReportRejected, ClientOrderID: cid, Reason: reason, At: b.cfg.Now()}
	}
	if err := in.Validate(); err != nil {
		return reject(err.Error()), nil
	}
	switch {
	case in.Account != b.cfg.Account:
		return reject(fmt.Sprintf("account %q is not this broker's (%q)", in.Account, b.cfg.Account)), nil
	case in.Mode != domain.Live:
		return reject(fmt.Sprintf("mode %q: the zerodha broker takes live orders only", in.Mode)), nil
	case !validTag(cid):
		return reject(fmt.Sprintf("client order id %q is not a Kite tag (1 to 20 letters and digits)", cid)), nil
	}
	b.mu.Lock()
	b.rollLocked(b.cfg.Now())
	if id, ok := b.placed[cid]; ok {
		b.mu.Unlock()
		return domain.ExecutionReport{Kind: domain.ReportAccepted, ClientOrderID: cid, BrokerOrderID: id,
			Reason: "duplicate client order id: already placed", At: b.cfg.Now()}, nil
	}
	if b.inflight[cid] {
		b.mu.Unlock()
		return domain.ExecutionReport{}, fmt.Errorf("zerodha: place %s: another place of this client order id is in flight; its outcome is unknown here", cid)
	}
	b.inflight[cid] = true
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		delete(b.inflight, cid)
		b.mu.Unlock()
	}()

	f := url.Values{}
	f.Set("exchange", in.Exchange)
	f.Set("tradingsymbol", in.Symbol)
	f.Set("transaction_type", string(in.Side))
	f.Set("quantity", strconv.FormatInt(in.Quantity, 10))
	f.Set("product", string(in.Product))
	f.Set("order_type", string(in.Type))
	f.Set("validity", "DAY")
	f.Set("tag", cid)
	switch in.Type {
	case domain.Market:
		f.Set("market_protection", marketProtectionAuto)
	case domain.Limit:
		f.Set("price", in.Price.String())
	case domain.StopLimit:
		f.Set("price", in.Price.String())
		f.Set("trigger_price", in.TriggerPrice.String())
	case domain.StopMkt:
		f.Set("trigger_price", in.TriggerPrice.String())
		f.Set("market_protection", marketProtectionAuto)
	}
	if in.AlgoID != "" {
		f.Set("algo_id", in.AlgoID)
	}
	var data kiteOrderID
	err := b.do(ctx, "place "+cid, http.MethodPost, "/orders/regular", f, &data)
	if rep, err, done := b.outcome(cid, err); done {
		return rep, err
	}
	if data.OrderID == "" {
		return domain.ExecutionReport{}, fmt.Errorf("zerodha: place %s: a success answer without an order id: outcome unknown", cid)
	}
	id := string(data.OrderID)
	now := b.cfg.Now()
	b.mu.Lock()
	b.rollLocked(now)
	b.placed[cid] = id
	b.ids[cid] = id
	b.stateLocked(id, cid).accepted = true
	b.mu.Unlock()
	return domain.ExecutionReport{Kind: domain.ReportAccepted, ClientOrderID: cid, BrokerOrderID: id, At: now}, nil
}

// outcome classifies the error of a place, modify or cancel request: done
// is false when there was none (the caller goes on with the answer).
func (b *Broker) outcome(cid string, err error) (rep domain.ExecutionReport, _ error, done bool) {
	if err == nil {
		return rep, nil, false
	}
	var ae *APIError
	if errors.As(err, &ae) {
		switch {
		case ae.refused():
			return domain.ExecutionReport{Kind: domain.ReportRejected, ClientOrderID: cid, Reason: ae.reason(), At: b.cfg.Now()}, nil, true
		case ae.rateLimited():
			return rep, fmt.Errorf("%w: %w", domain.ErrOrderNotSent, err), true
		}
	}
	return rep, err, true
}

// Modify implements engine.Broker: PUT /orders/regular/{order_id} with the
// fields of ch that are set.
func (b *Broker) Modify(ctx context.Context, clientOrderID string, ch domain.OrderChange) (domain.ExecutionReport, error) {
	reject := func(reason string) domain.ExecutionReport {
		return domain.ExecutionReport{Kind: domain.ReportRejected, ClientOrderID: clientOrderID, Reason: reason, At: b.cfg.Now()}
	}
	f := url.Values{}
	if ch.Quantity < 0 || ch.Price < 0 || ch.TriggerPrice < 0 {
		return reject("a negative quantity or price"), nil
	}
	if ch.Quantity > 0 {
		f.Set("quantity", strconv.FormatInt(ch.Quantity, 10))
	}
	if ch.Price > 0 {
		f.Set("price", ch.Price.String())
	}
	if ch.TriggerPrice > 0 {
		f.Set("trigger_price", ch.TriggerPrice.String())
	}
	if ch.Type != "" {
		if !ch.Type.Valid() {
			return reject(fmt.Sprintf("order type %q is not MARKET, LIMIT, SL or SL-M", ch.Type)), nil
		}
		f.Set("order_type", string(ch.Type))
		if ch.Type == domain.Market || ch.Type == domain.StopMkt {
			f.Set("market_protection", marketProtectionAuto)
		}
	}
	if len(f) == 0 {
		return reject("nothing to change"), nil
	}
	op := "modify " + clientOrderID
	id, found, err := b.brokerID(ctx, op, clientOrderID)
	if err != nil {
		return domain.ExecutionReport{}, fmt.Errorf("%w: %w", domain.ErrOrderNotSent, err)
	}
	if !found {
		return reject("the broker has no order with this client order id today"), nil
	}
	err = b.do(ctx, op, http.MethodPut, "/orders/regular/"+url.PathEscape(id), f, nil)
	if rep, err, done := b.outcome(clientOrderID, err); done {
		if err == nil {
			rep.BrokerOrderID = id
		}
		return rep, err
	}
	return domain.ExecutionReport{Kind: domain.ReportModified, ClientOrderID: clientOrderID, BrokerOrderID: id, At: b.cfg.Now()}, nil
}

// Cancel implements engine.Broker: DELETE /orders/regular/{order_id}. The
// CANCELLED answer means Kite took the cancellation; Poll still reports
// fills that beat it, and does not report the cancellation again.
func (b *Broker) Cancel(ctx context.Context, clientOrderID string) (domain.ExecutionReport, error) {
	op := "cancel " + clientOrderID
	id, found, err := b.brokerID(ctx, op, clientOrderID)
	if err != nil {
		return domain.ExecutionReport{}, fmt.Errorf("%w: %w", domain.ErrOrderNotSent, err)
	}
	if !found {
		return domain.ExecutionReport{Kind: domain.ReportRejected, ClientOrderID: clientOrderID,
			Reason: "the broker has no order with this client order id today", At: b.cfg.Now()}, nil
	}
	err = b.do(ctx, op, http.MethodDelete, "/orders/regular/"+url.PathEscape(id), nil, nil)
	if rep, err, done := b.outcome(clientOrderID, err); done {
		if err == nil {
			rep.BrokerOrderID = id
		}
		return rep, err
	}
	now := b.cfg.Now()
	b.mu.Lock()
	b.rollLocked(now)
	b.stateLocked(id, clientOrderID).closed = true
	b.mu.Unlock()
	return domain.ExecutionReport{Kind: domain.ReportCancelled, ClientOrderID: clientOrderID, BrokerOrderID: id, At: now}, nil
}

// brokerID finds the Kite order id of a client order id: the one Place or
// an earlier read of the book saw, else the latest in GET /orders.
func (b *Broker) brokerID(ctx context.Context, op, clientOrderID string) (string, bool, error) {
	b.mu.Lock()
	id, ok := b.ids[clientOrderID]
	b.mu.Unlock()
	if ok {
		return id, true, nil
	}
	rows, err := b.book(ctx, op+": find the order")
	if err != nil {
		return "", false, err
	}
	o, ok := b.latest(rows, clientOrderID)
	if !ok {
		return "", false, nil
	}
	return string(o.OrderID), true, nil
}

// book reads the day's order book (GET /orders) and remembers the Kite
// order id of every tag in it (the latest placed, for a tag used twice).
func (b *Broker) book(ctx context.Context, op string) ([]kiteOrder, error) {
	var rows []kiteOrder
	if err := b.do(ctx, op, http.MethodGet, "/orders", nil, &rows); err != nil {
		return nil, err
	}
	now := b.cfg.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	b.rollLocked(now)
	latest := map[string]kiteOrder{}
	for _, o := range rows {
		t := o.tag()
		if t == "" || o.OrderID == "" {
			continue
		}
		if cur, ok := latest[t]; !ok || !o.OrderTimestamp.Before(cur.OrderTimestamp.Time) {
			latest[t] = o
		}
	}
	for t, o := range latest {
		b.ids[t] = string(o.OrderID)
	}
	return rows, nil
}

// latest returns the latest placed order of the book with the tag, and
// warns when there are several.
func (b *Broker) latest(rows []kiteOrder, tag string) (kiteOrder, bool) {
	o, n := latestOf(rows, tag)
	if n > 1 {
		b.log.Warn("several Kite orders carry one client order id: using the latest",
			"account", b.cfg.Account, "client_order_id", tag, "orders", n, "broker_order_id", string(o.OrderID))
	}
	return o, n > 0
}

// latestOf returns the order with the tag placed last (the later in the
// book on equal timestamps) and how many carry it.
func latestOf(rows []kiteOrder, tag string) (kiteOrder, int) {
	var best kiteOrder
	n := 0
	for _, o := range rows {
		if o.tag() != tag {
			continue
		}
		if n == 0 || !o.OrderTimestamp.Before(best.OrderTimestamp.Time) {
			best = o
		}
		n++
	}
	return best, n
}

// Lookup implements engine.Broker: the latest order of the day's book
// whose tag is clientOrderID.
func (b *Broker) Lookup(ctx context.Context, clientOrderID string) (domain.BrokerOrder, bool, error) {
	rows, err := b.book(ctx, "lookup "+clientOrderID)
	if err != nil {
		return domain.BrokerOrder{}, false, err
	}
	o, ok := b.latest(rows, clientOrderID)
	if !ok {
		return domain.BrokerOrder{}, false, nil
	}
	bo, err := b.order(o)
	if err != nil {
		return domain.BrokerOrder{}, false, fmt.Errorf("zerodha: lookup %s: %w", clientOrderID, err)
	}
	return bo, true, nil
}

// Orders implements engine.Broker: the day's order book, tagged or not, in
// Kite's order.
func (b *Broker) Orders(ctx context.Context) ([]domain.BrokerOrder, error) {
	rows, err := b.book(ctx, "orders")
	if err != nil {
		return nil, err
	}
	out := make([]domain.BrokerOrder, 0, len(rows))
	for _, o := range rows {
		bo, err := b.order(o)
		if err != nil {
			return nil, fmt.Errorf("zerodha: orders: %w", err)
		}
		out = append(out, bo)
	}
	return out, nil
}

// Positions implements engine.Broker: the net positions that are not
// flat, per exchange, symbol and product, quantity signed.
func (b *Broker) Positions(ctx context.Context) ([]domain.BrokerPosition, error) {
	var ps kitePositions
	if err := b.do(ctx, "positions", http.MethodGet, "/portfolio/positions", nil, &ps); err != nil {
		return nil, err
	}
	out := make([]domain.BrokerPosition, 0, len(ps.Net))
	for _, p := range ps.Net {
		q, err := parseQty(p.Quantity)
		if err != nil {
			return nil, fmt.Errorf("zerodha: positions: %s:%s %s: %w", p.Exchange, p.Tradingsymbol, p.Product, err)
		}
		if q == 0 {
			continue
		}
		avg, _, err := parsePrice(p.AveragePrice)
		if err != nil {
			return nil, fmt.Errorf("zerodha: positions: %s:%s %s: %w", p.Exchange, p.Tradingsymbol, p.Product, err)
		}
		out = append(out, domain.BrokerPosition{Account: b.cfg.Account, Exchange: p.Exchange, Symbol: p.Tradingsymbol,
			Product: domain.Product(p.Product), Quantity: q, AvgPrice: avg})
	}
	return out, nil
}

// Holdings implements engine.Broker: the delivery holdings that are not
// empty, Quantity = quantity + t1_quantity.
func (b *Broker) Holdings(ctx context.Context) ([]domain.BrokerHolding, error) {
	var hs []kiteHolding
	if err := b.do(ctx, "holdings", http.MethodGet, "/portfolio/holdings", nil, &hs); err != nil {
		return nil, err
	}
	out := make([]domain.BrokerHolding, 0, len(hs))
	for _, h := range hs {
		q, err := parseQty(h.Quantity)
		if err != nil {
			return nil, fmt.Errorf("zerodha: holdings: %s:%s: %w", h.Exchange, h.Tradingsymbol, err)
		}
		t1, err := parseQty(h.T1Quantity)
		if err != nil {
			return nil, fmt.Errorf("zerodha: holdings: %s:%s: t1 %w", h.Exchange, h.Tradingsymbol, err)
		}
		if q+t1 == 0 {
			continue
		}
		avg, _, err := parsePrice(h.AveragePrice)
		if err != nil {
			return nil, fmt.Errorf("zerodha: holdings: %s:%s: %w", h.Exchange, h.Tradingsymbol, err)
		}
		out = append(out, domain.BrokerHolding{Account: b.cfg.Account, Exchange: h.Exchange, Symbol: h.Tradingsymbol,
			Quantity: q + t1, AvgPrice: avg})
	}
	return out, nil
}

// DeliveryApart reports that Kite's positions carry only the day's delivery
// (CNC) trades, its holdings the delivery bought on earlier days (with the
// unsettled T1 quantity): reconciliation compares their sum with the
// engine's CNC position.
func (*Broker) DeliveryApart() bool { return true }
