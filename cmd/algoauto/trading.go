package main

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"time"

	"github.com/algoauto/algoauto/adapters/paper"
	"github.com/algoauto/algoauto/adapters/sim"
	"github.com/algoauto/algoauto/domain"
	"github.com/algoauto/algoauto/engine"
	"github.com/algoauto/algoauto/engine/strategy"
	"github.com/algoauto/algoauto/eventstore"
	"github.com/algoauto/algoauto/eventstore/codec"
	"github.com/algoauto/algoauto/instruments"
)

// startEngine builds the trading engine over the log: paper brokers
// (rebuilt from the log's order events), the simulator's instruments master
// for the risk gate when the feed is the simulator, and live trading
// refused until a live broker is configured. It folds the log, settles the
// orders a previous run left in flight, checks every account against its
// broker (trading stays blocked on one that differs), and follows the log
// until ctx ends; done reports Run's end.
func startEngine(ctx context.Context, st engine.Store, reg *codec.Registry, feed *sim.Feed, algoID string, log *slog.Logger) (*engine.Engine, <-chan error, error) {
	var master *instruments.Master
	if feed != nil {
		m, err := feed.Master(feed.Start())
		if err != nil {
			return nil, nil, fmt.Errorf("instruments: %w", err)
		}
		master = m
	}
	var eng *engine.Engine
	brokerFor := func(account string, mode domain.Mode) (engine.Broker, error) {
		if mode != domain.Paper {
			return nil, errors.New("no live broker is configured (paper trading only)")
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
	cfg := engine.Config{Logger: log.With("component", "engine"), BrokerFor: brokerFor, AlgoID: algoID, Strategies: strategies}
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
		cfg.Instrument = func(exchange, symbol string) (domain.Instrument, bool) { return master.Lookup(exchange + ":" + symbol) }
		cfg.StrategyEnv = strategyEnv{master}
		cfg.Resolve = master.ResolveAt
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
	return eng, done, nil
}

// strategyEnv answers strategies' instrument questions from the master
// (none without one: every lookup fails and the strategy reports it).
type strategyEnv struct{ *instruments.Master }

var errNoMaster = errors.New("no instruments master is loaded")

func (e strategyEnv) Instrument(exchange, symbol string) (domain.Instrument, error) {
	if e.Master == nil {
		return domain.Instrument{}, errNoMaster
	}
	if in, ok := e.Lookup(exchange + ":" + symbol); ok {
		return in, nil
	}
	return domain.Instrument{}, fmt.Errorf("instruments: no %s:%s: %w", exchange, symbol, instruments.ErrNotFound)
}

func (e strategyEnv) Future(underlying string, at time.Time) (domain.Instrument, error) {
	if e.Master == nil {
		return domain.Instrument{}, errNoMaster
	}
	return e.Master.Future(underlying, at)
}

func (e strategyEnv) NearestWeekly(underlying string, at time.Time) (time.Time, error) {
	if e.Master == nil {
		return time.Time{}, errNoMaster
	}
	return e.Master.NearestWeekly(underlying, at)
}

func (e strategyEnv) ATMStrike(underlying string, expiry time.Time, spot domain.Price) (domain.Price, error) {
	if e.Master == nil {
		return 0, errNoMaster
	}
	return e.Master.ATMStrike(underlying, expiry, spot)
}

func (e strategyEnv) Option(underlying string, expiry time.Time, strike domain.Price, typ domain.InstrumentType) (domain.Instrument, error) {
	if e.Master == nil {
		return domain.Instrument{}, errNoMaster
	}
	return e.Master.Option(underlying, expiry, strike, typ)
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
