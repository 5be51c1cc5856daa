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

// jobScanner reads rows of the job-row columns (sql/job_columns.sql),
// then any extra columns, with one set of scan targets for all of them.
// Claims are the hot path: scanning each row into fresh locals cost about
// ten allocations per job (the targets escape through Scan's arguments,
// and json.RawMessage and the kind and queue strings were each allocated),
// a fifth of the client's CPU per drained job with the collector's share.
// A row's queue equal to queue, and kind equal to one of kinds (a claim's:
// every row claimed is of that queue and one of those kinds), are that
// string, shared, not a copy.
type jobScanner struct {
	queueName   string
	kinds       []string
	id, token   int64
	kind, queue pgtype.DriverBytes
	prio        int16
	args        []byte
	errs, meta  pgtype.DriverBytes
	attempt     int32
	maxAttempts int32
	created     time.Time
	runAt       pgtype.Timestamptz // null in the listings of finished jobs
	attempted   pgtype.Timestamptz
	lease       pgtype.Timestamptz
	workflow    pgtype.Int8
	dest        []any
}

// newJobScanner returns a scanner of the job-row columns followed by
// extra columns, scanned into extra's targets; queue and kinds are the
// strings to share (empty and nil: none).
func newJobScanner(queue string, kinds []string, extra ...any) *jobScanner {
	s := &jobScanner{queueName: queue, kinds: kinds}
	// The order of sql/job_columns.sql.
	s.dest = append([]any{&s.id, &s.kind, &s.queue, &s.prio, &s.args, &s.attempt, &s.maxAttempts,
		&s.errs, &s.created, &s.runAt, &s.attempted, &s.lease, &s.token, &s.meta, &s.workflow}, extra...)
	return s
}

// scanAll reads every row; limit sizes the result. Extra columns are
// overwritten row by row, so a scanner with extra targets reads one row
// with scan instead.
func (s *jobScanner) scanAll(rows pgx.Rows, limit int) ([]*JobRow, error) {
	defer rows.Close()
	out := make([]*JobRow, 0, limit)
	for rows.Next() {
		j, err := s.scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	return out, rows.Err()
}

// scan reads the current row into a new JobRow (and the extra targets).
// kind, queue, errs and meta are the driver's memory until the next row,
// and are decoded before scan returns.
func (s *jobScanner) scan(rows pgx.CollectableRow) (*JobRow, error) {
	// args is scanned into a fresh copy (pgx copies into a []byte).
	s.args, s.errs, s.meta = nil, nil, nil
	if err := rows.Scan(s.dest...); err != nil {
		return nil, err
	}
	j := &JobRow{
		ID: s.id, Kind: shared(s.kind, s.kinds...), Queue: shared(s.queue, s.queueName),
		Priority: int(s.prio), Attempt: int(s.attempt), MaxAttempts: int(s.maxAttempts),
		CreatedAt: s.created, RunAt: s.runAt.Time, AttemptedAt: s.attempted.Time, LeaseUntil: s.lease.Time,
		Token: s.token, WorkflowID: s.workflow.Int64,
	}
	if s.args != nil {
		j.Args = json.RawMessage(s.args)
	}
	if s.meta != nil {
		if err := json.Unmarshal(s.meta, &j.Metadata); err != nil {
			return nil, fmt.Errorf("%w: job %d: decode metadata: %w", ErrDatabase, j.ID, err)
		}
	}
	var err error
	j.Errors, err = decodeErrors(j.ID, s.errs)
	return j, err
}

// shared returns the string of known equal to b, or a copy of b when none
// is.
func shared(b []byte, known ...string) string {
	for _, k := range known {
		if string(b) == k {
			return k
		}
	}
	return string(b)
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
