package pgqueue

// Admin, the operator's API over a Postgres schema: stats, job lookup,
// cancel and retry, dead-letter counts and queue limits.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// Admin is the operator's API over a Postgres queue: statistics, dead
// letters, pausing queues, cancelling and retrying jobs. The pgqueue CLI
// is a thin shell around it, and dashboards can use it directly. It needs
// no running Client.
type Admin struct {
	b *PostgresBackend
}

// NewAdmin returns an Admin over b's schema.
func NewAdmin(b *PostgresBackend) *Admin { return &Admin{b: b} }

// StatsExactLimit is the count up to which Stats counts jobs exactly;
// past it, a count is the query planner's estimate (Count.Estimated).
const StatsExactLimit = 10000

// Count is a number of jobs, exact or estimated.
type Count struct {
	// N is the number of jobs. When Estimated is true it is the planner's
	// estimate and never below StatsExactLimit.
	N int64 `json:"n"`
	// Estimated is true when N is the planner's estimate because the
	// exact count passed StatsExactLimit.
	Estimated bool `json:"estimated,omitempty"`
}

// String formats the count, marking estimates with a "~".
func (c Count) String() string {
	if c.Estimated {
		return fmt.Sprintf("~%d", c.N)
	}
	return fmt.Sprint(c.N)
}

// QueueStats describes one queue.
type QueueStats struct {
	// Queue is the queue's name.
	Queue string `json:"queue"`
	// Paused is true while the queue is paused (see Admin.PauseQueue).
	Paused bool `json:"paused"`
	// Limits are the queue's global limits (Admin.SetQueueLimits); zero
	// when it has none.
	Limits QueueLimits `json:"limits,omitzero"`
	// Available counts the jobs that are due and waiting for a worker.
	Available Count `json:"available"`
	// Scheduled counts the jobs waiting for a future run time: new,
	// retrying or snoozed, plus due ones not yet promoted.
	Scheduled Count `json:"scheduled"`
	// Running counts the jobs a client holds, including those whose lease
	// expired but that were not rescued yet.
	Running Count `json:"running"`
	// Lag is how long the oldest due job has been waiting; 0 when none is.
	Lag time.Duration `json:"lag_ns"`
}

// RunningJob is a job some client holds.
type RunningJob struct {
	// ID is the job's ID.
	ID int64 `json:"id"`
	// Queue is the job's queue.
	Queue string `json:"queue"`
	// Kind names the job type.
	Kind string `json:"kind"`
	// Attempt is the number of the running attempt, starting at 1.
	Attempt int `json:"attempt"`
	// MaxAttempts is how many attempts the job gets before it is
	// dead-lettered.
	MaxAttempts int `json:"max_attempts"`
	// ClaimedBy is the ID (Config.ID) of the client holding the job.
	ClaimedBy string `json:"claimed_by"`
	// AttemptedAt is when the running attempt claimed the job.
	AttemptedAt time.Time `json:"attempted_at"`
	// LeaseUntil is when the lease ends unless a heartbeat extends it; a
	// time in the past means the job awaits rescue.
	LeaseUntil time.Time `json:"lease_until"`
}

// KindCount is the number of dead letters of one kind.
type KindCount struct {
	// Kind names the job type.
	Kind string `json:"kind"`
	// Count is how many dead letters of Kind there are.
	Count Count `json:"count"`
}

// Stats is a snapshot of a queue schema.
type Stats struct {
	// At is when the snapshot was taken, by the database's clock (the
	// local clock when there are no queues).
	At time.Time `json:"at"`
	// Queues lists, sorted by name, every queue that holds jobs and every
	// queue that is paused or has global limits, even if empty.
	Queues []QueueStats `json:"queues"`
	// Running lists up to 100 running jobs, soonest lease end first.
	Running []RunningJob `json:"running"`
	// Dead counts the dead letters of each kind that has any.
	Dead []KindCount `json:"dead_by_kind"`
}

// Stats reports, per queue, its jobs by state, whether it is paused and
// its lag; the running jobs and their lease deadlines; and dead letters by
// kind. It stays fast on tables of millions of rows: queues and kinds are
// found by skipping through indexes, and counts are exact up to
// StatsExactLimit and planner estimates beyond. It returns ErrNotMigrated
// when the schema has no pgqueue tables.
func (a *Admin) Stats(ctx context.Context) (*Stats, error) {
	if err := a.b.checkMigrated(ctx); err != nil {
		return nil, err
	}
	st := &Stats{Queues: []QueueStats{}, Running: []RunningJob{}, Dead: []KindCount{}}
	rows, _ := a.b.pool.Query(ctx, a.b.q.QueueList)
	queues, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (QueueStats, error) {
		var (
			qs          QueueStats
			paused      pgtype.Timestamptz
			maxRunning  pgtype.Int4
			rate, burst pgtype.Float8
		)
		err := row.Scan(&qs.Queue, &paused, &maxRunning, &rate, &burst)
		qs.Paused = paused.Valid
		qs.Limits.MaxRunning = int(maxRunning.Int32)
		if rate.Valid {
			qs.Limits.Rate = &RateLimit{PerSecond: rate.Float64, Burst: int(burst.Float64)}
		}
		return qs, err
	})
	if err != nil {
		return nil, dbErr("list queues", err)
	}
	for _, qs := range queues {
		var oldest pgtype.Timestamptz
		var a1, s1, r1 int64
		if err := a.b.pool.QueryRow(ctx, a.b.q.StatsQueue, qs.Queue, StatsExactLimit).Scan(&a1, &s1, &r1, &oldest, &st.At); err != nil {
			return nil, dbErr("queue stats", err)
		}
		if qs.Available, err = a.estimateOver(ctx, a1, a.b.q.statsEstimate(StateAvailable), qs.Queue); err != nil {
			return nil, err
		}
		if qs.Scheduled, err = a.estimateOver(ctx, s1, a.b.q.statsEstimate(StateScheduled), qs.Queue); err != nil {
			return nil, err
		}
		if qs.Running, err = a.estimateOver(ctx, r1, a.b.q.statsEstimate(StateRunning), qs.Queue); err != nil {
			return nil, err
		}
		if oldest.Valid && st.At.After(oldest.Time) {
			qs.Lag = st.At.Sub(oldest.Time)
		}
		st.Queues = append(st.Queues, qs)
	}
	if st.At.IsZero() {
		st.At = time.Now()
	}

	rows, _ = a.b.pool.Query(ctx, a.b.q.StatsRunning, 100)
	st.Running, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (RunningJob, error) {
		var (
			r                 RunningJob
			attempted, leased pgtype.Timestamptz
		)
		err := row.Scan(&r.ID, &r.Queue, &r.Kind, &r.Attempt, &r.MaxAttempts, &r.ClaimedBy, &attempted, &leased)
		r.AttemptedAt, r.LeaseUntil = attempted.Time, leased.Time
		return r, err
	})
	if err != nil {
		return nil, dbErr("running jobs", err)
	}

	rows, _ = a.b.pool.Query(ctx, a.b.q.StatsDead, StatsExactLimit)
	dead, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (KindCount, error) {
		var k KindCount
		err := row.Scan(&k.Kind, &k.Count.N)
		return k, err
	})
	if err != nil {
		return nil, dbErr("dead letters by kind", err)
	}
	for i := range dead {
		if dead[i].Count, err = a.estimateOver(ctx, dead[i].Count.N, a.b.q.StatsDeadEstimate, dead[i].Kind); err != nil {
			return nil, err
		}
	}
	st.Dead = dead
	return st, nil
}

// estimateOver returns exact as an exact Count, unless it reached the cap;
// then it asks the planner for an estimate (never below the cap).
func (a *Admin) estimateOver(ctx context.Context, exact int64, explain string, arg string) (Count, error) {
	if exact < StatsExactLimit {
		return Count{N: exact}, nil
	}
	var plan []struct {
		Plan struct {
			Rows float64 `json:"Plan Rows"`
		} `json:"Plan"`
	}
	var raw []byte
	if err := a.b.pool.QueryRow(ctx, explain, arg).Scan(&raw); err != nil {
		return Count{}, dbErr("estimate count", err)
	}
	if err := json.Unmarshal(raw, &plan); err != nil || len(plan) == 0 {
		return Count{}, fmt.Errorf("%w: estimate count: unreadable plan: %v", ErrDatabase, err)
	}
	return Count{N: max(int64(plan[0].Plan.Rows), exact), Estimated: true}, nil
}

// checkMigrated returns ErrNotMigrated, with the fix, when the schema
// lacks the pgqueue tables.
func (b *PostgresBackend) checkMigrated(ctx context.Context) error {
	var ok bool
	err := b.pool.QueryRow(ctx, b.q.SchemaCheck,
		pgx.Identifier{b.schema, "pgqueue_jobs"}.Sanitize(), pgx.Identifier{b.schema, "pgqueue_queues"}.Sanitize()).Scan(&ok)
	if err != nil {
		return dbErr("check schema", err)
	}
	if !ok {
		return fmt.Errorf("%w: schema %q has no pgqueue tables (or an old version of them); run `pgqueue migrate up --schema %s` or pgqueue.Migrate", ErrNotMigrated, b.schema, b.schema)
	}
	return nil
}

// CheckMigrated returns nil when the schema holds the current pgqueue
// tables, ErrNotMigrated (saying how to fix it) when it does not, and
// ErrDatabase when the database cannot be reached.
func (a *Admin) CheckMigrated(ctx context.Context) error { return a.b.checkMigrated(ctx) }

// PauseQueue stops every client from claiming jobs of queue. Jobs already
// running finish; new jobs can still be enqueued. Pausing a paused queue
// is a no-op. The pause is stored, so it outlives client restarts, and it
// applies at each client's next claim. ErrInvalidArgs for a bad name.
func (a *Admin) PauseQueue(ctx context.Context, queue string) error {
	return a.b.PauseQueue(ctx, queue)
}

// ResumeQueue lets clients claim from a paused queue again and wakes them.
// It reports whether the queue was paused.
func (a *Admin) ResumeQueue(ctx context.Context, queue string) (bool, error) {
	return a.b.ResumeQueue(ctx, queue)
}

// JobInfo is a job in the queue table, in any state.
type JobInfo struct {
	JobRow
	// State is available, scheduled or running: dead letters are not in
	// the queue table.
	State State `json:"state"`
	// ClaimedBy is the ID (Config.ID) of the client holding a running job;
	// empty for a waiting one.
	ClaimedBy string `json:"claimed_by,omitempty"`
}

// Job returns a job of the queue table. It returns ErrJobNotFound when the
// job is not there (it may have completed, or be a dead letter: see
// ListDead).
func (a *Admin) Job(ctx context.Context, id int64) (*JobInfo, error) {
	var (
		info  JobInfo
		state string
	)
	err := scanJobColumns(a.b.pool.QueryRow(ctx, a.b.q.JobGet, id), &info.JobRow, &state, &info.ClaimedBy)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("%w: %d", ErrJobNotFound, id)
	}
	if err != nil {
		return nil, dbErr("get job", err)
	}
	info.State = State(state)
	return &info, nil
}

// CancelJob cancels a job: see PostgresBackend.CancelJob.
func (a *Admin) CancelJob(ctx context.Context, id int64) error { return a.b.CancelJob(ctx, id) }

// RetryJob makes a job run as soon as a worker is free: a waiting job
// (scheduled for later or waiting for a retry) becomes due now, and a dead
// letter is requeued with its attempts reset. It returns ErrJobRunning for
// a running job and ErrJobNotFound for an unknown ID.
func (a *Admin) RetryJob(ctx context.Context, id int64) error {
	var n, woken int64
	if err := a.b.pool.QueryRow(ctx, a.b.q.JobRetry, id, a.b.channel).Scan(&n, &woken); err != nil {
		return dbErr("retry job", err)
	}
	if n > 0 {
		return nil
	}
	moved, err := a.b.RequeueDead(ctx, []int64{id})
	if err != nil || moved > 0 {
		return err
	}
	return a.whyNotWaiting(ctx, id)
}

// whyNotWaiting explains why a job could not be changed as a waiting job.
func (a *Admin) whyNotWaiting(ctx context.Context, id int64) error {
	info, err := a.Job(ctx, id)
	if err != nil {
		return err
	}
	if info.State == StateRunning {
		return fmt.Errorf("%w: job %d (held by %s until %s)", ErrJobRunning, id, info.ClaimedBy, info.LeaseUntil.Format(time.RFC3339))
	}
	return fmt.Errorf("%w: job %d is %s", ErrJobNotFound, id, info.State)
}

// ListDead returns dead letters matching f, newest first (Limit default
// 100).
func (a *Admin) ListDead(ctx context.Context, f DeadFilter) ([]*DeadJob, error) {
	if f.Limit < 0 {
		return nil, invalidJob("Limit", "must not be negative, got %d", f.Limit)
	}
	return a.b.ListDead(ctx, f)
}

// DeadJob returns one dead letter, or ErrJobNotFound.
func (a *Admin) DeadJob(ctx context.Context, id int64) (*DeadJob, error) {
	jobs, err := a.b.ListDead(ctx, DeadFilter{IDs: []int64{id}, Limit: 1})
	if err != nil {
		return nil, err
	}
	if len(jobs) == 0 {
		return nil, fmt.Errorf("%w: no dead letter with ID %d", ErrJobNotFound, id)
	}
	return jobs[0], nil
}

// RequeueDead moves dead letters matching f back into their queues, due
// now, with attempts reset and error history kept, and returns how many.
// A zero filter matches every dead letter: callers that mean "all" should
// have asked for confirmation.
func (a *Admin) RequeueDead(ctx context.Context, f DeadFilter) (int, error) {
	return a.b.RequeueDeadWhere(ctx, f)
}

// PurgeDead deletes dead letters matching f (Limit ignored) and returns
// how many. A zero filter deletes every dead letter.
func (a *Admin) PurgeDead(ctx context.Context, f DeadFilter) (int, error) {
	return a.b.PurgeDead(ctx, f)
}

// QueueExists reports whether queue is known: it holds jobs in any state
// or dead letters, or is paused or limited (or was once). Each check is an
// index probe. It returns ErrInvalidArgs for an invalid queue name and
// ErrDatabase on failure.
func (a *Admin) QueueExists(ctx context.Context, queue string) (bool, error) {
	if err := CheckQueueName(queue); err != nil {
		return false, err
	}
	var ok bool
	if err := a.b.pool.QueryRow(ctx, a.b.q.QueueExists, queue).Scan(&ok); err != nil {
		return false, dbErr("check queue", err)
	}
	return ok, nil
}

// CountDead returns how many dead letters match f (Limit ignored).
func (a *Admin) CountDead(ctx context.Context, f DeadFilter) (int, error) {
	var n int
	err := a.b.pool.QueryRow(ctx, a.b.q.DeadCount, deadFilterArgs(f)...).Scan(&n)
	return n, dbErr("count dead letters", err)
}

// SetQueueLimits sets queue's global limits: see PostgresBackend.SetQueueLimits.
func (a *Admin) SetQueueLimits(ctx context.Context, queue string, l QueueLimits) error {
	return a.b.SetQueueLimits(ctx, queue, l)
}
