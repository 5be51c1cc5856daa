package pgqueue

// The Postgres backend: its options, construction, the capability list
// and the helpers every postgres_*.go file shares.

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

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
	// one trailing NOTIFY once they have committed (see postgres_notify.go). It
	// spares busy producers Postgres's global notify lock at commit, and
	// adds at most about this much pickup latency to the enqueues it
	// debounces. Default 2ms; negative: every enqueue transaction sends
	// its own NOTIFY.
	NotifyDebounce time.Duration
	// LivenessConnConfig, when set, is used to dial the connection that
	// holds the client's liveness lock (see LivenessKeeper): it must reach
	// Postgres directly, or through a pooler in session mode, never in
	// transaction mode. Default: ListenerConnConfig, else the pool's
	// configuration. With Config.PollOnly, liveness is bound only when
	// this or ListenerConnConfig is set.
	LivenessConnConfig *pgx.ConnConfig
	// DisableSessionLiveness, when true, binds no liveness: the jobs of a
	// client that died wait for their leases to end. Default false.
	DisableSessionLiveness bool
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
	liveness     livenessState
}

// The Postgres backend implements every optional interface.
var (
	_ Backend              = (*PostgresBackend)(nil)
	_ UniqueInserter       = (*PostgresBackend)(nil)
	_ TxInserter           = (*PostgresBackend)(nil)
	_ TxCompleter          = (*PostgresBackend)(nil)
	_ CopyInserter         = (*PostgresBackend)(nil)
	_ Canceller            = (*PostgresBackend)(nil)
	_ QueuePauser          = (*PostgresBackend)(nil)
	_ QueueLimiter         = (*PostgresBackend)(nil)
	_ KindCensus           = (*PostgresBackend)(nil)
	_ Maintainer           = (*PostgresBackend)(nil)
	_ PeriodicEnqueuer     = (*PostgresBackend)(nil)
	_ PeriodicNextRecorder = (*PostgresBackend)(nil)
	_ StatsRecorder        = (*PostgresBackend)(nil)
	_ StatsHistoryReader   = (*PostgresBackend)(nil)
	_ ListenReporter       = (*PostgresBackend)(nil)
	_ SchemaChecker        = (*PostgresBackend)(nil)
	_ Releaser             = (*PostgresBackend)(nil)
	_ LivenessKeeper       = (*PostgresBackend)(nil)
	_ RunRecorder          = (*PostgresBackend)(nil)
	_ TxRunRecorder        = (*PostgresBackend)(nil)
	_ HistoryKeeper        = (*PostgresBackend)(nil)
)

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
	b.liveness = newLivenessState(schema, pool.Config().ConnConfig, opts)
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

// isUndefinedColumn reports a column a later migration adds, on a schema
// not yet migrated to it.
func isUndefinedColumn(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "42703"
}

// isUndefinedTable reports a missing pgqueue table: Migrate was not run.
func isUndefinedTable(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "42P01"
}

// isLockNotAvailable reports a lock_timeout that ran out (55P03): upkeep
// gives way to the job traffic and tries again at its next round.
func isLockNotAvailable(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "55P03"
}
