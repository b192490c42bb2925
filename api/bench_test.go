package api_test

// Benchmark H1 of PERFORMANCE.md §9: GET /api/v1/positions through the API
// server against a bare net/http handler marshalling the same positions per
// request, both served by a real http.Server on loopback.

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/algoauto/algoauto/api"
	"github.com/algoauto/algoauto/domain"
	"github.com/algoauto/algoauto/eventstore"
	"github.com/algoauto/algoauto/internal/probe"
	"github.com/algoauto/algoauto/projections"
)

var (
	h1Duration = flag.Duration("h1.duration", time.Second, "BenchmarkH1Positions: load time per server (full size 5s)")
	h1Clients  = flag.Int("h1.clients", 16, "BenchmarkH1Positions: concurrent keep-alive clients")
)

// h1Positions is how many positions the read model holds: about 2 KB of
// JSON, as the probe of PERFORMANCE.md §8.
const h1Positions = 4

// positionsFixture appends orders and fills to the shared fixture's store
// and runs the positions read model over it.
func positionsFixture(b *testing.B) *projections.Runner {
	b.Helper()
	e := newTestEnv(b, envConfig{readModels: []string{"quotes", "positions"}})
	var last eventstore.Position
	for i := range h1Positions {
		id := fmt.Sprintf("o%d", i)
		account, symbol := fmt.Sprintf("paper-%d", i%2), fmt.Sprintf("NIFTY26NOV%dCE", 24000+100*i)
		e.append(domain.OrderStream(id), domain.OrderIntentRecorded{OrderID: id, ClientOrderID: "c" + id, Account: account, Mode: domain.Paper,
			Exchange: domain.ExchangeNFO, Symbol: symbol, Side: domain.Buy, Quantity: 130, Type: domain.Market, Product: domain.NRML, LotSize: 65})
		e.append(domain.OrderStream(id), domain.OrderFilled{OrderID: id, TradeID: id + "-1", Quantity: 130, Price: domain.Rupees(100 + int64(i)),
			FilledQty: 130, Charges: domain.Rupees(20)})
		last = e.append(domain.TickStream(domain.ExchangeNFO, symbol), domain.Tick{Provider: "sim", Exchange: domain.ExchangeNFO, Symbol: symbol,
			ExchangeTime: time.Date(2026, 11, 20, 10, 0, 0, 0, domain.IST()), LTP: domain.Rupees(105 + int64(i))})
	}
	e.wait(last)
	return e.runner
}

// serve serves h on a fresh loopback listener until the benchmark ends.
func serve(b *testing.B, h http.Handler) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: time.Minute}
	done := make(chan struct{})
	go func() { _ = srv.Serve(ln); close(done) }()
	b.Cleanup(func() { srv.Close(); <-done })
	return "http://" + ln.Addr().String()
}

type loadResult struct {
	requests int
	bytes    int
	perSec   float64
	p50, p99 time.Duration
	cpu      time.Duration // process CPU per request (clients and server share the process)
}

// load runs clients keep-alive clients against url for d (after a short
// warm-up) and measures every request.
func load(url string, clients int, d time.Duration) (loadResult, error) {
	tr := &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	get := func() (int, error) {
		resp, err := hc.Get(url)
		if err != nil {
			return 0, err
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("GET %s: status %d", url, resp.StatusCode)
		}
		return int(n), err
	}
	var (
		wg      sync.WaitGroup
		stop    atomic.Bool
		measure atomic.Bool
		firstEr atomic.Pointer[error]
		lats    = make([][]time.Duration, clients)
		size    atomic.Int64
		start   time.Time
	)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := make([]time.Duration, 0, 1<<14)
			for !stop.Load() {
				t := time.Now()
				n, err := get()
				if err != nil {
					firstEr.CompareAndSwap(nil, &err)
					return
				}
				if measure.Load() {
					l = append(l, time.Since(t))
					size.Store(int64(n))
				}
			}
			lats[i] = l
		}()
	}
	time.Sleep(200 * time.Millisecond) // warm-up: connections open, buffers grown
	start = time.Now()
	cpu0 := probe.ProcessCPU()
	measure.Store(true)
	time.Sleep(d)
	measure.Store(false)
	el := time.Since(start)
	cpu := probe.ProcessCPU() - cpu0
	stop.Store(true)
	wg.Wait()
	if p := firstEr.Load(); p != nil {
		return loadResult{}, *p
	}
	var all []time.Duration
	for _, l := range lats {
		all = append(all, l...)
	}
	r := loadResult{requests: len(all), bytes: int(size.Load()), perSec: float64(len(all)) / el.Seconds(), cpu: cpu / time.Duration(max(len(all), 1))}
	r.p50, r.p99 = probe.Percentiles(all)
	return r, nil
}

// BenchmarkH1Positions: GET /api/v1/positions (about 2 KB of JSON) through
// api.NewServer(...).Handler() with no Auth (the open server), against a
// bare handler that marshals the same positions (and totals) under an
// RWMutex per request; 16 keep-alive clients each, one server after the other.
func BenchmarkH1Positions(b *testing.B) {
	runner := positionsFixture(b)
	sut := serve(b, api.NewServer(api.Config{}, api.Deps{Projections: runner}).Handler())

	p, _ := runner.Get("positions")
	list, pos := p.(*projections.Positions).List(projections.PositionQuery{})
	totals := map[string]any{}
	for _, v := range list {
		for k, x := range map[string]domain.Price{"realized": v.Realized, "unrealized": v.Unrealized, "charges": v.Charges,
			"total_pnl": v.TotalPnL, "total_pnl_net": v.TotalPnLNet} {
			t, _ := totals[k].(domain.Price)
			totals[k] = t + x
		}
	}
	totals["open_positions"] = len(list)
	var mu sync.RWMutex
	bare := serve(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.RLock()
		body, err := json.Marshal(map[string]any{"position": uint64(pos), "as_of": false, "positions": list, "totals": totals})
		mu.RUnlock()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	for range b.N {
		s, err := load(sut+"/api/v1/positions", *h1Clients, *h1Duration)
		if err != nil {
			b.Fatal(err)
		}
		a, err := load(bare+"/positions", *h1Clients, *h1Duration)
		if err != nil {
			b.Fatal(err)
		}
		ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
		b.ReportMetric(s.perSec, "req/s")
		b.ReportMetric(ms(s.p99), "p99_ms")
		b.ReportMetric(a.perSec, "probe_req/s")
		b.ReportMetric(ms(a.p99), "probe_p99_ms")
		b.ReportMetric(s.perSec/a.perSec, "rate_ratio")
		b.ReportMetric(s.p99.Seconds()/a.p99.Seconds(), "p99_ratio")
		b.ReportMetric(float64(s.cpu)/1e3, "cpu_µs/req")
		b.ReportMetric(float64(a.cpu)/1e3, "probe_cpu_µs/req")
		b.Logf("%d clients: API %.0f req/s, p50 %.2f ms, p99 %.2f ms, %.0f CPU-µs/req (%d B); bare handler %.0f req/s, p50 %.2f ms, p99 %.2f ms, %.0f CPU-µs/req (%d B); ratios %.2f (≥ 0.75) and p99 %.2f (≤ 1.5)",
			*h1Clients, s.perSec, ms(s.p50), ms(s.p99), float64(s.cpu)/1e3, s.bytes, a.perSec, ms(a.p50), ms(a.p99), float64(a.cpu)/1e3, a.bytes, s.perSec/a.perSec, s.p99.Seconds()/a.p99.Seconds())
	}
}
