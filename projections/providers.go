package projections

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/algoauto/algoauto/domain"
	"github.com/algoauto/algoauto/eventstore"
	"github.com/algoauto/algoauto/eventstore/codec"
)

// rateWindow is the span of event time the message rate is taken over.
const rateWindow = 60 // seconds

// FeedGapRef is a provider's last FeedGap.
type FeedGapRef struct {
	Dropped  int64     `json:"dropped"`
	From     time.Time `json:"from"`
	To       time.Time `json:"to"`
	Reason   string    `json:"reason"`
	Position uint64    `json:"position"`
}

// StaleSymbol is one symbol a provider reported stale.
type StaleSymbol struct {
	Symbol string    `json:"symbol"`
	Since  time.Time `json:"since"` // FeedStale's detected time
}

type rateBucket struct {
	Sec int64 `json:"s"` // Unix second of exchange time
	N   int64 `json:"n"`
}

// ProviderHealth is the health of one market-data provider, from its ticks
// and its FeedStale, FeedGap and FeedResynced events.
//
// Stale is set by a FeedStale for the whole provider (no symbol) and
// cleared by a FeedResynced for the whole provider or by a tick whose
// exchange time is after the stale detection. A FeedStale naming a symbol
// marks that symbol (StaleSymbols) until a FeedResynced for it (or for the
// whole provider) or a later tick of it. Connected is: a tick or a resync
// has been seen, and the provider is not stale.
type ProviderHealth struct {
	Provider     string        `json:"provider"`
	Connected    bool          `json:"connected"`
	Stale        bool          `json:"stale"`
	StaleSince   time.Time     `json:"stale_since,omitzero"`
	StaleSymbols []StaleSymbol `json:"stale_symbols,omitempty"` // sorted by symbol
	LastTickAt   time.Time     `json:"last_tick_at,omitzero"`   // latest tick exchange time
	Ticks        int64         `json:"ticks"`
	Gaps         int64         `json:"gaps"`
	Dropped      int64         `json:"dropped"` // ticks lost, summed over the gaps
	LastGap      *FeedGapRef   `json:"last_gap,omitempty"`
	ResyncedAt   time.Time     `json:"resynced_at,omitzero"`
	Resyncs      int64         `json:"resyncs"`
	Position     uint64        `json:"position"` // of its last event
	// MsgsPerSec is filled in by List (see the method of the same name).
	MsgsPerSec float64 `json:"msgs_per_sec"`
	// Window counts ticks per exchange-time second over the last minute,
	// indexed by second mod 60 (state only: List leaves it out).
	Window []rateBucket `json:"window,omitempty"`
}

// rate is the provider's ticks per second over the minute of exchange time
// that ends at its latest tick: ticks in (last−60 s, last] divided by 60.
func (h *ProviderHealth) rate() float64 {
	if h.LastTickAt.IsZero() {
		return 0
	}
	last := h.LastTickAt.Unix()
	var n int64
	for _, b := range h.Window {
		if b.Sec > last-rateWindow && b.Sec <= last {
			n += b.N
		}
	}
	return float64(n) / rateWindow
}

func (h *ProviderHealth) count(t time.Time) {
	if len(h.Window) != rateWindow {
		h.Window = make([]rateBucket, rateWindow)
	}
	s := t.Unix()
	i := s % rateWindow
	if i < 0 {
		i += rateWindow
	}
	b := &h.Window[i]
	switch {
	case b.Sec == s:
	case b.Sec > s:
		return // more than a minute older than a tick already counted
	default:
		*b = rateBucket{Sec: s}
	}
	b.N++
}

type providersState struct {
	Providers map[string]*ProviderHealth `json:"providers"`
	Bad       int64                      `json:"bad_events"`
}

// Providers folds ticks and feed incidents into each provider's health.
type Providers struct {
	state[providersState]
	reg *codec.Registry
	dec codec.TickDecoder
	t   domain.Tick
}

// NewProviders returns an empty provider-health projection decoding with reg.
func NewProviders(reg *codec.Registry) *Providers {
	return &Providers{state: state[providersState]{st: providersState{Providers: map[string]*ProviderHealth{}}}, reg: reg}
}

// Name implements Projection.
func (*Providers) Name() string { return "providers" }

// Version implements Projection.
func (*Providers) Version() int { return 1 }

// Filter implements Projection.
func (*Providers) Filter() eventstore.Filter {
	return eventstore.Filter{Types: []string{domain.TypeTickReceived, domain.TypeFeedStale, domain.TypeFeedGap, domain.TypeFeedResynced}}
}

func (p *Providers) provider(name string) *ProviderHealth {
	h := p.st.Providers[name]
	if h == nil {
		h = &ProviderHealth{Provider: strings.Clone(name), Window: make([]rateBucket, rateWindow)}
		p.st.Providers[h.Provider] = h
	}
	return h
}

// Apply implements Projection.
func (p *Providers) Apply(evs []eventstore.RecordedEvent, upTo eventstore.Position) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := range evs {
		ev := &evs[i]
		pos := uint64(ev.Position)
		switch ev.Type {
		case domain.TypeTickReceived:
			if err := p.dec.Decode(ev.Data, &p.t); err != nil {
				p.st.Bad++
				continue
			}
			p.tick(&p.t, pos)
		case domain.TypeFeedStale, domain.TypeFeedGap, domain.TypeFeedResynced:
			de, err := p.reg.Decode(ev)
			if err != nil {
				p.st.Bad++
				continue
			}
			p.incident(de, pos)
		}
	}
	p.advance(upTo)
}

func (p *Providers) tick(t *domain.Tick, pos uint64) {
	h := p.provider(t.Provider)
	h.Ticks++
	h.Position = pos
	if t.ExchangeTime.After(h.LastTickAt) {
		h.LastTickAt = t.ExchangeTime.UTC()
	}
	h.count(t.ExchangeTime)
	if h.Stale && t.ExchangeTime.After(h.StaleSince) {
		h.Stale, h.StaleSince = false, time.Time{}
	}
	if len(h.StaleSymbols) > 0 {
		h.StaleSymbols = slices.DeleteFunc(h.StaleSymbols, func(s StaleSymbol) bool {
			return (s.Symbol == t.Symbol || s.Symbol == t.Exchange+":"+t.Symbol) && t.ExchangeTime.After(s.Since)
		})
	}
	h.Connected = !h.Stale
}

func (p *Providers) incident(de domain.Event, pos uint64) {
	switch e := de.(type) {
	case domain.FeedStale:
		h := p.provider(e.Provider)
		h.Position = pos
		since := e.DetectedAt.UTC()
		if e.Symbol == "" {
			h.Stale, h.StaleSince = true, since
		} else {
			i, found := slices.BinarySearchFunc(h.StaleSymbols, e.Symbol, func(s StaleSymbol, sym string) int { return strings.Compare(s.Symbol, sym) })
			if found {
				h.StaleSymbols[i].Since = since
			} else {
				h.StaleSymbols = slices.Insert(h.StaleSymbols, i, StaleSymbol{Symbol: e.Symbol, Since: since})
			}
		}
		h.Connected = !h.Stale && (h.Ticks > 0 || h.Resyncs > 0)
	case domain.FeedResynced:
		h := p.provider(e.Provider)
		h.Position = pos
		h.Resyncs++
		h.ResyncedAt = e.ResumedAt.UTC()
		if e.Symbol == "" {
			h.Stale, h.StaleSince, h.StaleSymbols = false, time.Time{}, nil
		} else {
			h.StaleSymbols = slices.DeleteFunc(h.StaleSymbols, func(s StaleSymbol) bool { return s.Symbol == e.Symbol })
		}
		h.Connected = !h.Stale
	case domain.FeedGap:
		h := p.provider(e.Provider)
		h.Position = pos
		h.Gaps++
		h.Dropped += e.Dropped
		h.LastGap = &FeedGapRef{Dropped: e.Dropped, From: e.From.UTC(), To: e.To.UTC(), Reason: e.Reason, Position: pos}
	}
}

// UnmarshalState implements Projection.
func (p *Providers) UnmarshalState(b []byte) error {
	return p.load(b, "providers", providersState{}, func(st *providersState) error {
		if st.Providers == nil {
			st.Providers = map[string]*ProviderHealth{}
		}
		for name, h := range st.Providers {
			if h == nil {
				return fmt.Errorf("provider %q is null", name)
			}
			if len(h.Window) != rateWindow {
				return fmt.Errorf("provider %q has a rate window of %d seconds, want %d", name, len(h.Window), rateWindow)
			}
		}
		return nil
	})
}

// List returns copies of the providers' health sorted by name, and the log
// position they reflect.
func (p *Providers) List() ([]ProviderHealth, eventstore.Position) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	out := make([]ProviderHealth, 0, len(p.st.Providers))
	for _, h := range p.st.Providers {
		cp := *h
		cp.StaleSymbols = slices.Clone(h.StaleSymbols)
		cp.MsgsPerSec, cp.Window = h.rate(), nil
		if h.LastGap != nil {
			g := *h.LastGap
			cp.LastGap = &g
		}
		out = append(out, cp)
	}
	slices.SortFunc(out, func(a, b ProviderHealth) int { return strings.Compare(a.Provider, b.Provider) })
	return out, p.at()
}
