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
	last [3]string // the last provider, exchange and symbol: replays repeat them
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

// uv reads a canonical uvarint at b[i:] and returns it with the index after
// it, or next < 0 when it is truncated, longer than needed or over 64 bits.
func uv(b []byte, i int) (v uint64, next int) {
	var shift uint
	for j := 0; j < binary.MaxVarintLen64; j++ {
		if i >= len(b) {
			return 0, -1
		}
		c := b[i]
		i++
		if c < 0x80 {
			if j > 0 && c == 0 || j == binary.MaxVarintLen64-1 && c > 1 {
				return 0, -1 // not minimal, or overflow
			}
			return v | uint64(c)<<shift, i
		}
		v |= uint64(c&0x7f) << shift
		shift += 7
	}
	return 0, -1
}

func malformed(what string) error {
	return fmt.Errorf("decode tick: %s: %w", what, ErrMalformed)
}

// str reads a length-prefixed string into slot (provider, exchange,
// symbol), reusing the last one or an interned copy.
func (d *TickDecoder) str(b []byte, i, slot int) (string, int) {
	if i >= len(b) {
		return "", -1
	}
	l := int(b[i])
	i++
	if l > len(b)-i {
		return "", -1
	}
	sb := b[i : i+l]
	if string(sb) == d.last[slot] { // no allocation, no hashing
		return d.last[slot], i + l
	}
	s := d.intern(sb)
	d.last[slot] = s
	return s, i + l
}

var tickFields = [...]string{"ltp", "last_qty", "volume", "oi", "bid", "bid_qty", "ask", "ask_qty"}

// Decode reads one binary tick from b into t. It accepts exactly what
// AppendTick writes: canonical varints, no depth flag without depth, no
// token flag with token 0, no trailing bytes.
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
	*t = domain.Tick{}
	i := 2
	if t.Provider, i = d.str(b, i, 0); i < 0 {
		return malformed("provider")
	}
	if t.Exchange, i = d.str(b, i, 1); i < 0 {
		return malformed("exchange")
	}
	if t.Symbol, i = d.str(b, i, 2); i < 0 {
		return malformed("symbol")
	}
	if len(b)-i < 8 {
		return malformed("exchange time")
	}
	t.ExchangeTime = time.Unix(0, int64(binary.LittleEndian.Uint64(b[i:]))).In(domain.IST())
	i += 8
	n := 4
	if flags&flagDepth != 0 {
		n = 8
	}
	var vals [8]int64
	for k := range n {
		var v uint64
		if v, i = uv(b, i); i < 0 {
			return malformed(tickFields[k])
		}
		if v > math.MaxInt64 {
			return malformed(tickFields[k] + " out of range")
		}
		vals[k] = int64(v)
	}
	t.LTP, t.LastQty, t.Volume, t.OI = domain.Price(vals[0]), vals[1], vals[2], vals[3]
	if flags&flagDepth != 0 {
		t.Bid, t.BidQty, t.Ask, t.AskQty = domain.Price(vals[4]), vals[5], domain.Price(vals[6]), vals[7]
		if vals[4] == 0 && vals[5] == 0 && vals[6] == 0 && vals[7] == 0 {
			return malformed("depth flag set without depth")
		}
	}
	if flags&flagToken != 0 {
		if len(b)-i < 4 {
			return malformed("token")
		}
		if t.Token = binary.LittleEndian.Uint32(b[i:]); t.Token == 0 {
			return malformed("token flag set with token 0")
		}
		i += 4
	}
	if flags&flagGreeks != 0 {
		if len(b)-i < 48 {
			return malformed("greeks")
		}
		var f [6]float64
		for k := range f {
			f[k] = math.Float64frombits(binary.LittleEndian.Uint64(b[i:]))
			i += 8
		}
		t.Greeks = &domain.Greeks{IV: f[0], Delta: f[1], Gamma: f[2], Theta: f[3], Vega: f[4], Rho: f[5]}
	}
	if i != len(b) {
		return fmt.Errorf("decode tick: %d trailing bytes: %w", len(b)-i, ErrMalformed)
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
