package projections

import (
	"slices"
	"time"

	"github.com/algoauto/algoauto/domain"
	"github.com/algoauto/algoauto/eventstore"
	"github.com/algoauto/algoauto/eventstore/codec"
)

// Signal statuses.
const (
	SignalPending  = "PENDING" // raised, not yet decided
	SignalAccepted = "ACCEPTED"
	SignalRejected = "REJECTED"
)

// MaxRecentSignals bounds the signals the read model keeps; older ones
// remain in the log.
const MaxRecentSignals = 10_000

// Signal is a raised signal and what became of it.
type Signal struct {
	domain.SignalRaised
	Status string `json:"status"`
	Rule   string `json:"rule,omitempty"` // the risk rule that refused it
	// RejectReason is why it was refused; Reason (of the raise) is why it
	// was raised.
	RejectReason string    `json:"reject_reason,omitempty"`
	OrderIDs     []string  `json:"order_ids,omitempty"`
	Position     uint64    `json:"position"` // of the raise
	DecidedAt    uint64    `json:"decided_at_position,omitempty"`
	RecordedAt   time.Time `json:"recorded_at"`
}

type signalsState struct {
	Signals []*Signal `json:"signals"` // in log order, the newest MaxRecentSignals
	Orphans int64     `json:"orphan_events"`
	Bad     int64     `json:"bad_events"`

	index map[string]*Signal // by signal id, derived from Signals (not encoded)
}

// Signals keeps recent signals with their outcome.
type Signals struct {
	state[signalsState]
	reg *codec.Registry
}

// NewSignals returns an empty signals projection decoding with reg.
func NewSignals(reg *codec.Registry) *Signals {
	return &Signals{state: state[signalsState]{st: signalsState{Signals: []*Signal{}, index: map[string]*Signal{}}}, reg: reg}
}

// Name implements Projection.
func (*Signals) Name() string { return "signals" }

// Version implements Projection.
func (*Signals) Version() int { return 2 } // 2: reject_reason no longer hides the raise's reason

var signalTypes = []string{domain.TypeSignalRaised, domain.TypeSignalAccepted, domain.TypeSignalRejected}

// Filter implements Projection.
func (*Signals) Filter() eventstore.Filter {
	return eventstore.Filter{Types: slices.Clone(signalTypes)}
}

// Apply implements Projection.
func (s *Signals) Apply(evs []eventstore.RecordedEvent, upTo eventstore.Position) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range evs {
		ev := &evs[i]
		if !slices.Contains(signalTypes, ev.Type) {
			continue
		}
		de, err := s.reg.Decode(ev)
		if err != nil {
			s.st.Bad++
			continue
		}
		switch e := de.(type) {
		case domain.SignalRaised:
			if s.st.index[e.SignalID] != nil {
				s.st.Orphans++ // raised twice: keep the first
				continue
			}
			sig := &Signal{SignalRaised: e, Status: SignalPending, Position: uint64(ev.Position), RecordedAt: ev.RecordedAt.UTC()}
			s.st.Signals = append(s.st.Signals, sig)
			s.st.index[e.SignalID] = sig
			if len(s.st.Signals) > MaxRecentSignals {
				delete(s.st.index, s.st.Signals[0].SignalID)
				s.st.Signals = slices.Delete(s.st.Signals, 0, 1)
			}
		case domain.SignalAccepted:
			if sig := s.st.index[e.SignalID]; sig != nil {
				sig.Status, sig.OrderIDs, sig.DecidedAt = SignalAccepted, e.OrderIDs, uint64(ev.Position)
			} else {
				s.st.Orphans++
			}
		case domain.SignalRejected:
			if sig := s.st.index[e.SignalID]; sig != nil {
				sig.Status, sig.Rule, sig.RejectReason, sig.DecidedAt = SignalRejected, e.Rule, e.Reason, uint64(ev.Position)
			} else {
				s.st.Orphans++
			}
		}
	}
	s.advance(upTo)
}

// UnmarshalState implements Projection.
func (s *Signals) UnmarshalState(b []byte) error {
	return s.load(b, "signals", signalsState{}, func(st *signalsState) error {
		if st.Signals == nil {
			st.Signals = []*Signal{}
		}
		st.index = make(map[string]*Signal, len(st.Signals))
		for _, sig := range st.Signals {
			st.index[sig.SignalID] = sig
		}
		return nil
	})
}

// SignalQuery selects signals, newest first. Accounts nil means every
// account (a signal without an account is visible to all who may see
// signals); Before pages backwards (the position of the last signal of the
// previous page; 0 = from the newest).
type SignalQuery struct {
	Accounts []string
	Strategy string
	Source   string
	Status   string
	Before   uint64
	Limit    int
}

// List returns the signals q selects, newest first.
func (s *Signals) List(q SignalQuery) ([]Signal, eventstore.Position) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := []Signal{}
	for i := len(s.st.Signals) - 1; i >= 0; i-- {
		sig := s.st.Signals[i]
		if q.Before != 0 && sig.Position >= q.Before {
			continue
		}
		if q.Accounts != nil && sig.Account != "" && !slices.Contains(q.Accounts, sig.Account) ||
			q.Strategy != "" && sig.Strategy != q.Strategy || q.Source != "" && sig.Source != q.Source ||
			q.Status != "" && sig.Status != q.Status {
			continue
		}
		c := *sig
		c.OrderIDs = slices.Clone(sig.OrderIDs)
		out = append(out, c)
		if q.Limit > 0 && len(out) == q.Limit {
			break
		}
	}
	return out, s.at()
}
