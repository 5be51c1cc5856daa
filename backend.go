package pgqueue

// The Backend interface every store implements, and the types that cross
// it (InsertParams, JobRow, JobRef, AttemptError, DeadFilter...).

import (
	"context"
	"encoding/json"
	"time"
)

// Backend is the storage a Client drives. It only stores and hands out jobs:
// every decision (when to retry, when to dead-letter, how many to claim,
// when to give up on shutdown) is made once, by the Client, for every
// backend. The Postgres backend lives in this package (NewPostgres); the
// in-memory one in memqueue and the Redis one in redisqueue. The suite in
// queuetest checks that a Backend keeps these semantics.
//
// Every method that takes a JobRef matches on both the job ID and its lease
// token: when the job is no longer held under that token (its lease expired
// and it was rescued, or it was completed already), the method changes
// nothing and returns ErrLeaseLost (or, for batches, reports the ref as lost).
type Backend interface {
	// Insert stores new jobs and returns their IDs in the order given;
	// IDs grow in insertion order. Empty batches (here and in Complete and
	// Heartbeat) are no-ops.
	// Jobs whose RunAt is in the future are stored as scheduled; the
	// others as available, and the queues they land in are woken.
	Insert(ctx context.Context, jobs []InsertParams) ([]int64, error)

	// Claim marks up to p.Limit available jobs of p.Queue whose kind is in
	// p.Kinds as running, in priority, run-at, ID order, increments their
	// attempt, gives each a fresh lease token and a lease that ends
	// p.Lease from now, and returns them. Jobs of other kinds are left
	// untouched. It returns no jobs, not an error, when none are due.
	Claim(ctx context.Context, p ClaimParams) ([]*JobRow, error)

	// Complete finishes running jobs successfully and returns the refs
	// among them that were no longer held (lease lost). A backend may
	// answer a resend of the very same batch (the same refs in the same
	// order, as a retry after a lost reply sends) with the first run's
	// answer, so that a completion that was stored is not reported lost.
	Complete(ctx context.Context, refs []JobRef) (lost []JobRef, err error)

	// Reschedule puts a running job back: available at once when
	// p.Delay <= 0, else scheduled p.Delay from now on the backend's clock.
	// p.Error, when set, is appended to the job's error history. With
	// p.RefundAttempt the attempt the claim counted is given back (snooze,
	// shutdown release). Returns ErrLeaseLost if the lease was lost.
	Reschedule(ctx context.Context, ref JobRef, p RescheduleParams) error

	// DeadLetter moves a running job out of the queue into the dead-letter
	// store, appending errInfo to its error history, in one atomic step.
	// Returns ErrLeaseLost if the lease was lost.
	DeadLetter(ctx context.Context, ref JobRef, errInfo AttemptError) error

	// Heartbeat extends the leases of running jobs to lease from now and
	// returns the refs that were no longer held.
	Heartbeat(ctx context.Context, refs []JobRef, lease time.Duration) (lost []JobRef, err error)

	// PromoteDue makes scheduled jobs whose run-at has passed available,
	// wakes their queues, and says which queues it touched and when the
	// next scheduled job falls due.
	PromoteDue(ctx context.Context) (PromoteResult, error)

	// Rescue handles running jobs whose lease has ended: those with
	// attempts left become available again (run-at now), with errInfo
	// appended to their history, its Attempt set to the job's attempt; the
	// others are dead-lettered the same way. RescueResult.Queues lists the
	// queues that got jobs back. Only one Rescue runs at a time
	// across every client of the same store; a call that finds another in
	// progress returns a zero result and no error.
	Rescue(ctx context.Context, errInfo AttemptError) (RescueResult, error)

	// Listen blocks until ctx ends, calling wake with a queue name when
	// jobs became available in that queue, with "" when every queue
	// should be polled (after a reconnect, for example), and with
	// CancelMessage(id) when running job id was cancelled. It returns
	// ErrListenUnsupported at once when the backend has no wake-ups, in
	// which case the client relies on polling alone.
	Listen(ctx context.Context, wake func(queue string)) error

	// ListDead returns dead-lettered jobs matching f, newest first.
	ListDead(ctx context.Context, f DeadFilter) ([]*DeadJob, error)

	// RequeueDead moves the dead-lettered jobs with the given IDs back into
	// their queues as available, under the same ID, with their attempt count reset, keeping
	// their error history. It returns how many it moved; unknown IDs are
	// skipped.
	RequeueDead(ctx context.Context, ids []int64) (int, error)

	// PurgeDead deletes dead-lettered jobs matching f and returns how many.
	PurgeDead(ctx context.Context, f DeadFilter) (int, error)
}

// State is where a job stands in its life.
type State string

// The states a job can be in. Completed and cancelled jobs leave the
// queue, kept in the history only when Config.Retention says so; dead jobs
// move to the dead-letter store.
const (
	StateAvailable State = "available" // due and claimable
	StateScheduled State = "scheduled" // waiting for a future run-at (new or retrying)
	StateRunning   State = "running"   // claimed; a lease is held
	StateWaiting   State = "waiting"   // a workflow task whose dependencies have not all finished
	StateDead      State = "dead"      // in the dead-letter store
	StateCompleted State = "completed" // finished successfully; in the history (Config.Retention)
	StateCancelled State = "cancelled" // cancelled before it finished; a dead letter marked cancelled
	// StateSkipped is the state of a workflow task that was not needed (a
	// batch's OnDiscard callback when every job completed); its job was
	// deleted unrun. Only WorkflowTaskInfo reports it.
	StateSkipped State = "skipped"
)

// StateOfDeadLetter returns the state a dead letter with error history
// errs is listed in: StateCancelled when its last error has kind
// "cancelled" (Client.Cancel, Admin.CancelJob, a bulk cancel), else
// StateDead. Both stay in the dead-letter store.
func StateOfDeadLetter(errs []AttemptError) State {
	if n := len(errs); n > 0 && errs[n-1].Kind == "cancelled" {
		return StateCancelled
	}
	return StateDead
}

// InsertParams is one job for Backend.Insert, already validated and encoded
// by the Client.
type InsertParams struct {
	// Kind names the job type; it is not empty.
	Kind string
	// Queue is the name of the queue the job goes to.
	Queue string
	// Priority is from 1 (runs first) to 10 (runs last).
	Priority int
	// Args is the job's payload encoded as a JSON object.
	Args json.RawMessage
	// MaxAttempts is how many attempts the job gets before it is
	// dead-lettered; it is positive.
	MaxAttempts int
	// RunAt is when the job becomes due; the zero time means now.
	RunAt time.Time
	// UniqueKey, when set, makes the job unique while waiting or running
	// (see UniqueInserter).
	UniqueKey string
	// Metadata is stored with the job and handed back on every claim.
	Metadata map[string]string
	// Sequence, when set, is the job's sequence key (see
	// EnqueueOptions.Sequence); only SequenceInserter stores it.
	Sequence string
	// SequenceContinue releases the next job of the sequence even when
	// this one fails (EnqueueOptions.SequenceContinue).
	SequenceContinue bool
}

// ClaimParams says what Backend.Claim may take.
type ClaimParams struct {
	// Queue is the queue to claim from.
	Queue string
	// Kinds lists the kinds the claiming client has workers for; jobs of
	// other kinds stay where they are.
	Kinds []string
	// Limit is the most jobs to claim in this call.
	Limit int
	// Lease is how long, from the claim, each claimed job is held before
	// a heartbeat must extend it.
	Lease time.Duration
	// ClientID names the claiming client, stored for operators' eyes only.
	ClientID string
}

// JobRef names one claim of a job: the ID and the fencing token the claim
// received. A token is never reused for the same job ID.
type JobRef struct {
	// ID is the job's ID.
	ID int64
	// Token is the fencing token the claim received.
	Token int64
}

// JobRow is a job as a Backend stores it. Its JSON form uses snake_case
// keys and leaves out times that are not set.
type JobRow struct {
	// ID is the job's ID; it stays the same across retries, dead-lettering
	// and requeueing.
	ID int64 `json:"id"`
	// Kind names the job type.
	Kind string `json:"kind"`
	// Queue is the job's queue.
	Queue string `json:"queue"`
	// Priority is from 1 (runs first) to 10 (runs last).
	Priority int `json:"priority"`
	// Args is the job's payload as stored, in JSON.
	Args json.RawMessage `json:"args"`
	// Attempt counts the job's attempts, the current one included: Claim
	// adds one, RefundAttempt gives one back and RequeueDead resets it to 0.
	Attempt int `json:"attempt"`
	// MaxAttempts is how many attempts the job gets before it is
	// dead-lettered.
	MaxAttempts int `json:"max_attempts"`
	// Errors is the job's error history, oldest first.
	Errors []AttemptError `json:"errors,omitempty"`
	// CreatedAt is when the job was first inserted, by the backend's clock.
	CreatedAt time.Time `json:"created_at"`
	// RunAt is when the job is or became due, by the backend's clock.
	RunAt time.Time `json:"run_at"`
	// AttemptedAt is when the job was last claimed, by the backend's
	// clock; zero when no claim is on record.
	AttemptedAt time.Time `json:"attempted_at,omitzero"`
	// LeaseUntil is when the current claim's lease ends unless a heartbeat
	// extends it; zero when the job is not running.
	LeaseUntil time.Time `json:"lease_until,omitzero"`
	// Token is the fencing token of the job's latest claim; Ref pairs it
	// with ID.
	Token int64 `json:"token"`
	// Metadata is what InsertParams.Metadata held; empty when none.
	Metadata map[string]string `json:"metadata,omitempty"`
	// WorkflowID is the workflow the job is a task of; 0 for a job of its
	// own.
	WorkflowID int64 `json:"workflow_id,omitempty"`
}

// Ref returns the row's claim reference.
func (r *JobRow) Ref() JobRef { return JobRef{ID: r.ID, Token: r.Token} }

// RescheduleParams says how Backend.Reschedule puts a job back.
type RescheduleParams struct {
	// Delay is how long from now, by the backend's clock, the job waits;
	// 0 or less makes it available at once.
	Delay time.Duration
	// Error, when not nil, is appended to the job's error history.
	Error *AttemptError
	// RefundAttempt gives back the attempt the claim counted, for runs
	// that must not use one up (snooze, release on shutdown).
	RefundAttempt bool
	// KeepRunAt, with Delay 0 or less, puts the job back available at its
	// own run time instead of now: its place in the queue and its
	// Job.ScheduledAt stay as they were, for a job released without
	// having run (Stop, an unknown kind). Default false: a retry or
	// snooze counts from now.
	KeepRunAt bool
}

// AttemptError records why one attempt failed. It is stored as JSON in the
// job's error history and in the dead-letter table.
type AttemptError struct {
	// Attempt is the job's attempt count when the error was recorded: the
	// number of the attempt that failed.
	Attempt int `json:"attempt"`
	// At is when the error was recorded, in UTC.
	At time.Time `json:"at"`
	// Error is the failure's text: the worker's error message, or a
	// description such as "cancelled".
	Error string `json:"error"`
	// Kind is "error", "panic", "permanent", "decode", "timeout",
	// "lease_expired", "client_gone" (its holder's liveness vanished, see
	// LivenessKeeper) or "cancelled".
	Kind string `json:"kind"`
	// Stack is the panicking goroutine's stack trace for a "panic";
	// empty otherwise.
	Stack string `json:"stack,omitempty"`
}

// PromoteResult is what one Backend.PromoteDue did.
type PromoteResult struct {
	// Queues lists each queue that received newly available jobs, once.
	Queues []string
	// NextIn is how long until the earliest job still scheduled is due on
	// the backend's clock; 0 when HasNext is false.
	NextIn time.Duration
	// HasNext is true when a job is still scheduled, so NextIn is
	// meaningful, and false when none is.
	HasNext bool
}

// RescueResult counts what one Backend.Rescue did.
type RescueResult struct {
	// Requeued is how many jobs with attempts left became available again.
	Requeued int
	// DeadLettered is how many jobs with no attempts left were
	// dead-lettered.
	DeadLettered int
	// Queues lists, once each, the queues that got requeued jobs back.
	Queues []string
	// Skipped lists jobs whose lease ended but that the store could move
	// neither back nor to the dead-letter store (their data is
	// unstorable there); they were left as they were, and the other jobs
	// were handled all the same. Empty on a healthy store.
	Skipped []int64
}

// DeadJob is a dead-lettered job.
type DeadJob struct {
	// ID is the job's ID, the one it had in the queue.
	ID int64
	// Kind names the job type.
	Kind string
	// Queue is the queue the job was in.
	Queue string
	// Priority is from 1 (runs first) to 10 (runs last).
	Priority int
	// Args is the job's payload as stored, in JSON.
	Args json.RawMessage
	// Attempt is the job's attempt count when it was dead-lettered.
	Attempt int
	// MaxAttempts is how many attempts the job was allowed.
	MaxAttempts int
	// Errors is the job's error history, oldest first; the last entry is
	// normally why it was dead-lettered.
	Errors []AttemptError
	// CreatedAt is when the job was first inserted.
	CreatedAt time.Time
	// DiedAt is when the job was dead-lettered, by the backend's clock.
	DiedAt time.Time
	// Metadata is what the job was enqueued with; empty when none.
	Metadata map[string]string
}

// DeadFilter selects dead-lettered jobs. Zero fields match everything.
type DeadFilter struct {
	// Kind, when set, matches only dead letters of that kind.
	Kind string
	// Queue, when set, matches only dead letters from that queue.
	Queue string
	// IDs, when non-empty, restricts to these job IDs.
	IDs []int64
	// DiedBefore, when set, matches only jobs dead-lettered strictly
	// before it.
	DiedBefore time.Time
	// DiedAfter, when set, matches only jobs dead-lettered strictly after
	// it.
	DiedAfter time.Time
	// Limit caps how many ListDead returns; 0 means 100. PurgeDead ignores it.
	Limit int
}

// DefaultDeadLimit is how many jobs ListDead returns when the filter sets
// no Limit.
const DefaultDeadLimit = 100

// EffectiveLimit is the number of jobs ListDead returns at most for f:
// f.Limit, or DefaultDeadLimit when it is zero or less. Backends call it
// so that they all apply the same default.
func (f DeadFilter) EffectiveLimit() int {
	if f.Limit <= 0 {
		return DefaultDeadLimit
	}
	return f.Limit
}
