package instruments

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/algoauto/algoauto/domain"
)

// Errors that lookups wrap; test with errors.Is.
var (
	// ErrNotFound: no instrument has that name, or no contract matches.
	ErrNotFound = errors.New("instrument not found")
	// ErrAmbiguous: more than one instrument matches; qualify the name
	// with its exchange ("NSE:RELIANCE").
	ErrAmbiguous = errors.New("ambiguous instrument name")
	// ErrNeedsTime: the name depends on what is current (NIFTY-I) and was
	// resolved without an as-of time; use ResolveAt.
	ErrNeedsTime = errors.New("alias depends on the current contract and needs an as-of time (use ResolveAt)")
)

// Options configures New.
type Options struct {
	// FreezeLimits maps an underlying (Instrument.Name, e.g. "NIFTY") to its
	// NSE quantity freeze limit in units. New copies it into FreezeQty of
	// every NFO future and option of that underlying whose FreezeQty is 0.
	// Nil means DefaultFreezeLimits(); an empty non-nil map applies none.
	FreezeLimits map[string]int64
}

// Master is an immutable, concurrency-safe set of instruments. See the
// package documentation for its contract. The zero value is not usable;
// build one with New, LoadKiteCSV or Simulated.
type Master struct {
	insts   []domain.Instrument // sorted by key
	byKey   map[string]int
	byToken map[uint32]int
	bySym   map[string][]int  // bare tradingsymbol -> indices, in key order
	chains  map[string]*chain // by underlying (Instrument.Name)
	names   []string          // chain names, longest first, for prefix matching
	options map[optKey][]int  // in key order
}

// chain is the derivatives of one underlying.
type chain struct {
	futures []int // by expiry, then key
	// expiries of FUT, CE and PE contracts, and of all of them under "",
	// sorted, unique, midnight IST.
	expiries map[domain.InstrumentType][]time.Time
	options  []time.Time            // expiries of CE or PE contracts
	strikes  map[day][]domain.Price // option strikes by expiry date, sorted, unique
}

// optKey identifies an option contract by its economics.
type optKey struct {
	name   string
	day    day
	strike domain.Price
	typ    domain.InstrumentType
}

// day is an IST calendar date, yyyymmdd.
type day int32

func dayOf(t time.Time) day {
	y, m, d := t.In(domain.IST()).Date()
	return day(y*10000 + int(m)*100 + d)
}

// midnight returns midnight IST of t's IST date.
func midnight(t time.Time) time.Time {
	y, m, d := t.In(domain.IST()).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, domain.IST())
}

// expiresAt returns 15:30 IST of the expiry date e.
func expiresAt(e time.Time) time.Time {
	return domain.Instrument{Expiry: e}.ExpiresAt()
}

// live reports whether a contract expiring on date e is still trading at
// at: at is before 15:30 IST of e.
func live(e, at time.Time) bool { return at.Before(expiresAt(e)) }

// isDerivative reports whether t is a future or an option.
func isDerivative(t domain.InstrumentType) bool {
	return t == domain.InstrumentFuture || t.IsOption()
}

// New builds a Master from insts, which it copies. Each instrument needs an
// exchange (without ':') and a tradingsymbol; keys must be unique; futures
// and options need an expiry. Expiries are normalised to midnight IST of
// their IST date. A future or option without a Name gets the underlying
// its tradingsymbol implies when it follows Kite's format for its expiry
// (BANKNIFTY18JAN23500CE -> BANKNIFTY). FreezeQty is filled as described
// at Options.FreezeLimits.
func New(insts []domain.Instrument, opts Options) (*Master, error) {
	limits := opts.FreezeLimits
	if limits == nil {
		limits = defaultFreezeLimits
	}
	type row struct {
		in  domain.Instrument
		seq int
	}
	rows := make([]row, len(insts))
	var errs []error
	for i, in := range insts {
		if err := normalise(&in, limits); err != nil {
			errs = append(errs, fmt.Errorf("instrument %d (%s): %w", i, in.Key(), err))
			if len(errs) == 10 {
				break
			}
		}
		rows[i] = row{in, i}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("instruments: %w", errors.Join(errs...))
	}
	slices.SortStableFunc(rows, func(a, b row) int { return strings.Compare(a.in.Key(), b.in.Key()) })

	m := &Master{
		insts:   make([]domain.Instrument, len(rows)),
		byKey:   make(map[string]int, len(rows)),
		byToken: make(map[uint32]int, len(rows)),
		bySym:   make(map[string][]int, len(rows)),
		chains:  make(map[string]*chain),
		options: make(map[optKey][]int),
	}
	tokenSeq := make(map[uint32]int, len(rows))
	for i, r := range rows {
		in := r.in
		k := in.Key()
		if i > 0 && m.insts[i-1].Key() == k {
			return nil, fmt.Errorf("instruments: duplicate instrument %s", k)
		}
		m.insts[i] = in
		m.byKey[k] = i
		m.bySym[in.Symbol] = append(m.bySym[in.Symbol], i)
		if in.Token != 0 {
			if j, ok := m.byToken[in.Token]; !ok || laterContract(in, r.seq, m.insts[j], tokenSeq[in.Token]) {
				m.byToken[in.Token] = i
				tokenSeq[in.Token] = r.seq
			}
		}
		if in.Name == "" || !isDerivative(in.Type) {
			continue
		}
		c := m.chains[in.Name]
		if c == nil {
			c = &chain{expiries: make(map[domain.InstrumentType][]time.Time), strikes: make(map[day][]domain.Price)}
			m.chains[in.Name] = c
		}
		c.expiries[in.Type] = append(c.expiries[in.Type], in.Expiry)
		c.expiries[""] = append(c.expiries[""], in.Expiry)
		if in.Type == domain.InstrumentFuture {
			c.futures = append(c.futures, i)
			continue
		}
		c.options = append(c.options, in.Expiry)
		d := dayOf(in.Expiry)
		c.strikes[d] = append(c.strikes[d], in.Strike)
		ok := optKey{in.Name, d, in.Strike, in.Type}
		m.options[ok] = append(m.options[ok], i)
	}
	for name, c := range m.chains {
		m.names = append(m.names, name)
		slices.SortStableFunc(c.futures, func(a, b int) int { return m.insts[a].Expiry.Compare(m.insts[b].Expiry) })
		for t, es := range c.expiries {
			c.expiries[t] = uniqueTimes(es)
		}
		c.options = uniqueTimes(c.options)
		for d, ss := range c.strikes {
			slices.Sort(ss)
			c.strikes[d] = slices.Compact(ss)
		}
	}
	slices.SortFunc(m.names, func(a, b string) int {
		return cmp.Or(cmp.Compare(len(b), len(a)), strings.Compare(a, b))
	})
	return m, nil
}

// normalise validates in and fills the derived fields.
func normalise(in *domain.Instrument, limits map[string]int64) error {
	switch {
	case in.Exchange == "":
		return errors.New("empty exchange")
	case strings.ContainsRune(in.Exchange, ':'):
		return errors.New("exchange contains ':'")
	case in.Symbol == "":
		return errors.New("empty tradingsymbol")
	case isDerivative(in.Type) && in.Expiry.IsZero():
		return fmt.Errorf("%s contract without an expiry", in.Type)
	}
	if !in.Expiry.IsZero() {
		in.Expiry = midnight(in.Expiry)
	}
	if in.Name == "" && isDerivative(in.Type) {
		in.Name = underlyingOf(*in)
	}
	if in.FreezeQty == 0 && in.Exchange == domain.ExchangeNFO && isDerivative(in.Type) {
		in.FreezeQty = limits[in.Name]
	}
	return nil
}

// laterContract reports whether a (given at position seqA) supersedes b
// (at seqB) as the owner of a shared token: a later expiry wins, no expiry
// counts as latest, and on a tie the later position wins.
func laterContract(a domain.Instrument, seqA int, b domain.Instrument, seqB int) bool {
	switch {
	case a.Expiry.IsZero() != b.Expiry.IsZero():
		return a.Expiry.IsZero()
	case !a.Expiry.Equal(b.Expiry):
		return a.Expiry.After(b.Expiry)
	default:
		return seqA > seqB
	}
}

func uniqueTimes(ts []time.Time) []time.Time {
	slices.SortFunc(ts, time.Time.Compare)
	return slices.CompactFunc(ts, time.Time.Equal)
}

// Len returns the number of instruments.
func (m *Master) Len() int { return len(m.insts) }

// Instruments returns every instrument, sorted by key.
func (m *Master) Instruments() []domain.Instrument { return slices.Clone(m.insts) }

// Lookup returns the instrument with the canonical key "EXCHANGE:SYMBOL",
// exactly as written (no aliases; see Resolve for those).
func (m *Master) Lookup(key string) (domain.Instrument, bool) {
	i, ok := m.byKey[key]
	if !ok {
		return domain.Instrument{}, false
	}
	return m.insts[i], true
}

// ByToken returns the instrument with the given instrument token. Tokens
// are reused across expiries: when several instruments share one, the
// latest expiry wins (see the package documentation).
func (m *Master) ByToken(token uint32) (domain.Instrument, bool) {
	i, ok := m.byToken[token]
	if !ok {
		return domain.Instrument{}, false
	}
	return m.insts[i], true
}

// Underlyings returns the names of the underlyings that have futures or
// options, sorted.
func (m *Master) Underlyings() []string {
	out := slices.Clone(m.names)
	slices.Sort(out)
	return out
}

// chainOf returns the chain of underlying or an error naming it.
func (m *Master) chainOf(underlying string) (*chain, error) {
	c := m.chains[underlying]
	if c == nil {
		return nil, fmt.Errorf("instruments: no futures or options on underlying %q: %w", underlying, ErrNotFound)
	}
	return c, nil
}

// Expiries returns the expiry dates (midnight IST, ascending) of the
// underlying's contracts of type typ that are live at at (at is before
// their 15:30 IST close). typ is FUT, CE or PE; the zero type means any
// future or option. A zero at returns every expiry. An unknown underlying
// or type gives nil.
func (m *Master) Expiries(underlying string, typ domain.InstrumentType, at time.Time) []time.Time {
	c := m.chains[underlying]
	if c == nil {
		return nil
	}
	return liveFrom(c.expiries[typ], at)
}

// liveFrom returns a copy of the expiries in es (ascending) live at at.
func liveFrom(es []time.Time, at time.Time) []time.Time {
	i, _ := slices.BinarySearchFunc(es, at, func(e, at time.Time) int {
		if live(e, at) {
			return 1
		}
		return -1
	})
	if i == len(es) {
		return nil
	}
	return slices.Clone(es[i:])
}

// Futures returns the underlying's futures live at at, nearest expiry
// first (a zero at: all of them).
func (m *Master) Futures(underlying string, at time.Time) []domain.Instrument {
	c := m.chains[underlying]
	if c == nil {
		return nil
	}
	var out []domain.Instrument
	for _, i := range c.futures {
		if live(m.insts[i].Expiry, at) {
			out = append(out, m.insts[i])
		}
	}
	return out
}

// Future returns the current-month future of underlying at at: the one
// with the nearest expiry whose ExpiresAt is after at. At 15:30 IST on
// expiry day that is already the next month's contract.
func (m *Master) Future(underlying string, at time.Time) (domain.Instrument, error) {
	return m.nthFuture(underlying, 1, at)
}

// nthFuture returns the n-th (1-based) live future of underlying at at.
func (m *Master) nthFuture(underlying string, n int, at time.Time) (domain.Instrument, error) {
	c, err := m.chainOf(underlying)
	if err != nil {
		return domain.Instrument{}, err
	}
	var exp []time.Time // distinct live expiries, ascending
	var byExp [][]int
	for _, i := range c.futures {
		e := m.insts[i].Expiry
		if !live(e, at) {
			continue
		}
		if len(exp) == 0 || !exp[len(exp)-1].Equal(e) {
			if len(exp) == n {
				break
			}
			exp = append(exp, e)
			byExp = append(byExp, nil)
		}
		byExp[len(byExp)-1] = append(byExp[len(byExp)-1], i)
	}
	if len(exp) < n {
		return domain.Instrument{}, fmt.Errorf("instruments: %s has %d live future(s) at %s, want the %s: %w",
			underlying, len(exp), at.In(domain.IST()).Format(time.RFC3339), ordinal(n), ErrNotFound)
	}
	return m.one(fmt.Sprintf("%s future expiring %s", underlying, exp[n-1].Format(time.DateOnly)), byExp[n-1])
}

func ordinal(n int) string {
	switch n {
	case 1:
		return "1st"
	case 2:
		return "2nd"
	case 3:
		return "3rd"
	}
	return fmt.Sprintf("%dth", n)
}

// one returns the single instrument among idx, or an error naming what.
func (m *Master) one(what string, idx []int) (domain.Instrument, error) {
	switch len(idx) {
	case 0:
		return domain.Instrument{}, fmt.Errorf("instruments: %s: %w", what, ErrNotFound)
	case 1:
		return m.insts[idx[0]], nil
	}
	return domain.Instrument{}, fmt.Errorf("instruments: %s matches %s: %w", what, m.keys(idx), ErrAmbiguous)
}

func (m *Master) keys(idx []int) string {
	ks := make([]string, len(idx))
	for i, j := range idx {
		ks[i] = m.insts[j].Key()
	}
	return strings.Join(ks, ", ")
}

// Option returns the option of underlying expiring on the IST date of
// expiry with the given strike and type (CE or PE).
func (m *Master) Option(underlying string, expiry time.Time, strike domain.Price, typ domain.InstrumentType) (domain.Instrument, error) {
	what := fmt.Sprintf("%s %s %s %s option", underlying, expiry.In(domain.IST()).Format(time.DateOnly), strike, typ)
	if !typ.IsOption() {
		return domain.Instrument{}, fmt.Errorf("instruments: %s: type must be CE or PE: %w", what, ErrNotFound)
	}
	return m.one(what, m.options[optKey{underlying, dayOf(expiry), strike, typ}])
}

// Strikes returns the strikes listed for underlying's options (calls or
// puts) expiring on the IST date of expiry, ascending; nil if none.
func (m *Master) Strikes(underlying string, expiry time.Time) []domain.Price {
	c := m.chains[underlying]
	if c == nil {
		return nil
	}
	return slices.Clone(c.strikes[dayOf(expiry)])
}

// ATMStrike returns the listed strike of underlying's options expiring on
// the IST date of expiry that is nearest to spot. When spot lies exactly
// halfway between two strikes the lower one wins.
func (m *Master) ATMStrike(underlying string, expiry time.Time, spot domain.Price) (domain.Price, error) {
	c, err := m.chainOf(underlying)
	if err != nil {
		return 0, err
	}
	ss := c.strikes[dayOf(expiry)]
	if len(ss) == 0 {
		return 0, fmt.Errorf("instruments: no %s options expiring %s: %w",
			underlying, expiry.In(domain.IST()).Format(time.DateOnly), ErrNotFound)
	}
	i, _ := slices.BinarySearch(ss, spot) // ss[i-1] < spot <= ss[i]
	switch {
	case i == 0:
		return ss[0], nil
	case i == len(ss):
		return ss[len(ss)-1], nil
	case spot-ss[i-1] <= ss[i]-spot:
		return ss[i-1], nil
	default:
		return ss[i], nil
	}
}

// NearestWeekly returns the nearest option expiry of underlying live at
// at (its 15:30 IST close is after at), as midnight IST. For an underlying
// with only monthly options (BANKNIFTY since Nov 2024) that is the monthly
// expiry.
func (m *Master) NearestWeekly(underlying string, at time.Time) (time.Time, error) {
	c, err := m.chainOf(underlying)
	if err != nil {
		return time.Time{}, err
	}
	es := liveFrom(c.options, at)
	if len(es) == 0 {
		return time.Time{}, fmt.Errorf("instruments: no %s options live at %s: %w",
			underlying, at.In(domain.IST()).Format(time.RFC3339), ErrNotFound)
	}
	return es[0], nil
}
