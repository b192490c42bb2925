package api_test

import (
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/algoauto/algoauto/api"
	"github.com/algoauto/algoauto/domain"
	"github.com/algoauto/algoauto/eventstore/codec"
)

// optionsFixture serves the API without auth and checks every answer
// against the OpenAPI document.
func optionsFixture(t *testing.T) (*oaFixture, string) {
	t.Helper()
	doc := loadOpenAPI(t)
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	srv := api.NewServer(api.Config{}, api.Deps{Events: fakeReader{}, Registry: codec.NewRegistry()})
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return &oaFixture{testEnv: &testEnv{t: t}, doc: doc, router: router, covered: map[string]bool{}}, ts.URL
}

// Hull's 20-week option (PROTOCOLS.md §5 rows 2 and 3): T = 0.3846 years.
const hull = "spot=49&strike=50&days=140.379&rate=0.05"

func TestOptionGreeks(t *testing.T) {
	t.Parallel()
	f, base := optionsFixture(t)
	for _, c := range []struct {
		name  string
		query string
		want  map[string]float64 // field: value, to tol
		tol   float64
	}{
		{"CE at a vol", "type=CE&" + hull + "&vol=0.2", map[string]float64{
			"price": 2.400461, "iv": 0.2, "delta": 0.521602, "gamma": 0.065545,
			"theta": -0.011796, "vega": 0.121052, "rho": 0.089066,
		}, 1e-6},
		{"PE from a premium", "type=PE&" + hull + "&premium=2.448147", map[string]float64{
			"price": 2.448147, "iv": 0.2, "delta": -0.478398, "theta": -1.853006 / 365, "rho": -0.09957166,
		}, 1e-5},
		// QuantLib/Haug b = r - q = 0: the ATM-forward call is worth the put.
		{"CE with a dividend yield", "type=CE&spot=100&strike=100&days=182.5&rate=0.1&dividend=0.1&vol=0.25",
			map[string]float64{"price": 6.6997}, 1e-4},
		{"PE with a dividend yield", "type=PE&spot=100&strike=100&days=182.5&rate=0.1&dividend=0.1&vol=0.25",
			map[string]float64{"price": 6.6997}, 1e-4},
		// rate and dividend default to 0; a fraction of a day is fine.
		{"defaults", "type=PE&spot=24000&strike=23800&days=0.25&vol=0.18", nil, 0},
	} {
		b := f.do(oaCall{base: base, method: http.MethodGet, path: "/api/v1/options/greeks?" + c.query, status: http.StatusOK})
		var got map[string]float64
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("%s: %s: %v", c.name, b, err)
		}
		if len(got) != 7 {
			t.Errorf("%s: %s, want price, iv, delta, gamma, theta, vega, rho", c.name, b)
		}
		for k, want := range c.want {
			if math.Abs(got[k]-want) > c.tol {
				t.Errorf("%s: %s = %.9f, want %.9f ± %g", c.name, k, got[k], want, c.tol)
			}
		}
		if c.want == nil {
			want, err := domain.OptionInputs{Type: domain.InstrumentPut, Spot: 24000, Strike: 23800, Days: 0.25, Vol: 0.18}.Value()
			if err != nil || got["price"] != want.Price || got["theta"] != want.Theta || got["rho"] != want.Rho {
				t.Errorf("%s: %s, want %+v (%v)", c.name, b, want, err)
			}
		}
	}
}

func TestOptionGreeksRefusesBadInput(t *testing.T) {
	t.Parallel()
	f, base := optionsFixture(t)
	const ce = "type=CE&spot=100&strike=100&days=30&rate=0.07"
	for _, c := range []struct {
		query, field string
	}{
		{"spot=100&strike=100&days=30&vol=0.2", "type"},
		{"type=&spot=100&strike=100&days=30&vol=0.2", "type"},
		{"type=EQ&spot=100&strike=100&days=30&vol=0.2", "type"},
		{"type=ce&spot=100&strike=100&days=30&vol=0.2", "type"},
		{"type=CE&strike=100&days=30&vol=0.2", "spot"},
		{"type=CE&spot=&strike=100&days=30&vol=0.2", "spot"},
		{"type=CE&spot=abc&strike=100&days=30&vol=0.2", "spot"},
		{"type=CE&spot=0&strike=100&days=30&vol=0.2", "spot"},
		{"type=CE&spot=-5&strike=100&days=30&vol=0.2", "spot"},
		{"type=CE&spot=NaN&strike=100&days=30&vol=0.2", "spot"},
		{"type=CE&spot=Inf&strike=100&days=30&vol=0.2", "spot"},
		{"type=CE&spot=100&days=30&vol=0.2", "strike"},
		{"type=CE&spot=100&strike=0&days=30&vol=0.2", "strike"},
		{"type=CE&spot=100&strike=100&vol=0.2", "days"},
		{"type=CE&spot=100&strike=100&days=0&vol=0.2", "days"},
		{"type=CE&spot=100&strike=100&days=-1&vol=0.2", "days"},
		{"type=CE&spot=100&strike=100&days=5000&vol=0.2", "days"},
		{"type=CE&spot=100&strike=100&days=30&rate=7%25&vol=0.2", "rate"},
		{"type=CE&spot=100&strike=100&days=30&rate=2&vol=0.2", "rate"},
		{"type=CE&spot=100&strike=100&days=30&dividend=x&vol=0.2", "dividend"},
		{"type=CE&spot=100&strike=100&days=30&dividend=-1.5&vol=0.2", "dividend"},
		{ce, "vol"},
		{ce + "&vol=0", "vol"},
		{ce + "&vol=-0.2", "vol"},
		{ce + "&vol=abc", "vol"},
		{ce + "&vol=11", "vol"},
		{ce + "&vol=0.2&premium=3", "vol"},
		{ce + "&premium=0", "premium"},
		{ce + "&premium=-1", "premium"},
		{ce + "&premium=abc", "premium"},
		{ce + "&premium=100", "premium"}, // at the upper bound S·e^{-qT}
		{"type=CE&spot=120&strike=100&days=30&rate=0.07&premium=19", "premium"},   // below the discounted intrinsic 20.57
		{"type=PE&spot=80&strike=100&days=30&rate=0.07&premium=99.9", "premium"},  // above K·e^{-rT}
		{"type=CE&spot=100&strike=150&days=30&rate=0.07&premium=99.5", "premium"}, // implies more than 1000 %
		{ce + "&vol=0.2&div=0.01", "div"},                                         // unknown: would price at q = 0
		{"type=CE&spot=100&spot=101&strike=100&days=30&vol=0.2", "spot"},          // repeated
	} {
		b := f.do(oaCall{base: base, method: http.MethodGet, path: "/api/v1/options/greeks?" + c.query, status: http.StatusBadRequest, badRequest: true})
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if err := json.Unmarshal(b, &e); err != nil {
			t.Fatalf("%s: %s: %v", c.query, b, err)
		}
		if e.Error.Code != api.CodeInvalid || !strings.HasPrefix(e.Error.Message, c.field+": ") {
			t.Errorf("%s: %s, want code invalid naming %s", c.query, b, c.field)
		}
	}
}

// TestOptionGreeksNeedsToken: the calculator reads no account data but,
// like every /api/v1 route, needs a token when the server has auth; any
// role may use it.
func TestOptionGreeksNeedsToken(t *testing.T) {
	t.Parallel()
	if api.IsPublicPath("/api/v1/options/greeks") {
		t.Fatal("the calculator is public")
	}
	f := newOAFixture(t)
	const path = "/api/v1/options/greeks?type=CE&spot=100&strike=100&days=30&vol=0.2"
	f.do(oaCall{method: http.MethodGet, path: path, status: http.StatusUnauthorized})
	f.do(oaCall{method: http.MethodGet, path: path, token: f.trader, status: http.StatusOK})
}
