package api

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/algoauto/algoauto/domain"
	"github.com/algoauto/algoauto/projections"
)

// Option-chain routes over the options read model (projections.Options),
// under TrueData's names. Symbols are Kite tradingsymbols
// ("NIFTY26D0126000CE"), keys ("NFO:NIFTY26D0126000CE") or TrueData option
// symbols ("NIFTY26120126000CE"). Greeks are the vendor's when the last
// tick carried them, otherwise Black-Scholes at the volatility implied by
// the mid quote (see projections.Options).

// maxSubscribeSymbols bounds POST /api/v1/truedata/options/subscribe.
const maxSubscribeSymbols = 1000

// optionsError maps the options model's errors to the API's.
func optionsError(err error) error {
	switch {
	case errors.Is(err, projections.ErrNoOptions):
		return &Error{Code: CodeNotFound, Message: err.Error() + " (GET /api/v1/truedata/options/all-options lists the options held)"}
	case errors.Is(err, projections.ErrBadExpiry):
		return invalid("expiry", "%v", err)
	}
	return err
}

// noOption is the 404 of a symbol no option held answers to.
func noOption(symbol string) error {
	return &Error{Code: CodeNotFound, Message: fmt.Sprintf("no option %q (use a Kite tradingsymbol such as NIFTY26D0126000CE, NFO:<symbol> or TrueData's NIFTY26120126000CE; GET /api/v1/truedata/options/all-options lists them)", symbol)}
}

// handleOptionChain serves GET /api/v1/truedata/options/option-chain/
// {underlying}?expiry=YYYY-MM-DD: the chain of one expiry (default the
// nearest still trading) by strike, calls and puts with Greeks.
func (s *Server) handleOptionChain(w http.ResponseWriter, r *http.Request) {
	parse := func(r *http.Request) (string, error) { return r.URL.Query().Get("expiry"), nil }
	serveReadModel(s, w, r, "options", parse, func(m *projections.Options, expiry string) (answer, error) {
		ch, pos, err := m.Chain(strings.ToUpper(r.PathValue("underlying")), expiry)
		if err != nil {
			return answer{}, optionsError(err)
		}
		f := map[string]any{
			"underlying": ch.Underlying, "expiry": ch.Expiry, "expiries": ch.Expiries, "rate": ch.Rate,
			"call_oi": ch.CallOI, "put_oi": ch.PutOI, "pcr": ch.PCR, "strikes": ch.Strikes,
		}
		if ch.Spot > 0 {
			f["spot"], f["spot_time"], f["atm_strike"] = ch.Spot, ch.SpotTime, ch.ATMStrike
		}
		return answer{pos: pos, fields: f}, nil
	})
}

// handleOptionSymbolGreeks serves GET /api/v1/truedata/options/greeks/{symbol}:
// one option's Greeks and the inputs they were computed from.
func (s *Server) handleOptionSymbolGreeks(w http.ResponseWriter, r *http.Request) {
	serveReadModel(s, w, r, "options", noFilters, func(m *projections.Options, _ struct{}) (answer, error) {
		sym := r.PathValue("symbol")
		v, pos, ok := m.Option(sym)
		if !ok {
			return answer{}, noOption(sym)
		}
		f := map[string]any{
			"exchange": v.Exchange, "symbol": v.Symbol, "underlying": v.Underlying, "expiry": v.Expiry, "strike": v.Strike,
			"type": v.Type, "ltp": v.LTP, "exchange_time": v.ExchangeTime, "days_to_expiry": v.DaysToExpiry,
			"rate": m.Rate(), "greeks": v.Greeks,
		}
		if v.Spot > 0 {
			f["spot"] = v.Spot
		}
		if v.GreeksUnavailable != "" {
			f["greeks_unavailable"] = v.GreeksUnavailable
		}
		return answer{pos: pos, fields: f}, nil
	})
}

// handleOptionData serves GET /api/v1/truedata/options/data/{symbol}: one
// option's market data (last price, quote, volume, OI) with its Greeks.
func (s *Server) handleOptionData(w http.ResponseWriter, r *http.Request) {
	serveReadModel(s, w, r, "options", noFilters, func(m *projections.Options, _ struct{}) (answer, error) {
		sym := r.PathValue("symbol")
		v, pos, ok := m.Option(sym)
		if !ok {
			return answer{}, noOption(sym)
		}
		return answer{pos: pos, fields: map[string]any{"option": v}}, nil
	})
}

// handleAllOptions serves GET /api/v1/truedata/options/all-options
// ?underlying=: every option held (of one underlying), by underlying,
// expiry, strike and type, without Greeks.
func (s *Server) handleAllOptions(w http.ResponseWriter, r *http.Request) {
	parse := func(r *http.Request) (string, error) { return strings.ToUpper(r.URL.Query().Get("underlying")), nil }
	serveReadModel(s, w, r, "options", parse, func(m *projections.Options, underlying string) (answer, error) {
		list, pos := m.List(underlying)
		if list == nil {
			list = []projections.OptionQuote{}
		}
		return answer{pos: pos, fields: map[string]any{"underlyings": m.Underlyings(), "options": list}}, nil
	})
}

// OptionSubscription is one option POST /api/v1/truedata/options/subscribe
// answers for: the instrument and the WebSocket room that streams it.
type OptionSubscription struct {
	Requested  string                `json:"requested"`
	Exchange   string                `json:"exchange"`
	Symbol     string                `json:"symbol"`
	Underlying string                `json:"underlying"`
	Expiry     string                `json:"expiry"`
	Strike     domain.Price          `json:"strike"`
	Type       domain.InstrumentType `json:"type"`
	Room       string                `json:"room"`
}

// handleOptionSubscribe serves POST /api/v1/truedata/options/subscribe
// {"symbols":[...]}. The feeds in this build (the simulator) stream every
// option they list, so nothing is added: it answers which options the
// symbols are and the rooms (options:<underlying>, market:<symbol>) that
// carry them, and 400 naming the symbols no option held answers to.
func (s *Server) handleOptionSubscribe(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Symbols []string `json:"symbols"`
	}
	if err := decodeBody(r, &body, false); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	switch {
	case len(body.Symbols) == 0:
		writeError(w, r, s.log, invalid("symbols", "required: a non-empty list of option symbols"))
		return
	case len(body.Symbols) > maxSubscribeSymbols:
		writeError(w, r, s.log, invalid("symbols", "at most %d, got %d", maxSubscribeSymbols, len(body.Symbols)))
		return
	}
	m, err := liveModel[*projections.Options](s, "options")
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	found, unknown, pos := m.Lookup(body.Symbols)
	if len(unknown) > 0 {
		const show = 10
		names := slices.Clone(unknown[:min(len(unknown), show)])
		for i, n := range names {
			names[i] = fmt.Sprintf("%q", n)
		}
		more := ""
		if len(unknown) > show {
			more = fmt.Sprintf(" and %d more", len(unknown)-show)
		}
		writeError(w, r, s.log, invalid("symbols", "no option %s%s (GET /api/v1/truedata/options/all-options lists them)", strings.Join(names, ", "), more))
		return
	}
	subs := make([]OptionSubscription, 0, len(found))
	var rooms []string
	for i, q := range found {
		room := "options:" + q.Underlying
		subs = append(subs, OptionSubscription{Requested: body.Symbols[i], Exchange: q.Exchange, Symbol: q.Symbol, Underlying: q.Underlying,
			Expiry: q.Expiry, Strike: q.Strike, Type: q.Type, Room: room})
		if !slices.Contains(rooms, room) {
			rooms = append(rooms, room)
		}
	}
	slices.Sort(rooms)
	writeJSON(w, http.StatusOK, map[string]any{
		"position": uint64(pos), "subscribed": subs, "rooms": rooms,
		"note": "the feed already streams every option it lists; these are the options asked for and the WebSocket rooms that carry them",
	})
}
