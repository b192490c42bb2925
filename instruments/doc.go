// Package instruments is the instruments master: the day's set of tradable
// and quoted instruments (domain.Instrument), how names used by brokers,
// vendors and people map onto them, and the option-chain queries that
// strategies and the options read model ask.
//
// Contract:
//
//   - Identity. An instrument is keyed by (exchange, tradingsymbol), written
//     "EXCHANGE:SYMBOL" as Kite does ("NFO:NIFTY26NOVFUT", "NSE:NIFTY 50").
//     That key is canonical: events, streams and read models use it. Keys
//     are unique in a Master. Tokens are not identities: exchanges reuse
//     instrument tokens across expiries, so ByToken returns the instrument
//     with the latest expiry among those sharing a token (one without an
//     expiry counts as latest; on a tie, the one given later to New).
//   - Immutability. A Master never changes after construction and is safe
//     for concurrent use by any number of goroutines. Every slice it returns
//     is a fresh copy the caller may keep or modify.
//   - No wall clock. Nothing here calls time.Now. Questions that depend on
//     "current" (the current-month future, the nearest expiry, TrueData's
//     continuous futures NIFTY-I) take an as-of time, which must be event
//     time (the tick's exchange time, the replayed clock). A contract is
//     live at t when t is before its ExpiresAt (15:30 IST of its expiry
//     day): at 15:30:00 IST on expiry day it has expired and the next one
//     is current.
//   - Dates. Expiry dates are midnight IST (domain.IST); arguments are
//     compared by their IST calendar date, whatever their location or time
//     of day.
//   - Names. Resolve and ResolveAt accept, in this order: the canonical key;
//     a bare tradingsymbol that exactly one exchange lists ("NIFTY 50",
//     "NIFTY26NOVFUT"); TrueData's BSE equity suffix ("ABB_BSE"); TrueData
//     continuous futures ("NIFTY-I" current month, "-II" next, "-III" the
//     one after; ResolveAt only); TrueData option symbols
//     <UNDERLYING><YYMMDD><STRIKE><CE|PE> ("NIFTY26032423750CE"), mapped
//     through (underlying, expiry date, strike, type). An exchange prefix on
//     an alias ("NFO:NIFTY-I") restricts the result to that exchange. A name
//     is first tried as given, then upper-cased. Failures wrap ErrNotFound,
//     ErrAmbiguous (the message lists the candidates) or ErrNeedsTime, and
//     name the symbol.
//   - Loading. LoadKiteCSV reads Kite Connect's instruments dump (see
//     PROTOCOLS §1.8): prices exactly into paise, expiries as midnight IST,
//     segment INDICES as type INDEX. A bad row is an error naming its line
//     and column (*ParseError); the parser never panics on any input.
//     Currency derivatives (exchanges CDS and BCD) tick in fractions of a
//     paisa, which domain.Price cannot hold, and are skipped.
//   - Freeze quantities. Neither Kite's dump nor TrueData carries NSE's
//     quantity freeze limits. New (and so every loader) fills
//     Instrument.FreezeQty of NFO futures and options that have none from a
//     per-underlying table: Options.FreezeLimits, by default
//     DefaultFreezeLimits. NSE revises these limits by circular several
//     times a year; the defaults must be checked against the latest NSE
//     circular and overridden when they differ.
//   - Simulation. Simulated builds the master the simulator (adapters/sim)
//     lists on a date, with tradingsymbols in Kite's formats
//     (PROTOCOLS §4.5). Live code must never synthesise symbols: it looks
//     contracts up in the day's master.
package instruments
