package api_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/algoauto/algoauto/api"
	"github.com/algoauto/algoauto/api/auth"
	"github.com/algoauto/algoauto/domain"
	"github.com/algoauto/algoauto/eventstore/codec"
	"github.com/algoauto/algoauto/monitoring"
)

// authClock is a settable clock for token expiry and rate limits.
type authClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *authClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *authClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

const adminPassword = "admin-password-1"

// authFixture is an API with authentication on, an admin, and helpers.
type authFixture struct {
	t     *testing.T
	svc   *auth.Service
	key   []byte
	clock *authClock
	ts    *httptest.Server
}

// newAuthService returns a loaded auth service over st with cheap hashing
// and an admin whose password is adminPassword.
func newAuthService(t *testing.T, st auth.Store, clock *authClock) (*auth.Service, []byte) {
	t.Helper()
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	svc, err := auth.NewService(st, auth.Config{Key: key, Now: clock.Now,
		Params: auth.Params{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := svc.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if created, _, err := svc.Bootstrap(ctx, adminPassword); err != nil || !created {
		t.Fatalf("bootstrap: %v %v", created, err)
	}
	return svc, key
}

func newAuthFixture(t *testing.T) *authFixture {
	t.Helper()
	st := MustOpenStore(t)
	f := &authFixture{t: t, clock: &authClock{t: time.Now()}}
	f.svc, f.key = newAuthService(t, st, f.clock)
	srv := api.NewServer(api.Config{}, api.Deps{Events: st, Registry: codec.NewRegistry(), Monitor: monitoring.New(), Auth: f.svc})
	f.ts = httptest.NewServer(srv.Handler())
	t.Cleanup(f.ts.Close)
	return f
}

// call makes a request with an optional bearer token and JSON body.
func call(tb testing.TB, method, rawURL, token string, body any) response {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(ctx, method, rawURL, rd)
	if err != nil {
		tb.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, rawURL, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return response{status: res.StatusCode, header: res.Header, body: b}
}

type tokens struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    int64  `json:"expires_in"`
	TokenType    string `json:"token_type"`
}

func loginHTTP(tb testing.TB, base, username, password string) tokens {
	tb.Helper()
	r := call(tb, http.MethodPost, base+"/auth/login", "", map[string]string{"username": username, "password": password})
	if r.status != http.StatusOK {
		tb.Fatalf("login %s: %d %s", username, r.status, r.body)
	}
	var t tokens
	r.decode(tb, &t)
	return t
}

// addUser creates a user through the API as admin and logs it in.
func (f *authFixture) addUser(name string, role domain.Role) (auth.User, tokens) {
	f.t.Helper()
	admin := loginHTTP(f.t, f.ts.URL, "admin", adminPassword)
	r := call(f.t, http.MethodPost, f.ts.URL+"/api/v1/users/", admin.AccessToken, map[string]string{"username": name, "password": name + "-password", "role": string(role)})
	if r.status != http.StatusCreated {
		f.t.Fatalf("create %s: %d %s", name, r.status, r.body)
	}
	var u auth.User
	r.decode(f.t, &u)
	return u, loginHTTP(f.t, f.ts.URL, name, name+"-password")
}

// wantUnauthorized checks a 401 in the API's shape with WWW-Authenticate.
func wantUnauthorized(tb testing.TB, r response) {
	tb.Helper()
	wantError(tb, r, http.StatusUnauthorized, "unauthorized")
	if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
		tb.Errorf("WWW-Authenticate %q", r.header.Get("WWW-Authenticate"))
	}
}

func TestAuthLoginHTTP(t *testing.T) {
	t.Parallel()
	f := newAuthFixture(t)
	r := call(t, http.MethodPost, f.ts.URL+"/auth/login", "", map[string]string{"username": "admin", "password": adminPassword})
	var raw map[string]any
	r.decode(t, &raw)
	if r.status != http.StatusOK || len(raw) != 4 || raw["token_type"] != "Bearer" || raw["expires_in"] != float64(900) ||
		raw["access_token"] == "" || raw["refresh_token"] == "" || r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("login: %d %s", r.status, r.body)
	}
	wantUnauthorized(t, call(t, http.MethodPost, f.ts.URL+"/auth/login", "", map[string]string{"username": "admin", "password": "wrong-password"}))
	wantUnauthorized(t, call(t, http.MethodPost, f.ts.URL+"/auth/login", "", map[string]string{"username": "nobody", "password": "wrong-password"}))
	wantError(t, call(t, http.MethodPost, f.ts.URL+"/auth/login", "", `{"username":"admin"`), http.StatusBadRequest, "invalid", "body")
	wantError(t, call(t, http.MethodPost, f.ts.URL+"/auth/login", "", `{"username":"admin","password":"x","role":"admin"}`), http.StatusBadRequest, "invalid", "role")
	wantError(t, call(t, http.MethodPost, f.ts.URL+"/auth/login", "", nil), http.StatusBadRequest, "invalid", "body")

	var p auth.Principal
	v := call(t, http.MethodGet, f.ts.URL+"/auth/verify", raw["access_token"].(string), nil)
	v.decode(t, &p)
	if v.status != http.StatusOK || p.Username != "admin" || p.Role != domain.RoleAdmin || !p.AllAccounts || p.SessionFamily == "" {
		t.Fatalf("verify: %d %s", v.status, v.body)
	}
}

func TestAuthRequiredHTTP(t *testing.T) {
	t.Parallel()
	f := newAuthFixture(t)
	// Public routes.
	for _, p := range []string{"/health", "/health/live", "/health/ready", "/metrics", "/api/market/market-status"} {
		if r := call(t, http.MethodGet, f.ts.URL+p, "", nil); r.status != http.StatusOK {
			t.Errorf("%s without a token: %d %s", p, r.status, r.body)
		}
	}
	// Everything else, known route or not.
	for _, p := range []string{"/api/v1/events/head", "/api/v1/events", "/auth/verify", "/api/v1/users/current", "/api/v1/monitoring/system", "/nope"} {
		wantUnauthorized(t, call(t, http.MethodGet, f.ts.URL+p, "", nil))
	}
	wantUnauthorized(t, call(t, http.MethodPost, f.ts.URL+"/auth/logout", "", nil))
	// Only a Bearer header counts on REST; ?access_token= is for WebSocket upgrades.
	tok := loginHTTP(t, f.ts.URL, "admin", adminPassword)
	wantUnauthorized(t, call(t, http.MethodGet, f.ts.URL+"/api/v1/events/head?access_token="+tok.AccessToken, "", nil))
	if r := call(t, http.MethodGet, f.ts.URL+"/api/v1/events/head", tok.AccessToken, nil); r.status != http.StatusOK {
		t.Fatalf("head with a token: %d %s", r.status, r.body)
	}
}

func TestAuthRefusesBadTokensHTTP(t *testing.T) {
	t.Parallel()
	f := newAuthFixture(t)
	tok := loginHTTP(t, f.ts.URL, "admin", adminPassword)
	var c jwt.MapClaims
	if _, _, err := jwt.NewParser().ParseUnverified(tok.AccessToken, &c); err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(c)
	b64 := base64.RawURLEncoding
	none := b64.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + b64.EncodeToString(payload) + "."
	otherKey := make([]byte, 32)
	_, _ = rand.Read(otherKey)
	wrongKey, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(otherKey)
	hs512, _ := jwt.NewWithClaims(jwt.SigningMethodHS512, c).SignedString(f.key)
	for name, bad := range map[string]string{"alg none": none, "wrong key": wrongKey, "HS512": hs512, "garbage": "abc"} {
		t.Run(name, func(t *testing.T) {
			wantUnauthorized(t, call(t, http.MethodGet, f.ts.URL+"/auth/verify", bad, nil))
		})
	}
	if r := call(t, http.MethodGet, f.ts.URL+"/auth/verify", tok.AccessToken, nil); r.status != http.StatusOK {
		t.Fatalf("valid token: %d %s", r.status, r.body)
	}
	f.clock.Advance(16 * time.Minute)
	wantUnauthorized(t, call(t, http.MethodGet, f.ts.URL+"/auth/verify", tok.AccessToken, nil))
}

func TestAuthRefreshAndLogoutHTTP(t *testing.T) {
	t.Parallel()
	f := newAuthFixture(t)
	t1 := loginHTTP(t, f.ts.URL, "admin", adminPassword)
	r := call(t, http.MethodPost, f.ts.URL+"/auth/refresh", "", map[string]string{"refresh_token": t1.RefreshToken})
	var t2 tokens
	r.decode(t, &t2)
	if r.status != http.StatusOK || t2.RefreshToken == t1.RefreshToken || t2.AccessToken == "" {
		t.Fatalf("refresh: %d %s", r.status, r.body)
	}
	// Reuse of the rotated token: 401, and the whole family is revoked.
	wantUnauthorized(t, call(t, http.MethodPost, f.ts.URL+"/auth/refresh", "", map[string]string{"refresh_token": t1.RefreshToken}))
	wantUnauthorized(t, call(t, http.MethodPost, f.ts.URL+"/auth/refresh", "", map[string]string{"refresh_token": t2.RefreshToken}))
	wantUnauthorized(t, call(t, http.MethodGet, f.ts.URL+"/auth/verify", t2.AccessToken, nil))
	wantUnauthorized(t, call(t, http.MethodGet, f.ts.URL+"/auth/verify", t1.AccessToken, nil))

	// Logout revokes the session: access and refresh tokens stop working.
	t3 := loginHTTP(t, f.ts.URL, "admin", adminPassword)
	if r := call(t, http.MethodPost, f.ts.URL+"/auth/logout", t3.AccessToken, map[string]string{"refresh_token": t3.RefreshToken}); r.status != http.StatusOK {
		t.Fatalf("logout: %d %s", r.status, r.body)
	}
	wantUnauthorized(t, call(t, http.MethodGet, f.ts.URL+"/auth/verify", t3.AccessToken, nil))
	wantUnauthorized(t, call(t, http.MethodPost, f.ts.URL+"/auth/refresh", "", map[string]string{"refresh_token": t3.RefreshToken}))
	// Logout without a body works too.
	t4 := loginHTTP(t, f.ts.URL, "admin", adminPassword)
	if r := call(t, http.MethodPost, f.ts.URL+"/auth/logout", t4.AccessToken, nil); r.status != http.StatusOK {
		t.Fatalf("logout without body: %d %s", r.status, r.body)
	}
	wantUnauthorized(t, call(t, http.MethodGet, f.ts.URL+"/api/v1/users/current", t4.AccessToken, nil))
}

func TestAuthRateLimitHTTP(t *testing.T) {
	t.Parallel()
	f := newAuthFixture(t)
	bad := map[string]string{"username": "admin", "password": "wrong-password"}
	for range 5 {
		wantUnauthorized(t, call(t, http.MethodPost, f.ts.URL+"/auth/login", "", bad))
	}
	r := call(t, http.MethodPost, f.ts.URL+"/auth/login", "", map[string]string{"username": "admin", "password": adminPassword})
	wantError(t, r, http.StatusTooManyRequests, "rate_limited")
	if ra := r.header.Get("Retry-After"); ra != "60" {
		t.Errorf("Retry-After %q, want 60", ra)
	}
	f.clock.Advance(time.Minute)
	loginHTTP(t, f.ts.URL, "admin", adminPassword)
}

func TestAuthRolesHTTP(t *testing.T) {
	t.Parallel()
	f := newAuthFixture(t)
	admin := loginHTTP(t, f.ts.URL, "admin", adminPassword)
	_, trader := f.addUser("tina", domain.RoleTrader)
	viewer, vt := f.addUser("vera", domain.RoleViewer)

	for _, tc := range []struct {
		method, path string
		token        string
		status       int
	}{
		{"GET", "/api/v1/events", admin.AccessToken, 200},
		{"GET", "/api/v1/events/head", admin.AccessToken, 200},
		{"GET", "/api/v1/errors/recent", admin.AccessToken, 200},
		{"GET", "/api/v1/events", trader.AccessToken, 403},
		{"GET", "/api/v1/events/head", vt.AccessToken, 403},
		{"GET", "/api/v1/errors/recent", trader.AccessToken, 403},
		{"GET", "/api/v1/users/", trader.AccessToken, 403},
		{"POST", "/api/v1/users/", trader.AccessToken, 403},
		{"PUT", "/api/v1/users/" + viewer.ID + "/role", trader.AccessToken, 403},
		{"POST", "/api/v1/users/" + viewer.ID + "/accounts", vt.AccessToken, 403},
		{"GET", "/api/v1/monitoring/system", vt.AccessToken, 200},
		{"GET", "/api/v1/users/current", vt.AccessToken, 200},
		// Viewers never write, even where no route exists; traders get the
		// route's own answer.
		{"POST", "/api/v1/orders", vt.AccessToken, 403},
		{"POST", "/api/v1/orders", trader.AccessToken, 404},
	} {
		r := call(t, tc.method, f.ts.URL+tc.path, tc.token, "{}")
		if r.status != tc.status {
			t.Errorf("%s %s: %d, want %d (%s)", tc.method, tc.path, r.status, tc.status, r.body)
		}
		if tc.status == 403 {
			wantError(t, r, 403, "forbidden")
		}
	}
	// Self-service writes are open to viewers.
	if r := call(t, http.MethodPut, f.ts.URL+"/api/v1/users/settings", vt.AccessToken, map[string]any{"settings": map[string]string{"theme": "dark"}}); r.status != 200 {
		t.Errorf("viewer settings: %d %s", r.status, r.body)
	}
}

func TestUsersRoutesHTTP(t *testing.T) {
	t.Parallel()
	f := newAuthFixture(t)
	base := f.ts.URL
	admin := loginHTTP(t, base, "admin", adminPassword)
	asha, at := f.addUser("asha", domain.RoleTrader)
	if asha.PaperAccount != "paper-asha" || asha.Role != domain.RoleTrader {
		t.Fatalf("created %+v", asha)
	}
	wantError(t, call(t, http.MethodPost, base+"/api/v1/users/", admin.AccessToken, map[string]string{"username": "asha", "password": "another-password"}), 409, "conflict")
	wantError(t, call(t, http.MethodPost, base+"/api/v1/users/", admin.AccessToken, map[string]string{"username": "bob", "password": "another-password", "role": "root"}), 400, "invalid", "role")
	wantError(t, call(t, http.MethodPost, base+"/api/v1/users/", admin.AccessToken, map[string]string{"username": "bob", "password": "short"}), 400, "invalid", "at least 8")
	var list struct {
		Users []auth.User `json:"users"`
	}
	slash := call(t, http.MethodGet, base+"/api/v1/users/", admin.AccessToken, nil)
	slash.decode(t, &list)
	if slash.status != http.StatusOK || len(list.Users) != 2 || list.Users[1].Username != "asha" {
		t.Fatalf("users: %d %+v", slash.status, list)
	}
	// Without the slash: the same answer (no redirect).
	if r := call(t, http.MethodGet, base+"/api/v1/users", admin.AccessToken, nil); r.status != http.StatusOK || !bytes.Equal(r.body, slash.body) {
		t.Fatalf("GET /api/v1/users: %d %s, want %s", r.status, r.body, slash.body)
	}
	if strings.Contains(string(slash.body), "argon2") {
		t.Error("the user list leaks password hashes")
	}
	r := call(t, http.MethodPost, base+"/api/v1/users", admin.AccessToken, map[string]string{"username": "cara", "password": "cara-password"})
	if r.status != http.StatusCreated || !strings.Contains(string(r.body), `"username":"cara"`) {
		t.Fatalf("POST /api/v1/users: %d %s", r.status, r.body)
	}

	var cur struct {
		User     auth.User `json:"user"`
		Accounts []string  `json:"accounts"`
	}
	call(t, http.MethodGet, base+"/api/v1/users/current", at.AccessToken, nil).decode(t, &cur)
	if cur.User.ID != asha.ID || !slices.Equal(cur.Accounts, []string{"paper-asha"}) {
		t.Fatalf("current: %+v", cur)
	}
	// Admin grants an account; the same access token now sees it.
	if r := call(t, http.MethodPost, base+"/api/v1/users/"+asha.ID+"/accounts", admin.AccessToken, map[string]string{"account": "live-1"}); r.status != 200 {
		t.Fatalf("grant: %d %s", r.status, r.body)
	}
	call(t, http.MethodGet, base+"/api/v1/users/current", at.AccessToken, nil).decode(t, &cur)
	if !slices.Equal(cur.Accounts, []string{"live-1", "paper-asha"}) {
		t.Fatalf("accounts after grant: %v", cur.Accounts)
	}
	if r := call(t, http.MethodDelete, base+"/api/v1/users/"+asha.ID+"/accounts/live-1", admin.AccessToken, nil); r.status != 200 {
		t.Fatalf("revoke: %d %s", r.status, r.body)
	}
	wantError(t, call(t, http.MethodPut, base+"/api/v1/users/nope/role", admin.AccessToken, map[string]string{"role": "viewer"}), 404, "not_found")
	wantError(t, call(t, http.MethodPut, base+"/api/v1/users/"+asha.ID+"/role", admin.AccessToken, map[string]string{"role": "boss"}), 400, "invalid")
	if r := call(t, http.MethodPut, base+"/api/v1/users/"+asha.ID+"/role", admin.AccessToken, map[string]string{"role": "viewer"}); r.status != 200 || !strings.Contains(string(r.body), `"role":"viewer"`) {
		t.Fatalf("set role: %d %s", r.status, r.body)
	}

	// Settings.
	r = call(t, http.MethodPut, base+"/api/v1/users/settings", at.AccessToken, map[string]any{"settings": map[string]string{"theme": "dark"}})
	if r.status != 200 || !strings.Contains(string(r.body), `"theme":"dark"`) {
		t.Fatalf("put settings: %d %s", r.status, r.body)
	}
	if r := call(t, http.MethodGet, base+"/api/v1/users/settings", at.AccessToken, nil); !strings.Contains(string(r.body), `"theme":"dark"`) {
		t.Fatalf("get settings: %s", r.body)
	}
	wantError(t, call(t, http.MethodPut, base+"/api/v1/users/settings", at.AccessToken, map[string]any{"settings": map[string]string{"Bad Key": "x"}}), 400, "invalid")

	// Profile: the password change needs the old password; no other field
	// can ride along (mass assignment).
	if r := call(t, http.MethodGet, base+"/api/v1/users/profile", at.AccessToken, nil); r.status != 200 || !strings.Contains(string(r.body), `"username":"asha"`) {
		t.Fatalf("profile: %d %s", r.status, r.body)
	}
	wantError(t, call(t, http.MethodPut, base+"/api/v1/users/profile", at.AccessToken, map[string]string{"old_password": "asha-password", "new_password": "asha-password-2", "role": "admin"}), 400, "invalid", "role")
	wantError(t, call(t, http.MethodPut, base+"/api/v1/users/profile", at.AccessToken, map[string]string{"old_password": "wrong-password", "new_password": "asha-password-2"}), 400, "invalid", "old_password")
	if r := call(t, http.MethodPut, base+"/api/v1/users/profile", at.AccessToken, map[string]string{"old_password": "asha-password", "new_password": "asha-password-2"}); r.status != 200 {
		t.Fatalf("change password: %d %s", r.status, r.body)
	}
	wantUnauthorized(t, call(t, http.MethodGet, base+"/api/v1/users/current", at.AccessToken, nil))
	loginHTTP(t, base, "asha", "asha-password-2")
}

// scopedFixture is the read-model fixture with authentication on, with
// users asha and bob (traders) and the admin.
type scopedFixture struct {
	*testEnv
	base                 string
	admin, asha, bob     tokens
	ashaUser             auth.User
	ashaOrder, bobsOrder string
	svc                  *auth.Service
}

func newScopedFixture(t *testing.T) *scopedFixture {
	t.Helper()
	var svc *auth.Service
	f := newTestEnv(t, envConfig{readModels: marketAndTrading, server: func(e *testEnv, _ *api.Config, deps *api.Deps) {
		svc, _ = newAuthService(t, e.st, &authClock{t: time.Now()})
		deps.Auth = svc
	}})
	ts := f.ts
	s := &scopedFixture{testEnv: f, base: ts.URL, svc: svc}
	ctx := context.Background()
	for _, n := range []string{"asha", "bob"} {
		if _, err := svc.AddUser(ctx, n, n+"-password", domain.RoleTrader, "test"); err != nil {
			t.Fatal(err)
		}
	}
	s.admin = loginHTTP(t, ts.URL, "admin", adminPassword)
	s.asha = loginHTTP(t, ts.URL, "asha", "asha-password")
	s.bob = loginHTTP(t, ts.URL, "bob", "bob-password")
	s.ashaUser = svc.Users()[1]
	rs := domain.Rupees
	f.tick(domain.ExchangeNFO, "NIFTY26NOVFUT", rs(26000))
	f.trade("paper-asha", domain.Paper, domain.Buy, 65, rs(26000))
	s.ashaOrder = fmt.Sprintf("o%d", f.orders)
	f.trade("paper-bob", domain.Paper, domain.Sell, 130, rs(26010))
	s.bobsOrder = fmt.Sprintf("o%d", f.orders)
	at := time.Date(2026, 11, 20, 10, 0, 0, 0, domain.IST())
	for i, acct := range []string{"paper-asha", "paper-bob"} {
		f.append(domain.SignalStream("n8n"), domain.SignalRaised{SignalID: fmt.Sprint("s", i), Source: "n8n", Account: acct,
			Exchange: "NFO", Symbol: "NIFTY26NOVFUT", Side: domain.Buy, Quantity: 65, RaisedAt: at})
	}
	f.wait(f.tick(domain.ExchangeNFO, "NIFTY26NOVFUT", rs(26020)))
	return s
}

// accounts returns the distinct "account" fields of list in a JSON answer.
func accountsOf(tb testing.TB, r response, list string) []string {
	tb.Helper()
	if r.status != http.StatusOK {
		tb.Fatalf("status %d: %s", r.status, r.body)
	}
	var ans map[string][]struct {
		Account string `json:"account"`
	}
	var raw map[string]json.RawMessage
	r.decode(tb, &raw)
	one := map[string]json.RawMessage{list: raw[list]}
	b, _ := json.Marshal(one)
	if err := json.Unmarshal(b, &ans); err != nil {
		tb.Fatal(err)
	}
	var out []string
	for _, e := range ans[list] {
		if !slices.Contains(out, e.Account) {
			out = append(out, e.Account)
		}
	}
	slices.Sort(out)
	return out
}

func TestReadModelsAreScopedToAccounts(t *testing.T) {
	t.Parallel()
	s := newScopedFixture(t)
	both := []string{"paper-asha", "paper-bob"}
	head := s.storeHead()
	for _, c := range []struct{ path, list string }{
		{"/api/v1/positions", "positions"},
		{"/api/v1/positions?position=1000000", "positions"}, // as-of answers are scoped too
		{"/api/v1/orders", "orders"},
		{"/api/v1/dashboard/trades", "trades"},
		{"/api/v1/signals", "signals"},
	} {
		t.Run(c.path, func(t *testing.T) {
			if c.path == "/api/v1/positions?position=1000000" {
				c.path = fmt.Sprintf("/api/v1/positions?position=%d", head)
			}
			sep := "?"
			if strings.Contains(c.path, "?") {
				sep = "&"
			}
			// A trader sees only its own account, asked or not.
			if got := accountsOf(t, call(t, "GET", s.base+c.path, s.asha.AccessToken, nil), c.list); !slices.Equal(got, []string{"paper-asha"}) {
				t.Errorf("asha sees %v", got)
			}
			if got := accountsOf(t, call(t, "GET", s.base+c.path+sep+"account=paper-asha", s.asha.AccessToken, nil), c.list); !slices.Equal(got, []string{"paper-asha"}) {
				t.Errorf("asha asking for her account sees %v", got)
			}
			// Asking for another account, alone or with one's own, or for
			// one that does not exist: the same 403.
			for _, q := range []string{"account=paper-bob", "account=paper-asha,paper-bob", "account=paper-nobody"} {
				wantError(t, call(t, "GET", s.base+c.path+sep+q, s.asha.AccessToken, nil), http.StatusForbidden, "forbidden", "no access to account")
			}
			// The admin sees everyone.
			if got := accountsOf(t, call(t, "GET", s.base+c.path, s.admin.AccessToken, nil), c.list); !slices.Equal(got, both) {
				t.Errorf("admin sees %v", got)
			}
			if got := accountsOf(t, call(t, "GET", s.base+c.path+sep+"account=paper-bob", s.admin.AccessToken, nil), c.list); !slices.Equal(got, []string{"paper-bob"}) {
				t.Errorf("admin asking for paper-bob sees %v", got)
			}
		})
	}

	// An order by id of another account is "no order", like one that does
	// not exist.
	if r := call(t, "GET", s.base+"/api/v1/orders/"+s.ashaOrder, s.asha.AccessToken, nil); r.status != 200 {
		t.Fatalf("asha's own order: %d %s", r.status, r.body)
	}
	hidden := wantError(t, call(t, "GET", s.base+"/api/v1/orders/"+s.bobsOrder, s.asha.AccessToken, nil), http.StatusNotFound, "not_found")
	missing := wantError(t, call(t, "GET", s.base+"/api/v1/orders/o999", s.asha.AccessToken, nil), http.StatusNotFound, "not_found")
	if strings.Replace(hidden, s.bobsOrder, "X", 1) != strings.Replace(missing, "o999", "X", 1) {
		t.Errorf("another account's order (%q) and a missing one (%q) differ", hidden, missing)
	}
	if r := call(t, "GET", s.base+"/api/v1/orders/"+s.bobsOrder, s.admin.AccessToken, nil); r.status != 200 {
		t.Fatalf("admin reading bob's order: %d %s", r.status, r.body)
	}
	if r := call(t, "GET", s.base+"/api/v1/orders/"+s.bobsOrder, s.bob.AccessToken, nil); r.status != 200 {
		t.Fatalf("bob reading his order: %d %s", r.status, r.body)
	}

	// Granting paper-bob to asha opens it, for the same token.
	if _, err := s.svc.GrantAccount(context.Background(), s.ashaUser.ID, "paper-bob", "admin"); err != nil {
		t.Fatal(err)
	}
	if got := accountsOf(t, call(t, "GET", s.base+"/api/v1/orders", s.asha.AccessToken, nil), "orders"); !slices.Equal(got, both) {
		t.Errorf("asha with paper-bob granted sees %v", got)
	}
	if r := call(t, "GET", s.base+"/api/v1/orders/"+s.bobsOrder, s.asha.AccessToken, nil); r.status != 200 {
		t.Errorf("asha reading a granted account's order: %d %s", r.status, r.body)
	}
}
