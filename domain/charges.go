package domain

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"strings"
)

// This file models the charges on one executed NSE index-derivative order
// at Zerodha: brokerage, securities transaction tax (STT), the exchange
// transaction charge, the SEBI turnover fee, stamp duty and GST.
//
// Everything is exact integer arithmetic: money is Price (paise), rates are
// Rate (a fraction in units of 10⁻⁸) and every product is formed in 128 bits
// before it is divided and rounded, so no float64 touches the money path.
//
// Rounding rule: each component is rounded to the paisa on its own, half
// away from zero (all charges are non-negative, so this is "half up":
// 0.5 paisa becomes 1 paisa, 1.49 becomes 1, 2.5 becomes 3, not the banker's
// 2). Total is the sum of the rounded components, so it always equals the
// sum of the lines a caller shows.
//
// Not modelled: STT on options exercised at expiry (0.15% of intrinsic value
// from 2026-04-01), physical-settlement charges, Zerodha's ₹40 brokerage for
// accounts with a negative balance, and the contract note's rounding of the
// day's STT to the nearest rupee (support.zerodha.com, "What are the various
// statutory charges"), so a day's STT can differ from this per-order,
// per-paisa figure by up to ₹0.50.

// ChargeSegment is the kind of instrument; the schedule prices index options
// and futures differently. Options are charged on premium turnover
// (quantity × premium), futures on contract turnover (quantity × price).
type ChargeSegment string

// The two segments of the F&O charge schedule.
const (
	SegmentIndexOption ChargeSegment = "option"
	SegmentFuture      ChargeSegment = "future"
)

// Rate is an exact non-negative fraction in units of 10⁻⁸, i.e. one
// millionth of a percent: RateScale (100,000,000) is 100%, Rate(30_000) is
// 0.03%, Rate(35_030) is 0.03503%, Rate(100) is 0.0001% (₹10 per crore).
// An amount at a rate is turnover × rate / RateScale, rounded to the paisa.
type Rate int64

// RateScale is the Rate that means 100%.
const RateScale Rate = 100_000_000

// String renders the rate as a percentage without trailing zeros: "0.03503%".
func (r Rate) String() string {
	v := int64(r)
	sign := ""
	u := uint64(v)
	if v < 0 {
		sign = "-"
		u = uint64(-v) // two's complement: correct even for MinInt64
	}
	s := fmt.Sprintf("%s%d.%06d", sign, u/1_000_000, u%1_000_000)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	return s + "%"
}

// Limits Validate applies. They are not regulatory limits; they catch unit
// mistakes such as writing 15 (0.000015%) or 15_000_000 (15%) for STT's 0.15%.
const (
	// maxTurnoverRate bounds every turnover-based rate (brokerage %, STT,
	// exchange, IPFT, stamp duty, SEBI): 1%, over six times the largest real
	// one (0.15% STT on option premium).
	maxTurnoverRate Rate = 1_000_000
	// maxGSTRate bounds GST: 100%.
	maxGSTRate Rate = RateScale
	// maxBrokerageFlat bounds the flat brokerage per executed order: ₹1,000.
	maxBrokerageFlat Price = 1_000 * 100
)

// SegmentRates are the charges of one segment. Every rate applies to the
// order's turnover: premium turnover for options, contract turnover for
// futures.
type SegmentRates struct {
	// BrokerageFlat is the brokerage per executed order. When BrokerageRate
	// is zero it is charged as is (Zerodha options: flat ₹20); otherwise it is
	// the cap of min(BrokerageFlat, BrokerageRate × turnover) (Zerodha
	// futures: ₹20 or 0.03%, whichever is lower).
	BrokerageFlat Price `json:"brokerage_flat"`
	// BrokerageRate is the percentage alternative to BrokerageFlat; zero
	// means the flat fee only.
	BrokerageRate Rate `json:"brokerage_rate"`
	// STTSell is securities transaction tax, charged on the sell side only.
	STTSell Rate `json:"stt_sell"`
	// ExchangeTxn is the NSE transaction charge, charged on both sides.
	ExchangeTxn Rate `json:"exchange_txn"`
	// IPFT is the NSE Investor Protection Fund Trust levy, both sides. It is
	// billed inside the exchange transaction charge line (and so bears GST),
	// as Zerodha's contract note shows it.
	IPFT Rate `json:"ipft"`
	// StampDutyBuy is stamp duty, charged on the buy side only.
	StampDutyBuy Rate `json:"stamp_duty_buy"`
}

// ChargeSchedule is a complete F&O charge schedule. Its zero value charges
// nothing; DefaultChargeSchedule returns the schedule in force at Zerodha.
type ChargeSchedule struct {
	Option SegmentRates `json:"option"`
	Future SegmentRates `json:"future"`
	// SEBIFee is the SEBI turnover fee, both sides, both segments.
	SEBIFee Rate `json:"sebi_fee"`
	// GST is levied on brokerage + exchange transaction charge (including
	// IPFT) + SEBI fee, each already rounded to the paisa. Not on STT or
	// stamp duty.
	GST Rate `json:"gst"`
}

// DefaultChargeSchedule returns Zerodha's schedule for NSE index options and
// futures as in force on 2026-11-22 (figures checked that day; the latest
// change is the STT rise of 2026-04-01):
//
//   - Brokerage: options flat ₹20 per executed order; futures 0.03% or ₹20
//     per executed order, whichever is lower. Source: Zerodha support, "What
//     is the brokerage for Futures and Options?" (support.zerodha.com). Set
//     Option.BrokerageRate to 30_000 for a "₹20 or 0.03%" rule on options.
//   - STT, sell side: options 0.15% of premium, futures 0.05%. Source: Union
//     Budget 2026-27 (presented 2026-02-01), Finance Bill 2026 clause 143
//     amending section 98 of the Finance (No. 2) Act 2004, for transactions
//     on or after 2026-04-01 (previously 0.10% and 0.02% from 2024-10-01);
//     reported by caclubindia.com (2026-02-02), devadhaantu.in (2026-02-06)
//     and in.fintaxblog.com. A 2026 broker charges table in Zerodha's format
//     (proficientequities.com) shows the same rates.
//   - NSE transaction charge: options ₹35.03 per lakh of premium (0.03503%),
//     futures ₹1.73 per lakh (0.00173%), each side, effective 2024-10-01
//     (NSE circular of 2024-09-27 under the SEBI "true to label" circular of
//     2024-07-01; reported by ndtvprofit.com and hindustantimes.com,
//     2024-09-27).
//   - NSE IPFT: options ₹50 per crore of premium (0.0005%), futures ₹10 per
//     crore (0.0001%), effective 2023-04-01 (NSE, reported by thehindu.com
//     2023-03-24); included in the exchange transaction charge with 18% GST
//     (Zerodha support, "What are IPFT charges?"). Zerodha's charges table
//     therefore lists NSE transaction charges of 0.03553% (options) and
//     0.00183% (futures).
//   - SEBI turnover fee: ₹10 per crore (0.0001%). Source: Zerodha support,
//     "What is the brokerage for Futures and Options?".
//   - Stamp duty, buy side: options 0.003%, futures 0.002%, effective
//     2020-07-01 (Indian Stamp Act 1899 as amended by the Finance Act 2019;
//     nseindia.com stamp-duty page; Zerodha bulletin of 2020-07-01).
//   - GST: 18% on brokerage + transaction charges + SEBI fee (Zerodha
//     support, "What is the brokerage for Futures and Options?").
func DefaultChargeSchedule() ChargeSchedule {
	return ChargeSchedule{
		Option: SegmentRates{
			BrokerageFlat: Rupees(20),
			BrokerageRate: 0,       // flat ₹20 only
			STTSell:       150_000, // 0.15%
			ExchangeTxn:   35_030,  // 0.03503% = ₹35.03 per lakh
			IPFT:          500,     // 0.0005% = ₹50 per crore
			StampDutyBuy:  3_000,   // 0.003% = ₹300 per crore
		},
		Future: SegmentRates{
			BrokerageFlat: Rupees(20),
			BrokerageRate: 30_000, // 0.03%
			STTSell:       50_000, // 0.05%
			ExchangeTxn:   1_730,  // 0.00173% = ₹1.73 per lakh
			IPFT:          100,    // 0.0001% = ₹10 per crore
			StampDutyBuy:  2_000,  // 0.002% = ₹200 per crore
		},
		SEBIFee: 100,        // 0.0001% = ₹10 per crore
		GST:     18_000_000, // 18%
	}
}

const scheduleType = "ChargeSchedule"

// Validate reports every negative or implausible field, each as a
// *FieldError whose Field is the JSON path ("option.stt_sell", "gst"),
// joined with errors.Join. It returns nil for a usable schedule.
func (s ChargeSchedule) Validate() error {
	var errs []error
	rate := func(field string, r, limit Rate) {
		if r < 0 || r > limit {
			errs = append(errs, fieldErr(scheduleType, field, "must be in [0%%, %s], got %s", limit, r))
		}
	}
	seg := func(name string, sr SegmentRates) {
		if sr.BrokerageFlat < 0 || sr.BrokerageFlat > maxBrokerageFlat {
			errs = append(errs, fieldErr(scheduleType, name+".brokerage_flat",
				"must be in [0.00, %s], got %s", maxBrokerageFlat, sr.BrokerageFlat))
		}
		rate(name+".brokerage_rate", sr.BrokerageRate, maxTurnoverRate)
		rate(name+".stt_sell", sr.STTSell, maxTurnoverRate)
		rate(name+".exchange_txn", sr.ExchangeTxn, maxTurnoverRate)
		rate(name+".ipft", sr.IPFT, maxTurnoverRate)
		rate(name+".stamp_duty_buy", sr.StampDutyBuy, maxTurnoverRate)
	}
	seg("option", s.Option)
	seg("future", s.Future)
	rate("sebi_fee", s.SEBIFee, maxTurnoverRate)
	rate("gst", s.GST, maxGSTRate)
	return errors.Join(errs...)
}

// Charges are the charges on one executed order, each rounded to the paisa
// (half away from zero). Total is the sum of the other six fields.
type Charges struct {
	Brokerage   Price `json:"brokerage"`
	STT         Price `json:"stt"`
	ExchangeTxn Price `json:"exchange_txn"` // includes NSE IPFT
	SEBI        Price `json:"sebi"`
	StampDuty   Price `json:"stamp_duty"`
	GST         Price `json:"gst"`
	Total       Price `json:"total"`
}

const chargesType = "Charges"

// For returns the charges on one executed order of quantity units (not lots)
// at price (the premium for options) on the given side. Brokerage is per
// executed order; every other component is on turnover = quantity × price.
//
// It returns a *FieldError naming "segment", "side", "quantity" or "price"
// for an unknown segment or side, a non-positive quantity or price, or a
// turnover that does not fit in int64 paise; and the Validate error if the
// schedule is invalid.
func (s ChargeSchedule) For(seg ChargeSegment, side Side, quantity int64, price Price) (Charges, error) {
	if err := s.Validate(); err != nil {
		return Charges{}, fmt.Errorf("charges: invalid schedule: %w", err)
	}
	var sr SegmentRates
	switch seg {
	case SegmentIndexOption:
		sr = s.Option
	case SegmentFuture:
		sr = s.Future
	default:
		return Charges{}, fieldErr(chargesType, "segment", "must be %q or %q, got %q",
			SegmentIndexOption, SegmentFuture, seg)
	}
	if !side.Valid() {
		return Charges{}, fieldErr(chargesType, "side", "must be BUY or SELL, got %q", side)
	}
	if quantity <= 0 {
		return Charges{}, fieldErr(chargesType, "quantity", "must be > 0, got %d", quantity)
	}
	if price <= 0 {
		return Charges{}, fieldErr(chargesType, "price", "must be > 0, got %s", price)
	}
	hi, lo := bits.Mul64(uint64(quantity), uint64(price))
	if hi != 0 || lo > math.MaxInt64 {
		return Charges{}, fieldErr(chargesType, "quantity",
			"quantity %d × price %s overflows int64 paise of turnover", quantity, price)
	}
	turnover := Price(lo)

	var c Charges
	c.Brokerage = sr.BrokerageFlat
	if sr.BrokerageRate > 0 {
		c.Brokerage = min(c.Brokerage, applyRate(turnover, sr.BrokerageRate))
	}
	if side == Sell {
		c.STT = applyRate(turnover, sr.STTSell)
	}
	// Both rates are ≤ maxTurnoverRate, so the sum cannot overflow.
	c.ExchangeTxn = applyRate(turnover, sr.ExchangeTxn+sr.IPFT)
	c.SEBI = applyRate(turnover, s.SEBIFee)
	if side == Buy {
		c.StampDuty = applyRate(turnover, sr.StampDutyBuy)
	}
	// Validate's limits keep every component at most 2% of turnover (or
	// ₹1,000 of brokerage) and GST at most its base, so the GST base and the
	// total stay far below MaxInt64 for any turnover that fits in int64.
	c.GST = applyRate(c.Brokerage+c.ExchangeTxn+c.SEBI, s.GST)
	c.Total = c.Brokerage + c.STT + c.ExchangeTxn + c.SEBI + c.StampDuty + c.GST
	return c, nil
}

// applyRate returns amount × r / RateScale rounded to the paisa, half away
// from zero. amount and r must be non-negative and r ≤ RateScale; the
// product is formed in 128 bits, so any int64 amount works.
func applyRate(amount Price, r Rate) Price {
	hi, lo := bits.Mul64(uint64(amount), uint64(r))
	// hi < RateScale because amount < 2⁶³ and r ≤ RateScale, so Div64 cannot
	// overflow; the quotient is ≤ amount and fits in int64.
	q, rem := bits.Div64(hi, lo, uint64(RateScale))
	if 2*rem >= uint64(RateScale) { // rem < 10⁸, so 2*rem cannot overflow
		q++
	}
	return Price(q)
}

// ChargeSegmentOf returns the charge segment of an instrument from its
// exchange and Kite tradingsymbol, or "" when the schedule does not cover
// it: NFO or BFO symbols ending in CE or PE are options (index options'
// rates; stock options are charged alike), ending in FUT futures; cash,
// indices and unknown symbols have no computed charges.
func ChargeSegmentOf(exchange, symbol string) ChargeSegment {
	if exchange != ExchangeNFO && exchange != "BFO" {
		return ""
	}
	switch {
	case strings.HasSuffix(symbol, "CE"), strings.HasSuffix(symbol, "PE"):
		return SegmentIndexOption
	case strings.HasSuffix(symbol, "FUT"):
		return SegmentFuture
	}
	return ""
}
