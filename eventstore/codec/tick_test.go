package codec_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/algoauto/algoauto/domain"
	"github.com/algoauto/algoauto/eventstore"
	"github.com/algoauto/algoauto/eventstore/codec"
)

func mustAppendTick(tb testing.TB, t domain.Tick) []byte {
	tb.Helper()
	b, err := codec.AppendTick(nil, &t)
	if err != nil {
		tb.Fatalf("AppendTick(%+v): %v", t, err)
	}
	return b
}

func tickCases() map[string]domain.Tick {
	extreme := niftyFuture()
	extreme.LTP, extreme.Volume, extreme.OI, extreme.LastQty = math.MaxInt64, math.MaxInt64, math.MaxInt64, 1
	extreme.Token = math.MaxUint32
	extreme.ExchangeTime = time.Unix(0, math.MaxInt64).In(domain.IST())
	early := niftyIndex()
	early.ExchangeTime = time.Unix(0, math.MinInt64).In(domain.IST())
	oneSided := niftyFuture()
	oneSided.Ask, oneSided.AskQty = 0, 0
	qtyOnly := niftyFuture()
	qtyOnly.Bid, qtyOnly.Ask, qtyOnly.AskQty = 0, 0, 0
	longName := niftyIndex()
	longName.Symbol = strings.Repeat("S", 255)
	nan := niftyOption()
	nan.Greeks = &domain.Greeks{IV: math.NaN(), Delta: math.Inf(1), Gamma: math.Inf(-1), Theta: math.Copysign(0, -1), Vega: math.SmallestNonzeroFloat64, Rho: math.MaxFloat64}
	return map[string]domain.Tick{
		"future with depth":  niftyFuture(),
		"index":              niftyIndex(),
		"option with greeks": niftyOption(),
		"extreme values":     extreme,
		"earliest time":      early,
		"one-sided depth":    oneSided,
		"depth qty only":     qtyOnly,
		"255-byte symbol":    longName,
		"non-finite greeks":  nan, // the layout carries what Validate would refuse
	}
}

func TestTickRoundTrip(t *testing.T) {
	t.Parallel()
	var d codec.TickDecoder
	for name, want := range tickCases() {
		b := mustAppendTick(t, want)
		if b[0] != 1 {
			t.Errorf("%s: layout version byte %d, want 1", name, b[0])
		}
		var got domain.Tick
		if err := d.Decode(b, &got); err != nil {
			t.Fatalf("%s: Decode(%x): %v", name, b, err)
		}
		if !got.ExchangeTime.Equal(want.ExchangeTime) {
			t.Errorf("%s: time %v, want %v", name, got.ExchangeTime, want.ExchangeTime)
		}
		if got.ExchangeTime.Location() != domain.IST() {
			t.Errorf("%s: time in %v, want IST", name, got.ExchangeTime.Location())
		}
		if want.Greeks != nil {
			if got.Greeks == nil {
				t.Fatalf("%s: greeks lost", name)
			}
			w := []float64{want.Greeks.IV, want.Greeks.Delta, want.Greeks.Gamma, want.Greeks.Theta, want.Greeks.Vega, want.Greeks.Rho}
			g := []float64{got.Greeks.IV, got.Greeks.Delta, got.Greeks.Gamma, got.Greeks.Theta, got.Greeks.Vega, got.Greeks.Rho}
			for i := range w {
				if math.Float64bits(w[i]) != math.Float64bits(g[i]) {
					t.Errorf("%s: greek %d = %v, want %v (bit for bit)", name, i, g[i], w[i])
				}
			}
		} else if got.Greeks != nil {
			t.Errorf("%s: greeks %+v appeared", name, got.Greeks)
		}
		got.ExchangeTime, want.ExchangeTime = time.Time{}, time.Time{}
		got.Greeks, want.Greeks = nil, nil
		if got != want {
			t.Errorf("%s: Decode =\n%+v\nwant\n%+v", name, got, want)
		}
		again := mustAppendTick(t, func() domain.Tick { var x domain.Tick; _ = d.Decode(b, &x); return x }())
		if !bytes.Equal(again, b) {
			t.Errorf("%s: re-encoding the decoded tick = %x, want %x", name, again, b)
		}
	}
}

func TestAppendTickAppends(t *testing.T) {
	t.Parallel()
	tick := niftyFuture()
	alone := mustAppendTick(t, tick)
	prefix := []byte("prefix")
	got, err := codec.AppendTick(prefix, &tick)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, append([]byte("prefix"), alone...)) {
		t.Fatalf("AppendTick(prefix) = %q, want the prefix followed by the encoding", got)
	}
}

func TestAppendTickRefuses(t *testing.T) {
	t.Parallel()
	mod := func(f func(*domain.Tick)) domain.Tick { v := niftyFuture(); f(&v); return v }
	tests := []struct {
		name string
		tick domain.Tick
		want string
	}{
		{"negative ltp", mod(func(t *domain.Tick) { t.LTP = -1 }), "negative"},
		{"negative bid", mod(func(t *domain.Tick) { t.Bid = -1 }), "negative"},
		{"negative ask qty", mod(func(t *domain.Tick) { t.AskQty = -1 }), "negative"},
		{"negative volume", mod(func(t *domain.Tick) { t.Volume = -1 }), "negative"},
		{"negative oi", mod(func(t *domain.Tick) { t.OI = -1 }), "negative"},
		{"negative last qty", mod(func(t *domain.Tick) { t.LastQty = -1 }), "negative"},
		{"long provider", mod(func(t *domain.Tick) { t.Provider = strings.Repeat("p", 256) }), "exceeds 255"},
		{"long symbol", mod(func(t *domain.Tick) { t.Symbol = strings.Repeat("s", 256) }), "exceeds 255"},
		{"zero time", mod(func(t *domain.Tick) { t.ExchangeTime = time.Time{} }), "exchange time"},
		{"time after 2262", mod(func(t *domain.Tick) { t.ExchangeTime = time.Date(2263, 1, 1, 0, 0, 0, 0, time.UTC) }), "exchange time"},
		{"time before 1678", mod(func(t *domain.Tick) { t.ExchangeTime = time.Date(1677, 1, 1, 0, 0, 0, 0, time.UTC) }), "exchange time"},
	}
	for _, tt := range tests {
		b, err := codec.AppendTick([]byte("keep"), &tt.tick)
		if err == nil {
			t.Errorf("%s: AppendTick = %x, want an error", tt.name, b)
			continue
		}
		if !errors.Is(err, codec.ErrMalformed) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: AppendTick error = %v, want ErrMalformed mentioning %q", tt.name, err, tt.want)
		}
		if string(b) != "keep" {
			t.Errorf("%s: AppendTick changed dst to %q on error", tt.name, b)
		}
	}
}

func TestTickDecodeTruncated(t *testing.T) {
	t.Parallel()
	var d codec.TickDecoder
	for name, tick := range tickCases() {
		b := mustAppendTick(t, tick)
		for n := range len(b) {
			// A fresh copy of exactly n bytes, so that reading past the end
			// would be caught by the bounds check rather than see valid data.
			in := bytes.Clone(b[:n])
			var got domain.Tick
			err := d.Decode(in, &got)
			if !errors.Is(err, codec.ErrMalformed) {
				t.Fatalf("%s: Decode of the first %d of %d bytes = %v, want ErrMalformed", name, n, len(b), err)
			}
		}
	}
}

func TestTickDecodeRejects(t *testing.T) {
	t.Parallel()
	future := mustAppendTick(t, niftyFuture())
	index := mustAppendTick(t, niftyIndex())
	edit := func(b []byte, f func([]byte) []byte) []byte { return f(bytes.Clone(b)) }

	// Offsets in the index encoding: version, flags, 3 strings, 8-byte time,
	// then the uvarints ltp, last_qty, volume, oi.
	idx := niftyIndex()
	ltpAt := 2 + 1 + len(idx.Provider) + 1 + len(idx.Exchange) + 1 + len(idx.Symbol) + 8
	if v, n := binary.Uvarint(index[ltpAt:]); v != uint64(idx.LTP) || n != 4 {
		t.Fatalf("test assumes ltp at byte %d: got %d (%d bytes)", ltpAt, v, n)
	}

	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{"empty", nil, "0 bytes"},
		{"trailing byte", append(bytes.Clone(future), 0), "trailing"},
		{"trailing bytes", append(bytes.Clone(index), 1, 2, 3), "3 trailing"},
		{"layout version 0", edit(future, func(b []byte) []byte { b[0] = 0; return b }), "layout version 0"},
		{"layout version 2", edit(future, func(b []byte) []byte { b[0] = 2; return b }), "layout version 2"},
		{"layout version '{'", []byte(`{"ltp":1}`), "layout version 123"},
		{"unknown flag 8", edit(future, func(b []byte) []byte { b[1] |= 8; return b }), "unknown flags"},
		{"unknown flag 0x80", edit(index, func(b []byte) []byte { b[1] |= 0x80; return b }), "unknown flags"},
		{"string longer than input", []byte{1, 0, 200, 'k'}, "provider"},
		{"uvarint overflow", edit(index, func(b []byte) []byte {
			return append(b[:ltpAt:ltpAt], append(bytes.Repeat([]byte{0xff}, 10), index[ltpAt+4:]...)...)
		}), "ltp"},
		{"uvarint above MaxInt64", edit(index, func(b []byte) []byte {
			v := binary.AppendUvarint(b[:ltpAt:ltpAt], math.MaxInt64+1)
			return append(v, index[ltpAt+4:]...)
		}), "ltp out of range"},
		// Non-canonical encodings are refused, so that every accepted
		// payload re-encodes to the same bytes.
		{"non-minimal uvarint", edit(index, func(b []byte) []byte {
			// ltp 2448010 in 5 bytes instead of 4: last group zero.
			v := binary.AppendUvarint(b[:ltpAt:ltpAt], uint64(idx.LTP))
			v[len(v)-1] |= 0x80
			v = append(v, 0)
			return append(v, index[ltpAt+4:]...)
		}), "ltp"},
		{"non-minimal zero", edit(index, func(b []byte) []byte {
			// last_qty 0 as 0x80 0x00.
			v := append(b[:ltpAt+4:ltpAt+4], 0x80, 0x00)
			return append(v, index[ltpAt+5:]...)
		}), "last_qty"},
		{"depth flag without depth", edit(index, func(b []byte) []byte {
			b[1] |= 1
			return append(b, 0, 0, 0, 0)
		}), "depth"},
		{"token flag with token 0", edit(index, func(b []byte) []byte {
			b[1] |= 4
			return append(b, 0, 0, 0, 0)
		}), "token"},
	}
	var d codec.TickDecoder
	for _, tt := range tests {
		var got domain.Tick
		err := d.Decode(tt.in, &got)
		if err == nil {
			t.Errorf("%s: Decode(%x) = %+v, want an error", tt.name, tt.in, got)
			continue
		}
		if !errors.Is(err, codec.ErrMalformed) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Decode error = %v, want ErrMalformed mentioning %q", tt.name, err, tt.want)
		}
	}
}

// TestTickDecoderReuse checks that Decode resets the tick: fields of a
// previous decode do not leak into the next.
func TestTickDecoderReuse(t *testing.T) {
	t.Parallel()
	var d codec.TickDecoder
	var got domain.Tick
	if err := d.Decode(mustAppendTick(t, niftyOption()), &got); err != nil {
		t.Fatal(err)
	}
	if err := d.Decode(mustAppendTick(t, niftyIndex()), &got); err != nil {
		t.Fatal(err)
	}
	want := niftyIndex()
	if got.Greeks != nil || got.Bid != 0 || got.Token != 0 || got.Symbol != want.Symbol || got.LTP != want.LTP {
		t.Fatalf("second Decode = %+v, want %+v", got, want)
	}
}

func TestTickDecoderInterns(t *testing.T) {
	t.Parallel()
	var d codec.TickDecoder
	ticks := make([]domain.Tick, 1000)
	for i := range ticks {
		tick := niftyFuture()
		tick.LTP += domain.Price(i)
		tick.ExchangeTime = tick.ExchangeTime.Add(time.Duration(i) * time.Millisecond)
		b := mustAppendTick(t, tick) // a fresh buffer per tick
		if err := d.Decode(b, &ticks[i]); err != nil {
			t.Fatal(err)
		}
		clear(b) // the decoded strings must not alias the input
	}
	first := ticks[0]
	if first.Symbol != "NIFTY26NOVFUT" || first.Provider != "kite" || first.Exchange != "NFO" {
		t.Fatalf("decoded strings %q %q %q changed with the input buffer", first.Provider, first.Exchange, first.Symbol)
	}
	for i, tick := range ticks {
		if unsafe.StringData(tick.Symbol) != unsafe.StringData(first.Symbol) ||
			unsafe.StringData(tick.Provider) != unsafe.StringData(first.Provider) ||
			unsafe.StringData(tick.Exchange) != unsafe.StringData(first.Exchange) {
			t.Fatalf("tick %d: strings are not interned", i)
		}
		if tick.LTP != niftyFuture().LTP+domain.Price(i) {
			t.Fatalf("tick %d: ltp %d", i, tick.LTP)
		}
	}
	// A second decoder has its own table (decoders are not shared).
	var d2 codec.TickDecoder
	var other domain.Tick
	if err := d2.Decode(mustAppendTick(t, niftyFuture()), &other); err != nil {
		t.Fatal(err)
	}
	if other.Symbol != first.Symbol {
		t.Fatalf("second decoder: symbol %q", other.Symbol)
	}
}

// TestTickDecodeMatchesRegistry checks that the registry's tick decoding and
// TickDecoder agree.
func TestTickDecodeMatchesRegistry(t *testing.T) {
	t.Parallel()
	var d codec.TickDecoder
	for name, tick := range tickCases() {
		if tick.Validate() != nil {
			continue
		}
		b := mustAppendTick(t, tick)
		var direct domain.Tick
		if err := d.Decode(b, &direct); err != nil {
			t.Fatal(err)
		}
		ed, err := codec.NewRegistry().Encode(testID, tick, eventstore.Metadata{})
		if err != nil {
			t.Fatalf("%s: Encode: %v", name, err)
		}
		if !bytes.Equal(ed.Data, b) {
			t.Fatalf("%s: Registry.Encode = %x, AppendTick = %x", name, ed.Data, b)
		}
		rec := recorded(ed, tick.Stream(), 0, 1)
		ev, err := codec.NewRegistry().Decode(&rec)
		if err != nil {
			t.Fatalf("%s: Decode: %v", name, err)
		}
		if !reflect.DeepEqual(normalize(ev), normalize(direct)) {
			t.Fatalf("%s: Registry.Decode = %+v, TickDecoder = %+v", name, ev, direct)
		}
	}
}
