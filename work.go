package pgqueue

// Workers: typed work units, the state of a running job, and the set of
// running jobs.

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// workUnit runs jobs of one kind without the engine knowing their type.
type workUnit interface {
	run(ctx context.Context, row *JobRow, st *jobState) error
	// retryPolicy is the kind's own policy, or nil for the client's.
	retryPolicy() *RetryPolicy
	// jobTimeout is the kind's own timeout, or 0 for the client's.
	jobTimeout() time.Duration
}

type typedUnit[T Args] struct {
	kind    string
	worker  Worker[T]
	retry   *RetryPolicy
	timeout time.Duration
}

func (u *typedUnit[T]) retryPolicy() *RetryPolicy { return u.retry }
func (u *typedUnit[T]) jobTimeout() time.Duration { return u.timeout }

// run decodes the args and calls the worker, turning a panic into a
// *PanicError and a decode failure into a *DecodeError.
func (u *typedUnit[T]) run(ctx context.Context, row *JobRow, st *jobState) (err error) {
	var args T
	if err := json.Unmarshal(row.Args, &args); err != nil {
		return &DecodeError{Kind: row.Kind, Err: err}
	}
	job := &Job[T]{
		ID: row.ID, Kind: row.Kind, Queue: row.Queue, Priority: row.Priority,
		Attempt: row.Attempt, MaxAttempts: row.MaxAttempts, Errors: row.Errors,
		CreatedAt: row.CreatedAt, ScheduledAt: row.RunAt, AttemptedAt: row.AttemptedAt,
		Args: args, Metadata: row.Metadata, state: st,
	}
	defer func() {
		if r := recover(); r != nil {
			err = &PanicError{Value: r, Stack: string(debug.Stack())}
		}
	}()
	return u.worker.Work(ctx, job)
}

// jobState is the engine's record of one claimed job, from its claim
// (a job claimed ahead waits for a worker, its lease kept alive like a
// running job's) to the end of its run.
type jobState struct {
	ref JobRef
	// completedTx is set once CompleteTx committed the completion inside
	// the worker's own transaction (or at least was sent: if that
	// transaction rolls back, the lease expires and the job runs again).
	completedTx atomic.Bool
	client      *Client
	// row is the claimed job, for CompleteTx (its queue's retention,
	// whether it is a workflow task).
	row *JobRow

	mu sync.Mutex
	// cancel cancels the run's context; nil until the run begins.
	cancel context.CancelCauseFunc
	// stopCause is why the job was stopped before its run began (lease
	// lost, cancelled); the run then does not start.
	stopCause error
	// abandonAt, when set, is when a run that ignores its timeout stops
	// having its lease renewed.
	abandonAt time.Time
	// ctx is the run's context (withJobState).
	ctx jobCtx
	// recorded holds what RecordOutput and SetProgress stored; nil until a
	// handler calls one, so that a run that records nothing (most) costs
	// nothing for it.
	recorded *runRecord
}

// runRecord is what a run recorded besides its outcome: its output, its
// latest progress, and whether a heartbeat carried that progress already.
type runRecord struct {
	output       json.RawMessage
	progress     *Progress
	progressSent bool
}

// stop cancels the run with cause, or, when it has not begun, makes sure
// it never does.
func (st *jobState) stop(cause error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.cancel != nil {
		st.cancel(cause)
	} else if st.stopCause == nil {
		st.stopCause = cause
	}
}

// begin records the run's cancel function and abandon time, and returns
// why the job was stopped while it waited (nil: run it).
func (st *jobState) begin(cancel context.CancelCauseFunc, abandonAt time.Time) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.cancel, st.abandonAt = cancel, abandonAt
	return st.stopCause
}

// abandoned reports whether the run outlived its timeout plus grace at now.
func (st *jobState) abandoned(now time.Time) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return !st.abandonAt.IsZero() && now.After(st.abandonAt)
}

// runningSet is the jobs this client holds, for heartbeats and shutdown.
// It is keyed by claim (ID and token), not by ID: a run that lost its
// lease and ignores cancellation may still be in the set when the same
// job is claimed again, and the two must not overwrite each other.
type runningSet struct {
	mu   sync.Mutex
	jobs map[JobRef]*jobState
}

func (s *runningSet) add(st *jobState) {
	s.mu.Lock()
	if s.jobs == nil {
		s.jobs = map[JobRef]*jobState{}
	}
	s.jobs[st.ref] = st
	s.mu.Unlock()
}

// get returns the state of the claim ref; nil when it is not held.
func (s *runningSet) get(ref JobRef) *jobState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.jobs[ref]
}

func (s *runningSet) remove(ref JobRef) {
	s.mu.Lock()
	delete(s.jobs, ref)
	s.mu.Unlock()
}

func (s *runningSet) snapshot() []*jobState {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*jobState, 0, len(s.jobs))
	for _, st := range s.jobs {
		out = append(out, st)
	}
	return out
}

func (s *runningSet) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.jobs)
}

func errorText(err error) string {
	if err == nil {
		return ""
	}
	return fmt.Sprint(err)
}
