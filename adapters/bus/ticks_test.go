package bus_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/algoauto/algoauto/adapters/bus"
	"github.com/algoauto/algoauto/domain"
	"github.com/algoauto/algoauto/eventstore/codec"
)

func sample(n int) []domain.Tick {
	t0 := time.Date(2026, 11, 20, 9, 15, 0, 0, domain.IST())
	out := make([]domain.Tick, n)
	for i := range out {
		out[i] = domain.Tick{Provider: "sim", Exchange: "NSE", Symbol: "NIFTY 50", Token: 256265, ExchangeTime: t0.Add(time.Duration(i) * time.Second), LTP: domain.Price(2600000 + 5*i)}
	}
	return out
}

func TestPublishDeliversBatchesInOrder(t *testing.T) {
	var mu sync.Mutex
	var got [][]domain.Tick
	b, err := bus.NewTickBus(nil, func(_ context.Context, batch []byte) error {
		var ticks []domain.Tick
		var d codec.TickDecoder
		if err := codec.ForEachTick(batch, &d, func(t *domain.Tick, _ []byte) error {
			ticks = append(ticks, *t)
			return nil
		}); err != nil {
			return err
		}
		mu.Lock()
		got = append(got, ticks)
		mu.Unlock()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := b.Publish(ctx, sample(1)); !errors.Is(err, bus.ErrNotRunning) {
		t.Fatalf("publish before Run: %v, want ErrNotRunning (a message would be lost)", err)
	}
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	<-b.Running()
	want := sample(30)
	for i := 0; i < 30; i += 10 {
		if err := b.Publish(ctx, want[i:i+10]); err != nil {
			t.Fatal(err)
		}
	}
	// Publish blocks until the handler has taken the batch: no waiting needed.
	mu.Lock()
	n := len(got)
	mu.Unlock()
	if n != 3 {
		t.Fatalf("handler saw %d batches right after 3 blocking publishes", n)
	}
	for i, batch := range got {
		for j, tk := range batch {
			w := want[i*10+j]
			if tk.Symbol != w.Symbol || tk.LTP != w.LTP || !tk.ExchangeTime.Equal(w.ExchangeTime) || tk.Token != w.Token {
				t.Fatalf("batch %d tick %d: got %+v, want %+v", i, j, tk, w)
			}
		}
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestTickBatchFraming(t *testing.T) {
	enc, err := codec.AppendTickBatch(nil, sample(3))
	if err != nil {
		t.Fatal(err)
	}
	var d codec.TickDecoder
	n := 0
	if err := codec.ForEachTick(enc, &d, func(tk *domain.Tick, raw []byte) error {
		again, err := codec.AppendTick(nil, tk)
		if err != nil || string(again) != string(raw) {
			t.Fatalf("tick %d: re-encoding differs from the batch's bytes", n)
		}
		n++
		return nil
	}); err != nil || n != 3 {
		t.Fatalf("round trip: %d ticks, %v", n, err)
	}
	for cut := 1; cut < len(enc); cut++ {
		if err := codec.ForEachTick(enc[:cut], &d, func(*domain.Tick, []byte) error { return nil }); err != nil && !errors.Is(err, codec.ErrMalformed) {
			t.Fatalf("truncated at %d: %v does not wrap ErrMalformed", cut, err)
		}
	}
	if err := codec.ForEachTick(append([]byte{0xff, 0xff, 0x01}, enc...), &d, func(*domain.Tick, []byte) error { return nil }); !errors.Is(err, codec.ErrMalformed) {
		t.Fatalf("bad framing: %v", err)
	}
}
