package appdata

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"
)

// Query selects indexed values. Build one with QueryEqual, QueryRange or
// QueryPrefix; the zero Query is QueryRange(nil, nil): every value.
//
// Values in a query are written as the index reads stored values: raw bytes
// for a string index, decimal text for int ("-42") and float ("2.5e3"), and a
// JSON literal for a json index (`"alice"`, `42`, `true`). A prefix is raw
// bytes, for string indexes and for the string values of json indexes.
type Query struct {
	// Equal, when non-nil, selects values equal to it.
	Equal []byte
	// Low and High, when non-nil, bound a range [Low, High).
	Low, High []byte
	// Prefix, when non-nil, selects string values that start with it.
	Prefix []byte
}

// QueryEqual selects the values equal to v.
func QueryEqual(v []byte) Query { return Query{Equal: v} }

// QueryRange selects the values in [low, high); a nil bound is open.
func QueryRange(low, high []byte) Query { return Query{Low: low, High: high} }

// QueryPrefix selects the string values that start with p.
func QueryPrefix(p []byte) Query { return Query{Prefix: p} }

// jsonPivot starts a string that the json index reads as a given value
// rather than as a document: it can start no JSON document (0xff is never
// valid UTF-8). The next byte says how the rest is read: 's' raw string,
// 'j' a JSON literal.
const jsonPivot = "\xff\xfeappdata-pivot:"

// ixValue is an indexed value as the index orders it.
type ixValue struct {
	valid bool    // parsed for the index's type; invalid values never match
	raw   string  // string indexes, and invalid values of the others
	i     int64   // int
	f     float64 // float
	j     gjson.Result
}

// index is the compiled form of an IndexSpec.
type index struct {
	spec IndexSpec
}

func newIndex(spec IndexSpec) *index { return &index{spec: spec} }

// value reads a stored value (or a pivot built by pivot) for the index.
func (ix *index) value(s string) ixValue {
	switch ix.spec.Type {
	case IndexInt:
		i, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return ixValue{raw: s}
		}
		return ixValue{valid: true, i: i}
	case IndexFloat:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(f) {
			return ixValue{raw: s}
		}
		return ixValue{valid: true, f: f}
	case IndexJSON:
		var r gjson.Result
		if rest, ok := strings.CutPrefix(s, jsonPivot); ok && rest != "" {
			if rest[0] == 's' {
				r = gjson.Result{Type: gjson.String, Str: rest[1:]}
			} else {
				r = gjson.Parse(rest[1:])
			}
		} else {
			r = gjson.Get(s, ix.spec.JSONPath)
		}
		if r.Type == gjson.Null || (r.Type == gjson.Number && math.IsNaN(r.Num)) {
			return ixValue{raw: s}
		}
		return ixValue{valid: true, j: r}
	default:
		return ixValue{valid: true, raw: s}
	}
}

// cmp orders two values: invalid ones first (bytewise among themselves),
// then valid ones by the index's type.
func (ix *index) cmp(a, b ixValue) int {
	if a.valid != b.valid {
		if !a.valid {
			return -1
		}
		return 1
	}
	if !a.valid {
		return strings.Compare(a.raw, b.raw)
	}
	switch ix.spec.Type {
	case IndexInt:
		return cmpOrdered(a.i, b.i)
	case IndexFloat:
		return cmpOrdered(a.f, b.f)
	case IndexJSON:
		if a.j.Less(b.j, true) {
			return -1
		}
		if b.j.Less(a.j, true) {
			return 1
		}
		return 0
	default:
		return strings.Compare(a.raw, b.raw)
	}
}

func cmpOrdered[T int64 | float64](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// less is the order buntdb keeps the index in (ties are broken by key).
func (ix *index) less(a, b string) bool { return ix.cmp(ix.value(a), ix.value(b)) < 0 }

// pivot encodes a valid value as a string that value reads back as equal.
func (ix *index) pivot(v ixValue) string {
	switch ix.spec.Type {
	case IndexInt:
		return strconv.FormatInt(v.i, 10)
	case IndexFloat:
		return strconv.FormatFloat(v.f, 'g', -1, 64)
	case IndexJSON:
		switch v.j.Type {
		case gjson.String:
			return jsonPivot + "s" + v.j.Str
		case gjson.Number:
			return jsonPivot + "j" + strconv.FormatFloat(v.j.Num, 'g', -1, 64)
		default:
			return jsonPivot + "j" + v.j.Raw
		}
	default:
		return v.raw
	}
}

// minPivot orders before every valid value and after every invalid one.
func (ix *index) minPivot() string {
	switch ix.spec.Type {
	case IndexInt:
		return strconv.FormatInt(math.MinInt64, 10)
	case IndexFloat:
		return "-Inf"
	case IndexJSON:
		return jsonPivot + "jfalse" // gjson orders null < false < numbers < strings < true < JSON
	default:
		return ""
	}
}

// bound parses a query value.
func (ix *index) bound(b []byte) (ixValue, error) {
	var v ixValue
	if ix.spec.Type == IndexJSON {
		if !gjson.ValidBytes(b) {
			return v, fmt.Errorf("%w: %q is not a JSON value", ErrInvalidQuery, b)
		}
		v = ix.value(jsonPivot + "j" + string(b))
	} else {
		v = ix.value(string(b))
	}
	if !v.valid {
		return v, fmt.Errorf("%w: %q is not a valid %s value", ErrInvalidQuery, b, ix.spec.Type)
	}
	return v, nil
}

// plan is a parsed query: where to start and when to stop.
type plan struct {
	start    string // pivot to start iterating the index from
	skipKey  string // when resuming: skip keys < skipKey whose value equals skipVal
	skipVal  ixValue
	resuming bool
	stop     func(v ixValue) bool // true once past the query's values
}

func (ix *index) plan(q Query, resume []byte) (*plan, error) {
	set := 0
	if q.Equal != nil {
		set++
	}
	if q.Low != nil || q.High != nil {
		set++
	}
	if q.Prefix != nil {
		set++
	}
	if set > 1 {
		return nil, fmt.Errorf("%w: set only one of Equal, Low/High, Prefix", ErrInvalidQuery)
	}
	p := &plan{start: ix.minPivot(), stop: func(ixValue) bool { return false }}
	var low ixValue
	hasLow := false
	switch {
	case q.Equal != nil:
		v, err := ix.bound(q.Equal)
		if err != nil {
			return nil, err
		}
		low, hasLow = v, true
		p.stop = func(x ixValue) bool { return ix.cmp(x, v) != 0 }
	case q.Prefix != nil:
		pre := string(q.Prefix)
		switch ix.spec.Type {
		case IndexString:
			low, hasLow = ixValue{valid: true, raw: pre}, true
			p.stop = func(x ixValue) bool { return !strings.HasPrefix(x.raw, pre) }
		case IndexJSON:
			low, hasLow = ixValue{valid: true, j: gjson.Result{Type: gjson.String, Str: pre}}, true
			p.stop = func(x ixValue) bool { return x.j.Type != gjson.String || !strings.HasPrefix(x.j.Str, pre) }
		default:
			return nil, fmt.Errorf("%w: prefix query on %s index %q", ErrInvalidQuery, ix.spec.Type, ix.spec.Name)
		}
	default:
		if q.Low != nil {
			v, err := ix.bound(q.Low)
			if err != nil {
				return nil, err
			}
			low, hasLow = v, true
		}
		if q.High != nil {
			h, err := ix.bound(q.High)
			if err != nil {
				return nil, err
			}
			p.stop = func(x ixValue) bool { return ix.cmp(x, h) >= 0 }
		}
	}
	if hasLow {
		p.start = ix.pivot(low)
	}
	if resume != nil {
		pv, key, err := decodeResume(resume)
		if err != nil {
			return nil, err
		}
		v := ix.value(pv)
		if !v.valid || (hasLow && ix.cmp(v, low) < 0) {
			return nil, fmt.Errorf("%w: resume token outside the query", ErrInvalidQuery)
		}
		p.start, p.skipKey, p.skipVal, p.resuming = pv, key, v, true
	}
	return p, nil
}

// A resume token for QueryIndex: uvarint length of the pivot, the pivot, the
// key.
func encodeResume(pivot, key string) []byte {
	b := binary.AppendUvarint(nil, uint64(len(pivot)))
	b = append(b, pivot...)
	return append(b, key...)
}

func decodeResume(b []byte) (pivot, key string, err error) {
	n, w := binary.Uvarint(b)
	if w <= 0 || n > uint64(len(b)-w) || len(b)-w-int(n) == 0 {
		return "", "", fmt.Errorf("%w: malformed resume token", ErrInvalidQuery)
	}
	return string(b[w : w+int(n)]), string(b[w+int(n):]), nil
}

// specKey is where an index spec is persisted.
func specKey(name string) string { return ReservedPrefix + "index/" + name }

func sameSpec(a, b IndexSpec) bool {
	return a.Name == b.Name && a.Pattern == b.Pattern && a.Type == b.Type && a.JSONPath == b.JSONPath
}
