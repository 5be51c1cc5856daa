package pgqueue

// The Postgres backend's side of the operator API: listing, counting and
// bulk actions by JobFilter (JobLister, JobActor).

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

var (
	_ JobLister     = (*PostgresBackend)(nil)
	_ JobActor      = (*PostgresBackend)(nil)
	_ StatsReporter = (*PostgresBackend)(nil)
)

// jobFilterArgs turns f into the nullable parameters $1..$11 of the
// jobs_* statements (see sql/jobs_filter.sql).
func jobFilterArgs(f JobFilter) ([]any, error) {
	var states, queues, kinds []string
	for _, s := range f.States {
		states = append(states, string(s))
	}
	if len(f.Queues) > 0 {
		queues = f.Queues
	}
	if len(f.Kinds) > 0 {
		kinds = f.Kinds
	}
	var prios []int16
	for _, p := range f.Priorities {
		prios = append(prios, int16(p))
	}
	var ids []int64
	if len(f.IDs) > 0 {
		ids = f.IDs
	}
	var meta, args []byte
	if len(f.Metadata) > 0 {
		var err error
		if meta, err = json.Marshal(f.Metadata); err != nil {
			return nil, invalidJob("Metadata", "%v", err)
		}
	}
	if len(f.Args) > 0 {
		args = f.Args
	}
	return []any{
		states, queues, kinds, prios, ids,
		pgtype.Timestamptz{Time: f.CreatedAfter, Valid: !f.CreatedAfter.IsZero()},
		pgtype.Timestamptz{Time: f.CreatedBefore, Valid: !f.CreatedBefore.IsZero()},
		jsonbOrNull(meta), jsonbOrNull(args),
		pgtype.Timestamptz{Time: f.FinishedAfter, Valid: !f.FinishedAfter.IsZero()},
		pgtype.Timestamptz{Time: f.FinishedBefore, Valid: !f.FinishedBefore.IsZero()},
	}, nil
}

// jsonbOrNull passes raw JSON as a jsonb parameter, or SQL null when empty.
func jsonbOrNull(raw []byte) any {
	if len(raw) == 0 {
		return nil
	}
	return string(raw)
}

// bounded runs fn in a read-committed transaction whose statements end
// after ListTimeout on the server and are planned for their parameters
// (sql/jobs_bound.sql).
func (b *PostgresBackend) bounded(ctx context.Context, op string, fn func(tx pgx.Tx) error) error {
	tx, err := b.pool.Begin(ctx)
	if err != nil {
		return dbErr(op, err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	timeout := strconv.FormatInt(ListTimeout.Milliseconds(), 10)
	if _, err := tx.Exec(ctx, b.q.JobsBound, timeout); err != nil {
		return dbErr(op, err)
	}
	if err := fn(tx); err != nil {
		return err
	}
	return dbErr(op, tx.Commit(ctx))
}

// ListJobs implements JobLister: one statement over the queue and
// dead-letter tables, each walked on its primary key from the cursor
// (sql/jobs_list_newest.sql), bounded by ListTimeout.
func (b *PostgresBackend) ListJobs(ctx context.Context, q JobQuery) ([]*JobInfo, error) {
	args, err := jobFilterArgs(q.Filter)
	if err != nil {
		return nil, err
	}
	after := pgtype.Int8{Int64: q.After, Valid: q.After != 0}
	args = append(args, after, q.Limit)
	stmt := b.q.JobsListNewest
	if q.Oldest() {
		stmt = b.q.JobsListOldest
	}
	var out []*JobInfo
	err = b.bounded(ctx, "list jobs", func(tx pgx.Tx) error {
		rows, _ := tx.Query(ctx, stmt, args...)
		var err error
		out, err = pgx.CollectRows(rows, newJobInfoScanner())
		return dbErr("list jobs", err)
	})
	return out, err
}

// newJobInfoScanner returns a reader of jobs_list_* rows: the job
// columns, then its state, holder, finish time, output and progress.
func newJobInfoScanner() pgx.RowToFunc[*JobInfo] {
	var (
		state, claimedBy string
		fin              pgtype.Timestamptz
		output, progress []byte
	)
	s := newJobScanner("", nil, &state, &claimedBy, &fin, &output, &progress)
	return func(row pgx.CollectableRow) (*JobInfo, error) {
		output, progress = nil, nil
		j, err := s.scan(row)
		if err != nil {
			return nil, err
		}
		info := &JobInfo{JobRow: *j, State: State(state), ClaimedBy: claimedBy, FinishedAt: fin.Time}
		if output != nil {
			info.Output = json.RawMessage(output)
		}
		info.Progress, err = decodeProgress(j.ID, progress)
		return info, err
	}
}

// CountJobs implements JobLister: exact counts over both tables, bounded
// by ListTimeout.
func (b *PostgresBackend) CountJobs(ctx context.Context, f JobFilter) (int64, error) {
	args, err := jobFilterArgs(f)
	if err != nil {
		return 0, err
	}
	var n int64
	err = b.bounded(ctx, "count jobs", func(tx pgx.Tx) error {
		return dbErr("count jobs", tx.QueryRow(ctx, b.q.JobsCount, args...).Scan(&n))
	})
	return n, err
}

// ActOnJobs implements JobActor: one statement per call, changing only
// the jobs still in the action's states.
func (b *PostgresBackend) ActOnJobs(ctx context.Context, action BulkAction, jobs []JobTarget) (int, error) {
	if len(jobs) == 0 {
		return 0, nil
	}
	ids := make([]int64, len(jobs))
	for i, j := range jobs {
		ids[i] = j.ID
	}
	switch action {
	case BulkRetry:
		rows, err := b.pool.Query(ctx, b.q.JobsRetry, ids, b.channel)
		if err != nil {
			return 0, dbErr("retry jobs", err)
		}
		_, n, err := queueCounts(rows)
		return n, dbErr("retry jobs", err)
	case BulkDelete:
		tag, err := b.pool.Exec(ctx, b.q.JobsDelete, ids)
		return int(tag.RowsAffected()), dbErr("delete jobs", err)
	case BulkCancel:
		return b.cancelJobs(ctx, ids)
	case BulkRequeueDead:
		return b.RequeueDeadWhere(ctx, DeadFilter{IDs: ids})
	case BulkPurgeDead:
		return b.PurgeDead(ctx, DeadFilter{IDs: ids})
	}
	return 0, invalidJob("action", "unknown bulk action %q", action)
}

// cancelJobs cancels the waiting or running jobs among ids in one
// statement; when one of them cannot be stored in the dead-letter table as
// it is, it cancels them one by one, so that job is quarantined and the
// others are cancelled all the same.
func (b *PostgresBackend) cancelJobs(ctx context.Context, ids []int64) (int, error) {
	info, err := encodeAttemptError(cancelledError())
	if err != nil {
		return 0, err
	}
	var n, notified int64
	err = b.pool.QueryRow(ctx, b.q.JobsCancel, ids, info, b.channel).Scan(&n, &notified)
	if !isRowError(err) {
		return int(n), dbErr("cancel jobs", err)
	}
	count := 0
	for _, id := range ids {
		switch err := b.CancelJob(ctx, id); {
		case err == nil:
			count++
		case !errors.Is(err, ErrJobNotFound):
			return count, err
		}
	}
	return count, nil
}
