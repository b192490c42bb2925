package instruments

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/algoauto/algoauto/domain"
)

// The columns of Kite's instruments dump (PROTOCOLS §1.8), in its order.
const (
	colToken         = "instrument_token"
	colExchangeToken = "exchange_token"
	colSymbol        = "tradingsymbol"
	colName          = "name"
	colLastPrice     = "last_price"
	colExpiry        = "expiry"
	colStrike        = "strike"
	colTickSize      = "tick_size"
	colLotSize       = "lot_size"
	colType          = "instrument_type"
	colSegment       = "segment"
	colExchange      = "exchange"
)

var kiteColumns = [...]string{
	colToken, colExchangeToken, colSymbol, colName, colLastPrice, colExpiry,
	colStrike, colTickSize, colLotSize, colType, colSegment, colExchange,
}

// segmentIndices is the segment of the spot indices in Kite's dump.
const segmentIndices = "INDICES"

// ParseError reports a bad line of an instruments dump.
type ParseError struct {
	Line   int    // 1-based line of the input
	Column string // the column's header name; empty when the whole line is bad
	Value  string // the offending value, if any
	Err    error
}

func (e *ParseError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "instruments: kite csv line %d", e.Line)
	if e.Column != "" {
		fmt.Fprintf(&b, ", column %s", e.Column)
	}
	if e.Value != "" {
		fmt.Fprintf(&b, ", value %q", e.Value)
	}
	b.WriteString(": ")
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *ParseError) Unwrap() error { return e.Err }

// LoadKiteCSV reads Kite Connect's instruments dump (plain CSV; see
// ParseKiteCSV) and builds a Master with the default freeze limits. To use
// other limits, ParseKiteCSV and then New.
func LoadKiteCSV(r io.Reader) (*Master, error) {
	insts, err := ParseKiteCSV(r)
	if err != nil {
		return nil, err
	}
	return New(insts, Options{})
}

// LoadKiteCSVFile is LoadKiteCSV on a file, plain or gzip-compressed
// (recognised by its content, whatever its name).
func LoadKiteCSVFile(path string) (*Master, error) {
	insts, err := ParseKiteCSVFile(path)
	if err != nil {
		return nil, err
	}
	return New(insts, Options{})
}

// ParseKiteCSVFile is ParseKiteCSV on a file, plain or gzip-compressed
// (recognised by its content, whatever its name).
func ParseKiteCSVFile(path string) (insts []domain.Instrument, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("instruments: %w", err)
	}
	defer f.Close()
	br := bufio.NewReader(f)
	var r io.Reader = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("instruments: %s: %w", path, err)
		}
		defer zr.Close()
		r = zr
	}
	insts, err = ParseKiteCSV(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return insts, nil
}

// ParseKiteCSV reads Kite Connect's instruments dump: a header line naming
// the columns instrument_token, exchange_token, tradingsymbol, name,
// last_price, expiry, strike, tick_size, lot_size, instrument_type,
// segment, exchange (in any order; other columns are ignored), then one
// instrument per line. It returns the instruments in input order, without
// freeze quantities (New adds those).
//
// Prices (strike, tick_size, last_price) are parsed exactly into paise; an
// amount finer than a paisa is an error. last_price is validated but not
// kept (it is a day-old figure). expiry is yyyy-mm-dd, kept as midnight
// IST; futures and options must have one, options a positive strike.
// Segment INDICES gives type INDEX, whatever instrument_type says (Kite
// writes EQ); instrument_type must otherwise be EQ, FUT, CE or PE. Rows of
// the currency exchanges CDS and BCD are skipped (their prices are finer
// than a paisa). A duplicate (exchange, tradingsymbol) is an error naming
// both lines.
//
// The first bad line stops parsing with a *ParseError naming its line and
// column. The transport's compression is not handled here (see
// ParseKiteCSVFile).
func ParseKiteCSV(r io.Reader) ([]domain.Instrument, error) {
	br := bufio.NewReader(r)
	if bom, _ := br.Peek(3); bytes.Equal(bom, []byte("\xef\xbb\xbf")) {
		_, _ = br.Discard(3)
	}
	cr := csv.NewReader(br)
	cr.ReuseRecord = true

	rec, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, &ParseError{Line: 1, Err: errors.New("empty input: want the header line " + strings.Join(kiteColumns[:], ","))}
	}
	if err != nil {
		return nil, csvError(err)
	}
	col := make(map[string]int, len(rec))
	for i, h := range rec {
		h = strings.ToLower(strings.TrimSpace(h))
		if _, dup := col[h]; dup && h != "" {
			return nil, &ParseError{Line: 1, Column: h, Err: errors.New("column named twice in the header")}
		}
		col[h] = i
	}
	var idx [len(kiteColumns)]int
	for i, name := range kiteColumns {
		j, ok := col[name]
		if !ok {
			return nil, &ParseError{Line: 1, Column: name, Err: errors.New("missing from the header")}
		}
		idx[i] = j
	}

	var out []domain.Instrument
	seen := make(map[string]int)
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, csvError(err)
		}
		var f [len(kiteColumns)]string
		for i, j := range idx {
			f[i] = strings.TrimSpace(rec[j])
		}
		line, _ := cr.FieldPos(0)
		in, skip, perr := parseKiteRow(f, idx, cr)
		if perr != nil {
			return nil, perr
		}
		if skip {
			continue
		}
		k := in.Key()
		if prev, dup := seen[k]; dup {
			return nil, &ParseError{Line: line, Column: colSymbol, Value: in.Symbol,
				Err: fmt.Errorf("duplicate instrument %s (first on line %d)", k, prev)}
		}
		seen[k] = line
		out = append(out, in)
	}
}

// csvError converts an encoding/csv error into a *ParseError.
func csvError(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return &ParseError{Line: pe.Line, Err: pe.Err}
	}
	return fmt.Errorf("instruments: kite csv: %w", err)
}

// parseKiteRow parses one record's fields, f in kiteColumns order; idx
// gives their record positions, for line numbers from cr.
func parseKiteRow(f [len(kiteColumns)]string, idx [len(kiteColumns)]int, cr *csv.Reader) (in domain.Instrument, skip bool, _ *ParseError) {
	bad := func(c int, format string, args ...any) *ParseError {
		line, _ := cr.FieldPos(idx[c])
		return &ParseError{Line: line, Column: kiteColumns[c], Value: f[c], Err: fmt.Errorf(format, args...)}
	}
	const (
		iToken = iota
		iExchangeToken
		iSymbol
		iName
		iLastPrice
		iExpiry
		iStrike
		iTickSize
		iLotSize
		iType
		iSegment
		iExchange
	)

	in.Exchange = f[iExchange]
	switch {
	case in.Exchange == "":
		return in, false, bad(iExchange, "empty")
	case strings.ContainsRune(in.Exchange, ':'):
		return in, false, bad(iExchange, "contains ':'")
	case in.Exchange == "CDS" || in.Exchange == "BCD":
		return in, true, nil
	}
	tok, err := strconv.ParseUint(f[iToken], 10, 32)
	if err != nil || tok == 0 {
		return in, false, bad(iToken, "want an integer from 1 to %d", uint32(1<<32-1))
	}
	in.Token = uint32(tok)
	if f[iExchangeToken] != "" {
		v, err := strconv.ParseUint(f[iExchangeToken], 10, 32)
		if err != nil {
			return in, false, bad(iExchangeToken, "want an integer from 0 to %d", uint32(1<<32-1))
		}
		in.ExchangeToken = uint32(v)
	}
	if in.Symbol = f[iSymbol]; in.Symbol == "" {
		return in, false, bad(iSymbol, "empty")
	}
	in.Name = f[iName]
	if f[iLastPrice] != "" {
		if _, err := domain.ParsePrice(f[iLastPrice]); err != nil {
			return in, false, bad(iLastPrice, "%v", err)
		}
	}
	if f[iExpiry] != "" {
		e, err := time.ParseInLocation(time.DateOnly, f[iExpiry], domain.IST())
		if err != nil {
			return in, false, bad(iExpiry, "want yyyy-mm-dd or empty")
		}
		in.Expiry = e
	}
	if in.Strike, err = price(f[iStrike]); err != nil {
		return in, false, bad(iStrike, "%v", err)
	}
	if in.TickSize, err = price(f[iTickSize]); err != nil {
		return in, false, bad(iTickSize, "%v", err)
	}
	if f[iLotSize] != "" {
		if in.LotSize, err = strconv.ParseInt(f[iLotSize], 10, 64); err != nil || in.LotSize < 0 {
			return in, false, bad(iLotSize, "want a whole number >= 0")
		}
	}
	if in.Segment = f[iSegment]; in.Segment == "" {
		return in, false, bad(iSegment, "empty")
	}
	in.Type = domain.InstrumentType(f[iType])
	switch {
	case in.Segment == segmentIndices:
		in.Type = domain.InstrumentIndex
	case in.Type == domain.InstrumentEquity, in.Type == domain.InstrumentIndex:
	case in.Type == domain.InstrumentFuture, in.Type.IsOption():
		if in.Expiry.IsZero() {
			return in, false, bad(iExpiry, "a %s contract needs an expiry", in.Type)
		}
		if in.Type.IsOption() && in.Strike <= 0 {
			return in, false, bad(iStrike, "an option needs a strike > 0")
		}
	default:
		return in, false, bad(iType, "want EQ, FUT, CE or PE")
	}
	return in, false, nil
}

// price parses a non-negative amount; empty is zero.
func price(s string) (domain.Price, error) {
	if s == "" {
		return 0, nil
	}
	p, err := domain.ParsePrice(s)
	if err != nil {
		return 0, err
	}
	if p < 0 {
		return 0, errors.New("must not be negative")
	}
	return p, nil
}
