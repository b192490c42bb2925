package strategy

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// ErrUnknownStrategy is returned (wrapped) by Registry.New for a name no
// Definition has.
var ErrUnknownStrategy = errors.New("unknown strategy")

// Definition describes a kind of strategy: its name, what it does, its
// parameters, and how to build one.
type Definition struct {
	// Name is the stable name strategies are enabled by ("orb"); it is
	// persisted in StrategyEnabled events and must never change.
	Name        string  `json:"name"`
	Description string  `json:"description"`
	Params      []Param `json:"params"`
	// Build makes a strategy from a complete, validated set of parameters
	// (types, ranges and enums already checked against Params, defaults
	// applied). It checks the rules that span parameters (fast < slow) and
	// reports violations as ParamErrors.
	Build func(p Params) (Strategy, error) `json:"-"`
}

// Resolve validates raw parameters (a JSON object; empty or null means all
// defaults) and returns the complete set. Errors are ParamErrors naming
// every unknown, mistyped or out-of-range parameter. Cross-parameter rules
// are checked by New, not Resolve.
func (d Definition) Resolve(raw json.RawMessage) (Params, error) {
	return decodeParams(d.Name, d.Params, raw)
}

// New validates raw parameters and builds a strategy. Errors are
// ParamErrors (see Resolve and Build).
func (d Definition) New(raw json.RawMessage) (Strategy, error) {
	p, err := d.Resolve(raw)
	if err != nil {
		return nil, err
	}
	return d.Build(p)
}

// Registry is the set of strategies an engine can run. It is built
// explicitly (in cmd) and immutable afterwards, so it is safe for
// concurrent use.
type Registry struct {
	defs []Definition // sorted by name
}

// NewRegistry returns a registry of defs. It fails on a definition without
// a name or Build, on duplicate names and on a parameter schema that cannot
// work (a default of the wrong type or outside its own range, ...).
func NewRegistry(defs ...Definition) (*Registry, error) {
	r := &Registry{defs: slices.Clone(defs)}
	slices.SortFunc(r.defs, func(a, b Definition) int { return strings.Compare(a.Name, b.Name) })
	for i, d := range r.defs {
		switch {
		case d.Name == "":
			return nil, errors.New("strategy: definition without a name")
		case d.Build == nil:
			return nil, fmt.Errorf("strategy %s: definition without Build", d.Name)
		case i > 0 && r.defs[i-1].Name == d.Name:
			return nil, fmt.Errorf("strategy %s: defined twice", d.Name)
		}
		if err := checkSchema(d.Name, d.Params); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// List returns the definitions sorted by name. The slice is the caller's;
// the definitions' Params slices are shared and must not be modified.
func (r *Registry) List() []Definition { return slices.Clone(r.defs) }

// Lookup returns the definition called name.
func (r *Registry) Lookup(name string) (Definition, bool) {
	i, ok := slices.BinarySearchFunc(r.defs, name, func(d Definition, n string) int { return strings.Compare(d.Name, n) })
	if !ok {
		return Definition{}, false
	}
	return r.defs[i], true
}

// New builds the strategy called name with raw parameters. It returns an
// error wrapping ErrUnknownStrategy for an unknown name, else the errors of
// Definition.New.
func (r *Registry) New(name string, raw json.RawMessage) (Strategy, error) {
	d, ok := r.Lookup(name)
	if !ok {
		return nil, fmt.Errorf("strategy %q: %w", name, ErrUnknownStrategy)
	}
	return d.New(raw)
}

// Builtins returns the built-in strategy definitions: ma-crossover, orb and
// short-straddle.
func Builtins() []Definition {
	return []Definition{MACrossover(), ORB(), ShortStraddle()}
}
