package strategy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
)

// ParamType is the type of a strategy parameter.
type ParamType string

// Parameter types. A clock is a time of day in IST written "HH:MM" (or
// "HH:MM:SS"), e.g. "15:15".
const (
	TypeInt    ParamType = "int"
	TypeNumber ParamType = "number"
	TypeString ParamType = "string"
	TypeBool   ParamType = "bool"
	TypeClock  ParamType = "clock"
)

// Param describes one parameter of a strategy: the schema the REST API
// shows and New validates against.
//
// Default, Min and Max hold Go values of the parameter's type: int64 for
// int, float64 for number, string for string and clock ("HH:MM"), bool for
// bool. Min and Max are inclusive and optional (nil: unbounded); they apply
// to int, number and clock. Enum, when set, lists the only values a string
// may take.
type Param struct {
	Name        string    `json:"name"`
	Type        ParamType `json:"type"`
	Default     any       `json:"default"`
	Min         any       `json:"min,omitempty"`
	Max         any       `json:"max,omitempty"`
	Enum        []string  `json:"enum,omitempty"`
	Description string    `json:"description"`
}

// ParamError reports one invalid strategy parameter. Param is empty when the
// parameters as a whole are wrong (not a JSON object).
type ParamError struct {
	Strategy string `json:"strategy"`
	Param    string `json:"param,omitempty"`
	Reason   string `json:"reason"`
}

func (e *ParamError) Error() string {
	if e.Param == "" {
		return e.Strategy + ": " + e.Reason
	}
	return e.Strategy + ": parameter " + e.Param + ": " + e.Reason
}

// ParamErrors is every problem found in one set of parameters, in a
// deterministic order: parameters given twice as met, then the others in
// schema order, then unknown parameters in the order given. errors.As finds
// each *ParamError in it.
type ParamErrors []*ParamError

func (es ParamErrors) Error() string {
	if len(es) == 0 {
		return "no parameter errors"
	}
	var b strings.Builder
	b.WriteString(es[0].Strategy)
	b.WriteString(": invalid parameters: ")
	for i, e := range es {
		if i > 0 {
			b.WriteString("; ")
		}
		if e.Param != "" {
			b.WriteString(e.Param)
			b.WriteString(": ")
		}
		b.WriteString(e.Reason)
	}
	return b.String()
}

// Unwrap returns the individual *ParamError values.
func (es ParamErrors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// paramErrs collects ParamErrors for one strategy.
type paramErrs struct {
	strategy string
	list     ParamErrors
}

func (c *paramErrs) add(param, format string, args ...any) {
	c.list = append(c.list, &ParamError{Strategy: c.strategy, Param: param, Reason: fmt.Sprintf(format, args...)})
}

// err returns the collected errors, or a nil error (never a nil slice in an
// interface).
func (c *paramErrs) err() error {
	if len(c.list) == 0 {
		return nil
	}
	return c.list
}

// Params is a complete, validated set of parameter values of one strategy:
// every parameter of the schema is present (given or defaulted). Accessors
// panic when asked for a parameter the schema does not have or with the
// wrong type, which is a programming error in the strategy.
type Params struct {
	schema []Param
	vals   []any // parallel to schema: int64, float64, string, bool; int64 seconds for clocks
}

func (p Params) get(name string, typ ParamType) any {
	for i, s := range p.schema {
		if s.Name == name {
			if s.Type != typ {
				panic(fmt.Sprintf("strategy: parameter %s is %s, not %s", name, s.Type, typ))
			}
			return p.vals[i]
		}
	}
	panic("strategy: no parameter " + name)
}

// Int returns an int parameter.
func (p Params) Int(name string) int64 { return p.get(name, TypeInt).(int64) }

// Number returns a number parameter.
func (p Params) Number(name string) float64 { return p.get(name, TypeNumber).(float64) }

// String returns a string parameter.
func (p Params) String(name string) string { return p.get(name, TypeString).(string) }

// Bool returns a bool parameter.
func (p Params) Bool(name string) bool { return p.get(name, TypeBool).(bool) }

// Clock returns a clock parameter as seconds after midnight IST.
func (p Params) Clock(name string) int64 { return p.get(name, TypeClock).(int64) }

// MarshalJSON writes the canonical form of the parameters: an object with
// every parameter, keys sorted, clocks as "HH:MM[:SS]". Record this form
// (not what the user sent) in StrategyEnabled, so that a replay does not
// depend on the defaults of the code that replays it.
func (p Params) MarshalJSON() ([]byte, error) {
	idx := make([]int, len(p.schema))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return strings.Compare(p.schema[a].Name, p.schema[b].Name) })
	var b bytes.Buffer
	b.WriteByte('{')
	for n, i := range idx {
		if n > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(p.schema[i].Name)
		b.Write(k)
		b.WriteByte(':')
		v := p.vals[i]
		if p.schema[i].Type == TypeClock {
			v = formatClock(v.(int64))
		}
		enc, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		b.Write(enc)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// decodeParams validates raw (a JSON object, or empty or null for all
// defaults) against schema. Absent parameters and parameters given as null
// take their defaults.
func decodeParams(strategy string, schema []Param, raw json.RawMessage) (Params, error) {
	errs := &paramErrs{strategy: strategy}
	given := make([]json.RawMessage, len(schema))
	var unknown []string
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && !bytes.Equal(raw, []byte("null")) {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
			errs.add("", "parameters must be a JSON object")
			return Params{}, errs.err()
		}
		seen := make([]bool, len(schema))
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				errs.add("", "parameters are not valid JSON: %v", err)
				return Params{}, errs.err()
			}
			key, _ := tok.(string)
			var v json.RawMessage
			if err := dec.Decode(&v); err != nil {
				errs.add("", "parameters are not valid JSON: %v", err)
				return Params{}, errs.err()
			}
			i := slices.IndexFunc(schema, func(p Param) bool { return p.Name == key })
			switch {
			case i < 0:
				unknown = append(unknown, key)
			case seen[i]:
				errs.add(key, "given more than once")
			default:
				seen[i] = true
				given[i] = v
			}
		}
		if _, err := dec.Token(); err != nil { // the closing brace
			errs.add("", "parameters are not valid JSON: %v", err)
			return Params{}, errs.err()
		}
		if _, err := dec.Token(); !errors.Is(err, io.EOF) {
			errs.add("", "parameters are not valid JSON: data after the object")
			return Params{}, errs.err()
		}
	}
	p := Params{schema: schema, vals: make([]any, len(schema))}
	for i, s := range schema {
		v := given[i]
		if v == nil || bytes.Equal(v, []byte("null")) {
			p.vals[i] = defaultValue(s)
			continue
		}
		val, reason := decodeValue(s, v)
		if reason != "" {
			errs.add(s.Name, "%s", reason)
			continue
		}
		p.vals[i] = val
	}
	for _, k := range unknown {
		errs.add(k, "unknown parameter (known: %s)", paramNames(schema))
	}
	if err := errs.err(); err != nil {
		return Params{}, err
	}
	return p, nil
}

func paramNames(schema []Param) string {
	names := make([]string, len(schema))
	for i, p := range schema {
		names[i] = p.Name
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

// defaultValue returns the schema default in its stored form.
func defaultValue(p Param) any {
	if p.Type == TypeClock {
		sec, _ := parseClock(p.Default.(string))
		return sec
	}
	return p.Default
}

// jsonKind names the kind of a JSON value for error messages.
func jsonKind(v json.RawMessage) string {
	switch v[0] {
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	case '{':
		return "an object"
	case '[':
		return "an array"
	}
	return "a number"
}

// decodeValue decodes one given value of parameter p; reason is non-empty
// when it is invalid.
func decodeValue(p Param, v json.RawMessage) (val any, reason string) {
	kind := jsonKind(v)
	switch p.Type {
	case TypeInt:
		if kind != "a number" {
			return nil, "must be an integer, got " + kind
		}
		n, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil {
			f, ferr := strconv.ParseFloat(string(v), 64)
			switch {
			case ferr != nil || math.Abs(f) >= 1<<53:
				return nil, "must be an integer, got " + string(v) + " (out of range)"
			case f != math.Trunc(f):
				return nil, "must be an integer, got " + string(v)
			}
			n = int64(f) // an integral value written as 15.0 or 1e2
		}
		if r := checkRange(p, float64(n), strconv.FormatInt(n, 10)); r != "" {
			return nil, r
		}
		return n, ""
	case TypeNumber:
		if kind != "a number" {
			return nil, "must be a number, got " + kind
		}
		f, err := strconv.ParseFloat(string(v), 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return nil, "must be a finite number, got " + string(v)
		}
		if r := checkRange(p, f, strconv.FormatFloat(f, 'g', -1, 64)); r != "" {
			return nil, r
		}
		return f, ""
	case TypeBool:
		if kind != "a boolean" {
			return nil, "must be true or false, got " + kind
		}
		return v[0] == 't', ""
	case TypeString, TypeClock:
		if kind != "a string" {
			if p.Type == TypeClock {
				return nil, `must be a time of day "HH:MM" (IST), got ` + kind
			}
			return nil, "must be a string, got " + kind
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return nil, "must be a string: " + err.Error()
		}
		if p.Type == TypeString {
			if len(p.Enum) > 0 && !slices.Contains(p.Enum, s) {
				return nil, fmt.Sprintf("must be one of %s, got %q", strings.Join(p.Enum, ", "), s)
			}
			return s, ""
		}
		sec, err := parseClock(s)
		if err != nil {
			return nil, err.Error()
		}
		if p.Min != nil {
			if lo, _ := parseClock(p.Min.(string)); sec < lo {
				return nil, fmt.Sprintf("must be at or after %s, got %s", p.Min, formatClock(sec))
			}
		}
		if p.Max != nil {
			if hi, _ := parseClock(p.Max.(string)); sec > hi {
				return nil, fmt.Sprintf("must be at or before %s, got %s", p.Max, formatClock(sec))
			}
		}
		return sec, ""
	}
	return nil, "has an unsupported type " + string(p.Type)
}

// checkRange checks a numeric value against p's Min and Max.
func checkRange(p Param, f float64, shown string) string {
	if p.Min != nil && f < toFloat(p.Min) {
		return fmt.Sprintf("must be >= %v, got %s", p.Min, shown)
	}
	if p.Max != nil && f > toFloat(p.Max) {
		return fmt.Sprintf("must be <= %v, got %s", p.Max, shown)
	}
	return ""
}

func toFloat(v any) float64 {
	switch x := v.(type) {
	case int64:
		return float64(x)
	case float64:
		return x
	}
	return math.NaN()
}

// parseClock parses "HH:MM" or "HH:MM:SS" (24-hour) into seconds after
// midnight.
func parseClock(s string) (int64, error) {
	bad := fmt.Errorf(`must be a time of day "HH:MM" (IST), got %q`, s)
	parts := strings.Split(s, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return 0, bad
	}
	limits := []int64{23, 59, 59}
	var sec int64
	for i, part := range parts {
		if len(part) != 2 || part[0] < '0' || part[0] > '9' || part[1] < '0' || part[1] > '9' {
			return 0, bad
		}
		n := int64(part[0]-'0')*10 + int64(part[1]-'0')
		if n > limits[i] {
			return 0, bad
		}
		sec = sec*60 + n
	}
	if len(parts) == 2 {
		sec *= 60
	}
	return sec, nil
}

// formatClock renders seconds after midnight as "HH:MM", or "HH:MM:SS" when
// the seconds are not zero.
func formatClock(sec int64) string {
	s := fmt.Sprintf("%02d:%02d", sec/3600, sec/60%60)
	if sec%60 != 0 {
		s += fmt.Sprintf(":%02d", sec%60)
	}
	return s
}

// checkSchema reports a schema that cannot work: it is a programming error
// in a Definition, found when the Registry is built.
func checkSchema(name string, schema []Param) error {
	for i, p := range schema {
		if p.Name == "" || strings.TrimSpace(p.Name) != p.Name {
			return fmt.Errorf("strategy %s: parameter %d has a bad name %q", name, i, p.Name)
		}
		if slices.IndexFunc(schema[:i], func(q Param) bool { return q.Name == p.Name }) >= 0 {
			return fmt.Errorf("strategy %s: parameter %s is declared twice", name, p.Name)
		}
		if p.Description == "" {
			return fmt.Errorf("strategy %s: parameter %s has no description", name, p.Name)
		}
		var want string
		okType := func(v any) bool {
			switch p.Type {
			case TypeInt:
				_, ok := v.(int64)
				return ok
			case TypeNumber:
				_, ok := v.(float64)
				return ok
			case TypeString, TypeClock:
				_, ok := v.(string)
				return ok
			case TypeBool:
				_, ok := v.(bool)
				return ok
			}
			return false
		}
		switch p.Type {
		case TypeInt:
			want = "int64"
		case TypeNumber:
			want = "float64"
		case TypeString, TypeClock:
			want = "string"
		case TypeBool:
			want = "bool"
		default:
			return fmt.Errorf("strategy %s: parameter %s has an unknown type %q", name, p.Name, p.Type)
		}
		for _, f := range []struct {
			what string
			v    any
		}{{"default", p.Default}, {"min", p.Min}, {"max", p.Max}} {
			if f.v == nil && f.what != "default" {
				continue
			}
			if !okType(f.v) {
				return fmt.Errorf("strategy %s: parameter %s: %s %v (%T) is not a %s", name, p.Name, f.what, f.v, f.v, want)
			}
		}
		if (p.Min != nil || p.Max != nil) && (p.Type == TypeString || p.Type == TypeBool) {
			return fmt.Errorf("strategy %s: parameter %s: min and max apply to int, number and clock only", name, p.Name)
		}
		if len(p.Enum) > 0 && p.Type != TypeString {
			return fmt.Errorf("strategy %s: parameter %s: enum applies to strings only", name, p.Name)
		}
		// The default must pass the parameter's own validation.
		enc, err := json.Marshal(p.Default)
		if err != nil {
			return fmt.Errorf("strategy %s: parameter %s: default: %v", name, p.Name, err)
		}
		if _, reason := decodeValue(p, enc); reason != "" {
			return fmt.Errorf("strategy %s: parameter %s: default %s %s", name, p.Name, enc, reason)
		}
		if p.Min != nil && p.Max != nil {
			lo, hi := toFloat(p.Min), toFloat(p.Max)
			if p.Type == TypeClock {
				l, err1 := parseClock(p.Min.(string))
				h, err2 := parseClock(p.Max.(string))
				if err1 != nil || err2 != nil {
					return fmt.Errorf("strategy %s: parameter %s: bad min or max clock", name, p.Name)
				}
				lo, hi = float64(l), float64(h)
			}
			if lo > hi {
				return fmt.Errorf("strategy %s: parameter %s: min %v is above max %v", name, p.Name, p.Min, p.Max)
			}
		}
	}
	return nil
}
