package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/algoauto/algoauto/api"
	"github.com/algoauto/algoauto/domain"
	"github.com/algoauto/algoauto/engine"
)

// acceptingBroker accepts every order and cancels on request.
type acceptingBroker struct {
	mu     sync.Mutex
	orders map[string]*domain.BrokerOrder
}

func (b *acceptingBroker) Name() string { return "stub" }
func (b *acceptingBroker) Place(_ context.Context, o domain.OrderIntentRecorded) (domain.ExecutionReport, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	id := fmt.Sprintf("B%d", len(b.orders)+1)
	b.orders[o.ClientOrderID] = &domain.BrokerOrder{BrokerOrderID: id, ClientOrderID: o.ClientOrderID, Status: domain.BrokerOpen, Quantity: o.Quantity}
	return domain.ExecutionReport{Kind: domain.ReportAccepted, ClientOrderID: o.ClientOrderID, BrokerOrderID: id}, nil
}
func (b *acceptingBroker) Modify(_ context.Context, cid string, _ domain.OrderChange) (domain.ExecutionReport, error) {
	return domain.ExecutionReport{Kind: domain.ReportModified, ClientOrderID: cid}, nil
}
func (b *acceptingBroker) Cancel(_ context.Context, cid string) (domain.ExecutionReport, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if o := b.orders[cid]; o != nil && !o.Status.Final() {
		o.Status = domain.BrokerCancelled
		return domain.ExecutionReport{Kind: domain.ReportCancelled, ClientOrderID: cid}, nil
	}
	return domain.ExecutionReport{Kind: domain.ReportRejected, ClientOrderID: cid, Reason: "not open"}, nil
}
func (b *acceptingBroker) Lookup(_ context.Context, cid string) (domain.BrokerOrder, bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if o := b.orders[cid]; o != nil {
		return *o, true, nil
	}
	return domain.BrokerOrder{}, false, nil
}
func (b *acceptingBroker) Orders(context.Context) ([]domain.BrokerOrder, error) { return nil, nil }
func (b *acceptingBroker) Positions(context.Context) ([]domain.BrokerPosition, error) {
	return nil, nil
}
func (b *acceptingBroker) Holdings(context.Context) ([]domain.BrokerHolding, error) { return nil, nil }

// newTradingEnv serves the read models and the trading routes over one
// engine (open server: the caller is a local admin).
func newTradingEnv(t *testing.T) (*testEnv, *engine.Engine) {
	b := &acceptingBroker{orders: map[string]*domain.BrokerOrder{}}
	var eng *engine.Engine
	e := newTestEnv(t, envConfig{server: func(e *testEnv, _ *api.Config, deps *api.Deps) {
		// The engine's clock is the ticks' time (10:00 IST), so they are fresh.
		eng = engine.New(e.st, e.reg, engine.Config{Now: func() time.Time { return time.Date(2026, 11, 20, 10, 0, 1, 0, domain.IST()) },
			BrokerFor: func(string, domain.Mode) (engine.Broker, error) { return b, nil }})
		if err := eng.Load(context.Background()); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- eng.Run(ctx) }()
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Error(err)
			}
		})
		deps.Trading = eng
	}})
	return e, eng
}

func send(t *testing.T, method, url string, body any, header ...string) response {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: res.StatusCode, header: res.Header, body: b}
}

type errBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Rule    string `json:"rule"`
	} `json:"error"`
}

func (r response) errorCode(t *testing.T) errBody {
	t.Helper()
	var e errBody
	r.decode(t, &e)
	return e
}

func TestTradingRoutes(t *testing.T) {
	e, eng := newTradingEnv(t)
	u := e.ts.URL
	e.tick(domain.ExchangeNFO, "NIFTY26DECFUT", domain.Rupees(24000))
	deadline := time.Now().Add(10 * time.Second)
	for _, ok := eng.Tick("NFO:NIFTY26DECFUT"); !ok; _, ok = eng.Tick("NFO:NIFTY26DECFUT") {
		if time.Now().After(deadline) {
			t.Fatal("the engine did not see the tick within 10 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	acct := map[string]any{"account": "paper-asha"}
	if r := send(t, "POST", u+"/api/v1/orders", map[string]any{"account": "paper-asha", "symbol": "NFO:NIFTY26DECFUT", "side": "BUY", "quantity": 65}); r.status != http.StatusConflict {
		t.Fatalf("order while stopped: %d %s", r.status, r.body)
	}
	r := send(t, "POST", u+"/api/v1/control/start", acct)
	var st struct {
		State      string `json:"state"`
		Paper      bool   `json:"paper"`
		KillSwitch struct {
			Active bool   `json:"active"`
			Reason string `json:"reason"`
		} `json:"kill_switch"`
		OpenOrders int `json:"open_orders"`
	}
	r.decode(t, &st)
	if r.status != http.StatusOK || st.State != "running" || !st.Paper {
		t.Fatalf("start: %d %s", r.status, r.body)
	}
	// A risk limit refuses an order over it with 422 and the rule.
	if r := send(t, "PUT", u+"/api/v1/control/risk-limits", map[string]any{"account": "paper-asha", "limits": map[string]any{"max_order_qty": 65}}); r.status != http.StatusOK ||
		!bytes.Contains(r.body, []byte(`"max_order_qty":65`)) {
		t.Fatalf("risk limits: %d %s", r.status, r.body)
	}
	r = send(t, "POST", u+"/api/v1/orders", map[string]any{"account": "paper-asha", "symbol": "NFO:NIFTY26DECFUT", "side": "BUY", "quantity": 130})
	if eb := r.errorCode(t); r.status != http.StatusUnprocessableEntity || eb.Error.Rule != "max_order_qty" {
		t.Fatalf("order over max_order_qty: %d %s", r.status, r.body)
	}
	if r := send(t, "POST", u+"/api/v1/control/pause?flatten=true", acct); r.status != http.StatusBadRequest {
		t.Fatalf("pause with flatten: %d %s", r.status, r.body)
	}
	order := map[string]any{"account": "paper-asha", "symbol": "NFO:NIFTY26DECFUT", "side": "BUY", "quantity": 65, "type": "LIMIT", "price": 24000.5}
	r = send(t, "POST", u+"/api/v1/orders", order, "Idempotency-Key", "o-1")
	var res engine.OrderResult
	r.decode(t, &res)
	if r.status != http.StatusCreated || res.Status != "open" || res.BrokerOrderID != "B1" {
		t.Fatalf("place: %d %s", r.status, r.body)
	}
	if r := send(t, "POST", u+"/api/v1/orders", order, "Idempotency-Key", "o-1"); r.status != http.StatusOK || !bytes.Contains(r.body, []byte(`"duplicate":true`)) {
		t.Fatalf("repeat: %d %s", r.status, r.body)
	}
	if r := send(t, "POST", u+"/api/v1/orders", map[string]any{"symbol": "X", "side": "BUY", "quantity": 1, "leverage": 10}); r.status != http.StatusBadRequest {
		t.Fatalf("unknown field: %d %s", r.status, r.body)
	}
	if r := send(t, "PATCH", u+"/api/v1/orders/"+res.OrderID, map[string]any{"price": 24001}); r.status != http.StatusOK {
		t.Fatalf("modify: %d %s", r.status, r.body)
	}
	if r := send(t, "PATCH", u+"/api/v1/orders/nope", map[string]any{"price": 24001}); r.status != http.StatusNotFound {
		t.Fatalf("modify unknown: %d %s", r.status, r.body)
	}
	if r := send(t, "DELETE", u+"/api/v1/orders/"+res.OrderID, nil); r.status != http.StatusOK || !bytes.Contains(r.body, []byte(`"status":"cancelled"`)) {
		t.Fatalf("cancel: %d %s", r.status, r.body)
	}
	if r := send(t, "DELETE", u+"/api/v1/orders/"+res.OrderID, nil); r.status != http.StatusConflict {
		t.Fatalf("cancel twice: %d %s", r.status, r.body)
	}

	// Signals: the key is required; a repeat answers the first result.
	sig := map[string]any{"account": "paper-asha", "symbol": "NFO:NIFTY26DECFUT", "side": "SELL", "quantity": 65}
	if r := send(t, "POST", u+"/api/v1/signals", sig); r.status != http.StatusBadRequest {
		t.Fatalf("signal without a key: %d %s", r.status, r.body)
	}
	r = send(t, "POST", u+"/api/v1/signals", sig, "Idempotency-Key", "alert-7")
	var sr engine.SignalResult
	r.decode(t, &sr)
	if r.status != http.StatusCreated || sr.Status != engine.SignalAccepted || len(sr.OrderIDs) != 1 {
		t.Fatalf("signal: %d %s", r.status, r.body)
	}
	if r := send(t, "POST", u+"/api/v1/signals", sig, "Idempotency-Key", "alert-7"); r.status != http.StatusOK || !bytes.Contains(r.body, []byte(sr.OrderIDs[0])) {
		t.Fatalf("signal repeat: %d %s", r.status, r.body)
	}

	// The kill switch cancels the open order (the signal's), refuses new
	// orders with 422 and its rule, and resets only with the confirmation.
	r = send(t, "POST", u+"/api/v1/control/kill-switch", map[string]any{"account": "paper-asha", "reason": "manual test"})
	r.decode(t, &st)
	if r.status != http.StatusOK || !st.KillSwitch.Active || st.KillSwitch.Reason != "manual test" || st.OpenOrders != 0 || st.State != "stopped" {
		t.Fatalf("kill: %d %s", r.status, r.body)
	}
	r = send(t, "POST", u+"/api/v1/orders", order)
	if eb := r.errorCode(t); r.status != http.StatusUnprocessableEntity || eb.Error.Code != "refused" || eb.Error.Rule != "kill_switch" {
		t.Fatalf("order under the kill switch: %d %s", r.status, r.body)
	}
	if r := send(t, "POST", u+"/api/v1/control/kill-switch/reset", map[string]any{"account": "paper-asha", "reason": "ok"}); r.status != http.StatusBadRequest {
		t.Fatalf("reset without confirmation: %d %s", r.status, r.body)
	}
	if r := send(t, "POST", u+"/api/v1/control/kill-switch/reset", map[string]any{"account": "paper-asha", "reason": "ok", "confirm": "RESET"}); r.status != http.StatusConflict {
		t.Fatalf("reset inside the cooldown: %d %s", r.status, r.body)
	}
	// Going live needs the confirmation and a broker session.
	if r := send(t, "POST", u+"/api/v1/control/paper-trading", map[string]any{"account": "paper-asha", "paper": false}); r.status != http.StatusBadRequest {
		t.Fatalf("live without confirmation: %d %s", r.status, r.body)
	}
	if r := send(t, "POST", u+"/api/v1/control/paper-trading", map[string]any{"account": "paper-asha", "paper": false, "confirm": "LIVE"}); r.status != http.StatusConflict {
		t.Fatalf("live without a broker session: %d %s", r.status, r.body)
	}
	if r := get(t, u+"/api/v1/control/paper-trading?account=paper-asha"); r.status != http.StatusOK || !bytes.Contains(r.body, []byte(`"paper":true`)) {
		t.Fatalf("paper-trading: %d %s", r.status, r.body)
	}
}
