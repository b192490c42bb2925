// Package engine is the application layer that decides and acts: trading
// control per account, the strategy runner, signal intake, the risk gate
// call, the order router with its broker port, and reconciliation with the
// broker on start. Live trading, paper trading and backtests run the same
// code; only the clock, the feed and the Broker differ.
package engine
