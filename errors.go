package pgqueue

// The errors the Client and backends return, and ValidationError.

import (
	"errors"
	"fmt"
)

// Errors returned by the Client and by backends. Test for them with
// errors.Is; validation failures are also *ValidationError values.
var (
	// ErrInvalidArgs reports job args or options that were refused at
	// enqueue; nothing was stored.
	ErrInvalidArgs = errors.New("pgqueue: invalid job")
	// ErrClientStopped is returned by Enqueue and Start on a stopped client.
	ErrClientStopped = errors.New("pgqueue: client is stopped")
	// ErrAlreadyStarted is returned by Start on a running client.
	ErrAlreadyStarted = errors.New("pgqueue: client already started")
	// ErrLeaseLost means the job is no longer held under the caller's
	// lease: it expired and the job was rescued, or it was finished by
	// another path. Nothing was changed.
	ErrLeaseLost = errors.New("pgqueue: job lease lost")
	// ErrTxUnsupported is returned by EnqueueTx, EnqueueManyTx and
	// CompleteTx on a backend that cannot join a Postgres transaction.
	// It wraps ErrUnsupported.
	ErrTxUnsupported = fmt.Errorf("%w: cannot join a Postgres transaction", ErrUnsupported)
	// ErrListenUnsupported is returned by Backend.Listen when a backend has
	// no wake-ups; the client then polls.
	ErrListenUnsupported = errors.New("pgqueue: backend has no wake-ups")
	// ErrNoWorkers is returned by Start when no worker was registered.
	ErrNoWorkers = errors.New("pgqueue: no workers registered")
	// ErrDuplicateKind is returned by Register for a kind registered twice.
	ErrDuplicateKind = errors.New("pgqueue: kind already registered")
	// ErrInvalidConfig reports a Config or option value that is out of range.
	ErrInvalidConfig = errors.New("pgqueue: invalid configuration")
	// ErrJobTimeout is wrapped into the error of a run that outlived its
	// job timeout (Config.JobTimeout or WorkerWithTimeout); events carry it.
	ErrJobTimeout = errors.New("pgqueue: job timed out")
	// ErrDatabase wraps failures to reach or use the database.
	ErrDatabase = errors.New("pgqueue: database error")
)

// ValidationError says which field of a job or of a configuration was
// refused and why. It matches ErrInvalidArgs or ErrInvalidConfig with
// errors.Is.
type ValidationError struct {
	// Field names the refused field or argument, for example "Queue",
	// "Queues[q].MaxWorkers" or "tx".
	Field string
	// Reason says why it was refused, for example "must not be negative,
	// got -1".
	Reason string
	kind   error
	// label, when set, names the invalid thing in the message instead of
	// kind's wording ("invalid queue name" rather than "invalid job").
	label string
}

// Error says which field was refused and why.
func (e *ValidationError) Error() string {
	if e.label != "" {
		return fmt.Sprintf("pgqueue: invalid %s: %s", e.label, e.Reason)
	}
	return fmt.Sprintf("%v: %s: %s", e.kind, e.Field, e.Reason)
}

// Is makes errors.Is(err, ErrInvalidArgs) (or ErrInvalidConfig) true.
func (e *ValidationError) Is(target error) bool { return target == e.kind }

func invalidJob(field, format string, a ...any) error {
	return &ValidationError{Field: field, Reason: fmt.Sprintf(format, a...), kind: ErrInvalidArgs}
}

func invalidConfig(field, format string, a ...any) error {
	return &ValidationError{Field: field, Reason: fmt.Sprintf(format, a...), kind: ErrInvalidConfig}
}

// Errors of the operator API (Admin).
var (
	// ErrJobNotFound is returned for a job ID that is neither in the queue
	// nor in the dead-letter table.
	ErrJobNotFound = errors.New("pgqueue: job not found")
	// ErrJobRunning is returned by operations that only apply to waiting
	// jobs (cancel, retry) when the job is running.
	ErrJobRunning = errors.New("pgqueue: job is running")
	// ErrNotMigrated is returned when the pgqueue tables are missing from
	// the configured schema: run Migrate (or `pgqueue migrate up`).
	ErrNotMigrated = errors.New("pgqueue: schema is not migrated")
)
