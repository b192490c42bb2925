package strategy

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestParamValidation(t *testing.T) {
	type fieldErr struct{ param, reason string }
	tests := []struct {
		def    Definition
		params string
		errs   []fieldErr // empty: valid
	}{
		{MACrossover(), ``, nil},
		{MACrossover(), `null`, nil},
		{MACrossover(), `{}`, nil},
		{MACrossover(), ` {"fast": 5, "slow": 20, "ma": "ema", "bar_seconds": 0, "death_cross": "short", "lots": 2, "product": "MIS"} `, nil},
		{MACrossover(), `{"symbol": "NIFTY26DECFUT"}`, nil},
		{MACrossover(), `{"fast": 15.0}`, nil}, // an integral number written as a decimal
		{MACrossover(), `{"lots": null}`, nil}, // null takes the default
		{MACrossover(), `{"fast": 21}`, []fieldErr{{"fast", "must be less than slow (21), got 21"}}},
		{MACrossover(), `{"fast": 30, "slow": 10}`, []fieldErr{{"fast", "must be less than slow (10), got 30"}}},
		{MACrossover(), `{"fsat": 5}`, []fieldErr{{"fsat", "unknown parameter (known: bar_seconds, death_cross, exchange, fast, lots, ma, product, slow, symbol, underlying)"}}},
		{MACrossover(), `{"fast": "9"}`, []fieldErr{{"fast", "must be an integer, got a string"}}},
		{MACrossover(), `{"fast": 1.5}`, []fieldErr{{"fast", "must be an integer, got 1.5"}}},
		{MACrossover(), `{"fast": 1e30}`, []fieldErr{{"fast", "must be an integer, got 1e30 (out of range)"}}},
		{MACrossover(), `{"fast": 0}`, []fieldErr{{"fast", "must be >= 1, got 0"}}},
		{MACrossover(), `{"slow": 5000}`, []fieldErr{{"slow", "must be <= 1000, got 5000"}}},
		{MACrossover(), `{"ma": "wma"}`, []fieldErr{{"ma", `must be one of sma, ema, got "wma"`}}},
		{MACrossover(), `{"ma": 1}`, []fieldErr{{"ma", "must be a string, got a number"}}},
		{MACrossover(), `{"death_cross": "reverse"}`, []fieldErr{{"death_cross", `must be one of flat, short, got "reverse"`}}},
		{MACrossover(), `{"product": "CNC"}`, []fieldErr{{"product", `must be one of MIS, NRML, got "CNC"`}}},
		{MACrossover(), `{"symbol": "", "underlying": ""}`, []fieldErr{{"underlying", "must be set when symbol is empty"}}},
		{MACrossover(), `{"fast": 5, "fast": 6}`, []fieldErr{{"fast", "given more than once"}}},
		{MACrossover(), `[1, 2]`, []fieldErr{{"", "parameters must be a JSON object"}}},
		{MACrossover(), `"fast"`, []fieldErr{{"", "parameters must be a JSON object"}}},
		{MACrossover(), `{"fast": }`, []fieldErr{{"", "parameters are not valid JSON"}}},
		{MACrossover(), `{"fast": 5} {}`, []fieldErr{{"", "parameters are not valid JSON: data after the object"}}},
		// Every problem is reported at once, in schema order, unknown ones last.
		{MACrossover(), `{"zzz": 1, "lots": 0, "fast": true, "bar_seconds": -1}`, []fieldErr{
			{"fast", "must be an integer, got a boolean"},
			{"bar_seconds", "must be >= 0, got -1"},
			{"lots", "must be >= 1, got 0"},
			{"zzz", "unknown parameter"},
		}},

		{ORB(), `{}`, nil},
		{ORB(), `{"range_minutes": 30, "target_r": 1.5, "exit_at": "15:00:30", "lots": 3}`, nil},
		{ORB(), `{"target_r": 0}`, nil},
		{ORB(), `{"target_r": -1}`, []fieldErr{{"target_r", "must be >= 0, got -1"}}},
		{ORB(), `{"target_r": "2"}`, []fieldErr{{"target_r", "must be a number, got a string"}}},
		{ORB(), `{"exit_at": "9:20"}`, []fieldErr{{"exit_at", `must be a time of day "HH:MM" (IST), got "9:20"`}}},
		{ORB(), `{"exit_at": "25:00"}`, []fieldErr{{"exit_at", `must be a time of day "HH:MM" (IST), got "25:00"`}}},
		{ORB(), `{"exit_at": 1515}`, []fieldErr{{"exit_at", `must be a time of day "HH:MM" (IST), got a number`}}},
		{ORB(), `{"exit_at": "15:45"}`, []fieldErr{{"exit_at", "must be at or before 15:29, got 15:45"}}},
		{ORB(), `{"exit_at": "09:00"}`, []fieldErr{{"exit_at", "must be at or after 09:16, got 09:00"}}},
		{ORB(), `{"exit_at": "09:20"}`, []fieldErr{{"exit_at", "must be after the opening range ends (09:30), got 09:20"}}},
		{ORB(), `{"range_minutes": 121}`, []fieldErr{{"range_minutes", "must be <= 120, got 121"}}},

		{ShortStraddle(), `{}`, nil},
		{ShortStraddle(), `{"stop_pct": 25.5, "entry_at": "09:30", "exit_at": "15:20", "lots": 2, "spot_symbol": ""}`, nil},
		{ShortStraddle(), `{"entry_at": "15:20", "exit_at": "15:15"}`, []fieldErr{{"exit_at", "must be after entry_at (15:20), got 15:15"}}},
		{ShortStraddle(), `{"entry_at": "15:15"}`, []fieldErr{{"exit_at", "must be after entry_at (15:15), got 15:15"}}},
		{ShortStraddle(), `{"stop_pct": -5}`, []fieldErr{{"stop_pct", "must be >= 0, got -5"}}},
		{ShortStraddle(), `{"lots": 0}`, []fieldErr{{"lots", "must be >= 1, got 0"}}},
		{ShortStraddle(), `{"lots": 51}`, []fieldErr{{"lots", "must be <= 50, got 51"}}},
		{ShortStraddle(), `{"entry_at": "09:10"}`, []fieldErr{{"entry_at", "must be at or after 09:15, got 09:10"}}},
		{ShortStraddle(), `{"entry_window_minutes": 0}`, []fieldErr{{"entry_window_minutes", "must be >= 1, got 0"}}},
		{ShortStraddle(), `{"underlying": ""}`, []fieldErr{{"underlying", "must not be empty"}}},
		{ShortStraddle(), `{"stoploss": 30}`, []fieldErr{{"stoploss", "unknown parameter"}}},
	}
	for _, tt := range tests {
		t.Run(tt.def.Name+" "+tt.params, func(t *testing.T) {
			s, err := tt.def.New(json.RawMessage(tt.params))
			if len(tt.errs) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if s.Name() != tt.def.Name {
					t.Fatalf("Name %q", s.Name())
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want %v", tt.errs)
			}
			var list ParamErrors
			if !errors.As(err, &list) {
				t.Fatalf("error %T %v is not ParamErrors", err, err)
			}
			if len(list) != len(tt.errs) {
				t.Fatalf("got %d errors (%v), want %d", len(list), err, len(tt.errs))
			}
			for i, w := range tt.errs {
				if list[i].Param != w.param || !strings.HasPrefix(list[i].Reason, w.reason) || list[i].Strategy != tt.def.Name {
					t.Errorf("error %d: got %s %q, want %s %q", i, list[i].Param, list[i].Reason, w.param, w.reason)
				}
			}
			var one *ParamError
			if !errors.As(err, &one) || one != list[0] {
				t.Errorf("errors.As does not find the first *ParamError")
			}
			if !strings.HasPrefix(err.Error(), tt.def.Name+": invalid parameters: ") {
				t.Errorf("message %q", err)
			}
		})
	}
}

func TestResolveCanonicalJSON(t *testing.T) {
	p, err := ORB().Resolve(json.RawMessage(`{"exit_at": "15:00", "target_r": 1.5}`))
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	const w = `{"exchange":"NFO","exit_at":"15:00","lots":1,"product":"MIS","range_minutes":15,"symbol":"","target_r":1.5,"underlying":"NIFTY"}`
	if string(b) != w {
		t.Fatalf("got  %s\nwant %s", b, w)
	}
	// The canonical form builds the same strategy and resolves to itself.
	p2, err := ORB().Resolve(b)
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := json.Marshal(p2)
	if string(b2) != w {
		t.Fatalf("not a fixed point: %s", b2)
	}
}

func TestClockParsing(t *testing.T) {
	for in, want := range map[string]int64{"00:00": 0, "09:15": 33300, "15:29:59": 55799, "23:59": 86340} {
		got, err := parseClock(in)
		if err != nil || got != want {
			t.Errorf("parseClock(%q) = %d, %v; want %d", in, got, err, want)
		}
		if formatClock(got) != in {
			t.Errorf("formatClock(%d) = %q, want %q", got, formatClock(got), in)
		}
	}
	for _, in := range []string{"", "9:15", "09:15:", "24:00", "09:60", "0915", "09:15:00:00", "ab:cd", "-1:00"} {
		if _, err := parseClock(in); err == nil {
			t.Errorf("parseClock(%q): no error", in)
		}
	}
}
