package pgqueue

// The input limits every backend shares, and the checks that apply them.

import (
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits on what a job may carry, the same on every backend so that a job
// one backend accepts is never refused or altered by another. Kind, queue
// and unique key are indexed on Postgres, whose btree entries cannot
// exceed about 2,700 bytes: the limits stay well below that, so an
// enqueue that passes validation never fails in an index. Enqueue refuses
// a job past any of them with a *ValidationError (ErrInvalidArgs) naming
// the field; nothing is stored.
const (
	// MaxKindBytes is the longest Args.Kind accepted, in bytes.
	MaxKindBytes = 255
	// MaxQueueBytes is the longest queue name accepted, in bytes (queue
	// names are ASCII: letters, digits, '_', '.', ':' and '-').
	MaxQueueBytes = 128
	// MaxUniqueKeyBytes is the longest UniqueOpts.Key accepted, in bytes.
	// Derived keys (kind, ':' and 32 hex digits) always fit.
	MaxUniqueKeyBytes = 512
	// MaxMetadataKeyBytes is the longest EnqueueOptions.Metadata key
	// accepted, in bytes.
	MaxMetadataKeyBytes = 255
	// MaxMetadataBytes caps the total size of EnqueueOptions.Metadata: the
	// sum of the lengths of its keys and values, in bytes.
	MaxMetadataBytes = 8 << 10
	// MaxAttemptsLimit is the largest MaxAttempts (Config or
	// EnqueueOptions) accepted: the largest attempt count every backend
	// stores exactly (a 32-bit integer on Postgres).
	MaxAttemptsLimit = math.MaxInt32
	// MaxRunAtYear bounds EnqueueOptions.RunAt (and Delay): the run time
	// must fall before January 1 of this year, UTC. Postgres stores years
	// up to 294276 but the Redis backend holds times only up to mid-2255
	// exactly; a run time past 2200 is a bug, not a plan.
	MaxRunAtYear = 2200
	// MinLeaseDuration is the shortest Config.LeaseDuration accepted:
	// backends store leases to the microsecond, and heartbeats must fit
	// inside the lease.
	MinLeaseDuration = time.Millisecond
	// MaxRetention is the longest Config.Retention (and
	// QueueConfig.Retention) accepted: Postgres keeps the history in hourly
	// partitions, one per hour of retention, and listing completed jobs
	// visits each of them.
	MaxRetention = 31 * 24 * time.Hour
)

// maxRunAt is the first instant refused as a run time.
var maxRunAt = time.Date(MaxRunAtYear, 1, 1, 0, 0, 0, 0, time.UTC)

// minRunAt is the earliest run time accepted: Postgres holds nothing
// before 4713 BC, and a run time in year 1 is already "due now".
var minRunAt = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)

// checkText refuses text that a backend cannot store as given: a NUL byte
// (Postgres text and jsonb cannot hold one) or invalid UTF-8 (refused by
// Postgres, altered by JSON encoding), and text longer than max bytes
// when max > 0.
func checkText(field, s string, max int) error {
	if max > 0 && len(s) > max {
		return invalidJob(field, "is %d bytes long; the limit is %d", len(s), max)
	}
	if i := strings.IndexByte(s, 0); i >= 0 {
		return invalidJob(field, "holds a NUL byte at offset %d; no backend can store it", i)
	}
	if !utf8.ValidString(s) {
		return invalidJob(field, "is not valid UTF-8")
	}
	return nil
}

// checkMetadata applies the metadata limits and checkText to every key
// and value.
func checkMetadata(md map[string]string) error {
	total := 0
	for k, v := range md {
		if k == "" {
			return invalidJob("Metadata", "keys must not be empty")
		}
		if err := checkText("Metadata key", k, MaxMetadataKeyBytes); err != nil {
			return err
		}
		if err := checkText(fmt.Sprintf("Metadata[%q]", k), v, 0); err != nil {
			return err
		}
		total += len(k) + len(v)
	}
	if total > MaxMetadataBytes {
		return invalidJob("Metadata", "keys and values total %d bytes; the limit is %d", total, MaxMetadataBytes)
	}
	return nil
}

// jsonHasNUL reports whether encoded JSON holds an escaped NUL (\u0000)
// in a string or object key: Postgres jsonb refuses it. raw is valid
// JSON, so a backslash only appears inside strings, and starts an escape.
func jsonHasNUL(raw []byte) bool {
	for i := 0; i < len(raw); i++ {
		if raw[i] != '\\' {
			continue
		}
		if i+5 < len(raw) && raw[i+1] == 'u' && string(raw[i+2:i+6]) == "0000" {
			return true
		}
		i++ // skip the escaped character, so "\\u0000" is not taken for NUL
	}
	return false
}

// storableText makes a worker's error or panic text storable on every
// backend: a NUL byte, which Postgres cannot hold in jsonb, becomes
// U+FFFD (the Unicode replacement character), as invalid UTF-8 already
// does when the text is encoded as JSON.
func storableText(s string) string {
	if strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ReplaceAll(s, "\x00", "\uFFFD")
}

// saturatingAdd returns a+b for non-negative durations, or the longest
// duration when the sum overflows: a "no limit" JobTimeout such as
// math.MaxInt64 plus ShutdownGrace must not wrap to a negative time.
func saturatingAdd(a, b time.Duration) time.Duration {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}
