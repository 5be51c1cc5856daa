package pgqueue

// The Postgres backend's encoding of error histories, and its test of
// which failures are a row's own fault.

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
)

// encodeAttemptError encodes one error-history entry for a jsonb
// parameter. Postgres text, and so jsonb, cannot hold U+0000: the engine
// already makes a worker's error text storable, and this makes sure of it
// for any caller of the Backend, so that recording a failure never fails.
func encodeAttemptError(info AttemptError) ([]byte, error) {
	info.Error, info.Stack, info.Kind = storableText(info.Error), storableText(info.Stack), storableText(info.Kind)
	b, err := json.Marshal(info)
	if err != nil {
		return nil, fmt.Errorf("pgqueue: encode attempt error: %w", err)
	}
	return b, nil
}

// decodeErrors decodes a stored error history (null or a JSON array).
// A history that does not decode is reported as ErrDatabase naming the
// job, since only the database could have given it.
func decodeErrors(id int64, raw []byte) ([]AttemptError, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	var out []AttemptError
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("%w: job %d: decode error history: %w", ErrDatabase, id, err)
	}
	return out, nil
}

// storageError is the error-history entry for a job the store could not
// move as it was: what went wrong, for the operator who finds it.
func storageError(op string, err error) AttemptError {
	return AttemptError{At: time.Now().UTC(), Kind: "storage", Error: fmt.Sprintf("%s failed on this job's own data (%v); it was stored by the fallback path", op, err)}
}

// isRowError reports a failure caused by one row's data (SQLSTATE class
// 22, data exception; 23, integrity constraint; 54, program limit, such
// as an index row too large), which a retry of the same statement would
// meet again, as opposed to a lost connection or a cancelled context.
func isRowError(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || len(pgErr.Code) < 2 {
		return false
	}
	switch pgErr.Code[:2] {
	case "22", "23", "54":
		return true
	}
	return false
}

// scanJobRow reads one row of the job-row columns (sql/job_columns.sql).
func scanJobRow(row pgx.CollectableRow) (*JobRow, error) {
	var j JobRow
	return &j, scanJobColumns(row, &j)
}

// scanJobColumns reads the job-row columns into j, then any extra columns
// that follow them into extra.
func scanJobColumns(row pgx.Row, j *JobRow, extra ...any) error {
	var (
		prio     int16
		errs     []byte
		attempt  pgtype.Timestamptz
		lease    pgtype.Timestamptz
		workflow pgtype.Int8
	)
	dest := append([]any{&j.ID, &j.Kind, &j.Queue, &prio, &j.Args, &j.Attempt, &j.MaxAttempts,
		&errs, &j.CreatedAt, &j.RunAt, &attempt, &lease, &j.Token, &j.Metadata, &workflow}, extra...)
	if err := row.Scan(dest...); err != nil {
		return err
	}
	j.Priority, j.WorkflowID = int(prio), workflow.Int64
	j.AttemptedAt, j.LeaseUntil = attempt.Time, lease.Time
	var err error
	j.Errors, err = decodeErrors(j.ID, errs)
	return err
}

// decodeProgress reads a stored Progress; nil when none was stored.
func decodeProgress(id int64, raw []byte) (*Progress, error) {
	if raw == nil {
		return nil, nil
	}
	var p Progress
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, fmt.Errorf("%w: job %d: stored progress does not decode: %v", ErrDatabase, id, err)
	}
	return &p, nil
}
