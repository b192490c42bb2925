package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/algoauto/algoauto/adapters/sim"
	"github.com/algoauto/algoauto/api/ws"
	"github.com/algoauto/algoauto/domain"
	"github.com/algoauto/algoauto/eventstore"
)

// TestOptionChainRoutes records a few rounds of the simulator with option
// chains and reads them back through the option routes: the chain, one
// option's Greeks (IV from the mid quote equal to the simulator's smile
// volatility), its data, the list, as-of answers and subscribe.
func TestOptionChainRoutes(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, envConfig{readModels: []string{"quotes", "options"}})
	f, err := sim.New(sim.Config{Seed: 9, Start: time.Date(2026, 11, 20, 10, 0, 0, 0, domain.IST()), Interval: time.Second,
		Limit: 300, Options: true, OptionGreeks: true})
	if err != nil {
		t.Fatal(err)
	}
	var ticks []domain.Tick
	var firstRound eventstore.Position
	if err := f.Run(context.Background(), func(_ context.Context, ts []domain.Tick) error {
		for _, tk := range ts {
			ticks = append(ticks, tk)
			tk.Greeks = nil // recorded without the simulator's Greeks: the routes compute them
			p := e.append(tk.Stream(), tk)
			if tk.ExchangeTime.Equal(f.Start()) {
				firstRound = p
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	head := e.storeHead()
	e.wait(head)
	last := map[string]domain.Tick{}
	for _, tk := range ticks {
		last[tk.Symbol] = tk
	}

	var chain struct {
		Position   uint64   `json:"position"`
		Underlying string   `json:"underlying"`
		Expiry     string   `json:"expiry"`
		Expiries   []string `json:"expiries"`
		Spot       float64  `json:"spot"`
		ATM        float64  `json:"atm_strike"`
		Strikes    []struct {
			Strike float64 `json:"strike"`
			CE, PE *struct {
				Symbol string  `json:"symbol"`
				LTP    float64 `json:"ltp"`
				OI     int64   `json:"oi"`
				Greeks *struct {
					Source string  `json:"source"`
					IV     float64 `json:"iv"`
					Delta  float64 `json:"delta"`
				} `json:"greeks"`
			}
		} `json:"strikes"`
	}
	r := get(t, e.ts.URL+"/api/v1/truedata/options/option-chain/BANKNIFTY")
	if r.status != http.StatusOK {
		t.Fatalf("chain: %d %s", r.status, r.body)
	}
	r.decode(t, &chain)
	if chain.Position != uint64(head) || chain.Underlying != "BANKNIFTY" || chain.Expiry != "2026-11-23" || len(chain.Strikes) != 21 {
		t.Fatalf("chain: %+v", chain)
	}
	if chain.Spot != float64(last["NIFTY BANK"].LTP)/100 || math.Abs(chain.ATM-chain.Spot) > 50 {
		t.Errorf("spot %v (last %s), ATM %v", chain.Spot, last["NIFTY BANK"].LTP, chain.ATM)
	}
	for _, row := range chain.Strikes {
		for _, o := range []*struct {
			Symbol string  `json:"symbol"`
			LTP    float64 `json:"ltp"`
			OI     int64   `json:"oi"`
			Greeks *struct {
				Source string  `json:"source"`
				IV     float64 `json:"iv"`
				Delta  float64 `json:"delta"`
			} `json:"greeks"`
		}{row.CE, row.PE} {
			tk := last[o.Symbol]
			if o.LTP != float64(tk.LTP)/100 || o.OI != tk.OI || o.Greeks == nil || o.Greeks.Source != "model" {
				t.Fatalf("%s: %+v, last tick %+v", o.Symbol, o, tk)
			}
			if math.Abs(o.Greeks.IV-tk.Greeks.IV) > 1e-3 {
				t.Errorf("%s: IV %.5f, simulator's %.5f", o.Symbol, o.Greeks.IV, tk.Greeks.IV)
			}
		}
	}

	// One option, by Kite and TrueData names; its data; as of the first round.
	sym := chain.Strikes[10].CE.Symbol
	in, ok := mustMaster(t, f).Lookup("NFO:" + sym)
	if !ok {
		t.Fatalf("%s not in the master", sym)
	}
	td := "BANKNIFTY" + in.Expiry.Format("060102") + fmt.Sprint(int64(in.Strike)/100) + "CE"
	var g struct {
		Symbol string  `json:"symbol"`
		Spot   float64 `json:"spot"`
		Days   float64 `json:"days_to_expiry"`
		Greeks struct {
			IV      float64 `json:"iv"`
			Premium float64 `json:"premium"`
		} `json:"greeks"`
	}
	for _, name := range []string{sym, "NFO:" + sym, td, strings.ToLower(td)} {
		r := get(t, e.ts.URL+"/api/v1/truedata/options/greeks/"+name)
		if r.status != http.StatusOK {
			t.Fatalf("greeks of %s: %d %s", name, r.status, r.body)
		}
		r.decode(t, &g)
		if g.Symbol != sym || g.Greeks.IV <= 0 || g.Days <= 0 || g.Days > 4 {
			t.Errorf("greeks of %s: %+v", name, g)
		}
	}
	var asOf struct {
		AsOf   bool `json:"as_of"`
		Option struct {
			LTP   float64 `json:"ltp"`
			Ticks int64   `json:"ticks"`
		} `json:"option"`
	}
	r = get(t, fmt.Sprintf("%s/api/v1/truedata/options/data/%s?position=%d", e.ts.URL, sym, firstRound))
	if r.status != http.StatusOK {
		t.Fatalf("data as of the first round: %d %s", r.status, r.body)
	}
	r.decode(t, &asOf)
	if !asOf.AsOf || asOf.Option.Ticks != 1 || asOf.Option.LTP != float64(ticks[firstRoundIndex(ticks, sym)].LTP)/100 {
		t.Errorf("as of the first round: %+v", asOf)
	}

	var list struct {
		Underlyings []string          `json:"underlyings"`
		Options     []json.RawMessage `json:"options"`
	}
	get(t, e.ts.URL+"/api/v1/truedata/options/all-options?underlying=banknifty").decode(t, &list)
	if len(list.Underlyings) != 2 || len(list.Options) != 42 {
		t.Errorf("all-options of BANKNIFTY: %v, %d options", list.Underlyings, len(list.Options))
	}
	get(t, e.ts.URL+"/api/v1/truedata/options/all-options").decode(t, &list)
	if len(list.Options) != 84 {
		t.Errorf("all-options: %d", len(list.Options))
	}

	post := func(body string) response {
		t.Helper()
		res, err := http.Post(e.ts.URL+"/api/v1/truedata/options/subscribe", "application/json", bytes.NewBufferString(body))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var buf bytes.Buffer
		_, _ = buf.ReadFrom(res.Body)
		return response{status: res.StatusCode, header: res.Header, body: buf.Bytes()}
	}
	if r := post(fmt.Sprintf(`{"symbols":[%q,%q]}`, sym, td)); r.status != http.StatusOK || !strings.Contains(string(r.body), `"rooms":["options:BANKNIFTY"]`) {
		t.Errorf("subscribe: %d %s", r.status, r.body)
	}
	for _, c := range []struct{ body, want string }{
		{`{"symbols":["BANKNIFTY26NOV99000CE","NIFTY 50"]}`, `no option \"BANKNIFTY26NOV99000CE\", \"NIFTY 50\"`},
		{`{"symbols":[]}`, "non-empty"},
		{`{}`, "non-empty"},
		{`{"symbol":["x"]}`, "unknown field"},
	} {
		if r := post(c.body); r.status != http.StatusBadRequest || !strings.Contains(string(r.body), c.want) {
			t.Errorf("subscribe %s: %d %s, want %q", c.body, r.status, r.body, c.want)
		}
	}
}

func mustMaster(t *testing.T, f *sim.Feed) interface {
	Lookup(string) (domain.Instrument, bool)
} {
	t.Helper()
	m, err := f.Master(f.Start())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// firstRoundIndex returns the index of symbol's first tick.
func firstRoundIndex(ticks []domain.Tick, symbol string) int {
	for i, tk := range ticks {
		if tk.Symbol == symbol {
			return i
		}
	}
	return -1
}

// TestSimOptionTicksReachOptionsRooms checks that the WebSocket deriver
// routes every option the simulator can tick to options:<underlying>.
func TestSimOptionTicksReachOptionsRooms(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, envConfig{readModels: []string{"quotes"}})
	f, err := sim.New(sim.Config{Start: time.Date(2026, 11, 20, 10, 0, 0, 0, domain.IST())})
	if err != nil {
		t.Fatal(err)
	}
	m, err := f.Master(f.Start())
	if err != nil {
		t.Fatal(err)
	}
	d := ws.NewDeriver(e.reg, nil)
	n := 0
	for _, in := range m.Instruments() {
		if !in.Type.IsOption() {
			continue
		}
		n++
		tk := domain.Tick{Provider: "sim", Exchange: in.Exchange, Symbol: in.Symbol, Token: in.Token, ExchangeTime: f.Start(), LTP: 100}
		data, err := e.reg.Encode(uuid.New(), tk, eventstore.Metadata{})
		if err != nil {
			t.Fatal(err)
		}
		ups, err := d.Derive(context.Background(), &eventstore.RecordedEvent{ID: data.ID, Stream: tk.Stream(), Type: data.Type, Data: data.Data,
			Metadata: data.Metadata, Position: eventstore.Position(n), RecordedAt: f.Start()})
		if err != nil {
			t.Fatal(err)
		}
		rooms := map[string]bool{}
		for _, u := range ups {
			rooms[u.Room] = true
		}
		if !rooms["options:"+in.Name] || !rooms["market:"+in.Symbol] {
			t.Fatalf("%s: rooms %v, want options:%s", in.Symbol, rooms, in.Name)
		}
	}
	if n < 1000 {
		t.Errorf("only %d options in the master", n)
	}
}
