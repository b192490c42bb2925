// Package strategy defines what a trading strategy is to the engine, how
// strategies are registered and configured, and the built-in strategies
// (ma-crossover, orb, short-straddle).
//
// A Strategy is a deterministic state machine. The engine feeds it ticks,
// timer beats and its own fills, in log order, from one goroutine, and the
// strategy answers with Signals: requests to trade, which the engine turns
// into SignalRaised events, puts through the risk gate and routes as orders.
//
// # Determinism
//
// Strategies perform no I/O, never read the wall clock (time is the tick's
// ExchangeTime or the timer's argument), use no global randomness and never
// let map iteration order reach their output. The same sequence of calls
// with the same Env answers gives the same signals, byte for byte; that is
// what makes a replayed or backtested day equal to the live one. Integer
// arithmetic in paise is used wherever a price is compared (moving averages
// included), so results do not depend on the platform's floating point.
//
// Consequences for the engine:
//   - Restart: rebuild a strategy by constructing it with the recorded
//     (resolved) parameters and replaying the ticks, timer beats and fills
//     it saw since it was enabled (for the intraday built-ins, since the
//     start of the trading day is enough), discarding the signals already
//     recorded. Their leg ids match the recorded ones.
//   - Timer beats must themselves be a function of the log (derived from
//     event time, or recorded), or live and replay can diverge.
//
// # Signals, legs and fills
//
// Every Signal has a Leg id that is deterministic and unique within the
// strategy instance over time: "<IST date>-<sequence of the day>-<purpose>",
// e.g. "20261120-01-entry". The engine derives the client order id from
// (account, strategy, leg) so that a replay or a redelivery produces the
// same id and never a second order. The engine reports every execution of
// the orders a signal became back to OnFill with the signal's Leg, and once
// with Done set when no more will come (filled in full, or the remainder was
// rejected by the risk gate or the broker, or cancelled).
//
// # Positions: targets, not orders
//
// The built-ins decide target positions ("long 1 lot", "flat") and let one
// reconciler turn the difference between target and the strategy's own
// filled position into orders. The reconciler never overshoots a target
// whatever the outcome of the orders already on the way (it counts pending
// buys and sells against the target separately), so a late fill is closed
// when it arrives and a rejected entry is never retried, while a rejected
// exit is retried a few times and then halts the instrument with an error in
// State. Strategies track only their own fills: on a netting account that
// several strategies share, the account's position is not theirs to close.
//
// # Concurrency
//
// A Strategy is not safe for concurrent use; the engine calls it from one
// goroutine. State returns a value that shares no memory with the strategy,
// so it can be handed to another goroutine (the REST status).
package strategy
