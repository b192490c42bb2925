package strategy

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/algoauto/algoauto/domain"
)

// BenchmarkMACrossoverOnTick measures OnTick of ma-crossover per tick of the
// traded future (100 ms apart, within session hours, day after day; the
// symbol is given so that it does not expire), with
// every signal filled at once through OnFill. "flat" never crosses: the
// no-signal path, which must not allocate; "other-symbol" is a tick of an
// instrument the strategy does not trade (most of an option chain).
func BenchmarkMACrossoverOnTick(b *testing.B) {
	walk := make([]domain.Price, 1<<16)
	rng := rand.New(rand.NewPCG(3, 4))
	p := int64(2450000)
	for i := range walk {
		p += rng.Int64N(401) - 200
		walk[i] = domain.Price(p)
	}
	flat := make([]domain.Price, len(walk))
	for i := range flat {
		flat[i] = 2450000
	}
	for _, c := range []struct {
		name, params string
		prices       []domain.Price
		symbol       string
	}{
		{"bar60-sma", `{"symbol":"` + fut + `"}`, walk, fut},
		{"tick-sma", `{"symbol":"` + fut + `","bar_seconds":0}`, walk, fut},
		{"tick-ema", `{"symbol":"` + fut + `","bar_seconds":0,"ma":"ema"}`, walk, fut},
		{"flat", `{"symbol":"` + fut + `","bar_seconds":0}`, flat, fut},
		{"other-symbol", `{"symbol":"` + fut + `"}`, walk, "NIFTY26112424500CE"},
	} {
		b.Run(c.name, func(b *testing.B) {
			env := newFakeEnv()
			s := mustNew(b, MACrossover(), c.params)
			tk := domain.Tick{Provider: "bench", Exchange: domain.ExchangeNFO, Symbol: c.symbol}
			day0 := istDay(2026, 11, 2).Unix()
			const perDay = (sessionClose - sessionOpen) * 10 // ticks 100 ms apart
			mask := len(c.prices) - 1
			signals := 0
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				d, k := int64(i)/perDay, int64(i)%perDay
				tk.ExchangeTime = time.Unix(day0+d*daySeconds+sessionOpen+k/10, (k%10)*1e8)
				tk.LTP = c.prices[i&mask]
				for _, sig := range s.OnTick(env, tk) {
					signals++
					s.OnFill(env, Fill{Leg: sig.Leg, Exchange: sig.Exchange, Symbol: sig.Symbol, Side: sig.Side, Quantity: sig.Quantity, Price: tk.LTP, At: tk.ExchangeTime, Done: true})
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ticks/s")
			b.ReportMetric(float64(signals)/float64(b.N), "signals/tick")
		})
	}
}

// BenchmarkStrategiesOnChainTick measures each built-in on a tick of an
// option it does not trade: the cost every strategy pays for every tick of
// the chain the engine fans out to it.
func BenchmarkStrategiesOnChainTick(b *testing.B) {
	for _, d := range Builtins() {
		b.Run(d.Name, func(b *testing.B) {
			env := newFakeEnv()
			s := mustNew(b, d, `{}`)
			tk := domain.Tick{Provider: "bench", Exchange: domain.ExchangeNFO, Symbol: "NIFTY26112425000CE", LTP: 10000}
			start := at(10, 0, 0)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				tk.ExchangeTime = start.Add(time.Duration(i%100000) * time.Millisecond)
				s.OnTick(env, tk)
			}
		})
	}
}
