package pgqueue

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
)

// oldCanonicalJSON is the key derivation of versions before numbers were
// kept exact; keys already stored were built with it.
func oldCanonicalJSON(raw json.RawMessage) ([]byte, error) {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

type compatArgs struct {
	I   int               `json:"i"`
	I64 int64             `json:"i64"`
	U8  uint8             `json:"u8"`
	F   float64           `json:"f"`
	F32 float32           `json:"f32"`
	S   string            `json:"s"`
	B   bool              `json:"b"`
	P   *int              `json:"p"`
	L   []any             `json:"l"`
	M   map[string]string `json:"m"`
	Z   struct {
		Y int `json:"y"`
		A int `json:"a"`
	} `json:"z"`
}

// Keys of args made of Go ints up to 2^53, floats, strings and the rest
// must stay byte-identical to the earlier derivation, so that unique jobs
// enqueued by an older version still block duplicates after an upgrade.
func TestCanonicalJSONMatchesEarlierKeysForOrdinaryArgs(t *testing.T) {
	cases := []compatArgs{
		{},
		{I: 1, I64: 1 << 53, U8: 255, F: 1.5, F32: 0.1, S: "héllo <&> \u2028", B: true},
		{I: -(1 << 53), I64: -7, F: 1e21, F32: math.MaxFloat32, S: "\xff"},
		{F: 1e-7, F32: 1e-7, L: []any{1, "two", 3.25, nil, map[string]any{"b": 1, "a": 2}}, M: map[string]string{"z": "1", "a": "2"}},
		{F: math.SmallestNonzeroFloat64, F32: math.SmallestNonzeroFloat32},
		{F: math.MaxFloat64, F32: float32(math.Copysign(0, -1)), I64: 123456789012345},
		{F: 0.1 + 0.2, F32: 3.4028235e38},
	}
	for i, a := range cases {
		raw, err := json.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		want, err := oldCanonicalJSON(raw)
		if err != nil {
			t.Fatal(err)
		}
		got, err := canonicalJSON(raw)
		if err != nil {
			t.Fatalf("case %d: canonicalJSON(%s): %v", i, raw, err)
		}
		if string(got) != string(want) {
			t.Errorf("case %d: the canonical form of %s changed, so unique keys stored by earlier versions would no longer match:\n old %s\n new %s", i, raw, want, got)
		}
	}
	// Literals that are not what Go's encoder writes, but denote a value
	// the old form wrote exactly, keep the old form too.
	for _, lit := range []string{`1.0`, `1e0`, `100E-2`, `-0`, `0.10`, `12.5e1`, `1E2`} {
		raw := json.RawMessage(`{"n":` + lit + `}`)
		want, _ := oldCanonicalJSON(raw)
		got, err := canonicalJSON(raw)
		if err != nil || string(got) != string(want) {
			t.Errorf("canonical form of %s: got %s (err %v), earlier versions wrote %s", raw, got, err, want)
		}
	}
}

// Integers above 2^53 used to decode into the same float64 and so share a
// unique key; they must not.
func TestUniqueKeyByArgsKeepsLargeIntegersApart(t *testing.T) {
	u := &UniqueOpts{ByArgs: true}
	pairs := [][2]string{
		{`{"n":9007199254740993}`, `{"n":9007199254740992}`},
		{`{"n":18446744073709551615}`, `{"n":18446744073709551614}`},
		{`{"n":-9007199254740993}`, `{"n":-9007199254740992}`},
		{`{"n":0.10000000000000000001}`, `{"n":0.1}`},
		{`{"n":1e-400}`, `{"n":0}`},
		{`{"n":1e400}`, `{"n":1e401}`},
		{`{"n":100000000000000000000001}`, `{"n":1e23}`},
	}
	for _, p := range pairs {
		k0, err0 := uniqueKey("k", "q", json.RawMessage(p[0]), time.Time{}, u)
		k1, err1 := uniqueKey("k", "q", json.RawMessage(p[1]), time.Time{}, u)
		if err0 != nil || err1 != nil {
			t.Fatalf("uniqueKey(%s) / (%s): %v / %v", p[0], p[1], err0, err1)
		}
		if k0 == k1 {
			t.Errorf("distinct args %s and %s share the unique key %s", p[0], p[1], k0)
		}
	}
	same := [][2]string{
		{`{"a":1,"b":{"y":2,"x":[1,2]}}`, `{"b":{"x":[1,2],"y":2},"a":1}`},
		{`{"n":9007199254740993,"s":"x"}`, `{"s":"x","n":9007199254740993}`},
		{`{"n":1.0}`, `{"n":1}`},
		{`{"n":1e400}`, `{"n":10e399}`},
	}
	for _, p := range same {
		k0, _ := uniqueKey("k", "q", json.RawMessage(p[0]), time.Time{}, u)
		k1, _ := uniqueKey("k", "q", json.RawMessage(p[1]), time.Time{}, u)
		if k0 != k1 || k0 == "" {
			t.Errorf("equal args %s and %s must share a unique key; got %q and %q", p[0], p[1], k0, k1)
		}
	}
}

// FuzzUniqueKeyByArgs: args that differ in any field never share a key
// derived ByArgs, and the same args with their fields in another order
// always do. Numbers are written as exact integer literals, as float64s,
// and as arbitrary decimal text.
func FuzzUniqueKeyByArgs(f *testing.F) {
	f.Add(uint64(1<<53+1), uint64(1<<53), 0.1, 0.1, "a", "a", "1", "1.0")
	f.Add(uint64(0), uint64(0), 1e21, 1e21, "", "x", "1e400", "1e401")
	f.Add(uint64(math.MaxUint64), uint64(math.MaxUint64-1), math.Copysign(0, -1), 0.0, "\u0000", "\\u0000", "0.30000000000000004", "0.3")
	f.Fuzz(func(t *testing.T, n1, n2 uint64, f1, f2 float64, s1, s2, d1, d2 string) {
		if math.IsNaN(f1) || math.IsInf(f1, 0) || math.IsNaN(f2) || math.IsInf(f2, 0) {
			return
		}
		if !validNumber(d1) || !validNumber(d2) {
			return
		}
		doc := func(n uint64, f float64, s, d string, reverse bool) json.RawMessage {
			fb, _ := json.Marshal(f)
			sb, _ := json.Marshal(s)
			fields := []string{fmt.Sprintf(`"n":%d`, n), `"f":` + string(fb), `"s":` + string(sb), `"d":` + d}
			if reverse {
				for i, j := 0, len(fields)-1; i < j; i, j = i+1, j-1 {
					fields[i], fields[j] = fields[j], fields[i]
				}
			}
			return json.RawMessage("{" + strings.Join(fields, ",") + "}")
		}
		u := &UniqueOpts{ByArgs: true}
		key := func(raw json.RawMessage) string {
			k, err := uniqueKey("fuzz", "default", raw, time.Time{}, u)
			if err != nil {
				t.Fatalf("uniqueKey(%s): %v", raw, err)
			}
			return k
		}
		a, aRev := doc(n1, f1, s1, d1, false), doc(n1, f1, s1, d1, true)
		b := doc(n2, f2, s2, d2, false)
		if key(a) != key(aRev) {
			t.Fatalf("the same args in another field order got another key:\n %s\n %s", a, aRev)
		}
		// Strings decode with invalid UTF-8 replaced, -0 and 0 are
		// distinct to the old derivation too: compare what JSON says.
		equal := n1 == n2 && math.Float64bits(f1) == math.Float64bits(f2) && sameJSONString(s1, s2) && sameDecimal(d1, d2)
		if !equal && key(a) == key(b) {
			t.Fatalf("distinct args share a unique key:\n %s\n %s", a, b)
		}
		if equal && key(a) != key(b) {
			t.Fatalf("equal args got distinct unique keys:\n %s\n %s", a, b)
		}
	})
}

func validNumber(s string) bool {
	var n json.Number
	return json.Unmarshal([]byte(s), &n) == nil && s != "" && strings.TrimSpace(s) == s && len(s) < 64 && json.Valid([]byte(s)) && s[0] != '"'
}

func sameJSONString(a, b string) bool {
	ab, _ := json.Marshal(a)
	bb, _ := json.Marshal(b)
	return string(ab) == string(bb)
}

// sameDecimal reports whether two JSON number literals denote the same
// value, except that the old derivation's -0 stays apart from 0.
func sameDecimal(a, b string) bool {
	na, _ := decimalNormal(a)
	nb, _ := decimalNormal(b)
	if na != nb {
		return false
	}
	if na == "0" {
		return strings.HasPrefix(a, "-") == strings.HasPrefix(b, "-")
	}
	return true
}
