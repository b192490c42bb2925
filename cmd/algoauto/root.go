package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/algoauto/algoauto/eventstore"
	"github.com/algoauto/algoauto/eventstore/codec"
	"github.com/algoauto/algoauto/eventstore/embedded"
	"github.com/algoauto/algoauto/eventstore/esdb"
	"github.com/algoauto/algoauto/eventstore/postgres"
	"github.com/algoauto/algoauto/projections"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// globals are the flags every subcommand shares.
type globals struct {
	store     string
	stateDir  string
	logLevel  string
	logFormat string
	stdin     io.Reader
	stdout    io.Writer
	stderr    io.Writer
	getenv    func(string) string
}

func newRootCmd(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) *cobra.Command {
	g := &globals{stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv}
	root := &cobra.Command{
		Use:   "algoauto",
		Short: "AlgoAuto: an event-sourced trading engine for NSE index options",
		Long: `AlgoAuto records market data, signals, orders and control changes as events in
one append-only log, and serves read models and live streams from it.

The log is the embedded store in ./data unless --store (or ALGOAUTO_STORE)
names another: a directory, postgres://..., or esdb://...`,
		SilenceUsage:      true,
		SilenceErrors:     true,
		CompletionOptions: cobra.CompletionOptions{DisableDefaultCmd: true},
		Version:           version,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			fromEnv(cmd, "store", "ALGOAUTO_STORE", &g.store, getenv)
			fromEnv(cmd, "state-dir", "ALGOAUTO_STATE_DIR", &g.stateDir, getenv)
			fromEnv(cmd, "log-level", "ALGOAUTO_LOG_LEVEL", &g.logLevel, getenv)
			fromEnv(cmd, "log-format", "ALGOAUTO_LOG_FORMAT", &g.logFormat, getenv)
			return nil
		},
	}
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	pf := root.PersistentFlags()
	pf.StringVar(&g.store, "store", "./data", "event store: a directory (embedded), postgres://..., or esdb://... (env ALGOAUTO_STORE)")
	pf.StringVar(&g.stateDir, "state-dir", "", "this node's derived state (projection snapshots); default <store>/state for an embedded store, else ./state (env ALGOAUTO_STATE_DIR)")
	pf.StringVar(&g.logLevel, "log-level", "info", "log level: debug, info, warn, error (env ALGOAUTO_LOG_LEVEL)")
	pf.StringVar(&g.logFormat, "log-format", "text", "log format: text or json (env ALGOAUTO_LOG_FORMAT)")
	root.AddCommand(newServeCmd(g), newEventsCmd(g), newProjectionsCmd(g))
	root.AddCommand(newUsersCmd(g))
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return configErr(err) })
	return root
}

// fromEnv applies an environment variable to a flag the user did not set.
func fromEnv(cmd *cobra.Command, flag, env string, dst *string, getenv func(string) string) {
	if f := cmd.Flags().Lookup(flag); f != nil && f.Changed {
		return
	}
	if v := getenv(env); v != "" {
		*dst = v
	}
}

func isUsageErr(err error) bool {
	msg := err.Error()
	return strings.HasPrefix(msg, "unknown command") || strings.HasPrefix(msg, "unknown flag") ||
		strings.Contains(msg, "accepts ") || strings.HasPrefix(msg, "invalid argument")
}

func (g *globals) logger() (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(g.logLevel)); err != nil {
		return nil, configErr(fmt.Errorf("--log-level %q: want debug, info, warn or error", g.logLevel))
	}
	opts := &slog.HandlerOptions{Level: level}
	switch g.logFormat {
	case "text":
		return slog.New(slog.NewTextHandler(g.stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(g.stderr, opts)), nil
	}
	return nil, configErr(fmt.Errorf("--log-format %q: want text or json", g.logFormat))
}

// storeKind classifies a --store value.
func storeKind(spec string) (string, error) {
	if !strings.Contains(spec, "://") {
		if spec == "" {
			return "", errors.New("--store is empty")
		}
		return "embedded", nil
	}
	u, err := url.Parse(spec)
	if err != nil {
		return "", fmt.Errorf("--store: malformed URL: %v", redactURLErr(err))
	}
	switch u.Scheme {
	case "postgres", "postgresql":
		return "postgres", nil
	case "esdb", "esdb+discover", "kurrentdb", "kurrentdb+discover", "kurrent", "kurrent+discover":
		return "esdb", nil
	}
	return "", fmt.Errorf("--store: unknown scheme %q (want a directory, postgres://... or esdb://...)", u.Scheme)
}

func redactURLErr(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return "cannot parse"
}

// snapshots opens the projection snapshot store under --state-dir, whose
// default depends on the kind of store opened.
func (g *globals) snapshots(st *openedStore) (*projections.FileSnapshots, error) {
	dir := g.stateDir
	if dir == "" {
		dir = "state"
		if st.kind == "embedded" {
			dir = filepath.Join(g.store, "state")
		}
	}
	snaps, err := projections.NewFileSnapshots(filepath.Join(dir, "snapshots"))
	if err != nil {
		return nil, configErr(fmt.Errorf("--state-dir: %w", err))
	}
	return snaps, nil
}

// readModels lists the projections serve runs and `projections` manages.
func readModels(reg *codec.Registry) []projections.Factory {
	return []projections.Factory{
		func() projections.Projection { return projections.NewQuotes() },
		func() projections.Projection { return projections.NewPositions(reg) },
		func() projections.Projection { return projections.NewOrders(reg) },
		func() projections.Projection { return projections.NewSignals(reg) },
		func() projections.Projection { return projections.NewPnL(reg, projections.PnLConfig{}) },
		func() projections.Projection { return projections.NewControl(reg) },
		func() projections.Projection { return projections.NewProviders(reg) },
		func() projections.Projection { return projections.NewOptions(projections.OptionsConfig{}) },
	}
}

// storeCloser is the store plus the optional capabilities the CLI uses.
type openedStore struct {
	eventstore.Store
	kind string
}

// openStore opens the store named by --store, logging as --log-level says.
func (g *globals) openStore(ctx context.Context) (*openedStore, error) {
	log, err := g.logger()
	if err != nil {
		return nil, err
	}
	return openStore(ctx, g.store, log)
}

// openStore opens the store named by spec. Failures (bad URL, unreachable
// server, locked directory, corrupt data) are configuration errors: exit 2.
func openStore(ctx context.Context, spec string, log *slog.Logger) (*openedStore, error) {
	kind, err := storeKind(spec)
	if err != nil {
		return nil, configErr(err)
	}
	octx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	// While the store opens, its warnings (the esdb client logs every failed
	// connection attempt) are demoted to debug: an unreachable store ends
	// with one error line. After a successful open they are logged again.
	opening := &atomic.Bool{}
	opening.Store(true)
	log = slog.New(openingHandler{Handler: log.Handler(), opening: opening})
	var st eventstore.Store
	switch kind {
	case "embedded":
		st, err = embedded.Open(octx, embedded.Config{Dir: spec, Logger: log})
	case "postgres":
		st, err = postgres.Open(octx, postgres.Config{URL: spec, Logger: log})
	case "esdb":
		st, err = esdb.Open(octx, esdb.Config{URL: spec, Logger: log})
	}
	if err != nil {
		return nil, configErr(fmt.Errorf("open %s store: %w", kind, err))
	}
	opening.Store(false)
	return &openedStore{Store: st, kind: kind}, nil
}

// openingHandler logs records below Error at Debug while opening is set.
type openingHandler struct {
	slog.Handler
	opening *atomic.Bool
}

func (h openingHandler) level(l slog.Level) slog.Level {
	if l < slog.LevelError && h.opening.Load() {
		return slog.LevelDebug
	}
	return l
}

func (h openingHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.Handler.Enabled(ctx, h.level(l))
}

func (h openingHandler) Handle(ctx context.Context, r slog.Record) error {
	r.Level = h.level(r.Level)
	return h.Handler.Handle(ctx, r)
}

func (h openingHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return openingHandler{Handler: h.Handler.WithAttrs(attrs), opening: h.opening}
}

func (h openingHandler) WithGroup(name string) slog.Handler {
	return openingHandler{Handler: h.Handler.WithGroup(name), opening: h.opening}
}
