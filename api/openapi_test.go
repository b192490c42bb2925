package api_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/algoauto/algoauto/api"
	"github.com/algoauto/algoauto/api/auth"
	"github.com/algoauto/algoauto/api/ws"
	"github.com/algoauto/algoauto/domain"
	"github.com/algoauto/algoauto/engine"
	"github.com/algoauto/algoauto/engine/strategy"
	"github.com/algoauto/algoauto/eventstore"
	"github.com/algoauto/algoauto/eventstore/codec"
	"github.com/algoauto/algoauto/monitoring"
)

// loadOpenAPI loads and validates the embedded document.
func loadOpenAPI(t *testing.T) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(api.OpenAPIDoc)
	if err != nil {
		t.Fatalf("load openapi.json: %v", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		t.Fatalf("openapi.json is not a valid OpenAPI 3 document: %v", err)
	}
	return doc
}

func TestOpenAPIDocumentValidates(t *testing.T) {
	t.Parallel()
	doc := loadOpenAPI(t)
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi version %q", doc.OpenAPI)
	}
	// Every operation is secured by bearerAuth unless its path is public.
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			public := op.Security != nil && len(*op.Security) == 0
			if public != api.IsPublicPath(path) {
				t.Errorf("%s %s: public in the document = %v, in publicPaths = %v", method, path, public, api.IsPublicPath(path))
			}
		}
	}
}

// oaFixture is the shared test fixture with every optional route on
// (monitor, read models, auth, WebSocket hub) over a store with data, an
// admin and a trader, and the document to check answers against.
type oaFixture struct {
	*testEnv
	svc    *auth.Service
	hub    *ws.Hub
	doc    *openapi3.T
	router routers.Router

	admin, trader       string // access tokens
	adminID, traderID   string
	orderID, rejectedID string
	head                eventstore.Position
	covered             map[string]bool // "METHOD /path" of the document exercised
}

const (
	// oaMaxSockets is the hub's sockets per user: more than the admin opens
	// at once while its sockets close, so only the 429 check reaches it.
	oaMaxSockets     = 3
	oaAdminPassword  = "admin-password-1"
	oaTraderPassword = "trader-password-1"
)

func newOAFixture(t *testing.T) *oaFixture {
	t.Helper()
	f := &oaFixture{covered: map[string]bool{}}
	now := time.Date(2026, 11, 20, 11, 0, 0, 0, domain.IST())
	f.testEnv = newTestEnv(t, envConfig{now: now, server: func(e *testEnv, cfg *api.Config, deps *api.Deps) {
		ctx := context.Background()
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			t.Fatal(err)
		}
		var err error
		f.svc, err = auth.NewService(e.st, auth.Config{Key: key, Registry: e.reg, MaxUserFailures: 2,
			Params: auth.Params{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}})
		if err != nil {
			t.Fatal(err)
		}
		if err := f.svc.Load(ctx); err != nil {
			t.Fatal(err)
		}
		if created, _, err := f.svc.Bootstrap(ctx, oaAdminPassword); err != nil || !created {
			t.Fatalf("bootstrap: %v %v", created, err)
		}
		tr, err := f.svc.AddUser(ctx, "trader1", oaTraderPassword, domain.RoleTrader, "test")
		if err != nil {
			t.Fatal(err)
		}
		f.traderID = tr.ID
		if _, err := f.svc.GrantAccount(ctx, tr.ID, "acct-1", "test"); err != nil {
			t.Fatal(err)
		}
		f.hub = ws.NewHub(ws.Config{MaxConnsPerUser: oaMaxSockets}, ws.Deps{Authenticate: oaIdentity(f.svc), Snapshot: ws.NewSnapshots(e.runner).Snapshot})
		t.Cleanup(f.hub.Close)
		mon := monitoring.New()
		// A warning in the recent-errors ring, for /api/v1/errors/recent.
		logger := slog.New(mon.Errors.LogHandler(slog.DiscardHandler))
		logger.With("component", "feed").Warn("feed slow", "provider", "sim", "lag_ms", 1500)
		*cfg = api.Config{Version: "test", Logger: logger}
		deps.Monitor, deps.StoreKind, deps.Auth, deps.WebSocket = mon, "embedded", f.svc, f.hub
		b := &acceptingBroker{orders: map[string]*domain.BrokerOrder{}}
		reg, err := strategy.NewRegistry(strategy.Builtins()...)
		if err != nil {
			t.Fatal(err)
		}
		eng := engine.New(e.st, e.reg, engine.Config{Now: func() time.Time { return now }, Strategies: reg,
			BrokerFor: func(account string, _ domain.Mode) (engine.Broker, error) {
				if account == "acct-stray" {
					return strayBroker{b}, nil
				}
				return b, nil
			}})
		if err := eng.Load(ctx); err != nil {
			t.Fatal(err)
		}
		deps.Trading = eng
	}})

	f.doc = loadOpenAPI(t)
	var err error
	if f.router, err = legacy.NewRouter(f.doc); err != nil {
		t.Fatal(err)
	}
	f.seed()
	f.admin = f.login("admin", oaAdminPassword)
	f.trader = f.login("trader1", oaTraderPassword)
	f.adminID = f.principal(f.admin).UserID
	return f
}

// oaIdentity authenticates WebSocket upgrades (as cmd/algoauto does).
func oaIdentity(svc *auth.Service) func(*http.Request) (ws.Identity, error) {
	return func(r *http.Request) (ws.Identity, error) {
		p, err := svc.Authenticate(r)
		if err != nil {
			return ws.Identity{}, err
		}
		return ws.Identity{UserID: p.UserID, Username: p.Username, Role: string(p.Role), Admin: p.AllAccounts, Accounts: p.Accounts}, nil
	}
}

// seed records ticks, orders with fills, a rejected order, signals,
// control changes and feed events, and waits for the read models.
func (f *oaFixture) seed() {
	rs := domain.Rupees
	at := time.Date(2026, 11, 20, 10, 0, 0, 0, domain.IST())
	tick := func(exchange, symbol string, ltp domain.Price) eventstore.Position {
		return f.append(domain.TickStream(exchange, symbol), domain.Tick{Provider: "sim", Exchange: exchange, Symbol: symbol,
			Token: 256265, ExchangeTime: at, LTP: ltp, Bid: ltp - 5, BidQty: 65, Ask: ltp + 5, AskQty: 130, Volume: 1000, OI: 5000})
	}
	n := 0
	order := func(account, strategy, signal string, side domain.Side, qty int64, price domain.Price, fill bool) string {
		n++
		id := fmt.Sprintf("o%d", n)
		f.append(domain.OrderStream(id), domain.OrderIntentRecorded{OrderID: id, ClientOrderID: "c" + id, Account: account, Mode: domain.Paper,
			Strategy: strategy, SignalID: signal, Exchange: domain.ExchangeNFO, Symbol: "NIFTY26NOVFUT", Side: side, Quantity: qty,
			Type: domain.Limit, Product: domain.NRML, Price: price, LotSize: 65})
		f.append(domain.OrderStream(id), domain.OrderSubmitted{OrderID: id, ClientOrderID: "c" + id, Broker: "paper"})
		if !fill {
			f.append(domain.OrderStream(id), domain.OrderRejected{OrderID: id, Code: "RMS", Reason: "margin"})
			return id
		}
		f.append(domain.OrderStream(id), domain.OrderAccepted{OrderID: id, BrokerOrderID: "b" + id})
		f.append(domain.OrderStream(id), domain.OrderFilled{OrderID: id, TradeID: id + "-1", Quantity: qty, Price: price.RoundToTick(5) + 5,
			FilledQty: qty, Charges: rs(20)})
		return id
	}
	tick(domain.ExchangeNSE, "NIFTY 50", rs(26000))
	tick(domain.ExchangeNFO, "NIFTY26NOVFUT", rs(26040))
	f.append(domain.SignalStream("orb"), domain.SignalRaised{SignalID: "s1", Source: "orb", Strategy: "orb", Account: "acct-1",
		Exchange: domain.ExchangeNFO, Symbol: "NIFTY26NOVFUT", Side: domain.Buy, Quantity: 130, OrderType: domain.Limit, Price: rs(26050),
		Reason: "breakout", RaisedAt: at})
	f.orderID = order("acct-1", "orb", "s1", domain.Buy, 130, rs(26050), true)
	f.append(domain.SignalStream("orb"), domain.SignalAccepted{SignalID: "s1", OrderIDs: []string{f.orderID}})
	f.append(domain.SignalStream("orb"), domain.SignalRaised{SignalID: "s2", Source: "orb", Strategy: "orb", Account: "acct-2",
		Exchange: domain.ExchangeNFO, Symbol: "NIFTY26NOVFUT", Side: domain.Sell, Quantity: 65, RaisedAt: at})
	f.append(domain.SignalStream("orb"), domain.SignalRejected{SignalID: "s2", Rule: "max_order_qty", Reason: "too big"})
	f.append(domain.SignalStream("manual"), domain.SignalRaised{SignalID: "s3", Source: "manual", Exchange: domain.ExchangeNSE,
		Symbol: "NIFTY 50", Side: domain.Buy, Quantity: 1, RaisedAt: at})
	order("acct-1", "", "", domain.Sell, 65, rs(26100), true)
	order("acct-2", "orb", "", domain.Buy, 65, rs(26000), true)
	f.rejectedID = order("acct-3", "", "", domain.Buy, 65, rs(26000), false)
	f.append(domain.ControlStream("acct-1"), domain.TradingStarted{ControlChange: domain.ControlChange{Account: "acct-1", By: "alice", Reason: "open"}})
	f.append(domain.ControlStream("acct-1"), domain.StrategyEnabled{Account: "acct-1", Strategy: "orb", Params: json.RawMessage(`{"minutes":15}`), By: "alice"})
	f.append(domain.ControlStream("acct-1"), domain.RiskLimitsChanged{Account: "acct-1", Limits: domain.RiskLimits{MaxOrderQty: 650, MaxDailyLoss: rs(50000)}, By: "alice"})
	f.append(domain.ControlStream("acct-1"), domain.KillSwitchTriggered{Account: "acct-1", Reason: "daily loss", By: "risk", Auto: true, Rule: "max_daily_loss"})
	f.append(domain.ControlStream("acct-2"), domain.TradingStopped{ControlChange: domain.ControlChange{Account: "acct-2", By: "bob"}, Flatten: true})
	f.append(domain.ProviderStream("sim"), domain.FeedGap{Provider: "sim", Dropped: 7, From: at.Add(-time.Minute), To: at, Reason: "store behind"})
	f.append(domain.ProviderStream("sim"), domain.FeedStale{Provider: "sim", Symbol: "NIFTY26NOVFUT", LastTickAt: at, Threshold: time.Second, DetectedAt: at.Add(time.Second)})
	f.append(domain.ProviderStream("idle"), domain.FeedStale{Provider: "idle", LastTickAt: at, Threshold: time.Second, DetectedAt: at})
	// NIFTY options (the NIFTY 50 tick above is their spot); the put
	// carries vendor Greeks.
	for _, o := range []domain.Tick{
		{Provider: "sim", Exchange: domain.ExchangeNFO, Symbol: oaOption, Token: 1001, ExchangeTime: at, LTP: rs(120),
			Bid: rs(120) - 5, BidQty: 650, Ask: rs(120) + 5, AskQty: 325, Volume: 65000, OI: 650000},
		{Provider: "sim", Exchange: domain.ExchangeNFO, Symbol: "NIFTY26NOV26000PE", Token: 1002, ExchangeTime: at, LTP: rs(110),
			Bid: rs(110) - 5, BidQty: 650, Ask: rs(110) + 5, AskQty: 325, Volume: 65000, OI: 975000,
			Greeks: &domain.Greeks{IV: 0.13, Delta: -0.48, Gamma: 0.0007, Theta: -14.2, Vega: 9.8, Rho: -0.9}},
	} {
		f.append(o.Stream(), o)
	}
	f.head = tick(domain.ExchangeNFO, "NIFTY26NOVFUT", rs(26080))
	f.wait(f.head)
}

func (f *oaFixture) login(username, password string) string {
	f.t.Helper()
	tok, err := f.svc.Login(context.Background(), username, password, "192.0.2.1:1")
	if err != nil {
		f.t.Fatalf("login %s: %v", username, err)
	}
	return tok.AccessToken
}

func (f *oaFixture) principal(token string) auth.Principal {
	f.t.Helper()
	p, err := f.svc.Verify(token)
	if err != nil {
		f.t.Fatal(err)
	}
	return p
}

// strayBroker holds a position the log does not know: reconciliation finds
// it.
type strayBroker struct{ *acceptingBroker }

func (strayBroker) Positions(context.Context) ([]domain.BrokerPosition, error) {
	return []domain.BrokerPosition{{Account: "acct-stray", Exchange: domain.ExchangeNFO, Symbol: "NIFTY26NOVFUT", Product: domain.NRML,
		Quantity: 65, AvgPrice: domain.Rupees(26000)}}, nil
}

// oaOption is the option the fixture's ticks quote (with its put).
const oaOption = "NIFTY26NOV26000CE"

// oaCall is one request to check against the document.
type oaCall struct {
	base         string // the server; default the fixture's
	method, path string // path with its query, e.g. /api/v1/orders?limit=1
	token        string
	body         any
	header       map[string]string
	status       int  // the status wanted
	badRequest   bool // the request itself breaks the document (skip its validation)
}

// do sends c, checks the status, validates the request and the response
// against the document and returns the response body.
func (f *oaFixture) do(c oaCall) []byte {
	f.t.Helper()
	body, _ := f.doHeader(c)
	return body
}

// doHeader is do, returning the response's header too.
func (f *oaFixture) doHeader(c oaCall) ([]byte, http.Header) {
	t := f.t
	t.Helper()
	if c.base == "" {
		c.base = f.ts.URL
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	build := func() *http.Request {
		var rd io.Reader
		if c.body != nil {
			b, err := json.Marshal(c.body)
			if err != nil {
				t.Fatal(err)
			}
			rd = bytes.NewReader(b)
		}
		req, err := http.NewRequestWithContext(ctx, c.method, c.base+c.path, rd)
		if err != nil {
			t.Fatal(err)
		}
		if c.body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if c.token != "" {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		for k, v := range c.header {
			req.Header.Set(k, v)
		}
		return req
	}
	name := c.method + " " + c.path
	req := build()
	route, params, err := f.router.FindRoute(req)
	if err != nil {
		t.Fatalf("%s: not in the document: %v", name, err)
	}
	// The legacy router ignores a trailing slash; the ServeMux does not
	// ("/api/v1/users/" is its own pattern): an exact path wins.
	if item := f.doc.Paths.Value(req.URL.Path); item != nil && item.GetOperation(c.method) != nil && route.Path != req.URL.Path {
		route = &routers.Route{Spec: f.doc, Path: req.URL.Path, PathItem: item, Method: c.method, Operation: item.GetOperation(c.method)}
		params = map[string]string{}
	}
	f.covered[strings.ToUpper(route.Method)+" "+route.Path] = true
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, MultiError: true}}
	if !c.badRequest {
		if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
			t.Errorf("%s: the request does not match the document: %v", name, err)
		}
	}
	req = build()
	in.Request = req
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	var body []byte
	if res.StatusCode == http.StatusSwitchingProtocols {
		_ = res.Body.Close() // the client's side of the WebSocket
	} else {
		body, err = io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	if res.StatusCode != c.status {
		t.Errorf("%s: status %d, want %d: %s", name, res.StatusCode, c.status, body)
		return body, res.Header
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: res.StatusCode, Header: res.Header,
		Body: io.NopCloser(bytes.NewReader(body)), Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true}}
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		t.Errorf("%s: %d answer does not match the document: %v\nbody: %.2000s", name, res.StatusCode, err, body)
	}
	return body, res.Header
}

// muxPath turns a ServeMux pattern's path into an OpenAPI path.
var multiWildcard = regexp.MustCompile(`\{([^}]+)\.\.\.\}`)

func muxPath(p string) string {
	p = strings.TrimSuffix(p, "{$}")
	return multiWildcard.ReplaceAllString(p, "{$1}")
}

func TestOpenAPIRoutesMatchRegistered(t *testing.T) {
	t.Parallel()
	f := newOAFixture(t)
	registered := map[string]bool{}
	for _, p := range f.srv.Patterns() {
		method, path, ok := strings.Cut(p, " ")
		if !ok || strings.HasPrefix(path, " ") || !strings.HasPrefix(path, "/") {
			t.Fatalf("pattern %q: want METHOD /path (no host, one space)", p)
		}
		registered[method+" "+muxPath(path)] = true
	}
	if len(registered) < 40 {
		t.Fatalf("only %d routes recorded: %v", len(registered), f.srv.Patterns())
	}
	documented := map[string]bool{}
	for path, item := range f.doc.Paths.Map() {
		for method := range item.Operations() {
			documented[strings.ToUpper(method)+" "+path] = true
		}
	}
	var missing, extra []string
	for r := range registered {
		if !documented[r] {
			missing = append(missing, r)
		}
	}
	for r := range documented {
		if !registered[r] {
			extra = append(extra, r)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing) > 0 {
		t.Errorf("registered but not documented: %v", missing)
	}
	if len(extra) > 0 {
		t.Errorf("documented but not registered: %v", extra)
	}

	// The document is served, without a token, as the embedded bytes.
	res, err := http.Get(f.ts.URL + "/api/v1/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "application/json" || !bytes.Equal(b, api.OpenAPIDoc) {
		t.Fatalf("GET /api/v1/openapi.json: %d %q, %d bytes (want %d)", res.StatusCode, res.Header.Get("Content-Type"), len(b), len(api.OpenAPIDoc))
	}
}

// wsHeaders are a WebSocket handshake's.
func wsHeaders() map[string]string {
	return map[string]string{"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
		"Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}
}

func TestOpenAPIResponsesValidate(t *testing.T) {
	t.Parallel()
	f := newOAFixture(t)

	// Every documented GET, as admin, with real path parameters.
	pathValues := map[string]string{"{symbol}": url.PathEscape("NSE:NIFTY 50"), "{id}": f.orderID}
	var gets []string
	for path, item := range f.doc.Paths.Map() {
		if item.Get != nil {
			gets = append(gets, path)
		}
	}
	sort.Strings(gets)
	for _, path := range gets {
		p := path
		if strings.HasPrefix(path, "/api/v1/truedata/options/") { // an option, not an index
			p = strings.NewReplacer("{symbol}", oaOption, "{underlying}", "NIFTY").Replace(p)
		}
		for k, v := range pathValues {
			p = strings.ReplaceAll(p, k, v)
		}
		if strings.Contains(p, "{") {
			t.Errorf("GET %s: no value for its path parameters", path)
			continue
		}
		c := oaCall{method: http.MethodGet, path: p, token: f.admin, status: http.StatusOK}
		if path == "/api/v1/options/greeks" { // a calculator: its inputs are required
			c.path += "?type=CE&spot=24000&strike=24100&days=7&rate=0.065&vol=0.14"
		}
		if slices.Contains(f.doc.Paths.Value(path).Get.Tags, "websocket") {
			c.header, c.status = wsHeaders(), http.StatusSwitchingProtocols
			if path == "/api/v1/truedata/options/stream" {
				c.path += "?symbol=NIFTY"
			}
		}
		f.do(c)
	}
	for _, r := range gets {
		if !f.covered["GET "+r] {
			t.Errorf("GET %s was not exercised", r)
		}
	}

	// Filters, paging and as-of answers.
	for _, p := range []string{
		"/api/v1/events?limit=2&type=TickReceived,OrderFilled&stream=tick-*&from=1",
		"/api/v1/positions?account=acct-1&mode=paper&open=true&strategy=orb&symbol=NFO:NIFTY26NOVFUT",
		fmt.Sprintf("/api/v1/positions?position=%d", f.head-1),
		"/api/v1/positions?asOf=" + url.QueryEscape(time.Date(2026, 11, 20, 4, 0, 30, 0, time.UTC).Format(time.RFC3339)),
		"/api/v1/orders?limit=1", "/api/v1/orders?status=REJECTED&account=acct-3",
		"/api/v1/orders/" + f.rejectedID, fmt.Sprintf("/api/v1/orders/%s?position=%d", f.orderID, f.head),
		"/api/v1/dashboard/trades?limit=1&after=1", "/api/v1/signals?limit=1&status=ACCEPTED", "/api/v1/signals?before=1000&source=orb",
		"/api/v1/dashboard/summary?strategy=orb", "/api/v1/dashboard/summary?strategy=-&day=2026-11-20",
		"/api/v1/dashboard/pnl?fill=true&account=acct-1", "/api/v1/dashboard/performance?strategy=orb&mode=paper",
		"/api/v1/control/status?account=acct-1,acct-2", fmt.Sprintf("/api/v1/providers?position=%d", f.head),
		"/api/v1/market-data/quote/NIFTY26NOVFUT", "/api/v1/monitoring/metrics?prefix=algoauto_", "/api/v1/errors/recent?limit=5",
		"/api/v1/events?cursor=1&limit=1", "/api/v1/orders?cursor=1&limit=1", "/api/v1/dashboard/trades?cursor=1",
		"/api/v1/signals?cursor=1000&limit=1",
		"/api/v1/truedata/options/option-chain/nifty?expiry=2026-11-23", fmt.Sprintf("/api/v1/truedata/options/option-chain/NIFTY?position=%d", f.head),
		"/api/v1/truedata/options/greeks/NIFTY26112326000PE", "/api/v1/truedata/options/greeks/NFO:" + oaOption,
		"/api/v1/truedata/options/data/nifty26nov26000pe", "/api/v1/truedata/options/all-options?underlying=NIFTY",
		"/api/v1/truedata/options/all-options?underlying=FINNIFTY",
	} {
		f.do(oaCall{method: http.MethodGet, path: p, token: f.admin, status: http.StatusOK})
	}
	// The chain: both sides of the strike, model Greeks for the call, the
	// vendor's for the put.
	var chain struct {
		Expiry  string `json:"expiry"`
		Spot    float64
		Strikes []struct {
			CE, PE struct {
				Greeks struct {
					Source string  `json:"source"`
					Delta  float64 `json:"delta"`
				} `json:"greeks"`
			}
		} `json:"strikes"`
	}
	if err := json.Unmarshal(f.do(oaCall{method: http.MethodGet, path: "/api/v1/truedata/options/option-chain/NIFTY", token: f.trader, status: http.StatusOK}), &chain); err != nil {
		t.Fatal(err)
	}
	if chain.Expiry != "2026-11-23" || chain.Spot != 26000 || len(chain.Strikes) != 1 || chain.Strikes[0].CE.Greeks.Source != "model" ||
		chain.Strikes[0].CE.Greeks.Delta <= 0 || chain.Strikes[0].PE.Greeks.Source != "vendor" || chain.Strikes[0].PE.Greeks.Delta != -0.48 {
		t.Errorf("option chain: %+v", chain)
	}
	var sub struct {
		Subscribed []api.OptionSubscription `json:"subscribed"`
		Rooms      []string                 `json:"rooms"`
	}
	if err := json.Unmarshal(f.do(oaCall{method: http.MethodPost, path: "/api/v1/truedata/options/subscribe", token: f.trader,
		body: map[string]any{"symbols": []string{"NIFTY26112326000CE", "NFO:NIFTY26NOV26000PE"}}, status: http.StatusOK}), &sub); err != nil {
		t.Fatal(err)
	}
	if len(sub.Subscribed) != 2 || sub.Subscribed[0].Symbol != oaOption || sub.Subscribed[1].Type != domain.InstrumentPut ||
		len(sub.Rooms) != 1 || sub.Rooms[0] != "options:NIFTY" {
		t.Errorf("subscribe: %+v", sub)
	}
	// The users collection answers the same with and without its slash.
	if a, b := f.do(oaCall{method: http.MethodGet, path: "/api/v1/users/", token: f.admin, status: http.StatusOK}),
		f.do(oaCall{method: http.MethodGet, path: "/api/v1/users", token: f.admin, status: http.StatusOK}); !bytes.Equal(a, b) {
		t.Errorf("GET /api/v1/users/ %s, GET /api/v1/users %s", a, b)
	}
	var recent struct {
		Errors []monitoring.ErrorEntry `json:"errors"`
	}
	if err := json.Unmarshal(f.do(oaCall{method: http.MethodGet, path: "/api/v1/errors/recent", token: f.admin, status: http.StatusOK}), &recent); err != nil || len(recent.Errors) == 0 {
		t.Errorf("errors/recent: %+v %v, want the seeded warning", recent, err)
	}
	// A trader sees its own account (and signals without an account).
	for _, c := range []struct{ path, list string }{
		{"/api/v1/positions", "positions"}, {"/api/v1/orders", "orders"}, {"/api/v1/signals", "signals"},
		{"/api/v1/dashboard/summary", "accounts"},
	} {
		b := f.do(oaCall{method: http.MethodGet, path: c.path, token: f.trader, status: http.StatusOK})
		got := accountsOf(t, response{status: http.StatusOK, body: b}, c.list)
		if !slices.Contains(got, "acct-1") || slices.ContainsFunc(got, func(a string) bool { return a != "acct-1" && a != "" }) {
			t.Errorf("the trader of acct-1 sees %s of %v", c.list, got)
		}
	}
	f.do(oaCall{method: http.MethodGet, path: "/api/v1/users/current", token: f.trader, status: http.StatusOK})

	// Errors in the API's shape.
	for _, c := range []oaCall{
		{method: http.MethodGet, path: "/api/v1/positions", status: http.StatusUnauthorized},
		{method: http.MethodGet, path: "/api/v1/positions", token: "not-a-token", status: http.StatusUnauthorized},
		{method: http.MethodGet, path: "/api/v1/orders/no-such-order", token: f.admin, status: http.StatusNotFound},
		{method: http.MethodGet, path: "/api/v1/market-data/quote/NOPE", token: f.admin, status: http.StatusNotFound},
		{method: http.MethodGet, path: "/api/v1/positions?mode=demo", token: f.admin, status: http.StatusBadRequest, badRequest: true},
		{method: http.MethodGet, path: fmt.Sprintf("/api/v1/orders?position=%d", f.head+100), token: f.admin, status: http.StatusBadRequest},
		{method: http.MethodGet, path: "/api/v1/dashboard/pnl?day=20-11-2026", token: f.admin, status: http.StatusBadRequest, badRequest: true},
		// A parameter a sibling route takes but this one cannot apply is
		// refused, not ignored; so are a cursor and its alias together.
		{method: http.MethodGet, path: "/api/v1/dashboard/trades?status=FILLED", token: f.admin, status: http.StatusBadRequest, badRequest: true},
		{method: http.MethodGet, path: "/api/v1/dashboard/summary?fill=true", token: f.admin, status: http.StatusBadRequest, badRequest: true},
		{method: http.MethodGet, path: "/api/v1/dashboard/performance?fill=false", token: f.admin, status: http.StatusBadRequest, badRequest: true},
		{method: http.MethodGet, path: "/api/v1/dashboard/performance?day=2026-11-20", token: f.admin, status: http.StatusBadRequest, badRequest: true},
		{method: http.MethodGet, path: "/api/v1/orders?cursor=1&after=2", token: f.admin, status: http.StatusBadRequest},
		{method: http.MethodGet, path: "/api/v1/events", token: f.trader, status: http.StatusForbidden},
		{method: http.MethodGet, path: "/api/v1/positions?account=acct-2", token: f.trader, status: http.StatusForbidden},
		{method: http.MethodPost, path: "/api/v1/projections/nope/rebuild", token: f.admin, status: http.StatusNotFound},
		{method: http.MethodPost, path: "/api/v1/users", token: f.admin, body: map[string]string{"username": "trader1", "password": "whatever-1"}, status: http.StatusConflict},
		{method: http.MethodPost, path: "/api/v1/users", token: f.admin, body: map[string]any{"username": "x", "extra": 1}, status: http.StatusBadRequest, badRequest: true},
		{method: http.MethodPut, path: "/api/v1/users/" + f.adminID + "/role", token: f.admin, body: map[string]string{"role": "viewer"}, status: http.StatusConflict},
		{method: http.MethodPut, path: "/api/v1/users/nobody/role", token: f.admin, body: map[string]string{"role": "viewer"}, status: http.StatusNotFound},
		{method: http.MethodPost, path: "/auth/login", body: map[string]string{"username": "admin", "password": "wrong-password"}, status: http.StatusUnauthorized},
		{method: http.MethodPost, path: "/auth/login", body: map[string]string{"username": "ghost", "password": "wrong-password"}, status: http.StatusUnauthorized},
		{method: http.MethodPost, path: "/auth/login", body: map[string]string{"username": "ghost", "password": "wrong-password"}, status: http.StatusUnauthorized},
		{method: http.MethodPost, path: "/auth/login", body: map[string]string{"username": "ghost", "password": "wrong-password"}, status: http.StatusTooManyRequests},
		{method: http.MethodPost, path: "/auth/refresh", body: map[string]string{"refresh_token": "nope"}, status: http.StatusUnauthorized},
		// WebSocket refusals.
		{method: http.MethodGet, path: "/ws", header: wsHeaders(), status: http.StatusUnauthorized},
		{method: http.MethodGet, path: "/ws?access_token=bad", header: wsHeaders(), status: http.StatusUnauthorized},
		{method: http.MethodGet, path: "/ws", token: f.admin, header: map[string]string{"Origin": "https://evil.example"}, status: http.StatusForbidden},
		{method: http.MethodGet, path: "/ws", token: f.admin, status: http.StatusUpgradeRequired},
		{method: http.MethodGet, path: "/api/v1/truedata/options/stream?symbol=no/such", token: f.admin, header: wsHeaders(), status: http.StatusBadRequest},
		// Options: unknown underlyings, expiries and symbols.
		{method: http.MethodGet, path: "/api/v1/truedata/options/option-chain/FINNIFTY", token: f.admin, status: http.StatusNotFound},
		{method: http.MethodGet, path: "/api/v1/truedata/options/option-chain/NIFTY?expiry=2026-12-01", token: f.admin, status: http.StatusNotFound},
		{method: http.MethodGet, path: "/api/v1/truedata/options/option-chain/NIFTY?expiry=01-12-2026", token: f.admin, status: http.StatusBadRequest, badRequest: true},
		{method: http.MethodGet, path: "/api/v1/truedata/options/greeks/NIFTY26NOVFUT", token: f.admin, status: http.StatusNotFound},
		{method: http.MethodGet, path: "/api/v1/truedata/options/data/NIFTY26NOV99000CE", token: f.admin, status: http.StatusNotFound},
		{method: http.MethodPost, path: "/api/v1/truedata/options/subscribe", token: f.trader, body: map[string]any{"symbols": []string{oaOption, "NIFTY26NOV99000CE"}}, status: http.StatusBadRequest},
		{method: http.MethodPost, path: "/api/v1/truedata/options/subscribe", token: f.trader, body: map[string]any{"symbols": []string{}}, status: http.StatusBadRequest, badRequest: true},
	} {
		f.do(c)
	}

	// 405 has no operation to validate against: check the shared response.
	del, err := http.NewRequest(http.MethodDelete, f.ts.URL+"/api/v1/positions", nil)
	if err != nil {
		t.Fatal(err)
	}
	del.Header.Set("Authorization", "Bearer "+f.admin)
	resp, err := http.DefaultClient.Do(del)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	err = json.NewDecoder(resp.Body).Decode(&v)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") == "" {
		t.Fatalf("DELETE /api/v1/positions: %d %v allow %q", resp.StatusCode, err, resp.Header.Get("Allow"))
	}
	mna := f.doc.Components.Responses["MethodNotAllowed"].Value.Content.Get("application/json").Schema.Value
	if err := mna.VisitJSON(v); err != nil {
		t.Fatalf("405 answer %v does not match the document: %v", v, err)
	}

	// The trader holds oaMaxSockets sockets: one more is 429.
	for i := range oaMaxSockets {
		req, err := http.NewRequest(http.MethodGet, f.ts.URL+"/ws?access_token="+url.QueryEscape(f.trader), nil)
		if err != nil {
			t.Fatal(err)
		}
		for k, val := range wsHeaders() {
			req.Header.Set(k, val)
		}
		sock, err := http.DefaultClient.Do(req)
		if err != nil || sock.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("socket %d: %v %v", i, sock, err)
		}
		t.Cleanup(func() { sock.Body.Close() })
	}
	f.do(oaCall{method: http.MethodGet, path: "/ws?access_token=" + url.QueryEscape(f.trader), header: wsHeaders(), status: http.StatusTooManyRequests})

	// Trading: the write side (no fresh tick here, so orders are refused
	// as stale and signals rejected).
	acct := map[string]any{} // the trader's paper account
	for _, c := range []oaCall{
		{method: http.MethodPost, path: "/api/v1/control/start", token: f.trader, body: acct, status: http.StatusOK},
		{method: http.MethodGet, path: "/api/v1/control/paper-trading", token: f.trader, status: http.StatusOK},
		{method: http.MethodPost, path: "/api/v1/control/pause", token: f.trader, body: acct, status: http.StatusOK},
		{method: http.MethodPost, path: "/api/v1/control/resume", token: f.trader, body: acct, status: http.StatusOK},
		{method: http.MethodPost, path: "/api/v1/control/start", token: f.trader, body: map[string]any{"account": "acct-2"}, status: http.StatusForbidden},
		{method: http.MethodPost, path: "/api/v1/orders", token: f.trader, header: map[string]string{"Idempotency-Key": "k1"},
			body: map[string]any{"symbol": "NFO:NIFTY26NOVFUT", "side": "BUY", "quantity": 65}, status: http.StatusUnprocessableEntity},
		{method: http.MethodPatch, path: "/api/v1/orders/nope", token: f.trader, body: map[string]any{"price": 24000.05}, status: http.StatusNotFound},
		{method: http.MethodDelete, path: "/api/v1/orders/nope", token: f.trader, status: http.StatusNotFound},
		{method: http.MethodPost, path: "/api/v1/signals", token: f.trader, header: map[string]string{"Idempotency-Key": "alert-1"},
			body: map[string]any{"symbol": "NFO:NIFTY26NOVFUT", "side": "SELL", "quantity": 65}, status: http.StatusCreated},
		{method: http.MethodPost, path: "/api/v1/control/paper-trading", token: f.admin, body: map[string]any{"account": "paper-trader1", "paper": false, "confirm": "LIVE"}, status: http.StatusConflict},
		{method: http.MethodPost, path: "/api/v1/control/kill-switch", token: f.trader, body: map[string]any{"reason": "test"}, status: http.StatusOK},
		{method: http.MethodPost, path: "/api/v1/control/kill-switch/reset", token: f.trader, body: map[string]any{"confirm": "RESET", "reason": "x"}, status: http.StatusForbidden},
		{method: http.MethodPost, path: "/api/v1/control/kill-switch/reset", token: f.admin, body: map[string]any{"account": "paper-trader1", "confirm": "RESET", "reason": "x"}, status: http.StatusConflict},
		{method: http.MethodPost, path: "/api/v1/control/stop?flatten=true", token: f.trader, body: acct, status: http.StatusOK},
		{method: http.MethodPost, path: "/api/v1/autonomous/enable", token: f.trader, body: map[string]any{"strategy": "ma-crossover", "params": map[string]any{"fast": 5, "slow": 20}}, status: http.StatusOK},
		{method: http.MethodPost, path: "/api/v1/autonomous/enable", token: f.trader, body: map[string]any{"strategy": "ma-crossover", "params": map[string]any{"fast": 20, "slow": 5}}, status: http.StatusBadRequest},
		{method: http.MethodPost, path: "/api/v1/autonomous/enable", token: f.trader, body: map[string]any{"strategy": "martingale"}, status: http.StatusBadRequest},
		{method: http.MethodGet, path: "/api/v1/autonomous/strategies", token: f.trader, status: http.StatusOK},
		{method: http.MethodGet, path: "/api/v1/autonomous/status", token: f.trader, status: http.StatusOK},
		{method: http.MethodPut, path: "/api/v1/control/risk-limits", token: f.trader, body: map[string]any{"limits": map[string]any{"max_order_qty": 1800}}, status: http.StatusForbidden},
		{method: http.MethodPut, path: "/api/v1/control/risk-limits", token: f.admin, body: map[string]any{"account": "paper-trader1", "limits": map[string]any{"max_orders_per_sec": 12}}, status: http.StatusBadRequest},
		{method: http.MethodPut, path: "/api/v1/control/risk-limits", token: f.admin, body: map[string]any{"account": "paper-trader1", "limits": map[string]any{"max_order_qty": 1800, "max_daily_loss": 25000}}, status: http.StatusOK},
		{method: http.MethodPost, path: "/api/v1/autonomous/disable", token: f.trader, body: map[string]any{"strategy": "ma-crossover"}, status: http.StatusOK},
	} {
		f.do(c)
	}

	// API keys: an admin creates one; it submits signals (for its source,
	// on its account) and nothing else; revoked, it is refused.
	var created struct {
		APIKey auth.APIKey `json:"api_key"`
		Secret string      `json:"secret"`
	}
	hook := map[string]any{"symbol": "NFO:NIFTY26NOVFUT", "side": "SELL", "quantity": 65}
	f.do(oaCall{method: http.MethodPost, path: "/api/v1/api-keys", token: f.trader, body: map[string]string{"source": "n8n", "account": "paper-trader1"}, status: http.StatusForbidden})
	if err := json.Unmarshal(f.do(oaCall{method: http.MethodPost, path: "/api/v1/api-keys", token: f.admin,
		body: map[string]string{"source": "n8n", "account": "paper-trader1", "name": "alerts"}, status: http.StatusCreated}), &created); err != nil || created.Secret == "" {
		t.Fatalf("create api key: %v", err)
	}
	withKey := func(idem string) map[string]string {
		return map[string]string{"X-API-Key": created.Secret, "Idempotency-Key": idem}
	}
	for _, c := range []oaCall{
		{method: http.MethodGet, path: "/api/v1/api-keys", token: f.admin, status: http.StatusOK},
		{method: http.MethodPost, path: "/api/v1/signals", header: withKey("hook-1"), body: hook, status: http.StatusCreated},
		{method: http.MethodPost, path: "/api/v1/signals", header: withKey("hook-1"), body: hook, status: http.StatusOK},
		{method: http.MethodPost, path: "/api/v1/signals", header: withKey("hook-2"), body: map[string]any{"account": "acct-2", "symbol": "NFO:NIFTY26NOVFUT", "side": "SELL", "quantity": 65}, status: http.StatusForbidden},
		{method: http.MethodGet, path: "/api/v1/positions", header: withKey("hook-3"), status: http.StatusUnauthorized},
		{method: http.MethodDelete, path: "/api/v1/api-keys/" + created.APIKey.ID, token: f.trader, status: http.StatusForbidden},
		{method: http.MethodDelete, path: "/api/v1/api-keys/" + created.APIKey.ID, token: f.admin, status: http.StatusOK},
		{method: http.MethodDelete, path: "/api/v1/api-keys/nope", token: f.admin, status: http.StatusNotFound},
		{method: http.MethodPost, path: "/api/v1/signals", header: withKey("hook-4"), body: hook, status: http.StatusUnauthorized},
	} {
		f.do(c)
	}

	// Reconciliation: acct-stray's broker holds 65 NIFTY26NOVFUT the log
	// does not know. A check blocks the account; an admin adopts.
	stray := map[string]any{"account": "acct-stray"}
	adopt := func(confirm string) map[string]any {
		return map[string]any{"account": "acct-stray", "instrument": "NFO:NIFTY26NOVFUT", "confirm": confirm, "reason": "bought in Kite web"}
	}
	recOf := func(b []byte) (r struct {
		Blocked bool `json:"blocked"`
		Adopted int  `json:"adopted"`
		Diffs   []struct {
			Kind   string `json:"kind"`
			Theirs int64  `json:"theirs"`
		} `json:"diffs"`
	}) {
		t.Helper()
		var st struct {
			Reconciliation json.RawMessage `json:"reconciliation"`
		}
		if err := json.Unmarshal(b, &st); err != nil || json.Unmarshal(st.Reconciliation, &r) != nil {
			t.Fatalf("reconciliation in %s: %v", b, err)
		}
		return r
	}
	f.do(oaCall{method: http.MethodPost, path: "/api/v1/control/reconciliation/check", token: f.trader, body: map[string]any{}, status: http.StatusForbidden})
	rec := recOf(f.do(oaCall{method: http.MethodPost, path: "/api/v1/control/reconciliation/check", token: f.admin, body: stray, status: http.StatusOK}))
	if !rec.Blocked || len(rec.Diffs) != 1 || rec.Diffs[0].Kind != "position_mismatch" || rec.Diffs[0].Theirs != 65 {
		t.Fatalf("check: %+v", rec)
	}
	b := f.do(oaCall{method: http.MethodPost, path: "/api/v1/control/start", token: f.admin, body: stray, status: http.StatusUnprocessableEntity})
	if e := (response{body: b}).errorCode(t); e.Error.Rule != "reconciliation" {
		t.Fatalf("start while blocked: %s", b)
	}
	for _, c := range []oaCall{
		{method: http.MethodPost, path: "/api/v1/control/reconciliation/adopt", token: f.trader, body: adopt("ADOPT"), status: http.StatusForbidden},
		{method: http.MethodPost, path: "/api/v1/control/reconciliation/adopt", token: f.admin, body: adopt("adopt"), status: http.StatusBadRequest},
	} {
		f.do(c)
	}
	rec = recOf(f.do(oaCall{method: http.MethodPost, path: "/api/v1/control/reconciliation/adopt", token: f.admin, body: adopt("ADOPT"), status: http.StatusOK}))
	if rec.Blocked || len(rec.Diffs) != 0 || rec.Adopted != 1 {
		t.Fatalf("adopt: %+v", rec)
	}
	f.do(oaCall{method: http.MethodPost, path: "/api/v1/control/reconciliation/adopt", token: f.admin, body: adopt("ADOPT"), status: http.StatusConflict})
	f.do(oaCall{method: http.MethodPost, path: "/api/v1/control/start", token: f.admin, body: stray, status: http.StatusOK})
	// The control read model shows it too.
	f.wait(f.storeHead())
	var ctl struct {
		Accounts []json.RawMessage `json:"accounts"`
	}
	if err := json.Unmarshal(f.do(oaCall{method: http.MethodGet, path: "/api/v1/control/status?account=acct-stray", token: f.admin, status: http.StatusOK}), &ctl); err != nil || len(ctl.Accounts) != 1 {
		t.Fatalf("control status of acct-stray: %v %d", err, len(ctl.Accounts))
	}
	if rec := recOf(ctl.Accounts[0]); rec.Blocked || rec.Adopted != 1 {
		t.Fatalf("read model: %+v", rec)
	}

	// Writes, then the session-ending ones.
	var added auth.User
	b = f.do(oaCall{method: http.MethodPost, path: "/api/v1/users/", token: f.admin, body: map[string]string{"username": "viewer1", "password": "viewer-password-1"}, status: http.StatusCreated})
	if err := json.Unmarshal(b, &added); err != nil {
		t.Fatal(err)
	}
	for _, c := range []oaCall{
		{method: http.MethodPost, path: "/api/v1/users", token: f.admin, body: map[string]string{"username": "trader2", "password": "trader-password-2", "role": "trader"}, status: http.StatusCreated},
		{method: http.MethodPut, path: "/api/v1/users/" + added.ID + "/role", token: f.admin, body: map[string]string{"role": "trader"}, status: http.StatusOK},
		{method: http.MethodPost, path: "/api/v1/users/" + added.ID + "/accounts", token: f.admin, body: map[string]string{"account": "acct-9"}, status: http.StatusOK},
		{method: http.MethodDelete, path: "/api/v1/users/" + added.ID + "/accounts/acct-9", token: f.admin, status: http.StatusOK},
		{method: http.MethodDelete, path: "/api/v1/users/" + added.ID + "/accounts/paper-viewer1", token: f.admin, status: http.StatusBadRequest},
		{method: http.MethodPost, path: "/api/v1/projections/positions/rebuild", token: f.admin, status: http.StatusOK},
		{method: http.MethodPost, path: "/api/v1/projections/positions/rebuild", token: f.trader, status: http.StatusForbidden},
		{method: http.MethodPut, path: "/api/v1/users/settings", token: f.trader, body: map[string]any{"settings": map[string]string{"theme": "dark"}}, status: http.StatusOK},
		{method: http.MethodGet, path: "/api/v1/users/settings", token: f.trader, status: http.StatusOK},
		{method: http.MethodPut, path: "/api/v1/users/profile", token: f.trader, body: map[string]string{"old_password": "wrong-password", "new_password": "trader-password-2"}, status: http.StatusBadRequest},
	} {
		f.do(c)
	}
	var tok struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	b = f.do(oaCall{method: http.MethodPost, path: "/auth/login", body: map[string]string{"username": "viewer1", "password": "viewer-password-1"}, status: http.StatusOK})
	if err := json.Unmarshal(b, &tok); err != nil {
		t.Fatal(err)
	}
	b = f.do(oaCall{method: http.MethodPost, path: "/auth/refresh", body: map[string]string{"refresh_token": tok.RefreshToken}, status: http.StatusOK})
	if err := json.Unmarshal(b, &tok); err != nil {
		t.Fatal(err)
	}
	f.do(oaCall{method: http.MethodPost, path: "/auth/logout", token: tok.AccessToken, body: map[string]string{"refresh_token": tok.RefreshToken}, status: http.StatusOK})
	f.do(oaCall{method: http.MethodGet, path: "/auth/verify", token: tok.AccessToken, status: http.StatusUnauthorized})
	f.do(oaCall{method: http.MethodPut, path: "/api/v1/users/profile", token: f.trader, body: map[string]string{"old_password": oaTraderPassword, "new_password": "trader-password-2"}, status: http.StatusOK})
	f.do(oaCall{method: http.MethodPost, path: "/auth/logout", token: f.admin, status: http.StatusOK})

	// Every documented operation was exercised.
	for path, item := range f.doc.Paths.Map() {
		for method := range item.Operations() {
			if !f.covered[strings.ToUpper(method)+" "+path] {
				t.Errorf("%s %s was not exercised", method, path)
			}
		}
	}
}

// TestOpenAPIPagedLists checks the paging contract both ways: every list
// documented with a cursor documents limit and X-Next-Cursor (and
// next_cursor in an object answer) and vice versa, and each list's
// X-Next-Cursor, passed back as cursor=, reads the next page.
func TestOpenAPIPagedLists(t *testing.T) {
	t.Parallel()
	f := newOAFixture(t)
	var documented []string
	for path, item := range f.doc.Paths.Map() {
		for method, op := range item.Operations() {
			ok200 := op.Responses.Status(http.StatusOK)
			hasCursor := op.Parameters.GetByInAndName("query", "cursor") != nil
			hasHeader := ok200 != nil && ok200.Value.Headers["X-Next-Cursor"] != nil
			if !hasCursor && !hasHeader {
				continue
			}
			documented = append(documented, method+" "+path)
			if !hasCursor || !hasHeader || op.Parameters.GetByInAndName("query", "limit") == nil {
				t.Errorf("%s %s: cursor %v, limit %v, X-Next-Cursor %v: a paged list documents all three", method, path,
					hasCursor, op.Parameters.GetByInAndName("query", "limit") != nil, hasHeader)
				continue
			}
			schema := ok200.Value.Content.Get("application/json").Schema.Value
			if schema.Type.Is("object") && schema.Properties["next_cursor"] == nil {
				t.Errorf("%s %s: the answer lacks next_cursor", method, path)
			}
		}
	}
	sort.Strings(documented)
	want := []string{"GET /api/v1/dashboard/trades", "GET /api/v1/events", "GET /api/v1/orders", "GET /api/v1/signals"}
	if !slices.Equal(documented, want) {
		t.Errorf("paged lists in the document: %v, want %v", documented, want)
	}

	// Each list, a page of 1 at a time: the cursor leads through every item
	// exactly once, and the last page has none.
	for _, c := range []struct{ path, list, alias string }{
		{"/api/v1/events?type=OrderFilled", "", ""},
		{"/api/v1/orders?account=acct-1", "orders", "next_after"},
		{"/api/v1/dashboard/trades?mode=paper", "trades", "next_after"},
		{"/api/v1/signals?source=orb", "signals", "next_before"},
	} {
		full := f.do(oaCall{method: http.MethodGet, path: c.path, token: f.admin, status: http.StatusOK})
		all := pageItems(t, full, c.list)
		if len(all) < 2 {
			t.Fatalf("%s: %d items, want at least 2 to page", c.path, len(all))
		}
		var paged []json.RawMessage
		cursor := ""
		for page := 0; ; page++ {
			if page > len(all) {
				t.Fatalf("%s: paging did not end", c.path)
			}
			p := c.path + "&limit=1"
			if cursor != "" {
				p += "&cursor=" + cursor
			}
			b, h := f.doHeader(oaCall{method: http.MethodGet, path: p, token: f.admin, status: http.StatusOK})
			items := pageItems(t, b, c.list)
			paged = append(paged, items...)
			next := h.Get("X-Next-Cursor")
			if c.list != "" {
				var fields map[string]json.RawMessage
				if err := json.Unmarshal(b, &fields); err != nil {
					t.Fatal(err)
				}
				if string(fields["next_cursor"]) != next || string(fields[c.alias]) != next {
					t.Errorf("%s: X-Next-Cursor %q, next_cursor %s, %s %s: want one value", p, next, fields["next_cursor"], c.alias, fields[c.alias])
				}
			}
			if len(items) == 0 || next == "" {
				break
			}
			cursor = next
		}
		if len(paged) != len(all) {
			t.Errorf("%s: paged %d items, listed %d", c.path, len(paged), len(all))
		}
		for i := range min(len(paged), len(all)) {
			if !bytes.Equal(paged[i], all[i]) {
				t.Errorf("%s: item %d paged %s, listed %s", c.path, i, paged[i], all[i])
			}
		}
	}
}

// pageItems returns the items of a list answer: the array itself, or its
// field list.
func pageItems(t *testing.T, body []byte, list string) []json.RawMessage {
	t.Helper()
	var items []json.RawMessage
	if list == "" {
		if err := json.Unmarshal(body, &items); err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		return items
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	if err := json.Unmarshal(fields[list], &items); err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	return items
}

// TestOpenAPIUnavailableHealth checks the 503 answers of the probes
// against the document: the error shape with the details beside it.
func TestOpenAPIUnavailableHealth(t *testing.T) {
	t.Parallel()
	doc := loadOpenAPI(t)
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	f := &oaFixture{testEnv: &testEnv{t: t}, doc: doc, router: router, covered: map[string]bool{}} // no store: do's validation only
	down := errors.New("connection refused")
	srv := api.NewServer(api.Config{Ready: []api.Check{
		{Name: "store", Check: func(context.Context) error { return down }},
		{Name: "projections", Check: func(context.Context) error { return nil }},
	}}, api.Deps{Events: fakeReader{err: down}, Registry: codec.NewRegistry(), StoreKind: "postgres"})
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	type unavailable struct {
		Status string  `json:"status"`
		Checks []check `json:"checks"`
		Store  string  `json:"store"`
		Error  struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	var ready, db unavailable
	if err := json.Unmarshal(f.do(oaCall{base: ts.URL, method: http.MethodGet, path: "/health/ready", status: http.StatusServiceUnavailable}), &ready); err != nil {
		t.Fatal(err)
	}
	if ready.Status != "not_ready" || len(ready.Checks) != 2 || ready.Checks[0].OK || ready.Error.Code != "unavailable" ||
		!strings.Contains(ready.Error.Message, "store") || strings.Contains(ready.Error.Message, "projections") {
		t.Errorf("/health/ready: %+v", ready)
	}
	if err := json.Unmarshal(f.do(oaCall{base: ts.URL, method: http.MethodGet, path: "/api/v1/db-health/check", status: http.StatusServiceUnavailable}), &db); err != nil {
		t.Fatal(err)
	}
	if db.Status != "unavailable" || db.Store != "postgres" || db.Error.Code != "unavailable" || !strings.Contains(db.Error.Message, "connection refused") {
		t.Errorf("/api/v1/db-health/check: %+v", db)
	}
}
