package codec

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/algoauto/algoauto/domain"
)

// Binary tick layout, version 1 (all integers little-endian):
//
//	u8      layout version (1)
//	u8      flags: 1 = depth (bid/ask), 2 = greeks, 4 = token
//	uvarint len + bytes: provider, exchange, symbol (each at most 255 bytes)
//	i64     exchange time, Unix nanoseconds
//	uvarint ltp (paise, > 0), last_qty, volume, oi
//	depth:  uvarint bid, bid_qty, ask, ask_qty
//	token:  u32
//	greeks: 6 x f64 (iv, delta, gamma, theta, vega, rho)
//
// A NIFTY future tick with depth is about 60 bytes. Decoding validates
// lengths and rejects trailing bytes; it never panics on bad input. It also
// rejects encodings AppendTick never writes (a uvarint longer than needed,
// the depth flag with all-zero depth, the token flag with token 0), so that
// every accepted payload has exactly one encoding.
const (
	tickLayoutV1 = 1

	flagDepth  = 1
	flagGreeks = 2
	flagToken  = 4
	knownFlags = flagDepth | flagGreeks | flagToken

	maxTickString = 255
)

// ErrMalformed is wrapped by every decoding error of a payload.
var ErrMalformed = errors.New("codec: malformed payload")

// AppendTick appends t's binary encoding to dst. It does not validate t (see
// domain.Tick.Validate) but refuses what the layout cannot hold.
func AppendTick(dst []byte, t *domain.Tick) ([]byte, error) {
	if t.LTP < 0 || t.Bid < 0 || t.Ask < 0 || t.LastQty < 0 || t.Volume < 0 || t.OI < 0 || t.BidQty < 0 || t.AskQty < 0 {
		return dst, fmt.Errorf("encode tick: negative price or quantity: %w", ErrMalformed)
	}
	for _, s := range [...]string{t.Provider, t.Exchange, t.Symbol} {
		if len(s) > maxTickString {
			return dst, fmt.Errorf("encode tick: string of %d bytes exceeds %d: %w", len(s), maxTickString, ErrMalformed)
		}
	}
	ns := t.ExchangeTime.UnixNano()
	if !time.Unix(0, ns).Equal(t.ExchangeTime) {
		return dst, fmt.Errorf("encode tick: exchange time %v is outside the Unix-nanosecond range (1678-2262): %w", t.ExchangeTime, ErrMalformed)
	}
	var flags byte
	if t.Bid != 0 || t.Ask != 0 || t.BidQty != 0 || t.AskQty != 0 {
		flags |= flagDepth
	}
	if t.Greeks != nil {
		flags |= flagGreeks
	}
	if t.Token != 0 {
		flags |= flagToken
	}
	dst = append(dst, tickLayoutV1, flags)
	dst = appendString(dst, t.Provider)
	dst = appendString(dst, t.Exchange)
	dst = appendString(dst, t.Symbol)
	dst = binary.LittleEndian.AppendUint64(dst, uint64(ns))
	dst = binary.AppendUvarint(dst, uint64(t.LTP))
	dst = binary.AppendUvarint(dst, uint64(t.LastQty))
	dst = binary.AppendUvarint(dst, uint64(t.Volume))
	dst = binary.AppendUvarint(dst, uint64(t.OI))
	if flags&flagDepth != 0 {
		dst = binary.AppendUvarint(dst, uint64(t.Bid))
		dst = binary.AppendUvarint(dst, uint64(t.BidQty))
		dst = binary.AppendUvarint(dst, uint64(t.Ask))
		dst = binary.AppendUvarint(dst, uint64(t.AskQty))
	}
	if flags&flagToken != 0 {
		dst = binary.LittleEndian.AppendUint32(dst, t.Token)
	}
	if g := t.Greeks; g != nil {
		for _, f := range [...]float64{g.IV, g.Delta, g.Gamma, g.Theta, g.Vega, g.Rho} {
			dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(f))
		}
	}
	return dst, nil
}

func appendString(dst []byte, s string) []byte {
	dst = append(dst, byte(len(s)))
	return append(dst, s...)
}

// TickDecoder decodes binary ticks. It interns provider, exchange and symbol
// strings, so that replaying millions of ticks of a few hundred instruments
// allocates no strings. A TickDecoder is not safe for concurrent use; its
// zero value is ready.
type TickDecoder struct {
	strs map[string]string
}

const maxInterned = 1 << 14

func (d *TickDecoder) intern(b []byte) string {
	if s, ok := d.strs[string(b)]; ok {
		return s
	}
	if d.strs == nil || len(d.strs) >= maxInterned {
		d.strs = make(map[string]string, 64)
	}
	s := string(b)
	d.strs[s] = s
	return s
}

type tickReader struct {
	b   []byte
	err error
}

func (r *tickReader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("decode tick: %s: %w", what, ErrMalformed)
	}
}

func (r *tickReader) uvarint(what string) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail(what)
		return 0
	}
	if n > 1 && r.b[n-1] == 0 {
		r.fail(what + " not minimally encoded")
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *tickReader) int63(what string) int64 {
	v := r.uvarint(what)
	if v > math.MaxInt64 {
		r.fail(what + " out of range")
		return 0
	}
	return int64(v)
}

func (r *tickReader) fixed(n int, what string) []byte {
	if r.err != nil {
		return nil
	}
	if len(r.b) < n {
		r.fail(what)
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *tickReader) str(d *TickDecoder, what string) string {
	l := r.fixed(1, what)
	if l == nil {
		return ""
	}
	b := r.fixed(int(l[0]), what)
	if b == nil {
		return ""
	}
	return d.intern(b)
}

// Decode reads one binary tick from b into t.
func (d *TickDecoder) Decode(b []byte, t *domain.Tick) error {
	if len(b) < 2 {
		return fmt.Errorf("decode tick: %d bytes: %w", len(b), ErrMalformed)
	}
	if b[0] != tickLayoutV1 {
		return fmt.Errorf("decode tick: unknown layout version %d: %w", b[0], ErrMalformed)
	}
	flags := b[1]
	if flags&^knownFlags != 0 {
		return fmt.Errorf("decode tick: unknown flags %#x: %w", flags, ErrMalformed)
	}
	r := tickReader{b: b[2:]}
	*t = domain.Tick{}
	t.Provider = r.str(d, "provider")
	t.Exchange = r.str(d, "exchange")
	t.Symbol = r.str(d, "symbol")
	if ts := r.fixed(8, "exchange time"); ts != nil {
		t.ExchangeTime = time.Unix(0, int64(binary.LittleEndian.Uint64(ts))).In(domain.IST())
	}
	t.LTP = domain.Price(r.int63("ltp"))
	t.LastQty = r.int63("last_qty")
	t.Volume = r.int63("volume")
	t.OI = r.int63("oi")
	if flags&flagDepth != 0 {
		t.Bid = domain.Price(r.int63("bid"))
		t.BidQty = r.int63("bid_qty")
		t.Ask = domain.Price(r.int63("ask"))
		t.AskQty = r.int63("ask_qty")
		if r.err == nil && t.Bid == 0 && t.BidQty == 0 && t.Ask == 0 && t.AskQty == 0 {
			r.fail("depth flag set without depth")
		}
	}
	if flags&flagToken != 0 {
		if v := r.fixed(4, "token"); v != nil {
			if t.Token = binary.LittleEndian.Uint32(v); t.Token == 0 {
				r.fail("token flag set with token 0")
			}
		}
	}
	if flags&flagGreeks != 0 {
		var f [6]float64
		for i := range f {
			if v := r.fixed(8, "greeks"); v != nil {
				f[i] = math.Float64frombits(binary.LittleEndian.Uint64(v))
			}
		}
		t.Greeks = &domain.Greeks{IV: f[0], Delta: f[1], Gamma: f[2], Theta: f[3], Vega: f[4], Rho: f[5]}
	}
	if r.err != nil {
		return r.err
	}
	if len(r.b) != 0 {
		return fmt.Errorf("decode tick: %d trailing bytes: %w", len(r.b), ErrMalformed)
	}
	return nil
}

// AppendTickBatch appends ticks to dst as a tick batch: each tick's binary
// encoding prefixed by its uvarint length. Feeds publish batches in this
// form, and the recorder stores each framed encoding as it is.
func AppendTickBatch(dst []byte, ticks []domain.Tick) ([]byte, error) {
	var one []byte
	for i := range ticks {
		var err error
		one, err = AppendTick(one[:0], &ticks[i])
		if err != nil {
			return nil, fmt.Errorf("encode tick %d of a batch: %w", i, err)
		}
		dst = binary.AppendUvarint(dst, uint64(len(one)))
		dst = append(dst, one...)
	}
	return dst, nil
}

// ForEachTick decodes a tick batch, calling fn with each tick and its
// encoding (a sub-slice of batch). The encoding is canonical (Decode accepts
// exactly what AppendTick writes), so it can be stored as the tick's
// payload without re-encoding. t is reused between calls.
func ForEachTick(batch []byte, d *TickDecoder, fn func(t *domain.Tick, encoded []byte) error) error {
	var t domain.Tick
	for i := 0; len(batch) > 0; i++ {
		l, n := binary.Uvarint(batch)
		if n <= 0 || l > uint64(len(batch)-n) {
			return fmt.Errorf("decode tick batch: framing of tick %d: %w", i, ErrMalformed)
		}
		enc := batch[n : n+int(l) : n+int(l)]
		if err := d.Decode(enc, &t); err != nil {
			return fmt.Errorf("decode tick batch: tick %d: %w", i, err)
		}
		if err := fn(&t, enc); err != nil {
			return err
		}
		batch = batch[n+int(l):]
	}
	return nil
}
