// Package paper is the simulated broker of paper trading and backtests: it
// implements engine.Broker and engine.TickFiller for one trading account,
// fills resting orders from the tick stream in event time, and can be
// rebuilt from the event log after a restart.
//
// # Time and randomness
//
// Everything happens in event time. A tick's time is its ExchangeTime;
// Place, Modify and Cancel happen at Config.Now() (the engine's clock: the
// event time of the last tick in backtests, the wall clock in live paper
// trading). Without Config.Now the broker's clock is the ExchangeTime of
// the last tick it saw. The package never reads the wall clock and has no
// global random state.
//
// An order is live at the simulated exchange Latency + jitter after it was
// placed; a tick whose time is before that does not touch it, the first
// tick at or after it does. The jitter is uniform in [0, LatencyJitter],
// drawn from a math/rand/v2 PCG seeded with (Config.Seed, FNV-1a of the
// client order id). It is therefore a pure function of the seed and the
// order, independent of how many orders came before, which keeps backtests
// with the same seed identical and lets a restored broker recompute the
// same latency for the orders it rebuilds.
//
// # Placing orders
//
// Place answers REJECTED with a reason, without error, when the intent
// fails domain validation, belongs to another account, is not a paper-mode
// intent, names an index (no order book), has a LIMIT or SL price or an SL
// or SL-M trigger off the 0.05 rupee tick, an SL buy whose limit is below
// its trigger (SL sell: above), a CNC sell beyond the CNC quantity held
// less open CNC sells, an MIS order at or after the day's square-off time,
// or a client order id starting with "sq-" (reserved, see below).
// Rejections after the intent is known to be valid for this account are
// kept, with no broker order id, so Lookup and a repeated Place return
// them; the others are answered and forgotten. Accepted orders get the
// broker order id "P" + a counter (P1, P2, ...). A Place with a client
// order id the broker already has never creates a second order: it answers
// with that order's state (REJECTED with the original reason, or ACCEPTED
// with the broker order id, the cumulative FilledQty and a Reason naming
// the current status). The price of MARKET and SL-M orders and the trigger
// of MARKET and LIMIT orders are ignored (kept as 0).
//
// # Fills
//
// On each tick the broker fills the live orders of the tick's instrument
// in the order they were placed. Buys execute against the ask, sells
// against the bid:
//
//   - MARKET (and a triggered SL-M) executes at the quoted price.
//   - LIMIT (and a triggered SL) buy executes when ask <= limit, at the
//     ask: the trader gets the price improvement, as a marketable limit
//     order does at the exchange. Sells: bid >= limit, at the bid.
//   - SL and SL-M wait in TRIGGER PENDING until a tick's LTP reaches the
//     trigger (buy: LTP >= trigger; sell: LTP <= trigger). They then act as
//     LIMIT and MARKET from that same tick on and are OPEN. A trigger that
//     is already crossed when the order goes live fires on its first tick.
//   - Each tick's quoted size (AskQty, BidQty) caps what it fills, shared by
//     the orders it fills in placement order; the rest stays open for later
//     ticks, at their prices. A side quoted with a price but size 0 (a feed
//     without depth) fills the whole remainder at that quoted price. The
//     quote is used rather than the LTP because the LTP often lies inside
//     the spread and would fill buys below the ask: an optimistic bias.
//   - A side without a price never fills: an index tick (no bid, no ask)
//     fills nothing, and buys wait while there is no ask.
//
// Every execution is one FILLED report: TradeID "<broker order id>-<n>"
// for the order's n-th execution, Quantity and Price of this execution,
// cumulative FilledQty, At = the tick's time, and Charges from the charge
// schedule (Config.Charges, default domain.DefaultChargeSchedule) for the
// segment of the instrument (NFO/BFO symbols ending in CE or PE: options,
// in FUT: futures; anything else: 0, the schedule covers F&O only). As in
// projections/charges.go, the schedule charges brokerage per executed
// order, so a fill's charges are those of the order's cumulative fill
// value after it minus those before it: the fills of an order add up to the
// charges of the whole order, brokerage counted once. Zerodha's fee for an
// auto square-off is not modelled.
//
// Modify and Cancel take effect at once (no latency; a modified order that
// was live stays live). Modify changes quantity (must stay above the
// filled quantity and a whole number of lots), price, trigger and type of
// an open order and answers MODIFIED; an order whose type changes to SL or
// SL-M waits for its trigger again, a triggered stop order modified without
// a type change stays triggered. Cancel cancels the open remainder and answers CANCELLED with
// the filled quantity. On an order that is COMPLETE, CANCELLED or
// REJECTED, on an unknown client order id and on a square-off order both
// answer REJECTED with the reason, without error.
//
// # Positions
//
// Positions are net per exchange, symbol and product, with weighted-average
// cost kept as an exact signed basis in paise (the same rules as
// projections.Position): adding adds quantity × price; reducing releases
// basis × closed / open rounded half away from zero; closing to flat
// releases all that is left; a fill through zero closes at the fill price
// and opens the rest at the same price. AvgPrice is basis / quantity,
// rounded half away from zero. Positions lists non-flat positions of every
// product, CNC included; Holdings lists the long CNC positions (a day's
// CNC buys are holdings at once: there is no T+1 settlement).
//
// # MIS square-off
//
// At the first tick (of any instrument) at or after the square-off time
// (Config.SquareOff after midnight IST, default 15:20) of the IST day an
// MIS order was placed, or an MIS position was opened, the broker cancels
// that open MIS order (CANCELLED, reason "MIS square-off") and closes that
// position with a broker-initiated MARKET order. Positions left open past a
// day with no tick after its square-off time are therefore closed at the
// first tick of a later day. Square-off orders have the client order id
//
//	sq-<account>-<YYYYMMDD>-<EXCHANGE>:<SYMBOL>
//
// (the IST date the position was opened), are live at once (no latency)
// and are reported as an ACCEPTED report (Reason "MIS square-off")
// followed by FILLED reports on the instrument's ticks, like any market
// order. They cannot be modified or cancelled. Once a day's square-off
// time has passed, MIS orders are rejected.
//
// The engine records a broker-initiated order, recognised by an ACCEPTED
// report whose client order id it did not place (IsSquareOff tells), as
// follows, before recording the report itself: Lookup the client order id
// and append IntentFor(order, orderID) (an OrderIntentRecorded in paper
// mode, no strategy) on the order's stream, then OrderAccepted, then the
// OrderFilled events of its FILLED reports as for any order. The broker's
// positions have no strategy; attributing a square-off to the strategies
// that held the position is the engine's business.
//
// # Restart
//
// The broker keeps no state outside the engine's log. Apply folds, in log
// order, the events of this account: OrderIntentRecorded (paper mode),
// OrderAccepted, OrderRejected, OrderFilled, OrderCancelled and
// OrderModified, and optionally the TickReceived events (domain.Tick),
// which advance the clock and fire the triggers of SL and SL-M orders that
// triggered without filling. A rebuilt broker has the same orders,
// positions, next broker order id and trade ids as the one that wrote the
// log, and goes on filling alike. An order exists at the rebuilt broker
// only once a broker report about it is in the log: an intent whose Place
// failed as not sent, or timed out and was not found, is unknown to it, as
// it was to the broker that wrote the log; so are the engine's own
// rejections (OrderRejected with a Code other than "broker"). Apply is
// idempotent under redelivery (a fill whose cumulative quantity is already
// folded is skipped; a modification sets absolute values).
//
// Without the ticks, a stop order that triggered but did not fill is
// rebuilt as TRIGGER PENDING and waits for its trigger again.
//
// # Fault injection
//
// FailNextPlace, FailNextModify and FailNextCancel make the next call fail
// as a real broker can: FaultTimeoutAfterAccept (the call took effect, the
// answer was lost: ErrTimeout), FaultTimeoutBeforeAccept (the call did not
// take effect, the caller cannot know: ErrTimeout) or FaultNotSent (did not
// take effect, error wrapping domain.ErrOrderNotSent). Lookup always tells
// the truth.
//
// # Concurrency
//
// A Broker is safe for concurrent use; one mutex serialises every call.
// Config.Now is called with that mutex held and must not call the Broker.
package paper
