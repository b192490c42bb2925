package zerodha

import (
	"encoding/json"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/algoauto/algoauto/domain"
)

// The shapes of Kite's answers, with numbers kept as json.Number so that
// prices convert to paise exactly.

// kiteOrder is one row of GET /orders.
type kiteOrder struct {
	OrderID                 flexString  `json:"order_id"`
	Status                  string      `json:"status"`
	StatusMessage           string      `json:"status_message"`
	OrderTimestamp          kiteTime    `json:"order_timestamp"`
	ExchangeUpdateTimestamp kiteTime    `json:"exchange_update_timestamp"`
	ExchangeTimestamp       kiteTime    `json:"exchange_timestamp"`
	Exchange                string      `json:"exchange"`
	Tradingsymbol           string      `json:"tradingsymbol"`
	OrderType               string      `json:"order_type"`
	TransactionType         string      `json:"transaction_type"`
	Product                 string      `json:"product"`
	Quantity                json.Number `json:"quantity"`
	Price                   json.Number `json:"price"`
	TriggerPrice            json.Number `json:"trigger_price"`
	AveragePrice            json.Number `json:"average_price"`
	FilledQuantity          json.Number `json:"filled_quantity"`
	Tag                     string      `json:"tag"`
	Tags                    []string    `json:"tags"`
}

// tag is the order's client order id: its tag, or the first of its tags.
func (o kiteOrder) tag() string {
	if o.Tag != "" {
		return o.Tag
	}
	for _, t := range o.Tags {
		if t != "" {
			return t
		}
	}
	return ""
}

// updatedAt is the time of the order's latest change Kite reports.
func (o kiteOrder) updatedAt() time.Time {
	for _, t := range []kiteTime{o.ExchangeUpdateTimestamp, o.ExchangeTimestamp, o.OrderTimestamp} {
		if !t.IsZero() {
			return t.Time
		}
	}
	return time.Time{}
}

// kiteTrade is one row of GET /trades.
type kiteTrade struct {
	TradeID           flexString  `json:"trade_id"`
	OrderID           flexString  `json:"order_id"`
	Quantity          json.Number `json:"quantity"`
	AveragePrice      json.Number `json:"average_price"`
	FillTimestamp     kiteTime    `json:"fill_timestamp"`
	ExchangeTimestamp kiteTime    `json:"exchange_timestamp"`
}

// kitePosition is one row of the net list of GET /portfolio/positions.
type kitePosition struct {
	Tradingsymbol string      `json:"tradingsymbol"`
	Exchange      string      `json:"exchange"`
	Product       string      `json:"product"`
	Quantity      json.Number `json:"quantity"`
	AveragePrice  json.Number `json:"average_price"`
}

type kitePositions struct {
	Net []kitePosition `json:"net"`
	Day []kitePosition `json:"day"`
}

// kiteHolding is one row of GET /portfolio/holdings.
type kiteHolding struct {
	Tradingsymbol string      `json:"tradingsymbol"`
	Exchange      string      `json:"exchange"`
	Quantity      json.Number `json:"quantity"`
	T1Quantity    json.Number `json:"t1_quantity"`
	AveragePrice  json.Number `json:"average_price"`
}

// kiteProfile is the part of GET /user/profile the package reads.
type kiteProfile struct {
	UserID string `json:"user_id"`
}

// kiteOrderID is the data of a place, modify or cancel answer.
type kiteOrderID struct {
	OrderID flexString `json:"order_id"`
}

// flexString reads a JSON string or number (ids) as a string.
type flexString string

func (s *flexString) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*s = flexString(v)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("id %s: not a string or a number", b)
	}
	*s = flexString(n)
	return nil
}

// kiteTime reads Kite's timestamps: "yyyy-mm-dd hh:mm:ss" or a date in
// IST, or RFC 3339. Empty, null and unrecognised values are the zero time:
// a timestamp is never worth failing an answer for.
type kiteTime struct{ time.Time }

func (t *kiteTime) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return nil // null or not a string
	}
	s = strings.TrimSpace(s)
	for _, layout := range []string{time.DateTime, time.DateOnly} {
		if v, err := time.ParseInLocation(layout, s, domain.IST()); err == nil {
			t.Time = v
			return nil
		}
	}
	if v, err := time.Parse(time.RFC3339, s); err == nil {
		t.Time = v
	}
	return nil
}

// parseQty reads a quantity: an integer ("75", or "75.0").
func parseQty(n json.Number) (int64, error) {
	s := strings.TrimSpace(string(n))
	if s == "" {
		return 0, nil
	}
	if v, err := strconv.ParseInt(s, 10, 64); err == nil {
		return v, nil
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok || !r.IsInt() || !r.Num().IsInt64() {
		return 0, fmt.Errorf("quantity %q is not an integer", s)
	}
	return r.Num().Int64(), nil
}

// parsePrice reads a rupee amount to paise, rounding half away from zero;
// exact is false when it had to round (an average price).
func parsePrice(n json.Number) (p domain.Price, exact bool, err error) {
	s := strings.TrimSpace(string(n))
	if s == "" {
		return 0, true, nil
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return 0, false, fmt.Errorf("price %q is not a number", s)
	}
	r.Mul(r, big.NewRat(100, 1))
	num, den := r.Num(), r.Denom()
	q, m := new(big.Int).QuoRem(num, den, new(big.Int))
	exact = m.Sign() == 0
	if !exact {
		// |m| / den is the dropped fraction of a paisa; q is truncated
		// toward zero, so rounding half away from zero moves it outward.
		if new(big.Int).Lsh(new(big.Int).Abs(m), 1).Cmp(den) >= 0 {
			q.Add(q, big.NewInt(int64(num.Sign())))
		}
	}
	if !q.IsInt64() {
		return 0, false, fmt.Errorf("price %q is out of range", s)
	}
	return domain.Price(q.Int64()), exact, nil
}

// order maps a row of the order book.
func (b *Broker) order(o kiteOrder) (domain.BrokerOrder, error) {
	qty, err := parseQty(o.Quantity)
	if err != nil {
		return domain.BrokerOrder{}, fmt.Errorf("order %s: %w", o.OrderID, err)
	}
	filled, err := parseQty(o.FilledQuantity)
	if err != nil {
		return domain.BrokerOrder{}, fmt.Errorf("order %s: filled %w", o.OrderID, err)
	}
	var px [3]domain.Price
	for i, n := range []json.Number{o.Price, o.TriggerPrice, o.AveragePrice} {
		if px[i], _, err = parsePrice(n); err != nil {
			return domain.BrokerOrder{}, fmt.Errorf("order %s: %w", o.OrderID, err)
		}
	}
	return domain.BrokerOrder{
		BrokerOrderID: string(o.OrderID),
		ClientOrderID: o.tag(),
		Account:       b.cfg.Account,
		Exchange:      o.Exchange,
		Symbol:        o.Tradingsymbol,
		Side:          domain.Side(o.TransactionType),
		Type:          domain.OrderType(o.OrderType),
		Product:       domain.Product(o.Product),
		Quantity:      qty,
		FilledQty:     filled,
		Price:         px[0],
		TriggerPrice:  px[1],
		AvgPrice:      px[2],
		Status:        domain.BrokerOrderStatus(o.Status),
		Reason:        o.StatusMessage,
		UpdatedAt:     o.updatedAt(),
	}, nil
}

// validTag reports whether s is a valid Kite tag: 1 to 20 ASCII letters
// and digits.
func validTag(s string) bool {
	if len(s) == 0 || len(s) > 20 {
		return false
	}
	for _, c := range []byte(s) {
		if !('0' <= c && c <= '9' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z') {
			return false
		}
	}
	return true
}
