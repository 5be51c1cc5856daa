package pgqueue

// The Postgres backend's RunRecorder and TxRunRecorder: output, progress
// and the job history (migration 10), and the history's partition upkeep.

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// jsonText passes encoded JSON to a text parameter cast to jsonb in SQL;
// nil stays SQL NULL.
func jsonText(raw json.RawMessage) *string {
	if raw == nil {
		return nil
	}
	s := string(raw)
	return &s
}

// CompleteRecorded implements RunRecorder: one statement deletes the jobs
// and inserts the kept ones into the history (sql/complete_recorded.sql).
func (b *PostgresBackend) CompleteRecorded(ctx context.Context, done []Completion) ([]JobRef, error) {
	if len(done) == 0 {
		return nil, nil
	}
	refs := make([]JobRef, len(done))
	ids, tokens := make([]int64, len(done)), make([]int64, len(done))
	outputs, keeps := make([]*string, len(done)), make([]int64, len(done))
	for i, c := range done {
		refs[i] = c.Ref
		ids[i], tokens[i] = c.Ref.ID, c.Ref.Token
		outputs[i], keeps[i] = jsonText(c.Output), max(micros(c.Keep), 0)
	}
	var rows pgx.Rows
	if anyWorkflow(done) {
		rows, _ = b.pool.Query(ctx, b.q.CompleteWorkflow, ids, tokens, outputs, keeps, b.channel)
	} else {
		rows, _ = b.pool.Query(ctx, b.q.CompleteRecorded, ids, tokens, outputs, keeps)
	}
	completed, err := pgx.CollectRows(rows, scanRef)
	if err != nil {
		return nil, dbErr("complete jobs", err)
	}
	return lostRefs(refs, completed), nil
}

// CompleteRecordedTx implements TxRunRecorder.
func (b *PostgresBackend) CompleteRecordedTx(ctx context.Context, tx DBTX, c Completion) error {
	var id int64
	var err error
	if c.Workflow {
		err = tx.QueryRow(ctx, b.q.CompleteOneWorkflow, c.Ref.ID, c.Ref.Token, jsonText(c.Output), max(micros(c.Keep), 0), b.channel).Scan(&id)
	} else {
		err = tx.QueryRow(ctx, b.q.CompleteOneRecorded, c.Ref.ID, c.Ref.Token, jsonText(c.Output), max(micros(c.Keep), 0)).Scan(&id)
	}
	if err == pgx.ErrNoRows {
		return fmt.Errorf("%w: job %d", ErrLeaseLost, c.Ref.ID)
	}
	return dbErr("complete job in transaction", err)
}

// DeadLetterRecorded implements RunRecorder.
func (b *PostgresBackend) DeadLetterRecorded(ctx context.Context, ref JobRef, info AttemptError, output json.RawMessage) error {
	return b.deadLetter(ctx, ref, info, output)
}

// HeartbeatProgress implements RunRecorder (sql/heartbeat_progress.sql).
func (b *PostgresBackend) HeartbeatProgress(ctx context.Context, refs []JobRef, progress []json.RawMessage, lease time.Duration) ([]JobRef, error) {
	if len(refs) == 0 {
		return nil, nil
	}
	if len(progress) != len(refs) {
		return nil, invalidJob("progress", "has %d entries for %d refs", len(progress), len(refs))
	}
	ids, tokens := splitRefs(refs)
	texts := make([]*string, len(progress))
	for i, p := range progress {
		texts[i] = jsonText(p)
	}
	rows, _ := b.pool.Query(ctx, b.q.HeartbeatProgress, ids, tokens, micros(lease), texts)
	held, err := pgx.CollectRows(rows, scanRef)
	if err != nil {
		return nil, dbErr("heartbeat", err)
	}
	return lostRefs(refs, held), nil
}

// MaintainHistory implements HistoryKeeper: it makes the hourly
// partitions that completions kept up to keep from now land in, then drops
// the partitions past their keep time. Each step runs in its own
// transaction, and gives way (ending without an error) when a lock it
// needs is not free within 100ms.
func (b *PostgresBackend) MaintainHistory(ctx context.Context, keep time.Duration) (HistoryUpkeep, error) {
	var r HistoryUpkeep
	if keep > 0 {
		// One hour past the longest keep: a job completed near the end of
		// this call's minute still finds its hour.
		upto := time.Now().Add(keep + time.Hour)
		if err := b.pool.QueryRow(ctx, b.q.HistoryPrepare, upto).Scan(&r.Made); err != nil && !isLockNotAvailable(err) {
			return r, dbErr("prepare history partitions", err)
		}
	}
	if err := b.pool.QueryRow(ctx, b.q.HistoryPrune).Scan(&r.Dropped); err != nil && !isLockNotAvailable(err) {
		return r, dbErr("prune history", err)
	}
	return r, nil
}
