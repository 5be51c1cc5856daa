package pgqueue

// Admin, the operator's API over any Backend: stats, job lookup and
// listing, cancel and retry, bulk actions, dead letters and queue limits.
// The Postgres backend's Stats lives here too (PostgresBackend.QueueStats).

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// Admin is the operator's API over a queue store: statistics, listing and
// searching jobs, bulk actions, dead letters, pausing queues, cancelling
// and retrying jobs. The pgqueue CLI is a thin shell around it, and
// dashboards can use it directly. It needs no running Client.
//
// It works on any Backend: each method uses an optional interface
// (JobLister, JobActor, StatsReporter, Canceller, QueuePauser,
// QueueLimiter, ClientRegistry, PeriodicLister) and returns ErrUnsupported
// when the backend lacks it. The Postgres backend, memqueue and
// redisqueue implement all of them.
type Admin struct {
	b  Backend
	pg *PostgresBackend // nil unless b is the Postgres backend
}

// NewAdmin returns an Admin over b (a *PostgresBackend, a memqueue or
// redisqueue Backend, or any other). It does not contact the store.
func NewAdmin(b Backend) *Admin {
	pg, _ := b.(*PostgresBackend)
	return &Admin{b: b, pg: pg}
}

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
// kind. On Postgres it stays fast on tables of millions of rows: queues
// and kinds are found by skipping through indexes, and counts are exact up
// to StatsExactLimit and planner estimates beyond; it returns
// ErrNotMigrated when the schema has no pgqueue tables. It returns
// ErrUnsupported on a backend without StatsReporter.
func (a *Admin) Stats(ctx context.Context) (*Stats, error) {
	r, ok := a.b.(StatsReporter)
	if !ok {
		return nil, unsupported("Stats", "StatsReporter", a.b)
	}
	return r.QueueStats(ctx)
}

// QueueStats implements StatsReporter: see Admin.Stats.
func (b *PostgresBackend) QueueStats(ctx context.Context) (*Stats, error) {
	a := &Admin{b: b, pg: b}
	if err := b.checkMigrated(ctx); err != nil {
		return nil, err
	}
	st := &Stats{Queues: []QueueStats{}, Running: []RunningJob{}, Dead: []KindCount{}}
	rows, _ := a.pg.pool.Query(ctx, a.pg.q.QueueList)
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
		if err := a.pg.pool.QueryRow(ctx, a.pg.q.StatsQueue, qs.Queue, StatsExactLimit).Scan(&a1, &s1, &r1, &oldest, &st.At); err != nil {
			return nil, dbErr("queue stats", err)
		}
		if qs.Available, err = a.estimateOver(ctx, a1, a.pg.q.statsEstimate(StateAvailable), qs.Queue); err != nil {
			return nil, err
		}
		if qs.Scheduled, err = a.estimateOver(ctx, s1, a.pg.q.statsEstimate(StateScheduled), qs.Queue); err != nil {
			return nil, err
		}
		if qs.Running, err = a.estimateOver(ctx, r1, a.pg.q.statsEstimate(StateRunning), qs.Queue); err != nil {
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

	rows, _ = a.pg.pool.Query(ctx, a.pg.q.StatsRunning, 100)
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

	rows, _ = a.pg.pool.Query(ctx, a.pg.q.StatsDead, StatsExactLimit)
	dead, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (KindCount, error) {
		var k KindCount
		err := row.Scan(&k.Kind, &k.Count.N)
		return k, err
	})
	if err != nil {
		return nil, dbErr("dead letters by kind", err)
	}
	for i := range dead {
		if dead[i].Count, err = a.estimateOver(ctx, dead[i].Count.N, a.pg.q.StatsDeadEstimate, dead[i].Kind); err != nil {
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
	if err := a.pg.pool.QueryRow(ctx, explain, arg).Scan(&raw); err != nil {
		return Count{}, dbErr("estimate count", err)
	}
	if err := json.Unmarshal(raw, &plan); err != nil || len(plan) == 0 {
		return Count{}, fmt.Errorf("%w: estimate count: unreadable plan: %v", ErrDatabase, err)
	}
	return Count{N: max(int64(plan[0].Plan.Rows), exact), Estimated: true}, nil
}

// newestTable and newestColumn name the column that the newest migration
// adding a column adds (00013): a schema without it is not migrated far
// enough for this version's statements (the client registry writes it at
// Start, for one), and a client on it would fail there instead of once at
// Start. sql/schema_check.sql also checks what the newest migration
// (00014) sets.
const (
	newestTable  = "pgqueue_clients"
	newestColumn = "liveness"
)

// checkMigrated returns ErrNotMigrated, with the fix, when the schema
// lacks the pgqueue tables or the newest migration's.
func (b *PostgresBackend) checkMigrated(ctx context.Context) error {
	var ok bool
	err := b.pool.QueryRow(ctx, b.q.SchemaCheck,
		pgx.Identifier{b.schema, "pgqueue_jobs"}.Sanitize(), pgx.Identifier{b.schema, newestTable}.Sanitize(), newestColumn).Scan(&ok)
	if err != nil {
		return dbErr("check schema", err)
	}
	if !ok {
		return fmt.Errorf("%w: schema %q has no pgqueue tables (or an old version of them); run `pgqueue migrate up --schema %s` or pgqueue.Migrate", ErrNotMigrated, b.schema, b.schema)
	}
	return nil
}

// CheckMigrated returns nil when the store is ready: on Postgres when the
// schema holds the current pgqueue tables, ErrNotMigrated (saying how to
// fix it) when it does not, and ErrDatabase when the database cannot be
// reached. Backends without SchemaChecker are always ready.
func (a *Admin) CheckMigrated(ctx context.Context) error {
	if c, ok := a.b.(SchemaChecker); ok {
		return c.CheckSchema(ctx)
	}
	return nil
}

// PauseQueue stops every client from claiming jobs of queue. Jobs already
// running finish; new jobs can still be enqueued. Pausing a paused queue
// is a no-op. The pause is stored, so it outlives client restarts, and it
// applies at each client's next claim. ErrInvalidArgs for a bad name,
// ErrUnsupported on a backend without QueuePauser.
func (a *Admin) PauseQueue(ctx context.Context, queue string) error {
	p, ok := a.b.(QueuePauser)
	if !ok {
		return unsupported("PauseQueue", "QueuePauser", a.b)
	}
	return p.PauseQueue(ctx, queue)
}

// ResumeQueue lets clients claim from a paused queue again and wakes them.
// It reports whether the queue was paused. ErrUnsupported on a backend
// without QueuePauser.
func (a *Admin) ResumeQueue(ctx context.Context, queue string) (bool, error) {
	p, ok := a.b.(QueuePauser)
	if !ok {
		return false, unsupported("ResumeQueue", "QueuePauser", a.b)
	}
	return p.ResumeQueue(ctx, queue)
}

// JobInfo is a job in any state the store keeps: waiting, running or dead.
type JobInfo struct {
	JobRow
	// State is available, scheduled, running or dead.
	State State `json:"state"`
	// ClaimedBy is the ID (Config.ID) of the client holding a running job;
	// empty for a waiting one, and on backends that do not record it.
	ClaimedBy string `json:"claimed_by,omitempty"`
	// FinishedAt is when the job was dead-lettered, completed or
	// cancelled; zero for a job that is waiting or running.
	FinishedAt time.Time `json:"finished_at,omitzero"`
	// Output is the JSON value the handler recorded with RecordOutput;
	// nil when it recorded none.
	Output json.RawMessage `json:"output,omitempty"`
	// Progress is the last progress the handler reported with SetProgress
	// and a heartbeat stored; nil when none was.
	Progress *Progress `json:"progress,omitempty"`
}

// Progress is how far a running job says it has got (SetProgress).
type Progress struct {
	// Fraction is from 0 (nothing done) to 1 (all done).
	Fraction float64 `json:"fraction"`
	// Note is a short free-form message from the handler.
	Note string `json:"note,omitempty"`
	// At is when the handler reported it.
	At time.Time `json:"at"`
}

// Job returns a waiting or running job. It returns ErrJobNotFound when the
// job is neither (it may have completed, or be a dead letter: see DeadJob
// and FindJob), and ErrUnsupported on a backend without JobLister.
func (a *Admin) Job(ctx context.Context, id int64) (*JobInfo, error) {
	if a.pg != nil {
		return a.pg.job(ctx, id)
	}
	info, err := a.FindJob(ctx, id)
	if err == nil && (info.State == StateDead || info.State == StateCancelled) {
		return nil, fmt.Errorf("%w: %d is a dead letter", ErrJobNotFound, id)
	}
	return info, err
}

// job reads one job of the Postgres queue table.
func (b *PostgresBackend) job(ctx context.Context, id int64) (*JobInfo, error) {
	var state, claimedBy string
	rows, _ := b.pool.Query(ctx, b.q.JobGet, id)
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return nil, dbErr("get job", err)
		}
		return nil, fmt.Errorf("%w: %d", ErrJobNotFound, id)
	}
	j, err := newJobScanner("", nil, &state, &claimedBy).scan(rows)
	if err != nil {
		return nil, dbErr("get job", err)
	}
	return &JobInfo{JobRow: *j, State: State(state), ClaimedBy: claimedBy}, nil
}

// FindJob returns a job in any state the store keeps, dead letters
// included (State dead). It returns ErrJobNotFound for a job that
// completed or never existed, and ErrUnsupported on a backend without
// JobLister.
func (a *Admin) FindJob(ctx context.Context, id int64) (*JobInfo, error) {
	page, err := a.ListJobs(ctx, JobFilter{IDs: []int64{id}, Limit: 1})
	if err != nil {
		return nil, err
	}
	if len(page.Jobs) == 0 {
		return nil, fmt.Errorf("%w: %d", ErrJobNotFound, id)
	}
	return page.Jobs[0], nil
}

// CancelJob cancels a job, waiting or running: it moves to the dead
// letters with a "cancelled" error, and a running job's worker is told to
// stop. ErrJobNotFound when the job is not waiting or running,
// ErrUnsupported on a backend without Canceller.
func (a *Admin) CancelJob(ctx context.Context, id int64) error {
	c, ok := a.b.(Canceller)
	if !ok {
		return unsupported("CancelJob", "Canceller", a.b)
	}
	return c.CancelJob(ctx, id)
}

// RetryJob makes a job run as soon as a worker is free: a waiting job
// (scheduled for later or waiting for a retry) becomes due now, and a dead
// letter is requeued with its attempts reset. It returns ErrJobRunning for
// a running job, ErrJobNotFound for an unknown ID, and ErrUnsupported on a
// backend other than Postgres without JobLister and JobActor.
func (a *Admin) RetryJob(ctx context.Context, id int64) error {
	if a.pg != nil {
		return a.pgRetryJob(ctx, id)
	}
	actor, ok := a.b.(JobActor)
	if !ok {
		return unsupported("RetryJob", "JobActor", a.b)
	}
	info, err := a.FindJob(ctx, id)
	if err != nil {
		return err
	}
	action := BulkRetry
	switch info.State {
	case StateRunning:
		return runningErr(info)
	case StateAvailable:
		return nil // due already
	case StateDead, StateCancelled:
		action = BulkRequeueDead
	}
	n, err := actor.ActOnJobs(ctx, action, []JobTarget{{ID: id, Queue: info.Queue}})
	if err != nil || n > 0 {
		return err
	}
	return a.whyNotWaiting(ctx, id)
}

func (a *Admin) pgRetryJob(ctx context.Context, id int64) error {
	var n, woken int64
	if err := a.pg.pool.QueryRow(ctx, a.pg.q.JobRetry, id, a.pg.channel).Scan(&n, &woken); err != nil {
		return dbErr("retry job", err)
	}
	if n > 0 {
		return nil
	}
	moved, err := a.pg.RequeueDead(ctx, []int64{id})
	if err != nil || moved > 0 {
		return err
	}
	return a.whyNotWaiting(ctx, id)
}

func runningErr(info *JobInfo) error {
	return fmt.Errorf("%w: job %d (held by %s until %s)", ErrJobRunning, info.ID, info.ClaimedBy, info.LeaseUntil.Format(time.RFC3339))
}

// whyNotWaiting explains why a job could not be changed as a waiting job.
func (a *Admin) whyNotWaiting(ctx context.Context, id int64) error {
	info, err := a.Job(ctx, id)
	if err != nil {
		return err
	}
	if info.State == StateRunning {
		return runningErr(info)
	}
	return fmt.Errorf("%w: job %d is %s", ErrJobNotFound, id, info.State)
}

// ListDead returns dead letters matching f, newest first (Limit default
// 100). ErrInvalidArgs for a negative Limit.
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
// have asked for confirmation. On a backend other than Postgres it runs
// as Bulk(BulkRequeueDead) and needs JobLister and JobActor.
func (a *Admin) RequeueDead(ctx context.Context, f DeadFilter) (int, error) {
	if a.pg != nil {
		return a.pg.RequeueDeadWhere(ctx, f)
	}
	res, err := a.Bulk(ctx, BulkRequeueDead, deadToJobFilter(f), BulkOptions{})
	return int(res.Changed), err
}

// PurgeDead deletes dead letters matching f (Limit ignored) and returns
// how many. A zero filter deletes every dead letter.
func (a *Admin) PurgeDead(ctx context.Context, f DeadFilter) (int, error) {
	return a.b.PurgeDead(ctx, f)
}

// deadToJobFilter is the JobFilter matching the dead letters f matches.
// DeadFilter's time bounds are strict; JobFilter's FinishedAfter is not,
// so it moves up by the smallest step every backend stores (1µs).
func deadToJobFilter(f DeadFilter) JobFilter {
	jf := JobFilter{States: []State{StateDead, StateCancelled}, IDs: f.IDs, FinishedBefore: f.DiedBefore}
	if f.Kind != "" {
		jf.Kinds = []string{f.Kind}
	}
	if f.Queue != "" {
		jf.Queues = []string{f.Queue}
	}
	if !f.DiedAfter.IsZero() {
		jf.FinishedAfter = f.DiedAfter.Truncate(time.Microsecond).Add(time.Microsecond)
	}
	return jf
}

// QueueExists reports whether queue is known: it holds jobs in any state
// or dead letters, or is paused or limited (or was once). On Postgres each
// check is an index probe; elsewhere it is read from Stats and a listing.
// It returns ErrInvalidArgs for an invalid queue name and ErrDatabase on
// failure.
func (a *Admin) QueueExists(ctx context.Context, queue string) (bool, error) {
	if err := CheckQueueName(queue); err != nil {
		return false, err
	}
	if a.pg == nil {
		st, err := a.Stats(ctx)
		if err != nil {
			return false, err
		}
		return slices.ContainsFunc(st.Queues, func(q QueueStats) bool { return q.Queue == queue }), nil
	}
	var ok bool
	if err := a.pg.pool.QueryRow(ctx, a.pg.q.QueueExists, queue).Scan(&ok); err != nil {
		return false, dbErr("check queue", err)
	}
	return ok, nil
}

// CountDead returns how many dead letters match f (Limit ignored). On a
// backend other than Postgres it needs JobLister.
func (a *Admin) CountDead(ctx context.Context, f DeadFilter) (int, error) {
	if a.pg == nil {
		n, err := a.CountJobs(ctx, deadToJobFilter(f))
		return int(n), err
	}
	var n int
	err := a.pg.pool.QueryRow(ctx, a.pg.q.DeadCount, deadFilterArgs(f)...).Scan(&n)
	return n, dbErr("count dead letters", err)
}

// SetQueueLimits sets queue's global limits (see QueueLimits); zero
// values clear them. ErrUnsupported on a backend without QueueLimiter.
func (a *Admin) SetQueueLimits(ctx context.Context, queue string, l QueueLimits) error {
	q, ok := a.b.(QueueLimiter)
	if !ok {
		return unsupported("SetQueueLimits", "QueueLimiter", a.b)
	}
	return q.SetQueueLimits(ctx, queue, l)
}

// ListJobs returns one page of the jobs f matches, in f.Order by ID, and a
// cursor for the next page. Pages are keyset-paginated on the job ID, so
// a listing never skips or repeats a job that matches throughout, however
// many jobs are enqueued or finish between pages. It returns
// ErrInvalidArgs for a bad filter (unknown state or order, priority out
// of range, invalid Args JSON, Limit above MaxJobListLimit, a cursor not
// from ListJobs or from the other order), ErrUnsupported on a backend
// without JobLister, and ErrDatabase on failure (including a Postgres
// statement that ran past ListTimeout).
func (a *Admin) ListJobs(ctx context.Context, f JobFilter) (JobPage, error) {
	l, ok := a.b.(JobLister)
	if !ok {
		return JobPage{}, unsupported("ListJobs", "JobLister", a.b)
	}
	f, err := f.validate()
	if err != nil {
		return JobPage{}, err
	}
	after, err := decodeCursor(f.Order, f.Cursor)
	if err != nil {
		return JobPage{}, err
	}
	limit := f.Limit
	if limit == 0 {
		limit = DefaultJobListLimit
	}
	f.Cursor, f.Limit = "", 0
	jobs, err := l.ListJobs(ctx, JobQuery{Filter: f, After: after, Limit: limit + 1})
	if err != nil {
		return JobPage{}, err
	}
	page := JobPage{Jobs: jobs}
	if page.Jobs == nil {
		page.Jobs = []*JobInfo{}
	}
	if len(jobs) > limit {
		page.Jobs = jobs[:limit]
		page.NextCursor = encodeCursor(f.Order, jobs[limit-1].ID)
	}
	return page, nil
}

// CountJobs returns how many jobs f matches (its Limit, Cursor and Order
// are ignored). Errors are those of ListJobs.
func (a *Admin) CountJobs(ctx context.Context, f JobFilter) (int64, error) {
	l, ok := a.b.(JobLister)
	if !ok {
		return 0, unsupported("CountJobs", "JobLister", a.b)
	}
	f, err := f.validate()
	if err != nil {
		return 0, err
	}
	f.Cursor, f.Limit = "", 0
	return l.CountJobs(ctx, f)
}

// Bulk applies action to every job f matches in the action's states
// (BulkAction.States; f.States, when set, must name at least one of them),
// in batches of o.BatchSize, each one statement or script, and reports
// how many jobs matched and changed. With o.DryRun it only counts. Jobs
// enqueued while it runs are not acted on when they are newer than the
// batch in progress (batches walk the filter's order by ID). A zero filter
// matches every job in the action's states: callers that mean "all"
// should have asked for confirmation (the CLI shows the count first).
//
// It returns ErrInvalidArgs for an unknown action, a filter naming none
// of the action's states, a BatchSize out of 0..MaxBulkBatch, or a bad
// filter (see ListJobs); ErrUnsupported on a backend without JobLister
// and JobActor; and, with the result so far, the first failing batch's
// error.
func (a *Admin) Bulk(ctx context.Context, action BulkAction, f JobFilter, o BulkOptions) (BulkResult, error) {
	res := BulkResult{Action: action, DryRun: o.DryRun}
	states := action.States()
	if states == nil {
		return res, invalidJob("action", "unknown bulk action %q (want retry, cancel, delete, requeue_dead or purge_dead)", action)
	}
	if o.BatchSize < 0 || o.BatchSize > MaxBulkBatch {
		return res, invalidJob("BatchSize", "must be between 0 and %d, got %d", MaxBulkBatch, o.BatchSize)
	}
	if len(f.States) > 0 {
		var keep []State
		for _, s := range f.States {
			if slices.Contains(states, s) {
				keep = append(keep, s)
			}
		}
		if len(keep) == 0 {
			return res, invalidJob("States", "%s acts on %v jobs, and the filter keeps only %v", action, states, f.States)
		}
		states = keep
	}
	f.States, f.Cursor, f.Limit = states, "", 0
	if o.DryRun {
		n, err := a.CountJobs(ctx, f)
		res.Matched = n
		return res, err
	}
	actor, ok := a.b.(JobActor)
	if !ok {
		return res, unsupported("Bulk", "JobActor", a.b)
	}
	batch := o.BatchSize
	if batch == 0 {
		batch = DefaultBulkBatch
	}
	l, ok := a.b.(JobLister)
	if !ok {
		return res, unsupported("Bulk", "JobLister", a.b)
	}
	f, err := f.validate()
	if err != nil {
		return res, err
	}
	var after int64
	for {
		jobs, err := l.ListJobs(ctx, JobQuery{Filter: f, After: after, Limit: batch})
		if err != nil {
			return res, err
		}
		if len(jobs) == 0 {
			return res, nil
		}
		targets := make([]JobTarget, len(jobs))
		for i, j := range jobs {
			targets[i] = JobTarget{ID: j.ID, Queue: j.Queue}
		}
		n, err := actor.ActOnJobs(ctx, action, targets)
		res.Batches++
		res.Matched += int64(len(jobs))
		res.Changed += int64(n)
		if err != nil {
			return res, err
		}
		if len(jobs) < batch {
			return res, nil
		}
		after = jobs[len(jobs)-1].ID
	}
}
