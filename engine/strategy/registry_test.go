package strategy

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestRegistry(t *testing.T) {
	r, err := NewRegistry(Builtins()...)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range r.List() {
		names = append(names, d.Name)
		if d.Description == "" || len(d.Params) == 0 {
			t.Errorf("%s: no description or parameters", d.Name)
		}
	}
	if got := strings.Join(names, ","); got != "ma-crossover,orb,short-straddle" {
		t.Fatalf("List order: %s", got)
	}
	if _, ok := r.Lookup("orb"); !ok {
		t.Fatal("Lookup orb")
	}
	if _, ok := r.Lookup("grid"); ok {
		t.Fatal("Lookup grid found something")
	}
	s, err := r.New("short-straddle", json.RawMessage(`{"lots": 2}`))
	if err != nil || s.Name() != "short-straddle" {
		t.Fatalf("New: %v, %v", s, err)
	}
	if _, err := r.New("grid", nil); !errors.Is(err, ErrUnknownStrategy) {
		t.Fatalf("New(grid): %v", err)
	}
	var pe ParamErrors
	if _, err := r.New("orb", json.RawMessage(`{"lots": 0}`)); !errors.As(err, &pe) || pe[0].Param != "lots" {
		t.Fatalf("New(orb, lots 0): %v", err)
	}
	// The schema is JSON for the REST API, without Build.
	b, err := json.Marshal(r.List())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `{"name":"exit_at","type":"clock","default":"15:15","min":"09:16","max":"15:29","description":`) {
		t.Fatalf("schema JSON: %s", b)
	}
}

func TestNewRegistryRejectsBadDefinitions(t *testing.T) {
	good := ORB()
	build := good.Build
	p := func(ps ...Param) Definition { return Definition{Name: "x", Params: ps, Build: build} }
	tests := []struct {
		name string
		defs []Definition
		want string
	}{
		{"duplicate", []Definition{ORB(), ORB()}, "strategy orb: defined twice"},
		{"no name", []Definition{{Build: build}}, "definition without a name"},
		{"no build", []Definition{{Name: "x"}}, "strategy x: definition without Build"},
		{"default type", []Definition{p(Param{Name: "n", Type: TypeInt, Default: 3, Description: "d"})}, "default 3 (int) is not a int64"},
		{"default range", []Definition{p(Param{Name: "n", Type: TypeInt, Default: int64(0), Min: int64(1), Description: "d"})}, "default 0 must be >= 1, got 0"},
		{"default enum", []Definition{p(Param{Name: "s", Type: TypeString, Default: "c", Enum: []string{"a", "b"}, Description: "d"})}, `default "c" must be one of a, b`},
		{"bad clock", []Definition{p(Param{Name: "c", Type: TypeClock, Default: "9:15", Description: "d"})}, `must be a time of day`},
		{"min above max", []Definition{p(Param{Name: "n", Type: TypeNumber, Default: 1.0, Min: 2.0, Max: 0.5, Description: "d"})}, "default 1 must be >= 2"},
		{"twice", []Definition{p(Param{Name: "n", Type: TypeBool, Default: true, Description: "d"}, Param{Name: "n", Type: TypeBool, Default: true, Description: "d"})}, "parameter n is declared twice"},
		{"undocumented", []Definition{p(Param{Name: "n", Type: TypeBool, Default: true})}, "parameter n has no description"},
		{"unknown type", []Definition{p(Param{Name: "n", Type: "duration", Default: "1s", Description: "d"})}, `unknown type "duration"`},
		{"range on string", []Definition{p(Param{Name: "n", Type: TypeString, Default: "a", Min: "a", Description: "d"})}, "min and max apply to int, number and clock only"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewRegistry(tt.defs...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want %q", err, tt.want)
			}
		})
	}
}
