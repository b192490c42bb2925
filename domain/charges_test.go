package domain_test

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/algoauto/algoauto/domain"
)

// Default schedule, as Rate units of 10⁻⁸ (see domain.Rate):
//
//	                 option          future
//	brokerage        flat ₹20        min(₹20, 0.03% = 30_000)
//	STT (sell)       0.15% = 150_000 0.05% = 50_000
//	exchange + IPFT  35_030 + 500    1_730 + 100
//	                 = 35_530        = 1_830
//	stamp (buy)      0.003% = 3_000  0.002% = 2_000
//	SEBI             0.0001% = 100 (both)
//	GST              18% = 18_000_000 of (brokerage + exchange + SEBI)
//
// A component is turnover_paise × rate / 10⁸, rounded half away from zero.

func TestDefaultChargeScheduleValues(t *testing.T) {
	t.Parallel()
	want := domain.ChargeSchedule{
		Option: domain.SegmentRates{
			BrokerageFlat: 2000, BrokerageRate: 0, STTSell: 150_000,
			ExchangeTxn: 35_030, IPFT: 500, StampDutyBuy: 3_000,
		},
		Future: domain.SegmentRates{
			BrokerageFlat: 2000, BrokerageRate: 30_000, STTSell: 50_000,
			ExchangeTxn: 1_730, IPFT: 100, StampDutyBuy: 2_000,
		},
		SEBIFee: 100,
		GST:     18_000_000,
	}
	got := domain.DefaultChargeSchedule()
	if got != want {
		t.Fatalf("DefaultChargeSchedule() =\n%+v\nwant\n%+v", got, want)
	}
	if err := got.Validate(); err != nil {
		t.Fatalf("DefaultChargeSchedule().Validate() = %v, want nil", err)
	}
}

func TestChargesForDefaultSchedule(t *testing.T) {
	t.Parallel()
	const maxPrice = domain.Price(math.MaxInt64) // 9_223_372_036_854_775_807 paise
	tests := []struct {
		name     string
		seg      domain.ChargeSegment
		side     domain.Side
		quantity int64
		price    domain.Price
		want     domain.Charges
	}{
		{
			// NIFTY option, 65 × ₹120.50: turnover 65 × 12_050 = 783_250 paise.
			// brokerage flat 2000.
			// exchange 783_250 × 35_530 / 10⁸ = 27_828_872_500 / 10⁸ = 278.288725 → 278.
			// SEBI 783_250 × 100 / 10⁸ = 0.78325 → 1.
			// stamp 783_250 × 3_000 / 10⁸ = 23.4975 → 23.
			// GST (2000 + 278 + 1) × 0.18 = 2279 × 0.18 = 410.22 → 410.
			// total 2000 + 0 + 278 + 1 + 23 + 410 = 2712 (₹27.12).
			name: "option buy 65 @ 120.50", seg: domain.SegmentIndexOption, side: domain.Buy,
			quantity: 65, price: 12_050,
			want: domain.Charges{Brokerage: 2000, STT: 0, ExchangeTxn: 278, SEBI: 1, StampDuty: 23, GST: 410, Total: 2712},
		},
		{
			// Same order sold. STT 783_250 × 150_000 / 10⁸ = 1174.875 → 1175;
			// no stamp. Total 2000 + 1175 + 278 + 1 + 0 + 410 = 3864 (₹38.64).
			name: "option sell 65 @ 120.50", seg: domain.SegmentIndexOption, side: domain.Sell,
			quantity: 65, price: 12_050,
			want: domain.Charges{Brokerage: 2000, STT: 1175, ExchangeTxn: 278, SEBI: 1, StampDuty: 0, GST: 410, Total: 3864},
		},
		{
			// NIFTY future, 65 × ₹26,050: turnover 65 × 2_605_000 = 169_325_000 paise.
			// brokerage min(2000, 169_325_000 × 30_000 / 10⁸ = 50_797.5) = 2000.
			// exchange 169_325_000 × 1_830 / 10⁸ = 3098.6475 → 3099.
			// SEBI 169_325_000 × 100 / 10⁸ = 169.325 → 169.
			// stamp 169_325_000 × 2_000 / 10⁸ = 3386.5 → 3387 (half away from zero).
			// GST (2000 + 3099 + 169) × 0.18 = 5268 × 0.18 = 948.24 → 948.
			// total 2000 + 0 + 3099 + 169 + 3387 + 948 = 9603 (₹96.03).
			name: "future buy 65 @ 26050", seg: domain.SegmentFuture, side: domain.Buy,
			quantity: 65, price: domain.Rupees(26_050),
			want: domain.Charges{Brokerage: 2000, STT: 0, ExchangeTxn: 3099, SEBI: 169, StampDuty: 3387, GST: 948, Total: 9603},
		},
		{
			// Same order sold. STT 169_325_000 × 50_000 / 10⁸ = 84_662.5 → 84_663;
			// no stamp. Total 2000 + 84_663 + 3099 + 169 + 0 + 948 = 90_879 (₹908.79).
			name: "future sell 65 @ 26050", seg: domain.SegmentFuture, side: domain.Sell,
			quantity: 65, price: domain.Rupees(26_050),
			want: domain.Charges{Brokerage: 2000, STT: 84_663, ExchangeTxn: 3099, SEBI: 169, StampDuty: 0, GST: 948, Total: 90_879},
		},
		{
			// Future, 1 × ₹50,000: turnover 5_000_000 paise; 0.03% is below ₹20.
			// brokerage min(2000, 5_000_000 × 30_000 / 10⁸ = 1500) = 1500.
			// exchange 5_000_000 × 1_830 / 10⁸ = 91.5 → 92. SEBI 5. stamp 100.
			// GST (1500 + 92 + 5) × 0.18 = 1597 × 0.18 = 287.46 → 287.
			// total 1500 + 0 + 92 + 5 + 100 + 287 = 1984.
			name: "future buy, percentage brokerage", seg: domain.SegmentFuture, side: domain.Buy,
			quantity: 1, price: domain.Rupees(50_000),
			want: domain.Charges{Brokerage: 1500, STT: 0, ExchangeTxn: 92, SEBI: 5, StampDuty: 100, GST: 287, Total: 1984},
		},
		{
			// Option 65 × ₹0.05: turnover 325 paise. Zerodha options brokerage
			// is flat ₹20, with no percentage alternative: 2000.
			// exchange 325 × 35_530 / 10⁸ = 0.115 → 0; SEBI 0.000325 → 0;
			// STT 325 × 150_000 / 10⁸ = 0.4875 → 0. GST 2000 × 0.18 = 360.
			// total 2360.
			name: "option sell tiny premium, flat brokerage", seg: domain.SegmentIndexOption, side: domain.Sell,
			quantity: 65, price: 5,
			want: domain.Charges{Brokerage: 2000, STT: 0, ExchangeTxn: 0, SEBI: 0, StampDuty: 0, GST: 360, Total: 2360},
		},
		{
			// 10 crore rupees of futures: 10_000 × ₹10,000 = 10¹⁰ paise.
			// brokerage min(2000, 3_000_000) = 2000.
			// STT 10¹⁰ × 50_000 / 10⁸ = 5_000_000 (₹50,000 = 0.05% of ₹10 cr).
			// exchange 10¹⁰ × 1_830 / 10⁸ = 183_000 (₹1,830).
			// SEBI 10¹⁰ × 100 / 10⁸ = 10_000 (₹100 = ₹10 per crore × 10).
			// GST (2000 + 183_000 + 10_000) × 0.18 = 195_000 × 0.18 = 35_100.
			// total 2000 + 5_000_000 + 183_000 + 10_000 + 0 + 35_100 = 5_230_100 (₹52,301).
			name: "future sell 10 crore", seg: domain.SegmentFuture, side: domain.Sell,
			quantity: 10_000, price: domain.Rupees(10_000),
			want: domain.Charges{Brokerage: 2000, STT: 5_000_000, ExchangeTxn: 183_000, SEBI: 10_000, StampDuty: 0, GST: 35_100, Total: 5_230_100},
		},
		{
			// 10 crore rupees of option premium: 1_00_000 × ₹1,000 = 10¹⁰ paise.
			// STT 10¹⁰ × 150_000 / 10⁸ = 15_000_000 (₹1.5 lakh).
			// exchange 10¹⁰ × 35_530 / 10⁸ = 3_553_000. SEBI 10_000.
			// GST (2000 + 3_553_000 + 10_000) × 0.18 = 3_565_000 × 0.18 = 641_700.
			// total 2000 + 15_000_000 + 3_553_000 + 10_000 + 0 + 641_700 = 19_206_700.
			name: "option sell 10 crore premium", seg: domain.SegmentIndexOption, side: domain.Sell,
			quantity: 100_000, price: domain.Rupees(1_000),
			want: domain.Charges{Brokerage: 2000, STT: 15_000_000, ExchangeTxn: 3_553_000, SEBI: 10_000, StampDuty: 0, GST: 641_700, Total: 19_206_700},
		},
		{
			// Largest turnover: T = 2⁶³−1 = 9_223_372_036_854_775_807 paise;
			// T × rate overflows int64 for every rate here, so this needs the
			// 128-bit path. T / 10⁸ = 92_233_720_368.54775807.
			// exchange T × 1_830 / 10⁸ = 168_787_708_274_442.397… → 168_787_708_274_442.
			// SEBI T / 10⁶ = 9_223_372_036_854.775807 → 9_223_372_036_855.
			// stamp T × 2_000 / 10⁸ = T / 50_000 = 184_467_440_737_095.516… → 184_467_440_737_096.
			// GST (2000 + 168_787_708_274_442 + 9_223_372_036_855) × 0.18
			//   = 178_011_080_313_297 × 0.18 = 32_041_994_456_393.46 → 32_041_994_456_393.
			// total 2000 + 168_787_708_274_442 + 9_223_372_036_855
			//   + 184_467_440_737_096 + 32_041_994_456_393 = 394_520_515_506_786.
			name: "future buy max turnover", seg: domain.SegmentFuture, side: domain.Buy,
			quantity: 1, price: maxPrice,
			want: domain.Charges{
				Brokerage: 2000, STT: 0, ExchangeTxn: 168_787_708_274_442, SEBI: 9_223_372_036_855,
				StampDuty: 184_467_440_737_096, GST: 32_041_994_456_393, Total: 394_520_515_506_786,
			},
		},
		{
			// Same, sold: STT T × 50_000 / 10⁸ = T / 2_000 = 4_611_686_018_427_387.9035 → 4_611_686_018_427_388;
			// total 2000 + 4_611_686_018_427_388 + 168_787_708_274_442
			//   + 9_223_372_036_855 + 32_041_994_456_393 = 4_821_739_093_197_078.
			name: "future sell max turnover", seg: domain.SegmentFuture, side: domain.Sell,
			quantity: 1, price: maxPrice,
			want: domain.Charges{
				Brokerage: 2000, STT: 4_611_686_018_427_388, ExchangeTxn: 168_787_708_274_442, SEBI: 9_223_372_036_855,
				StampDuty: 0, GST: 32_041_994_456_393, Total: 4_821_739_093_197_078,
			},
		},
	}
	s := domain.DefaultChargeSchedule()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := s.For(tt.seg, tt.side, tt.quantity, tt.price)
			if err != nil {
				t.Fatalf("For(%s, %s, %d, %s) error: %v", tt.seg, tt.side, tt.quantity, tt.price, err)
			}
			if got != tt.want {
				t.Errorf("For(%s, %s, %d, %s) =\n%+v\nwant\n%+v", tt.seg, tt.side, tt.quantity, tt.price, got, tt.want)
			}
		})
	}
}

func TestChargesBrokerage(t *testing.T) {
	t.Parallel()
	optionPct := domain.DefaultChargeSchedule()
	optionPct.Option.BrokerageRate = 30_000 // "₹20 or 0.03%" on options too
	tests := []struct {
		name     string
		s        domain.ChargeSchedule
		seg      domain.ChargeSegment
		quantity int64
		price    domain.Price
		want     domain.Price
	}{
		// Futures: min(2000, turnover × 30_000 / 10⁸), i.e. 0.03% below ₹66,666.67.
		{"future 0.03% of 1 paisa", domain.DefaultChargeSchedule(), domain.SegmentFuture, 1, 1, 0}, // 0.0003 → 0
		{"future 0.03% of ₹50,000", domain.DefaultChargeSchedule(), domain.SegmentFuture, 1, domain.Rupees(50_000), 1500},
		{"future 0.03% of ₹66,600", domain.DefaultChargeSchedule(), domain.SegmentFuture, 1, domain.Rupees(66_600), 1998},
		{"future 0.03% of ₹66,666 rounds to cap", domain.DefaultChargeSchedule(), domain.SegmentFuture, 1, domain.Rupees(66_666), 2000}, // 1999.98 → 2000
		{"future cap at ₹66,700", domain.DefaultChargeSchedule(), domain.SegmentFuture, 1, domain.Rupees(66_700), 2000},                 // 2001 > 2000
		{"future cap at ₹1 lakh", domain.DefaultChargeSchedule(), domain.SegmentFuture, 1, domain.Rupees(100_000), 2000},                // 3000 > 2000
		// Options at Zerodha: flat ₹20 however small the premium.
		{"option flat on 325 paise", domain.DefaultChargeSchedule(), domain.SegmentIndexOption, 65, 5, 2000},
		// With an options percentage configured: 325 × 30_000 / 10⁸ = 0.0975 → 0;
		// 783_250 × 30_000 / 10⁸ = 234.975 → 235.
		{"option pct on 325 paise", optionPct, domain.SegmentIndexOption, 65, 5, 0},
		{"option pct on ₹7,832.50", optionPct, domain.SegmentIndexOption, 65, 12_050, 235},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := tt.s.For(tt.seg, domain.Buy, tt.quantity, tt.price)
			if err != nil {
				t.Fatal(err)
			}
			if got.Brokerage != tt.want {
				t.Errorf("Brokerage = %d paise, want %d", got.Brokerage, tt.want)
			}
		})
	}
}

// TestChargesRounding isolates one component at a time with a schedule that
// charges nothing else, so Total is that component alone.
func TestChargesRounding(t *testing.T) {
	t.Parallel()
	sttOnly := domain.ChargeSchedule{Future: domain.SegmentRates{STTSell: 1_000_000}} // 1%: STT = turnover / 100
	tests := []struct {
		name  string
		price domain.Price // quantity 1, so turnover = price in paise
		want  domain.Price
	}{
		{"0.01 down", 1, 0},
		{"0.49 down", 49, 0},
		{"0.50 up", 50, 1},
		{"0.51 up", 51, 1},
		{"1.49 down", 149, 1},
		{"1.50 up", 150, 2},
		{"2.50 up, not to even", 250, 3}, // banker's rounding would give 2
		{"2.99 up", 299, 3},
		{"exact 3", 300, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := sttOnly.For(domain.SegmentFuture, domain.Sell, 1, tt.price)
			if err != nil {
				t.Fatal(err)
			}
			want := domain.Charges{STT: tt.want, Total: tt.want}
			if got != want {
				t.Errorf("turnover %d paise at 1%%: got %+v, want %+v", tt.price, got, want)
			}
		})
	}

	// GST is rounded on its own: brokerage b paise, GST = b × 0.18.
	gstTests := []struct {
		brokerage, wantGST domain.Price
	}{
		{2, 0},   // 0.36 → 0
		{3, 1},   // 0.54 → 1
		{25, 5},  // 4.50 → 5 (half away from zero)
		{75, 14}, // 13.50 → 14
		{36, 6},  // 6.48 → 6
	}
	for _, tt := range gstTests {
		s := domain.ChargeSchedule{
			Future: domain.SegmentRates{BrokerageFlat: tt.brokerage},
			GST:    18_000_000,
		}
		got, err := s.For(domain.SegmentFuture, domain.Buy, 1, 100)
		if err != nil {
			t.Fatal(err)
		}
		want := domain.Charges{Brokerage: tt.brokerage, GST: tt.wantGST, Total: tt.brokerage + tt.wantGST}
		if got != want {
			t.Errorf("brokerage %d paise: got %+v, want %+v", tt.brokerage, got, want)
		}
	}
}

func TestChargesForRejectsBadInput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		seg       domain.ChargeSegment
		side      domain.Side
		quantity  int64
		price     domain.Price
		wantField string
		wantIn    string
	}{
		{"zero quantity", domain.SegmentFuture, domain.Buy, 0, 100, "quantity", "must be > 0, got 0"},
		{"negative quantity", domain.SegmentIndexOption, domain.Sell, -65, 12_050, "quantity", "must be > 0, got -65"},
		{"zero price", domain.SegmentFuture, domain.Buy, 65, 0, "price", "must be > 0, got 0.00"},
		{"negative price", domain.SegmentIndexOption, domain.Buy, 65, -5, "price", "must be > 0, got -0.05"},
		{"unknown segment", "equity", domain.Buy, 65, 100, "segment", `got "equity"`},
		{"empty segment", "", domain.Buy, 65, 100, "segment", `got ""`},
		{"unknown side", domain.SegmentFuture, "HOLD", 65, 100, "side", `got "HOLD"`},
		{"turnover overflow by price", domain.SegmentFuture, domain.Buy, 2, domain.Price(math.MaxInt64), "quantity", "overflows"},
		{"turnover overflow by quantity", domain.SegmentIndexOption, domain.Sell, math.MaxInt64, 2, "quantity", "overflows"},
		{"turnover 2^63 exactly", domain.SegmentFuture, domain.Buy, 1 << 32, 1 << 31, "quantity", "overflows"},
	}
	s := domain.DefaultChargeSchedule()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := s.For(tt.seg, tt.side, tt.quantity, tt.price)
			if err == nil {
				t.Fatalf("For succeeded with %+v, want an error naming %q", got, tt.wantField)
			}
			var fe *domain.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v (%T) is not a *domain.FieldError", err, err)
			}
			if fe.Type != "Charges" || fe.Field != tt.wantField {
				t.Errorf("error names %s.%s, want Charges.%s (%v)", fe.Type, fe.Field, tt.wantField, err)
			}
			if !strings.Contains(err.Error(), tt.wantIn) {
				t.Errorf("error %q does not contain %q", err, tt.wantIn)
			}
			if got != (domain.Charges{}) {
				t.Errorf("For returned %+v with an error, want zero Charges", got)
			}
		})
	}
}

func TestChargeScheduleValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		mutate    func(*domain.ChargeSchedule)
		wantField string // "" means valid
	}{
		{"default", func(*domain.ChargeSchedule) {}, ""},
		{"zero value charges nothing", func(s *domain.ChargeSchedule) { *s = domain.ChargeSchedule{} }, ""},
		{"turnover rate at 1% limit", func(s *domain.ChargeSchedule) { s.Option.STTSell = 1_000_000 }, ""},
		{"GST at 100% limit", func(s *domain.ChargeSchedule) { s.GST = 100_000_000 }, ""},
		{"brokerage at ₹1,000 limit", func(s *domain.ChargeSchedule) { s.Future.BrokerageFlat = domain.Rupees(1_000) }, ""},
		{"negative option STT", func(s *domain.ChargeSchedule) { s.Option.STTSell = -1 }, "option.stt_sell"},
		{"future STT over 1%", func(s *domain.ChargeSchedule) { s.Future.STTSell = 1_000_001 }, "future.stt_sell"},
		{"exchange entered as 3.503%", func(s *domain.ChargeSchedule) { s.Future.ExchangeTxn = 3_503_000 }, "future.exchange_txn"},
		{"negative IPFT", func(s *domain.ChargeSchedule) { s.Option.IPFT = -500 }, "option.ipft"},
		{"negative stamp duty", func(s *domain.ChargeSchedule) { s.Future.StampDutyBuy = -2_000 }, "future.stamp_duty_buy"},
		{"negative brokerage rate", func(s *domain.ChargeSchedule) { s.Option.BrokerageRate = -30_000 }, "option.brokerage_rate"},
		{"negative flat brokerage", func(s *domain.ChargeSchedule) { s.Option.BrokerageFlat = -1 }, "option.brokerage_flat"},
		{"flat brokerage over ₹1,000", func(s *domain.ChargeSchedule) { s.Future.BrokerageFlat = domain.Rupees(1_000) + 1 }, "future.brokerage_flat"},
		{"negative SEBI fee", func(s *domain.ChargeSchedule) { s.SEBIFee = -100 }, "sebi_fee"},
		{"GST 150%", func(s *domain.ChargeSchedule) { s.GST = 150_000_000 }, "gst"},
		{"negative GST", func(s *domain.ChargeSchedule) { s.GST = -1 }, "gst"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := domain.DefaultChargeSchedule()
			tt.mutate(&s)
			err := s.Validate()
			if tt.wantField == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want an error naming %q", tt.wantField)
			}
			var fe *domain.FieldError
			if !errors.As(err, &fe) || fe.Type != "ChargeSchedule" || fe.Field != tt.wantField {
				t.Fatalf("Validate() = %v, want a *FieldError for ChargeSchedule.%s", err, tt.wantField)
			}
			// For refuses to compute with an invalid schedule and says why.
			got, err := s.For(domain.SegmentFuture, domain.Sell, 65, domain.Rupees(26_050))
			if err == nil || !errors.As(err, &fe) || fe.Field != tt.wantField {
				t.Fatalf("For with invalid schedule = %+v, %v; want an error naming %q", got, err, tt.wantField)
			}
		})
	}
}

func TestChargeScheduleValidateReportsEveryField(t *testing.T) {
	t.Parallel()
	s := domain.DefaultChargeSchedule()
	s.Option.STTSell = -1
	s.GST = 150_000_000
	err := s.Validate()
	if err == nil {
		t.Fatal("Validate() = nil, want two problems")
	}
	msg := err.Error()
	for _, want := range []string{
		"ChargeSchedule: invalid option.stt_sell: must be in [0%, 1%], got -0.000001%",
		"ChargeSchedule: invalid gst: must be in [0%, 100%], got 150%",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("Validate() = %q, missing %q", msg, want)
		}
	}
}

func TestRateString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		r    domain.Rate
		want string
	}{
		{0, "0%"},
		{1, "0.000001%"},
		{100, "0.0001%"},
		{1_730, "0.00173%"},
		{35_030, "0.03503%"},
		{150_000, "0.15%"},
		{18_000_000, "18%"},
		{domain.RateScale, "100%"},
		{-30_000, "-0.03%"},
	}
	for _, tt := range tests {
		if got := tt.r.String(); got != tt.want {
			t.Errorf("Rate(%d).String() = %q, want %q", int64(tt.r), got, tt.want)
		}
	}
}

func TestChargesJSON(t *testing.T) {
	t.Parallel()
	c := domain.Charges{Brokerage: 2000, STT: 0, ExchangeTxn: 278, SEBI: 1, StampDuty: 23, GST: 410, Total: 2712}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"brokerage":20.00,"stt":0.00,"exchange_txn":2.78,"sebi":0.01,"stamp_duty":0.23,"gst":4.10,"total":27.12}`
	if string(b) != want {
		t.Fatalf("json = %s\nwant   %s", b, want)
	}
	var back domain.Charges
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back != c {
		t.Fatalf("round trip = %+v, want %+v", back, c)
	}
}
