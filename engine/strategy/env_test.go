package strategy

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/algoauto/algoauto/domain"
)

// fakeEnv is an instruments master for NIFTY in November-December 2026:
// monthly futures expiring on the last Tuesday, weekly options every
// Tuesday, strikes every 50 rupees, lot size 65.
type fakeEnv struct {
	futures []domain.Instrument
	weekly  []time.Time
	fail    error // every lookup fails with it when set
	calls   int
}

const niftyLot = 65

func istDay(y int, m time.Month, d int) time.Time {
	return time.Date(y, m, d, 0, 0, 0, 0, domain.IST())
}

func newFakeEnv() *fakeEnv {
	e := &fakeEnv{}
	for _, exp := range []time.Time{istDay(2026, 11, 24), istDay(2026, 12, 29), istDay(2027, 1, 26)} {
		e.futures = append(e.futures, domain.Instrument{
			Exchange: domain.ExchangeNFO, Symbol: domain.FutureSymbol("NIFTY", exp), Name: "NIFTY",
			Segment: "NFO-FUT", Type: domain.InstrumentFuture, Expiry: exp, TickSize: 10, LotSize: niftyLot,
		})
	}
	for d := istDay(2026, 11, 3); d.Before(istDay(2027, 2, 1)); d = d.AddDate(0, 0, 7) {
		e.weekly = append(e.weekly, d)
	}
	return e
}

func (e *fakeEnv) Instrument(exchange, symbol string) (domain.Instrument, error) {
	e.calls++
	if e.fail != nil {
		return domain.Instrument{}, e.fail
	}
	for _, f := range e.futures {
		if f.Exchange == exchange && f.Symbol == symbol {
			return f, nil
		}
	}
	return domain.Instrument{}, fmt.Errorf("no instrument %s:%s", exchange, symbol)
}

func (e *fakeEnv) Future(underlying string, at time.Time) (domain.Instrument, error) {
	e.calls++
	if e.fail != nil {
		return domain.Instrument{}, e.fail
	}
	for _, f := range e.futures {
		if f.Name == underlying && at.Before(f.ExpiresAt()) {
			return f, nil
		}
	}
	return domain.Instrument{}, fmt.Errorf("no %s future after %s", underlying, at)
}

func (e *fakeEnv) NearestWeekly(underlying string, at time.Time) (time.Time, error) {
	e.calls++
	if e.fail != nil {
		return time.Time{}, e.fail
	}
	for _, d := range e.weekly {
		if at.Before(d.Add(15*time.Hour + 30*time.Minute)) {
			return d, nil
		}
	}
	return time.Time{}, errors.New("no weekly expiry")
}

func (e *fakeEnv) ATMStrike(underlying string, expiry time.Time, spot domain.Price) (domain.Price, error) {
	e.calls++
	if e.fail != nil {
		return 0, e.fail
	}
	const step = 5000 // 50 rupees
	return (spot + step/2) / step * step, nil
}

func (e *fakeEnv) Option(underlying string, expiry time.Time, strike domain.Price, typ domain.InstrumentType) (domain.Instrument, error) {
	e.calls++
	if e.fail != nil {
		return domain.Instrument{}, e.fail
	}
	return domain.Instrument{
		Exchange: domain.ExchangeNFO, Symbol: optionSymbol(expiry, strike, typ), Name: underlying,
		Segment: "NFO-OPT", Type: typ, Expiry: expiry, Strike: strike, TickSize: 5, LotSize: niftyLot,
	}, nil
}

// optionSymbol is a Kite-like weekly option symbol, e.g. NIFTY2612424500CE.
func optionSymbol(expiry time.Time, strike domain.Price, typ domain.InstrumentType) string {
	e := expiry.In(domain.IST())
	return fmt.Sprintf("NIFTY%s%d%02d%d%s", e.Format("06"), int(e.Month()), e.Day(), strike/100, typ)
}

// The test day: Friday 20 November 2026.
func at(h, m, s int) time.Time { return time.Date(2026, 11, 20, h, m, s, 0, domain.IST()) }

const (
	fut   = "NIFTY26NOVFUT"
	index = "NIFTY 50"
)

func rs(r float64) domain.Price { return domain.Price(r*100 + 0.5) }

func tick(exchange, symbol string, t time.Time, ltp float64) domain.Tick {
	return domain.Tick{Provider: "test", Exchange: exchange, Symbol: symbol, ExchangeTime: t, LTP: rs(ltp)}
}

func futTick(t time.Time, ltp float64) domain.Tick { return tick(domain.ExchangeNFO, fut, t, ltp) }

// step is one input of a scripted run.
type step struct {
	tick  *domain.Tick
	fill  *Fill
	timer time.Time
}

func onTick(t domain.Tick) step { return step{tick: &t} }
func onFill(f Fill) step        { return step{fill: &f} }
func onTimer(t time.Time) step  { return step{timer: t} }
func ticks(ts ...domain.Tick) []step {
	out := make([]step, len(ts))
	for i, t := range ts {
		out[i] = onTick(t)
	}
	return out
}

// run feeds steps to s and returns every signal, in order.
func run(s Strategy, env Env, steps []step) []Signal {
	var out []Signal
	for _, st := range steps {
		switch {
		case st.tick != nil:
			out = append(out, s.OnTick(env, *st.tick)...)
		case st.fill != nil:
			out = append(out, s.OnFill(env, *st.fill)...)
		default:
			out = append(out, s.OnTimer(env, st.timer)...)
		}
	}
	return out
}

// want is the part of a Signal the behaviour tests check.
type want struct {
	Leg    string
	Symbol string
	Side   domain.Side
	Qty    int64
	Reason string // substring
}

func checkSignals(t *testing.T, got []Signal, wants ...want) {
	t.Helper()
	if len(got) != len(wants) {
		t.Fatalf("got %d signals, want %d:\n%s", len(got), len(wants), dump(got))
	}
	for i, w := range wants {
		g := got[i]
		if g.Leg != w.Leg || g.Symbol != w.Symbol || g.Side != w.Side || g.Quantity != w.Qty || !strings.Contains(g.Reason, w.Reason) {
			t.Errorf("signal %d:\n got  %s %s %s %d %q\n want %s %s %s %d %q", i, g.Leg, g.Symbol, g.Side, g.Quantity, g.Reason, w.Leg, w.Symbol, w.Side, w.Qty, w.Reason)
		}
		if g.OrderType != domain.Market || !g.Product.Valid() || g.Exchange == "" || g.LotSize != niftyLot || g.At.IsZero() {
			t.Errorf("signal %d incomplete: %+v", i, g)
		}
	}
}

func dump(sigs []Signal) string {
	var b strings.Builder
	for _, s := range sigs {
		fmt.Fprintf(&b, "  %s %s %s %d ref %s at %s: %s\n", s.Leg, s.Symbol, s.Side, s.Quantity, s.RefPrice, s.At.Format(time.TimeOnly), s.Reason)
	}
	return b.String()
}

// fillOf is the complete fill of a signal at price.
func fillOf(s Signal, price float64, t time.Time) Fill {
	return Fill{Leg: s.Leg, Exchange: s.Exchange, Symbol: s.Symbol, Side: s.Side, Quantity: s.Quantity, Price: rs(price), At: t, Done: true}
}

func mustNew(t testing.TB, d Definition, params string) Strategy {
	t.Helper()
	s, err := d.New(json.RawMessage(params))
	if err != nil {
		t.Fatalf("%s %s: %v", d.Name, params, err)
	}
	return s
}

func stateJSON(t testing.TB, s Strategy) string {
	t.Helper()
	b, err := json.Marshal(s.State())
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestISTOffsetMatchesDomain(t *testing.T) {
	_, off := time.Unix(0, 0).In(domain.IST()).Zone()
	if off != istOffset {
		t.Fatalf("domain.IST offset %d, package uses %d", off, istOffset)
	}
	for _, tm := range []time.Time{at(9, 15, 0), at(0, 0, 0), at(23, 59, 59), time.Date(1969, 12, 31, 20, 0, 0, 0, time.UTC)} {
		day, sec := istSplit(tm.Unix())
		ist := tm.In(domain.IST())
		h, m, s := ist.Clock()
		if sec != int64(h*3600+m*60+s) || istDateISO(day) != ist.Format(time.DateOnly) || istUnix(day, sec) != tm.Unix() {
			t.Errorf("%s: day %s sec %d", tm, istDateISO(day), sec)
		}
	}
}

func TestLegIDs(t *testing.T) {
	var ids legIDs
	d1, _ := istSplit(at(10, 0, 0).Unix())
	got := []string{ids.next(d1, "entry"), ids.next(d1, "stop"), ids.next(d1+1, "entry")}
	if w := []string{"20261120-01-entry", "20261120-02-stop", "20261121-01-entry"}; !slices.Equal(got, w) {
		t.Fatalf("got %v, want %v", got, w)
	}
}

func TestSignalsCarryTheirFields(t *testing.T) {
	// A golden cross in tick mode, checked field by field once.
	s := mustNew(t, MACrossover(), `{"fast":2,"slow":3,"bar_seconds":0}`)
	got := run(s, newFakeEnv(), ticks(
		futTick(at(9, 16, 0), 100), futTick(at(9, 16, 1), 99), futTick(at(9, 16, 2), 98),
		futTick(at(9, 16, 3), 97), futTick(at(9, 16, 4), 101),
	))
	w := Signal{
		Leg: "20261120-01-long", Exchange: domain.ExchangeNFO, Symbol: fut, Side: domain.Buy, Quantity: niftyLot,
		LotSize: niftyLot, OrderType: domain.Market, Product: domain.NRML, RefPrice: rs(101),
		Reason: "golden cross: sma(2) 99.00 > sma(3) 98.67", At: at(9, 16, 4),
	}
	if len(got) != 1 || !reflect.DeepEqual(got[0], w) {
		t.Fatalf("got\n%+v\nwant\n%+v", got, w)
	}
}
