package pgqueue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
)

// promoteBatch caps how many scheduled jobs one promotion statement moves.
const promoteBatch = 5000

// PostgresOptions configures the Postgres backend.
type PostgresOptions struct {
	// Schema holds the pgqueue tables. Default "public". It must be the
	// schema Migrate was run with.
	Schema string
	// ListenerConnConfig, when set, is used to dial the LISTEN connection
	// instead of the pool's configuration: for example a direct connection
	// to Postgres when the pool goes through PgBouncer in transaction mode,
	// where LISTEN does not work. Default: the pool's configuration.
	ListenerConnConfig *pgx.ConnConfig
	// ListenerPingInterval is how long the listener waits for a
	// notification before it pings its connection, to find a half-open
	// connection that looks alive but delivers nothing; a ping gets
	// ListenerPingInterval/3 (at least 1s) to answer before the listener
	// reconnects. Default 15s.
	ListenerPingInterval time.Duration
	// NotifyDebounce is how long after an enqueue that sent NOTIFY for a
	// queue other enqueues of this backend into that queue leave the
	// NOTIFY out of their own transaction, and are instead announced by
	// one trailing NOTIFY once they have committed (see notify.go). It
	// spares busy producers Postgres's global notify lock at commit, and
	// adds at most about this much pickup latency to the enqueues it
	// debounces. Default 2ms; negative: every enqueue transaction sends
	// its own NOTIFY.
	NotifyDebounce time.Duration
}

// PostgresBackend stores jobs in Postgres. Build it with NewPostgres. It is
// the only backend that can join the caller's transaction (EnqueueTx,
// CompleteTx).
type PostgresBackend struct {
	pool    *pgxpool.Pool
	schema  string
	channel string
	lockKey int64
	q       queries
	vacuum  vacuumState

	listenConfig *pgx.ConnConfig
	listenPing   time.Duration
	limits       limitCache
	notify       notifyDebounce
}

var _ Backend = (*PostgresBackend)(nil)

// NewPostgres returns a Backend over pool, using the tables in opts.Schema
// (default "public"). It does not touch the database; run Migrate first.
// It returns an error wrapping ErrInvalidConfig for a nil pool or an empty
// or over-long schema name.
func NewPostgres(pool *pgxpool.Pool, opts *PostgresOptions) (*PostgresBackend, error) {
	var name string
	if opts != nil {
		name = opts.Schema
	}
	schema, err := poolAndSchema(pool, name)
	if err != nil {
		return nil, err
	}
	q, err := renderQueries(schema)
	if err != nil {
		return nil, err
	}
	h := fnv.New64a()
	h.Write([]byte("pgqueue.rescue\x00" + schema))
	b := &PostgresBackend{pool: pool, schema: schema, channel: notifyChannel(schema), lockKey: int64(h.Sum64()), q: q,
		listenConfig: pool.Config().ConnConfig, listenPing: listenPingDefault}
	b.notify.window = notifyDebounceDefault
	if opts != nil {
		if opts.NotifyDebounce != 0 {
			b.notify.window = opts.NotifyDebounce
		}
		if opts.ListenerConnConfig != nil {
			b.listenConfig = opts.ListenerConnConfig
		}
		if opts.ListenerPingInterval < 0 {
			return nil, invalidConfig("ListenerPingInterval", "must not be negative, got %v", opts.ListenerPingInterval)
		}
		if opts.ListenerPingInterval > 0 {
			b.listenPing = opts.ListenerPingInterval
		}
	}
	return b, nil
}

// poolAndSchema checks the pool and the schema name (default "public")
// given to NewPostgres and NewMigrator.
func poolAndSchema(pool *pgxpool.Pool, schema string) (string, error) {
	if pool == nil {
		return "", invalidConfig("pool", "must not be nil")
	}
	if schema == "" {
		schema = "public"
	}
	return schema, validSchema(schema)
}

func validSchema(schema string) error {
	if schema == "" || len(schema) > 63 {
		return invalidConfig("Schema", "%q must be 1-63 bytes", schema)
	}
	// Postgres cuts an identifier at a NUL (so the tables would land in
	// another schema than the one named) and refuses invalid UTF-8.
	if strings.IndexByte(schema, 0) >= 0 || !utf8.ValidString(schema) {
		return invalidConfig("Schema", "%q must be valid UTF-8 without NUL bytes", schema)
	}
	return nil
}

// notifyChannel is the LISTEN/NOTIFY channel of one schema's queues, so
// that apps sharing a database in separate schemas do not wake each other.
// Channel names are identifiers: at most 63 bytes.
func notifyChannel(schema string) string {
	ch := "pgqueue." + schema
	if len(ch) > 63 {
		h := fnv.New64a()
		h.Write([]byte(schema))
		ch = fmt.Sprintf("pgqueue.%x", h.Sum64())
	}
	return ch
}

// Pool returns the pool the backend uses.
func (b *PostgresBackend) Pool() *pgxpool.Pool { return b.pool }

// Schema returns the schema holding the backend's tables.
func (b *PostgresBackend) Schema() string { return b.schema }

func dbErr(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("pgqueue: %s: %w", op, err)
	}
	if isUndefinedTable(err) {
		return fmt.Errorf("%w: %s: %w (have the migrations been run in this schema? see pgqueue.Migrate)", ErrDatabase, op, err)
	}
	return fmt.Errorf("%w: %s: %w", ErrDatabase, op, err)
}

func micros(d time.Duration) int64 { return d.Microseconds() }

// Insert implements Backend. Jobs with a unique key should go through
// InsertUnique; here a duplicate makes Insert return a *DuplicateError
// along with the IDs.
func (b *PostgresBackend) Insert(ctx context.Context, jobs []InsertParams) ([]int64, error) {
	res, err := b.insert(ctx, b.pool, jobs)
	if err != nil {
		return nil, err
	}
	return ResultIDs(res)
}

// InsertUnique implements UniqueInserter.
func (b *PostgresBackend) InsertUnique(ctx context.Context, jobs []InsertParams) ([]InsertResult, error) {
	return b.insert(ctx, b.pool, jobs)
}

// insert runs the insert statement on db: the pool, or the caller's
// transaction for EnqueueTx. A job whose unique key is taken is reported
// as a duplicate with the holder's ID (0 if the holder finished before it
// could be read).
func (b *PostgresBackend) insert(ctx context.Context, db DBTX, jobs []InsertParams) ([]InsertResult, error) {
	out := make([]InsertResult, len(jobs))
	var dupKeys []string
	// A null channel: the transaction leaves its NOTIFY to the trailing
	// notifier (notify.go).
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
		query := b.q.insertOnePlain
		if key.Valid {
			query = b.q.insertOne
		}
		err := db.QueryRow(ctx, query, j.Queue, j.Kind, int16(j.Priority), string(j.Args), int32(j.MaxAttempts), runAt, channel, key, metadataText(j.Metadata)).Scan(&id, &due, nil, &xid)
		switch {
		case errors.Is(err, pgx.ErrNoRows) && key.Valid:
			out[0].Duplicate = true
			dupKeys = append(dupKeys, j.UniqueKey)
		case err != nil:
			return nil, dbErr("insert job", err)
		default:
			if due {
				b.stored(xid, j.Queue, channel.Valid)
			}
			out[0].ID = id
			return out, nil
		}
	} else {
		n := len(jobs)
		query := b.q.insertPlain
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
				query = b.q.insert
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
			return nil, dbErr("insert jobs", err)
		}
		var woken []string
		for _, r := range got {
			if r.due && !slices.Contains(woken, r.queue) {
				woken = append(woken, r.queue)
				b.stored(r.xid, r.queue, channel.Valid)
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
				return nil, fmt.Errorf("%w: insert returned %d rows for %d jobs", ErrDatabase, len(got), n)
			}
			out[i].ID = got[next].id
			next++
		}
	}
	if len(dupKeys) > 0 {
		rows, _ := db.Query(ctx, b.q.uniqueHolders, dupKeys)
		holders := map[string]int64{}
		var (
			key string
			id  int64
		)
		if _, err := pgx.ForEachRow(rows, []any{&key, &id}, func() error { holders[key] = id; return nil }); err != nil {
			return nil, dbErr("find unique key holders", err)
		}
		for i, j := range jobs {
			if out[i].Duplicate {
				out[i].ID = holders[j.UniqueKey]
			}
		}
	}
	return out, nil
}

// Claim implements Backend.
func (b *PostgresBackend) Claim(ctx context.Context, p ClaimParams) ([]*JobRow, error) {
	if p.Limit <= 0 || len(p.Kinds) == 0 {
		return nil, nil
	}
	// One round trip: the plan setting, the claim and the commit are
	// pipelined in one batch.
	batch := &pgx.Batch{}
	limited, err := b.limits.isLimited(ctx, b, p.Queue)
	if err != nil {
		return nil, dbErr("read queue limits", err)
	}
	claim := b.q.claim
	batch.Queue("BEGIN")
	batch.Queue(b.q.claimPlan)
	if limited {
		batch.Queue(b.q.claimLock, p.Queue)
		claim = b.q.claimLimited
	}
	var out []*JobRow
	batch.Queue(claim, p.Queue, p.Kinds, p.Limit, micros(p.Lease), p.ClientID).Query(func(rows pgx.Rows) error {
		var err error
		out, err = pgx.CollectRows(rows, scanJobRow)
		return err
	})
	batch.Queue("COMMIT")
	if err := b.pool.SendBatch(ctx, batch).Close(); err != nil {
		return nil, dbErr("claim jobs", err)
	}
	sort.Slice(out, func(i, k int) bool {
		a, c := out[i], out[k]
		if a.Priority != c.Priority {
			return a.Priority < c.Priority
		}
		if !a.RunAt.Equal(c.RunAt) {
			return a.RunAt.Before(c.RunAt)
		}
		return a.ID < c.ID
	})
	return out, nil
}

func scanJobRow(row pgx.CollectableRow) (*JobRow, error) {
	var (
		j       JobRow
		prio    int16
		errs    []byte
		attempt pgtype.Timestamptz
		lease   pgtype.Timestamptz
	)
	if err := row.Scan(&j.ID, &j.Kind, &j.Queue, &prio, &j.Args, &j.Attempt, &j.MaxAttempts,
		&errs, &j.CreatedAt, &j.RunAt, &attempt, &lease, &j.Token, &j.Metadata); err != nil {
		return nil, err
	}
	j.Priority = int(prio)
	j.AttemptedAt, j.LeaseUntil = attempt.Time, lease.Time
	if len(errs) > 0 {
		if err := json.Unmarshal(errs, &j.Errors); err != nil {
			return nil, fmt.Errorf("job %d: decode error history: %w", j.ID, err)
		}
	}
	return &j, nil
}

func scanRef(row pgx.CollectableRow) (JobRef, error) {
	var r JobRef
	err := row.Scan(&r.ID, &r.Token)
	return r, err
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

func splitRefs(refs []JobRef) (ids, tokens []int64) {
	ids, tokens = make([]int64, len(refs)), make([]int64, len(refs))
	for i, r := range refs {
		ids[i], tokens[i] = r.ID, r.Token
	}
	return ids, tokens
}

// lostRefs returns the refs not in kept.
func lostRefs(refs []JobRef, kept []JobRef) []JobRef {
	seen := make(map[JobRef]bool, len(kept))
	for _, r := range kept {
		seen[r] = true
	}
	var lost []JobRef
	for _, r := range refs {
		if !seen[r] {
			lost = append(lost, r)
		}
	}
	return lost
}

// Complete implements Backend.
func (b *PostgresBackend) Complete(ctx context.Context, refs []JobRef) ([]JobRef, error) {
	if len(refs) == 0 {
		return nil, nil
	}
	ids, tokens := splitRefs(refs)
	rows, _ := b.pool.Query(ctx, b.q.complete, ids, tokens)
	done, err := pgx.CollectRows(rows, scanRef)
	if err != nil {
		return nil, dbErr("complete jobs", err)
	}
	return lostRefs(refs, done), nil
}

// Reschedule implements Backend.
func (b *PostgresBackend) Reschedule(ctx context.Context, ref JobRef, p RescheduleParams) error {
	var errJSON []byte
	if p.Error != nil {
		var err error
		if errJSON, err = json.Marshal(p.Error); err != nil {
			return fmt.Errorf("pgqueue: encode attempt error: %w", err)
		}
	}
	var n, woke int64
	err := b.pool.QueryRow(ctx, b.q.reschedule, ref.ID, ref.Token, micros(p.Delay), errJSON, p.RefundAttempt, b.channel).Scan(&n, &woke)
	if err != nil {
		return dbErr("reschedule job", err)
	}
	if n == 0 {
		return fmt.Errorf("%w: job %d", ErrLeaseLost, ref.ID)
	}
	return nil
}

// DeadLetter implements Backend.
func (b *PostgresBackend) DeadLetter(ctx context.Context, ref JobRef, info AttemptError) error {
	errJSON, err := json.Marshal(info)
	if err != nil {
		return fmt.Errorf("pgqueue: encode attempt error: %w", err)
	}
	var id int64
	err = b.pool.QueryRow(ctx, b.q.deadLetter, ref.ID, ref.Token, errJSON).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%w: job %d", ErrLeaseLost, ref.ID)
	}
	return dbErr("dead-letter job", err)
}

// Heartbeat implements Backend.
func (b *PostgresBackend) Heartbeat(ctx context.Context, refs []JobRef, lease time.Duration) ([]JobRef, error) {
	if len(refs) == 0 {
		return nil, nil
	}
	ids, tokens := splitRefs(refs)
	rows, _ := b.pool.Query(ctx, b.q.heartbeat, ids, tokens, micros(lease))
	held, err := pgx.CollectRows(rows, scanRef)
	if err != nil {
		return nil, dbErr("heartbeat", err)
	}
	return lostRefs(refs, held), nil
}

// queueCounts reads rows of (queue, count, notified) into a sorted queue list
// and a total.
func queueCounts(rows pgx.Rows) ([]string, int, error) {
	var (
		queues []string
		total  int
	)
	for rows.Next() {
		var (
			q        string
			n        int64
			notified any
		)
		if err := rows.Scan(&q, &n, &notified); err != nil {
			return nil, 0, err
		}
		queues = append(queues, q)
		total += int(n)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, err
	}
	sort.Strings(queues)
	return queues, total, nil
}

// PromoteDue implements Backend.
func (b *PostgresBackend) PromoteDue(ctx context.Context) (PromoteResult, error) {
	var res PromoteResult
	seen := map[string]bool{}
	for {
		rows, err := b.pool.Query(ctx, b.q.promote, b.channel, promoteBatch)
		if err != nil {
			return res, dbErr("promote scheduled jobs", err)
		}
		queues, n, err := queueCounts(rows)
		if err != nil {
			return res, dbErr("promote scheduled jobs", err)
		}
		for _, q := range queues {
			if !seen[q] {
				seen[q] = true
				res.Queues = append(res.Queues, q)
			}
		}
		if n < promoteBatch {
			break
		}
	}
	sort.Strings(res.Queues)
	var next pgtype.Int8
	if err := b.pool.QueryRow(ctx, b.q.nextDue).Scan(&next); err != nil {
		return res, dbErr("find next scheduled job", err)
	}
	if next.Valid {
		res.HasNext, res.NextIn = true, time.Duration(next.Int64)*time.Microsecond
	}
	return res, nil
}

// Rescue implements Backend.
func (b *PostgresBackend) Rescue(ctx context.Context, info AttemptError) (RescueResult, error) {
	var res RescueResult
	errJSON, err := json.Marshal(info)
	if err != nil {
		return res, fmt.Errorf("pgqueue: encode attempt error: %w", err)
	}
	err = pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
		var locked bool
		if err := tx.QueryRow(ctx, b.q.rescueLock, b.lockKey).Scan(&locked); err != nil || !locked {
			return err
		}
		rows, err := tx.Query(ctx, b.q.rescueRequeue, errJSON, b.channel)
		if err != nil {
			return err
		}
		if res.Queues, res.Requeued, err = queueCounts(rows); err != nil {
			return err
		}
		rows, _ = tx.Query(ctx, b.q.rescueDead, errJSON)
		dead, err := pgx.CollectRows(rows, pgx.RowTo[string])
		res.DeadLettered = len(dead)
		return err
	})
	if err != nil {
		return RescueResult{}, dbErr("rescue expired leases", err)
	}
	return res, nil
}

// isUndefinedTable reports a missing pgqueue table: Migrate was not run.
func isUndefinedTable(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "42P01"
}
