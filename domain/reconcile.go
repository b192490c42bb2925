package domain

import (
	"slices"
	"time"
)

// Stable event type names of the reconciliation family.
const (
	TypeBrokerSnapshotObserved  = "BrokerSnapshotObserved"
	TypeReconciliationDiffFound = "ReconciliationDiffFound"
	TypePositionAdopted         = "PositionAdopted"
)

// ReconcileStream returns the reconciliation stream of an account:
// "reconcile-<account>".
func ReconcileStream(account string) string { return "reconcile-" + account }

// AdoptConfirm is the typed confirmation adopting a broker position needs.
const AdoptConfirm = "ADOPT"

// Kinds of difference between the engine's view of an account and its
// broker's.
const (
	// DiffPositionMismatch: the net quantities of an instrument and
	// product differ (Ours, Theirs).
	DiffPositionMismatch = "position_mismatch"
	// DiffHoldingMismatch: the broker's delivery quantity of an instrument
	// (Theirs: its holding, plus the day's CNC position for a broker that
	// reports the two apart) differs from the engine's CNC position in it
	// (Ours: its long part when the broker's positions report the whole).
	DiffHoldingMismatch = "holding_mismatch"
	// DiffUnknownBrokerOrder: the broker has a live order the engine does
	// not know.
	DiffUnknownBrokerOrder = "unknown_broker_order"
	// DiffMissingOrder: the engine has an open order the broker does not
	// have.
	DiffMissingOrder = "missing_order"
	// DiffStatusMismatch: both know the order, but one has it open and the
	// other final, or their final states or filled quantities differ.
	DiffStatusMismatch = "status_mismatch"
	// DiffBrokerUnavailable: the broker could not be asked. A missing
	// report is no evidence of a flat account.
	DiffBrokerUnavailable = "broker_unavailable"
)

// BrokerSnapshotObserved records what an account's broker reported when
// the engine checked its view against it: the orders that matter to the
// check (live at the broker, open in the engine, or different) out of
// OrdersSeen, every position and every delivery holding. Error says why
// the broker could not be asked; the snapshot then holds nothing. It starts a check: the
// ReconciliationDiffFound events appended with it, in the same append, are
// the check's differences (Diffs says how many).
type BrokerSnapshotObserved struct {
	Account    string           `json:"account"`
	Mode       Mode             `json:"mode"`
	Broker     string           `json:"broker,omitempty"`
	Orders     []BrokerOrder    `json:"orders"`
	OrdersSeen int              `json:"orders_seen"`
	Positions  []BrokerPosition `json:"positions"`
	Holdings   []BrokerHolding  `json:"holdings,omitempty"`
	Error      string           `json:"error,omitempty"`
	Diffs      int              `json:"diffs"`
	By         string           `json:"by"`
	At         time.Time        `json:"at"`
}

// EventType implements Event.
func (BrokerSnapshotObserved) EventType() string { return TypeBrokerSnapshotObserved }

// Validate implements Event.
func (e BrokerSnapshotObserved) Validate() error {
	c := checker{typ: TypeBrokerSnapshotObserved}
	c.nonEmpty("account", e.Account)
	if !e.Mode.Valid() {
		c.fail("mode", "must be paper or live, got %q", e.Mode)
	}
	c.nonNegative("orders_seen", int64(e.OrdersSeen))
	if e.OrdersSeen < len(e.Orders) {
		c.fail("orders_seen", "must be >= the %d orders recorded, got %d", len(e.Orders), e.OrdersSeen)
	}
	c.nonNegative("diffs", int64(e.Diffs))
	c.nonEmpty("by", e.By)
	c.timeSet("at", e.At)
	return c.result()
}

// ReconciliationDiffFound is one difference between the engine's view of an
// account and its broker's, found by the check its BrokerSnapshotObserved
// started. Which fields are set depends on Kind: Instrument
// ("EXCHANGE:SYMBOL") and Product for positions and holdings (CNC); the
// order ids, statuses
// and filled quantities (Ours, Theirs) for orders; Message always says it
// in words. Trading on the account is blocked until a later check finds no
// difference or an admin adopts the broker's view (PositionAdopted).
type ReconciliationDiffFound struct {
	Account       string  `json:"account"`
	Mode          Mode    `json:"mode"`
	Kind          string  `json:"kind"`
	Instrument    string  `json:"instrument,omitempty"`
	Product       Product `json:"product,omitempty"`
	OrderID       string  `json:"order_id,omitempty"`
	ClientOrderID string  `json:"client_order_id,omitempty"`
	BrokerOrderID string  `json:"broker_order_id,omitempty"`
	Ours          int64   `json:"ours"`
	Theirs        int64   `json:"theirs"`
	OurStatus     string  `json:"our_status,omitempty"`
	TheirStatus   string  `json:"their_status,omitempty"`
	TheirAvgPrice Price   `json:"their_avg_price,omitempty"`
	Message       string  `json:"message"`
}

// EventType implements Event.
func (ReconciliationDiffFound) EventType() string { return TypeReconciliationDiffFound }

// Validate implements Event.
func (e ReconciliationDiffFound) Validate() error {
	c := checker{typ: TypeReconciliationDiffFound}
	c.nonEmpty("account", e.Account)
	if !e.Mode.Valid() {
		c.fail("mode", "must be paper or live, got %q", e.Mode)
	}
	switch e.Kind {
	case DiffPositionMismatch:
		c.nonEmpty("instrument", e.Instrument)
		if !e.Product.Valid() {
			c.fail("product", "must be MIS, NRML or CNC, got %q", e.Product)
		}
		if e.Ours == e.Theirs {
			c.fail("theirs", "must differ from ours (%d) for a %s", e.Ours, e.Kind)
		}
	case DiffHoldingMismatch:
		c.nonEmpty("instrument", e.Instrument)
		if e.Product != CNC {
			c.fail("product", "must be CNC for a %s, got %q", e.Kind, e.Product)
		}
		if e.Ours == e.Theirs {
			c.fail("theirs", "must differ from ours (%d) for a %s", e.Ours, e.Kind)
		}
	case DiffUnknownBrokerOrder:
		c.nonEmpty("instrument", e.Instrument)
		if e.ClientOrderID == "" && e.BrokerOrderID == "" {
			c.fail("broker_order_id", "must not be empty without a client_order_id")
		}
	case DiffMissingOrder, DiffStatusMismatch:
		c.nonEmpty("instrument", e.Instrument)
		c.nonEmpty("order_id", e.OrderID)
	case DiffBrokerUnavailable:
	default:
		c.fail("kind", "must be one of position_mismatch, holding_mismatch, unknown_broker_order, missing_order, status_mismatch, broker_unavailable, got %q", e.Kind)
	}
	c.nonEmpty("message", e.Message)
	return c.result()
}

// PositionAdopted records that an admin took the broker's position in an
// instrument and product as the engine's own: the engine's net quantity
// goes from Previous to Quantity (the broker's, signed), and the
// instrument's differences are settled. For a delivery holding the broker
// reports only in its holdings, Quantity and AvgPrice are the holding's.
//
// An adoption is no trade. The engine's book and the positions and P&L
// read models apply the difference (Delta) as a fill at AvgPrice that
// realises nothing, no charges and no fill count: from flat, the position
// is the broker's quantity at the broker's average; an addition averages
// in at AvgPrice; a reduction keeps the average; a flip opens the new side
// at AvgPrice. From then on ticks value it and fills close it against that
// average.
type PositionAdopted struct {
	Account    string    `json:"account"`
	Mode       Mode      `json:"mode"`
	Instrument string    `json:"instrument"` // "EXCHANGE:SYMBOL"
	Product    Product   `json:"product"`
	Quantity   int64     `json:"quantity"`
	Previous   int64     `json:"previous"`
	AvgPrice   Price     `json:"avg_price,omitempty"`
	By         string    `json:"by"`
	Reason     string    `json:"reason"`
	At         time.Time `json:"at"`
}

// EventType implements Event.
func (PositionAdopted) EventType() string { return TypePositionAdopted }

// Validate implements Event.
func (e PositionAdopted) Validate() error {
	c := checker{typ: TypePositionAdopted}
	c.nonEmpty("account", e.Account)
	if !e.Mode.Valid() {
		c.fail("mode", "must be paper or live, got %q", e.Mode)
	}
	c.nonEmpty("instrument", e.Instrument)
	if !e.Product.Valid() {
		c.fail("product", "must be MIS, NRML or CNC, got %q", e.Product)
	}
	c.nonNegativePrice("avg_price", e.AvgPrice)
	c.nonEmpty("by", e.By)
	c.nonEmpty("reason", e.Reason)
	c.timeSet("at", e.At)
	return c.result()
}

// Delta is the change of the engine's net quantity.
func (e PositionAdopted) Delta() int64 { return e.Quantity - e.Previous }

// Reconciliation is an account's reconciliation state, folded from its
// reconciliation stream: the last check and the differences it found that
// are not settled yet. Blocked means trading on the account is refused.
type Reconciliation struct {
	Blocked   bool                      `json:"blocked"`
	Checked   bool                      `json:"checked"` // a check was recorded
	CheckedAt time.Time                 `json:"checked_at,omitzero"`
	Mode      Mode                      `json:"mode,omitempty"`   // of the last check
	Broker    string                    `json:"broker,omitempty"` // of the last check
	Diffs     []ReconciliationDiffFound `json:"diffs"`            // outstanding, in the order found
	Adopted   int                       `json:"adopted"`          // positions adopted
}

// Evolve folds one event of the account's reconciliation stream: a
// snapshot starts a check (no differences yet), each difference found
// blocks, an adoption settles every difference of its instrument (it is
// made from a fresh view of the broker, refused while that view has an
// order on the instrument the engine cannot take over).
func (r *Reconciliation) Evolve(e Event) {
	switch e := e.(type) {
	case BrokerSnapshotObserved:
		r.Checked, r.CheckedAt, r.Mode, r.Broker = true, e.At, e.Mode, e.Broker
		r.Diffs = []ReconciliationDiffFound{}
	case ReconciliationDiffFound:
		r.Diffs = append(r.Diffs, e)
	case PositionAdopted:
		r.Adopted++
		r.Diffs = slices.DeleteFunc(r.Diffs, func(d ReconciliationDiffFound) bool { return d.Instrument == e.Instrument })
	}
	r.Blocked = len(r.Diffs) > 0
}

// Clone returns a copy that shares nothing with r.
func (r Reconciliation) Clone() Reconciliation {
	r.Diffs = slices.Clone(r.Diffs)
	if r.Diffs == nil {
		r.Diffs = []ReconciliationDiffFound{}
	}
	return r
}
