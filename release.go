package pgqueue

// Releasing at Stop the jobs claimed ahead that no worker started.

import (
	"context"
	"fmt"
	"time"
)

// releaseUnstarted takes out of every queue's hand-over buffer the jobs
// claimed ahead that no worker has taken yet, and puts them back in one
// call per queue when the backend is a Releaser: a queue may hold up to
// claimAheadGrowth × MaxWorkers of them, and releasing each with its own
// write (and, on Postgres, its own NOTIFY, which serialises commits) made
// Stop wait for hundreds of round trips in a row. A job a worker took
// meanwhile is released by that worker, as before. It runs once the fetch
// loops have ended, so nothing refills the buffers.
func (e *engine) releaseUnstarted() {
	rel, ok := e.backend.(Releaser)
	if !ok {
		return
	}
	for _, q := range e.queues {
		rows := q.takeBuffered()
		if len(rows) == 0 {
			continue
		}
		refs := make([]JobRef, len(rows))
		for i, row := range rows {
			refs[i] = row.Ref()
		}
		var released []int64
		err := retryWithBackoff(e.bgCtx, 3, 50*time.Millisecond, nil, func(int) error {
			ctx, cancel := context.WithTimeout(e.bgCtx, 10*time.Second)
			defer cancel()
			var err error
			released, err = rel.Release(ctx, refs)
			return err
		})
		if err != nil {
			// Back into the buffer (it has room: they came out of it), so
			// that the queue's workers release them one by one, in
			// parallel, as on a backend without Releaser.
			e.c.log.Warn("pgqueue: releasing the jobs claimed ahead failed; the workers release them one by one", "queue", q.name, "jobs", len(rows), "err", err)
			for _, row := range rows {
				q.jobs <- row
			}
			continue
		}
		back := make(map[int64]bool, len(released))
		for _, id := range released {
			back[id] = true
		}
		for _, row := range rows {
			var werr error
			if !back[row.ID] {
				werr = fmt.Errorf("%w: job %d", ErrLeaseLost, row.ID)
			}
			e.endUnstarted(q, row, werr)
		}
	}
}

// takeBuffered empties the queue's hand-over buffer without blocking and
// returns the jobs it held.
func (q *queueFetcher) takeBuffered() []*JobRow {
	var rows []*JobRow
	for {
		select {
		case row := <-q.jobs:
			rows = append(rows, row)
		default:
			return rows
		}
	}
}

// releaseOne puts back one job that never started (claimed ahead when
// Stop began, or of a kind this client does not work), without spending
// its attempt and at its own run time, and returns record's result; what
// names the operation in record's logs.
func (e *engine) releaseOne(row *JobRow, what string) error {
	return e.record(row, what, func(ctx context.Context) error {
		return e.backend.Reschedule(ctx, row.Ref(), RescheduleParams{RefundAttempt: true, KeepRunAt: true})
	})
}

// endUnstarted does for a released job taken from the buffer what a
// worker's run does when it ends: the job leaves the running set and the
// queue's count, Stop stops waiting for it, and its event (released, or
// lease lost when werr says the store no longer held it) goes out.
func (e *engine) endUnstarted(q *queueFetcher, row *JobRow, werr error) {
	e.running.remove(row.Ref())
	q.active.Add(-1)
	q.finished.Add(1)
	e.publish(row, releasedEvent(row, werr), false)
	e.jobsWG.Done()
}

// releasedEvent is the event of a job released unstarted: EventReleased,
// or EventLeaseLost with werr when the release could not be written.
func releasedEvent(row *JobRow, werr error) Event {
	ev := Event{Kind: EventReleased}
	if werr != nil {
		ev = Event{Kind: EventLeaseLost, Err: werr}
	}
	ev.Job, ev.At = metaOf(row), time.Now()
	return ev
}
