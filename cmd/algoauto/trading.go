package main

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"sync"
	"time"

	"github.com/algoauto/algoauto/adapters/paper"
	"github.com/algoauto/algoauto/adapters/sim"
	"github.com/algoauto/algoauto/adapters/zerodha"
	"github.com/algoauto/algoauto/domain"
	"github.com/algoauto/algoauto/engine"
	"github.com/algoauto/algoauto/engine/strategy"
	"github.com/algoauto/algoauto/eventstore"
	"github.com/algoauto/algoauto/eventstore/codec"
	"github.com/algoauto/algoauto/instruments"
)

// engineOptions are serve's settings of the trading engine.
type engineOptions struct {
	AlgoID         string
	Kite           kiteConfig
	ReconcileEvery time.Duration // 0: check accounts against their brokers only on start and on demand
}

// kiteConfig is the live broker: one Zerodha Kite Connect login, traded
// by one account. Empty Account: no live trading.
type kiteConfig struct {
	Account     string
	APIKey      string
	AccessToken string
	URL         string
	Poll        time.Duration
}

// startEngine builds the trading engine over the log: paper brokers
// (rebuilt from the log's order events), the simulator's instruments master
// (rebuilt for each simulated day) for the risk gate when the feed is the
// simulator, and the Kite Connect broker for the live mode of the account
// configured for it. It folds the log, settles the orders a previous run
// left in flight, checks every account against its broker (trading stays
// blocked on one that differs), and follows the log until ctx ends; done
// reports Run's end.
func startEngine(ctx context.Context, st engine.Store, reg *codec.Registry, feed *sim.Feed, opts engineOptions, log *slog.Logger) (*engine.Engine, <-chan error, error) {
	var master *sessionMaster
	if feed != nil {
		m, err := newSessionMaster(feed)
		if err != nil {
			return nil, nil, err
		}
		master = m
	}
	var live *zerodha.Broker
	if opts.Kite.Account != "" {
		live = zerodha.New(zerodha.Config{Account: opts.Kite.Account, APIKey: opts.Kite.APIKey, AccessToken: opts.Kite.AccessToken,
			BaseURL: opts.Kite.URL, Logger: log.With("component", "zerodha", "account", opts.Kite.Account)})
	}
	var eng *engine.Engine
	brokerFor := func(account string, mode domain.Mode) (engine.Broker, error) {
		if mode != domain.Paper {
			if live == nil || account != opts.Kite.Account {
				return nil, fmt.Errorf("no live broker is configured for account %q (--kite-account)", account)
			}
			return live, nil
		}
		h := fnv.New64a()
		h.Write([]byte(account))
		b, err := paper.New(paper.Config{Account: account, Seed: int64(h.Sum64() >> 1), Now: eng.EventTime})
		if err != nil {
			return nil, err
		}
		if err := restorePaper(ctx, st, reg, b); err != nil {
			return nil, fmt.Errorf("paper broker of %s: %w", account, err)
		}
		return b, nil
	}
	strategies, err := strategy.NewRegistry(strategy.Builtins()...)
	if err != nil {
		return nil, nil, err
	}
	cfg := engine.Config{Logger: log.With("component", "engine"), BrokerFor: brokerFor, AlgoID: opts.AlgoID, Strategies: strategies}
	if live != nil {
		cfg.LiveSession = func(account string) bool {
			if account != opts.Kite.Account {
				return false
			}
			c, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			err := live.Session(c)
			if err != nil {
				log.Warn("no valid Kite session", "account", account, "err", err)
			}
			return err == nil
		}
	}
	if feed != nil {
		// The simulator keeps its own time: commands (manual orders,
		// outside signals) happen at the latest tick's time; the store and
		// the kill-switch cooldown stay on the wall clock.
		cfg.Wall = time.Now
		cfg.Now = func() time.Time {
			if t := eng.EventTime(); !t.IsZero() {
				return t
			}
			return time.Now()
		}
	}
	if master != nil {
		cfg.Instrument = func(exchange, symbol string) (domain.Instrument, bool) {
			return master.at(eng.EventTime()).Lookup(exchange + ":" + symbol)
		}
		cfg.StrategyEnv = strategyEnv{master: master, now: func() time.Time {
			if t := eng.StrategyTime(); !t.IsZero() { // the tick being handled, live or replayed
				return t
			}
			return eng.EventTime()
		}}
		cfg.Resolve = func(name string, at time.Time) (domain.Instrument, error) { return master.at(at).ResolveAt(name, at) }
	} else {
		cfg.StrategyEnv = strategyEnv{}
	}
	eng = engine.New(st, reg, cfg)
	start := time.Now()
	if err := eng.Load(ctx); err != nil {
		return nil, nil, err
	}
	if err := eng.Recover(ctx); err != nil {
		log.Error("settling orders left in flight failed; they stay open until looked up again", "err", err)
	}
	// Safe restart: no account trades until its view matches its broker's.
	if err := eng.ReconcileAll(ctx); err != nil {
		log.Error("reconciliation could not be recorded; those accounts stay blocked until checked again", "err", err)
	}
	log.Info("engine loaded", "took", time.Since(start).Round(time.Millisecond))
	done := make(chan error, 1)
	go func() { done <- eng.Run(ctx) }()
	if live != nil {
		every := opts.Kite.Poll
		if every <= 0 {
			every = time.Second
		}
		go func() { _ = eng.RunPolling(ctx, every) }() // fills of live orders
	}
	if opts.ReconcileEvery > 0 {
		go func() { _ = eng.RunReconciliation(ctx, opts.ReconcileEvery) }() // re-check every account against its broker
	}
	return eng, done, nil
}

// sessionMaster is the simulator's instruments master of each simulated
// day: a master lists the contracts trading that morning, so a new one is
// made for each day the engine asks about (new weeklies appear, expired
// ones go). The last few days are kept: a strategy replay asks about past
// days while live lookups ask about today.
type sessionMaster struct {
	feed   *sim.Feed
	mu     sync.Mutex
	latest *instruments.Master // of the latest day made
	last   string
	days   map[string]*instruments.Master
	order  []string // days made, oldest first
}

const sessionMasterDays = 8

func newSessionMaster(feed *sim.Feed) (*sessionMaster, error) {
	s := &sessionMaster{feed: feed, days: map[string]*instruments.Master{}}
	m, err := feed.Master(feed.Start())
	if err != nil {
		return nil, fmt.Errorf("instruments: %w", err)
	}
	day := feed.Start().In(domain.IST()).Format(time.DateOnly)
	s.latest, s.last, s.days[day], s.order = m, day, m, []string{day}
	return s, nil
}

// at returns the master of the IST day of t (the latest made when t is
// zero, or when one cannot be made for that day).
func (s *sessionMaster) at(t time.Time) *instruments.Master {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t.IsZero() {
		return s.latest
	}
	day := t.In(domain.IST()).Format(time.DateOnly)
	if m := s.days[day]; m != nil {
		return m
	}
	d, _ := time.ParseInLocation(time.DateOnly, day, domain.IST())
	m, err := s.feed.Master(d)
	if err != nil {
		return s.latest
	}
	if len(s.order) == sessionMasterDays {
		delete(s.days, s.order[0])
		s.order = s.order[1:]
	}
	s.days[day], s.order = m, append(s.order, day)
	if day > s.last {
		s.latest, s.last = m, day
	}
	return m
}

// strategyEnv answers strategies' instrument questions from the master of
// the day (none without one: every lookup fails and the strategy reports
// it).
type strategyEnv struct {
	master *sessionMaster
	now    func() time.Time // the strategies' tick time: the day of lookups without an instant
}

var errNoMaster = errors.New("no instruments master is loaded")

func (e strategyEnv) Instrument(exchange, symbol string) (domain.Instrument, error) {
	if e.master == nil {
		return domain.Instrument{}, errNoMaster
	}
	if in, ok := e.master.at(e.now()).Lookup(exchange + ":" + symbol); ok {
		return in, nil
	}
	return domain.Instrument{}, fmt.Errorf("instruments: no %s:%s: %w", exchange, symbol, instruments.ErrNotFound)
}

func (e strategyEnv) Future(underlying string, at time.Time) (domain.Instrument, error) {
	if e.master == nil {
		return domain.Instrument{}, errNoMaster
	}
	return e.master.at(at).Future(underlying, at)
}

func (e strategyEnv) NearestWeekly(underlying string, at time.Time) (time.Time, error) {
	if e.master == nil {
		return time.Time{}, errNoMaster
	}
	return e.master.at(at).NearestWeekly(underlying, at)
}

func (e strategyEnv) ATMStrike(underlying string, expiry time.Time, spot domain.Price) (domain.Price, error) {
	if e.master == nil {
		return 0, errNoMaster
	}
	return e.master.at(e.now()).ATMStrike(underlying, expiry, spot)
}

func (e strategyEnv) Option(underlying string, expiry time.Time, strike domain.Price, typ domain.InstrumentType) (domain.Instrument, error) {
	if e.master == nil {
		return domain.Instrument{}, errNoMaster
	}
	return e.master.at(e.now()).Option(underlying, expiry, strike, typ)
}

// restorePaper folds the log's order events into a paper broker, so that
// it has the orders and positions it had before a restart.
func restorePaper(ctx context.Context, st engine.Store, reg *codec.Registry, b *paper.Broker) error {
	var after eventstore.Position
	for {
		evs, err := st.ReadAll(ctx, eventstore.ReadAllOptions{After: after, Count: 4096, Filter: eventstore.Filter{StreamPrefix: "order-"}})
		if err != nil {
			return err
		}
		for i := range evs {
			if !reg.Known(evs[i].Type) {
				continue
			}
			de, err := reg.Decode(&evs[i])
			if err != nil {
				continue
			}
			if err := b.Apply(de, evs[i].RecordedAt); err != nil {
				return fmt.Errorf("%s@%d: %w", evs[i].Type, evs[i].Position, err)
			}
		}
		if len(evs) < 4096 {
			return nil
		}
		after = evs[len(evs)-1].Position
	}
}
