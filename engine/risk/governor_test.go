package risk_test

import (
	"math/rand/v2"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/algoauto/algoauto/engine/risk"
)

func mustGovernor(t *testing.T, perSec int64, more ...risk.Rate) *risk.Governor {
	t.Helper()
	g, err := risk.NewGovernor(perSec, more...)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestNewGovernorRates(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		perSec int64
		more   []risk.Rate
		want   int // per-second N; 0: error
	}{
		{0, nil, 8}, {1, nil, 1}, {7, nil, 7}, {8, nil, 8}, {9, nil, 9},
		{10, nil, 0}, {11, nil, 0}, {-1, nil, 0},
		{8, []risk.Rate{{N: 0, Per: time.Minute}}, 0},
		{8, []risk.Rate{{N: 200, Per: 0}}, 0},
	} {
		g, err := risk.NewGovernor(c.perSec, c.more...)
		if c.want == 0 {
			if err == nil {
				t.Errorf("NewGovernor(%d, %v): no error", c.perSec, c.more)
			}
			continue
		}
		if err != nil {
			t.Errorf("NewGovernor(%d): %v", c.perSec, err)
			continue
		}
		if r := g.Rates()[0]; r.N != c.want || r.Per != time.Second {
			t.Errorf("NewGovernor(%d): rate %+v, want %d/s", c.perSec, r, c.want)
		}
	}
}

// TestGovernorBursts sends 7, 8, 9 and 10 orders inside one second to
// governors of 7, 8 (the default) and 9 per second.
func TestGovernorBursts(t *testing.T) {
	t.Parallel()
	for _, limit := range []int64{7, 0, 9} {
		n := int(limit)
		if n == 0 {
			n = risk.DefaultOrdersPerSec
		}
		for _, burst := range []int{7, 8, 9, 10} {
			for _, spread := range []time.Duration{0, 100 * time.Millisecond} { // same instant, or spread over 0.9s
				g := mustGovernor(t, limit)
				admitted := 0
				for i := range burst {
					if g.Allow(t0.Add(time.Duration(i) * spread)) {
						admitted++
					}
				}
				if want := min(burst, n); admitted != want {
					t.Errorf("limit %d/s, burst %d spread %s: admitted %d, want %d", n, burst, spread, admitted, want)
				}
			}
		}
	}
}

func TestGovernorWindowBoundary(t *testing.T) {
	t.Parallel()
	g := mustGovernor(t, 0)
	for i := range 8 {
		if !g.Allow(t0) {
			t.Fatalf("order %d refused", i)
		}
	}
	r, ok := g.Admit(t0.Add(time.Second-time.Nanosecond), 1)
	if ok || r.Rule != risk.RuleOpsGovernor || r.Limit != 8 || r.Actual != 9 || r.Unit != risk.UnitOrders {
		t.Fatalf("9th just inside the window: ok %v refusal %+v", ok, r)
	}
	if next, ok := g.NextAllowed(t0, 1); !ok || !next.Equal(t0.Add(time.Second)) {
		t.Fatalf("NextAllowed = %v %v, want %v", next, ok, t0.Add(time.Second))
	}
	if !g.Allow(t0.Add(time.Second)) {
		t.Fatal("9th exactly one second later refused")
	}
}

// TestGovernorSteadyRate: orders every 1/8 s run forever at 8/s; every
// 1/9 s (9/s) only 8 of any 9 pass.
func TestGovernorSteadyRate(t *testing.T) {
	t.Parallel()
	g := mustGovernor(t, 8)
	for i := range 100 {
		if !g.Allow(t0.Add(time.Duration(i) * 125 * time.Millisecond)) {
			t.Fatalf("order %d at 8/s refused", i)
		}
	}
	g = mustGovernor(t, 8)
	admitted := 0
	for i := range 90 { // 10 s at 9/s
		if g.Allow(t0.Add(time.Duration(i) * time.Second / 9)) {
			admitted++
		}
	}
	if admitted > 80 || admitted < 79 {
		t.Fatalf("9/s for 10 s: %d admitted, want about 80", admitted)
	}
}

func TestGovernorSlicesAllOrNothing(t *testing.T) {
	t.Parallel()
	g := mustGovernor(t, 8)
	if _, ok := g.Admit(t0, 5); !ok {
		t.Fatal("5 slices refused")
	}
	r, ok := g.Admit(t0.Add(time.Millisecond), 4)
	if ok || r.Limit != 8 || r.Actual != 9 {
		t.Fatalf("4 more slices: ok %v %+v", ok, r)
	}
	if _, ok := g.Admit(t0.Add(time.Millisecond), 3); !ok {
		t.Fatal("3 slices that fit refused: the refused 4 were recorded")
	}
	if r, ok := mustGovernor(t, 8).Admit(t0, 9); ok || r.Actual != 9 {
		t.Fatalf("9 slices at once on 8/s: ok %v %+v", ok, r)
	}
	if _, ok := g.NextAllowed(t0, 9); ok {
		t.Fatal("NextAllowed for 9 on 8/s should be impossible")
	}
}

func TestGovernorSchedule(t *testing.T) {
	t.Parallel()
	g := mustGovernor(t, 8)
	got := g.Schedule(t0, 20)
	var want []time.Time
	for i := range 20 {
		want = append(want, t0.Add(time.Duration(i/8)*time.Second))
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Schedule = %v\nwant %v", got, want)
	}
	// Admit behind scheduled orders is refused; NextAllowed queues after them.
	if r, ok := g.Admit(t0.Add(time.Second), 1); ok || r.Rule != risk.RuleOpsGovernor {
		t.Fatalf("Admit before the queue drained: ok %v %+v", ok, r)
	}
	if next, _ := g.NextAllowed(t0, 1); !next.Equal(t0.Add(2 * time.Second)) {
		t.Fatalf("NextAllowed = %v", next)
	}
	if !g.Allow(t0.Add(3 * time.Second)) {
		t.Fatal("Admit after the queue refused")
	}
}

func TestGovernorExtraRates(t *testing.T) {
	t.Parallel()
	g := mustGovernor(t, 8, risk.Rate{N: 20, Per: time.Minute})
	times := g.Schedule(t0, 21)
	if !times[19].Equal(t0.Add(2*time.Second)) || !times[20].Equal(t0.Add(time.Minute)) {
		t.Fatalf("20th at %v, 21st at %v", times[19], times[20])
	}
	r, ok := mustGovernorAfter(t, 20).Admit(t0.Add(30*time.Second), 1)
	if ok || r.Limit != 20 || r.Actual != 21 {
		t.Fatalf("21st in a minute: ok %v %+v", ok, r)
	}
}

// mustGovernorAfter returns an 8/s + 20/min governor that admitted n orders
// one per second from t0.
func mustGovernorAfter(t *testing.T, n int) *risk.Governor {
	g := mustGovernor(t, 8, risk.Rate{N: 20, Per: time.Minute})
	for i := range n {
		if !g.Allow(t0.Add(time.Duration(i) * time.Second)) {
			t.Fatalf("order %d refused", i)
		}
	}
	return g
}

func TestGovernorReconfigureKeepsHistory(t *testing.T) {
	t.Parallel()
	g := mustGovernor(t, 9)
	for range 9 {
		g.Allow(t0)
	}
	if err := g.Reconfigure(10); err == nil {
		t.Fatal("Reconfigure(10) accepted")
	}
	if err := g.Reconfigure(5); err != nil {
		t.Fatal(err)
	}
	if g.Allow(t0.Add(500 * time.Millisecond)) {
		t.Fatal("lower rate opened a fresh burst")
	}
	if err := g.Reconfigure(9); err != nil {
		t.Fatal(err)
	}
	if g.Allow(t0.Add(500 * time.Millisecond)) {
		t.Fatal("raising the rate back forgot history it had to keep")
	}
	if !g.Allow(t0.Add(time.Second)) {
		t.Fatal("refused after the window")
	}
}

// TestGovernorNeverExceeds drives random arrivals through Admit and
// Schedule and checks every one-second window by brute force.
func TestGovernorNeverExceeds(t *testing.T) {
	t.Parallel()
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 1))
		perSec := int64(1 + rng.IntN(9))
		g := mustGovernor(t, perSec)
		var sent []time.Time
		at := t0
		for range 500 {
			at = at.Add(time.Duration(rng.IntN(300)) * time.Millisecond)
			n := 1 + rng.IntN(3)
			if rng.IntN(4) == 0 {
				ts := g.Schedule(at, n)
				sent = append(sent, ts...)
				at = ts[len(ts)-1]
				continue
			}
			if _, ok := g.Admit(at, n); ok {
				for range n {
					sent = append(sent, at)
				}
			}
		}
		for i := range sent {
			if i > 0 && sent[i].Before(sent[i-1]) {
				t.Fatalf("seed %d: send times out of order", seed)
			}
			count := 0
			for j := i; j < len(sent) && sent[j].Sub(sent[i]) < time.Second; j++ {
				count++
			}
			if count > int(perSec) {
				t.Fatalf("seed %d: %d orders in [%v, +1s) with limit %d", seed, count, sent[i], perSec)
			}
		}
	}
}

func TestGovernorConcurrent(t *testing.T) {
	t.Parallel()
	g := mustGovernor(t, 8)
	var mu sync.Mutex
	admitted := 0
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 10 {
				if g.Allow(t0) {
					mu.Lock()
					admitted++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if admitted != 8 {
		t.Fatalf("admitted %d at one instant, want 8", admitted)
	}
}
