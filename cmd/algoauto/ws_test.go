package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestServeWebSocketQuotes is the issue's "an admin can log in and watch
// quotes move over /ws": serve with the simulated feed, log in, open /ws
// with the token as a query parameter (as a browser does), subscribe to the
// NIFTY future in the seeds' form and to the events room, and see the quote
// change; without a token the upgrade is refused.
func TestServeWebSocketQuotes(t *testing.T) {
	t.Parallel()
	base, _, _ := serveInProcess(t, "--store", t.TempDir(), "serve", "--addr", "127.0.0.1:0", "--speed", "60", "--sim-options=false",
		"--sim-start", "2026-11-20T09:15:00+05:30", "--ws-batch", "10ms")
	waitReady(t, base)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	wsBase := "ws" + strings.TrimPrefix(base, "http") + "/ws"

	if c, resp, err := websocket.Dial(ctx, wsBase, nil); err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		if c != nil {
			c.CloseNow()
		}
		t.Fatalf("upgrade without a token: err %v resp %v, want 401", err, resp)
	}
	tok, _, err := adminToken(ctx, base, false)
	if err != nil {
		t.Fatal(err)
	}
	c, _, err := websocket.Dial(ctx, wsBase+"?access_token="+tok, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	c.SetReadLimit(16 << 20)
	send := func(v any) {
		b, _ := json.Marshal(v)
		if err := c.Write(ctx, websocket.MessageText, b); err != nil {
			t.Fatal(err)
		}
	}
	send(map[string]any{"type": "SUBSCRIBE", "symbol": "NIFTY26NOVFUT", "provider": "ALL"})
	send(map[string]any{"type": "SUBSCRIBE", "room": "events", "types": []string{"TickReceived"}})
	type msg struct {
		Type     string          `json:"type"`
		Room     string          `json:"room"`
		Position uint64          `json:"position"`
		Symbol   string          `json:"symbol"`
		Data     json.RawMessage `json:"data"`
	}
	ltps := map[string]bool{}
	var events int
	for len(ltps) < 3 || events == 0 {
		_, b, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("reading /ws (prices seen %v, events %d): %v", ltps, events, err)
		}
		var m msg
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%v: %s", err, b)
		}
		switch m.Type {
		case "MARKET_DATA":
			var q struct {
				Symbol string  `json:"symbol"`
				LTP    float64 `json:"ltp"`
			}
			if err := json.Unmarshal(m.Data, &q); err != nil || q.Symbol != "NIFTY26NOVFUT" || m.Position == 0 {
				t.Fatalf("MARKET_DATA %s (%v)", b, err)
			}
			ltps[string(m.Data[strings.Index(string(m.Data), `"ltp":`):])] = true
		case "UPDATE":
			if m.Room == "events" {
				events++
			}
		case "ERROR":
			t.Fatalf("ERROR: %s", b)
		}
	}
}

// TestServeWebSocketCommands: the trading-control commands work over /ws
// for an authorised user, with the same rules as REST.
func TestServeWebSocketCommands(t *testing.T) {
	t.Parallel()
	base, _, _ := serveInProcess(t, "--store", t.TempDir(), "serve", "--addr", "127.0.0.1:0", "--speed", "60", "--sim-options=false",
		"--sim-start", "2026-11-20T09:15:00+05:30")
	waitReady(t, base)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tok, _, err := adminToken(ctx, base, false)
	if err != nil {
		t.Fatal(err)
	}
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"/ws?access_token="+tok, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	c.SetReadLimit(16 << 20)
	type answer struct {
		Type string          `json:"type"`
		ID   string          `json:"id"`
		Code string          `json:"code"`
		Data json.RawMessage `json:"data"`
	}
	run := func(v map[string]any) answer {
		t.Helper()
		b, _ := json.Marshal(v)
		if err := c.Write(ctx, websocket.MessageText, b); err != nil {
			t.Fatal(err)
		}
		for {
			_, b, err := c.Read(ctx)
			if err != nil {
				t.Fatalf("waiting for the answer to %v: %v", v, err)
			}
			var a answer
			if err := json.Unmarshal(b, &a); err != nil {
				t.Fatal(err)
			}
			if a.ID == v["id"] {
				return a
			}
		}
	}
	if a := run(map[string]any{"type": "COMMAND", "id": "1", "command": "start"}); a.Type != "RESULT" || !strings.Contains(string(a.Data), `"state":"running"`) {
		t.Fatalf("start: %+v %s", a, a.Data)
	}
	if a := run(map[string]any{"type": "COMMAND", "id": "2", "command": "kill", "reason": "ws test"}); a.Type != "RESULT" || !strings.Contains(string(a.Data), `"active":true`) {
		t.Fatalf("kill: %+v %s", a, a.Data)
	}
	if a := run(map[string]any{"type": "COMMAND", "id": "3", "command": "start"}); a.Type != "ERROR" || a.Code != "conflict" {
		t.Fatalf("start under the kill switch: %+v", a)
	}
	if a := run(map[string]any{"type": "COMMAND", "id": "4", "command": "live", "confirm": "LIVE"}); a.Type != "ERROR" || a.Code != "conflict" {
		t.Fatalf("live without a broker: %+v", a)
	}
	if a := run(map[string]any{"type": "COMMAND", "id": "5", "command": "dance"}); a.Type != "ERROR" || a.Code != "invalid" {
		t.Fatalf("unknown command: %+v", a)
	}
}
