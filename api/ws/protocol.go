// Package ws is the WebSocket hub behind /ws: clients subscribe to rooms and
// receive a SNAPSHOT of the room's read model, then UPDATE messages as the
// log moves, each carrying the global log position it reflects, so a client
// that reconnects with {"since": P} resumes with no gap and no duplicate.
//
// Contract:
//   - Authentication happens before the upgrade (Deps.Authenticate); an
//     Origin header must match Config.AllowedOrigins exactly or be the
//     request's own host; one user holds at most Config.MaxConnsPerUser
//     sockets; inbound messages are capped at 64 KiB and rate-limited.
//   - Rooms: positions, orders, trades, pnl, control, signals, providers,
//     market:<symbol>, options:<underlying>, and events (admins only: the raw
//     log, optionally filtered by type and stream prefix). Every room is
//     scoped to the accounts the user may see.
//   - Log rooms (events, orders, trades, signals, control) deliver every
//     change; with "since" they replay the log after that position first.
//     Conflated rooms (market, options) deliver the latest state per
//     instrument; state rooms (positions, pnl, providers) deliver a fresh
//     view of the read model when it changes.
//   - {"type":"COMMAND","id","command","account"?,...} runs a trading-control
//     command (Deps.Command) as the socket's user: the answer is
//     {"type":"RESULT","id","data"} or an ERROR with the id, code and (for
//     a risk refusal) rule.
//   - Live updates are batched per room in Config.BatchWindow; a batch is
//     encoded once per view (subscribers with the same filters and account
//     scope) and those bytes are queued for each of them. Each client
//     has a bounded queue: a client that cannot keep up is closed with
//     status 1008 (policy violation) and never slows anyone else.
//
// The hub reads live updates from a channel (the Watermill bus) and the
// past from the event log; the same Deriver turns events into updates on
// both paths.
package ws

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// Room names.
const (
	RoomEvents    = "events"
	RoomOrders    = "orders"
	RoomTrades    = "trades"
	RoomPositions = "positions"
	RoomPnL       = "pnl"
	RoomControl   = "control"
	RoomSignals   = "signals"
	RoomProviders = "providers"
	prefixMarket  = "market:"
	prefixOptions = "options:"
)

// Server message types.
const (
	MsgSnapshot    = "SNAPSHOT"
	MsgUpdate      = "UPDATE"
	MsgMarketData  = "MARKET_DATA"
	MsgOrderUpdate = "ORDER_UPDATE"
	MsgHeartbeat   = "HEARTBEAT"
	MsgError       = "ERROR"
	MsgSubscribed  = "SUBSCRIBED"
	MsgPong        = "PONG"
	MsgResult      = "RESULT" // the answer to a COMMAND
)

// ERROR codes.
const (
	ErrCodeBadMessage  = "bad_message"
	ErrCodeBadRoom     = "bad_room"
	ErrCodeForbidden   = "forbidden"
	ErrCodeRateLimited = "rate_limited"
	ErrCodeTooMany     = "too_many_subscriptions"
	ErrCodeUnavailable = "unavailable"
)

// Identity is the authenticated user of a connection.
type Identity struct {
	UserID   string
	Username string
	Role     string
	// Admin users see every account and the events room.
	Admin bool
	// Accounts are the trading accounts a non-admin may see.
	Accounts []string
}

// CanSee reports whether the user may see data of account ("" is data of
// no account: only admins).
func (id Identity) CanSee(account string) bool {
	if id.Admin {
		return true
	}
	return account != "" && slices.Contains(id.Accounts, account)
}

// clientMsg is every message a client may send.
type clientMsg struct {
	Type  string  `json:"type"`
	Room  string  `json:"room"`
	Since *uint64 `json:"since"`
	// events room filters
	Types  []string `json:"types"`
	Stream string   `json:"stream"`
	// the seeds' market subscription: {"type":"SUBSCRIBE","symbol":"NIFTY-I","provider":"ALL"}
	Symbol   string `json:"symbol"`
	Provider string `json:"provider"`
	// COMMAND: {"type":"COMMAND","id":"c1","command":"stop","account":"paper-asha","flatten":true}
	ID      string `json:"id"`
	Command string `json:"command"`
	Account string `json:"account"`
	Reason  string `json:"reason"`
	Flatten bool   `json:"flatten"`
	Confirm string `json:"confirm"`
}

// Command is a trading-control command sent over the socket: start, stop,
// pause, resume, kill (the kill switch, with a reason), reset-kill (with
// confirm), paper or live (with confirm). Account empty: the user's paper
// account.
type Command struct {
	Name    string
	Account string
	Reason  string
	Flatten bool
	Confirm string
}

// serverMsg is every message the server sends; unused fields are omitted.
type serverMsg struct {
	Type     string `json:"type"`
	Room     string `json:"room,omitempty"`
	Position uint64 `json:"position,omitempty"`
	Provider string `json:"provider,omitempty"`
	Symbol   string `json:"symbol,omitempty"`
	Data     any    `json:"data,omitempty"`
	Code     string `json:"code,omitempty"`
	Message  string `json:"message,omitempty"`
	Rule     string `json:"rule,omitempty"`
	ID       string `json:"id,omitempty"` // of the COMMAND answered
	Time     string `json:"time,omitempty"`
}

// Item is one change inside an UPDATE.
type Item struct {
	Position uint64          `json:"position"`
	Kind     string          `json:"kind,omitempty"`
	Key      string          `json:"key,omitempty"`
	Account  string          `json:"account,omitempty"`
	Data     json.RawMessage `json:"data"`
}

// roomKind classifies rooms by delivery semantics.
type roomKind int

const (
	kindLog       roomKind = iota // every change, resumable from the log
	kindConflated                 // latest per key
	kindState                     // a fresh read-model view on change
)

// room is a parsed room name.
type room struct {
	name     string // canonical: "orders", "market:NIFTY26DECFUT", "options:NIFTY"
	kind     roomKind
	exchange string // market rooms named "market:NFO:X" only deliver NFO:X
	symbol   string // market and options rooms
}

// parseRoom validates a room name.
func parseRoom(s string) (room, error) {
	switch s {
	case RoomEvents, RoomOrders, RoomTrades, RoomSignals, RoomControl:
		return room{name: s, kind: kindLog}, nil
	case RoomPositions, RoomPnL, RoomProviders:
		return room{name: s, kind: kindState}, nil
	}
	switch {
	case strings.HasPrefix(s, prefixMarket):
		rest := s[len(prefixMarket):]
		ex, sym, ok := strings.Cut(rest, ":")
		if !ok {
			ex, sym = "", rest
		}
		if !validSymbol(sym) || (ok && !validSymbol(ex)) {
			return room{}, fmt.Errorf("room %q: want market:<symbol> or market:<EXCHANGE>:<symbol>", s)
		}
		return room{name: prefixMarket + sym, kind: kindConflated, exchange: ex, symbol: sym}, nil
	case strings.HasPrefix(s, prefixOptions):
		u := s[len(prefixOptions):]
		if !validSymbol(u) {
			return room{}, fmt.Errorf("room %q: want options:<underlying>, e.g. options:NIFTY", s)
		}
		return room{name: prefixOptions + u, kind: kindConflated, symbol: u}, nil
	}
	return room{}, fmt.Errorf("unknown room %q: want positions, orders, trades, pnl, control, signals, providers, events, market:<symbol> or options:<underlying>", s)
}

func validSymbol(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || strings.ContainsRune(" -_&.", r)) {
			return false
		}
	}
	return true
}
