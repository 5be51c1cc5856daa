package pgqueue

// The optional Backend interfaces: what a backend may do beyond storing
// and handing out jobs. The Client and Admin find them with a type
// assertion and report ErrUnsupported where one is missing. The Postgres
// backend implements all of them (postgres.go lists them).

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// ErrUnsupported is returned when the backend lacks the optional interface
// an operation needs (for example cancelling on a backend without
// Canceller). ErrTxUnsupported wraps it.
var ErrUnsupported = errors.New("pgqueue: not supported by this backend")

// Maintainer is an optional Backend interface for storage upkeep that
// does not fit the job life cycle, such as vacuuming. A started Client
// calls Maintain about once per PollInterval; it must be cheap when there
// is nothing to do and safe to call from many clients at once.
type Maintainer interface {
	Maintain(ctx context.Context) error
}

// Canceller is an optional Backend interface for cancelling jobs.
type Canceller interface {
	// CancelJob moves the job, in whatever state, to the dead-letter store
	// with a "cancelled" error; a running job's lease is thereby lost, and
	// the backend tells the client holding it (CancelMessage through
	// Listen). It returns ErrJobNotFound when the job is not in the queue.
	CancelJob(ctx context.Context, id int64) error
}

// QueueLimiter is an optional Backend interface for global per-queue
// limits.
type QueueLimiter interface {
	// SetQueueLimits stores queue's limits (zero values clear them); every
	// claim of the queue, by any client, keeps them from then on.
	SetQueueLimits(ctx context.Context, queue string, l QueueLimits) error
}

// QueuePauser is an optional Backend interface for pausing queues: a
// paused queue is not claimed by any client until resumed; jobs already
// running finish, and enqueueing still works.
type QueuePauser interface {
	PauseQueue(ctx context.Context, queue string) error
	// ResumeQueue reports whether the queue was paused.
	ResumeQueue(ctx context.Context, queue string) (bool, error)
}

// KindCensus is an optional Backend interface that lets a client notice
// due jobs it will never claim because it has no worker for their kind.
// The client does not touch them (another deployment may own the kind);
// it logs them and reports them from UnworkedKinds.
type KindCensus interface {
	// UnworkedKinds counts, per kind, up to limit due jobs of queue whose
	// kind is not in kinds and that have waited longer than olderThan.
	UnworkedKinds(ctx context.Context, queue string, kinds []string, olderThan time.Duration, limit int) (map[string]int, error)
}

// TxInserter is an optional Backend interface for enqueueing inside the
// caller's own Postgres transaction (EnqueueTx, EnqueueManyTx): the jobs
// exist if and only if that transaction commits, and the queues they land
// in are woken at its commit.
type TxInserter interface {
	// InsertTx stores jobs on tx as UniqueInserter.InsertUnique does on
	// the backend's own connections.
	InsertTx(ctx context.Context, tx DBTX, jobs []InsertParams) ([]InsertResult, error)
}

// TxCompleter is an optional Backend interface for completing a running
// job inside the caller's transaction (CompleteTx), so that the worker's
// own writes and the completion commit together.
type TxCompleter interface {
	// CompleteTx completes the job held under ref on tx. It returns
	// ErrLeaseLost when the job is no longer held under ref.
	CompleteTx(ctx context.Context, tx DBTX, ref JobRef) error
}

// CopyInserter is an optional Backend interface for the fastest bulk
// insert (EnqueueManyFast): COPY on Postgres, no IDs returned.
type CopyInserter interface {
	// CopyInsert stores jobs, which have no unique keys, on tx (the
	// caller's transaction), or in a transaction of the backend's own
	// when tx is nil, and returns how many it stored. On an error none
	// is stored (with tx nil) or tx must be rolled back.
	CopyInsert(ctx context.Context, tx CopyDBTX, jobs []InsertParams) (int, error)
}

// ListenReporter is an optional Backend interface for a Listen that
// reconnects by itself and can say why a session failed: the client
// passes report, which logs the failures (repeats collapsed) so that a
// listener that cannot connect is never silent.
type ListenReporter interface {
	// ListenReporting is Listen, calling report with the error of each
	// session that failed while ctx was live.
	ListenReporting(ctx context.Context, wake func(queue string), report func(error)) error
}

// Releaser is an optional Backend interface for stores that put back many
// unstarted jobs in one call. At Stop, the jobs a client claimed ahead
// that no worker started yet are released through it: each as Reschedule
// with RefundAttempt and KeepRunAt and no delay would (available at once
// at its own run time, the claim's attempt given back), each queue woken
// once. Without it, the client
// releases them one Reschedule at a time.
type Releaser interface {
	// Release puts back the jobs of refs still held under their tokens
	// and returns their IDs; a job whose lease was lost meanwhile is left
	// as it is and not returned. It returns an error wrapping ErrDatabase
	// when the store fails, having released none of them.
	Release(ctx context.Context, refs []JobRef) ([]int64, error)
}

// SchemaChecker is an optional Backend interface for stores that must be
// prepared before use, such as a Postgres schema that must be migrated.
type SchemaChecker interface {
	// CheckSchema returns nil when the store is ready, and otherwise an
	// error saying what is missing and how to fix it (ErrNotMigrated on
	// Postgres).
	CheckSchema(ctx context.Context) error
}

// UniqueInserter is an optional Backend interface for backends that
// enforce InsertParams.UniqueKey. The Client refuses unique jobs on a
// backend without it.
type UniqueInserter interface {
	// InsertUnique stores the jobs whose unique key (if any) is not held by
	// a waiting or running job, and reports each job's outcome in order.
	// Within one batch, the first job with a key wins.
	InsertUnique(ctx context.Context, jobs []InsertParams) ([]InsertResult, error)
}

// LivenessKeeper is an optional Backend interface that tells a dead
// client from a slow one: each client binds its liveness to something the
// store drops when the process dies (on Postgres a session-level advisory
// lock held on a connection of its own), and the jobs of a client whose
// liveness stays gone for Config.LivenessGrace are rescued at once,
// without waiting for their leases to end. A store that cannot tell (a
// network partition, a client that never bound its liveness) leaves the
// job to its lease.
type LivenessKeeper interface {
	// KeepAlive binds the liveness of client p.ClientID and holds it until
	// ctx ends, binding it again each time it is lost (a terminated
	// connection, a store restart), and passes each failure to p.Report
	// (when not nil). It returns nil when ctx ends, and at once an error
	// wrapping ErrUnsupported when this backend cannot bind liveness for
	// these parameters; the client's jobs are then left to their leases.
	KeepAlive(ctx context.Context, p LivenessParams) error
	// Holders reports, for every client that holds running jobs, whether
	// its liveness is bound at this moment.
	Holders(ctx context.Context) (map[string]bool, error)
	// RescueGone requeues (or, with no attempts left, dead-letters) as
	// Backend.Rescue does, with errInfo, the running jobs held by the
	// clients in gone that were claimed more than minAge ago, but only
	// those of a client whose liveness is still not bound as the store
	// moves them. Like Rescue it runs one at a time across the clients of
	// a store: a call that finds another in progress returns a zero
	// result and no error.
	RescueGone(ctx context.Context, gone []string, minAge time.Duration, errInfo AttemptError) (RescueResult, error)
}

// LivenessParams are LivenessKeeper.KeepAlive's parameters.
type LivenessParams struct {
	// ClientID is Config.ID, the name the client claims jobs under.
	ClientID string
	// Pooled is Config.PollOnly: the client's connections may go through
	// a transaction pooler, where a session (and what it holds) is not
	// the client's own. A backend whose liveness needs a session binds it
	// then only on a connection configured as direct.
	Pooled bool
	// Report, when not nil, is called with the error of each failed
	// attempt to bind or hold liveness while ctx is live.
	Report func(error)
	// Bound, when not nil, is called each time the liveness is bound (the
	// first time, and again after each loss), before the binding is
	// relied on: the client then declares in its registry entry that it
	// binds liveness (ClientInfo.Liveness).
	Bound func()
}

// Completion is one successful run for RunRecorder.CompleteRecorded.
type Completion struct {
	// Ref names the claim being completed.
	Ref JobRef
	// Output is the JSON value the handler recorded (RecordOutput); nil
	// when it recorded none.
	Output json.RawMessage
	// Keep is how long the completed job stays in the history; 0 deletes
	// it as Complete does (its output is then dropped with it).
	Keep time.Duration
	// Workflow says the job is a workflow task (JobRow.WorkflowID): its
	// completion also releases the dependents whose last unfinished
	// dependency it was, and keeps its output for them.
	Workflow bool
}

// RunRecorder is an optional Backend interface that stores what a run
// leaves behind besides its outcome: its output, its progress, and the
// completed job in the history. The client uses it only for runs that
// have one of those, so the plain Complete and Heartbeat stay the default
// path. Without it, output, progress and retention are not kept (the
// client logs this once).
type RunRecorder interface {
	// CompleteRecorded is Complete for runs with output or a retention:
	// each job still held under its ref is finished, and kept in the
	// history with its output, in state completed, until at least Keep
	// from now when Keep > 0. It returns the refs no longer held.
	CompleteRecorded(ctx context.Context, done []Completion) (lost []JobRef, err error)
	// DeadLetterRecorded is DeadLetter that also stores output with the
	// dead letter.
	DeadLetterRecorded(ctx context.Context, ref JobRef, errInfo AttemptError, output json.RawMessage) error
	// HeartbeatProgress is Heartbeat that also stores progress[i] (encoded
	// Progress; nil leaves the job's stored progress as it is) with the
	// job held under refs[i].
	HeartbeatProgress(ctx context.Context, refs []JobRef, progress []json.RawMessage, lease time.Duration) (lost []JobRef, err error)
}

// TxRunRecorder is an optional Backend interface for CompleteTx of a run
// with output or a retention (see RunRecorder).
type TxRunRecorder interface {
	// CompleteRecordedTx completes c.Ref on tx as CompleteRecorded does.
	// It returns ErrLeaseLost when the job is no longer held.
	CompleteRecordedTx(ctx context.Context, tx DBTX, c Completion) error
}

// HistoryUpkeep says what one HistoryKeeper.MaintainHistory did.
type HistoryUpkeep struct {
	// Made counts the storage units (Postgres: hourly partitions) made
	// ready for completions.
	Made int
	// Dropped counts the storage units dropped, or the jobs deleted, whose
	// keep time had passed.
	Dropped int
}

// HistoryKeeper is an optional Backend interface for the upkeep of the
// history RunRecorder writes. Every started client calls it about once
// a minute (HistoryUpkeepInterval), and at Start.
type HistoryKeeper interface {
	// MaintainHistory readies the store for completions kept up to keep
	// from now (0: this client keeps none) and drops the kept jobs whose
	// keep time has passed. It must be cheap when there is nothing to do
	// and safe to call from many clients at once.
	MaintainHistory(ctx context.Context, keep time.Duration) (HistoryUpkeep, error)
}

// CompletionChecker is an optional Backend interface for a store whose
// completion write may commit and then lose its reply (a connection cut
// at that moment). The engine resends such a write; the resend finds the
// jobs the first one completed gone and reports them as lost leases. The
// engine then asks Finished which of them left the store, and reports
// those as completed instead of publishing EventLeaseLost for a run
// whose completion was stored.
type CompletionChecker interface {
	// Finished returns the refs among refs whose jobs are in the store no
	// more, neither waiting, running nor dead-lettered: a running job
	// leaves it only by completing (kept in the history or not). A job
	// rescued meanwhile and completed by another run counts as finished
	// too. The order of the result is unspecified.
	Finished(ctx context.Context, refs []JobRef) ([]JobRef, error)
}
