package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/algoauto/algoauto/api"
	"github.com/algoauto/algoauto/api/auth"
	"github.com/algoauto/algoauto/domain"
	"github.com/algoauto/algoauto/engine"
	"github.com/algoauto/algoauto/eventstore"
)

// newKeyEnv serves the trading routes with authentication on: the admin,
// and asha, a trader.
func newKeyEnv(t *testing.T) (e *testEnv, eng *engine.Engine, admin, asha tokens) {
	t.Helper()
	b := &acceptingBroker{orders: map[string]*domain.BrokerOrder{}}
	e = newTestEnv(t, envConfig{readModels: marketAndTrading, server: func(e *testEnv, _ *api.Config, deps *api.Deps) {
		svc, _ := newAuthService(t, e.st, &authClock{t: time.Now()})
		if _, err := svc.AddUser(context.Background(), "asha", "asha-password", domain.RoleTrader, "test"); err != nil {
			t.Fatal(err)
		}
		deps.Auth = svc
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
	e.tick(domain.ExchangeNFO, "NIFTY26DECFUT", domain.Rupees(24000))
	deadline := time.Now().Add(10 * time.Second)
	for _, ok := eng.Tick("NFO:NIFTY26DECFUT"); !ok; _, ok = eng.Tick("NFO:NIFTY26DECFUT") {
		if time.Now().After(deadline) {
			t.Fatal("the engine did not see the tick within 10 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return e, eng, loginHTTP(t, e.ts.URL, "admin", adminPassword), loginHTTP(t, e.ts.URL, "asha", "asha-password")
}

type createdKey struct {
	APIKey auth.APIKey `json:"api_key"`
	Secret string      `json:"secret"`
}

func TestAPIKeysHTTP(t *testing.T) {
	t.Parallel()
	e, _, admin, asha := newKeyEnv(t)
	u := e.ts.URL
	bearer := func(tok tokens) string { return "Bearer " + tok.AccessToken }

	// Only admins manage keys.
	body := map[string]any{"source": "n8n", "account": "paper-asha", "name": "alerts"}
	wantError(t, send(t, "POST", u+"/api/v1/api-keys", body, "Authorization", bearer(asha)), http.StatusForbidden, "forbidden")
	wantError(t, send(t, "GET", u+"/api/v1/api-keys", nil, "Authorization", bearer(asha)), http.StatusForbidden, "forbidden")
	wantError(t, send(t, "POST", u+"/api/v1/api-keys", map[string]any{"source": "N 8N", "account": "paper-asha"}, "Authorization", bearer(admin)), http.StatusBadRequest, "invalid", "source")
	r := send(t, "POST", u+"/api/v1/api-keys", body, "Authorization", bearer(admin))
	var ck createdKey
	r.decode(t, &ck)
	if r.status != http.StatusCreated || !strings.HasPrefix(ck.Secret, "aak_") || ck.APIKey.Source != "n8n" || ck.APIKey.Account != "paper-asha" {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	key := ck.Secret
	r = send(t, "GET", u+"/api/v1/api-keys", nil, "Authorization", bearer(admin))
	if r.status != http.StatusOK || strings.Contains(string(r.body), key) || strings.Contains(string(r.body), key[4:]) ||
		strings.Contains(string(r.body), "hash") || strings.Contains(string(r.body), "secret") || !strings.Contains(string(r.body), ck.APIKey.ID) {
		t.Fatalf("list: %d %s", r.status, r.body)
	}

	// A signal with the key: the engine decides as usual (stopped: rejected;
	// running: accepted), recorded with the key's source and account.
	sig := map[string]any{"symbol": "NFO:NIFTY26DECFUT", "side": "SELL", "quantity": 65}
	r = send(t, "POST", u+"/api/v1/signals", sig, "X-API-Key", key, "Idempotency-Key", "tv-1")
	var sr engine.SignalResult
	r.decode(t, &sr)
	if r.status != http.StatusCreated || sr.Status != engine.SignalRejected || sr.Rule != "trading_stopped" {
		t.Fatalf("signal while stopped: %d %s", r.status, r.body)
	}
	if sr.SignalID != engine.SignalID("n8n", "tv-1") {
		t.Fatalf("signal id %s: want the id of source n8n", sr.SignalID)
	}
	if r := send(t, "POST", u+"/api/v1/control/start", map[string]any{"account": "paper-asha"}, "Authorization", bearer(admin)); r.status != http.StatusOK {
		t.Fatalf("start: %d %s", r.status, r.body)
	}
	sig["account"] = "paper-asha"
	r = send(t, "POST", u+"/api/v1/signals", sig, "X-API-Key", key, "Idempotency-Key", "tv-2")
	r.decode(t, &sr)
	if r.status != http.StatusCreated || sr.Status != engine.SignalAccepted || len(sr.OrderIDs) != 1 {
		t.Fatalf("signal while running: %d %s", r.status, r.body)
	}
	evs, err := e.st.ReadStream(context.Background(), domain.SignalStream("n8n"), eventstore.ReadStreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	raised := 0
	for _, ev := range evs {
		if ev.Type != domain.TypeSignalRaised {
			continue
		}
		raised++
		var sr domain.SignalRaised
		var md eventstore.Metadata
		if err := json.Unmarshal(ev.Data, &sr); err != nil || sr.Source != "n8n" || sr.Account != "paper-asha" {
			t.Errorf("signal: %+v %v", sr, err)
		}
		if err := json.Unmarshal(ev.Metadata, &md); err != nil || md.User != "apikey:"+ck.APIKey.ID || md.Source != "n8n" {
			t.Errorf("signal metadata: %s %v", ev.Metadata, err)
		}
	}
	if raised != 2 {
		t.Fatalf("signal-n8n holds %d SignalRaised, want 2", raised)
	}
	// The idempotency key is still required; another account is a 403.
	wantError(t, send(t, "POST", u+"/api/v1/signals", sig, "X-API-Key", key), http.StatusBadRequest, "invalid", "idempotency_key")
	sig["account"] = "paper-admin"
	wantError(t, send(t, "POST", u+"/api/v1/signals", sig, "X-API-Key", key, "Idempotency-Key", "tv-3"), http.StatusForbidden, "forbidden", "paper-asha")
	delete(sig, "account")

	// A token still works, under the user's source.
	r = send(t, "POST", u+"/api/v1/signals", sig, "Authorization", bearer(asha), "Idempotency-Key", "tv-1")
	r.decode(t, &sr)
	if r.status != http.StatusCreated || sr.SignalID != engine.SignalID("user:asha", "tv-1") {
		t.Fatalf("signal with a token: %d %s", r.status, r.body)
	}

	// Wrong keys, and keys on any other route, are 401s.
	wantUnauthorized(t, send(t, "POST", u+"/api/v1/signals", sig, "X-API-Key", key+"x", "Idempotency-Key", "tv-4"))
	wantUnauthorized(t, send(t, "POST", u+"/api/v1/signals", sig, "X-API-Key", "not-a-key", "Idempotency-Key", "tv-4"))
	wantUnauthorized(t, send(t, "GET", u+"/api/v1/signals", nil, "X-API-Key", key))
	wantUnauthorized(t, send(t, "POST", u+"/api/v1/orders", sig, "X-API-Key", key, "Idempotency-Key", "tv-4"))
	wantUnauthorized(t, send(t, "GET", u+"/api/v1/api-keys", nil, "X-API-Key", key))

	// Revoking: admins only; the key is refused from then on.
	wantError(t, send(t, "DELETE", u+"/api/v1/api-keys/"+ck.APIKey.ID, nil, "Authorization", bearer(asha)), http.StatusForbidden, "forbidden")
	wantError(t, send(t, "DELETE", u+"/api/v1/api-keys/0190b6a6-0000-7000-8000-000000000000", nil, "Authorization", bearer(admin)), http.StatusNotFound, "not_found")
	r = send(t, "DELETE", u+"/api/v1/api-keys/"+ck.APIKey.ID, nil, "Authorization", bearer(admin))
	var rk struct {
		APIKey auth.APIKey `json:"api_key"`
	}
	r.decode(t, &rk)
	if r.status != http.StatusOK || !rk.APIKey.Revoked {
		t.Fatalf("revoke: %d %s", r.status, r.body)
	}
	wantUnauthorized(t, send(t, "POST", u+"/api/v1/signals", sig, "X-API-Key", key, "Idempotency-Key", "tv-5"))
}

// Failed keys are limited per address like logins: 429 with Retry-After.
func TestAPIKeyRateLimitHTTP(t *testing.T) {
	t.Parallel()
	e, _, _, _ := newKeyEnv(t)
	sig := map[string]any{"symbol": "NFO:NIFTY26DECFUT", "side": "SELL", "quantity": 65}
	for range 20 {
		wantUnauthorized(t, send(t, "POST", e.ts.URL+"/api/v1/signals", sig, "X-API-Key", "aak_wrong", "Idempotency-Key", "k"))
	}
	r := send(t, "POST", e.ts.URL+"/api/v1/signals", sig, "X-API-Key", "aak_wrong", "Idempotency-Key", "k")
	wantError(t, r, http.StatusTooManyRequests, "rate_limited")
	if r.header.Get("Retry-After") == "" {
		t.Fatal("no Retry-After")
	}
}
