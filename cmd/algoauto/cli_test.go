package main

import (
	"net"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestHelp(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"help"}, {"--help"}, {}} {
		r := runCLI(t, "", args...).must(t)
		for _, cmd := range []string{"serve", "events", "projections"} {
			re := regexp.MustCompile(`(?m)^\s+` + cmd + `\s+\S.*$`)
			if !re.MatchString(r.stdout) {
				t.Errorf("%q: no line describing %q in:\n%s", args, cmd, r.stdout)
			}
		}
		if r.stderr != "" {
			t.Errorf("%q: stderr %q", args, r.stderr)
		}
	}
}

func TestEventsHelp(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"events", "--help"}, {"events"}, {"help", "events"}} {
		r := runCLI(t, "", args...).must(t)
		for _, cmd := range []string{"append", "read", "stats", "verify"} {
			re := regexp.MustCompile(`(?m)^\s+` + cmd + `\s+\S.*$`)
			if !re.MatchString(r.stdout) {
				t.Errorf("%q: no line describing %q in:\n%s", args, cmd, r.stdout)
			}
		}
	}
	// Each subcommand's help names its flags.
	for cmd, flags := range map[string][]string{
		"append": {"--keep-going", "--allow-unknown-types"},
		"read":   {"--from", "--stream", "--type", "--limit", "--follow"},
		"stats":  {"--json"},
		"serve":  {"--addr", "--feed", "--speed", "--seed", "--sim-start", "--sim-limit", "--batch", "--max-delay", "--max-pending-bytes", "--holidays"},
	} {
		args := []string{cmd, "--help"}
		if cmd != "serve" {
			args = []string{"events", cmd, "--help"}
		}
		r := runCLI(t, "", args...).must(t)
		for _, f := range flags {
			if !strings.Contains(r.stdout, f) {
				t.Errorf("%q does not mention %s", args, f)
			}
		}
	}
}

// wantOneLineError checks a failed run: the exit status, exactly one
// stderr line starting "algoauto: ", no stack trace, nothing on stdout.
func wantOneLineError(t *testing.T, r result, code int, args []string) {
	t.Helper()
	if r.code != code {
		t.Errorf("%q: exit %d, want %d (stderr %q)", args, r.code, code, r.stderr)
	}
	ls := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
	if len(ls) != 1 || !strings.HasPrefix(ls[0], "algoauto: ") || !strings.HasSuffix(r.stderr, "\n") {
		t.Errorf("%q: stderr is not one line starting \"algoauto: \":\n%s", args, r.stderr)
	}
	for _, s := range []string{"goroutine ", "panic", ".go:"} {
		if strings.Contains(r.stderr, s) {
			t.Errorf("%q: stderr looks like a stack trace: %s", args, r.stderr)
		}
	}
	if r.stdout != "" {
		t.Errorf("%q: stdout %q", args, r.stdout)
	}
}

func TestConfigErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, tc := range []struct {
		name     string
		args     []string
		contains string
		timeout  time.Duration
	}{
		{"malformed postgres URL", []string{"--store", "postgres://u:secret@host:notaport/db", "events", "stats"}, "--store", 0},
		{"unreachable postgres", []string{"--store", "postgres://u:secret@127.0.0.1:1/db?connect_timeout=2", "events", "stats"}, "postgres", 0},
		{"unknown scheme", []string{"--store", "ftp://x", "events", "stats"}, "ftp", 0},
		{"unreachable esdb", []string{"--store", "esdb://127.0.0.1:1?tls=false", "events", "stats"}, "esdb", 15 * time.Second},
		{"unreachable esdb with password", []string{"--store", "esdb://admin:secret@127.0.0.1:1?tls=false", "events", "read"}, "esdb", 15 * time.Second},
		{"negative speed", []string{"--store", dir, "serve", "--speed", "-1"}, "--speed", 0},
		{"speed not a number", []string{"--store", dir, "serve", "--speed", "fast"}, "--speed", 0},
		{"sim-start not RFC 3339", []string{"--store", dir, "serve", "--sim-start", "yesterday"}, "--sim-start", 0},
		{"bad address", []string{"--store", dir, "serve", "--addr", "256.0.0.1:99999"}, "256.0.0.1:99999", 0},
		{"unknown feed", []string{"--store", dir, "serve", "--feed", "kite"}, "--feed", 0},
		{"missing holidays file", []string{"--store", dir, "serve", "--holidays", filepath.Join(dir, "nope.csv")}, "--holidays", 0},
		{"unknown flag", []string{"--bogus"}, "--bogus", 0},
		{"unknown subcommand flag", []string{"--store", dir, "events", "read", "--bogus"}, "--bogus", 0},
		{"flag without value", []string{"--store", dir, "events", "read", "--from"}, "--from", 0},
		{"bad flag value", []string{"--store", dir, "events", "read", "--from", "-1"}, "--from", 0},
		{"unknown command", []string{"bogus"}, "bogus", 0},
		{"unknown events command", []string{"--store", dir, "events", "bogus"}, "bogus", 0},
		{"extra argument", []string{"--store", dir, "events", "stats", "extra"}, "extra", 0},
		{"bad log level", []string{"--store", dir, "--log-level", "loud", "events", "stats"}, "--log-level", 0},
		{"bad log format", []string{"--store", dir, "--log-format", "xml", "events", "stats"}, "--log-format", 0},
		{"empty store", []string{"--store", "", "events", "stats"}, "--store", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			r := runCLI(t, "", tc.args...)
			wantOneLineError(t, r, 2, tc.args)
			if !strings.Contains(r.stderr, tc.contains) {
				t.Errorf("%q: stderr %q does not name %q", tc.args, r.stderr, tc.contains)
			}
			if strings.Contains(r.stderr, "secret") {
				t.Errorf("%q: stderr leaks the password: %s", tc.args, r.stderr)
			}
			limit := tc.timeout
			if limit == 0 {
				limit = 10 * time.Second
			}
			if d := time.Since(start); d > limit {
				t.Errorf("%q took %v, want at most %v", tc.args, d, limit)
			}
		})
	}
}

// A busy address fails serve with exit 2 (README) after the store opened.
func TestServeBusyAddress(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	args := []string{"--store", t.TempDir(), "serve", "--addr", ln.Addr().String(), "--speed", "0", "--sim-options=false"}
	r := runCLI(t, "", args...)
	wantOneLineError(t, r, 2, args)
	if !strings.Contains(r.stderr, ln.Addr().String()) {
		t.Errorf("stderr %q does not name the address", r.stderr)
	}
}

// A store directory in use ends with one error line and exit 2 (README).
func TestStoreInUse(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	st := openEmbedded(t, dir)
	defer st.Close()
	args := []string{"--store", dir, "events", "stats"}
	wantOneLineError(t, runCLI(t, "", args...), 2, args)
}

// Flags win over environment variables, which win over defaults.
func TestEnvironment(t *testing.T) {
	t.Parallel()
	envDir, flagDir := t.TempDir(), t.TempDir()
	line := `{"stream":"order-1","type":"OrderSubmitted","data":{"order_id":"1","client_order_id":"c1","broker":"paper"}}` + "\n"
	getenv := env(map[string]string{"ALGOAUTO_STORE": envDir})

	runCLIEnv(t, getenv, line, "events", "append").must(t)
	if h, _ := headOf(t, envDir); h != 1 {
		t.Errorf("ALGOAUTO_STORE: head of %s is %d, want 1", envDir, h)
	}
	runCLIEnv(t, getenv, line+line, "--store", flagDir, "events", "append").must(t)
	if h, _ := headOf(t, flagDir); h != 2 {
		t.Errorf("--store over ALGOAUTO_STORE: head of %s is %d, want 2", flagDir, h)
	}
	if h, _ := headOf(t, envDir); h != 1 {
		t.Errorf("--store over ALGOAUTO_STORE: head of %s is %d, want still 1", envDir, h)
	}

	// Environment values are validated like flags.
	for _, tc := range []struct {
		env  map[string]string
		args []string
	}{
		{map[string]string{"ALGOAUTO_STORE": "ftp://x"}, []string{"events", "stats"}},
		{map[string]string{"ALGOAUTO_LOG_LEVEL": "loud"}, []string{"--store", envDir, "events", "stats"}},
		{map[string]string{"ALGOAUTO_SPEED": "-2"}, []string{"--store", envDir, "serve"}},
		{map[string]string{"ALGOAUTO_FEED": "kite"}, []string{"--store", envDir, "serve"}},
		{map[string]string{"ALGOAUTO_ADDR": "256.0.0.1:99999"}, []string{"--store", envDir, "serve", "--feed", "none"}},
		// A live account without Kite's key and token (secrets: environment only).
		{map[string]string{"ALGOAUTO_KITE_ACCOUNT": "live-1"}, []string{"--store", envDir, "serve"}},
		{map[string]string{"ALGOAUTO_KITE_API_KEY": "k"}, []string{"--store", envDir, "serve", "--kite-account", "live-1"}},
	} {
		r := runCLIEnv(t, env(tc.env), "", tc.args...)
		wantOneLineError(t, r, 2, tc.args)
	}
	// A flag wins over a bad environment value.
	runCLIEnv(t, env(map[string]string{"ALGOAUTO_STORE": "ftp://x", "ALGOAUTO_LOG_LEVEL": "loud"}), "",
		"--store", envDir, "--log-level", "warn", "events", "stats").must(t)
}
