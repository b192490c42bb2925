package domain_test

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/algoauto/algoauto/domain"
)

var validAt = time.Date(2026, 11, 20, 10, 0, 0, 0, domain.IST())

// Valid examples of every event type, returned fresh on every call so that
// a case can mutate its copy.
func validTick() domain.Tick {
	return domain.Tick{
		Provider: "kite", Exchange: domain.ExchangeNFO, Symbol: "NIFTY26NOVFUT", Token: 13238786,
		ExchangeTime: validAt, LTP: 2450005, LastQty: 75,
		Bid: 2450000, BidQty: 150, Ask: 2450010, AskQty: 225,
		Volume: 1234500, OI: 9876525,
	}
}

func validOptionTick() domain.Tick {
	t := validTick()
	t.Symbol, t.LTP, t.Bid, t.Ask = "NIFTY26NOV24500CE", 18550, 18545, 18560
	t.Greeks = &domain.Greeks{IV: 0.1432, Delta: 0.52, Gamma: 0.0011, Theta: -12.5, Vega: 18.2, Rho: 4.1}
	return t
}

func validIntent() domain.OrderIntentRecorded {
	return domain.OrderIntentRecorded{
		OrderID: "o-1", ClientOrderID: "c-1", Account: "acc", Mode: domain.Paper,
		Exchange: domain.ExchangeNFO, Symbol: "NIFTY26NOVFUT", Side: domain.Buy, Quantity: 75,
		Type: domain.Limit, Product: domain.NRML, Price: 2450005,
	}
}

func validSignal() domain.SignalRaised {
	return domain.SignalRaised{
		SignalID: "s1", Source: "n8n", Exchange: domain.ExchangeNFO, Symbol: "NIFTY26NOVFUT",
		Side: domain.Buy, Quantity: 65, RaisedAt: validAt,
	}
}

func validFill() domain.OrderFilled {
	return domain.OrderFilled{OrderID: "o-1", TradeID: "t-1", Quantity: 75, Price: 2450005, FilledQty: 75}
}

func validRisk() domain.RiskLimitsChanged {
	return domain.RiskLimitsChanged{Account: "acc", By: "ops", Limits: domain.RiskLimits{
		MaxOrderQty: 1800, MaxOrdersPerSec: 9, MaxDailyLoss: domain.Rupees(50000),
	}}
}

func validGap() domain.FeedGap {
	return domain.FeedGap{Provider: "kite", Dropped: 12, From: validAt, To: validAt.Add(time.Second), Reason: "store behind"}
}

func cc() domain.ControlChange {
	return domain.ControlChange{Account: "acc", By: "ops", Reason: "open"}
}

// allTypes lists every event type name of package domain.
var allTypes = []string{
	domain.TypeTickReceived, domain.TypeFeedStale, domain.TypeFeedGap, domain.TypeFeedResynced,
	domain.TypeSignalRaised, domain.TypeSignalAccepted, domain.TypeSignalRejected,
	domain.TypeOrderIntentRecorded, domain.TypeOrderSubmitted, domain.TypeOrderAccepted,
	domain.TypeOrderRejected, domain.TypeOrderFilled, domain.TypeOrderCancelled,
	domain.TypeSubmitOutcomeUnknown,
	domain.TypeTradingStarted, domain.TypeTradingPaused, domain.TypeTradingResumed,
	domain.TypeTradingStopped, domain.TypeModeChanged, domain.TypeStrategyEnabled,
	domain.TypeStrategyDisabled, domain.TypeRiskLimitsChanged, domain.TypeKillSwitchTriggered,
	domain.TypeKillSwitchReset,
}

func validEvents() []domain.Event {
	return []domain.Event{
		validTick(),
		validOptionTick(),
		domain.Tick{Provider: "kite", Exchange: domain.ExchangeNSE, Symbol: "NIFTY 50", ExchangeTime: validAt, LTP: 2448010},
		domain.FeedStale{Provider: "kite", Symbol: "NIFTY26NOVFUT", LastTickAt: validAt, Threshold: 5 * time.Second, DetectedAt: validAt.Add(5 * time.Second)},
		validGap(),
		domain.FeedGap{Provider: "kite", Dropped: 1, From: validAt, To: validAt, Reason: "one tick"},
		domain.FeedResynced{Provider: "kite", ResumedAt: validAt},
		validSignal(),
		func() domain.Event { s := validSignal(); s.OrderType, s.Price = domain.Limit, 2450005; return s }(),
		domain.SignalAccepted{SignalID: "s1", OrderIDs: []string{"o-1", "o-2"}},
		domain.SignalRejected{SignalID: "s1", Rule: "max_order_qty", Reason: "1900 > 1800"},
		validIntent(),
		func() domain.Event { o := validIntent(); o.Type, o.Price = domain.Market, 0; return o }(),
		func() domain.Event { o := validIntent(); o.Type, o.TriggerPrice = domain.StopLimit, 2449000; return o }(),
		func() domain.Event {
			o := validIntent()
			o.Type, o.Price, o.TriggerPrice = domain.StopMkt, 0, 2449000
			return o
		}(),
		domain.OrderSubmitted{OrderID: "o-1", ClientOrderID: "c-1", Broker: "paper"},
		domain.OrderAccepted{OrderID: "o-1", BrokerOrderID: "b-1"},
		domain.OrderRejected{OrderID: "o-1", Code: "RMS", Reason: "margin"},
		validFill(),
		func() domain.Event { f := validFill(); f.Quantity, f.FilledQty = 25, 50; return f }(),
		domain.OrderCancelled{OrderID: "o-1", By: "ops", Reason: "manual"},
		domain.SubmitOutcomeUnknown{OrderID: "o-1", ClientOrderID: "c-1", Error: "timeout"},
		domain.TradingStarted{ControlChange: cc()},
		domain.TradingPaused{ControlChange: cc()},
		domain.TradingResumed{ControlChange: cc()},
		domain.TradingStopped{ControlChange: cc(), Flatten: true},
		domain.ModeChanged{Account: "acc", From: domain.Paper, To: domain.Live, By: "ops"},
		domain.StrategyEnabled{Account: "acc", Strategy: "orb", Params: json.RawMessage(`{"window":"15m"}`), By: "ops"},
		domain.StrategyEnabled{Account: "acc", Strategy: "orb", By: "ops"},
		domain.StrategyDisabled{Account: "acc", Strategy: "orb", By: "ops"},
		validRisk(),
		domain.RiskLimitsChanged{Account: "acc", By: "ops"}, // zero means no limit
		domain.KillSwitchTriggered{Account: "acc", Reason: "daily loss", By: "risk", Auto: true, Rule: "max_daily_loss"},
		domain.KillSwitchReset{Account: "acc", By: "ops", Reason: "reviewed"},
	}
}

func TestValidEventsPass(t *testing.T) {
	t.Parallel()
	covered := map[string]bool{}
	for _, e := range validEvents() {
		covered[e.EventType()] = true
		if err := e.Validate(); err != nil {
			t.Errorf("%s %+v: Validate() = %v, want nil", e.EventType(), e, err)
		}
	}
	for _, typ := range allTypes {
		if !covered[typ] {
			t.Errorf("no valid example of %s", typ)
		}
	}
}

func TestValidationFailures(t *testing.T) {
	t.Parallel()
	tick := func(f func(*domain.Tick)) domain.Event { v := validTick(); f(&v); return v }
	opt := func(f func(*domain.Tick)) domain.Event { v := validOptionTick(); f(&v); return v }
	intent := func(f func(*domain.OrderIntentRecorded)) domain.Event { v := validIntent(); f(&v); return v }
	signal := func(f func(*domain.SignalRaised)) domain.Event { v := validSignal(); f(&v); return v }
	fill := func(f func(*domain.OrderFilled)) domain.Event { v := validFill(); f(&v); return v }
	risk := func(f func(*domain.RiskLimitsChanged)) domain.Event { v := validRisk(); f(&v); return v }
	gap := func(f func(*domain.FeedGap)) domain.Event { v := validGap(); f(&v); return v }

	tests := []struct {
		name   string
		ev     domain.Event
		field  string
		reason string // substring of FieldError.Reason
	}{
		// TickReceived
		{"tick ltp zero", tick(func(t *domain.Tick) { t.LTP = 0 }), "ltp", "must be > 0, got 0.00"},
		{"tick ltp negative", tick(func(t *domain.Tick) { t.LTP = -5 }), "ltp", "must be > 0, got -0.05"},
		{"tick empty symbol", tick(func(t *domain.Tick) { t.Symbol = "" }), "symbol", "must not be empty"},
		{"tick blank symbol", tick(func(t *domain.Tick) { t.Symbol = "  " }), "symbol", "must not be empty"},
		{"tick symbol newline", tick(func(t *domain.Tick) { t.Symbol = "NIFTY\nFUT" }), "symbol", "control character"},
		{"tick symbol NUL", tick(func(t *domain.Tick) { t.Symbol = "NIFTY\x00" }), "symbol", "control character"},
		{"tick empty provider", tick(func(t *domain.Tick) { t.Provider = "" }), "provider", "must not be empty"},
		{"tick empty exchange", tick(func(t *domain.Tick) { t.Exchange = "" }), "exchange", "must not be empty"},
		{"tick no time", tick(func(t *domain.Tick) { t.ExchangeTime = time.Time{} }), "exchange_time", "must be set"},
		{"tick crossed", tick(func(t *domain.Tick) { t.Bid, t.Ask = 2450010, 2450000 }), "bid", "crossed"},
		{"tick negative bid", tick(func(t *domain.Tick) { t.Bid = -1 }), "bid", "must be >= 0"},
		{"tick negative ask", tick(func(t *domain.Tick) { t.Ask = -1 }), "ask", "must be >= 0"},
		{"tick negative bid qty", tick(func(t *domain.Tick) { t.BidQty = -1 }), "bid_qty", "must be >= 0"},
		{"tick negative ask qty", tick(func(t *domain.Tick) { t.AskQty = -1 }), "ask_qty", "must be >= 0"},
		{"tick negative last qty", tick(func(t *domain.Tick) { t.LastQty = -1 }), "last_qty", "must be >= 0"},
		{"tick negative volume", tick(func(t *domain.Tick) { t.Volume = -1 }), "volume", "must be >= 0"},
		{"tick negative oi", tick(func(t *domain.Tick) { t.OI = -1 }), "oi", "must be >= 0"},
		{"tick NaN iv", opt(func(t *domain.Tick) { t.Greeks.IV = math.NaN() }), "greeks.iv", "finite"},
		{"tick NaN delta", opt(func(t *domain.Tick) { t.Greeks.Delta = math.NaN() }), "greeks.delta", "finite"},
		{"tick NaN gamma", opt(func(t *domain.Tick) { t.Greeks.Gamma = math.NaN() }), "greeks.gamma", "finite"},
		{"tick Inf theta", opt(func(t *domain.Tick) { t.Greeks.Theta = math.Inf(-1) }), "greeks.theta", "finite"},
		{"tick Inf vega", opt(func(t *domain.Tick) { t.Greeks.Vega = math.Inf(1) }), "greeks.vega", "finite"},
		{"tick NaN rho", opt(func(t *domain.Tick) { t.Greeks.Rho = math.NaN() }), "greeks.rho", "finite"},
		{"tick negative iv", opt(func(t *domain.Tick) { t.Greeks.IV = -0.1 }), "greeks.iv", ">= 0"},

		// FeedStale, FeedGap, FeedResynced
		{"stale no provider", domain.FeedStale{DetectedAt: validAt, Threshold: time.Second}, "provider", "must not be empty"},
		{"stale no threshold", domain.FeedStale{Provider: "kite", DetectedAt: validAt}, "threshold_ns", "must be > 0"},
		{"stale no detected_at", domain.FeedStale{Provider: "kite", Threshold: time.Second}, "detected_at", "must be set"},
		{"gap to before from", gap(func(g *domain.FeedGap) { g.To = g.From.Add(-time.Nanosecond) }), "to", "before from"},
		{"gap nothing dropped", gap(func(g *domain.FeedGap) { g.Dropped = 0 }), "dropped", "must be > 0"},
		{"gap no from", gap(func(g *domain.FeedGap) { g.From = time.Time{} }), "from", "must be set"},
		{"gap no reason", gap(func(g *domain.FeedGap) { g.Reason = "" }), "reason", "must not be empty"},
		{"resynced no time", domain.FeedResynced{Provider: "kite"}, "resumed_at", "must be set"},

		// SignalRaised, SignalAccepted, SignalRejected
		{"signal bad side", signal(func(s *domain.SignalRaised) { s.Side = "HOLD" }), "side", `must be BUY or SELL, got "HOLD"`},
		{"signal lower-case side", signal(func(s *domain.SignalRaised) { s.Side = "buy" }), "side", "BUY or SELL"},
		{"signal no side", signal(func(s *domain.SignalRaised) { s.Side = "" }), "side", "BUY or SELL"},
		{"signal zero quantity", signal(func(s *domain.SignalRaised) { s.Quantity = 0 }), "quantity", "must be > 0"},
		{"signal bad order type", signal(func(s *domain.SignalRaised) { s.OrderType = "IOC" }), "order_type", `got "IOC"`},
		{"signal limit without price", signal(func(s *domain.SignalRaised) { s.OrderType = domain.Limit }), "price", "LIMIT"},
		{"signal negative price", signal(func(s *domain.SignalRaised) { s.Price = -5 }), "price", "must be >= 0"},
		{"signal no exchange", signal(func(s *domain.SignalRaised) { s.Exchange = "" }), "exchange", "must not be empty"},
		{"signal no time", signal(func(s *domain.SignalRaised) { s.RaisedAt = time.Time{} }), "raised_at", "must be set"},
		{"accepted no orders", domain.SignalAccepted{SignalID: "s1"}, "order_ids", "at least one"},
		{"rejected no rule", domain.SignalRejected{SignalID: "s1", Reason: "x"}, "rule", "must not be empty"},

		// Order family
		{"intent zero quantity", intent(func(o *domain.OrderIntentRecorded) { o.Quantity = 0 }), "quantity", "must be > 0, got 0"},
		{"intent negative quantity", intent(func(o *domain.OrderIntentRecorded) { o.Quantity = -75 }), "quantity", "must be > 0, got -75"},
		{"intent limit without price", intent(func(o *domain.OrderIntentRecorded) { o.Price = 0 }), "price", "must be > 0"},
		{"intent SL without price", intent(func(o *domain.OrderIntentRecorded) { o.Type, o.Price, o.TriggerPrice = domain.StopLimit, 0, 2449000 }), "price", "must be > 0"},
		{"intent SL without trigger", intent(func(o *domain.OrderIntentRecorded) { o.Type = domain.StopLimit }), "trigger_price", "must be > 0"},
		{"intent SL-M without trigger", intent(func(o *domain.OrderIntentRecorded) { o.Type = domain.StopMkt }), "trigger_price", "must be > 0"},
		{"intent market negative price", intent(func(o *domain.OrderIntentRecorded) { o.Type, o.Price = domain.Market, -1 }), "price", "must be >= 0"},
		{"intent bad side", intent(func(o *domain.OrderIntentRecorded) { o.Side = "SHORT" }), "side", `got "SHORT"`},
		{"intent bad type", intent(func(o *domain.OrderIntentRecorded) { o.Type = "IOC" }), "type", `must be MARKET, LIMIT, SL or SL-M, got "IOC"`},
		{"intent bad product", intent(func(o *domain.OrderIntentRecorded) { o.Product = "BO" }), "product", `must be MIS, NRML or CNC, got "BO"`},
		{"intent bad mode", intent(func(o *domain.OrderIntentRecorded) { o.Mode = "demo" }), "mode", `must be paper or live, got "demo"`},
		{"intent no mode", intent(func(o *domain.OrderIntentRecorded) { o.Mode = "" }), "mode", "paper or live"},
		{"intent no order id", intent(func(o *domain.OrderIntentRecorded) { o.OrderID = "" }), "order_id", "must not be empty"},
		{"intent no client order id", intent(func(o *domain.OrderIntentRecorded) { o.ClientOrderID = " " }), "client_order_id", "must not be empty"},
		{"submitted no broker", domain.OrderSubmitted{OrderID: "o", ClientOrderID: "c"}, "broker", "must not be empty"},
		{"accepted no broker id", domain.OrderAccepted{OrderID: "o"}, "broker_order_id", "must not be empty"},
		{"rejected no reason", domain.OrderRejected{OrderID: "o"}, "reason", "must not be empty"},
		{"filled cumulative below fill", fill(func(f *domain.OrderFilled) { f.FilledQty = 50 }), "filled_qty", "cumulative 50 is less than this fill's 75"},
		{"filled zero price", fill(func(f *domain.OrderFilled) { f.Price = 0 }), "price", "must be > 0"},
		{"filled zero quantity", fill(func(f *domain.OrderFilled) { f.Quantity = 0 }), "quantity", "must be > 0"},
		{"filled negative charges", fill(func(f *domain.OrderFilled) { f.Charges = -1 }), "charges", "must be >= 0"},
		{"cancelled no reason", domain.OrderCancelled{OrderID: "o"}, "reason", "must not be empty"},
		{"unknown no error", domain.SubmitOutcomeUnknown{OrderID: "o", ClientOrderID: "c"}, "error", "must not be empty"},

		// Control family
		{"started no by", domain.TradingStarted{ControlChange: domain.ControlChange{Account: "acc"}}, "by", "must not be empty"},
		{"paused no account", domain.TradingPaused{ControlChange: domain.ControlChange{By: "ops"}}, "account", "must not be empty"},
		{"resumed no by", domain.TradingResumed{ControlChange: domain.ControlChange{Account: "acc"}}, "by", "must not be empty"},
		{"stopped no account", domain.TradingStopped{Flatten: true}, "account", "must not be empty"},
		{"mode from equals to", domain.ModeChanged{Account: "acc", From: domain.Live, To: domain.Live, By: "ops"}, "to", "same as from"},
		{"mode bad from", domain.ModeChanged{Account: "acc", From: "demo", To: domain.Live, By: "ops"}, "from", `got "demo"`},
		{"mode bad to", domain.ModeChanged{Account: "acc", From: domain.Paper, To: "LIVE", By: "ops"}, "to", `got "LIVE"`},
		{"strategy bad params", domain.StrategyEnabled{Account: "acc", Strategy: "orb", By: "ops", Params: json.RawMessage(`{"window":`)}, "params", "not valid JSON"},
		{"strategy disabled no strategy", domain.StrategyDisabled{Account: "acc", By: "ops"}, "strategy", "must not be empty"},
		{"risk 10 orders per sec", risk(func(r *domain.RiskLimitsChanged) { r.Limits.MaxOrdersPerSec = 10 }), "limits.max_orders_per_sec", "below SEBI's 10 orders per second, got 10"},
		{"risk 50 orders per sec", risk(func(r *domain.RiskLimitsChanged) { r.Limits.MaxOrdersPerSec = 50 }), "limits.max_orders_per_sec", "got 50"},
		{"risk negative orders per sec", risk(func(r *domain.RiskLimitsChanged) { r.Limits.MaxOrdersPerSec = -1 }), "limits.max_orders_per_sec", "must be >= 0"},
		{"risk negative max qty", risk(func(r *domain.RiskLimitsChanged) { r.Limits.MaxOrderQty = -1 }), "limits.max_order_qty", "must be >= 0"},
		{"risk negative daily loss", risk(func(r *domain.RiskLimitsChanged) { r.Limits.MaxDailyLoss = -100 }), "limits.max_daily_loss", "must be >= 0, got -1.00"},
		{"risk no by", risk(func(r *domain.RiskLimitsChanged) { r.By = "" }), "by", "must not be empty"},
		{"kill no reason", domain.KillSwitchTriggered{Account: "acc", By: "ops"}, "reason", "must not be empty"},
		{"kill reset no by", domain.KillSwitchReset{Account: "acc", Reason: "ok"}, "by", "must not be empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.ev.Validate()
			if err == nil {
				t.Fatalf("Validate() = nil, want an invalid %s", tt.field)
			}
			var fe *domain.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("Validate() = %T %v, want a *domain.FieldError", err, err)
			}
			if fe.Type != tt.ev.EventType() {
				t.Errorf("FieldError.Type = %q, want %q", fe.Type, tt.ev.EventType())
			}
			if fe.Field != tt.field {
				t.Errorf("FieldError.Field = %q (reason %q), want %q", fe.Field, fe.Reason, tt.field)
			}
			if !strings.Contains(fe.Reason, tt.reason) {
				t.Errorf("FieldError.Reason = %q, want it to contain %q", fe.Reason, tt.reason)
			}
			if msg := err.Error(); !strings.Contains(msg, tt.ev.EventType()) || !strings.Contains(msg, tt.field) || !strings.Contains(msg, fe.Reason) {
				t.Errorf("Error() = %q, want it to name the type, the field and the reason", msg)
			}
		})
	}
}

func TestParseSide(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]domain.Side{"BUY": domain.Buy, "buy": domain.Buy, " Sell ": domain.Sell} {
		got, err := domain.ParseSide(in)
		if err != nil || got != want {
			t.Errorf("ParseSide(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "HOLD", "B", "S"} {
		if got, err := domain.ParseSide(in); err == nil {
			t.Errorf("ParseSide(%q) = %q, want an error", in, got)
		}
	}
}

func TestStreams(t *testing.T) {
	t.Parallel()
	for got, want := range map[string]string{
		domain.TickStream(domain.ExchangeNSE, "NIFTY 50"): "tick-NSE:NIFTY 50",
		validTick().Stream():                              "tick-NFO:NIFTY26NOVFUT",
		domain.ProviderStream("kite"):                     "provider-kite",
		domain.SignalStream("n8n"):                        "signal-n8n",
		domain.OrderStream("o-1"):                         "order-o-1",
		domain.ControlStream("acc"):                       "control-acc",
	} {
		if got != want {
			t.Errorf("stream = %q, want %q", got, want)
		}
	}
}
