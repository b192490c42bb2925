// Package risk is the pre-trade risk gate: the last step before any broker.
//
// Everything here is pure and deterministic. Nothing reads the wall clock,
// does I/O or depends on map order: the caller passes the order's event time
// and everything it knows (limits, position, open orders, last prices, P&L,
// the kill switch) explicitly, so a replay of the log reaches the same
// decisions as the live run.
//
// # Pieces
//
//   - Gate.Check(Order, State) Decision: the stateless rules. A refusal
//     names its rule (a stable Rule id) and the numbers (Limit, Actual, Unit)
//     so the caller can record them in an event. An allowed order comes back
//     cut into Slices at the NSE freeze quantity.
//   - Governor: the orders-per-second governor (SEBI/NSE TOPS: strictly
//     below 10 orders per second per account; default 8). Stateful but
//     driven only by event time. Admit refuses, Schedule queues.
//   - Breaker: the automatic kill-switch trigger on max daily loss and max
//     drawdown, tripping only after N consecutive breaching observations
//     (default 3) so one bad tick cannot halt the account.
//
// The intended call sequence for one proposed order is
//
//	d := gate.Check(order, state)
//	if !d.Allowed { record the refusal (d.Refusals[0] is the first rule hit) }
//	if r, ok := gov.Admit(order.At, len(d.Slices)); !ok { record r }   // or gov.Schedule
//	record one order intent per slice, then submit
//
// # Policies
//
// Limits are those of domain.RiskLimits; a zero field means "no limit", as
// there. Limits apply to the whole (parent) order before it is sliced; the
// exchange's freeze quantity only decides how it is cut. "At the limit" is
// allowed everywhere; one unit (share, lot, paisa, basis point, order,
// millisecond) over is refused.
//
// Exposure. An order is reduce-only when it is opposite to the current
// position and, even if every open order on its side in the same symbol
// filled too, would not take the position through zero:
// for a SELL, Position - OpenSellQty - Quantity >= 0 with Position > 0;
// symmetrically for a BUY. Every other order increases exposure.
// max_position checks the worst case on the side the order pushes
// (BUY: Position + OpenBuyQty + Quantity; SELL: the same downwards), so an
// order that brings an over-limit position back towards the limit passes.
//
// Loss and drawdown (max_daily_loss, max_drawdown). As soon as State shows
// a breach, Check refuses every order that increases exposure; reduce-only
// orders pass. This is immediate and independent of the Breaker, which
// decides when a breach has lasted long enough to trip the kill switch.
//
// Kill switch. While State.KillSwitch is set, every order is refused
// (rule kill_switch) except a flatten order: Order.Flatten set by the kill
// switch's own flatten procedure and reduce-only (cancel the open orders
// first: open orders on the same side count against reduce-only). A flatten
// order under an active kill switch skips the exposure and size rules and
// the price rules that can only make exiting harder (stale_data,
// price_collar, max_order_qty, max_order_lots, max_order_notional,
// max_open_orders, max_daily_loss, max_drawdown); it still needs a valid
// order, lot and tick multiples, the market open and the OPS governor.
// A flatten order that is not reduce-only is refused (rule reduce_only),
// kill switch or not. Without an active kill switch the Flatten flag grants
// nothing.
//
// Market hours. Orders are allowed only in the NSE normal-market session
// (Calendar.InSession: trading day, 09:15 <= t < 15:30 IST). The F&O
// pre-open call auction and special sessions are not supported.
//
// Stale data (fail closed). An order is refused when the instrument has no
// tick or its last tick is older than Config.StaleAfter (default 5 s) at the
// order's event time; for an option, the same holds for its underlying.
// A tick stamped after the order (clock skew) counts as fresh.
//
// Price collar. The price compared with the last price is the limit price
// for LIMIT and SL orders, the trigger price for SL-M and the last price
// itself for MARKET (which therefore passes when a last price exists).
// Deviation |price - last| must satisfy |price-last|*10000 <= bps*last.
// With a collar configured and no last price the order is refused. Stop
// orders far from the market need a collar wide enough for them.
//
// Notional. Quantity times the larger of the order's price, its trigger
// price and the last price: the worst case the order could trade at before
// the collar catches it. No usable price with a notional limit set refuses.
//
// Freeze quantity. An order above Order.FreezeQty is cut greedily into
// slices of the largest lot multiple not above the freeze quantity, the last
// slice taking the remainder. Each slice is a separate exchange order: each
// counts against max_open_orders and the Governor. More than
// Config.MaxSlices slices (default 40) is refused (rule max_slices).
package risk
