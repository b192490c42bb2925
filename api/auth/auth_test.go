package auth_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/algoauto/algoauto/api/auth"
	"github.com/algoauto/algoauto/domain"
	"github.com/algoauto/algoauto/eventstore"
	"github.com/algoauto/algoauto/eventstore/embedded"
)

// cheap are Argon2id parameters fast enough for tests; the hash carries
// them, so verification uses them too.
var cheap = auth.Params{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func testKey(t testing.TB) []byte {
	t.Helper()
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

func openStore(t testing.TB, dir string) *embedded.Store {
	t.Helper()
	st, err := embedded.Open(context.Background(), embedded.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

type fixture struct {
	t     *testing.T
	st    *embedded.Store
	dir   string
	key   []byte
	clock *clock
	svc   *auth.Service
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{t: t, dir: t.TempDir(), key: testKey(t), clock: newClock()}
	f.st = openStore(t, f.dir)
	t.Cleanup(func() { f.st.Close() })
	f.svc = f.service()
	return f
}

// service builds a new service over the fixture's store and loads it.
func (f *fixture) service() *auth.Service {
	f.t.Helper()
	svc, err := auth.NewService(f.st, auth.Config{Key: f.key, Params: cheap, Now: f.clock.Now})
	if err != nil {
		f.t.Fatal(err)
	}
	if err := svc.Load(context.Background()); err != nil {
		f.t.Fatal(err)
	}
	return svc
}

func (f *fixture) addUser(name string, role domain.Role) auth.User {
	f.t.Helper()
	u, err := f.svc.AddUser(context.Background(), name, name+"-password", role, "test")
	if err != nil {
		f.t.Fatal(err)
	}
	return u
}

func (f *fixture) login(name string) auth.Tokens {
	f.t.Helper()
	tok, err := f.svc.Login(context.Background(), name, name+"-password", "10.0.0.1:5555")
	if err != nil {
		f.t.Fatalf("login %s: %v", name, err)
	}
	return tok
}

func TestHashAndVerify(t *testing.T) {
	t.Parallel()
	phcRe := regexp.MustCompile(`^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)
	def, err := auth.HashPassword("correct horse", auth.DefaultParams)
	if err != nil {
		t.Fatal(err)
	}
	if m := phcRe.FindStringSubmatch(def); m == nil || m[1] != "65536" || m[2] != "3" || m[3] != "2" {
		t.Fatalf("default hash %q is not $argon2id$v=19$m=65536,t=3,p=2$salt$hash", def)
	}
	low, err := auth.HashPassword("correct horse", cheap)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := auth.HashPassword("correct horse", cheap)
	if low == again {
		t.Error("two hashes of one password are equal: no salt")
	}
	for _, tc := range []struct {
		name, pw, phc string
		want          bool
	}{
		{"default parameters", "correct horse", def, true},
		{"parameters read from the hash", "correct horse", low, true},
		{"wrong password", "correct horsf", low, false},
		{"empty password", "", low, false},
		{"prefix of the password", "correct", low, false},
		{"wrong password, default parameters", "Correct horse", def, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok, err := auth.VerifyPassword(tc.pw, tc.phc)
			if err != nil || ok != tc.want {
				t.Fatalf("VerifyPassword = %v, %v; want %v", ok, err, tc.want)
			}
		})
	}
	for _, bad := range []string{"", "hunter22", "$argon2i$v=19$m=1024,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=16$m=1024,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", "$argon2id$v=19$m=4294967295,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=1024,t=0,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", "$argon2id$v=19$m=1024,t=1,p=1$!!$aGFzaGhhc2hoYXNoaGFzaA"} {
		if ok, err := auth.VerifyPassword("x", bad); ok || err == nil {
			t.Errorf("VerifyPassword(%q) = %v, %v; want an error", bad, ok, err)
		}
	}
	if p, err := auth.HashParams(low); err != nil || p.Memory != cheap.Memory || p.Time != cheap.Time || p.Threads != cheap.Threads {
		t.Errorf("HashParams = %+v, %v", p, err)
	}
}

func TestPasswordPolicy(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		pw   string
		want string
	}{
		{"", "at least 8"}, {"1234567", "at least 8"}, {"ñññññññ", "at least 8"}, {strings.Repeat("x", 1025), "at most 1024"},
		{"12345678", ""}, {"ññññññññ", ""},
	} {
		err := auth.CheckPassword("password", tc.pw)
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, auth.ErrInvalid)) {
			t.Errorf("CheckPassword(%d chars) = %v, want %q", len(tc.pw), err, tc.want)
		}
	}
	f := newFixture(t)
	if _, err := f.svc.AddUser(context.Background(), "asha", "short", domain.RoleTrader, "test"); !errors.Is(err, auth.ErrInvalid) || !strings.Contains(err.Error(), "at least 8 characters") {
		t.Errorf("AddUser with a short password: %v", err)
	}
}

func TestLogin(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	u := f.addUser("asha", domain.RoleTrader)
	tok, err := f.svc.Login(context.Background(), " ASHA ", "asha-password", "10.0.0.1:5555") // case and spaces do not matter
	if err != nil {
		t.Fatal(err)
	}
	if tok.TokenType != "Bearer" || tok.ExpiresIn != 900 || tok.AccessToken == "" || len(tok.RefreshToken) != 43 {
		t.Fatalf("tokens %+v", tok)
	}
	p, err := f.svc.Verify(tok.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if p.UserID != u.ID || p.Username != "asha" || p.Role != domain.RoleTrader || p.AllAccounts || !slices.Equal(p.Accounts, []string{"paper-asha"}) || p.SessionFamily != tok.Family {
		t.Fatalf("principal %+v", p)
	}
	// The claims the contract names.
	var c jwt.MapClaims
	if _, _, err := jwt.NewParser().ParseUnverified(tok.AccessToken, &c); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"sub", "role", "sid", "iat", "exp", "iss", "aud", "jti"} {
		if _, ok := c[k]; !ok {
			t.Errorf("access token lacks %q: %v", k, c)
		}
	}
	// Wrong password and unknown user fail alike.
	for _, c := range []struct{ name, pw string }{{"asha", "wrong-password"}, {"nobody", "asha-password"}, {"", ""}} {
		_, err := f.svc.Login(context.Background(), c.name, c.pw, "10.0.0.2:1")
		if !errors.Is(err, auth.ErrInvalidCredentials) || err.Error() != auth.ErrInvalidCredentials.Error() {
			t.Errorf("login %q/%q: %v", c.name, c.pw, err)
		}
	}
	// The refresh token itself is nowhere in the log, only its hash.
	evs, err := f.st.ReadAll(context.Background(), eventstore.ReadAllOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var all strings.Builder
	for _, e := range evs {
		all.Write(e.Data)
	}
	if strings.Contains(all.String(), tok.RefreshToken) || strings.Contains(all.String(), "asha-password") {
		t.Error("the log holds a refresh token or a password in clear")
	}
}

// forge signs claims with method and key.
func forge(t *testing.T, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestVerifyRefusesBadTokens(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.addUser("asha", domain.RoleTrader)
	tok := f.login("asha")
	var valid jwt.MapClaims
	if _, _, err := jwt.NewParser().ParseUnverified(tok.AccessToken, &valid); err != nil {
		t.Fatal(err)
	}
	now := f.clock.Now()
	claims := func(change func(jwt.MapClaims)) jwt.MapClaims {
		c := jwt.MapClaims{}
		for k, v := range valid {
			c[k] = v
		}
		change(c)
		return c
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawURLEncoding
	payload, _ := json.Marshal(valid)
	none := b64.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + b64.EncodeToString(payload) + "."
	noneSig := none + strings.Split(tok.AccessToken, ".")[2]
	parts := strings.Split(tok.AccessToken, ".")
	tampered := parts[0] + "." + b64.EncodeToString([]byte(strings.Replace(string(payload), `"trader"`, `"admin" `, 1))) + "." + parts[2]
	same := func(jwt.MapClaims) {}

	for _, tc := range []struct {
		name  string
		token string
	}{
		{"alg none", none},
		{"alg none with a signature", noneSig},
		{"signed with another key", forge(t, jwt.SigningMethodHS256, testKey(t), claims(same))},
		{"HS512 with the right key", forge(t, jwt.SigningMethodHS512, f.key, claims(same))},
		{"HS384 with the right key", forge(t, jwt.SigningMethodHS384, f.key, claims(same))},
		{"RS256", forge(t, jwt.SigningMethodRS256, rsaKey, claims(same))},
		{"expired", forge(t, jwt.SigningMethodHS256, f.key, claims(func(c jwt.MapClaims) { c["exp"] = now.Add(-time.Minute).Unix() }))},
		{"no exp", forge(t, jwt.SigningMethodHS256, f.key, claims(func(c jwt.MapClaims) { delete(c, "exp") }))},
		{"wrong issuer", forge(t, jwt.SigningMethodHS256, f.key, claims(func(c jwt.MapClaims) { c["iss"] = "evil" }))},
		{"no issuer", forge(t, jwt.SigningMethodHS256, f.key, claims(func(c jwt.MapClaims) { delete(c, "iss") }))},
		{"wrong audience", forge(t, jwt.SigningMethodHS256, f.key, claims(func(c jwt.MapClaims) { c["aud"] = []string{"other-api"} }))},
		{"issued in the future", forge(t, jwt.SigningMethodHS256, f.key, claims(func(c jwt.MapClaims) { c["iat"] = now.Add(time.Hour).Unix() }))},
		{"not yet valid", forge(t, jwt.SigningMethodHS256, f.key, claims(func(c jwt.MapClaims) { c["nbf"] = now.Add(time.Hour).Unix() }))},
		{"unknown session", forge(t, jwt.SigningMethodHS256, f.key, claims(func(c jwt.MapClaims) { c["sid"] = "0193a5b2-7c1e-7d3a-9b2f-4e5d6c7b8a92" }))},
		{"no session", forge(t, jwt.SigningMethodHS256, f.key, claims(func(c jwt.MapClaims) { delete(c, "sid") }))},
		{"another subject", forge(t, jwt.SigningMethodHS256, f.key, claims(func(c jwt.MapClaims) { c["sub"] = "0193a5b2-7c1e-7d3a-9b2f-4e5d6c7b8a91" }))},
		{"tampered payload", tampered},
		{"garbage", "not.a.jwt"},
		{"empty", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if p, err := f.svc.Verify(tc.token); !errors.Is(err, auth.ErrInvalidToken) {
				t.Fatalf("Verify = %+v, %v; want ErrInvalidToken", p, err)
			}
		})
	}
	// The control: the valid token, and one re-signed from its claims.
	for _, good := range []string{tok.AccessToken, forge(t, jwt.SigningMethodHS256, f.key, claims(same))} {
		if _, err := f.svc.Verify(good); err != nil {
			t.Fatalf("valid token refused: %v", err)
		}
	}
	// Expiry through the clock: fine within the leeway, refused after.
	f.clock.Advance(15*time.Minute + 20*time.Second)
	if _, err := f.svc.Verify(tok.AccessToken); err != nil {
		t.Fatalf("refused within the leeway: %v", err)
	}
	f.clock.Advance(time.Minute)
	if _, err := f.svc.Verify(tok.AccessToken); !errors.Is(err, auth.ErrInvalidToken) {
		t.Fatalf("expired token: %v", err)
	}
}

func TestRefreshRotationAndReuse(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	u := f.addUser("asha", domain.RoleTrader)
	var mu sync.Mutex
	var revoked []string
	f.svc.OnRevoke(func(userID, family string) {
		mu.Lock()
		defer mu.Unlock()
		revoked = append(revoked, userID+"/"+family)
	})
	ctx := context.Background()
	t1 := f.login("asha")
	f.clock.Advance(10 * time.Minute)
	t2, err := f.svc.Refresh(ctx, t1.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if t2.RefreshToken == t1.RefreshToken || t2.AccessToken == t1.AccessToken || t2.Family != t1.Family {
		t.Fatalf("refresh did not rotate: %+v -> %+v", t1, t2)
	}
	if !t2.AccessExpiresAt.Equal(f.clock.Now().Add(15 * time.Minute)) {
		t.Errorf("new access token expires %s", t2.AccessExpiresAt)
	}
	t3, err := f.svc.Refresh(ctx, t2.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Verify(t3.AccessToken); err != nil {
		t.Fatal(err)
	}
	// Another session of the same user is not touched by what follows.
	other := f.login("asha")

	// Reusing t1's (rotated) token fails and revokes the family: the newest
	// refresh token and the family's access tokens stop working.
	if _, err := f.svc.Refresh(ctx, t1.RefreshToken); !errors.Is(err, auth.ErrInvalidToken) || !strings.Contains(err.Error(), "already used") {
		t.Fatalf("reuse: %v", err)
	}
	if _, err := f.svc.Refresh(ctx, t3.RefreshToken); !errors.Is(err, auth.ErrInvalidToken) {
		t.Fatalf("newest token after reuse: %v", err)
	}
	for _, a := range []string{t1.AccessToken, t2.AccessToken, t3.AccessToken} {
		if _, err := f.svc.Verify(a); !errors.Is(err, auth.ErrInvalidToken) {
			t.Fatalf("access token of a revoked family: %v", err)
		}
	}
	if _, err := f.svc.Verify(other.AccessToken); err != nil {
		t.Fatalf("the other session was revoked too: %v", err)
	}
	mu.Lock()
	if !slices.Equal(revoked, []string{u.ID + "/" + t1.Family}) {
		t.Errorf("OnRevoke calls %v", revoked)
	}
	mu.Unlock()
	evs, err := f.st.ReadStream(ctx, domain.SessionStream(t1.Family), eventstore.ReadStreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	types := []string{}
	for _, e := range evs {
		types = append(types, e.Type)
	}
	if !slices.Equal(types, []string{domain.TypeSessionStarted, domain.TypeSessionRefreshed, domain.TypeSessionRefreshed, domain.TypeSessionRevoked}) ||
		!strings.Contains(string(evs[3].Data), `"reason":"reuse"`) {
		t.Errorf("session stream %v, last %s", types, evs[len(evs)-1].Data)
	}

	// Unknown and expired refresh tokens.
	if _, err := f.svc.Refresh(ctx, "bm90LWEtdG9rZW4"); !errors.Is(err, auth.ErrInvalidToken) {
		t.Errorf("unknown refresh token: %v", err)
	}
	f.clock.Advance(7*24*time.Hour + time.Second)
	if _, err := f.svc.Refresh(ctx, other.RefreshToken); !errors.Is(err, auth.ErrInvalidToken) {
		t.Errorf("expired refresh token: %v", err)
	}
}

func TestLogoutAndPasswordChangeRevoke(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.addUser("asha", domain.RoleTrader)
	ctx := context.Background()
	a, b := f.login("asha"), f.login("asha")
	p, err := f.svc.Verify(a.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Logout(ctx, p, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Verify(a.AccessToken); !errors.Is(err, auth.ErrInvalidToken) {
		t.Errorf("access token after logout: %v", err)
	}
	if _, err := f.svc.Refresh(ctx, a.RefreshToken); !errors.Is(err, auth.ErrInvalidToken) {
		t.Errorf("refresh token after logout: %v", err)
	}
	if err := f.svc.Logout(ctx, p, ""); err != nil {
		t.Errorf("second logout: %v", err)
	}
	// b still works; a password change (wrong old password first) ends it.
	pb, err := f.svc.Verify(b.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.svc.ChangePassword(ctx, pb.UserID, "not-the-password", "new-password-1"); !errors.Is(err, auth.ErrInvalid) || !strings.Contains(err.Error(), "old_password") {
		t.Fatalf("wrong old password: %v", err)
	}
	if err := f.svc.ChangePassword(ctx, pb.UserID, "asha-password", "short"); !errors.Is(err, auth.ErrInvalid) {
		t.Fatalf("short new password: %v", err)
	}
	if err := f.svc.ChangePassword(ctx, pb.UserID, "asha-password", "new-password-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Verify(b.AccessToken); !errors.Is(err, auth.ErrInvalidToken) {
		t.Errorf("access token after a password change: %v", err)
	}
	if _, err := f.svc.Login(ctx, "asha", "asha-password", "10.0.0.1:1"); !errors.Is(err, auth.ErrInvalidCredentials) {
		t.Errorf("old password still works: %v", err)
	}
	if _, err := f.svc.Login(ctx, "asha", "new-password-1", "10.0.0.1:1"); err != nil {
		t.Errorf("new password: %v", err)
	}
}

func TestLoginRateLimit(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.addUser("asha", domain.RoleTrader)
	ctx := context.Background()
	for i := range 5 {
		if _, err := f.svc.Login(ctx, "asha", "wrong-password", "10.0.0.9:1"); !errors.Is(err, auth.ErrInvalidCredentials) {
			t.Fatalf("failure %d: %v", i+1, err)
		}
	}
	// Tripped: even the right password is refused, before it is checked.
	_, err := f.svc.Login(ctx, "asha", "asha-password", "10.0.0.1:1")
	var rl *auth.RateLimitError
	if !errors.As(err, &rl) || !errors.Is(err, auth.ErrRateLimited) || rl.RetryAfter <= 0 || rl.RetryAfter > time.Minute {
		t.Fatalf("sixth attempt: %v", err)
	}
	// Recovers when the window ends.
	f.clock.Advance(rl.RetryAfter)
	f.login("asha")

	// Per address: 20 failures from one address over many usernames.
	for i := range 20 {
		if _, err := f.svc.Login(ctx, "user"+string(rune('a'+i)), "whatever-pw", "192.0.2.7:4000"); !errors.Is(err, auth.ErrInvalidCredentials) {
			t.Fatalf("address failure %d: %v", i+1, err)
		}
	}
	if _, err := f.svc.Login(ctx, "asha", "asha-password", "192.0.2.7:4001"); !errors.Is(err, auth.ErrRateLimited) {
		t.Fatalf("21st attempt from the address: %v", err)
	}
	if _, err := f.svc.Login(ctx, "asha", "asha-password", "192.0.2.8:4000"); err != nil {
		t.Fatalf("another address: %v", err)
	}
	f.clock.Advance(time.Minute)
	if _, err := f.svc.Login(ctx, "asha", "asha-password", "192.0.2.7:4002"); err != nil {
		t.Fatalf("after the window: %v", err)
	}
}

func TestLimiterMemoryIsBounded(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	svc, err := auth.NewService(f.st, auth.Config{Key: f.key, Params: cheap, Now: f.clock.Now, MaxTrackedKeys: 8, MaxAddrFailures: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		_, _ = svc.Login(context.Background(), "spray"+string(rune('a'+i%26))+string(rune('a'+i/26)), "x-password", "10.1.1.1:1")
	}
	if n := auth.LimiterSize(svc); n > 8+1 { // one per limiter: users (8) + the address (1)
		t.Fatalf("limiters hold %d keys, want at most 9", n)
	}
}

func TestBootstrapAndUsers(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	created, pw, err := f.svc.Bootstrap(ctx, "")
	if err != nil || !created || len(pw) < 20 {
		t.Fatalf("Bootstrap = %v, %q, %v", created, pw, err)
	}
	tok, err := f.svc.Login(ctx, "admin", pw, "127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	admin, err := f.svc.Verify(tok.AccessToken)
	if err != nil || !admin.IsAdmin() || !admin.AllAccounts || !admin.CanSee("live-anything") {
		t.Fatalf("admin principal %+v, %v", admin, err)
	}
	if created, _, err := f.svc.Bootstrap(ctx, "another-password"); created || err != nil {
		t.Fatalf("second Bootstrap = %v, %v", created, err)
	}

	asha := f.addUser("asha", domain.RoleTrader)
	if _, err := f.svc.AddUser(ctx, "Asha", "some-password", domain.RoleViewer, admin.UserID); !errors.Is(err, auth.ErrUserExists) {
		t.Errorf("duplicate username: %v", err)
	}
	for _, bad := range []string{"", "a", "9lives", "has space", strings.Repeat("x", 33)} {
		if _, err := f.svc.AddUser(ctx, bad, "some-password", domain.RoleViewer, admin.UserID); !errors.Is(err, auth.ErrInvalid) {
			t.Errorf("username %q: %v", bad, err)
		}
	}
	if _, err := f.svc.AddUser(ctx, "bob", "some-password", "root", admin.UserID); !errors.Is(err, auth.ErrInvalid) {
		t.Errorf("role root: %v", err)
	}
	if _, err := f.svc.SetRole(ctx, admin.UserID, domain.RoleViewer, admin.UserID); !errors.Is(err, auth.ErrLastAdmin) {
		t.Errorf("demoting the last admin: %v", err)
	}
	if _, err := f.svc.SetRole(ctx, "0193a5b2-7c1e-7d3a-9b2f-4e5d6c7b8a91", domain.RoleViewer, admin.UserID); !errors.Is(err, auth.ErrUserNotFound) {
		t.Errorf("unknown user: %v", err)
	}
	if u, err := f.svc.GrantAccount(ctx, asha.ID, "live-1", admin.UserID); err != nil || !slices.Equal(u.Granted, []string{"live-1"}) {
		t.Fatalf("grant: %+v %v", u, err)
	}
	if _, err := f.svc.RevokeAccount(ctx, asha.ID, "paper-asha", admin.UserID); !errors.Is(err, auth.ErrInvalid) {
		t.Errorf("revoking the paper account: %v", err)
	}
	at := f.login("asha")
	p, _ := f.svc.Verify(at.AccessToken)
	if !slices.Equal(p.Accounts, []string{"live-1", "paper-asha"}) || !p.CanSee("live-1") || p.CanSee("paper-admin") || !p.CanWrite() {
		t.Fatalf("trader principal %+v", p)
	}
	// Role and accounts come from the current state, not from the token.
	if _, err := f.svc.SetRole(ctx, asha.ID, domain.RoleViewer, admin.UserID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.RevokeAccount(ctx, asha.ID, "live-1", admin.UserID); err != nil {
		t.Fatal(err)
	}
	p, _ = f.svc.Verify(at.AccessToken)
	if p.Role != domain.RoleViewer || p.CanWrite() || p.CanSee("live-1") {
		t.Fatalf("principal after role change and revoke %+v", p)
	}
	if _, err := f.svc.UpdateSettings(ctx, asha.ID, map[string]string{"Bad Key": "x"}); !errors.Is(err, auth.ErrInvalid) {
		t.Errorf("bad settings: %v", err)
	}
	if s, err := f.svc.UpdateSettings(ctx, asha.ID, map[string]string{"theme": "dark"}); err != nil || s["theme"] != "dark" {
		t.Fatalf("settings %v %v", s, err)
	}
	users := f.svc.Users()
	if len(users) != 2 || users[0].Username != "admin" || users[1].Username != "asha" || users[1].Role != domain.RoleViewer {
		t.Fatalf("users %+v", users)
	}
}

func TestStateSurvivesRestart(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	asha := f.addUser("asha", domain.RoleTrader)
	if _, err := f.svc.GrantAccount(ctx, asha.ID, "live-1", "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.UpdateSettings(ctx, asha.ID, map[string]string{"theme": "dark"}); err != nil {
		t.Fatal(err)
	}
	revoked, kept := f.login("asha"), f.login("asha")
	rotated, err := f.svc.Refresh(ctx, kept.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := f.svc.Verify(revoked.AccessToken)
	if err := f.svc.Logout(ctx, p, ""); err != nil {
		t.Fatal(err)
	}

	// A new service over the same log (the same key): same state.
	f.svc = f.service()
	if u, ok := f.svc.User(asha.ID); !ok || !slices.Equal(u.Granted, []string{"live-1"}) || u.Settings["theme"] != "dark" || u.Role != domain.RoleTrader {
		t.Fatalf("user after restart %+v", u)
	}
	if _, err := f.svc.Verify(revoked.AccessToken); !errors.Is(err, auth.ErrInvalidToken) {
		t.Errorf("revoked session's access token after restart: %v", err)
	}
	if _, err := f.svc.Refresh(ctx, revoked.RefreshToken); !errors.Is(err, auth.ErrInvalidToken) {
		t.Errorf("revoked session's refresh token after restart: %v", err)
	}
	if _, err := f.svc.Verify(rotated.AccessToken); err != nil {
		t.Errorf("live session's access token after restart: %v", err)
	}
	// Rotation state survives: the pre-rotation token is a reuse.
	if _, err := f.svc.Refresh(ctx, kept.RefreshToken); !errors.Is(err, auth.ErrInvalidToken) {
		t.Errorf("rotated refresh token after restart: %v", err)
	}
	if _, err := f.svc.Verify(rotated.AccessToken); !errors.Is(err, auth.ErrInvalidToken) {
		t.Errorf("reuse after restart did not revoke the family: %v", err)
	}
	f.login("asha")
	// And the reuse revocation is durable too.
	f.svc = f.service()
	if _, err := f.svc.Refresh(ctx, rotated.RefreshToken); !errors.Is(err, auth.ErrInvalidToken) {
		t.Errorf("family revoked by reuse came back after restart: %v", err)
	}
}

func TestConcurrentRefreshRevokes(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.addUser("asha", domain.RoleTrader)
	tok := f.login("asha")
	const n = 8
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			_, err := f.svc.Refresh(context.Background(), tok.RefreshToken)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	ok := 0
	for err := range errs {
		if err == nil {
			ok++
		} else if !errors.Is(err, auth.ErrInvalidToken) {
			t.Errorf("concurrent refresh: %v", err)
		}
	}
	// One wins, the next is a reuse that revokes the family (no grace window).
	if ok != 1 {
		t.Errorf("%d refreshes succeeded, want 1", ok)
	}
	if _, err := f.svc.Verify(tok.AccessToken); !errors.Is(err, auth.ErrInvalidToken) {
		t.Errorf("family not revoked after concurrent reuse: %v", err)
	}
}

func TestAuthenticate(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.addUser("asha", domain.RoleViewer)
	tok := f.login("asha")
	for _, tc := range []struct {
		name    string
		url     string
		header  string
		wantErr error
	}{
		{"header", "/ws", "Bearer " + tok.AccessToken, nil},
		{"lower-case scheme", "/ws", "bearer " + tok.AccessToken, nil},
		{"query parameter", "/ws?access_token=" + tok.AccessToken, "", nil},
		{"nothing", "/ws", "", auth.ErrNoToken},
		{"basic scheme", "/ws", "Basic YTpi", auth.ErrNoToken},
		{"bad token", "/ws", "Bearer x.y.z", auth.ErrInvalidToken},
	} {
		r := httptest.NewRequest("GET", tc.url, nil)
		if tc.header != "" {
			r.Header.Set("Authorization", tc.header)
		}
		p, err := f.svc.Authenticate(r)
		if !errors.Is(err, tc.wantErr) || tc.wantErr == nil && p.Username != "asha" {
			t.Errorf("%s: %+v, %v; want %v", tc.name, p, err, tc.wantErr)
		}
	}
	ctx := auth.WithPrincipal(context.Background(), auth.Principal{Username: "asha"})
	if p, ok := auth.PrincipalFrom(ctx); !ok || p.Username != "asha" {
		t.Errorf("PrincipalFrom = %+v, %v", p, ok)
	}
	if _, ok := auth.PrincipalFrom(context.Background()); ok {
		t.Error("PrincipalFrom of a bare context")
	}
}

func TestNoKey(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	svc, err := auth.NewService(f.st, auth.Config{Params: cheap})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.AddUser(context.Background(), "asha", "asha-password", domain.RoleTrader, "cli"); err != nil {
		t.Fatalf("users without a key: %v", err)
	}
	if _, err := svc.Login(context.Background(), "asha", "asha-password", ""); !errors.Is(err, auth.ErrNoKey) {
		t.Errorf("login without a key: %v", err)
	}
	if _, err := auth.NewService(f.st, auth.Config{Key: []byte("short")}); !errors.Is(err, auth.ErrWeakKey) {
		t.Errorf("short key: %v", err)
	}
}

func TestKeys(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "state")
	path := filepath.Join(dir, "jwt.key")
	key, created, err := auth.LoadOrCreateKey(path)
	if err != nil || !created || len(key) < 32 {
		t.Fatalf("create: %d bytes, %v, %v", len(key), created, err)
	}
	for p, want := range map[string]os.FileMode{dir: 0o700, path: 0o600} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %04o (%v)", p, fi.Mode().Perm(), want, err)
		}
	}
	again, created, err := auth.LoadOrCreateKey(path)
	if err != nil || created || string(again) != string(key) {
		t.Fatalf("load: created %v, same %v, %v", created, string(again) == string(key), err)
	}
	// Refused: readable by others, too short, not random.
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := auth.LoadOrCreateKey(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("world-readable key file: %v", err)
	}
	short := filepath.Join(dir, "short.key")
	if err := os.WriteFile(short, []byte(base64.StdEncoding.EncodeToString(testKey(t)[:16])), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := auth.LoadOrCreateKey(short); !errors.Is(err, auth.ErrWeakKey) || !strings.Contains(err.Error(), "at least 32") {
		t.Errorf("short key file: %v", err)
	}
	k := testKey(t)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if got, err := auth.ParseKey(" " + enc.EncodeToString(k) + "\n"); err != nil || string(got) != string(k) {
			t.Errorf("ParseKey: %v", err)
		}
	}
	for _, bad := range []string{"", "not base64!", base64.StdEncoding.EncodeToString([]byte(strings.Repeat("ab", 20)))} {
		if _, err := auth.ParseKey(bad); err == nil {
			t.Errorf("ParseKey(%q) accepted", bad)
		}
	}
}
