package projections

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/algoauto/algoauto/eventstore"
)

// state is what every read model shares: the lock, the position folded so
// far and the model's own state S. A projection embeds it, which gives it
// Position and MarshalState; its UnmarshalState calls load with its own
// checks. Apply holds mu for writing and ends with advance; queries hold it
// for reading and answer at().
//
// The encoding is one JSON object: "position" first, then the members of S
// (a struct with no "position" member of its own). encoding/json writes map
// keys sorted, so equal states give equal bytes.
type state[S any] struct {
	mu  sync.RWMutex
	pos uint64 // guarded by mu
	st  S      // guarded by mu
}

// at is the position folded so far. The caller holds mu.
func (s *state[S]) at() eventstore.Position { return eventstore.Position(s.pos) }

// advance records that the log is folded up to upTo. The caller holds mu
// for writing.
func (s *state[S]) advance(upTo eventstore.Position) { s.pos = max(s.pos, uint64(upTo)) }

// Position implements Projection.
func (s *state[S]) Position() eventstore.Position {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.at()
}

// MarshalState implements Projection.
func (s *state[S]) MarshalState() ([]byte, eventstore.Position, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	body, err := json.Marshal(&s.st)
	if err != nil {
		return nil, s.at(), err
	}
	if len(body) < 2 || body[0] != '{' {
		return nil, s.at(), errors.New("state is not a JSON object")
	}
	b := append(make([]byte, 0, len(body)+32), `{"position":`...)
	b = strconv.AppendUint(b, s.pos, 10)
	if len(body) > 2 {
		b = append(b, ',')
	}
	return append(b, body[1:]...), s.at(), nil
}

// load replaces the state with the one b encodes (see MarshalState),
// decoded over st. check, if not nil, validates and completes the decoded
// state (nil maps, derived indexes) before it is swapped in. Errors are
// prefixed with "<name> state: ".
func (s *state[S]) load(b []byte, name string, st S, check func(*S) error) error {
	var head struct {
		Position uint64 `json:"position"`
	}
	err := json.Unmarshal(b, &st)
	if err == nil {
		err = json.Unmarshal(b, &head)
	}
	if err == nil && check != nil {
		err = check(&st)
	}
	if err != nil {
		return fmt.Errorf("%s state: %w", name, err)
	}
	s.mu.Lock()
	s.pos, s.st = head.Position, st
	s.mu.Unlock()
	return nil
}
