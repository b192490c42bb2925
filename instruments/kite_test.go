package instruments_test

import (
	"bytes"
	"compress/gzip"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/algoauto/algoauto/domain"
	"github.com/algoauto/algoauto/instruments"
)

const kiteHeader = "instrument_token,exchange_token,tradingsymbol,name,last_price,expiry,strike,tick_size,lot_size,instrument_type,segment,exchange\n"

// The sample rows of PROTOCOLS §1.8 (kiteconnect-mocks).
const kiteMockRows = "3861249,15083,ADANIPORTS,ADANI PORT & SEZ,0.0,,0.0,0.05,1,EQ,NSE,NSE\n" +
	"12073986,47164,BANKNIFTY18JAN23500CE,,2528.4,2018-01-25,23500.0,0.05,40,CE,NFO-OPT,NFO\n"

func istDate(y int, m time.Month, d int) time.Time {
	return time.Date(y, m, d, 0, 0, 0, 0, domain.IST())
}

func istTime(y int, m time.Month, d, hh, mm, ss int) time.Time {
	return time.Date(y, m, d, hh, mm, ss, 0, domain.IST())
}

// sample loads testdata/kite_sample.csv.
func sample(t testing.TB) *instruments.Master {
	t.Helper()
	m, err := instruments.LoadKiteCSVFile(filepath.Join("testdata", "kite_sample.csv"))
	if err != nil {
		t.Fatalf("LoadKiteCSVFile: %v", err)
	}
	return m
}

func TestParseKiteCSVProtocolSample(t *testing.T) {
	t.Parallel()
	got, err := instruments.ParseKiteCSV(strings.NewReader(kiteHeader + kiteMockRows))
	if err != nil {
		t.Fatalf("ParseKiteCSV: %v", err)
	}
	want := []domain.Instrument{
		{
			Token: 3861249, ExchangeToken: 15083, Exchange: "NSE", Symbol: "ADANIPORTS",
			Name: "ADANI PORT & SEZ", Segment: "NSE", Type: domain.InstrumentEquity,
			TickSize: 5, LotSize: 1,
		},
		{
			Token: 12073986, ExchangeToken: 47164, Exchange: "NFO", Symbol: "BANKNIFTY18JAN23500CE",
			Segment: "NFO-OPT", Type: domain.InstrumentCall, Expiry: istDate(2018, time.January, 25),
			Strike: 2350000, TickSize: 5, LotSize: 40,
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("ParseKiteCSV:\n got %+v\nwant %+v", got, want)
	}
	if got[1].Expiry.Location() != domain.IST() {
		t.Errorf("expiry location = %v, want IST", got[1].Expiry.Location())
	}

	// Through a Master: the empty name is derived from the symbol and the
	// freeze limit applied.
	m, err := instruments.LoadKiteCSV(strings.NewReader(kiteHeader + kiteMockRows))
	if err != nil {
		t.Fatalf("LoadKiteCSV: %v", err)
	}
	opt, ok := m.Lookup("NFO:BANKNIFTY18JAN23500CE")
	if !ok {
		t.Fatal("Lookup NFO:BANKNIFTY18JAN23500CE: missing")
	}
	if opt.Name != "BANKNIFTY" || opt.FreezeQty != 600 {
		t.Errorf("name, freeze = %q, %d; want BANKNIFTY, 600", opt.Name, opt.FreezeQty)
	}
	if eq, _ := m.Lookup("NSE:ADANIPORTS"); eq.FreezeQty != 0 {
		t.Errorf("equity freeze = %d, want 0", eq.FreezeQty)
	}
	byEcon, err := m.Option("BANKNIFTY", istTime(2018, time.January, 25, 12, 0, 0), domain.Rupees(23500), domain.InstrumentCall)
	if err != nil || byEcon.Key() != "NFO:BANKNIFTY18JAN23500CE" {
		t.Errorf("Option(BANKNIFTY, 2018-01-25, 23500, CE) = %s, %v", byEcon.Key(), err)
	}
}

func TestParseKiteCSVIndicesAndHeader(t *testing.T) {
	t.Parallel()
	// Reordered columns, an extra column, a BOM, CRLF line ends, quotes.
	in := "\ufeffexchange,segment,instrument_type,lot_size,tick_size,strike,expiry,last_price,name,tradingsymbol,exchange_token,instrument_token,extra\r\n" +
		"NSE,INDICES,EQ,0,0.0,0.0,,0.0,NIFTY 50,NIFTY 50,1001,256265,x\r\n" +
		"NSE,NSE,EQ,1,0.05,0.0,,0.0,\"SOME, CO\",SOMECO,1,257,y\r\n"
	got, err := instruments.ParseKiteCSV(strings.NewReader(in))
	if err != nil {
		t.Fatalf("ParseKiteCSV: %v", err)
	}
	if len(got) != 2 {
		t.Fatalf("got %d rows, want 2", len(got))
	}
	if got[0].Type != domain.InstrumentIndex || got[0].Key() != "NSE:NIFTY 50" || got[0].Token != 256265 {
		t.Errorf("index row = %+v", got[0])
	}
	if got[1].Name != "SOME, CO" || got[1].Type != domain.InstrumentEquity {
		t.Errorf("equity row = %+v", got[1])
	}
}

func TestParseKiteCSVSkipsCurrency(t *testing.T) {
	t.Parallel()
	in := kiteHeader +
		"268009219,1047,USDINR26MARFUT,USDINR,83.2525,2026-03-27,0.0,0.0025,1,FUT,CDS-FUT,CDS\n" +
		"3861249,15083,ADANIPORTS,ADANI PORT & SEZ,0.0,,0.0,0.05,1,EQ,NSE,NSE\n"
	m, err := instruments.LoadKiteCSV(strings.NewReader(in))
	if err != nil {
		t.Fatalf("LoadKiteCSV: %v", err)
	}
	if m.Len() != 1 {
		t.Fatalf("Len = %d, want 1 (CDS skipped)", m.Len())
	}
	_, err = m.Resolve("CDS:USDINR26MARFUT")
	if !errors.Is(err, instruments.ErrNotFound) || !strings.Contains(err.Error(), "currency") {
		t.Errorf("Resolve(CDS:...) = %v, want not found mentioning currency", err)
	}
}

func TestParseKiteCSVBadRows(t *testing.T) {
	t.Parallel()
	good := "3861249,15083,ADANIPORTS,ADANI PORT & SEZ,0.0,,0.0,0.05,1,EQ,NSE,NSE\n"
	opt := func(fields ...string) string {
		// token,exch_token,symbol,name,last,expiry,strike,tick,lot,type,segment,exchange
		base := []string{"1", "2", "NIFTY2632423750CE", "NIFTY", "1.0", "2026-03-24", "23750.0", "0.05", "65", "CE", "NFO-OPT", "NFO"}
		for i := 0; i+1 < len(fields); i += 2 {
			switch fields[i] {
			case "token":
				base[0] = fields[i+1]
			case "etoken":
				base[1] = fields[i+1]
			case "symbol":
				base[2] = fields[i+1]
			case "last":
				base[4] = fields[i+1]
			case "expiry":
				base[5] = fields[i+1]
			case "strike":
				base[6] = fields[i+1]
			case "tick":
				base[7] = fields[i+1]
			case "lot":
				base[8] = fields[i+1]
			case "type":
				base[9] = fields[i+1]
			case "segment":
				base[10] = fields[i+1]
			case "exchange":
				base[11] = fields[i+1]
			default:
				panic("bad field " + fields[i])
			}
		}
		return strings.Join(base, ",") + "\n"
	}
	tests := []struct {
		name   string
		in     string
		line   int
		column string
		msg    string
	}{
		{"empty input", "", 1, "", "empty input"},
		{"header missing a column", strings.Replace(kiteHeader, ",segment", "", 1), 1, "segment", "missing"},
		{"header column twice", strings.TrimSuffix(kiteHeader, "\n") + ",expiry\n", 1, "expiry", "twice"},
		{"token not a number", kiteHeader + opt("token", "abc"), 2, "instrument_token", "integer"},
		{"token zero", kiteHeader + opt("token", "0"), 2, "instrument_token", "integer"},
		{"token overflows uint32", kiteHeader + opt("token", "4294967296"), 2, "instrument_token", "integer"},
		{"exchange token negative", kiteHeader + opt("etoken", "-1"), 2, "exchange_token", "integer"},
		{"empty tradingsymbol", kiteHeader + opt("symbol", ""), 2, "tradingsymbol", "empty"},
		{"empty exchange", kiteHeader + opt("exchange", ""), 2, "exchange", "empty"},
		{"exchange with colon", kiteHeader + opt("exchange", "N:FO"), 2, "exchange", "':'"},
		{"empty segment", kiteHeader + opt("segment", ""), 2, "segment", "empty"},
		{"strike finer than a paisa", kiteHeader + opt("strike", "23750.005"), 2, "strike", "paisa"},
		{"strike not a number", kiteHeader + opt("strike", "1e4"), 2, "strike", "not a decimal"},
		{"strike negative", kiteHeader + opt("strike", "-5"), 2, "strike", "negative"},
		{"option without strike", kiteHeader + opt("strike", "0.0"), 2, "strike", "strike > 0"},
		{"tick negative", kiteHeader + opt("tick", "-0.05"), 2, "tick_size", "negative"},
		{"last price garbage", kiteHeader + opt("last", "n/a"), 2, "last_price", "not a decimal"},
		{"lot fractional", kiteHeader + opt("lot", "1.5"), 2, "lot_size", "whole number"},
		{"lot negative", kiteHeader + opt("lot", "-65"), 2, "lot_size", "whole number"},
		{"expiry wrong format", kiteHeader + opt("expiry", "24-03-2026"), 2, "expiry", "yyyy-mm-dd"},
		{"option without expiry", kiteHeader + opt("expiry", ""), 2, "expiry", "needs an expiry"},
		{"future without expiry", kiteHeader + opt("type", "FUT", "strike", "0", "expiry", ""), 2, "expiry", "needs an expiry"},
		{"unknown type", kiteHeader + opt("type", "XX"), 2, "instrument_type", "want EQ, FUT, CE or PE"},
		{"too few fields", kiteHeader + "1,2,X,Y,0.0,,0.0,0.05,1,EQ,NSE\n", 2, "", "wrong number of fields"},
		{"bare quote", kiteHeader + "1,2,X\"Y,Y,0.0,,0.0,0.05,1,EQ,NSE,NSE\n", 2, "", "quote"},
		{"bad row after good rows", kiteHeader + good + opt() + opt("symbol", "B", "strike", "x"), 4, "strike", "not a decimal"},
		{"line count with a multi-line field", kiteHeader +
			"5,6,MULTI,\"TWO\nLINES\",0.0,,0.0,0.05,1,EQ,NSE,NSE\n" + opt("lot", "x"), 4, "lot_size", "whole number"},
		{"duplicate key", kiteHeader + opt() + good + opt("token", "9"), 4, "tradingsymbol", "duplicate instrument NFO:NIFTY2632423750CE (first on line 2)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := instruments.ParseKiteCSV(strings.NewReader(tt.in))
			var pe *instruments.ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v (%T), want *ParseError", err, err)
			}
			if pe.Line != tt.line || pe.Column != tt.column {
				t.Errorf("line, column = %d, %q; want %d, %q (%v)", pe.Line, pe.Column, tt.line, tt.column, err)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not contain %q", err, tt.msg)
			}
			if tt.column != "" && !strings.Contains(err.Error(), "column "+tt.column) {
				t.Errorf("error %q does not name column %s", err, tt.column)
			}
			if _, err := instruments.LoadKiteCSV(strings.NewReader(tt.in)); err == nil {
				t.Error("LoadKiteCSV accepted the input")
			}
		})
	}
}

func TestLoadKiteCSVFileGzip(t *testing.T) {
	t.Parallel()
	plain, err := os.ReadFile(filepath.Join("testdata", "kite_sample.csv"))
	if err != nil {
		t.Fatal(err)
	}
	var zbuf bytes.Buffer
	zw := gzip.NewWriter(&zbuf)
	if _, err := zw.Write(plain); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	gzPath := filepath.Join(dir, "instruments.csv.gz")
	if err := os.WriteFile(gzPath, zbuf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	// A gzip file without the .gz name is recognised by content.
	noExt := filepath.Join(dir, "instruments")
	if err := os.WriteFile(noExt, zbuf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	want := sample(t).Instruments()
	for _, p := range []string{gzPath, noExt} {
		m, err := instruments.LoadKiteCSVFile(p)
		if err != nil {
			t.Fatalf("LoadKiteCSVFile(%s): %v", p, err)
		}
		if got := m.Instruments(); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: instruments differ from the plain file's", p)
		}
	}

	// A truncated gzip stream is an error, not a short master.
	trunc := filepath.Join(dir, "trunc.gz")
	if err := os.WriteFile(trunc, zbuf.Bytes()[:zbuf.Len()/2], 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := instruments.LoadKiteCSVFile(trunc); err == nil {
		t.Error("truncated gzip accepted")
	}
	// A bad row in a file names the file and the line.
	bad := filepath.Join(dir, "bad.csv")
	if err := os.WriteFile(bad, []byte(kiteHeader+"x,1,A,,0,,0,0.05,1,EQ,NSE,NSE\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = instruments.LoadKiteCSVFile(bad)
	if err == nil || !strings.Contains(err.Error(), "bad.csv") || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("bad file error = %v", err)
	}
	if _, err := instruments.LoadKiteCSVFile(filepath.Join(dir, "missing.csv")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file error = %v, want ErrNotExist", err)
	}
}

func FuzzParseKiteCSV(f *testing.F) {
	seed, err := os.ReadFile(filepath.Join("testdata", "kite_sample.csv"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte(kiteHeader + kiteMockRows))
	f.Add([]byte(kiteHeader + "1,2,\"A\nB\",C,0.0,,0.0,0.05,1,EQ,NSE,NSE\n"))
	f.Add([]byte(kiteHeader + "1,2,X,,1.005,2026-13-01,-1,0.05,1,FUT,NFO-FUT,NFO\n"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, data []byte) {
		insts, err := instruments.ParseKiteCSV(bytes.NewReader(data))
		if err != nil {
			var pe *instruments.ParseError
			if errors.As(err, &pe) && pe.Line < 1 {
				t.Fatalf("line %d < 1: %v", pe.Line, err)
			}
			return
		}
		// Whatever the parser accepts, New must accept too.
		m, err := instruments.New(insts, instruments.Options{})
		if err != nil {
			t.Fatalf("New rejected parsed rows: %v", err)
		}
		if m.Len() != len(insts) {
			t.Fatalf("Len = %d, want %d", m.Len(), len(insts))
		}
		for _, in := range insts {
			if _, err := m.Resolve(in.Key()); err != nil {
				t.Fatalf("Resolve(%q): %v", in.Key(), err)
			}
		}
	})
}
