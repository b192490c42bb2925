package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/algoauto/algoauto/domain"
	"github.com/algoauto/algoauto/eventstore"
	"github.com/algoauto/algoauto/eventstore/codec"
)

// ndjson builds an append line.
func ndjson(id, stream, typ, data, expected string) string {
	var b strings.Builder
	b.WriteString("{")
	if id != "" {
		fmt.Fprintf(&b, `"id":%q,`, id)
	}
	fmt.Fprintf(&b, `"stream":%q,"type":%q,"data":%s`, stream, typ, data)
	if expected != "" {
		fmt.Fprintf(&b, `,"expected":%s`, expected)
	}
	b.WriteString("}\n")
	return b.String()
}

func submitted(n int) string {
	return fmt.Sprintf(`{"order_id":"%d","client_order_id":"c%d","broker":"paper"}`, n, n)
}

func tickJSON(symbol string, ltp string, extra string) string {
	return fmt.Sprintf(`{"provider":"sim","exchange":"NSE","symbol":%q,"exchange_time":"2026-11-20T09:15:00+05:30","ltp":%s%s}`, symbol, ltp, extra)
}

// stores returns the stores the CLI tests run against: a fresh embedded
// directory, and a fresh PostgreSQL database when ALGOAUTO_TEST_POSTGRES is
// set.
func stores(t *testing.T, f func(t *testing.T, store string)) {
	t.Run("embedded", func(t *testing.T) {
		t.Parallel()
		f(t, t.TempDir())
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		f(t, freshDatabase(t))
	})
}

func readAll(t *testing.T, store string, args ...string) []envelope {
	t.Helper()
	r := runCLI(t, "", append([]string{"--store", store, "events", "read"}, args...)...).must(t)
	return parseEnvelopes(t, r.stdout)
}

func TestAppendAcks(t *testing.T) {
	t.Parallel()
	stores(t, func(t *testing.T, store string) {
		id := func(n int) string { return fmt.Sprintf("01900000-0000-7000-8000-%012d", n) }
		in := ndjson(id(1), "order-1", "OrderSubmitted", submitted(1), `"no_stream"`) +
			ndjson(id(2), "order-1", "OrderAccepted", `{"order_id":"1","broker_order_id":"b1"}`, "") + // grouped with line 1's stream
			ndjson("", "order-1", "OrderFilled", `{"order_id":"1","trade_id":"t1","quantity":75,"price":101.5,"filled_qty":75}`, "") +
			"\n" + // blank lines are skipped
			ndjson(id(4), "order-2", "OrderSubmitted", submitted(2), "") +
			ndjson("", "order-1", "OrderCancelled", `{"order_id":"1","reason":"user"}`, "") + // back to order-1
			ndjson("", "order-2", "OrderAccepted", `{"order_id":"2","broker_order_id":"b2"}`, `1`) + // wrong exact version: 0 is current
			""
		r := runCLI(t, in, "--store", store, "events", "append")
		// The last line expects version 1 but order-2 is at 0: refused.
		if r.code != 1 || !strings.Contains(r.stderr, "line 7:") {
			t.Fatalf("exit %d, stderr %q: want line 7 refused", r.code, r.stderr)
		}
		acks := parseAcks(t, r.stdout)
		want := []ack{
			{ID: id(1), Stream: "order-1", Version: 0, Position: 1},
			{ID: id(2), Stream: "order-1", Version: 1, Position: 2},
			{Stream: "order-1", Version: 2, Position: 3},
			{ID: id(4), Stream: "order-2", Version: 0, Position: 4},
			{Stream: "order-1", Version: 3, Position: 5},
		}
		if len(acks) != len(want) {
			t.Fatalf("%d acks, want %d:\n%s", len(acks), len(want), r.stdout)
		}
		for i, w := range want {
			a := acks[i]
			if w.ID == "" {
				if u, err := uuid.Parse(a.ID); err != nil || u.Version() != 7 {
					t.Errorf("ack %d: id %q is not a new UUIDv7", i, a.ID)
				}
				w.ID = a.ID
			}
			if a != w {
				t.Errorf("ack %d = %+v, want %+v", i, a, w)
			}
		}

		// What was acknowledged is what read shows.
		evs := readAll(t, store)
		if len(evs) != len(acks) {
			t.Fatalf("read %d events, acked %d", len(evs), len(acks))
		}
		for i, e := range evs {
			if e.ID != acks[i].ID || e.Stream != acks[i].Stream || e.Version != acks[i].Version || e.Position != acks[i].Position {
				t.Errorf("event %d = %+v, ack %+v", i, e, acks[i])
			}
		}
		var filled domain.OrderFilled
		if err := json.Unmarshal(evs[2].Data, &filled); err != nil || filled.Price != 10150 || filled.Quantity != 75 {
			t.Errorf("OrderFilled stored as %s", evs[2].Data)
		}

		// The right exact version appends.
		r = runCLI(t, ndjson("", "order-2", "OrderAccepted", `{"order_id":"2","broker_order_id":"b2"}`, `0`), "--store", store, "events", "append").must(t)
		if a := parseAcks(t, r.stdout); len(a) != 1 || a[0].Version != 1 || a[0].Position != 6 {
			t.Errorf("exact version 0: acks %s", r.stdout)
		}
	})
}

// Many lines of interleaved streams: every ack has the right version and a
// distinct, increasing position.
func TestAppendInterleaved(t *testing.T) {
	t.Parallel()
	stores(t, func(t *testing.T, store string) {
		var in strings.Builder
		var wantStream []string
		for i := range 300 {
			s := fmt.Sprintf("order-%d", i%3)
			if i%10 < 5 { // runs of consecutive same-stream lines too
				s = "order-9"
			}
			wantStream = append(wantStream, s)
			in.WriteString(ndjson("", s, "OrderSubmitted", submitted(i), ""))
		}
		r := runCLI(t, in.String(), "--store", store, "events", "append").must(t)
		acks := parseAcks(t, r.stdout)
		if len(acks) != 300 {
			t.Fatalf("%d acks", len(acks))
		}
		versions := map[string]uint64{}
		for i, a := range acks {
			if a.Stream != wantStream[i] {
				t.Fatalf("ack %d stream %q, want %q: acks out of input order", i, a.Stream, wantStream[i])
			}
			if a.Version != versions[a.Stream] {
				t.Errorf("ack %d: %s version %d, want %d", i, a.Stream, a.Version, versions[a.Stream])
			}
			versions[a.Stream]++
			if a.Position != uint64(i+1) {
				t.Errorf("ack %d: position %d, want %d", i, a.Position, i+1)
			}
		}
		evs := readAll(t, store)
		for i, e := range evs {
			if e.ID != acks[i].ID || e.Position != acks[i].Position || e.Version != acks[i].Version {
				t.Errorf("event %d %+v does not match ack %+v", i, e, acks[i])
			}
		}
	})
}

func TestAppendConflict(t *testing.T) {
	t.Parallel()
	stores(t, func(t *testing.T, store string) {
		in := ndjson("", "order-1", "OrderSubmitted", submitted(1), `"no_stream"`) +
			ndjson("", "order-2", "OrderSubmitted", submitted(2), "") +
			ndjson("", "order-3", "OrderSubmitted", submitted(3), `"stream_exists"`)
		// First run: line 3 expects order-3 to exist.
		r := runCLI(t, in, "--store", store, "events", "append")
		if r.code != 1 || !strings.Contains(r.stderr, "line 3:") || len(parseAcks(t, r.stdout)) != 2 {
			t.Fatalf("first run: exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
		}
		// Second run without ids: line 1 conflicts and the run stops there.
		r = runCLI(t, in, "--store", store, "events", "append")
		if r.code != 1 {
			t.Errorf("second run: exit %d, want 1", r.code)
		}
		if !strings.HasPrefix(r.stderr, "line 1: ") || !strings.Contains(r.stderr, "no_stream") {
			t.Errorf("second run: stderr %q, want \"line 1: ...\" naming the conflict", r.stderr)
		}
		if strings.Contains(r.stderr, "line 2") || r.stdout != "" {
			t.Errorf("second run went past line 1: stdout %q stderr %q", r.stdout, r.stderr)
		}
		if got := len(readAll(t, store)); got != 2 {
			t.Errorf("%d events after the refused run, want 2", got)
		}
		// With --keep-going the later lines are appended; the exit is still
		// non-zero.
		r = runCLI(t, in, "--store", store, "events", "append", "--keep-going")
		if r.code == 0 {
			t.Errorf("--keep-going with refused lines exited 0")
		}
		if !strings.Contains(r.stderr, "line 1: ") || !strings.Contains(r.stderr, "line 3: ") {
			t.Errorf("--keep-going: stderr %q, want lines 1 and 3 reported", r.stderr)
		}
		acks := parseAcks(t, r.stdout)
		if len(acks) != 1 || acks[0].Stream != "order-2" || acks[0].Version != 1 || acks[0].Position != 3 {
			t.Errorf("--keep-going acks: %s", r.stdout)
		}
		if got := len(readAll(t, store)); got != 3 {
			t.Errorf("%d events after --keep-going, want 3", got)
		}
	})
}

func TestAppendRefusedLines(t *testing.T) {
	t.Parallel()
	store := t.TempDir()
	good := ndjson("", "order-1", "OrderSubmitted", submitted(1), "")
	for _, tc := range []struct {
		name, line string
		want       []string // in the "line 2: ..." message
	}{
		{"malformed JSON", `{"stream":"order-1","type":` + "\n", nil},
		{"not an object", `[1,2]` + "\n", nil},
		{"unknown key", `{"stream":"order-1","type":"OrderSubmitted","data":` + submitted(1) + `,"extra":1}` + "\n", []string{"extra"}},
		{"missing stream", `{"type":"OrderSubmitted","data":` + submitted(1) + "}\n", []string{"stream"}},
		{"bad stream", ndjson("", "$all", "OrderSubmitted", submitted(1), ""), []string{"stream"}},
		{"missing type", `{"stream":"order-1","data":` + submitted(1) + "}\n", []string{"type"}},
		{"missing data", `{"stream":"order-1","type":"OrderSubmitted"}` + "\n", []string{"data"}},
		{"bad id", ndjson("not-a-uuid", "order-1", "OrderSubmitted", submitted(1), ""), []string{"id"}},
		{"bad expected", ndjson("", "order-1", "OrderSubmitted", submitted(1), `"maybe"`), []string{"expected"}},
		{"negative expected", ndjson("", "order-1", "OrderSubmitted", submitted(1), `-1`), []string{"expected"}},
		{"zero ltp", ndjson("", "tick-NSE:NIFTY 50", "TickReceived", tickJSON("NIFTY 50", "0", ""), ""), []string{"ltp"}},
		{"negative ltp", ndjson("", "tick-NSE:NIFTY 50", "TickReceived", tickJSON("NIFTY 50", "-5", ""), ""), []string{"ltp"}},
		{"empty symbol", ndjson("", "tick-NSE:", "TickReceived", tickJSON("", "100", ""), ""), []string{"symbol"}},
		{"crossed quote", ndjson("", "tick-NSE:X", "TickReceived", tickJSON("X", "100", `,"bid":101,"ask":100.5`), ""), []string{"bid", "crossed"}},
		{"sub-paisa price", ndjson("", "tick-NSE:X", "TickReceived", tickJSON("X", "100.001", ""), ""), []string{"TickReceived"}},
		{"unknown tick field", ndjson("", "tick-NSE:X", "TickReceived", tickJSON("X", "100", `,"lpt":1`), ""), []string{"lpt"}},
		{"zero quantity", ndjson("", "order-1", "OrderFilled", `{"order_id":"1","trade_id":"t1","quantity":0,"price":100,"filled_qty":0}`, ""), []string{"quantity"}},
		{"empty order id", ndjson("", "order-1", "OrderSubmitted", `{"order_id":"","client_order_id":"c","broker":"paper"}`, ""), []string{"order_id"}},
		{"unknown type", ndjson("", "order-1", "OrderTeleported", `{}`, ""), []string{"OrderTeleported"}},
		{"unknown field of a known type", ndjson("", "order-1", "OrderSubmitted", `{"order_id":"1","client_order_id":"c","broker":"paper","colour":"red"}`, ""), []string{"colour"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := readAll(t, store)
			in := good + tc.line + good
			r := runCLI(t, in, "--store", store, "events", "append")
			if r.code != 1 {
				t.Errorf("exit %d, want 1", r.code)
			}
			first := strings.SplitN(r.stderr, "\n", 2)[0]
			if !strings.HasPrefix(first, "line 2: ") {
				t.Errorf("stderr %q, want it to start \"line 2: \"", r.stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(first, w) {
					t.Errorf("message %q does not name %q", first, w)
				}
			}
			if acks := parseAcks(t, r.stdout); len(acks) != 1 {
				t.Errorf("acks %q: want only line 1's", r.stdout)
			}
			after := readAll(t, store)
			if len(after) != len(before)+1 {
				t.Fatalf("%d events stored, want %d (line 1 only)", len(after)-len(before), 1)
			}
			for _, e := range after[len(before):] {
				if e.Type != "OrderSubmitted" {
					t.Errorf("a refused line was stored: %+v", e)
				}
			}

			// --keep-going appends line 3 too and still fails.
			r = runCLI(t, in, "--store", store, "events", "append", "--keep-going")
			if r.code != 1 || !strings.HasPrefix(r.stderr, "line 2: ") || len(parseAcks(t, r.stdout)) != 2 {
				t.Errorf("--keep-going: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
			}
			if got := len(readAll(t, store)); got != len(before)+3 {
				t.Errorf("--keep-going: %d events, want %d", got, len(before)+3)
			}
		})
	}
	// Nothing but OrderSubmitted events was ever stored.
	for _, e := range readAll(t, store) {
		if e.Type != "OrderSubmitted" || e.Stream != "order-1" {
			t.Errorf("unexpected stored event %+v", e)
		}
	}
}

func TestAppendIdempotent(t *testing.T) {
	t.Parallel()
	stores(t, func(t *testing.T, store string) {
		var in strings.Builder
		for i := range 20 {
			s := fmt.Sprintf("order-%d", i%4)
			in.WriteString(ndjson(uuid.Must(uuid.NewV7()).String(), s, "OrderSubmitted", submitted(i), ""))
		}
		in.WriteString(ndjson(uuid.Must(uuid.NewV7()).String(), "tick-NSE:NIFTY 50", "TickReceived", tickJSON("NIFTY 50", "24500.05", `,"bid":24500,"ask":24500.1`), ""))
		first := parseAcks(t, runCLI(t, in.String(), "--store", store, "events", "append").must(t).stdout)
		head := len(readAll(t, store))
		if len(first) != 21 || head != 21 {
			t.Fatalf("%d acks, %d events", len(first), head)
		}
		for range 2 {
			again := parseAcks(t, runCLI(t, in.String(), "--store", store, "events", "append").must(t).stdout)
			if len(again) != len(first) {
				t.Fatalf("re-run: %d acks, want %d", len(again), len(first))
			}
			for i := range again {
				want := first[i]
				want.Duplicate = true
				if again[i] != want {
					t.Errorf("re-run ack %d = %+v, want %+v", i, again[i], want)
				}
			}
			if got := len(readAll(t, store)); got != head {
				t.Errorf("re-run changed the log: %d events, want %d", got, head)
			}
		}
		// A stored id with another payload is refused, not silently ignored.
		line := strings.SplitAfter(in.String(), "\n")[0]
		changed := strings.Replace(line, `"broker":"paper"`, `"broker":"kite"`, 1)
		r := runCLI(t, changed, "--store", store, "events", "append")
		if r.code != 1 || !strings.HasPrefix(r.stderr, "line 1: ") || r.stdout != "" {
			t.Errorf("same id, other payload: exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
		}
	})
}

func TestAppendUnknownTypes(t *testing.T) {
	t.Parallel()
	store := t.TempDir()
	in := `{"stream":"note-1","type":"NoteTaken","data":{"text":"hello","n":1},"metadata":{"user":"u1"}}` + "\n"
	r := runCLI(t, in, "--store", store, "events", "append")
	if r.code != 1 || !strings.Contains(r.stderr, `unknown event type "NoteTaken"`) {
		t.Errorf("unknown type without the flag: exit %d stderr %q", r.code, r.stderr)
	}
	if evs := readAll(t, store); len(evs) != 0 {
		t.Fatalf("refused unknown type was stored: %+v", evs)
	}
	r = runCLI(t, in, "--store", store, "events", "append", "--allow-unknown-types").must(t)
	if a := parseAcks(t, r.stdout); len(a) != 1 || a[0].Stream != "note-1" {
		t.Errorf("acks %s", r.stdout)
	}
	evs := readAll(t, store)
	if len(evs) != 1 || evs[0].Type != "NoteTaken" || string(evs[0].Data) != `{"text":"hello","n":1}` {
		t.Errorf("stored %+v", evs)
	}
	var md map[string]any
	if err := json.Unmarshal(evs[0].Metadata, &md); err != nil || md["user"] != "u1" {
		t.Errorf("metadata %s", evs[0].Metadata)
	}
	// Unknown types still need an object as data.
	r = runCLI(t, `{"stream":"note-1","type":"NoteTaken","data":[1]}`+"\n", "--store", store, "events", "append", "--allow-unknown-types")
	if r.code != 1 || !strings.HasPrefix(r.stderr, "line 1: ") {
		t.Errorf("unknown type with array data: exit %d stderr %q", r.code, r.stderr)
	}
}

// seedLog appends the fixture log through the CLI:
//
//	1 order-1 OrderSubmitted   2 order-10 OrderSubmitted   3 order-1 OrderAccepted
//	4 tick-NSE:NIFTY 50        5 tick-NFO:NIFTY26NOVFUT    6 tick-NSE:NIFTY BANK
//	7 provider-sim FeedGap     8 order-2 OrderSubmitted
func seedLog(t *testing.T, store string) {
	t.Helper()
	in := ndjson("", "order-1", "OrderSubmitted", submitted(1), "") +
		ndjson("", "order-10", "OrderSubmitted", submitted(10), "") +
		ndjson("", "order-1", "OrderAccepted", `{"order_id":"1","broker_order_id":"b1"}`, "") +
		ndjson("", "tick-NSE:NIFTY 50", "TickReceived", tickJSON("NIFTY 50", "24500.05", ""), "") +
		ndjson("", "tick-NFO:NIFTY26NOVFUT", "TickReceived", strings.Replace(tickJSON("NIFTY26NOVFUT", "24610", `,"oi":1200`), `"NSE"`, `"NFO"`, 1), "") +
		ndjson("", "tick-NSE:NIFTY BANK", "TickReceived", tickJSON("NIFTY BANK", "52100.4", ""), "") +
		ndjson("", "provider-sim", "FeedGap", `{"provider":"sim","dropped":3,"from":"2026-11-20T09:15:00+05:30","to":"2026-11-20T09:15:01+05:30","reason":"test"}`, "") +
		ndjson("", "order-2", "OrderSubmitted", submitted(2), "")
	if acks := parseAcks(t, runCLI(t, in, "--store", store, "events", "append").must(t).stdout); len(acks) != 8 {
		t.Fatalf("seed: %d acks", len(acks))
	}
}

func TestRead(t *testing.T) {
	t.Parallel()
	stores(t, func(t *testing.T, store string) {
		seedLog(t, store)
		all := readAll(t, store)
		if got := envPositions(all); !equalSlices(got, []uint64{1, 2, 3, 4, 5, 6, 7, 8}) {
			t.Fatalf("positions %v", got)
		}
		for _, e := range all {
			if _, err := uuid.Parse(e.ID); err != nil || e.RecordedAt.IsZero() {
				t.Errorf("envelope %+v", e)
			}
			var md, data map[string]any
			if json.Unmarshal(e.Metadata, &md) != nil || md == nil || json.Unmarshal(e.Data, &data) != nil || data == nil {
				t.Errorf("envelope %d: data %s metadata %s: want JSON objects", e.Position, e.Data, e.Metadata)
			}
		}
		// A binary tick is printed as decoded JSON.
		var tk domain.Tick
		if err := json.Unmarshal(all[3].Data, &tk); err != nil || tk.LTP != 2450005 || tk.Symbol != "NIFTY 50" {
			t.Errorf("tick data %s", all[3].Data)
		}
		if !strings.Contains(string(all[3].Data), `"ltp":24500.05`) {
			t.Errorf("tick data %s: want the price in rupees", all[3].Data)
		}

		for _, tc := range []struct {
			args []string
			want []uint64
		}{
			{[]string{"--from", "0"}, []uint64{1, 2, 3, 4, 5, 6, 7, 8}},
			{[]string{"--from", "3"}, []uint64{4, 5, 6, 7, 8}},
			{[]string{"--from", "8"}, nil},
			{[]string{"--stream", "order-1"}, []uint64{1, 3}},
			{[]string{"--stream", "order-1*"}, []uint64{1, 2, 3}},
			{[]string{"--stream", "tick-NSE:*"}, []uint64{4, 6}},
			{[]string{"--stream", "tick-NSE:NIFTY 50"}, []uint64{4}},
			{[]string{"--type", "OrderSubmitted"}, []uint64{1, 2, 8}},
			{[]string{"--type", "OrderSubmitted,FeedGap"}, []uint64{1, 2, 7, 8}},
			{[]string{"--type", "TickReceived", "--stream", "tick-*", "--from", "4"}, []uint64{5, 6}},
			{[]string{"--limit", "2"}, []uint64{1, 2}},
			{[]string{"--limit", "2", "--from", "6"}, []uint64{7, 8}},
			{[]string{"--limit", "1", "--type", "FeedGap"}, []uint64{7}},
			{[]string{"--stream", "nope"}, nil},
		} {
			if got := envPositions(readAll(t, store, tc.args...)); !equalSlices(got, tc.want) {
				t.Errorf("read %q: positions %v, want %v", tc.args, got, tc.want)
			}
		}
	})
}

// Paging inside read: more events than one page (1000) print in order.
func TestReadManyPages(t *testing.T) {
	t.Parallel()
	store := t.TempDir()
	var in strings.Builder
	for i := range 2500 {
		in.WriteString(ndjson("", fmt.Sprintf("order-%d", i%7), "OrderSubmitted", submitted(i), ""))
	}
	runCLI(t, in.String(), "--store", store, "events", "append").must(t)
	evs := readAll(t, store)
	if len(evs) != 2500 {
		t.Fatalf("%d events", len(evs))
	}
	for i, e := range evs {
		if e.Position != uint64(i+1) {
			t.Fatalf("event %d at position %d", i, e.Position)
		}
	}
	if got := readAll(t, store, "--from", "999", "--limit", "1001"); len(got) != 1001 || got[0].Position != 1000 || got[1000].Position != 2000 {
		t.Errorf("--from 999 --limit 1001: %d events", len(got))
	}
	if got := readAll(t, store, "--stream", "order-3"); len(got) != 357 {
		t.Errorf("--stream order-3: %d events, want 357", len(got))
	}
}

// follow runs `events read --follow` with args until the returned stop is
// called; stop returns the exit status and output.
func follow(t *testing.T, store string, args ...string) (out *syncBuffer, stop func() result) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, append([]string{"--store", store, "events", "read", "--follow"}, args...), strings.NewReader(""), &stdout, &stderr, noEnv)
	}()
	stopped := false
	stop = func() result {
		t.Helper()
		if !stopped {
			stopped = true
			cancel()
		}
		select {
		case code := <-done:
			return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
		case <-time.After(30 * time.Second): // a hang detector; the machine may be loaded
			t.Fatal("read --follow did not return within 30s of its context ending")
			return result{}
		}
	}
	t.Cleanup(func() {
		if !stopped {
			stop()
		}
	})
	return &stdout, stop
}

// The embedded store is one process's: --follow prints the history, waits,
// and ends with status 0 when its context ends (Ctrl-C).
func TestReadFollowEmbedded(t *testing.T) {
	t.Parallel()
	store := t.TempDir()
	seedLog(t, store)
	out, stop := follow(t, store, "--from", "2", "--stream", "order-*")
	waitFor(t, 30*time.Second, "the history", func() bool { return len(lines(out.String())) == 2 })
	r := stop()
	if r.code != 0 {
		t.Errorf("read --follow ended with %d: %s", r.code, r.stderr)
	}
	if got := envPositions(parseEnvelopes(t, r.stdout)); !equalSlices(got, []uint64{3, 8}) {
		t.Errorf("positions %v", got)
	}
	// --limit ends --follow by itself.
	r = runCLI(t, "", "--store", store, "events", "read", "--follow", "--limit", "3").must(t)
	if got := envPositions(parseEnvelopes(t, r.stdout)); !equalSlices(got, []uint64{1, 2, 3}) {
		t.Errorf("--follow --limit 3: %v", got)
	}
}

// readEvents is what `read --follow` runs; with the embedded store held by
// this process, events appended after it started are printed.
func TestReadEventsFollowsAppends(t *testing.T) {
	t.Parallel()
	st := openEmbedded(t, t.TempDir())
	defer st.Close()
	reg := codec.NewRegistry()
	appendTick := func(i int) {
		ev, err := reg.Encode(uuid.Must(uuid.NewV7()), domain.Tick{Provider: "sim", Exchange: "NSE", Symbol: "NIFTY 50",
			ExchangeTime: time.Date(2026, 11, 20, 9, 15, i, 0, time.UTC), LTP: domain.Price(2450000 + i)}, eventstore.Metadata{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Append(context.Background(), "tick-NSE:NIFTY 50", eventstore.Any(), ev); err != nil {
			t.Fatal(err)
		}
	}
	appendTick(0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- readEvents(ctx, st, reg, &out, 0, eventstore.Filter{StreamPrefix: "tick-NSE:"}, 0, true)
	}()
	waitFor(t, 30*time.Second, "the first tick", func() bool { return len(lines(out.String())) == 1 })
	for i := 1; i <= 5; i++ {
		appendTick(i)
		waitFor(t, 30*time.Second, fmt.Sprintf("tick %d", i), func() bool { return len(lines(out.String())) == i+1 })
	}
	// Another stream is filtered out.
	if _, err := st.Append(context.Background(), "order-1", eventstore.Any(), eventstore.EventData{ID: uuid.Must(uuid.NewV7()), Type: "X", Data: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	appendTick(6)
	waitFor(t, 30*time.Second, "tick 6", func() bool { return len(lines(out.String())) == 7 })
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("readEvents --follow returned %v after cancel", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("readEvents --follow did not return within 30s of cancel")
	}
	evs := parseEnvelopes(t, out.String())
	if got := envPositions(evs); !equalSlices(got, []uint64{1, 2, 3, 4, 5, 6, 8}) {
		t.Errorf("followed positions %v", got)
	}
}

// Against PostgreSQL another run can append while --follow runs.
func TestReadFollowPostgres(t *testing.T) {
	t.Parallel()
	store := freshDatabase(t)
	seedLog(t, store)
	out, stop := follow(t, store, "--type", "OrderSubmitted", "--from", "1")
	waitFor(t, 30*time.Second, "the history", func() bool { return len(lines(out.String())) == 2 })
	runCLI(t, ndjson("", "order-3", "OrderSubmitted", submitted(3), "")+ndjson("", "order-3", "OrderAccepted", `{"order_id":"3","broker_order_id":"b"}`, ""),
		"--store", store, "events", "append").must(t)
	waitFor(t, 30*time.Second, "the appended event", func() bool { return len(lines(out.String())) == 3 })
	runCLI(t, ndjson("", "order-4", "OrderSubmitted", submitted(4), ""), "--store", store, "events", "append").must(t)
	waitFor(t, 30*time.Second, "the second appended event", func() bool { return len(lines(out.String())) == 4 })
	r := stop()
	if r.code != 0 {
		t.Errorf("read --follow ended with %d: %s", r.code, r.stderr)
	}
	evs := parseEnvelopes(t, r.stdout)
	if got := envPositions(evs); !equalSlices(got, []uint64{2, 8, 9, 11}) {
		t.Errorf("followed positions %v", got)
	}
}

func TestStats(t *testing.T) {
	t.Parallel()
	stores(t, func(t *testing.T, store string) {
		// An empty log.
		r := runCLI(t, "", "--store", store, "events", "stats", "--json").must(t)
		var empty statsReport
		if err := json.Unmarshal([]byte(r.stdout), &empty); err != nil || empty.Head != 0 || empty.Events != 0 {
			t.Errorf("empty stats: %s (%v)", r.stdout, err)
		}

		seedLog(t, store)
		r = runCLI(t, "", "--store", store, "events", "stats", "--json").must(t)
		var rep struct {
			Head       uint64           `json:"head"`
			Events     int64            `json:"events"`
			Payload    int64            `json:"payload_bytes"`
			DiskBytes  int64            `json:"disk_bytes"`
			ByType     map[string]int64 `json:"by_type"`
			ByCategory map[string]int64 `json:"by_stream_category"`
			Streams    int64            `json:"streams"`
			First      time.Time        `json:"first_recorded_at"`
			Last       time.Time        `json:"last_recorded_at"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
			t.Fatalf("stats --json: %v\n%s", err, r.stdout)
		}
		wantTypes := map[string]int64{"OrderSubmitted": 3, "OrderAccepted": 1, "TickReceived": 3, "FeedGap": 1}
		wantCats := map[string]int64{"order": 4, "tick": 3, "provider": 1}
		if rep.Head != 8 || rep.Events != 8 || rep.Streams != 7 || rep.Payload <= 0 || rep.First.IsZero() || rep.Last.Before(rep.First) {
			t.Errorf("stats: %+v", rep)
		}
		if fmt.Sprint(rep.ByType) != fmt.Sprint(wantTypes) || fmt.Sprint(rep.ByCategory) != fmt.Sprint(wantCats) {
			t.Errorf("by type %v (want %v), by category %v (want %v)", rep.ByType, wantTypes, rep.ByCategory, wantCats)
		}
		if !strings.Contains(store, "://") && rep.DiskBytes <= 0 {
			t.Errorf("embedded store: disk_bytes %d, want > 0", rep.DiskBytes)
		}

		r = runCLI(t, "", "--store", store, "events", "stats").must(t)
		for _, want := range []string{"head position", "8", "by type", "OrderSubmitted", "TickReceived", "by stream category", "order", "tick", "provider"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("stats text lacks %q:\n%s", want, r.stdout)
			}
		}
		if !strings.Contains(store, "://") && !strings.Contains(r.stdout, "size on disk") {
			t.Errorf("embedded stats text lacks the size on disk:\n%s", r.stdout)
		}
	})
}

func TestVerify(t *testing.T) {
	t.Parallel()
	t.Run("embedded", func(t *testing.T) {
		t.Parallel()
		store := t.TempDir()
		r := runCLI(t, "", "--store", store, "events", "verify").must(t)
		if !strings.HasPrefix(r.stdout, "ok: 0 events verified") {
			t.Errorf("empty store: %q", r.stdout)
		}
		seedLog(t, store)
		r = runCLI(t, "", "--store", store, "events", "verify").must(t)
		if !strings.HasPrefix(r.stdout, "ok: 8 events verified") {
			t.Errorf("verify: stdout %q", r.stdout)
		}
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		store := freshDatabase(t)
		args := []string{"--store", store, "events", "verify"}
		r := runCLI(t, "", args...)
		wantOneLineError(t, r, 2, args)
		if !strings.Contains(r.stderr, "supported by the embedded store only") {
			t.Errorf("stderr %q", r.stderr)
		}
	})
}
