package codec_test

import (
	"encoding/json"
	"reflect"
	"time"

	"github.com/google/uuid"

	"github.com/algoauto/algoauto/domain"
	"github.com/algoauto/algoauto/eventstore"
)

var exampleAt = time.Date(2026, 11, 20, 10, 0, 0, 123456789, domain.IST())

// Identifiers of the user and session examples.
const (
	exampleUser      = "0193a5b2-7c1e-7d3a-9b2f-4e5d6c7b8a91"
	exampleFamily    = "0193a5b2-7c1e-7d3a-9b2f-4e5d6c7b8a92"
	exampleTokenHash = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	examplePHC       = "$argon2id$v=19$m=65536,t=3,p=2$c29tZXNhbHRzb21lc2FsdA$RdescudvJCsgt3ub+b+dWRWJTmaaJObG"
)

// niftyFuture is a NIFTY future tick with depth and a token: the common case
// of the market-data log.
func niftyFuture() domain.Tick {
	return domain.Tick{
		Provider: "kite", Exchange: domain.ExchangeNFO, Symbol: "NIFTY26NOVFUT", Token: 13238786,
		ExchangeTime: exampleAt, LTP: 2450005, LastQty: 75,
		Bid: 2450000, BidQty: 150, Ask: 2450010, AskQty: 225,
		Volume: 1234500, OI: 9876525,
	}
}

// niftyIndex is an index tick: no depth, no token, no greeks.
func niftyIndex() domain.Tick {
	return domain.Tick{Provider: "kite", Exchange: domain.ExchangeNSE, Symbol: "NIFTY 50", ExchangeTime: exampleAt, LTP: 2448010}
}

// niftyOption is an option tick with greeks.
func niftyOption() domain.Tick {
	t := niftyFuture()
	t.Symbol, t.LTP, t.Bid, t.Ask, t.Token = "NIFTY26NOV24500CE", 18550, 18545, 18560, 0
	t.Greeks = &domain.Greeks{IV: 0.1432, Delta: 0.52, Gamma: 0.0011, Theta: -12.5, Vega: 18.2, Rho: -0.0}
	return t
}

// examples holds a valid event of every type, keyed by type name.
func examples() map[string]domain.Event {
	cc := domain.ControlChange{Account: "acc-1", By: "ops", Reason: "market open"}
	return map[string]domain.Event{
		domain.TypeTickReceived: niftyFuture(),
		domain.TypeFeedStale: domain.FeedStale{Provider: "kite", Symbol: "NIFTY26NOVFUT", LastTickAt: exampleAt,
			Threshold: 5 * time.Second, DetectedAt: exampleAt.Add(5 * time.Second)},
		domain.TypeFeedGap:      domain.FeedGap{Provider: "kite", Dropped: 42, From: exampleAt, To: exampleAt.Add(time.Second), Reason: "store behind <memory bound>"},
		domain.TypeFeedResynced: domain.FeedResynced{Provider: "kite", ResumedAt: exampleAt},
		domain.TypeSignalRaised: domain.SignalRaised{SignalID: "s1", Source: "n8n", Strategy: "orb", Account: "acc-1",
			Exchange: domain.ExchangeNFO, Symbol: "NIFTY26NOVFUT", Side: domain.Buy, Quantity: 65,
			OrderType: domain.Limit, Price: 2450005, Reason: "breakout & retest", RaisedAt: exampleAt},
		domain.TypeSignalAccepted: domain.SignalAccepted{SignalID: "s1", OrderIDs: []string{"o-1", "o-2"}},
		domain.TypeSignalRejected: domain.SignalRejected{SignalID: "s2", Rule: "max_order_qty", Reason: "1900 > 1800"},
		domain.TypeOrderIntentRecorded: domain.OrderIntentRecorded{OrderID: "o-1", ClientOrderID: "c-1", Account: "acc-1",
			Mode: domain.Paper, Strategy: "orb", SignalID: "s1", Exchange: domain.ExchangeNFO, Symbol: "NIFTY26NOVFUT",
			Side: domain.Sell, Quantity: 75, Type: domain.StopLimit, Product: domain.NRML, Price: 2449000,
			TriggerPrice: 2449500, AlgoID: "algo-7"},
		domain.TypeOrderSubmitted: domain.OrderSubmitted{OrderID: "o-1", ClientOrderID: "c-1", Broker: "paper"},
		domain.TypeOrderAccepted:  domain.OrderAccepted{OrderID: "o-1", BrokerOrderID: "241120000123"},
		domain.TypeOrderRejected:  domain.OrderRejected{OrderID: "o-1", Code: "RMS", Reason: "insufficient margin"},
		domain.TypeOrderFilled:    domain.OrderFilled{OrderID: "o-1", TradeID: "t-1", Quantity: 25, Price: 2449005, FilledQty: 50, Charges: 2317},
		domain.TypeOrderCancelled: domain.OrderCancelled{OrderID: "o-1", By: "ops", Reason: "manual"},
		domain.TypeOrderModified:  domain.OrderModified{OrderID: "o-1", Price: 2450100, By: "ops"},
		domain.TypeOrderRefused: domain.OrderRefused{Account: "acc-1", Exchange: "NFO", Symbol: "NIFTY26DECFUT", Side: domain.Buy,
			Quantity: 6500, Rule: "max_order_qty", Limit: 1800, Actual: 6500, Unit: "qty", Message: "too big", By: "asha"},
		domain.TypeSubmitOutcomeUnknown: domain.SubmitOutcomeUnknown{OrderID: "o-1", ClientOrderID: "c-1", Error: "context deadline exceeded"},
		domain.TypeTradingStarted:       domain.TradingStarted{ControlChange: cc},
		domain.TypeTradingPaused:        domain.TradingPaused{ControlChange: cc},
		domain.TypeTradingResumed:       domain.TradingResumed{ControlChange: cc},
		domain.TypeTradingStopped:       domain.TradingStopped{ControlChange: cc, Flatten: true},
		domain.TypeModeChanged:          domain.ModeChanged{Account: "acc-1", From: domain.Paper, To: domain.Live, By: "ops"},
		domain.TypeStrategyEnabled: domain.StrategyEnabled{Account: "acc-1", Strategy: "orb",
			Params: json.RawMessage(`{"window":"15m","lots":2}`), By: "ops"},
		domain.TypeStrategyDisabled: domain.StrategyDisabled{Account: "acc-1", Strategy: "orb", By: "ops", Reason: "drawdown"},
		domain.TypeRiskLimitsChanged: domain.RiskLimitsChanged{Account: "acc-1", By: "ops", Limits: domain.RiskLimits{
			MaxOrderQty: 1800, MaxOrderLots: 24, MaxOrderNotional: domain.Rupees(5_00_00_000), MaxPositionQty: 3600,
			MaxOpenOrders: 20, MaxDailyLoss: domain.Rupees(50_000), MaxDrawdown: domain.Rupees(1_00_000),
			PriceCollarBps: 300, MaxOrdersPerSec: 8}},
		domain.TypeKillSwitchTriggered: domain.KillSwitchTriggered{Account: "acc-1", Reason: "daily loss", By: "risk", Auto: true, Rule: "max_daily_loss"},
		domain.TypeKillSwitchReset:     domain.KillSwitchReset{Account: "acc-1", By: "ops", Reason: "reviewed"},
		domain.TypeBrokerSnapshotObserved: domain.BrokerSnapshotObserved{Account: "acc-1", Mode: domain.Live, Broker: "kite", OrdersSeen: 3,
			Orders: []domain.BrokerOrder{{BrokerOrderID: "241120000123", ClientOrderID: "c-1", Account: "acc-1", Exchange: "NFO", Symbol: "NIFTY26NOVFUT",
				Side: domain.Buy, Type: domain.Limit, Product: domain.NRML, Quantity: 75, FilledQty: 25, Price: 2449000, AvgPrice: 2449000,
				Status: domain.BrokerOpen, UpdatedAt: exampleAt.UTC()}}, // UTC: normalize stops at slices
			Positions: []domain.BrokerPosition{{Account: "acc-1", Exchange: "NFO", Symbol: "NIFTY26NOVFUT", Product: domain.NRML, Quantity: -75, AvgPrice: 2450005}},
			Diffs:     1, By: "engine", At: exampleAt},
		domain.TypeReconciliationDiffFound: domain.ReconciliationDiffFound{Account: "acc-1", Mode: domain.Live, Kind: domain.DiffPositionMismatch,
			Instrument: "NFO:NIFTY26NOVFUT", Product: domain.NRML, Ours: 0, Theirs: -75, TheirAvgPrice: 2450005, Message: "the broker holds -75, the engine 0"},
		domain.TypePositionAdopted: domain.PositionAdopted{Account: "acc-1", Mode: domain.Live, Instrument: "NFO:NIFTY26NOVFUT", Product: domain.NRML,
			Quantity: -75, Previous: 0, AvgPrice: 2450005, By: "root", Reason: "sold in Kite web", At: exampleAt},
		domain.TypeUserRegistered: domain.UserRegistered{UserID: exampleUser, Username: "asha", Role: domain.RoleTrader,
			PasswordHash: examplePHC, PaperAccount: "paper-asha", By: "admin", At: exampleAt},
		domain.TypeUserPasswordChanged:  domain.UserPasswordChanged{UserID: exampleUser, PasswordHash: examplePHC, By: exampleUser, At: exampleAt},
		domain.TypeUserRoleChanged:      domain.UserRoleChanged{UserID: exampleUser, Role: domain.RoleViewer, By: "admin", At: exampleAt},
		domain.TypeUserSettingsUpdated:  domain.UserSettingsUpdated{UserID: exampleUser, Settings: map[string]string{"theme": "dark", "tz": "Asia/Kolkata"}, At: exampleAt},
		domain.TypeAccountAccessGranted: domain.AccountAccessGranted{AccountAccess: domain.AccountAccess{UserID: exampleUser, Account: "acc-1", By: "admin", At: exampleAt}},
		domain.TypeAccountAccessRevoked: domain.AccountAccessRevoked{AccountAccess: domain.AccountAccess{UserID: exampleUser, Account: "acc-1", By: "admin", At: exampleAt}},
		domain.TypeSessionStarted: domain.SessionStarted{Family: exampleFamily, UserID: exampleUser, TokenHash: exampleTokenHash,
			ExpiresAt: exampleAt.Add(7 * 24 * time.Hour), RemoteAddr: "127.0.0.1", At: exampleAt},
		domain.TypeSessionRefreshed: domain.SessionRefreshed{Family: exampleFamily, TokenHash: exampleTokenHash, ExpiresAt: exampleAt.Add(7 * 24 * time.Hour), At: exampleAt},
		domain.TypeSessionRevoked:   domain.SessionRevoked{Family: exampleFamily, UserID: exampleUser, Reason: domain.RevokeReuse, At: exampleAt},
		domain.TypeAPIKeyCreated: domain.APIKeyCreated{KeyID: exampleFamily, Source: "n8n", Account: "acc-1", Name: "alerts",
			Hash: exampleTokenHash, By: exampleUser, At: exampleAt},
		domain.TypeAPIKeyRevoked: domain.APIKeyRevoked{KeyID: exampleFamily, By: exampleUser, At: exampleAt},
	}
}

// normalize returns a copy of e with every time.Time in UTC, so that
// reflect.DeepEqual compares instants rather than locations.
func normalize(e domain.Event) domain.Event {
	v := reflect.New(reflect.TypeOf(e)).Elem()
	v.Set(reflect.ValueOf(e))
	normTimes(v)
	return v.Interface().(domain.Event)
}

var timeType = reflect.TypeFor[time.Time]()

func normTimes(v reflect.Value) {
	switch v.Kind() {
	case reflect.Struct:
		if v.Type() == timeType {
			v.Set(reflect.ValueOf(v.Interface().(time.Time).UTC()))
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				normTimes(v.Field(i))
			}
		}
	case reflect.Pointer:
		if !v.IsNil() {
			c := reflect.New(v.Type().Elem())
			c.Elem().Set(v.Elem())
			normTimes(c.Elem())
			v.Set(c)
		}
	}
}

// recorded stores ed as a store would: in stream at version and position.
func recorded(ed eventstore.EventData, stream string, version uint64, pos eventstore.Position) eventstore.RecordedEvent {
	return eventstore.RecordedEvent{
		ID: ed.ID, Stream: stream, Type: ed.Type, Version: version, Position: pos,
		RecordedAt: time.Date(2026, 11, 20, 4, 30, 0, 987654321, time.UTC),
		Data:       ed.Data, Metadata: ed.Metadata,
	}
}

var testID = uuid.MustParse("0193a5b2-7c1e-7d3a-9b2f-4e5d6c7b8a90")

// streamOf picks a plausible stream for an example event.
func streamOf(e domain.Event) string {
	switch v := e.(type) {
	case domain.Tick:
		return v.Stream()
	case domain.SignalRaised:
		return domain.SignalStream(v.Source)
	}
	return "test-" + e.EventType()
}
