package pgqueue

// Running one claimed job: the worker goroutines, the handler call with its
// middleware and timeout, and recording the outcome so that the event
// reports what was stored.

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"
)

// workLoop runs the queue's jobs one at a time until the queue closes.
func (e *engine) workLoop(q *queueFetcher) {
	for row := range q.jobs {
		e.execute(q, row)
	}
}

func (e *engine) execute(q *queueFetcher, row *JobRow) {
	ctx, cancel := context.WithCancelCause(e.jobsCtx)
	st := e.running.get(row.Ref())
	if st == nil {
		st = &jobState{ref: row.Ref(), row: row, client: e.c}
		e.running.add(st)
	}
	ctx = withJobState(ctx, st)
	defer func() {
		e.running.remove(row.Ref())
		cancel(nil)
		q.active.Add(-1)
		q.finished.Add(1)
		if q.backlog.Load() {
			q.poke()
		}
		e.jobsWG.Done()
	}()
	unit := e.c.workers[row.Kind]
	if unit == nil {
		// Claim filters on our kinds, so this means a backend bug; put the
		// job back untouched rather than burn its attempt.
		_ = e.releaseOne(row, "release unknown kind")
		return
	}
	if e.loopsCtx.Err() != nil {
		// Stop began while the job waited for a worker (it was claimed
		// ahead): put it back unstarted, without spending its attempt.
		e.publish(row, releasedEvent(row, e.releaseOne(row, "release unstarted on shutdown")), false)
		return
	}
	timeout := e.cfg.JobTimeout
	if t := unit.jobTimeout(); t > 0 {
		timeout = t
	}
	var abandonAt time.Time
	if timeout > 0 {
		var stop context.CancelFunc
		ctx, stop = context.WithTimeoutCause(ctx, timeout, errJobTimeout)
		defer stop()
		abandonAt = time.Now().Add(saturatingAdd(timeout, e.cfg.ShutdownGrace))
	}
	if cause := st.begin(cancel, abandonAt); cause != nil {
		// Lost or cancelled while it waited for a worker: the store no
		// longer holds it for us, so it must not run.
		kind := EventLeaseLost
		if errors.Is(cause, ErrJobCancelled) {
			kind = EventCancelled
		}
		e.publish(row, Event{Kind: kind, Err: cause, Job: metaOf(row), At: time.Now()}, false)
		return
	}

	meta := metaOf(row)
	h := Handler(func(ctx context.Context, _ *JobMeta) error { return unit.run(ctx, row, st) })
	for i := len(e.cfg.Middleware) - 1; i >= 0; i-- {
		h = e.cfg.Middleware[i](h)
	}
	started := time.Now()
	err := runHandler(ctx, h, meta)
	took := time.Since(started)
	e.finish(ctx, row, st, unit, err, func(ev Event) {
		ev.Job, ev.Duration, ev.At = meta, took, time.Now()
		e.publish(row, ev, true)
	})
}

// publish sends ev, the outcome of a run of row, to subscribers and
// counts it in the stats rollup (in memory only: the rollup is written on
// its own loop). ran says the handler ran, ev.Duration being its time.
func (e *engine) publish(row *JobRow, ev Event, ran bool) {
	e.c.events.publish(ev)
	e.stats.observe(row, ev.Kind, ran, ev.Duration, ev.At)
}

// runHandler calls h, turning a panic raised in middleware (the worker's
// own panics are caught closer to it) into a *PanicError.
func runHandler(ctx context.Context, h Handler, meta *JobMeta) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &PanicError{Value: r, Stack: string(debug.Stack())}
		}
	}()
	return h(ctx, meta)
}

// finish records the outcome of one run and publishes its event once the
// outcome is stored (or known not to be): the event reports what was
// stored, never merely what the handler returned. A completion's event
// comes from the completer, after its batch is written.
func (e *engine) finish(ctx context.Context, row *JobRow, st *jobState, unit workUnit, err error, publish func(Event)) {
	cause := context.Cause(ctx)
	if errors.Is(cause, ErrJobCancelled) {
		// The job already sits in the dead-letter store; nothing to record.
		publish(Event{Kind: EventCancelled, Err: err})
		return
	}
	if errors.Is(cause, ErrLeaseLost) {
		e.c.log.Warn("pgqueue: job lease lost while running; its result is dropped", "id", row.ID, "kind", row.Kind, "err", err)
		publish(Event{Kind: EventLeaseLost, Err: err})
		return
	}
	// outcome publishes ev if the write that stored it succeeded, and
	// otherwise says the result was dropped: the job stays running until
	// its lease ends, then is rescued.
	outcome := func(ev Event, werr error) {
		if werr != nil {
			ev = Event{Kind: EventLeaseLost, Err: errors.Join(err, werr)}
		}
		publish(ev)
	}
	if err == nil {
		if st.completedTx.Load() {
			// Stored by CompleteTx in the worker's transaction.
			publish(Event{Kind: EventCompleted})
			return
		}
		recorded := func(werr error) { outcome(Event{Kind: EventCompleted}, werr) }
		done := Completion{Ref: row.Ref(), Output: st.recordedOutput(), Keep: e.cfg.retentionFor(row.Queue), Workflow: row.WorkflowID != 0}
		if !e.completer.add(done, recorded) {
			// Stop's grace ended while the job ran: nothing writes its
			// completion now, and it will run again after its lease.
			e.c.log.Warn("pgqueue: job returned after shutdown; its completion is not recorded and it will run again after its lease", "id", row.ID, "kind", row.Kind)
			recorded(fmt.Errorf("%w: job %d returned after the client stopped; completion not recorded", ErrLeaseLost, row.ID))
		}
		return
	}
	if st.completedTx.Load() {
		// CompleteTx ran, then the handler failed. If the transaction
		// committed, the job is completed and no longer held, so putting it
		// back reports a lost lease: the completion is what was stored. If
		// it rolled back, the job is still held and fails as usual.
		e.finishFailed(ctx, row, st, unit, err, func(ev Event, werr error) {
			if errors.Is(werr, ErrLeaseLost) {
				publish(Event{Kind: EventCompleted, Err: err})
				return
			}
			outcome(ev, werr)
		})
		return
	}
	e.finishFailed(ctx, row, st, unit, err, outcome)
}

// finishFailed records a run that returned err (not nil) and calls
// outcome with its event and the error of the write that stored it.
func (e *engine) finishFailed(ctx context.Context, row *JobRow, st *jobState, unit workUnit, err error, outcome func(Event, error)) {
	cause := context.Cause(ctx)
	if errors.Is(cause, errShutdown) {
		werr := e.record(row, "release on shutdown", func(ctx context.Context) error {
			return e.backend.Reschedule(ctx, row.Ref(), RescheduleParams{RefundAttempt: true})
		})
		outcome(Event{Kind: EventReleased, Err: err}, werr)
		return
	}
	var snooze *snoozeError
	if errors.As(err, &snooze) {
		outcome(Event{Kind: EventSnoozed}, e.reschedule(row, RescheduleParams{Delay: snooze.d, RefundAttempt: true}))
		return
	}
	info := AttemptError{Attempt: row.Attempt, At: time.Now().UTC(), Error: errorText(err), Kind: "error"}
	var perr *PanicError
	var derr *DecodeError
	switch {
	case errors.As(err, &derr):
		info.Kind = "decode"
	case errors.As(err, &perr):
		info.Kind, info.Stack = "panic", perr.Stack
	case IsPermanent(err):
		info.Kind = "permanent"
	case errors.Is(cause, errJobTimeout):
		info.Kind = "timeout"
		info.Error = fmt.Sprintf("job timed out: %v", err)
		err = fmt.Errorf("%w: %w", ErrJobTimeout, err)
	case errors.Is(err, context.DeadlineExceeded):
		info.Kind = "timeout"
	}
	// The text is the worker's: it may hold a NUL, which Postgres cannot
	// store, and a failing write would leave the job to lease expiry.
	info.Error, info.Stack = storableText(info.Error), storableText(info.Stack)
	if info.Kind == "decode" || info.Kind == "permanent" || row.Attempt >= row.MaxAttempts {
		e.c.log.Warn("pgqueue: job dead-lettered", "id", row.ID, "kind", row.Kind, "attempt", row.Attempt, "err", info.Error)
		output := st.recordedOutput()
		rr, _ := e.backend.(RunRecorder)
		if output != nil && rr == nil {
			e.warnNoRunRecorder()
		}
		werr := e.record(row, "dead-letter", func(ctx context.Context) error {
			if output != nil && rr != nil {
				return rr.DeadLetterRecorded(ctx, row.Ref(), info, output)
			}
			return e.backend.DeadLetter(ctx, row.Ref(), info)
		})
		outcome(Event{Kind: EventDead, Err: err}, werr)
		return
	}
	policy := e.cfg.Retry
	if p := unit.retryPolicy(); p != nil {
		policy = *p
	}
	outcome(Event{Kind: EventFailed, Err: err}, e.reschedule(row, RescheduleParams{Delay: policy.Backoff(row.Attempt), Error: &info}))
}

// reschedule puts the job back by p and returns record's result.
func (e *engine) reschedule(row *JobRow, p RescheduleParams) error {
	// The store counts the delay from when it writes the job, so the
	// promoter's kick counts from before the write, not after its round
	// trip: a slow write must not delay the retry by its own duration. A
	// kick that comes early costs one pass; the promoter then waits for
	// the due time the store reports.
	sent := time.Now()
	werr := e.record(row, "reschedule", func(ctx context.Context) error {
		return e.backend.Reschedule(ctx, row.Ref(), p)
	})
	if werr == nil && p.Delay > 0 {
		// Promote it on time instead of at the next poll.
		e.promoter.kickAfter(p.Delay - time.Since(sent))
	}
	return werr
}

// record runs a backend write for a finished job, retrying transient
// failures briefly. If it still fails, the job stays running until its
// lease expires and the rescuer retries it: nothing is lost. It returns
// nil when the write was stored, and the last error (matching
// ErrLeaseLost when the job was no longer held) otherwise.
func (e *engine) record(row *JobRow, what string, op func(ctx context.Context) error) error {
	err := retryWithBackoff(e.bgCtx, 5, 50*time.Millisecond, func(err error) bool { return errors.Is(err, ErrLeaseLost) }, func(int) error {
		ctx, cancel := context.WithTimeout(e.bgCtx, 10*time.Second)
		defer cancel()
		return op(ctx)
	})
	switch {
	case err == nil:
	case errors.Is(err, ErrLeaseLost):
		e.c.log.Warn("pgqueue: job lease lost before its result was recorded", "id", row.ID, "kind", row.Kind, "op", what)
	default:
		e.c.log.Error("pgqueue: could not record job result; it will be rescued after its lease", "id", row.ID, "kind", row.Kind, "op", what, "err", err)
	}
	return err
}
