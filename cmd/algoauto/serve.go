package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/algoauto/algoauto/adapters/bus"
	"github.com/algoauto/algoauto/adapters/sim"
	"github.com/algoauto/algoauto/adapters/zerodha"
	"github.com/algoauto/algoauto/api"
	"github.com/algoauto/algoauto/domain"
	"github.com/algoauto/algoauto/engine"
	"github.com/algoauto/algoauto/engine/ingest"
	"github.com/algoauto/algoauto/eventstore/codec"
	"github.com/algoauto/algoauto/monitoring"
	"github.com/algoauto/algoauto/projections"
)

// serveConfig is everything `algoauto serve` needs, after flags and env.
type serveConfig struct {
	Addr            string
	Feed            string
	Speed           float64
	Seed            int64
	SimStart        time.Time
	SimInterval     time.Duration
	SimLimit        int64
	MaxBatch        int
	MaxDelay        time.Duration
	MaxPendingBytes int
	Holidays        string
	AlgoID          string
	SimOptions      bool
	Kite            kiteConfig
	ReconcileEvery  time.Duration
	Streams         streamsConfig
}

func newServeCmd(g *globals) *cobra.Command {
	var cfg serveConfig
	var simStart, speed, origins string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Record the market-data feed into the event log and serve the HTTP API",
		Long: `serve opens the event store, records the simulated NSE feed into it through the
Watermill router (with the NIFTY and BANKNIFTY option chains unless --sim-options=false), keeps
the read models folded from the log (quotes, positions, orders and trades,
signals, pnl, control, providers, options; snapshotted in --state-dir), runs the
paper-trading engine (trading control, the risk gate and kill switch, manual
orders, signals, strategies, a simulated broker rebuilt from the log, and a
check against each account's broker on start), and serves the HTTP API with
users and JWT auth (see /api/v1/openapi.json), /ws for live streams and
commands, /metrics and /api/v1/monitoring/*. Ctrl-C or SIGTERM stops it
cleanly: the feed stops, the engine stops, the batch in flight is appended,
and the store is closed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fromEnv(cmd, "addr", "ALGOAUTO_ADDR", &cfg.Addr, g.getenv)
			fromEnv(cmd, "speed", "ALGOAUTO_SPEED", &speed, g.getenv)
			fromEnv(cmd, "feed", "ALGOAUTO_FEED", &cfg.Feed, g.getenv)
			fromEnv(cmd, "bus", "ALGOAUTO_BUS", &cfg.Streams.Bus, g.getenv)
			fromEnv(cmd, "ws-origins", "ALGOAUTO_WS_ORIGINS", &origins, g.getenv)
			fromEnv(cmd, "algo-id", "ALGOAUTO_ALGO_ID", &cfg.AlgoID, g.getenv)
			fromEnv(cmd, "kite-account", "ALGOAUTO_KITE_ACCOUNT", &cfg.Kite.Account, g.getenv)
			// Secrets come from the environment only (flags show in ps).
			cfg.Kite.APIKey, cfg.Kite.AccessToken = g.getenv("ALGOAUTO_KITE_API_KEY"), g.getenv("ALGOAUTO_KITE_ACCESS_TOKEN")
			if cfg.Kite.Account != "" && (cfg.Kite.APIKey == "" || cfg.Kite.AccessToken == "") {
				return configErr(fmt.Errorf("--kite-account %q needs ALGOAUTO_KITE_API_KEY and ALGOAUTO_KITE_ACCESS_TOKEN in the environment", cfg.Kite.Account))
			}
			for o := range strings.SplitSeq(origins, ",") {
				if o = strings.TrimSpace(o); o != "" {
					if u, err := url.Parse(o); err != nil || u.Scheme == "" || u.Host == "" || u.Path != "" {
						return configErr(fmt.Errorf("--ws-origins %q: want exact origins such as https://dash.example.com, comma-separated", o))
					}
					cfg.Streams.Origins = append(cfg.Streams.Origins, o)
				}
			}
			var err error
			if cfg.Speed, err = strconv.ParseFloat(speed, 64); err != nil || cfg.Speed < 0 {
				return configErr(fmt.Errorf("--speed %q: want a number >= 0 (1 = real time, 0 = as fast as possible)", speed))
			}
			if simStart != "" {
				if cfg.SimStart, err = time.Parse(time.RFC3339, simStart); err != nil {
					return configErr(fmt.Errorf("--sim-start %q: want RFC 3339, e.g. 2026-11-20T09:15:00+05:30", simStart))
				}
			}
			if cfg.Feed != "sim" && cfg.Feed != "none" {
				return configErr(fmt.Errorf("--feed %q: want sim or none", cfg.Feed))
			}
			log, err := g.logger()
			if err != nil {
				return err
			}
			return runServe(cmd.Context(), g, cfg, log)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Addr, "addr", "127.0.0.1:8080", "HTTP listen address (env ALGOAUTO_ADDR)")
	f.StringVar(&cfg.Feed, "feed", "sim", "market-data feed: sim or none (env ALGOAUTO_FEED)")
	f.StringVar(&speed, "speed", "1", "simulated feed speed: 1 = real time, N = N times faster, 0 = as fast as possible (env ALGOAUTO_SPEED)")
	f.Int64Var(&cfg.Seed, "seed", 1, "random seed of the simulated feed")
	f.StringVar(&simStart, "sim-start", "", "first simulated instant, RFC 3339 (default: the latest NSE session open)")
	f.DurationVar(&cfg.SimInterval, "sim-interval", sim.DefaultInterval, "simulated time between rounds of ticks")
	f.StringVar(&cfg.AlgoID, "algo-id", "", "the exchange-approved algo id stamped on algo orders (SEBI)")
	f.StringVar(&cfg.Kite.Account, "kite-account", "", "the account whose live mode trades through Zerodha Kite Connect (env ALGOAUTO_KITE_ACCOUNT; key and token from ALGOAUTO_KITE_API_KEY and ALGOAUTO_KITE_ACCESS_TOKEN)")
	f.StringVar(&cfg.Kite.URL, "kite-url", zerodha.DefaultBaseURL, "Kite Connect API address")
	f.DurationVar(&cfg.ReconcileEvery, "reconcile-every", time.Minute, "how often every account is checked again against its broker while the engine runs (0 = only on start and on demand)")
	f.DurationVar(&cfg.Kite.Poll, "kite-poll", time.Second, "how often live orders are polled for fills (Kite allows 10 requests/s)")
	f.BoolVar(&cfg.SimOptions, "sim-options", true, "the simulator also ticks NIFTY weekly and BANKNIFTY monthly option chains (10 strikes each side of ATM; about 3.5 times the ticks; --sim-options=false leaves them out)")
	f.Int64Var(&cfg.SimLimit, "sim-limit", 0, "stop the feed after this many ticks (0 = never)")
	f.IntVar(&cfg.MaxBatch, "batch", 8192, "recorder: ticks per append before the delay runs out")
	f.DurationVar(&cfg.MaxDelay, "max-delay", 20*time.Millisecond, "recorder: longest a tick waits before its batch is appended")
	f.IntVar(&cfg.MaxPendingBytes, "max-pending-bytes", 64<<20, "recorder: memory bound; past it ticks are dropped and a FeedGap recorded (at --speed 0 the feed waits instead)")
	f.StringVar(&cfg.Holidays, "holidays", "", "NSE holiday CSV (date,name) replacing the built-in list")
	f.StringVar(&cfg.Streams.Bus, "bus", "memory", "bus carrying read-model updates to the WebSocket hub: memory, nats://host:4222 or redis://host:6379/0 (env ALGOAUTO_BUS)")
	f.StringVar(&origins, "ws-origins", "", "browser origins allowed to open /ws besides the server's own, exact and comma-separated (env ALGOAUTO_WS_ORIGINS)")
	f.DurationVar(&cfg.Streams.BatchWindow, "ws-batch", 50*time.Millisecond, "how long WebSocket updates are gathered per room before they are sent (0: send at once, lowest latency)")
	return cmd
}

// runServe wires store, recorder, bus, feed and HTTP, and stops them in
// order when ctx ends: feed, bus, recorder (final flush), HTTP, store.
func runServe(ctx context.Context, g *globals, cfg serveConfig, log *slog.Logger) error {
	mon := monitoring.New()
	log = slog.New(mon.Errors.LogHandler(log.Handler())) // warnings and errors also go to /api/v1/errors/recent
	calendar := domain.NSECalendar()
	if cfg.Holidays != "" {
		c, err := loadHolidays(cfg.Holidays)
		if err != nil {
			return configErr(err)
		}
		calendar = c
	}
	// Bind first: a bad or busy address fails before the store is created.
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return configErr(fmt.Errorf("listen on %s: %w", cfg.Addr, err))
	}
	defer ln.Close() // no-op once the server has shut down
	st, err := openStore(ctx, g.store, log)
	if err != nil {
		return err
	}
	storeClosed := false
	defer func() {
		if !storeClosed {
			_ = st.Close()
		}
	}()
	reg := codec.NewRegistry()
	snaps, err := g.snapshots(st)
	if err != nil {
		return err
	}
	authSvc, err := setupAuth(ctx, g, st, reg, log)
	if err != nil {
		return err
	}
	runner, err := projections.NewRunner(st, snaps, projections.RunnerConfig{Logger: log.With("component", "projections")}, readModels(reg)...)
	if err != nil {
		return err
	}

	strm, err := startStreams(ctx, cfg.Streams, st.Store, reg, runner, wsIdentity(authSvc), mon, log)
	if err != nil {
		return err
	}
	streamsStopped := false
	defer func() {
		if !streamsStopped {
			strm.stop(log)
		}
	}()
	authSvc.OnRevoke(func(userID, _ string) { strm.hub.CloseUser(userID) }) // logout closes that user's sockets
	authSvc.OnAccessChange(strm.hub.CloseUser)                              // a role or account change: reconnect under the new access

	var feed *sim.Feed
	if cfg.Feed == "sim" {
		feed, err = sim.New(sim.Config{Seed: cfg.Seed, Start: cfg.SimStart, Speed: cfg.Speed, Interval: cfg.SimInterval, Options: cfg.SimOptions,
			Limit: cfg.SimLimit, Calendar: calendar, Logger: log.With("component", "sim")})
		if err != nil {
			return configErr(err)
		}
		warnUncoveredYears(log, calendar, feed.Start())
	} else {
		warnUncoveredYears(log, calendar, time.Now())
	}
	overflow := ingest.Drop
	if cfg.Speed == 0 {
		overflow = ingest.Block // simulated data can wait; never drop it
	}
	rec, err := ingest.NewRecorder(mon.InstrumentStore(st), reg, ingest.Config{Provider: sim.ProviderName, MaxBatch: cfg.MaxBatch, MaxDelay: cfg.MaxDelay,
		MaxPendingBytes: cfg.MaxPendingBytes, Overflow: overflow, StopTimeout: 6 * time.Second, Logger: log.With("component", "recorder")})
	if err != nil {
		return configErr(err)
	}
	tickBus, err := bus.NewTickBus(log, rec.AcceptBatch)
	if err != nil {
		return err
	}

	var feedRunning atomic.Bool
	ready := []api.Check{{Name: "store", Check: func(ctx context.Context) error {
		_, err := st.Head(ctx)
		return err
	}}, {Name: "projections", Check: func(context.Context) error {
		if ok, name := runner.CaughtUp(); !ok {
			return fmt.Errorf("projection %s is catching up", name)
		}
		return nil
	}}}
	if feed != nil {
		ready = append(ready, api.Check{Name: "ingest", Check: func(context.Context) error {
			s := rec.Stats()
			switch {
			case !s.Running:
				return errors.New("recorder is not running")
			case !feedRunning.Load() && cfg.SimLimit == 0:
				return errors.New("feed is not running")
			case s.LastError != "" && s.AppendRetries > 0 && time.Since(s.LastAppendAt) > 10*time.Second:
				return fmt.Errorf("appends failing: %s", s.LastError)
			}
			return nil
		}})
	}
	engCtx, stopEngine := context.WithCancel(context.WithoutCancel(ctx))
	defer stopEngine()
	eng, engDone, err := startEngine(engCtx, st.Store, reg, feed, engineOptions{AlgoID: cfg.AlgoID, Kite: cfg.Kite, ReconcileEvery: cfg.ReconcileEvery}, log)
	if err != nil {
		return err
	}
	strm.engine.Store(eng) // WebSocket COMMANDs
	srv := api.NewServer(api.Config{Addr: cfg.Addr, Logger: log.With("component", "http"), Ready: ready, Version: version},
		api.Deps{Events: st.Store, Registry: reg, Projections: runner, Calendar: calendar, Monitor: mon, StoreKind: st.kind, Auth: authSvc,
			WebSocket: strm.hub, Trading: eng})
	registerMetrics(mon, st, rec, runner, eng)

	var wg sync.WaitGroup
	recCtx, stopRecorder := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRecorder()
	recDone := make(chan error, 1)
	go func() { recDone <- rec.Run(recCtx) }()

	busCtx, stopBus := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBus()
	busDone := make(chan error, 1)
	go func() { busDone <- tickBus.Run(busCtx) }()
	select {
	case <-tickBus.Running():
	case err := <-busDone:
		return fmt.Errorf("bus: %w", err)
	}

	projCtx, stopProjections := context.WithCancel(context.WithoutCancel(ctx))
	defer stopProjections()
	projDone := make(chan error, 1)
	go func() { projDone <- runner.Run(projCtx) }()

	feedCtx, stopFeed := context.WithCancel(ctx)
	defer stopFeed()
	if feed != nil {
		feedRunning.Store(true)
		wg.Go(func() {
			defer feedRunning.Store(false)
			if err := feed.Run(feedCtx, tickBus.Publish); err != nil && feedCtx.Err() == nil {
				log.Error("feed stopped", "err", err)
			} else if feedCtx.Err() == nil {
				log.Info("feed finished", "limit", cfg.SimLimit)
			}
		})
	}

	srvCtx, stopHTTP := context.WithCancel(context.WithoutCancel(ctx))
	defer stopHTTP()
	srvDone := make(chan error, 1)
	go func() { srvDone <- srv.Serve(srvCtx, ln) }()

	feedDesc := "none"
	if feed != nil {
		feedDesc = fmt.Sprintf("sim (speed %g, seed %d, from %s)", cfg.Speed, cfg.Seed, feed.Start().Format(time.RFC3339))
	}
	log.Info("algoauto serving", "url", "http://"+ln.Addr().String(), "store", st.kind+":"+redactSpec(g.store), "feed", feedDesc)

	var runErr error
	select {
	case <-ctx.Done():
		log.Info("stopping")
	case err := <-recDone:
		runErr = fmt.Errorf("recorder stopped: %w", err)
		recDone <- err
	case err := <-srvDone:
		runErr = err
		srvDone <- err
	}
	stopped := time.Now()
	stopFeed()
	wg.Wait()
	// The engine stops before the recorder's final flush, which it would
	// otherwise compete with for the CPU (a stop must finish in seconds).
	stopEngine()
	if err := <-engDone; err != nil && runErr == nil {
		runErr = fmt.Errorf("engine: %w", err)
	}
	// Calls in flight to a live broker get their answers recorded; one
	// still unanswered after this is looked up by the next start.
	drainCtx, stopDrain := context.WithTimeout(context.Background(), 10*time.Second)
	if err := eng.Drain(drainCtx); err != nil {
		log.Warn("stopping with broker calls unanswered; the next start looks their orders up", "err", err)
	}
	stopDrain()
	stopBus()
	if err := tickBus.Close(); err != nil {
		log.Warn("closing bus", "err", err)
	}
	<-busDone
	stopRecorder()
	if err := <-recDone; err != nil && runErr == nil {
		runErr = err
	}
	stats := rec.Stats()
	stopProjections() // each saves a final snapshot
	<-projDone
	streamsStopped = true
	strm.stop(log) // clients get 1001 (going away) and resume elsewhere or later
	stopHTTP()
	if err := <-srvDone; err != nil && runErr == nil {
		runErr = err
	}
	storeClosed = true
	if err := st.Close(); err != nil && runErr == nil {
		runErr = fmt.Errorf("close store: %w", err)
	}
	log.Info("stopped", "took", time.Since(stopped).Round(time.Millisecond), "recorded", stats.Recorded,
		"dropped", stats.Dropped, "invalid", stats.Invalid, "pending", stats.PendingTicks)
	return runErr
}

// registerMetrics exposes the store head, ingest counters and projection
// lag, read at each scrape.
func registerMetrics(mon *monitoring.Monitor, st *openedStore, rec *ingest.Recorder, runner *projections.Runner, eng *engine.Engine) {
	scrape := func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(context.Background(), 2*time.Second)
	}
	mon.Gauge("algoauto_store_head_position", "Global position of the last event in the log.", func() float64 {
		ctx, cancel := scrape()
		defer cancel()
		h, _ := st.Head(ctx)
		return float64(h)
	})
	stat := func(f func(ingest.Stats) int64) func() float64 {
		return func() float64 { return float64(f(rec.Stats())) }
	}
	mon.Counter("algoauto_ingest_recorded_ticks_total", "Ticks durably appended by the recorder.", stat(func(s ingest.Stats) int64 { return s.Recorded }))
	mon.Counter("algoauto_ingest_dropped_ticks_total", "Ticks dropped past the recorder's memory bound (each drop is in a FeedGap event).", stat(func(s ingest.Stats) int64 { return s.Dropped }))
	mon.Counter("algoauto_ingest_invalid_ticks_total", "Ticks refused by validation.", stat(func(s ingest.Stats) int64 { return s.Invalid }))
	mon.Gauge("algoauto_ingest_pending_ticks", "Ticks waiting in the recorder's buffer.", stat(func(s ingest.Stats) int64 { return int64(s.PendingTicks) }))
	mon.GaugeMap("algoauto_projection_lag_events", "Log positions a projection is behind the head.", "projection", func() map[string]float64 {
		ctx, cancel := scrape()
		defer cancel()
		lags, err := runner.Lags(ctx)
		out := map[string]float64{}
		if err == nil {
			for k, v := range lags {
				out[k] = float64(v)
			}
		}
		return out
	})
	mon.Gauge("algoauto_engine_lag_events", "Log positions the trading engine has not handled yet (folded, fills recorded, strategies run).", func() float64 {
		ctx, cancel := scrape()
		defer cancel()
		h, err := st.Head(ctx)
		if err != nil || h < eng.Handled() {
			return 0
		}
		return float64(h - eng.Handled())
	})
}

func redactSpec(spec string) string {
	if u, err := url.Parse(spec); err == nil && u.User != nil {
		return u.Redacted()
	}
	return spec
}

func loadHolidays(path string) (*domain.Calendar, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--holidays: %w", err)
	}
	defer f.Close()
	c, err := domain.ParseHolidays(f)
	if err != nil {
		return nil, fmt.Errorf("--holidays %s: %w", path, err)
	}
	return c, nil
}

// warnUncoveredYears warns when the holiday list has no holidays for the
// year of from (or, in its last month, the next year): the session check of
// the risk gate and the simulator would take the exchange's holidays of
// that year for trading days.
func warnUncoveredYears(log *slog.Logger, c *domain.Calendar, from time.Time) {
	from = from.In(domain.IST())
	years := []int{from.Year()}
	if from.Month() == time.December {
		years = append(years, from.Year()+1)
	}
	for _, y := range years {
		if !c.HasYear(y) {
			log.Warn("the holiday list has no NSE holidays for this year: each of its weekdays counts as a trading day; "+
				"pass --holidays with a date,name CSV of the exchange's holiday circular", "year", y)
		}
	}
}
