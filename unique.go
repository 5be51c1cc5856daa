package pgqueue

// Unique jobs: UniqueOpts, the key derivation, InsertResult and
// DuplicateError.

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"
)

// UniqueOpts makes a job unique: while a job with the same unique key is
// waiting or running, enqueueing another is refused with a *DuplicateError
// naming the existing job. Once that job finishes (completes, or is
// dead-lettered or cancelled) the key is free again. The check is enforced
// by the store (a unique index on Postgres), so it holds under any number
// of concurrent enqueues.
type UniqueOpts struct {
	// Key, when set, is the unique key itself, shared across kinds and
	// queues. Otherwise the key is derived from the kind and the fields
	// chosen below.
	Key string
	// ByArgs includes the args (as JSON) in the derived key.
	ByArgs bool
	// ByQueue includes the queue in the derived key.
	ByQueue bool
	// ByPeriod includes the period the job's run-at falls in (run-at
	// truncated to ByPeriod, in UTC): at most one such job per period.
	// Must not be negative; 0 leaves time out of the key.
	ByPeriod time.Duration
}

// ErrDuplicateJob is matched (errors.Is) by the *DuplicateError returned
// when a unique job's key is already held.
var ErrDuplicateJob = errors.New("pgqueue: duplicate unique job")

// DuplicateError reports the jobs of an enqueue that were not stored
// because their unique key was held. The other jobs were stored. The IDs
// returned alongside it hold, at each duplicate's index, the ID of the job
// holding the key (0 if that job finished before it could be read).
type DuplicateError struct {
	// Indexes are the positions, in the enqueued batch, of the duplicates.
	Indexes []int
	// ExistingIDs are the IDs of the jobs holding their keys, in the same
	// order as Indexes.
	ExistingIDs []int64
}

// Error lists the duplicates.
func (e *DuplicateError) Error() string {
	if len(e.Indexes) == 1 {
		return fmt.Sprintf("pgqueue: duplicate unique job: held by job %d", e.ExistingIDs[0])
	}
	return fmt.Sprintf("pgqueue: %d duplicate unique jobs at indexes %v (held by jobs %v)", len(e.Indexes), e.Indexes, e.ExistingIDs)
}

// Is makes errors.Is(err, ErrDuplicateJob) true.
func (e *DuplicateError) Is(target error) bool { return target == ErrDuplicateJob }

// InsertResult is one job's outcome from UniqueInserter.InsertUnique.
type InsertResult struct {
	// ID is the new job's ID or, for a duplicate, the ID of the job holding
	// the key (0 if it could not be read).
	ID int64
	// Duplicate is true when the job was not stored because its unique key
	// was held; ID then names the holder.
	Duplicate bool
}

// ResultIDs turns InsertUnique results into the IDs Backend.Insert
// returns: in order, a duplicate's being its holder's, with a
// *DuplicateError listing the duplicates when there are any. Backends use
// it to implement Insert on top of InsertUnique.
func ResultIDs(res []InsertResult) ([]int64, error) {
	ids := make([]int64, len(res))
	var dup *DuplicateError
	for i, r := range res {
		ids[i] = r.ID
		if r.Duplicate {
			if dup == nil {
				dup = &DuplicateError{}
			}
			dup.Indexes = append(dup.Indexes, i)
			dup.ExistingIDs = append(dup.ExistingIDs, r.ID)
		}
	}
	if dup != nil {
		return ids, dup
	}
	return ids, nil
}

// uniqueKey derives the unique key of a job from its options.
func uniqueKey(kind, queue string, args json.RawMessage, runAt time.Time, u *UniqueOpts) (string, error) {
	if u == nil {
		return "", nil
	}
	if u.ByPeriod < 0 {
		return "", invalidJob("Unique.ByPeriod", "must not be negative, got %v", u.ByPeriod)
	}
	if u.Key != "" {
		if err := checkText("Unique.Key", u.Key, MaxUniqueKeyBytes); err != nil {
			return "", err
		}
		return u.Key, nil
	}
	h := sha256.New()
	part := func(s string) { h.Write([]byte(strconv.Itoa(len(s)) + ":" + s)) }
	part(kind)
	if u.ByQueue {
		part("q=" + queue)
	}
	if u.ByArgs {
		canon, err := canonicalJSON(args)
		if err != nil {
			return "", invalidJob("args", "cannot canonicalise for a unique key: %v", err)
		}
		part("a=" + string(canon))
	}
	if u.ByPeriod > 0 {
		if runAt.IsZero() {
			runAt = time.Now()
		}
		part("p=" + runAt.UTC().Truncate(u.ByPeriod).Format(time.RFC3339Nano))
	}
	return kind + ":" + hex.EncodeToString(h.Sum(nil)[:16]), nil
}

// canonicalJSON re-encodes JSON with sorted object keys, so that equal
// args give equal keys whatever their field order. Numbers are read as
// their literal text, never as float64: decoding into float64 merged
// distinct integers above 2^53 (and other numbers float64 cannot tell
// apart) into one key. For compatibility with keys stored by earlier
// versions, a number is written as encoding/json writes the float64
// nearest to it whenever that text denotes exactly the same value (every
// integer up to 2^53, every float a Go float64 or float32 field encodes);
// only other numbers get a new, exact form (see canonicalNumber).
func canonicalJSON(raw json.RawMessage) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("invalid JSON: data after the top-level value")
	}
	var buf bytes.Buffer
	if err := writeCanonical(&buf, v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// writeCanonical writes v as json.Marshal wrote a decoded value before
// numbers were kept exact: no spaces, object keys sorted, strings escaped
// by encoding/json.
func writeCanonical(buf *bytes.Buffer, v any) error {
	switch v := v.(type) {
	case map[string]any:
		keys := slices.Sorted(maps.Keys(v))
		buf.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				buf.WriteByte(',')
			}
			kb, err := json.Marshal(k)
			if err != nil {
				return err
			}
			buf.Write(kb)
			buf.WriteByte(':')
			if err := writeCanonical(buf, v[k]); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
	case []any:
		buf.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := writeCanonical(buf, e); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
	case json.Number:
		n, err := canonicalNumber(string(v))
		if err != nil {
			return err
		}
		buf.WriteString(n)
	default: // string, bool, nil
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		buf.Write(b)
	}
	return nil
}

// canonicalNumber returns the form of the JSON number lit in a unique key.
// When encoding/json's text for the float64 nearest to lit denotes exactly
// lit's value, that text is the form: it is what keys of earlier versions
// hold, and "1", "1.0" and "1e0" all give "1". Otherwise the form is "#"
// followed by lit's decimal normal form (see decimalNormal), which no
// float64 text can equal; it is exact, so distinct numbers never share it,
// and cheap even for a number like 1e-999999999.
func canonicalNumber(lit string) (string, error) {
	norm, err := decimalNormal(lit)
	if err != nil {
		return "", err
	}
	if f, err := strconv.ParseFloat(lit, 64); err == nil {
		text, err := json.Marshal(f)
		if err == nil {
			if n, err := decimalNormal(string(text)); err == nil && n == norm {
				return string(text), nil
			}
		}
	}
	return "#" + norm, nil
}

// decimalNormal returns the JSON number lit as sign, significant digits
// with no leading or trailing zeros, "e", and the exponent that makes
// them lit's value ("-12e3" for -12000, "15e-1" for 1.50); "0" for zero
// of either sign. Equal values give equal forms.
func decimalNormal(lit string) (string, error) {
	bad := fmt.Errorf("invalid JSON number %q", lit)
	s := lit
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	mant, expText, hasExp := strings.Cut(strings.ToLower(s), "e")
	intPart, frac, _ := strings.Cut(mant, ".")
	digits := intPart + frac
	if intPart == "" || !allDigits(digits) {
		return "", bad
	}
	exp := new(big.Int)
	if hasExp {
		if _, ok := exp.SetString(strings.TrimPrefix(expText, "+"), 10); !ok {
			return "", bad
		}
	}
	trimmed := strings.TrimRight(digits, "0")
	exp.Add(exp, big.NewInt(int64(len(digits)-len(trimmed)-len(frac))))
	trimmed = strings.TrimLeft(trimmed, "0")
	if trimmed == "" {
		return "0", nil
	}
	sign := ""
	if neg {
		sign = "-"
	}
	return sign + trimmed + "e" + exp.String(), nil
}

func allDigits(s string) bool {
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// hasUnique reports whether any job carries a unique key.
func hasUnique(params []InsertParams) bool {
	return slices.ContainsFunc(params, func(p InsertParams) bool { return p.UniqueKey != "" })
}
