package zerodha_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/algoauto/algoauto/adapters/zerodha"
	"github.com/algoauto/algoauto/domain"
	"github.com/algoauto/algoauto/engine"
)

// The zerodha broker is the engine's live broker.
var _ engine.Broker = (*zerodha.Broker)(nil)

const (
	apiKey  = "kitekey"
	token   = "daytoken"
	account = "acct1"
	symbol  = "NIFTY26NOV24500CE"
)

var ctx = context.Background()

// at returns an instant on Monday 2026-11-23, IST.
func at(h, m, s int) time.Time { return time.Date(2026, 11, 23, h, m, s, 0, domain.IST()) }

// rs is rupees with paise: rs(100, 5) is 100.05.
func rs(r, p int64) domain.Price { return domain.Price(r*100 + p) }

// cid is the engine's client order id of test order n.
func cid(n int) string { return engine.ClientOrderID("test", "signal", n) }

// intent is a live NRML buy of 75 NIFTY options of type typ, with the
// prices the type needs.
func intent(id string, typ domain.OrderType) domain.OrderIntentRecorded {
	in := domain.OrderIntentRecorded{OrderID: id, ClientOrderID: id, Account: account, Mode: domain.Live,
		Exchange: "NFO", Symbol: symbol, Side: domain.Buy, Quantity: 75, Type: typ, Product: domain.NRML}
	switch typ {
	case domain.Limit:
		in.Price = rs(100, 5)
	case domain.StopLimit:
		in.Price, in.TriggerPrice = rs(101, 0), rs(100, 50)
	case domain.StopMkt:
		in.TriggerPrice = rs(100, 50)
	}
	return in
}

// kOrder is an order of the fake Kite's book.
type kOrder struct {
	ID, Status, Message, Tag        string
	Exchange, Symbol, Side, Type    string
	Product, Price, Trigger, AvgRaw string // AvgRaw: average_price as sent ("" = 0)
	Qty, Filled                     int64
	Placed, Updated                 time.Time
}

func (o *kOrder) json() map[string]any {
	num := func(s string) json.Number {
		if s == "" {
			return "0"
		}
		return json.Number(s)
	}
	var tag any
	tags := []string{}
	if o.Tag != "" {
		tag, tags = o.Tag, []string{o.Tag}
	}
	upd := any(nil)
	if !o.Updated.IsZero() {
		upd = o.Updated.Format(time.DateTime)
	}
	return map[string]any{
		"account_id": "ZX1234", "placed_by": "ZX1234", "order_id": o.ID, "exchange_order_id": nil,
		"parent_order_id": nil, "status": o.Status, "status_message": nilIfEmpty(o.Message), "status_message_raw": nilIfEmpty(o.Message),
		"order_timestamp": o.Placed.Format(time.DateTime), "exchange_update_timestamp": upd, "exchange_timestamp": upd,
		"variety": "regular", "modified": false, "exchange": o.Exchange, "tradingsymbol": o.Symbol, "instrument_token": 12345,
		"order_type": o.Type, "transaction_type": o.Side, "validity": "DAY", "validity_ttl": 0, "product": o.Product,
		"quantity": o.Qty, "disclosed_quantity": 0, "price": num(o.Price), "trigger_price": num(o.Trigger),
		"average_price": num(o.AvgRaw), "filled_quantity": o.Filled, "pending_quantity": o.Qty - o.Filled,
		"cancelled_quantity": 0, "market_protection": 0, "meta": map[string]any{}, "tag": tag, "tags": tags, "guid": "g" + o.ID,
	}
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// kTrade is a trade of the fake Kite.
type kTrade struct {
	ID, OrderID, Price string
	Qty                int64
	At                 time.Time
}

// fakeKite speaks Kite Connect v3 REST: orders, trades, portfolio and
// profile, with the headers checked on every request.
type fakeKite struct {
	t   *testing.T
	srv *httptest.Server

	mu         sync.Mutex
	token      string // the access token Kite accepts
	nextID     int
	clock      time.Time
	orders     []*kOrder
	trades     []kTrade
	positions  string // data of GET /portfolio/positions, raw JSON
	holdings   string // data of GET /portfolio/holdings, raw JSON
	requests   []string
	forms      map[string][]url.Values // by "METHOD path"
	badHeaders []string
	place      http.HandlerFunc // overrides POST /orders/regular when set
	failTrades int              // the next failTrades GET /trades answer 503
}

func newKite(t *testing.T) *fakeKite {
	t.Helper()
	k := &fakeKite{t: t, token: token, nextID: 251123000000001, clock: at(9, 30, 0), forms: map[string][]url.Values{},
		positions: `{"net":[],"day":[]}`, holdings: `[]`}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /orders/{variety}", k.handlePlace)
	mux.HandleFunc("PUT /orders/{variety}/{id}", k.handleModify)
	mux.HandleFunc("DELETE /orders/{variety}/{id}", k.handleCancel)
	mux.HandleFunc("GET /orders", k.handleOrders)
	mux.HandleFunc("GET /trades", k.handleTrades)
	mux.HandleFunc("GET /portfolio/positions", func(w http.ResponseWriter, r *http.Request) {
		k.mu.Lock()
		defer k.mu.Unlock()
		writeRaw(w, 200, `{"status":"success","data":`+k.positions+`}`)
	})
	mux.HandleFunc("GET /portfolio/holdings", func(w http.ResponseWriter, r *http.Request) {
		k.mu.Lock()
		defer k.mu.Unlock()
		writeRaw(w, 200, `{"status":"success","data":`+k.holdings+`}`)
	})
	mux.HandleFunc("GET /user/profile", func(w http.ResponseWriter, r *http.Request) {
		writeRaw(w, 200, `{"status":"success","data":{"user_id":"ZX1234","user_name":"Test","email":"t@example.com","broker":"ZERODHA","products":["CNC","NRML","MIS"],"exchanges":["NSE","NFO"]}}`)
	})
	k.srv = httptest.NewServer(k.auth(mux))
	t.Cleanup(k.srv.Close)
	return k
}

// auth checks the version and authorisation headers and logs the request.
func (k *fakeKite) auth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k.mu.Lock()
		k.requests = append(k.requests, r.Method+" "+r.URL.Path)
		want := "token " + apiKey + ":" + k.token
		k.mu.Unlock()
		if v := r.Header.Get("X-Kite-Version"); v != "3" {
			k.mu.Lock()
			k.badHeaders = append(k.badHeaders, fmt.Sprintf("%s %s: X-Kite-Version %q", r.Method, r.URL.Path, v))
			k.mu.Unlock()
			kiteError(w, 400, "InputException", "Missing or invalid X-Kite-Version")
			return
		}
		if r.Header.Get("Authorization") != want {
			kiteError(w, 403, "TokenException", "Incorrect `api_key` or `access_token`.")
			return
		}
		if r.Method == http.MethodPost || r.Method == http.MethodPut {
			if ct := r.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
				k.mu.Lock()
				k.badHeaders = append(k.badHeaders, fmt.Sprintf("%s %s: Content-Type %q", r.Method, r.URL.Path, ct))
				k.mu.Unlock()
			}
			if err := r.ParseForm(); err != nil {
				kiteError(w, 400, "InputException", err.Error())
				return
			}
			k.mu.Lock()
			key := r.Method + " " + r.URL.Path
			k.forms[key] = append(k.forms[key], r.PostForm)
			k.mu.Unlock()
		}
		next.ServeHTTP(w, r)
	})
}

func writeRaw(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

func kiteError(w http.ResponseWriter, status int, typ, msg string) {
	b, _ := json.Marshal(map[string]any{"status": "error", "error_type": typ, "message": msg, "data": nil})
	writeRaw(w, status, string(b))
}

func success(w http.ResponseWriter, data any) {
	b, _ := json.Marshal(map[string]any{"status": "success", "data": data})
	writeRaw(w, 200, string(b))
}

func (k *fakeKite) handlePlace(w http.ResponseWriter, r *http.Request) {
	k.mu.Lock()
	override := k.place
	k.mu.Unlock()
	if override != nil {
		override(w, r)
		return
	}
	if r.PathValue("variety") != "regular" {
		kiteError(w, 400, "InputException", "Invalid variety")
		return
	}
	f := r.PostForm
	qty, err := strconv.ParseInt(f.Get("quantity"), 10, 64)
	if err != nil {
		kiteError(w, 400, "InputException", "Invalid `quantity`.")
		return
	}
	id := k.add(&kOrder{Status: "OPEN", Tag: f.Get("tag"), Exchange: f.Get("exchange"), Symbol: f.Get("tradingsymbol"),
		Side: f.Get("transaction_type"), Type: f.Get("order_type"), Product: f.Get("product"), Price: f.Get("price"),
		Trigger: f.Get("trigger_price"), Qty: qty})
	success(w, map[string]any{"order_id": id})
}

// add puts an order in the book (placed at the fake's clock, one second
// after the previous one) and returns its id.
func (k *fakeKite) add(o *kOrder) string {
	k.mu.Lock()
	defer k.mu.Unlock()
	if o.ID == "" {
		o.ID = strconv.Itoa(k.nextID)
		k.nextID++
	}
	if o.Placed.IsZero() {
		k.clock = k.clock.Add(time.Second)
		o.Placed = k.clock
	}
	if o.Exchange == "" {
		o.Exchange, o.Symbol, o.Side, o.Type, o.Product = "NFO", symbol, "BUY", "MARKET", "NRML"
	}
	k.orders = append(k.orders, o)
	return o.ID
}

func (k *fakeKite) find(id string) *kOrder {
	for _, o := range k.orders {
		if o.ID == id {
			return o
		}
	}
	return nil
}

func (k *fakeKite) handleModify(w http.ResponseWriter, r *http.Request) {
	k.mu.Lock()
	defer k.mu.Unlock()
	o := k.find(r.PathValue("id"))
	switch {
	case o == nil:
		kiteError(w, 400, "InputException", "Invalid `order_id`.")
		return
	case domain.BrokerOrderStatus(o.Status).Final():
		kiteError(w, 400, "OrderException", "Order cannot be modified as it is being processed or is complete.")
		return
	}
	f := r.PostForm
	if v := f.Get("quantity"); v != "" {
		o.Qty, _ = strconv.ParseInt(v, 10, 64)
	}
	if v := f.Get("price"); v != "" {
		o.Price = v
	}
	if v := f.Get("trigger_price"); v != "" {
		o.Trigger = v
	}
	if v := f.Get("order_type"); v != "" {
		o.Type = v
	}
	success(w, map[string]any{"order_id": o.ID})
}

func (k *fakeKite) handleCancel(w http.ResponseWriter, r *http.Request) {
	k.mu.Lock()
	defer k.mu.Unlock()
	o := k.find(r.PathValue("id"))
	switch {
	case o == nil:
		kiteError(w, 400, "InputException", "Invalid `order_id`.")
		return
	case domain.BrokerOrderStatus(o.Status).Final():
		kiteError(w, 400, "OrderException", "Order cannot be cancelled as it is being processed or is complete.")
		return
	}
	o.Status, o.Message = "CANCELLED", ""
	k.clock = k.clock.Add(time.Second)
	o.Updated = k.clock
	success(w, map[string]any{"order_id": o.ID})
}

func (k *fakeKite) handleOrders(w http.ResponseWriter, r *http.Request) {
	k.mu.Lock()
	defer k.mu.Unlock()
	rows := make([]map[string]any, 0, len(k.orders))
	for _, o := range k.orders {
		rows = append(rows, o.json())
	}
	success(w, rows)
}

func (k *fakeKite) handleTrades(w http.ResponseWriter, r *http.Request) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.failTrades > 0 {
		k.failTrades--
		kiteError(w, 503, "NetworkException", "Couldn't reach the OMS.")
		return
	}
	rows := make([]map[string]any, 0, len(k.trades))
	for _, t := range k.trades {
		o := k.find(t.OrderID)
		rows = append(rows, map[string]any{
			"trade_id": t.ID, "order_id": t.OrderID, "exchange": o.Exchange, "tradingsymbol": o.Symbol,
			"instrument_token": 12345, "product": o.Product, "average_price": json.Number(t.Price), "quantity": t.Qty,
			"exchange_order_id": "1100000000" + t.OrderID[len(t.OrderID)-4:], "transaction_type": o.Side,
			"fill_timestamp": t.At.Format(time.DateTime), "order_timestamp": t.At.Format(time.TimeOnly),
			"exchange_timestamp": t.At.Format(time.DateTime),
		})
	}
	success(w, rows)
}

// fill executes qty of order id at price (rupees as Kite writes them) as
// trade tradeID, in the book and (unless hidden) in the trades. The order
// is COMPLETE when all is filled.
func (k *fakeKite) fill(id, tradeID string, qty int64, price string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	o := k.find(id)
	if o == nil {
		k.t.Fatalf("fill: no order %s", id)
	}
	k.clock = k.clock.Add(time.Second)
	o.Filled += qty
	o.Updated = k.clock
	if o.Filled == o.Qty {
		o.Status = "COMPLETE"
	}
	k.trades = append(k.trades, kTrade{ID: tradeID, OrderID: id, Price: price, Qty: qty, At: k.clock})
}

// setStatus ends an order at the exchange (CANCELLED, REJECTED) with a
// message.
func (k *fakeKite) setStatus(id, status, msg string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	o := k.find(id)
	k.clock = k.clock.Add(time.Second)
	o.Status, o.Message, o.Updated = status, msg, k.clock
}

func (k *fakeKite) set(f func(k *fakeKite)) {
	k.mu.Lock()
	defer k.mu.Unlock()
	f(k)
}

// requestCount is the number of requests the fake has seen.
func (k *fakeKite) requestCount() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.requests)
}

func (k *fakeKite) requestsSeen() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return slices.Clone(k.requests)
}

// formsOf returns the forms posted to "METHOD path".
func (k *fakeKite) formsOf(key string) []url.Values {
	k.mu.Lock()
	defer k.mu.Unlock()
	return slices.Clone(k.forms[key])
}

// checkHeaders fails the test if a request lacked Kite's headers.
func (k *fakeKite) checkHeaders(t *testing.T) {
	t.Helper()
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, h := range k.badHeaders {
		t.Errorf("bad header: %s", h)
	}
}

// config is the broker configuration of the fake Kite.
func (k *fakeKite) config(t *testing.T) zerodha.Config {
	return zerodha.Config{APIKey: apiKey, AccessToken: token, Account: account, BaseURL: k.srv.URL + "/",
		HTTPClient: &http.Client{Timeout: 5 * time.Second}, Logger: slog.New(slog.NewTextHandler(t.Output(), nil)),
		Now: func() time.Time { return at(10, 0, 0) }}
}

func (k *fakeKite) broker(t *testing.T) *zerodha.Broker {
	t.Cleanup(func() { k.checkHeaders(t) })
	return zerodha.New(k.config(t))
}

// mustPlace places an order and expects it accepted.
func mustPlace(t *testing.T, b *zerodha.Broker, in domain.OrderIntentRecorded) domain.ExecutionReport {
	t.Helper()
	rep, err := b.Place(ctx, in)
	if err != nil || rep.Kind != domain.ReportAccepted || rep.BrokerOrderID == "" {
		t.Fatalf("Place(%s) = %+v, %v; want ACCEPTED", in.ClientOrderID, rep, err)
	}
	return rep
}

// mustPoll polls and fails the test on an error.
func mustPoll(t *testing.T, b *zerodha.Broker) []domain.ExecutionReport {
	t.Helper()
	reps, err := b.Poll(ctx)
	if err != nil {
		t.Fatalf("Poll: %v", err)
	}
	return reps
}

// brief renders reports for comparison: kind, client id, broker id, and
// the fields of the kind.
func brief(reps []domain.ExecutionReport) []string {
	out := make([]string, 0, len(reps))
	for _, r := range reps {
		s := fmt.Sprintf("%s %s %s", r.Kind, r.ClientOrderID, r.BrokerOrderID)
		switch r.Kind {
		case domain.ReportFilled:
			s += fmt.Sprintf(" trade=%s qty=%d px=%s cum=%d", r.TradeID, r.Quantity, r.Price, r.FilledQty)
		case domain.ReportCancelled, domain.ReportRejected:
			s += fmt.Sprintf(" reason=%q", r.Reason)
		}
		out = append(out, s)
	}
	return out
}

func checkReports(t *testing.T, got []domain.ExecutionReport, want ...string) {
	t.Helper()
	g := brief(got)
	if want == nil {
		want = []string{}
	}
	if !slices.Equal(g, want) {
		t.Errorf("reports:\n got %q\nwant %q", g, want)
	}
}
