package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/algoauto/algoauto/domain"
)

var (
	servingURL = regexp.MustCompile(`msg="algoauto serving" url=(http://\S+)`)
	stoppedRe  = regexp.MustCompile(`msg=stopped .*recorded=(\d+) dropped=(\d+) invalid=(\d+) pending=(\d+)`)
)

// waitURL polls a server's log for the URL of "algoauto serving".
func waitURL(t *testing.T, stderr interface{ String() string }, exited func() bool) string {
	t.Helper()
	var u string
	waitFor(t, 30*time.Second, "the \"algoauto serving\" log line", func() bool {
		if m := servingURL.FindStringSubmatch(stderr.String()); m != nil {
			u = m[1]
			return true
		}
		if exited() {
			t.Fatalf("serve exited before serving:\n%s", stderr.String())
		}
		return false
	})
	return u
}

func httpGet(ctx context.Context, u string) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, nil, err
	}
	res, err := doAuthorized(req) // as admin, except the health probes
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, b, err
}

// waitReady polls /health/ready until it answers 200.
func waitReady(t *testing.T, base string) {
	t.Helper()
	var last string
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, body, err := httpGet(context.Background(), base+"/health/ready")
		if err == nil && code == http.StatusOK {
			return
		}
		last = strconv.Itoa(code) + " " + string(body)
		if err != nil {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			t.Fatalf("/health/ready not 200 after 30s: %s", last)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// head returns /api/v1/events/head.
func head(t *testing.T, base string) uint64 {
	t.Helper()
	h, err := getHead(base)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func getHead(base string) (uint64, error) {
	code, body, err := httpGet(context.Background(), base+"/api/v1/events/head")
	if err != nil || code != http.StatusOK {
		return 0, fmt.Errorf("/api/v1/events/head: %d %s %v", code, body, err)
	}
	var h struct {
		Position *uint64 `json:"position"`
	}
	if err := json.Unmarshal(body, &h); err != nil || h.Position == nil {
		return 0, fmt.Errorf("/api/v1/events/head: %s", body)
	}
	return *h.Position, nil
}

// waitHead polls /api/v1/events/head until ok(head) holds or d has passed.
// A request that fails or times out (the in-process server shares the
// loaded CPUs with the race detector) is retried, not fatal; the last head
// or error is in the failure message.
func waitHead(t *testing.T, base string, d time.Duration, what string, ok func(uint64) bool) {
	t.Helper()
	var last string
	deadline := time.Now().Add(d)
	for {
		h, err := getHead(base)
		if err == nil && ok(h) {
			return
		}
		last = fmt.Sprintf("head %d", h)
		if err != nil {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s (last: %s)", d, what, last)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// serveInProcess runs `serve` through run with a cancellable context, as
// main does with SIGINT, and returns the base URL, the log and a stop
// function that cancels and returns the exit status.
func serveInProcess(t *testing.T, args ...string) (base string, stderr *syncBuffer, stop func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stderr = &syncBuffer{}
	var stdout syncBuffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, args, strings.NewReader(""), &stdout, stderr, serveEnv) }()
	code := -1
	exited := func() bool {
		select {
		case code = <-done:
			return true
		default:
			return code != -1
		}
	}
	stopped := false
	stop = func() int {
		t.Helper()
		if stopped {
			return code
		}
		stopped = true
		start := time.Now()
		cancel()
		if code != -1 {
			return code
		}
		select {
		case code = <-done:
		case <-time.After(30 * time.Second): // a hang detector; the machine may be loaded
			t.Fatalf("serve did not return within 30s of its context ending; log:\n%s", stderr.String())
		}
		t.Logf("serve stopped %v after cancel", time.Since(start).Round(time.Millisecond))
		return code
	}
	t.Cleanup(func() { stop() })
	base = waitURL(t, stderr, exited)
	return base, stderr, stop
}

// checkStopped checks the final "stopped" log line and returns recorded.
func checkStopped(t *testing.T, log string) uint64 {
	t.Helper()
	m := stoppedRe.FindStringSubmatch(log)
	if m == nil {
		t.Fatalf("no \"stopped ... recorded=N\" log line:\n%s", log)
	}
	if m[2] != "0" || m[3] != "0" || m[4] != "0" {
		t.Errorf("stopped with dropped=%s invalid=%s pending=%s, want 0 0 0", m[2], m[3], m[4])
	}
	n, _ := strconv.ParseUint(m[1], 10, 64)
	for _, bad := range []string{"level=ERROR", "panic"} {
		if strings.Contains(log, bad) {
			t.Errorf("log contains %q:\n%s", bad, log)
		}
	}
	return n
}

func TestServeEndToEnd(t *testing.T) {
	t.Parallel()
	const limit = 200000
	dir := t.TempDir()
	base, stderr, stop := serveInProcess(t, "--store", dir, "serve", "--addr", "127.0.0.1:0", "--speed", "0", "--sim-options=false",
		"--sim-limit", strconv.Itoa(limit), "--sim-start", "2026-11-20T09:15:00+05:30")
	if !strings.HasPrefix(base, "http://127.0.0.1:") || strings.HasSuffix(base, ":0") {
		t.Fatalf("serving URL %q", base)
	}
	t0 := time.Now()
	waitReady(t, base)
	t.Logf("ready after %v", time.Since(t0))
	waitHead(t, base, 3*time.Minute, "head == 200000 (+ auth events)", func(h uint64) bool { return h == limit+authEvents })
	t.Logf("head after %v", time.Since(t0))

	// The audit API serves what was recorded.
	code, body, err := httpGet(context.Background(), base+"/api/v1/events?from=0&limit=5&stream=tick-NFO:*&type=TickReceived")
	if err != nil || code != http.StatusOK {
		t.Fatalf("/api/v1/events: %d %v", code, err)
	}
	var evs []envelope
	if err := json.Unmarshal(body, &evs); err != nil || len(evs) != 5 {
		t.Fatalf("/api/v1/events: %s", body)
	}
	for _, e := range evs {
		if e.Type != domain.TypeTickReceived || !strings.HasPrefix(e.Stream, "tick-NFO:") {
			t.Errorf("filtered event %+v", e)
		}
	}

	if code := stop(); code != 0 {
		t.Fatalf("serve exited %d after cancel; log:\n%s", code, stderr.String())
	}
	recorded := checkStopped(t, stderr.String())
	if recorded != limit {
		t.Errorf("recorder recorded %d, want %d", recorded, limit)
	}

	t.Logf("stopped after %v", time.Since(t0))

	// Reopened, the store holds every tick, the last one a TickReceived,
	// and its checksums verify.
	// (The login's SessionStarted lands somewhere among them.)
	r := runChecked(t, "--store", dir, "events", "read", "--from", strconv.Itoa(limit), "--type", domain.TypeTickReceived).must(t)
	last := parseEnvelopes(t, r.stdout)
	if len(last) == 0 || last[len(last)-1].Position <= limit || last[len(last)-1].Type != domain.TypeTickReceived {
		t.Errorf("reopened store: ticks after %d: %s; want the last at %d or later", limit, r.stdout, limit+1)
	}
	r = runChecked(t, "--store", dir, "events", "stats", "--json").must(t)
	var rep statsReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || rep.Head != limit+authEvents || rep.Events != limit+authEvents ||
		rep.ByType[domain.TypeTickReceived] != limit || rep.ByCategory["tick"] != limit || rep.DiskBytes <= 0 {
		t.Errorf("reopened store stats: %s (%v)", r.stdout, err)
	}
	r = runChecked(t, "--store", dir, "events", "verify").must(t)
	if !strings.HasPrefix(r.stdout, fmt.Sprintf("ok: %d events verified", limit+authEvents)) {
		t.Errorf("verify: %q", r.stdout)
	}
	t.Logf("checked after %v", time.Since(t0))
}

// With --feed none serve records nothing and is ready at once; ready needs
// no feed.
func TestServeNoFeed(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	line := ndjson("", "order-1", "OrderSubmitted", submitted(1), "")
	runCLI(t, line, "--store", dir, "events", "append").must(t)
	base, stderr, stop := serveInProcess(t, "--store", dir, "serve", "--addr", "127.0.0.1:0", "--feed", "none")
	waitReady(t, base)
	if h := head(t, base); h != 1+authEvents {
		t.Errorf("head %d, want %d", h, 1+authEvents)
	}
	code, body, err := httpGet(context.Background(), base+"/api/v1/events?stream=order-1")
	if err != nil || code != 200 || !strings.Contains(string(body), `"client_order_id":"c1"`) {
		t.Errorf("/api/v1/events?stream=order-1: %d %s %v", code, body, err)
	}
	code, body, _ = httpGet(context.Background(), base+"/health")
	if code != 200 || !strings.Contains(string(body), `"version":"dev"`) {
		t.Errorf("/health: %d %s", code, body)
	}
	if code := stop(); code != 0 {
		t.Fatalf("exit %d:\n%s", code, stderr.String())
	}
	if n := checkStopped(t, stderr.String()); n != 0 {
		t.Errorf("recorded %d with no feed", n)
	}
}

// Same end-to-end run against PostgreSQL, shorter.
func TestServePostgres(t *testing.T) {
	t.Parallel()
	const limit = 20000
	store := freshDatabase(t)
	state := t.TempDir() // a non-embedded store keeps snapshots in ./state by default
	base, stderr, stop := serveInProcess(t, "--store", store, "--state-dir", state, "serve", "--addr", "127.0.0.1:0", "--speed", "0", "--sim-options=false",
		"--sim-limit", strconv.Itoa(limit))
	waitReady(t, base)
	waitHead(t, base, 2*time.Minute, "head == 20000 (+ auth events)", func(h uint64) bool { return h == limit+authEvents })
	if code := stop(); code != 0 {
		t.Fatalf("serve exited %d after cancel; log:\n%s", code, stderr.String())
	}
	if n := checkStopped(t, stderr.String()); n != limit {
		t.Errorf("recorded %d, want %d", n, limit)
	}
	for _, n := range []string{"quotes", "positions"} {
		if _, err := os.Stat(filepath.Join(state, "snapshots", n+".snapshot")); err != nil {
			t.Errorf("no final snapshot of %s in --state-dir: %v", n, err)
		}
	}
	// The log line names the store without its password.
	if !strings.Contains(stderr.String(), "store=\"postgres:postgres://") {
		t.Errorf("log does not name the store:\n%s", stderr.String())
	}
	r := runCLI(t, "", "--store", store, "events", "stats", "--json").must(t)
	var rep statsReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || rep.Head != limit+authEvents || rep.Events != limit+authEvents || rep.ByType[domain.TypeTickReceived] != limit {
		t.Errorf("stats after serve: %s (%v)", r.stdout, err)
	}
	r = runCLI(t, "", "--store", store, "events", "read", "--from", strconv.Itoa(limit), "--type", domain.TypeTickReceived).must(t)
	if evs := parseEnvelopes(t, r.stdout); len(evs) == 0 || evs[len(evs)-1].Type != domain.TypeTickReceived || evs[len(evs)-1].Position <= limit {
		t.Errorf("last event: %s", r.stdout)
	}
}

// A real SIGTERM stops serve cleanly: exit 0 within 10s, and every tick the
// recorder acknowledged is in the store.
func TestServeSIGTERM(t *testing.T) {
	t.Parallel()
	bin := algoautoBinary(t)
	dir := t.TempDir()
	// A 16 MiB recorder buffer instead of the default 64: still full at the
	// stop, but what must land within the bound is a quarter as much, so
	// that the CPU share left to this process on a loaded 2-core machine
	// (race-enabled test binaries beside it) is not what fails the test.
	cmd := exec.Command(bin, "--store", dir, "serve", "--addr", "127.0.0.1:0", "--speed", "0", "--sim-options=false", "--max-pending-bytes", strconv.Itoa(16<<20))
	cmd.Env = append(cleanEnv(), "ALGOAUTO_ADMIN_PASSWORD="+testAdminPassword)
	var stdout, stderr syncBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	exited := false
	t.Cleanup(func() {
		if !exited {
			_ = cmd.Process.Kill()
			<-waited
		}
	})
	hasExited := func() bool {
		select {
		case err := <-waited:
			exited = true
			waited <- err
			return true
		default:
			return false
		}
	}
	base := waitURL(t, &stderr, hasExited)
	waitReady(t, base)
	// Stop under sustained load (the recorder's buffer full, an append in
	// flight): the batch in flight and the buffer must still land in time.
	waitHead(t, base, 2*time.Minute, "300,000 recorded ticks", func(h uint64) bool { return h > 300_000 })

	start := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-waited:
		exited = true
		if err != nil {
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				t.Fatalf("serve exited %d after SIGTERM; log:\n%s", ee.ExitCode(), stderr.String())
			}
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		// Where it is stuck: SIGQUIT makes the Go runtime dump every
		// goroutine to stderr before exiting.
		_ = cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case err := <-waited:
			waited <- err
		case <-time.After(10 * time.Second):
		}
		t.Fatalf("serve still running 10s after SIGTERM; log and goroutines (SIGQUIT):\n%s", stderr.String())
	}
	t.Logf("serve stopped %v after SIGTERM", time.Since(start).Round(time.Millisecond))
	if stdout.String() != "" {
		t.Errorf("serve wrote to stdout: %q", stdout.String())
	}
	recorded := checkStopped(t, stderr.String())
	if recorded == 0 {
		t.Fatalf("recorded nothing; log:\n%s", stderr.String())
	}
	// The log must end exactly at recorded+authEvents, with a tick: read
	// from the position before. Not headOf: the store's WAL holds hundreds
	// of thousands of ticks, and replaying it in this -race process (Pebble
	// with its invariant checks) takes from 10s to over 5 minutes on a
	// loaded 2-core machine; runChecked uses the built binary under -race.
	want := recorded + authEvents
	r := runChecked(t, "--store", dir, "events", "read", "--from", strconv.FormatUint(want-1, 10)).must(t)
	evs := parseEnvelopes(t, r.stdout)
	if len(evs) != 1 || evs[0].Position != want {
		t.Errorf("events after %d: %v, want exactly one at %d (the recorder recorded %d): acknowledged ticks lost or unaccounted",
			want-1, envPositions(evs), want, recorded)
	} else if evs[0].Type != domain.TypeTickReceived {
		t.Errorf("last event %+v", evs[0])
	}
}
