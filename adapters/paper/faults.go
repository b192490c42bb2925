package paper

import (
	"errors"
	"fmt"

	"github.com/algoauto/algoauto/domain"
)

// FaultMode is how an injected fault makes a broker call fail.
type FaultMode int

// The fault modes. For Modify and Cancel, "accept" means "apply".
const (
	// FaultTimeoutAfterAccept: the call takes effect (the order exists at
	// the broker), then the answer is lost: the call returns ErrTimeout.
	FaultTimeoutAfterAccept FaultMode = iota + 1
	// FaultTimeoutBeforeAccept: the call does not take effect, but the
	// caller cannot know: it returns ErrTimeout.
	FaultTimeoutBeforeAccept
	// FaultNotSent: the call does not take effect and says so: the error
	// wraps domain.ErrOrderNotSent.
	FaultNotSent
)

func (f FaultMode) String() string {
	switch f {
	case FaultTimeoutAfterAccept:
		return "timeout after accept"
	case FaultTimeoutBeforeAccept:
		return "timeout before accept"
	case FaultNotSent:
		return "not sent"
	}
	return fmt.Sprintf("FaultMode(%d)", int(f))
}

// ErrTimeout is the ambiguous error of an injected timeout: the outcome is
// unknown to the caller, who must Lookup the order.
var ErrTimeout = errors.New("paper: simulated timeout, outcome unknown")

// errRefused is the cause of an injected FaultNotSent.
var errRefused = errors.New("paper: simulated connection refused")

type op int

const (
	opPlace op = iota
	opModify
	opCancel
)

// FailNextPlace makes the next Place call fail with mode. Faults queue:
// each call consumes the oldest one.
func (b *Broker) FailNextPlace(mode FaultMode) { b.addFault(opPlace, mode) }

// FailNextModify makes the next Modify call fail with mode.
func (b *Broker) FailNextModify(mode FaultMode) { b.addFault(opModify, mode) }

// FailNextCancel makes the next Cancel call fail with mode.
func (b *Broker) FailNextCancel(mode FaultMode) { b.addFault(opCancel, mode) }

func (b *Broker) addFault(o op, mode FaultMode) {
	if mode < FaultTimeoutAfterAccept || mode > FaultNotSent {
		panic(fmt.Sprintf("paper: unknown fault mode %d", int(mode))) // a programming error in a test
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.faults[o] = append(b.faults[o], mode)
}

// popFault takes the oldest queued fault of o. b.mu is held.
func (b *Broker) popFault(o op) (FaultMode, bool) {
	q := b.faults[o]
	if len(q) == 0 {
		return 0, false
	}
	b.faults[o] = q[1:]
	return q[0], true
}

func faultErr(call, clientID string, f FaultMode) error {
	if f == FaultNotSent {
		return fmt.Errorf("paper: %s %s: %w: %w", call, clientID, domain.ErrOrderNotSent, errRefused)
	}
	return fmt.Errorf("paper: %s %s: %w", call, clientID, ErrTimeout)
}
