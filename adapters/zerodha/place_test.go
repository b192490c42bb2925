package zerodha_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/algoauto/algoauto/adapters/zerodha"
	"github.com/algoauto/algoauto/domain"
)

func TestPlaceSendsKiteForm(t *testing.T) {
	cases := []struct {
		typ  domain.OrderType
		algo string
		want map[string]string // "" : must be absent
	}{
		{domain.Market, "", map[string]string{"order_type": "MARKET", "market_protection": "-1", "price": "", "trigger_price": "", "algo_id": ""}},
		{domain.Limit, "ALGO42", map[string]string{"order_type": "LIMIT", "price": "100.05", "trigger_price": "", "market_protection": "", "algo_id": "ALGO42"}},
		{domain.StopLimit, "", map[string]string{"order_type": "SL", "price": "101.00", "trigger_price": "100.50", "market_protection": ""}},
		{domain.StopMkt, "", map[string]string{"order_type": "SL-M", "price": "", "trigger_price": "100.50", "market_protection": "-1"}},
	}
	for i, c := range cases {
		t.Run(string(c.typ), func(t *testing.T) {
			k := newKite(t)
			b := k.broker(t)
			in := intent(cid(i), c.typ)
			in.AlgoID = c.algo
			rep := mustPlace(t, b, in)
			if rep.ClientOrderID != in.ClientOrderID || rep.BrokerOrderID != "251123000000001" || !rep.At.Equal(at(10, 0, 0)) {
				t.Errorf("report %+v", rep)
			}
			forms := k.formsOf("POST /orders/regular")
			if len(forms) != 1 {
				t.Fatalf("%d place requests to /orders/regular, want 1 (requests %q)", len(forms), k.requestsSeen())
			}
			f := forms[0]
			common := map[string]string{"exchange": "NFO", "tradingsymbol": symbol, "transaction_type": "BUY",
				"quantity": "75", "product": "NRML", "validity": "DAY", "tag": in.ClientOrderID}
			for key, v := range common {
				if got := f.Get(key); got != v {
					t.Errorf("%s = %q, want %q", key, got, v)
				}
			}
			for key, v := range c.want {
				if _, present := f[key]; v == "" && present {
					t.Errorf("%s = %q, want absent", key, f.Get(key))
				} else if v != "" && f.Get(key) != v {
					t.Errorf("%s = %q, want %q", key, f.Get(key), v)
				}
			}
			if len(in.ClientOrderID) != 20 {
				t.Errorf("the engine's client order id %q is not 20 characters", in.ClientOrderID)
			}
		})
	}
}

// unknown is the expectation of an unknown outcome: an error that does not
// say "not sent".
func unknown(t *testing.T, rep domain.ExecutionReport, err error) {
	t.Helper()
	if err == nil {
		t.Fatalf("got report %+v, want an unknown-outcome error", rep)
	}
	if errors.Is(err, domain.ErrOrderNotSent) {
		t.Fatalf("error %v wraps ErrOrderNotSent; want an unknown outcome", err)
	}
}

func notSent(t *testing.T, rep domain.ExecutionReport, err error) {
	t.Helper()
	if !errors.Is(err, domain.ErrOrderNotSent) {
		t.Fatalf("got %+v, %v; want an error wrapping ErrOrderNotSent", rep, err)
	}
}

func TestPlaceOutcomes(t *testing.T) {
	raw := func(status int, body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) { writeRaw(w, status, body) }
	}
	kerr := func(status int, typ, msg string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) { kiteError(w, status, typ, msg) }
	}
	rejected := func(msg string) func(*testing.T, domain.ExecutionReport, error) {
		return func(t *testing.T, rep domain.ExecutionReport, err error) {
			t.Helper()
			if err != nil || rep.Kind != domain.ReportRejected || !strings.Contains(rep.Reason, msg) || rep.BrokerOrderID != "" {
				t.Fatalf("got %+v, %v; want REJECTED with %q", rep, err, msg)
			}
		}
	}
	cases := []struct {
		name    string
		handler http.HandlerFunc
		check   func(*testing.T, domain.ExecutionReport, error)
	}{
		{"success", raw(200, `{"status":"success","data":{"order_id":"151220000000000"}}`),
			func(t *testing.T, rep domain.ExecutionReport, err error) {
				if err != nil || rep.Kind != domain.ReportAccepted || rep.BrokerOrderID != "151220000000000" {
					t.Fatalf("got %+v, %v; want ACCEPTED 151220000000000", rep, err)
				}
			}},
		{"numeric order id", raw(200, `{"status":"success","data":{"order_id":151220000000001}}`),
			func(t *testing.T, rep domain.ExecutionReport, err error) {
				if err != nil || rep.BrokerOrderID != "151220000000001" {
					t.Fatalf("got %+v, %v; want ACCEPTED 151220000000001", rep, err)
				}
			}},
		{"InputException 400", kerr(400, "InputException", "Invalid `tradingsymbol`."), rejected("Invalid `tradingsymbol`.")},
		{"OrderException 400", kerr(400, "OrderException", "Order price is out of the circuit limits."), rejected("circuit limits")},
		{"MarginException 400", kerr(400, "MarginException", "Insufficient funds. Required margin is 95417.84"), rejected("Insufficient funds")},
		{"TokenException 403", kerr(403, "TokenException", "Incorrect `api_key` or `access_token`."), rejected("access_token")},
		{"PermissionException 403", kerr(403, "PermissionException", "Insufficient permission for that call."), rejected("Insufficient permission")},
		{"GeneralException 500", kerr(500, "GeneralException", "Something went wrong."), unknown},
		{"NetworkException 503", kerr(503, "NetworkException", "Couldn't reach the OMS."), unknown},
		{"HTML 502", raw(502, `<html><body>502 Bad Gateway</body></html>`), unknown},
		{"gateway timeout 504", raw(504, ``), unknown},
		{"NetworkException in a 400", kerr(400, "NetworkException", "Couldn't reach the OMS."), unknown},
		{"DataException in a 400", kerr(400, "DataException", "Couldn't parse the OMS response."), unknown},
		{"404 without an envelope", raw(404, `not found`), unknown},
		{"malformed 200", raw(200, `{"status":"success","data":{"order_id":`), unknown},
		{"200 not JSON", raw(200, `OK`), unknown},
		{"200 without an order id", raw(200, `{"status":"success","data":{}}`), unknown},
		{"200 error status", raw(200, `{"status":"error","message":"?"}`), unknown},
		{"429 from Kite", kerr(429, "NetworkException", "Too many requests"),
			func(t *testing.T, rep domain.ExecutionReport, err error) {
				notSent(t, rep, err)
				var ae *zerodha.APIError
				if !errors.As(err, &ae) || ae.Status != http.StatusTooManyRequests {
					t.Fatalf("error %v: want an *APIError with status 429", err)
				}
			}},
		{"429 without Kite's envelope", raw(429, `slow down`), unknown},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			k := newKite(t)
			k.set(func(k *fakeKite) { k.place = c.handler })
			b := k.broker(t)
			rep, err := b.Place(ctx, intent(cid(i), domain.Market))
			c.check(t, rep, err)
			if n := k.requestCount(); n != 1 {
				t.Errorf("%d requests, want 1", n)
			}
		})
	}
}

func TestPlaceTimeoutIsUnknown(t *testing.T) {
	k := newKite(t)
	reached := make(chan struct{}, 1)
	k.set(func(k *fakeKite) {
		k.place = func(w http.ResponseWriter, r *http.Request) {
			reached <- struct{}{}
			<-r.Context().Done() // past the client's timeout: the client gives up
		}
	})
	cfg := k.config(t)
	cfg.HTTPClient = &http.Client{Timeout: 100 * time.Millisecond}
	b := zerodha.New(cfg)
	rep, err := b.Place(ctx, intent(cid(1), domain.Market))
	unknown(t, rep, err)
	select {
	case <-reached:
	default:
		t.Fatal("the request never reached the server")
	}
}

func TestPlaceCancelledInFlightIsUnknown(t *testing.T) {
	k := newKite(t)
	reached := make(chan struct{})
	k.set(func(k *fakeKite) {
		k.place = func(w http.ResponseWriter, r *http.Request) {
			close(reached)
			<-r.Context().Done()
		}
	})
	b := k.broker(t)
	c, cancel := context.WithCancel(ctx)
	go func() {
		<-reached
		cancel()
	}()
	rep, err := b.Place(c, intent(cid(1), domain.Market))
	unknown(t, rep, err)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v does not wrap context.Canceled", err)
	}
}

func TestPlaceNotSent(t *testing.T) {
	t.Run("closed listener", func(t *testing.T) {
		k := newKite(t)
		b := k.broker(t)
		k.srv.Close() // connection refused
		rep, err := b.Place(ctx, intent(cid(1), domain.Market))
		notSent(t, rep, err)
	})
	t.Run("DNS failure", func(t *testing.T) {
		k := newKite(t)
		cfg := k.config(t)
		cfg.BaseURL = "http://kite.invalid"
		cfg.HTTPClient = &http.Client{Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				return nil, &net.OpError{Op: "dial", Net: network,
					Err: &net.DNSError{Err: "no such host", Name: "kite.invalid", IsNotFound: true}}
			},
		}}
		rep, err := zerodha.New(cfg).Place(ctx, intent(cid(1), domain.Market))
		notSent(t, rep, err)
	})
	t.Run("request cannot be built", func(t *testing.T) {
		k := newKite(t)
		cfg := k.config(t)
		cfg.BaseURL = "http://[::1"
		rep, err := zerodha.New(cfg).Place(ctx, intent(cid(1), domain.Market))
		notSent(t, rep, err)
	})
	t.Run("context already done", func(t *testing.T) {
		k := newKite(t)
		c, cancel := context.WithCancel(ctx)
		cancel()
		rep, err := k.broker(t).Place(c, intent(cid(1), domain.Market))
		notSent(t, rep, err)
		if n := k.requestCount(); n != 0 {
			t.Errorf("%d requests, want none", n)
		}
	})
	t.Run("no access token", func(t *testing.T) {
		k := newKite(t)
		cfg := k.config(t)
		cfg.AccessToken = ""
		rep, err := zerodha.New(cfg).Place(ctx, intent(cid(1), domain.Market))
		notSent(t, rep, err)
		if !errors.Is(err, zerodha.ErrNoSession) {
			t.Errorf("error %v does not wrap ErrNoSession", err)
		}
		if n := k.requestCount(); n != 0 {
			t.Errorf("%d requests, want none", n)
		}
	})
}

func TestPlaceRejectsWithoutSending(t *testing.T) {
	bad := func(f func(*domain.OrderIntentRecorded)) domain.OrderIntentRecorded {
		in := intent(cid(1), domain.Limit)
		f(&in)
		return in
	}
	cases := map[string]domain.OrderIntentRecorded{
		"invalid intent":    bad(func(in *domain.OrderIntentRecorded) { in.Quantity = 0 }),
		"other account":     bad(func(in *domain.OrderIntentRecorded) { in.Account = "acct2" }),
		"paper intent":      bad(func(in *domain.OrderIntentRecorded) { in.Mode = domain.Paper }),
		"tag too long":      bad(func(in *domain.OrderIntentRecorded) { in.ClientOrderID += "X" }),
		"tag not alphanum.": bad(func(in *domain.OrderIntentRecorded) { in.ClientOrderID = "sq-acct1-20261123" }),
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			k := newKite(t)
			rep, err := k.broker(t).Place(ctx, in)
			if err != nil || rep.Kind != domain.ReportRejected || rep.Reason == "" {
				t.Fatalf("got %+v, %v; want REJECTED with a reason", rep, err)
			}
			if n := k.requestCount(); n != 0 {
				t.Errorf("%d requests, want none", n)
			}
		})
	}
}

func TestPlaceTwiceDoesNotPlaceTwice(t *testing.T) {
	k := newKite(t)
	b := k.broker(t)
	first := mustPlace(t, b, intent(cid(1), domain.Market))
	again := mustPlace(t, b, intent(cid(1), domain.Market))
	if again.BrokerOrderID != first.BrokerOrderID || !strings.Contains(again.Reason, "duplicate") {
		t.Errorf("second place answered %+v; want the first order %s", again, first.BrokerOrderID)
	}
	if n := len(k.formsOf("POST /orders/regular")); n != 1 {
		t.Errorf("%d orders placed, want 1", n)
	}
}
