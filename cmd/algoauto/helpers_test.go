package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/algoauto/algoauto/eventstore"
	"github.com/algoauto/algoauto/eventstore/embedded"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binary.dir != "" {
		_ = os.RemoveAll(binary.dir)
	}
	// Every test names its store and state directories: a default
	// ./data or ./state appearing here means one did not.
	for _, d := range []string{"data", "state"} {
		if _, err := os.Stat(d); err == nil {
			fmt.Fprintf(os.Stderr, "a test left ./%s in the package directory (pass --store/--state-dir)\n", d)
			_ = os.RemoveAll(d)
			code = 1
		}
	}
	os.Exit(code)
}

// binary is this command built once per test run (without -race).
var binary struct {
	once      sync.Once
	dir, path string
	err       error
	skip      string
}

// algoautoBinary builds the command (go build -o DIR/algoauto .) once and
// returns its path; it skips the test when go is not on PATH.
func algoautoBinary(tb testing.TB) string {
	tb.Helper()
	binary.once.Do(func() {
		goBin, err := exec.LookPath("go")
		if err != nil {
			binary.skip = "go is not on PATH: cannot build the algoauto binary"
			return
		}
		if binary.dir, binary.err = os.MkdirTemp("", "algoauto-test-"); binary.err != nil {
			return
		}
		binary.path = filepath.Join(binary.dir, "algoauto")
		// Generous: with a cold build cache this compiles every dependency
		// without -race, on a machine busy with other test binaries.
		ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, goBin, "build", "-o", binary.path, ".").CombinedOutput()
		if err != nil {
			binary.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binary.skip != "" {
		tb.Skip(binary.skip)
	}
	if binary.err != nil {
		tb.Fatal(binary.err)
	}
	return binary.path
}

// runChecked runs a read-only command line for checking a large store: in
// process normally, but through the built binary under -race, where Pebble's
// invariant checks make a full scan minutes long (same code either way).
func runChecked(tb testing.TB, args ...string) result {
	tb.Helper()
	if !raceEnabled {
		return runCLI(tb, "", args...)
	}
	if _, err := exec.LookPath("go"); err != nil {
		return runCLI(tb, "", args...)
	}
	bin := algoautoBinary(tb)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = cleanEnv()
	var stdout, stderr syncBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			tb.Fatalf("%s: %v", bin, err)
		}
		code = ee.ExitCode()
	}
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// cleanEnv is the process environment without ALGOAUTO_* variables.
func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ALGOAUTO_") {
			out = append(out, kv)
		}
	}
	return out
}

// syncBuffer is a bytes.Buffer safe for one writer and concurrent readers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// result is what one run of the command line produced.
type result struct {
	code           int
	stdout, stderr string
}

// noEnv is a getenv with no ALGOAUTO_* variables set, so that the
// developer's environment cannot change what a test runs.
func noEnv(string) string { return "" }

// env returns a getenv over m.
func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// runCLI runs the command line as main does (no environment), with stdin,
// and waits for it at most a minute.
func runCLI(tb testing.TB, stdin string, args ...string) result {
	tb.Helper()
	return runCLIEnv(tb, noEnv, stdin, args...)
}

func runCLIEnv(tb testing.TB, getenv func(string) string, stdin string, args ...string) result {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var stdout, stderr syncBuffer
	code := run(ctx, args, strings.NewReader(stdin), &stdout, &stderr, getenv)
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// must fails the test unless the run exited 0.
func (r result) must(tb testing.TB) result {
	tb.Helper()
	if r.code != 0 {
		tb.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	return r
}

// lines returns the non-empty lines of s.
func lines(s string) []string {
	var out []string
	for l := range strings.SplitSeq(s, "\n") {
		if strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	return out
}

// waitFor polls cond every 10ms until it holds or d has passed.
func waitFor(tb testing.TB, d time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ack is one line of `events append`.
type ack struct {
	ID        string `json:"id"`
	Stream    string `json:"stream"`
	Version   uint64 `json:"version"`
	Position  uint64 `json:"position"`
	Duplicate bool   `json:"duplicate"`
}

func parseAcks(tb testing.TB, stdout string) []ack {
	tb.Helper()
	var out []ack
	for _, l := range lines(stdout) {
		var a ack
		dec := json.NewDecoder(strings.NewReader(l))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&a); err != nil {
			tb.Fatalf("ack line %q: %v", l, err)
		}
		out = append(out, a)
	}
	return out
}

// envelope is one line of `events read`.
type envelope struct {
	ID         string          `json:"id"`
	Stream     string          `json:"stream"`
	Type       string          `json:"type"`
	Version    uint64          `json:"version"`
	Position   uint64          `json:"position"`
	RecordedAt time.Time       `json:"recorded_at"`
	Data       json.RawMessage `json:"data"`
	Metadata   json.RawMessage `json:"metadata"`
}

var envelopeFields = []string{"id", "stream", "type", "version", "position", "recorded_at", "data", "metadata"}

// parseEnvelopes parses `events read` output, checking that each line has
// exactly the eight envelope fields.
func parseEnvelopes(tb testing.TB, stdout string) []envelope {
	tb.Helper()
	var out []envelope
	for _, l := range lines(stdout) {
		var raw map[string]json.RawMessage
		if err := json.Unmarshal([]byte(l), &raw); err != nil {
			tb.Fatalf("envelope line %q: %v", l, err)
		}
		if len(raw) != len(envelopeFields) {
			tb.Errorf("envelope %s: want exactly the fields %v", l, envelopeFields)
		}
		for _, f := range envelopeFields {
			if _, ok := raw[f]; !ok {
				tb.Errorf("envelope %s lacks %q", l, f)
			}
		}
		var e envelope
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			tb.Fatalf("envelope line %q: %v", l, err)
		}
		out = append(out, e)
	}
	return out
}

func envPositions(evs []envelope) []uint64 {
	out := make([]uint64, len(evs))
	for i, e := range evs {
		out[i] = e.Position
	}
	return out
}

func equalSlices[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// openEmbedded opens the embedded store in dir (no run may hold it).
func openEmbedded(tb testing.TB, dir string) *embedded.Store {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := embedded.Open(ctx, embedded.Config{Dir: dir})
	if err != nil {
		tb.Fatalf("open embedded store %s: %v", dir, err)
	}
	return st
}

// headOf opens the embedded store in dir and returns its head and last
// event.
func headOf(tb testing.TB, dir string) (eventstore.Position, *eventstore.RecordedEvent) {
	tb.Helper()
	st := openEmbedded(tb, dir)
	defer st.Close()
	ctx := context.Background()
	h, err := st.Head(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	if h == 0 {
		return 0, nil
	}
	evs, err := st.ReadAll(ctx, eventstore.ReadAllOptions{After: h - 1, Count: 1})
	if err != nil || len(evs) != 1 {
		tb.Fatalf("read the last event: %v (%d events)", err, len(evs))
	}
	return h, &evs[0]
}

// postgresURL returns ALGOAUTO_TEST_POSTGRES or skips the test, naming it.
func postgresURL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv("ALGOAUTO_TEST_POSTGRES")
	if u == "" {
		tb.Skip("set ALGOAUTO_TEST_POSTGRES=postgres://... to run the CLI against PostgreSQL")
	}
	return u
}

// freshDatabase creates a database on the ALGOAUTO_TEST_POSTGRES server,
// drops it when the test ends, and returns its URL.
func freshDatabase(tb testing.TB) string {
	tb.Helper()
	base := postgresURL(tb)
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatalf("ALGOAUTO_TEST_POSTGRES: %v", err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "algoauto_cli_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		tb.Fatalf("connect to ALGOAUTO_TEST_POSTGRES: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		tb.Fatalf("create database %s: %v", name, err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			tb.Logf("drop database %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			tb.Logf("drop database %s: %v", name, err)
		}
	})
	u.Path = "/" + name
	return u.String()
}
