// Package zerodha is the live broker of one trading account: it implements
// engine.Broker over the Kite Connect v3 REST API (Zerodha), plus Poll, the
// source of the account's executions, and Session, the check of the
// day's access token.
//
// # Transport
//
// Every call is one HTTP request to Config.BaseURL (default
// https://api.kite.trade) with the headers X-Kite-Version: 3 and
// Authorization: token <api_key>:<access_token>; POST and PUT parameters go
// in a form-encoded body, GET and DELETE parameters in the query. Answers
// are Kite's envelope: {"status":"success","data":...} or, with an HTTP
// status of 400 or more, {"status":"error","error_type":...,"message":...}.
// Every call takes a context first and ends when it is done; the HTTP
// client's timeout (Config.HTTPClient, default 7 s) bounds each request.
//
// The package has its own small client rather than gokiteconnect v4
// (checked at v4.4.0): that client takes no context, answers every
// transport failure (connection refused and timeout alike) with the same
// NetworkException "Request failed." and drops the cause, synthesises the
// HTTP status of its errors from error_type instead of keeping the real
// one (a 502 from a proxy becomes a DataException), and reads prices into
// float64. The first two make "the order never left" and "the outcome is
// unknown" indistinguishable, which is the one distinction the engine's
// order router needs.
//
// # Outcomes of Place, Modify and Cancel
//
// Each call answers in one of three ways.
//
//   - A report. Place: ACCEPTED with Kite's order id (HTTP 200); Modify:
//     MODIFIED; Cancel: CANCELLED. REJECTED, with Kite's message as the
//     reason, when Kite refused the request: HTTP 4xx other than 429
//     with Kite's error envelope and an error_type other than
//     NetworkException and DataException (InputException, OrderException,
//     MarginException, HoldingException, TokenException, UserException,
//     PermissionException, ...). Kite creates no order for a refused
//     place. The package also answers REJECTED, without any request, for
//     an intent that fails domain validation, belongs to another account,
//     is not a live intent, or whose client order id is not a valid Kite
//     tag (1 to 20 letters and digits); and Modify and Cancel answer
//     REJECTED for a client order id that has no order in the day's book.
//   - An error wrapping domain.ErrOrderNotSent: the request provably
//     never reached Kite, so the order (or change) may be sent again. That
//     is the case when the context was done before the request started,
//     when there is no access token (the error also wraps ErrNoSession),
//     when the request could not be built, and when the transport failed
//     before it had a connection (connection refused, DNS failure, dial
//     timeout, TLS handshake failure): an httptrace GotConn hook tells.
//     HTTP 429 with Kite's error envelope is also "not sent": it is Kite's
//     rate limiter refusing the request before it reaches the order
//     system (Kite documents 429 as "too many requests", and HTTP 429
//     means the request was not processed), and sending it again later is
//     safe; errors.As with *APIError gives Status 429 for backing off.
//     Modify and Cancel are also "not sent" when finding the Kite order id
//     failed (the change itself was never sent).
//   - Any other error: the outcome is UNKNOWN. A timeout or a connection
//     lost after the request started, HTTP 5xx (500 GeneralException, 502,
//     503 NetworkException, 504), a 4xx with NetworkException or
//     DataException, any error status without Kite's envelope (a 429 from
//     a proxy included), or a 200 whose body is not a success envelope
//     with an order id. The engine records SubmitOutcomeUnknown and
//     resolves the order with Lookup by its client order id, never by
//     sending it again.
//
// # Client order ids
//
// Orders are addressed by the engine's client order id, sent as Kite's
// tag (the engine's ids are "A" + 19 base32 characters: exactly Kite's 20
// alphanumeric maximum). Place remembers the Kite order id of every order
// it placed; Modify and Cancel use it, or look the tag up in GET /orders.
// Lookup always asks GET /orders; when several of the day's orders carry
// the tag (an order sent twice) it answers with the latest placed and logs
// a warning. Place answers a client order id it already placed in this
// process with the same ACCEPTED report (Reason "duplicate client order
// id") instead of placing a second order, and a Place of a client order
// id whose first Place is still in flight fails as an unknown outcome;
// across restarts it has no such guard (Kite does not deduplicate tags):
// the engine never places an intent twice.
//
// Place sends variety regular, validity DAY, the exchange, tradingsymbol,
// transaction type, quantity in units, product and order type, price for
// LIMIT and SL, trigger_price for SL and SL-M, market_protection -1
// (Kite's automatic protection; MARKET and SL-M orders without it are
// rejected under the 2026 retail-algo rules) for MARKET and SL-M, the tag
// and algo_id when the intent has one. Prices are domain.Price, sent as
// rupees with two decimals. Modify sends only the fields of the change that
// are set (and market_protection -1 when the type becomes MARKET or SL-M).
//
// # Reading the account
//
// Orders is the day's order book (GET /orders) in Kite's order, Kite's
// status names, filled_quantity as FilledQty, status_message as Reason and
// the tag as ClientOrderID. Positions is the net list of GET
// /portfolio/positions without the flat rows: signed quantity (negative is
// short) per exchange, symbol and product. Holdings is GET
// /portfolio/holdings without empty rows, Quantity = quantity + t1_quantity
// (settled plus bought but not yet delivered). Kite's numbers are decoded
// as json.Number and converted exactly to paise; average prices, which Kite
// gives to more than two decimals, are rounded half away from zero to the
// paisa. Kite's timestamps are IST.
//
// # Executions: Poll
//
// Live fills do not come back from Place. Poll reads the order book and,
// when an order has more filled quantity than Poll has accounted for, the
// day's trades (GET /trades), and reports, for every order with a tag, what
// changed since the last Poll, in the book's order and for one order in
// this order:
//
//   - ACCEPTED, once, the first time Poll sees an order that is not
//     REJECTED and whose acceptance it has not reported (Place's ACCEPTED
//     answer counts): this resolves orders of unknown outcome and orders
//     placed elsewhere with a tag. The engine ignores it for an order whose
//     broker order id it already has.
//   - FILLED, one per Kite trade not reported before: TradeID is Kite's
//     trade_id, Quantity and Price are the trade's own (not derived from
//     average prices), FilledQty the order's cumulative quantity over its
//     trades in fill time order, At the fill timestamp. Partial fills are
//     reported as their trades appear.
//   - CANCELLED or REJECTED with status_message, once, when the order
//     reached that status and its trades account for its filled quantity:
//     a final status is held back while GET /trades lags the book, so an
//     order's fills always come before its end. Cancel's CANCELLED answer
//     counts as reported. COMPLETE needs no report beyond its fills.
//
// Orders without a tag (placed on Kite's own apps) are not reported; the
// engine's reconciliation sees them in Orders and Positions.
//
// Poll never reports the same thing twice: its memory, keyed by Kite order
// id and (order, trade_id), is updated only when a Poll succeeds (a Poll
// that fails reports nothing and changes nothing) and Polls are
// serialised. Trade ids are Kite's, so they are also stable across
// restarts: the engine deduplicates fills by (order, trade id) (it does
// not use cumulative quantities), which makes a repeated FILLED harmless.
// After a restart the first Poll reports everything of the day that Seed
// did not declare recorded: the caller seeds, before the first Poll, the
// acceptances, trade ids and final states its log already holds, and the
// first Poll then reports exactly what happened while it was away. Without
// Seed the first Poll reports the day's whole history (which the engine
// absorbs, save for a repeated OrderRejected). The memory is cleared when
// the IST day of Config.Now changes (Kite's book is per day).
//
// # Session
//
// Session checks the access token with GET /user/profile: nil means a
// valid session; a TokenException (HTTP 403) and a missing token are errors
// wrapping ErrNoSession. Kite's tokens expire at 06:00 IST the next day;
// SetAccessToken installs the new day's token without rebuilding the
// Broker.
//
// # Concurrency
//
// A Broker is safe for concurrent use. HTTP requests run without any lock
// held; one mutex guards the memory of order ids and of Poll.
package zerodha
