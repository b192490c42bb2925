package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/algoauto/algoauto/api/auth"
	"github.com/algoauto/algoauto/domain"
)

// testAdminPassword is the admin password of the servers the serve tests
// start (through serveEnv); httpGet logs in with it.
const testAdminPassword = "test-admin-password"

// serveEnv is the environment of serve in tests: only the admin password.
func serveEnv(k string) string {
	if k == "ALGOAUTO_ADMIN_PASSWORD" {
		return testAdminPassword
	}
	return ""
}

// adminTokens caches an admin access token per server (scheme://host).
var adminTokens struct {
	mu sync.Mutex
	m  map[string]string
}

// adminToken logs in as admin (testAdminPassword) at the server of u, once
// per server unless fresh; loggedIn reports that it did now.
func adminToken(ctx context.Context, u string, fresh bool) (tok string, loggedIn bool, err error) {
	pu, err := url.Parse(u)
	if err != nil {
		return "", false, err
	}
	base := pu.Scheme + "://" + pu.Host
	adminTokens.mu.Lock()
	defer adminTokens.mu.Unlock()
	if tok := adminTokens.m[base]; tok != "" && !fresh {
		return tok, false, nil
	}
	if tok, err = login(ctx, base, "admin", testAdminPassword); err != nil {
		return "", false, err
	}
	if adminTokens.m == nil {
		adminTokens.m = map[string]string{}
	}
	adminTokens.m[base] = tok
	return tok, true, nil
}

// login returns an access token from POST base/auth/login.
func login(ctx context.Context, base, username, password string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	body, _ := json.Marshal(map[string]string{"username": username, "password": password})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/auth/login", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		return "", fmt.Errorf("login %s: %d %s", username, res.StatusCode, b)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(b, &tok); err != nil || tok.AccessToken == "" {
		return "", fmt.Errorf("login %s: %s", username, b)
	}
	return tok.AccessToken, nil
}

// cancelBody cancels a request's context when its body is closed.
type cancelBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

// doAuthorized sends a bodiless request as admin: with the cached token,
// and once more with a fresh one if that is refused (another server on a
// reused port). Public paths go without a token. A login hashes with the
// production Argon2id parameters (most of a second, more on a loaded
// machine), so a request that had to log in first gets a deadline of its
// own rather than what is left of the caller's.
func doAuthorized(req *http.Request) (*http.Response, error) {
	if strings.HasPrefix(req.URL.Path, "/health") || req.URL.Path == "/metrics" {
		return http.DefaultClient.Do(req)
	}
	for fresh := false; ; fresh = true {
		tok, loggedIn, err := adminToken(context.WithoutCancel(req.Context()), req.URL.String(), fresh)
		if err != nil {
			return nil, err
		}
		send := req
		var cancel context.CancelFunc = func() {}
		if loggedIn {
			var ctx context.Context
			ctx, cancel = context.WithTimeout(context.WithoutCancel(req.Context()), 30*time.Second)
			send = req.Clone(ctx)
		}
		send.Header.Set("Authorization", "Bearer "+tok)
		res, err := http.DefaultClient.Do(send)
		if err != nil {
			cancel()
			return nil, err
		}
		if res.StatusCode != http.StatusUnauthorized || fresh {
			res.Body = cancelBody{res.Body, cancel}
			return res, nil
		}
		res.Body.Close()
		cancel()
	}
}

func TestUsersAddList(t *testing.T) {
	// Not parallel: Argon2id at production cost is CPU-heavy, and the
	// parallel serve tests run after the sequential ones.
	dir := t.TempDir()
	r := runCLI(t, "asha-password\n", "--store", dir, "users", "add", "Asha", "--role", "viewer", "--password-stdin").must(t)
	if !regexp.MustCompile(`^added asha \(viewer\), id [0-9a-f-]{36}, paper account paper-asha\n$`).MatchString(r.stdout) {
		t.Errorf("add: %q", r.stdout)
	}
	// Without --password-stdin a password is generated and shown once.
	r = runCLI(t, "", "--store", dir, "users", "add", "bob").must(t)
	m := regexp.MustCompile(`(?m)^password: (\S{24}) \(shown once\)$`).FindStringSubmatch(r.stdout)
	if m == nil || !strings.Contains(r.stdout, "added bob (trader)") {
		t.Fatalf("add with a generated password: %q", r.stdout)
	}
	bobPassword := m[1]

	for _, tc := range []struct {
		name, stdin string
		args        []string
		code        int
		contains    string
	}{
		{"duplicate", "another-password\n", []string{"users", "add", "asha", "--password-stdin"}, 1, "already exists"},
		{"short password", "short\n", []string{"users", "add", "carl", "--password-stdin"}, 1, "at least 8 characters"},
		{"empty stdin", "", []string{"users", "add", "carl", "--password-stdin"}, 2, "no password on stdin"},
		{"bad role", "", []string{"users", "add", "carl", "--role", "root"}, 2, "--role"},
		{"bad username", "carl-password\n", []string{"users", "add", "9carl", "--password-stdin"}, 1, "username"},
		{"no password flag", "", []string{"users", "add", "carl", "--password", "hunter22"}, 2, "unknown flag"},
		{"no username", "", []string{"users", "add"}, 2, "accepts 1 arg"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"--store", dir}, tc.args...)
			r := runCLI(t, tc.stdin, args...)
			wantOneLineError(t, r, tc.code, args)
			if !strings.Contains(r.stderr, tc.contains) {
				t.Errorf("stderr %q does not contain %q", r.stderr, tc.contains)
			}
		})
	}

	r = runCLI(t, "", "--store", dir, "users", "list").must(t)
	ls := lines(r.stdout)
	if len(ls) != 3 || !strings.HasPrefix(ls[0], "USERNAME") || !regexp.MustCompile(`^asha\s+viewer\s+paper-asha\s`).MatchString(ls[1]) ||
		!regexp.MustCompile(`^bob\s+trader\s+paper-bob\s`).MatchString(ls[2]) {
		t.Errorf("list:\n%s", r.stdout)
	}
	var users []auth.User
	if err := json.Unmarshal([]byte(runCLI(t, "", "--store", dir, "users", "list", "--json").must(t).stdout), &users); err != nil || len(users) != 2 {
		t.Fatalf("list --json: %v %+v", err, users)
	}
	if strings.Contains(runCLI(t, "", "--store", dir, "users", "list", "--json").stdout, "argon2") {
		t.Error("list --json shows password hashes")
	}

	// The passwords were stored: both log in.
	st := openEmbedded(t, dir)
	defer st.Close()
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	svc, err := auth.NewService(st, auth.Config{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	for user, pw := range map[string]string{"asha": "asha-password", "bob": bobPassword} {
		if _, err := svc.Login(context.Background(), user, pw, "127.0.0.1:1"); err != nil {
			t.Errorf("login %s: %v", user, err)
		}
	}
}

// serveNoEnv runs serve in process with no environment at all and returns
// its base URL, log and stop function.
func serveNoEnv(t *testing.T, getenv func(string) string, args ...string) (string, *syncBuffer, func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stderr := &syncBuffer{}
	done := make(chan int, 1)
	go func() { done <- run(ctx, args, strings.NewReader(""), io.Discard, stderr, getenv) }()
	code, stopped := -1, false
	exited := func() bool {
		select {
		case code = <-done:
			return true
		default:
			return code != -1
		}
	}
	stop := func() int {
		t.Helper()
		if stopped {
			return code
		}
		stopped = true
		start := time.Now()
		cancel()
		if code == -1 {
			select {
			case code = <-done:
			case <-time.After(30 * time.Second): // a hang detector; the machine may be loaded
				t.Fatalf("serve did not return within 30s of its context ending; log:\n%s", stderr.String())
			}
			t.Logf("serve stopped %v after cancel", time.Since(start).Round(time.Millisecond))
		}
		return code
	}
	t.Cleanup(func() { stop() })
	return waitURL(t, stderr, exited), stderr, stop
}

func TestServeCreatesAdmin(t *testing.T) {
	// Not parallel (see TestUsersAddList).
	dir := t.TempDir()
	args := []string{"--store", dir, "serve", "--addr", "127.0.0.1:0", "--feed", "none"}
	base, stderr, stop := serveNoEnv(t, noEnv, args...)
	re := regexp.MustCompile(`(?m)^admin password: (\S{20,}) \(also written to (\S+), mode 0600\)$`)
	m := re.FindStringSubmatch(stderr.String())
	if m == nil {
		t.Fatalf("no admin password line in:\n%s", stderr.String())
	}
	pw, path := m[1], m[2]
	state := filepath.Join(dir, "state")
	if path != filepath.Join(state, "admin-password") {
		t.Errorf("password file %s, want it in %s", path, state)
	}
	for _, f := range []string{path, filepath.Join(state, "jwt.key")} {
		fi, err := os.Stat(f)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v, want mode 0600", f, fi.Mode().Perm(), err)
		}
	}
	if b, _ := os.ReadFile(path); strings.TrimSpace(string(b)) != pw {
		t.Errorf("password file holds %q, the log printed %q", b, pw)
	}
	if strings.Count(stderr.String(), pw) != 1 {
		t.Errorf("the password appears %d times in the log", strings.Count(stderr.String(), pw))
	}

	// The API needs a token; the printed password gets one.
	code, _, err := httpGetNoAuth(base + "/api/v1/events/head")
	if err != nil || code != http.StatusUnauthorized {
		t.Fatalf("head without a token: %d %v", code, err)
	}
	tok, err := login(context.Background(), base, "admin", pw)
	if err != nil {
		t.Fatal(err)
	}
	if code, body, err := httpGetToken(base+"/api/v1/events/head", tok); err != nil || code != http.StatusOK {
		t.Fatalf("head with the admin's token: %d %s %v", code, body, err)
	}
	if code := stop(); code != 0 {
		t.Fatalf("exit %d:\n%s", code, stderr.String())
	}

	// A restart creates no second password and keeps the key: the old
	// token and the password still work.
	base, stderr, stop = serveNoEnv(t, noEnv, args...)
	if re.MatchString(stderr.String()) {
		t.Errorf("second start printed a password again:\n%s", stderr.String())
	}
	if code, body, err := httpGetToken(base+"/api/v1/events/head", tok); err != nil || code != http.StatusOK {
		t.Errorf("old token after restart: %d %s %v", code, body, err)
	}
	if _, err := login(context.Background(), base, "admin", pw); err != nil {
		t.Error(err)
	}
	if code := stop(); code != 0 {
		t.Fatalf("exit %d:\n%s", code, stderr.String())
	}
}

func TestServeAuthConfig(t *testing.T) {
	// Not parallel (see TestUsersAddList).
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	good := base64.StdEncoding.EncodeToString(key)

	// A key and an admin password from the environment.
	dir := t.TempDir()
	base, stderr, stop := serveNoEnv(t, env(map[string]string{"ALGOAUTO_JWT_KEY": good, "ALGOAUTO_ADMIN_PASSWORD": "env-admin-pw"}),
		"--store", dir, "serve", "--addr", "127.0.0.1:0", "--feed", "none")
	if strings.Contains(stderr.String(), "admin password:") {
		t.Errorf("printed a password although ALGOAUTO_ADMIN_PASSWORD was set:\n%s", stderr.String())
	}
	if _, err := login(context.Background(), base, "admin", "env-admin-pw"); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"jwt.key", "admin-password"} {
		if _, err := os.Stat(filepath.Join(dir, "state", f)); err == nil {
			t.Errorf("%s written although the environment gave it", f)
		}
	}
	stop()

	// Refused at start: a weak key, a short admin password.
	for _, tc := range []struct {
		name     string
		env      map[string]string
		contains string
	}{
		{"short key", map[string]string{"ALGOAUTO_JWT_KEY": base64.StdEncoding.EncodeToString(key[:16])}, "at least 32"},
		{"low-entropy key", map[string]string{"ALGOAUTO_JWT_KEY": base64.StdEncoding.EncodeToString([]byte(strings.Repeat("secret", 8)))}, "distinct"},
		{"key not base64", map[string]string{"ALGOAUTO_JWT_KEY": "changeme!"}, "base64"},
		{"short admin password", map[string]string{"ALGOAUTO_JWT_KEY": good, "ALGOAUTO_ADMIN_PASSWORD": "short"}, "at least 8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"--store", t.TempDir(), "serve", "--addr", "127.0.0.1:0", "--feed", "none"}
			r := runCLIEnv(t, env(tc.env), "", args...)
			wantOneLineError(t, r, 2, args)
			if !strings.Contains(r.stderr, tc.contains) {
				t.Errorf("stderr %q does not contain %q", r.stderr, tc.contains)
			}
		})
	}
}

func httpGetNoAuth(u string) (int, []byte, error) { return httpGetToken(u, "") }

func httpGetToken(u, token string) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, b, err
}

// The role names the CLI accepts are the domain's.
func TestUsersAddRoles(t *testing.T) {
	// Not parallel (see TestUsersAddList).
	dir := t.TempDir()
	for _, r := range []domain.Role{domain.RoleAdmin, domain.RoleTrader, domain.RoleViewer} {
		name := "u" + string(r)
		out := runCLI(t, name+"-password\n", "--store", dir, "users", "add", name, "--role", strings.ToUpper(string(r)), "--password-stdin").must(t)
		if !strings.Contains(out.stdout, "("+string(r)+")") {
			t.Errorf("role %s: %q", r, out.stdout)
		}
	}
}

// authEvents are the events auth adds to the log of a serve test: the
// admin's UserRegistered on the first start and the SessionStarted of the
// one login doAuthorized makes per server.
const authEvents = 2
