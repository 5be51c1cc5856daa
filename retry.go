package pgqueue

// Retry policy: exponential backoff with jitter, Permanent and Snooze.

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// RetryPolicy is exponential backoff with jitter: the wait before attempt
// n+1 is Base * 2^(n-1), capped at Max, then moved by a random amount of up
// to ±Jitter of itself. With the defaults (1s, 1h, 10%) the waits are about
// 1s, 2s, 4s, … and reach the one-hour cap at the 13th attempt; 25 attempts
// span roughly 14 hours. Because Jitter is below one third, every wait is
// longer than the one before it until the cap.
type RetryPolicy struct {
	// Base is the first wait. Default 1s.
	Base time.Duration
	// Max caps a single wait. Default 1h.
	Max time.Duration
	// Jitter is the fraction, in [0, 1), by which a wait is randomly
	// lengthened or shortened, so that jobs which failed together do not
	// retry together. Default 0.1; set NoJitter for none.
	Jitter float64
	// NoJitter turns jitter off (Jitter 0 means the default).
	NoJitter bool
}

// DefaultRetryPolicy is the retry policy used when Config.Retry is zero.
var DefaultRetryPolicy = RetryPolicy{Base: time.Second, Max: time.Hour, Jitter: 0.1}

func (p RetryPolicy) withDefaults() (RetryPolicy, error) {
	if p.Base < 0 || p.Max < 0 {
		return p, invalidConfig("Retry", "Base and Max must not be negative")
	}
	if p.Jitter < 0 || p.Jitter >= 1 || math.IsNaN(p.Jitter) {
		return p, invalidConfig("Retry.Jitter", "must be in [0, 1), got %v", p.Jitter)
	}
	if p.Base == 0 {
		p.Base = DefaultRetryPolicy.Base
	}
	if p.Max == 0 {
		p.Max = DefaultRetryPolicy.Max
	}
	if p.Max < p.Base {
		p.Max = p.Base
	}
	if p.Jitter == 0 && !p.NoJitter {
		p.Jitter = DefaultRetryPolicy.Jitter
	}
	if p.NoJitter {
		p.Jitter = 0
	}
	return p, nil
}

// Backoff returns the wait after failed attempt number attempt (1-based).
func (p RetryPolicy) Backoff(attempt int) time.Duration {
	if attempt < 1 {
		attempt = 1
	}
	d := float64(p.Base) * math.Pow(2, float64(attempt-1))
	if d > float64(p.Max) || math.IsInf(d, 0) {
		d = float64(p.Max)
	}
	if p.Jitter > 0 {
		d *= 1 + p.Jitter*(2*rand.Float64()-1)
	}
	if d >= math.MaxInt64 {
		// Converting a float past the int64 range is undefined (on amd64
		// it gave a negative wait: an immediate retry).
		return math.MaxInt64
	}
	return time.Duration(d)
}

// Permanent marks err as not worth retrying: the job goes to the
// dead-letter table after this attempt. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

type permanentError struct{ err error }

func (e *permanentError) Error() string { return "permanent: " + e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// IsPermanent reports whether err was marked with Permanent.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

// Snooze asks for the job to run again after d without spending an
// attempt, for work that is not ready yet. d must be positive; a
// non-positive d runs it again as soon as a worker is free.
func Snooze(d time.Duration) error { return &snoozeError{d: d} }

type snoozeError struct{ d time.Duration }

// IsSnooze reports whether err came from Snooze.
func IsSnooze(err error) bool {
	var s *snoozeError
	return errors.As(err, &s)
}

func (e *snoozeError) Error() string { return fmt.Sprintf("snoozed for %v", e.d) }

// PanicError is the error recorded for a job whose Worker, or a
// Middleware around it, panicked.
type PanicError struct {
	// Value is the value recovered from the panic.
	Value any
	// Stack is the panicking goroutine's stack trace, taken where the panic
	// was recovered; pgqueuetest.Work leaves it empty.
	Stack string
}

// Error returns the panic value; the stack is in Stack.
func (e *PanicError) Error() string { return fmt.Sprintf("panic: %v", e.Value) }

// DecodeError is the error recorded for a job whose stored args no longer
// decode into the worker's type; such a job is dead-lettered at once.
type DecodeError struct {
	// Kind is the kind of the job whose args did not decode.
	Kind string
	// Err is the JSON decoding error.
	Err error
}

// Error names the kind and the decode failure.
func (e *DecodeError) Error() string {
	return fmt.Sprintf("decode args of %q: %v", e.Kind, e.Err)
}

// Unwrap returns the JSON decoding error.
func (e *DecodeError) Unwrap() error { return e.Err }
