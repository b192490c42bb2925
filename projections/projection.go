package projections

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/algoauto/algoauto/eventstore"
)

// Projection is a read model folded from the log. Implementations are
// deterministic and safe for concurrent use: Apply (called by one runner
// goroutine) may run while queries read.
type Projection interface {
	// Name is the projection's stable name ("quotes", "positions").
	Name() string
	// Version is the code version of the fold. Changing it invalidates
	// stored snapshots: the projection rebuilds from the start of the log.
	Version() int
	// Filter selects the events the projection folds.
	Filter() eventstore.Filter
	// Apply folds evs (in log order, all matching Filter) and then records
	// that everything up to upTo (>= the last event's position) is folded.
	Apply(evs []eventstore.RecordedEvent, upTo eventstore.Position)
	// Position is the position folded so far.
	Position() eventstore.Position
	// MarshalState returns the canonical encoding of the whole state,
	// position included (equal states give equal bytes), and the position
	// it reflects, both read under one lock.
	MarshalState() ([]byte, eventstore.Position, error)
	// UnmarshalState replaces the state with one MarshalState produced.
	UnmarshalState(b []byte) error
}

// Factory makes an empty projection.
type Factory func() Projection

// Hash returns the canonical state hash of p: the hex SHA-256 of its
// MarshalState. Two replays of the same log to the same position give the
// same hash.
func Hash(p Projection) (string, error) {
	h, _, err := HashAt(p)
	return h, err
}

// HashAt returns the state hash of p and the position that state reflects,
// taken together.
func HashAt(p Projection) (string, eventstore.Position, error) {
	b, pos, err := p.MarshalState()
	if err != nil {
		return "", 0, fmt.Errorf("projection %s: marshal state: %w", p.Name(), err)
	}
	return hashBytes(b), pos, nil
}

func hashBytes(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
