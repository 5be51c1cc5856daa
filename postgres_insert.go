package pgqueue

// The Postgres backend's batch insert on its own pool, which answers "was
// it stored?" even when the caller's context ends during the commit.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
)

// ErrCommitUnknown is returned when a batch insert's COMMIT got no answer
// and whether it took effect could not be read back either: the jobs may
// or may not be stored. It wraps ErrDatabase. Enqueue with unique keys to
// make a retry safe in that case.
var ErrCommitUnknown = fmt.Errorf("%w: commit outcome unknown", ErrDatabase)

// commitCheckTimeout bounds how long a batch insert whose commit failed
// spends learning whether the commit took effect.
const commitCheckTimeout = 10 * time.Second

// insertAtomic inserts a batch in its own transaction, so that an error
// means that none of the jobs is stored. The ID of the transaction is
// known before COMMIT is sent; when COMMIT fails without an answer (the
// context ended, the connection broke) the outcome is read back from
// Postgres with pg_xact_status on another connection: committed means
// the jobs are stored and their IDs are returned without an error, so a
// caller never retries a batch that is in fact stored. If even that
// cannot be learnt, the error wraps ErrCommitUnknown.
func (b *PostgresBackend) insertAtomic(ctx context.Context, jobs []InsertParams) ([]InsertResult, error) {
	conn, err := b.pool.Acquire(ctx)
	if err != nil {
		return nil, dbErr("insert jobs", err)
	}
	// A connection left inside the transaction (an error before COMMIT)
	// is closed by the pool on release, which rolls the transaction back.
	defer conn.Release()
	tx := &pipelinedBegin{conn: conn.Conn()}
	res, xact, err := b.insertXact(ctx, tx, jobs)
	if err == nil {
		err = tx.err
	}
	if err != nil {
		return nil, err
	}
	_, commitErr := conn.Exec(ctx, "COMMIT")
	if commitErr == nil || xact == 0 {
		// Nothing inserted (every job a duplicate): nothing to lose.
		return res, nil
	}
	var pgErr interface{ SQLState() string }
	if errors.As(commitErr, &pgErr) {
		// Postgres answered: the commit failed and rolled back.
		return nil, dbErr("commit insert", commitErr)
	}
	committed, err := b.xactCommitted(context.WithoutCancel(ctx), xact)
	switch {
	case err != nil:
		return nil, fmt.Errorf("%w: insert of %d jobs: commit failed (%w) and its outcome could not be read: %w", ErrCommitUnknown, len(jobs), commitErr, err)
	case committed:
		return res, nil
	default:
		return nil, dbErr("commit insert", commitErr)
	}
}

// pipelinedBegin is a DBTX on one connection whose first statement is
// sent in one round trip with the BEGIN that opens the transaction, so
// that an atomic batch insert costs one round trip more than an
// autocommit one (its COMMIT), not two. Later statements run on the
// connection as they are. err holds a failed BEGIN.
type pipelinedBegin struct {
	conn  *pgx.Conn
	begun bool
	err   error
}

// Exec implements DBTX.
func (p *pipelinedBegin) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if p.begun {
		return p.conn.Exec(ctx, sql, args...)
	}
	rows, err := p.Query(ctx, sql, args...)
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	rows.Close()
	return rows.CommandTag(), rows.Err()
}

// Query implements DBTX.
func (p *pipelinedBegin) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if p.begun {
		return p.conn.Query(ctx, sql, args...)
	}
	p.begun = true
	batch := &pgx.Batch{}
	batch.Queue("BEGIN")
	batch.Queue(sql, args...)
	br := p.conn.SendBatch(ctx, batch)
	if _, err := br.Exec(); err != nil {
		p.err = err
		_ = br.Close()
		return errRows{err}, err
	}
	rows, err := br.Query()
	if err != nil {
		_ = br.Close()
		return errRows{err}, err
	}
	return &batchRows{Rows: rows, br: br}, nil
}

// QueryRow implements DBTX.
func (p *pipelinedBegin) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	rows, err := p.Query(ctx, sql, args...)
	if err != nil {
		return errRow{err}
	}
	return rowOf{rows}
}

// batchRows are the rows of a batch's last statement; closing them closes
// the batch.
type batchRows struct {
	pgx.Rows
	br     pgx.BatchResults
	closed bool
	err    error
}

func (r *batchRows) Close() {
	if r.closed {
		return
	}
	r.closed = true
	r.Rows.Close()
	r.err = r.br.Close()
}

func (r *batchRows) Err() error {
	if err := r.Rows.Err(); err != nil {
		return err
	}
	return r.err
}

// rowOf is the first row of rows, as pgx.Row.
type rowOf struct{ rows pgx.Rows }

func (r rowOf) Scan(dest ...any) error {
	defer r.rows.Close()
	if !r.rows.Next() {
		r.rows.Close()
		if err := r.rows.Err(); err != nil {
			return err
		}
		return pgx.ErrNoRows
	}
	if err := r.rows.Scan(dest...); err != nil {
		return err
	}
	r.rows.Close()
	return r.rows.Err()
}

// errRows are pgx.Rows that failed with err before any row: like pgx's
// own, Query never returns nil rows, so callers may collect them and meet
// the error there.
type errRows struct{ err error }

func (errRows) Close()                                       {}
func (r errRows) Err() error                                 { return r.err }
func (errRows) CommandTag() pgconn.CommandTag                { return pgconn.CommandTag{} }
func (errRows) FieldDescriptions() []pgconn.FieldDescription { return nil }
func (errRows) Next() bool                                   { return false }
func (r errRows) Scan(...any) error                          { return r.err }
func (r errRows) Values() ([]any, error)                     { return nil, r.err }
func (errRows) RawValues() [][]byte                          { return nil }
func (errRows) Conn() *pgx.Conn                              { return nil }
func (errRows) TypeMap() *pgtype.Map                         { return nil }

// errRow is a pgx.Row whose Scan returns err.
type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// xactCommitted reports whether transaction xact committed, waiting
// while it is still in progress, for at most commitCheckTimeout.
func (b *PostgresBackend) xactCommitted(ctx context.Context, xact int64) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, commitCheckTimeout)
	defer cancel()
	for wait := time.Millisecond; ; wait = min(2*wait, 100*time.Millisecond) {
		var status *string
		// The statement takes the ID as text (it casts it to xid8, which
		// has no binary form in pgx): an int64 has no text encoding.
		err := b.pool.QueryRow(ctx, b.q.XactStatus, strconv.FormatInt(xact, 10)).Scan(&status)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return false, err
		}
		switch {
		case status == nil:
			return false, fmt.Errorf("transaction %d is too old for its status to be known", xact)
		case *status == "committed":
			return true, nil
		case *status == "aborted":
			return false, nil
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(wait):
		}
	}
}

// Insert implements Backend. Jobs with a unique key should go through
// InsertUnique; here a duplicate makes Insert return a *DuplicateError
// along with the IDs.
func (b *PostgresBackend) Insert(ctx context.Context, jobs []InsertParams) ([]int64, error) {
	res, err := b.InsertUnique(ctx, jobs)
	if err != nil {
		return nil, err
	}
	return ResultIDs(res)
}

// InsertUnique implements UniqueInserter. An error means that no job was
// stored (see insertAtomic).
func (b *PostgresBackend) InsertUnique(ctx context.Context, jobs []InsertParams) ([]InsertResult, error) {
	if len(jobs) == 1 {
		return b.insert(ctx, b.pool, jobs)
	}
	return b.insertAtomic(ctx, jobs)
}

// insert runs the insert statement on db: the pool, or the caller's
// transaction for EnqueueTx. A job whose unique key is taken is reported
// as a duplicate with the holder's ID (0 if the holder finished before it
// could be read).
func (b *PostgresBackend) insert(ctx context.Context, db DBTX, jobs []InsertParams) ([]InsertResult, error) {
	res, _, err := b.insertXact(ctx, db, jobs)
	return res, err
}

// insertXact is insert that also returns the ID of the transaction that
// inserted the jobs (0 when it inserted none), so that a caller whose
// commit failed can learn whether it took effect.
func (b *PostgresBackend) insertXact(ctx context.Context, db DBTX, jobs []InsertParams) ([]InsertResult, int64, error) {
	out := make([]InsertResult, len(jobs))
	var xact int64
	var dupKeys []string
	// A null channel: the transaction leaves its NOTIFY to the trailing
	// notifier (postgres_notify.go).
	channel := b.notify.channel(b.channel, jobs)
	if len(jobs) == 1 {
		j := jobs[0]
		var (
			runAt   pgtype.Timestamptz
			id, xid int64
			due     bool
		)
		if !j.RunAt.IsZero() {
			runAt = pgtype.Timestamptz{Time: j.RunAt, Valid: true}
		}
		key := pgtype.Text{String: j.UniqueKey, Valid: j.UniqueKey != ""}
		query := b.q.InsertOne
		if key.Valid {
			query = b.q.InsertOneUnique
		}
		err := db.QueryRow(ctx, query, j.Queue, j.Kind, int16(j.Priority), string(j.Args), int32(j.MaxAttempts), runAt, channel, key, metadataText(j.Metadata)).Scan(&id, &due, nil, &xid)
		switch {
		case errors.Is(err, pgx.ErrNoRows) && key.Valid:
			out[0].Duplicate = true
			dupKeys = append(dupKeys, j.UniqueKey)
		case err != nil:
			return nil, 0, dbErr("insert job", err)
		default:
			if due {
				b.announceInsert(xid, j.Queue, channel.Valid)
			}
			out[0].ID = id
			return out, xid, nil
		}
	} else {
		n := len(jobs)
		query := b.q.Insert
		queues, kinds, args := make([]string, n), make([]string, n), make([]string, n)
		prios, maxAtt := make([]int16, n), make([]int32, n)
		runAt, keys, metas := make([]pgtype.Timestamptz, n), make([]pgtype.Text, n), make([]pgtype.Text, n)
		for i, j := range jobs {
			queues[i], kinds[i], args[i] = j.Queue, j.Kind, string(j.Args)
			prios[i], maxAtt[i] = int16(j.Priority), int32(j.MaxAttempts)
			if !j.RunAt.IsZero() {
				runAt[i] = pgtype.Timestamptz{Time: j.RunAt, Valid: true}
			}
			keys[i] = pgtype.Text{String: j.UniqueKey, Valid: j.UniqueKey != ""}
			if keys[i].Valid {
				query = b.q.InsertUnique
			}
			metas[i] = metadataText(j.Metadata)
		}
		rows, _ := db.Query(ctx, query, queues, kinds, prios, args, maxAtt, runAt, channel, keys, metas)
		type inserted struct {
			id, xid int64
			key     pgtype.Text
			queue   string
			due     bool
		}
		got, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (inserted, error) {
			var r inserted
			err := row.Scan(&r.id, &r.key, &r.queue, &r.due, &r.xid)
			return r, err
		})
		if err != nil {
			return nil, 0, dbErr("insert jobs", err)
		}
		var woken []string
		for _, r := range got {
			xact = r.xid
			if r.due && !slices.Contains(woken, r.queue) {
				woken = append(woken, r.queue)
				b.announceInsert(r.xid, r.queue, channel.Valid)
			}
		}
		// Inserted rows come back in insertion order (ascending IDs);
		// walk the input, skipping the jobs whose key was taken.
		insertedKeys := map[string]bool{}
		for _, r := range got {
			if r.key.Valid {
				insertedKeys[r.key.String] = true
			}
		}
		next := 0
		for i, j := range jobs {
			if j.UniqueKey != "" && !insertedKeys[j.UniqueKey] {
				out[i].Duplicate = true
				dupKeys = append(dupKeys, j.UniqueKey)
				continue
			}
			if j.UniqueKey != "" {
				// Only the first job with a key is inserted; a later one in
				// the same batch is its duplicate.
				delete(insertedKeys, j.UniqueKey)
			}
			if next >= len(got) {
				return nil, 0, fmt.Errorf("%w: insert returned %d rows for %d jobs", ErrDatabase, len(got), n)
			}
			out[i].ID = got[next].id
			next++
		}
	}
	if len(dupKeys) > 0 {
		rows, _ := db.Query(ctx, b.q.UniqueHolders, dupKeys)
		holders := map[string]int64{}
		var (
			key string
			id  int64
		)
		if _, err := pgx.ForEachRow(rows, []any{&key, &id}, func() error { holders[key] = id; return nil }); err != nil {
			return nil, 0, dbErr("find unique key holders", err)
		}
		for i, j := range jobs {
			if out[i].Duplicate {
				out[i].ID = holders[j.UniqueKey]
			}
		}
	}
	return out, xact, nil
}

// metadataText encodes metadata for a jsonb parameter; null when empty.
func metadataText(m map[string]string) pgtype.Text {
	if len(m) == 0 {
		return pgtype.Text{}
	}
	b, err := json.Marshal(m)
	if err != nil {
		return pgtype.Text{} // a map[string]string always encodes
	}
	return pgtype.Text{String: string(b), Valid: true}
}

var copyColumns = []string{"state", "queue", "kind", "priority", "args", "max_attempts", "run_at", "metadata"}

// InsertTx implements TxInserter.
func (b *PostgresBackend) InsertTx(ctx context.Context, tx DBTX, jobs []InsertParams) ([]InsertResult, error) {
	return b.insert(ctx, tx, jobs)
}

// CopyInsert implements CopyInserter: it COPYs jobs into the jobs table
// and sends one NOTIFY per queue that received due jobs, on tx, or in a
// transaction of its own when tx is nil.
func (b *PostgresBackend) CopyInsert(ctx context.Context, tx CopyDBTX, jobs []InsertParams) (int, error) {
	if tx != nil {
		return b.copyInsert(ctx, tx, jobs)
	}
	var n int
	err := pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
		var err error
		n, err = b.copyInsert(ctx, tx, jobs)
		return err
	})
	if err != nil && !errors.Is(err, ErrDatabase) {
		err = dbErr("copy jobs", err)
	}
	return n, err
}

// copyInsert is CopyInsert on db.
func (b *PostgresBackend) copyInsert(ctx context.Context, db CopyDBTX, jobs []InsertParams) (int, error) {
	now := time.Now()
	rows := make([][]any, len(jobs))
	for i, j := range jobs {
		state, runAt := StateAvailable, j.RunAt
		if runAt.IsZero() {
			runAt = now
		} else if runAt.After(now) {
			state = StateScheduled
		}
		var meta any
		if len(j.Metadata) > 0 {
			meta = j.Metadata
		}
		rows[i] = []any{string(state), j.Queue, j.Kind, int16(j.Priority), string(j.Args), int32(j.MaxAttempts), runAt, meta}
	}
	n, err := db.CopyFrom(ctx, pgx.Identifier{b.schema, "pgqueue_jobs"}, copyColumns, pgx.CopyFromRows(rows))
	if err != nil {
		return 0, dbErr("copy jobs", err)
	}
	if queues := dueQueues(jobs); len(queues) > 0 {
		if _, err := db.Exec(ctx, b.q.NotifyQueues, b.channel, queues); err != nil {
			return 0, dbErr("notify", err)
		}
	}
	return int(n), nil
}
