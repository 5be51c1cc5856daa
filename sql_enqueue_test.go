package pgqueue_test

// Enqueue from SQL (migration 00007): pgqueue_enqueue and
// pgqueue_enqueue_many, called through pgx as a producer-only role.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/pgqueue/pgqueue"
	"github.com/pgqueue/pgqueue/internal/pgtest"
)

// The grants README's "Enqueue from SQL" documents for a producer-only role.
const producerGrants = `GRANT USAGE ON SCHEMA %[1]s TO %[2]s;
GRANT EXECUTE ON FUNCTION %[1]s.pgqueue_enqueue(text, jsonb, text, integer, timestamptz, integer, text, jsonb),
                          %[1]s.pgqueue_enqueue_many(jsonb) TO %[2]s`

// sqlEnv is a migrated schema, its owner's pool, and a pool logged in as
// a separate role that holds only the grants above.
type sqlEnv struct {
	admin    *pgxpool.Pool // the migrating (owner) role
	schema   string
	role     string
	password string
	producer *pgxpool.Pool // the producer-only role, schema on its search_path
}

func newSQLEnv(t testing.TB) *sqlEnv {
	t.Helper()
	admin, schema := pgtest.Migrated(t)
	role, password := createRole(t, admin)
	_, err := admin.Exec(context.Background(), fmt.Sprintf(producerGrants, pgx.Identifier{schema}.Sanitize(), pgx.Identifier{role}.Sanitize()))
	require.NoError(t, err, "grant the producer role what README documents")
	return &sqlEnv{admin: admin, schema: schema, role: role, password: password, producer: rolePool(t, role, password, schema)}
}

// createRole creates a LOGIN role with no privileges, dropped (with its
// grants) when the test ends. Roles are cluster-wide: the name is random.
// The password lets it log in where the server does not trust local users.
func createRole(t testing.TB, admin *pgxpool.Pool) (role, password string) {
	t.Helper()
	var b [12]byte
	_, _ = rand.Read(b[:])
	role = "pgqueue_producer_" + hex.EncodeToString(b[:6])
	password = hex.EncodeToString(b[6:])
	_, err := admin.Exec(context.Background(), "CREATE ROLE "+pgx.Identifier{role}.Sanitize()+" LOGIN PASSWORD '"+password+"'")
	require.NoError(t, err, "create role %s", role)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// DROP OWNED revokes the role's grants, so DROP ROLE can succeed
		// before the schema itself is dropped.
		if _, err := admin.Exec(ctx, "DROP OWNED BY "+pgx.Identifier{role}.Sanitize()); err != nil {
			t.Logf("drop owned by %s: %v", role, err)
		}
		if _, err := admin.Exec(ctx, "DROP ROLE "+pgx.Identifier{role}.Sanitize()); err != nil {
			t.Logf("drop role %s: %v", role, err)
		}
	})
	return role, password
}

// rolePool connects to the test database as role, with schema on the
// search_path.
func rolePool(t testing.TB, role, password, schema string) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(pgtest.URL(t))
	require.NoError(t, err)
	if cfg.ConnConfig.Database == "" {
		// A URL without a database means the one named like its user; it
		// must stay that one when another role connects.
		cfg.ConnConfig.Database = cfg.ConnConfig.User
	}
	cfg.ConnConfig.User = role
	cfg.ConnConfig.Password = password
	cfg.ConnConfig.RuntimeParams["search_path"] = pgx.Identifier{schema}.Sanitize()
	cfg.MaxConns = 8
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	require.NoError(t, err, "connect as %s", role)
	t.Cleanup(pool.Close)
	return pool
}

// ownerPool connects as the role of the test URL, which ran the
// migrations, with schema on the search_path.
func ownerPool(t testing.TB, schema string) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgx.ParseConfig(pgtest.URL(t))
	require.NoError(t, err)
	return rolePool(t, cfg.User, cfg.Password, schema)
}

func (e *sqlEnv) backend(t testing.TB) *pgqueue.PostgresBackend {
	t.Helper()
	b, err := pgqueue.NewPostgres(e.admin, &pgqueue.PostgresOptions{Schema: e.schema})
	require.NoError(t, err)
	return b
}

func (e *sqlEnv) jobCount(t testing.TB) int {
	t.Helper()
	var n int
	require.NoError(t, e.admin.QueryRow(context.Background(),
		"SELECT count(*) FROM "+pgx.Identifier{e.schema, "pgqueue_jobs"}.Sanitize()).Scan(&n))
	return n
}

// channel is the schema's NOTIFY channel, as the SQL side computes it.
func (e *sqlEnv) channel(t testing.TB) string {
	t.Helper()
	var ch string
	require.NoError(t, e.admin.QueryRow(context.Background(),
		"SELECT "+pgx.Identifier{e.schema}.Sanitize()+".pgqueue_notify_channel()").Scan(&ch))
	return ch
}

// listen returns a connection LISTENing on the schema's channel.
func (e *sqlEnv) listen(t testing.TB) *pgx.Conn {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pgtest.URL(t))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	_, err = conn.Exec(ctx, "LISTEN "+pgx.Identifier{e.channel(t)}.Sanitize())
	require.NoError(t, err)
	return conn
}

// notifications collects what conn receives until quiet passes with none.
func notifications(conn *pgx.Conn, quiet time.Duration) []string {
	var got []string
	for {
		ctx, cancel := context.WithTimeout(context.Background(), quiet)
		n, err := conn.WaitForNotification(ctx)
		cancel()
		if err != nil {
			return got
		}
		got = append(got, n.Payload)
	}
}

// pgError returns err as a *pgconn.PgError, failing the test otherwise.
func pgError(t *testing.T, err error, what string) *pgconn.PgError {
	t.Helper()
	var pgErr *pgconn.PgError
	require.Error(t, err, "%s: want an error", what)
	require.True(t, errors.As(err, &pgErr), "%s: want a Postgres error, got %T %v", what, err, err)
	return pgErr
}

func TestSQLLimitsMatchGo(t *testing.T) {
	t.Parallel()
	e := newSQLEnv(t)
	owner := ownerPool(t, e.schema)
	var raw []byte
	require.NoError(t, owner.QueryRow(context.Background(), "SELECT pgqueue_limits()::text").Scan(&raw))
	var lim map[string]any
	require.NoError(t, json.Unmarshal(raw, &lim))
	want := map[string]any{
		"max_kind_bytes":         pgqueue.MaxKindBytes,
		"max_queue_bytes":        pgqueue.MaxQueueBytes,
		"default_queue":          pgqueue.DefaultQueue,
		"min_priority":           pgqueue.MinPriority,
		"max_priority":           pgqueue.MaxPriority,
		"default_priority":       pgqueue.DefaultPriority,
		"max_attempts_limit":     pgqueue.MaxAttemptsLimit,
		"default_max_attempts":   pgqueue.DefaultMaxAttempts,
		"max_run_at_year":        pgqueue.MaxRunAtYear,
		"max_args_bytes":         pgqueue.DefaultMaxArgsBytes,
		"max_unique_key_bytes":   pgqueue.MaxUniqueKeyBytes,
		"max_metadata_key_bytes": pgqueue.MaxMetadataKeyBytes,
		"max_metadata_bytes":     pgqueue.MaxMetadataBytes,
	}
	for k, v := range want {
		if s, ok := v.(string); ok {
			require.Equal(t, s, lim[k], "pgqueue_limits()->%q must equal the Go constant", k)
			continue
		}
		require.Contains(t, lim, k, "pgqueue_limits() lacks %q", k)
		require.Equal(t, fmt.Sprint(v), fmt.Sprint(int64(lim[k].(float64))), "pgqueue_limits()->%q must equal the Go constant", k)
	}
	// Every entry is checked here, so a limit added on one side only fails.
	for k := range lim {
		if _, ok := want[k]; !ok && k != "queue_name_pattern" && k != "queue_name_rule" {
			t.Errorf("pgqueue_limits()->%q has no Go constant compared in this test", k)
		}
	}

	// The queue-name rule: the SQL pattern must accept and refuse exactly
	// the names Go's CheckQueueName does, with the same message.
	names := []string{"default", "a", "_x", "9", "mail.eu:1-2", "Q_", strings.Repeat("q", pgqueue.MaxQueueBytes),
		strings.Repeat("q", pgqueue.MaxQueueBytes+1), ".a", ":a", "-a", "a b", "a/b", "é", "a\n", "\na", "a$", "[a]", "a*"}
	for _, name := range names {
		goErr := pgqueue.CheckQueueName(name)
		var sqlErr string
		require.NoError(t, owner.QueryRow(context.Background(),
			"SELECT coalesce((pgqueue_job_error('k', '{}', $1, NULL, NULL, NULL, NULL, NULL))[2], '')", name).Scan(&sqlErr))
		if goErr == nil {
			require.Empty(t, sqlErr, "queue %q: Go accepts it, SQL refuses it", name)
		} else {
			require.Equal(t, goErr.Error(), sqlErr, "queue %q: Go and SQL must refuse it with the same message", name)
		}
	}
}

func TestSQLEnqueueProducerRoleCanEnqueueButNotReadOrChangeJobs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	admin, schema := pgtest.Migrated(t)
	role, password := createRole(t, admin)
	// README's grants block, as written but for the role and schema names
	// (roles are cluster-wide, and each test has its own schema).
	block := readmeBlock(t, "grants")
	block = strings.Replace(block, "CREATE ROLE importer LOGIN;\n", "", 1)
	block = strings.ReplaceAll(block, "importer", pgx.Identifier{role}.Sanitize())
	block = strings.ReplaceAll(block, "SCHEMA public", "SCHEMA "+pgx.Identifier{schema}.Sanitize())
	conn, err := admin.Acquire(ctx)
	require.NoError(t, err)
	_, err = conn.Exec(ctx, "SET search_path = "+pgx.Identifier{schema}.Sanitize())
	require.NoError(t, err)
	_, err = conn.Exec(ctx, block)
	require.NoError(t, err, "README's grants block:\n%s", block)
	_, err = conn.Exec(ctx, "RESET search_path")
	require.NoError(t, err)
	conn.Release()
	producer := rolePool(t, role, password, schema)

	// A temporary table of the caller's named like ours must not capture
	// its jobs: pg_temp is last on the functions' pinned search_path.
	pc, err := producer.Acquire(ctx)
	require.NoError(t, err)
	defer pc.Release()
	_, err = pc.Exec(ctx, "CREATE TEMP TABLE pgqueue_jobs (LIKE pg_catalog.pg_class)")
	require.NoError(t, err, "the producer may create temporary tables (PUBLIC's default)")
	var id int64
	require.NoError(t, pc.QueryRow(ctx, "SELECT pgqueue_enqueue('email', '{\"to\": \"a@example.com\"}')").Scan(&id),
		"the producer role must be able to enqueue with only USAGE and EXECUTE")
	var batchID int64
	require.NoError(t, pc.QueryRow(ctx, `SELECT id FROM pgqueue_enqueue_many('[{"kind": "email"}]')`).Scan(&batchID),
		"the producer role must be able to enqueue a batch")
	var n int
	require.NoError(t, admin.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{schema, "pgqueue_jobs"}.Sanitize()+" WHERE id IN ($1, $2)", id, batchID).Scan(&n))
	require.Equal(t, 2, n, "both jobs must be in the schema's jobs table, not in the producer's temporary table")
	_, err = pc.Exec(ctx, "DROP TABLE pg_temp.pgqueue_jobs")
	require.NoError(t, err)

	jobs := pgx.Identifier{schema, "pgqueue_jobs"}.Sanitize()
	dead := pgx.Identifier{schema, "pgqueue_dead_jobs"}.Sanitize()
	forbidden := map[string]string{
		"read jobs":                "SELECT count(*) FROM " + jobs,
		"change a job":             "UPDATE " + jobs + " SET priority = 1",
		"delete jobs":              "DELETE FROM " + jobs,
		"insert a job directly":    "INSERT INTO " + jobs + " (queue, kind, args, max_attempts) VALUES ('default', 'x', '{}', 1)",
		"read dead letters":        "SELECT count(*) FROM " + dead,
		"pause a queue":            "INSERT INTO " + pgx.Identifier{schema, "pgqueue_queues"}.Sanitize() + " (name, paused_at) VALUES ('default', now())",
		"requeue a dead letter":    "SELECT pgqueue_requeue_dead(1)",
		"purge a dead letter":      "SELECT pgqueue_purge_dead(1)",
		"call the internal checks": "SELECT pgqueue_job_json_error('{}')",
		"read the limits":          "SELECT pgqueue_limits()",
	}
	for what, stmt := range forbidden {
		_, err := producer.Exec(ctx, stmt)
		pgErr := pgError(t, err, "the producer role must not "+what)
		require.Equal(t, "42501", pgErr.Code, "the producer role must not %s: want permission denied, got %v", what, err)
	}

	// The two functions are SECURITY DEFINER with a pinned search_path,
	// and PUBLIC may execute none of the new functions.
	rows, err := admin.Query(ctx, `SELECT p.proname, p.prosecdef, coalesce(array_to_string(p.proconfig, ','), ''),
	        has_function_privilege('public', p.oid, 'EXECUTE')
	    FROM pg_proc p WHERE p.pronamespace = $1::regnamespace
	     AND p.proname IN ('pgqueue_enqueue', 'pgqueue_enqueue_many', 'pgqueue_job_error', 'pgqueue_job_json_error', 'pgqueue_limits')`, schema)
	require.NoError(t, err)
	type fn struct {
		definer bool
		config  string
		public  bool
	}
	fns := map[string]fn{}
	for rows.Next() {
		var name string
		var f fn
		require.NoError(t, rows.Scan(&name, &f.definer, &f.config, &f.public))
		fns[name] = f
	}
	require.NoError(t, rows.Err())
	require.Len(t, fns, 5)
	// The test schema's name needs no quotes, so Postgres shows it bare.
	pinned := "search_path=" + schema + ", pg_catalog, pg_temp"
	for name, f := range fns {
		require.False(t, f.public, "PUBLIC must not be able to execute %s", name)
		if name == "pgqueue_enqueue" || name == "pgqueue_enqueue_many" {
			require.True(t, f.definer, "%s must be SECURITY DEFINER", name)
			require.Equal(t, pinned, f.config, "%s must pin its search_path", name)
		} else {
			require.False(t, f.definer, "%s needs no rights of its own", name)
		}
	}
}

func TestSQLEnqueueRolledBackWakesNobodyAndLeavesNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newSQLEnv(t)
	listener := e.listen(t)

	tx, err := e.producer.Begin(ctx)
	require.NoError(t, err)
	var id int64
	require.NoError(t, tx.QueryRow(ctx, "SELECT pgqueue_enqueue('ping', '{\"seq\": 1}')").Scan(&id))
	_, err = tx.Exec(ctx, `SELECT * FROM pgqueue_enqueue_many('[{"kind": "ping", "queue": "other"}]')`)
	require.NoError(t, err)
	require.NoError(t, tx.Rollback(ctx))
	require.Empty(t, notifications(listener, 300*time.Millisecond), "a rolled-back SQL enqueue must wake nobody")
	require.Zero(t, e.jobCount(t), "a rolled-back SQL enqueue must leave no job")

	// The listener does hear a committed enqueue, so the silence above
	// meant something.
	_, err = e.producer.Exec(ctx, "SELECT pgqueue_enqueue('ping', '{\"seq\": 2}')")
	require.NoError(t, err)
	require.Equal(t, []string{"default"}, notifications(listener, 300*time.Millisecond), "a committed SQL enqueue sends one NOTIFY with its queue")
}

func TestSQLEnqueueCommitRunsOnGoWorkerWithinMillisecondsViaNotify(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newSQLEnv(t)
	b := e.backend(t)
	type seen struct {
		at  time.Time
		job *pgqueue.Job[pingArgs]
	}
	ran := make(chan seen, 16)
	// An hour-long poll interval: only a NOTIFY can wake the worker.
	startClient(t, b, pgqueue.Config{PollInterval: time.Hour, Queues: map[string]pgqueue.QueueConfig{"sql": {MaxWorkers: 1}}},
		func(ctx context.Context, j *pgqueue.Job[pingArgs]) error {
			ran <- seen{time.Now(), j}
			return nil
		})
	listenerReady(t, b)
	time.Sleep(50 * time.Millisecond) // let the post-LISTEN poll pass

	var latencies []time.Duration
	for seq := 1; seq <= 5; seq++ {
		tx, err := e.producer.Begin(ctx)
		require.NoError(t, err)
		var id int64
		require.NoError(t, tx.QueryRow(ctx, `SELECT pgqueue_enqueue(kind => 'ping', args => jsonb_build_object('seq', $1::int),
			queue => 'sql', priority => 3, max_attempts => 7, metadata => '{"tenant": "acme"}')`, seq).Scan(&id))
		require.NoError(t, tx.Commit(ctx))
		committed := time.Now()
		select {
		case s := <-ran:
			latencies = append(latencies, s.at.Sub(committed))
			// Indistinguishable from a Go enqueue: decoded args and options.
			require.Equal(t, id, s.job.ID)
			require.Equal(t, seq, s.job.Args.Seq, "the worker must decode the SQL args into its struct")
			require.Equal(t, "ping", s.job.Kind)
			require.Equal(t, "sql", s.job.Queue)
			require.Equal(t, 3, s.job.Priority)
			require.Equal(t, 7, s.job.MaxAttempts)
			require.Equal(t, map[string]string{"tenant": "acme"}, s.job.Metadata)
		case <-time.After(5 * time.Second):
			t.Fatalf("job %d enqueued from SQL did not run within 5 s with polling off: no NOTIFY reached the worker", seq)
		}
	}
	slices.Sort(latencies)
	t.Logf("SQL enqueue → Go worker start, after commit: median %v (of %v)", latencies[len(latencies)/2], latencies)
	require.Less(t, latencies[len(latencies)/2], 100*time.Millisecond, "median pickup after commit must be milliseconds")
}

func TestSQLEnqueueWrongArgsShapeDeadLettersWithDecodeError(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newSQLEnv(t)
	b := e.backend(t)
	c := startClient(t, b, pgqueue.Config{PollInterval: 20 * time.Millisecond}, func(ctx context.Context, j *pgqueue.Job[pingArgs]) error {
		t.Errorf("a job whose args do not decode must not reach the worker (got %+v)", j.Args)
		return nil
	})
	var id int64
	require.NoError(t, e.producer.QueryRow(ctx, `SELECT pgqueue_enqueue('ping', '{"seq": "not a number"}', max_attempts => 5)`).Scan(&id))
	var dead []*pgqueue.DeadJob
	require.Eventually(t, func() bool {
		var err error
		dead, err = c.ListDead(ctx, pgqueue.DeadFilter{Kind: "ping"})
		return err == nil && len(dead) == 1
	}, 10*time.Second, 20*time.Millisecond, "the job with args of the wrong shape must be dead-lettered")
	require.Equal(t, id, dead[0].ID)
	require.Equal(t, 1, dead[0].Attempt, "a decode error dead-letters at once, without retries")
	require.NotEmpty(t, dead[0].Errors)
	require.Contains(t, dead[0].Errors[len(dead[0].Errors)-1].Error, "cannot unmarshal string", "the dead letter must carry the decode error")
}

func TestSQLEnqueueManyOf10000SendsOneNotifyPerQueue(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newSQLEnv(t)
	listener := e.listen(t)
	queues := []string{"alpha", "beta", "gamma"}
	jobs := make([]map[string]any, 10000)
	for i := range jobs {
		jobs[i] = map[string]any{"kind": "ping", "args": map[string]int{"seq": i}, "queue": queues[i%len(queues)]}
	}
	// Future jobs wake nobody: they are not due.
	for i := 0; i < 10; i++ {
		jobs = append(jobs, map[string]any{"kind": "ping", "queue": "later", "run_at": time.Now().Add(time.Hour).Format(time.RFC3339Nano)})
	}
	raw, err := json.Marshal(jobs)
	require.NoError(t, err)

	tx, err := e.producer.Begin(ctx)
	require.NoError(t, err)
	rows, err := tx.Query(ctx, "SELECT id, duplicate FROM pgqueue_enqueue_many($1::jsonb)", string(raw))
	require.NoError(t, err)
	var ids []int64
	for rows.Next() {
		var id int64
		var dup bool
		require.NoError(t, rows.Scan(&id, &dup))
		require.False(t, dup)
		ids = append(ids, id)
	}
	require.NoError(t, rows.Err())
	require.Len(t, ids, len(jobs), "one row per job")
	require.NoError(t, tx.Commit(ctx))

	got := notifications(listener, 500*time.Millisecond)
	require.ElementsMatch(t, queues, got, "10,000 due jobs in 3 queues must send exactly one NOTIFY per queue, none for the queue with only future jobs")

	// Rows are in input order: the i-th ID holds the i-th job.
	var seq int
	var state string
	require.NoError(t, e.admin.QueryRow(ctx, "SELECT (args->>'seq')::int, state FROM "+pgx.Identifier{e.schema, "pgqueue_jobs"}.Sanitize()+" WHERE id = $1", ids[4321]).Scan(&seq, &state))
	require.Equal(t, 4321, seq, "the 4,321st result row must be the 4,321st job's ID")
	require.Equal(t, "available", state)
	require.NoError(t, e.admin.QueryRow(ctx, "SELECT state FROM "+pgx.Identifier{e.schema, "pgqueue_jobs"}.Sanitize()+" WHERE id = $1", ids[len(ids)-1]).Scan(&state))
	require.Equal(t, "scheduled", state, "a job with a future run_at must be scheduled")

	// Many single calls in one transaction: still one NOTIFY per queue.
	tx, err = e.producer.Begin(ctx)
	require.NoError(t, err)
	for i := 0; i < 100; i++ {
		_, err := tx.Exec(ctx, "SELECT pgqueue_enqueue('ping', queue => $1)", queues[i%2])
		require.NoError(t, err)
	}
	require.NoError(t, tx.Commit(ctx))
	require.ElementsMatch(t, queues[:2], notifications(listener, 500*time.Millisecond), "100 pgqueue_enqueue calls in one transaction must send one NOTIFY per queue")
}

// dynArgs lets the bad-input test build the Go equivalent of any SQL kind.
type dynArgs struct {
	K string `json:"-"`
}

func (a dynArgs) Kind() string { return a.K }

func TestSQLEnqueueBadInputRaisesDocumentedErrorAndStoresNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newSQLEnv(t)
	client, err := pgqueue.New(e.backend(t), pgqueue.Config{})
	require.NoError(t, err)
	long := func(n int) string { return strings.Repeat("x", n) }
	bigArgs := `{"s": "` + long(pgqueue.DefaultMaxArgsBytes) + `"}`
	bigMeta, err := json.Marshal(map[string]string{"a": long(5000), "b": long(4000)})
	require.NoError(t, err)

	type tc struct {
		name   string
		sql    string // calls pgqueue_enqueue with $1
		arg    any
		column string
		msg    string
		// goArgs/goOpts: the same job through EnqueueTx, which must be
		// refused with the same message (nil: no Go equivalent).
		goArgs pgqueue.Args
		goOpts *pgqueue.EnqueueOptions
	}
	one := "SELECT pgqueue_enqueue("
	cases := []tc{
		{name: "empty kind", sql: one + "$1)", arg: "", column: "kind", msg: "pgqueue: invalid job: Kind: must not be empty"},
		{name: "null kind", sql: one + "$1::text)", arg: nil, column: "kind", msg: "pgqueue: invalid job: Kind: must not be empty"},
		{name: "long kind", sql: one + "$1)", arg: long(256), column: "kind",
			msg: "pgqueue: invalid job: Kind: is 256 bytes long; the limit is 255", goArgs: dynArgs{long(256)}},
		{name: "bad queue", sql: one + "'k', queue => $1)", arg: "no spaces", column: "queue",
			msg:    `pgqueue: invalid queue name: "no spaces" must be 1-128 letters, digits, '_', '.', ':' or '-', not starting with '.', ':' or '-'`,
			goArgs: dynArgs{"k"}, goOpts: &pgqueue.EnqueueOptions{Queue: "no spaces"}},
		{name: "long queue", sql: one + "'k', queue => $1)", arg: long(129), column: "queue",
			msg:    fmt.Sprintf(`pgqueue: invalid queue name: %q must be 1-128 letters, digits, '_', '.', ':' or '-', not starting with '.', ':' or '-'`, long(129)),
			goArgs: dynArgs{"k"}, goOpts: &pgqueue.EnqueueOptions{Queue: long(129)}},
		{name: "priority too high", sql: one + "'k', priority => $1)", arg: 11, column: "priority",
			msg: "pgqueue: invalid job: Priority: 11 is outside 1..10", goArgs: dynArgs{"k"}, goOpts: &pgqueue.EnqueueOptions{Priority: 11}},
		{name: "negative priority", sql: one + "'k', priority => $1)", arg: -1, column: "priority",
			msg: "pgqueue: invalid job: Priority: -1 is outside 1..10", goArgs: dynArgs{"k"}, goOpts: &pgqueue.EnqueueOptions{Priority: -1}},
		{name: "negative max attempts", sql: one + "'k', max_attempts => $1)", arg: -1, column: "max_attempts",
			msg: "pgqueue: invalid job: MaxAttempts: must not be negative, got -1", goArgs: dynArgs{"k"}, goOpts: &pgqueue.EnqueueOptions{MaxAttempts: -1}},
		{name: "run at past 2200", sql: one + "'k', run_at => $1)", arg: time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC), column: "run_at",
			msg: "pgqueue: invalid job: RunAt: 2200-01-01 00:00:00+00 is outside the years 1 to 2199 that every backend stores"},
		{name: "run at infinity", sql: one + "'k', run_at => $1::timestamptz)", arg: "infinity", column: "run_at",
			msg: "pgqueue: invalid job: RunAt: infinity is outside the years 1 to 2199 that every backend stores"},
		{name: "run at BC", sql: one + "'k', run_at => $1::timestamptz)", arg: "0001-12-31 23:00:00+00 BC", column: "run_at",
			msg: "pgqueue: invalid job: RunAt: 0001-12-31 23:00:00+00 BC is outside the years 1 to 2199 that every backend stores"},
		{name: "args an array", sql: one + "'k', args => $1::jsonb)", arg: "[1, 2]", column: "args",
			msg: "pgqueue: invalid job: args: k: must encode as a JSON object, got [1, 2]"},
		{name: "args null", sql: one + "'k', args => $1::jsonb)", arg: nil, column: "args", msg: "pgqueue: invalid job: args: must not be null"},
		{name: "args too big", sql: one + "'k', args => $1::jsonb)", arg: bigArgs, column: "args",
			msg: fmt.Sprintf("pgqueue: invalid job: args: k: encoded size %d bytes exceeds the 1048576 byte limit", len(bigArgs))},
		{name: "empty unique key", sql: one + "'k', unique_key => $1)", arg: "", column: "unique_key",
			msg: "pgqueue: invalid job: Unique.Key: must not be empty (pass NULL for a job that is not unique)"},
		{name: "long unique key", sql: one + "'k', unique_key => $1)", arg: long(513), column: "unique_key",
			msg: "pgqueue: invalid job: Unique.Key: is 513 bytes long; the limit is 512", goArgs: dynArgs{"k"}, goOpts: &pgqueue.EnqueueOptions{Unique: &pgqueue.UniqueOpts{Key: long(513)}}},
		{name: "metadata not an object", sql: one + "'k', metadata => $1::jsonb)", arg: `["a"]`, column: "metadata",
			msg: "pgqueue: invalid job: Metadata: must be a JSON object of string values, got array"},
		{name: "metadata empty key", sql: one + "'k', metadata => $1::jsonb)", arg: `{"": "v"}`, column: "metadata",
			msg: "pgqueue: invalid job: Metadata: keys must not be empty", goArgs: dynArgs{"k"}, goOpts: &pgqueue.EnqueueOptions{Metadata: map[string]string{"": "v"}}},
		{name: "metadata long key", sql: one + "'k', metadata => $1::jsonb)", arg: `{"` + long(256) + `": "v"}`, column: "metadata",
			msg: "pgqueue: invalid job: Metadata key: is 256 bytes long; the limit is 255", goArgs: dynArgs{"k"}, goOpts: &pgqueue.EnqueueOptions{Metadata: map[string]string{long(256): "v"}}},
		{name: "metadata value not a string", sql: one + "'k', metadata => $1::jsonb)", arg: `{"n": 1}`, column: "metadata",
			msg: `pgqueue: invalid job: Metadata["n"]: must be a JSON string, got number`},
		{name: "metadata too big", sql: one + "'k', metadata => $1::jsonb)", arg: string(bigMeta), column: "metadata",
			msg: "pgqueue: invalid job: Metadata: keys and values total 9002 bytes; the limit is 8192", goArgs: dynArgs{"k"}, goOpts: &pgqueue.EnqueueOptions{Metadata: map[string]string{"a": long(5000), "b": long(4000)}}},

		// The batch form: the same checks, prefixed with the job's index,
		// and the checks of the array's shape.
		{name: "batch: bad job reported by index", sql: "SELECT * FROM pgqueue_enqueue_many($1::jsonb)",
			arg: `[{"kind": "a"}, {"kind": "b"}, {"kind": "c"}, {"kind": "d", "priority": 11}, {"kind": "e", "priority": 12}]`, column: "priority",
			msg:    "job 3: pgqueue: invalid job: Priority: 11 is outside 1..10",
			goArgs: dynArgs{"batch"}},
		{name: "batch: max attempts past the limit", sql: "SELECT * FROM pgqueue_enqueue_many($1::jsonb)",
			arg: fmt.Sprintf(`[{"kind": "a", "max_attempts": %d}]`, int64(math.MaxInt32)+1), column: "max_attempts",
			msg: "job 0: pgqueue: invalid job: MaxAttempts: 2147483648 exceeds the limit of 2147483647"},
		{name: "batch: fractional priority", sql: "SELECT * FROM pgqueue_enqueue_many($1::jsonb)", arg: `[{"kind": "a", "priority": 2.5}]`, column: "priority",
			msg: "job 0: pgqueue: invalid job: Priority: must be a whole number, got 2.5"},
		{name: "batch: unknown key", sql: "SELECT * FROM pgqueue_enqueue_many($1::jsonb)", arg: `[{"kind": "a", "priorty": 1}]`, column: "jobs",
			msg: `job 0: pgqueue: invalid job: jobs: unknown key "priorty" (known: kind, args, queue, priority, run_at, max_attempts, unique_key, metadata)`},
		{name: "batch: wrong JSON type", sql: "SELECT * FROM pgqueue_enqueue_many($1::jsonb)", arg: `[{"kind": "a", "priority": "1"}]`, column: "priority",
			msg: "job 0: pgqueue: invalid job: priority: must be a JSON number, got string"},
		{name: "batch: bad run_at text", sql: "SELECT * FROM pgqueue_enqueue_many($1::jsonb)", arg: `[{"kind": "a", "run_at": "tomorrow-ish"}]`, column: "run_at",
			msg: `job 0: pgqueue: invalid job: RunAt: "tomorrow-ish" is not a timestamp: invalid input syntax for type timestamp with time zone: "tomorrow-ish"`},
		{name: "batch: element not an object", sql: "SELECT * FROM pgqueue_enqueue_many($1::jsonb)", arg: `[{"kind": "a"}, "b"]`, column: "jobs",
			msg: "job 1: pgqueue: invalid job: jobs: each job must be a JSON object, got string"},
		{name: "batch: not an array", sql: "SELECT * FROM pgqueue_enqueue_many($1::jsonb)", arg: `{"kind": "a"}`, column: "jobs",
			msg: "pgqueue: invalid job: jobs: must be a JSON array of jobs, got object"},
		{name: "batch: empty", sql: "SELECT * FROM pgqueue_enqueue_many($1::jsonb)", arg: `[]`, column: "jobs",
			msg: "pgqueue: invalid job: jobs: no jobs given"},
	}
	for _, c := range cases {
		_, err := e.producer.Exec(ctx, c.sql, c.arg)
		pgErr := pgError(t, err, c.name)
		require.Equal(t, "22023", pgErr.Code, "%s: SQLSTATE (%v)", c.name, err)
		require.Equal(t, c.msg, pgErr.Message, "%s: message", c.name)
		require.Equal(t, c.column, pgErr.ColumnName, "%s: the error's COLUMN field", c.name)
		if c.goArgs == nil {
			continue
		}
		var goErr error
		if strings.HasPrefix(c.name, "batch") {
			reqs := []pgqueue.EnqueueRequest{{Args: dynArgs{"a"}}, {Args: dynArgs{"b"}}, {Args: dynArgs{"c"}}, {Args: dynArgs{"d"}, Options: &pgqueue.EnqueueOptions{Priority: 11}}}
			_, goErr = client.EnqueueManyTx(ctx, e.admin, reqs)
		} else {
			_, goErr = client.EnqueueTx(ctx, e.admin, c.goArgs, c.goOpts)
		}
		require.ErrorIs(t, goErr, pgqueue.ErrInvalidArgs, "%s: Go must refuse it too", c.name)
		require.Equal(t, goErr.Error(), c.msg, "%s: SQL must say what EnqueueTx says", c.name)
	}
	require.Zero(t, e.jobCount(t), "refused input must store nothing")

	// A refused batch stores none of its valid jobs either, even inside a
	// transaction that goes on (to a savepoint) and commits.
	tx, err := e.producer.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, "SAVEPOINT s")
	require.NoError(t, err)
	_, err = tx.Exec(ctx, `SELECT * FROM pgqueue_enqueue_many('[{"kind": "ok"}, {"kind": ""}]')`)
	require.Equal(t, "22023", pgError(t, err, "batch with one bad job").Code)
	_, err = tx.Exec(ctx, "ROLLBACK TO SAVEPOINT s")
	require.NoError(t, err)
	require.NoError(t, tx.Commit(ctx))
	require.Zero(t, e.jobCount(t), "a refused batch must store none of its jobs")
}

func TestSQLEnqueueUniqueKeyReturnsTheHolder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newSQLEnv(t)
	enqueue := func(key string) int64 {
		t.Helper()
		var id int64
		require.NoError(t, e.producer.QueryRow(ctx, "SELECT pgqueue_enqueue('sync', unique_key => $1)", key).Scan(&id))
		return id
	}
	first := enqueue("sync:42")
	require.Equal(t, first, enqueue("sync:42"), "a second enqueue with a held key must return the holder's ID")
	require.Equal(t, 1, e.jobCount(t), "the duplicate must not be stored")

	// Go sees the same key as held.
	client, err := pgqueue.New(e.backend(t), pgqueue.Config{})
	require.NoError(t, err)
	goID, err := client.EnqueueTx(ctx, e.admin, dynArgs{"sync"}, &pgqueue.EnqueueOptions{Unique: &pgqueue.UniqueOpts{Key: "sync:42"}})
	require.ErrorIs(t, err, pgqueue.ErrDuplicateJob, "a key held by a SQL-enqueued job is held for Go too")
	require.Equal(t, first, goID)

	// The batch form: a held key, a key repeated within the array, a new key.
	rows, err := e.producer.Query(ctx, `SELECT id, duplicate FROM pgqueue_enqueue_many('[
		{"kind": "sync", "unique_key": "sync:42"},
		{"kind": "sync", "unique_key": "sync:7"},
		{"kind": "sync", "unique_key": "sync:7"},
		{"kind": "sync"}]')`)
	require.NoError(t, err)
	type res struct {
		ID  int64
		Dup bool
	}
	got, err := pgx.CollectRows(rows, pgx.RowToStructByPos[res])
	require.NoError(t, err)
	require.Len(t, got, 4)
	require.Equal(t, res{first, true}, got[0], "a held key: the holder's ID, duplicate")
	require.False(t, got[1].Dup, "a new key is stored")
	require.Equal(t, res{got[1].ID, true}, got[2], "a key repeated in the array: the earlier job holds it")
	require.False(t, got[3].Dup, "a job without a key is never a duplicate")
	require.Equal(t, 3, e.jobCount(t))

	// Once the holder finishes (here: completed and deleted), the key is free.
	_, err = e.admin.Exec(ctx, "DELETE FROM "+pgx.Identifier{e.schema, "pgqueue_jobs"}.Sanitize()+" WHERE id = $1", first)
	require.NoError(t, err)
	again := enqueue("sync:42")
	require.NotEqual(t, first, again, "a freed key must give a new job")
}

func TestSQLEnqueueReadmeTriggerExample(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newSQLEnv(t)
	conn, err := e.admin.Acquire(ctx)
	require.NoError(t, err)
	_, err = conn.Exec(ctx, "SET search_path = "+pgx.Identifier{e.schema}.Sanitize())
	require.NoError(t, err)
	_, err = conn.Exec(ctx, readmeBlock(t, "trigger"))
	require.NoError(t, err, "README's trigger example, as written")
	_, err = conn.Exec(ctx, "RESET search_path")
	require.NoError(t, err)
	conn.Release()
	// The role inserting orders needs INSERT on orders and the producer
	// grants, nothing on pgqueue's tables.
	_, err = e.admin.Exec(ctx, "GRANT INSERT ON "+pgx.Identifier{e.schema, "orders"}.Sanitize()+" TO "+pgx.Identifier{e.role}.Sanitize())
	require.NoError(t, err)

	got := make(chan int64, 16)
	b := e.backend(t)
	c, err := pgqueue.New(b, pgqueue.Config{PollInterval: time.Hour})
	require.NoError(t, err)
	require.NoError(t, pgqueue.Register(c, pgqueue.WorkFunc[dynArgsReceipt](func(ctx context.Context, j *pgqueue.Job[dynArgsReceipt]) error {
		got <- j.Args.OrderID
		return nil
	})))
	require.NoError(t, c.Start(ctx))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = c.Stop(ctx)
	})
	listenerReady(t, b)
	time.Sleep(50 * time.Millisecond)

	// A rolled-back order leaves no job.
	tx, err := e.producer.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, "INSERT INTO orders (total_cents) VALUES (100)")
	require.NoError(t, err)
	require.NoError(t, tx.Rollback(ctx))
	require.Zero(t, e.jobCount(t), "a rolled-back order must leave no job")

	// A committed order runs its receipt on the Go worker, woken by NOTIFY.
	var orderID int64
	_, err = e.producer.Exec(ctx, "INSERT INTO orders (total_cents) VALUES (4200)")
	require.NoError(t, err, "insert an order as a role with INSERT on orders and the producer grants")
	require.NoError(t, e.admin.QueryRow(ctx, "SELECT max(id) FROM "+pgx.Identifier{e.schema, "orders"}.Sanitize()).Scan(&orderID))
	select {
	case id := <-got:
		require.Equal(t, orderID, id, "the receipt job must carry the new order's ID")
	case <-time.After(5 * time.Second):
		t.Fatal("the trigger's send_receipt job did not run within 5 s with polling off")
	}

	// The trigger fires per row, but a statement inserting many orders
	// sends one NOTIFY.
	listener := e.listen(t)
	_, err = e.producer.Exec(ctx, "INSERT INTO orders (total_cents) SELECT 100 * g FROM generate_series(1, 50) AS g")
	require.NoError(t, err)
	require.Equal(t, []string{"default"}, notifications(listener, 300*time.Millisecond), "50 orders in one statement must send one NOTIFY")
	for range 50 {
		select {
		case <-got:
		case <-time.After(5 * time.Second):
			t.Fatal("the receipts of 50 orders inserted at once did not all run")
		}
	}
}

// dynArgsReceipt is README's SendReceipt.
type dynArgsReceipt struct {
	OrderID int64 `json:"order_id"`
}

func (dynArgsReceipt) Kind() string { return "send_receipt" }

func TestSQLEnqueueReadmeProducerSnippets(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newSQLEnv(t)
	kinds := func() map[string]int {
		rows, err := e.admin.Query(ctx, "SELECT args->>'order_id', count(*) FROM "+pgx.Identifier{e.schema, "pgqueue_jobs"}.Sanitize()+" WHERE kind = 'send_receipt' GROUP BY 1")
		require.NoError(t, err)
		out := map[string]int{}
		for rows.Next() {
			var k string
			var n int
			require.NoError(t, rows.Scan(&k, &n))
			out[k] = n
		}
		require.NoError(t, rows.Err())
		return out
	}

	// psql: the command line as written, when psql is installed.
	if _, err := exec.LookPath("psql"); err != nil {
		t.Logf("psql is not installed: its snippet is not run")
	} else {
		cmdline := strings.TrimSpace(readmeBlock(t, "psql"))
		cfg, err := pgx.ParseConfig(pgtest.URL(t))
		require.NoError(t, err)
		if cfg.Database == "" {
			cfg.Database = cfg.User
		}
		url := fmt.Sprintf("postgres://%s:%s@%s:%d/%s?sslmode=disable", e.role, e.password, cfg.Host, cfg.Port, cfg.Database)
		cmd := exec.Command("sh", "-c", cmdline)
		cmd.Env = append(os.Environ(), "DATABASE_URL="+url, "PGOPTIONS=-c search_path="+e.schema)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "README's psql snippet: %s", out)
		require.Equal(t, map[string]int{"42": 1}, kinds(), "the psql snippet must enqueue one send_receipt for order 42")
	}

	// Python (psycopg): its SQL, with %s placeholders as $n.
	py := readmeBlock(t, "python")
	m := regexp.MustCompile(`conn\.execute\(\s*"([^"]+)"`).FindStringSubmatch(py)
	require.NotNil(t, m, "no conn.execute in the Python snippet")
	n := 0
	stmt := regexp.MustCompile(`%s`).ReplaceAllStringFunc(m[1], func(string) string { n++; return fmt.Sprintf("$%d", n) })
	var id1, id2 int64
	require.NoError(t, e.producer.QueryRow(ctx, stmt, "send_receipt", `{"order_id": 43}`, "send_receipt:43").Scan(&id1), "Python snippet's SQL: %s", stmt)
	require.NoError(t, e.producer.QueryRow(ctx, stmt, "send_receipt", `{"order_id": 43}`, "send_receipt:43").Scan(&id2))
	require.Equal(t, id1, id2, "the Python snippet's unique key makes a rerun return the same job")

	// Node (pg): its statements in order on one connection.
	node := readmeBlock(t, "node")
	stmts := regexp.MustCompile(`client\.query\(\s*"([^"]+)"`).FindAllStringSubmatch(node, -1)
	require.Len(t, stmts, 3, "BEGIN, the enqueue, COMMIT")
	conn, err := e.producer.Acquire(ctx)
	require.NoError(t, err)
	defer conn.Release()
	for _, s := range stmts {
		if strings.Contains(s[1], "$1") {
			var id int64
			var dup bool
			require.NoError(t, conn.QueryRow(ctx, s[1], `[{"kind": "send_receipt", "args": {"order_id": 44}}]`).Scan(&id, &dup), "Node snippet's SQL: %s", s[1])
			require.False(t, dup)
			continue
		}
		_, err := conn.Exec(ctx, s[1])
		require.NoError(t, err, "Node snippet's SQL: %s", s[1])
	}
	want := map[string]int{"43": 1, "44": 1}
	if _, err := exec.LookPath("psql"); err == nil {
		want["42"] = 1
	}
	require.Equal(t, want, kinds())
}

// readmeBlock returns the fenced code block that follows the README marker
// "<!-- sql-enqueue: name", so the tests run the README's text itself.
func readmeBlock(t testing.TB, name string) string {
	t.Helper()
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	s := string(readme)
	i := strings.Index(s, "<!-- sql-enqueue: "+name+" ")
	require.GreaterOrEqual(t, i, 0, "README has no %q marker", name)
	s = s[i:]
	start := strings.Index(s, "```")
	require.GreaterOrEqual(t, start, 0)
	s = s[start:]
	s = s[strings.Index(s, "\n")+1:]
	end := strings.Index(s, "```")
	require.GreaterOrEqual(t, end, 0)
	return s[:end]
}

func TestSQLEnqueueLongSchemaNameWakesGoWorker(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	admin := pgtest.Pool(t)
	var b [8]byte
	_, _ = rand.Read(b[:])
	// 62 bytes: "pgqueue." + the name does not fit in a 63-byte channel name,
	// so both sides must use the hashed channel.
	schema := "pgqueue_test_long_" + strings.Repeat("x", 62-18-16) + hex.EncodeToString(b[:])
	require.Len(t, schema, 62)
	t.Cleanup(func() {
		_, _ = admin.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
	})
	require.NoError(t, pgqueue.Migrate(ctx, admin, &pgqueue.MigrateOptions{Schema: schema}))
	var ch string
	require.NoError(t, admin.QueryRow(ctx, "SELECT "+pgx.Identifier{schema}.Sanitize()+".pgqueue_notify_channel()").Scan(&ch))
	require.Regexp(t, `^pgqueue\.[0-9a-f]{1,16}$`, ch, "a long schema's channel is hashed")

	be, err := pgqueue.NewPostgres(admin, &pgqueue.PostgresOptions{Schema: schema})
	require.NoError(t, err)
	ran := make(chan int, 1)
	startClient(t, be, pgqueue.Config{PollInterval: time.Hour}, func(ctx context.Context, j *pgqueue.Job[pingArgs]) error {
		ran <- j.Args.Seq
		return nil
	})
	listenerReady(t, be)
	time.Sleep(50 * time.Millisecond)
	_, err = admin.Exec(ctx, "SELECT "+pgx.Identifier{schema}.Sanitize()+".pgqueue_enqueue('ping', '{\"seq\": 9}')")
	require.NoError(t, err)
	select {
	case seq := <-ran:
		require.Equal(t, 9, seq)
	case <-time.After(5 * time.Second):
		t.Fatalf("with schema %q the SQL NOTIFY (channel %s) did not reach the Go listener: the channels disagree", schema, ch)
	}
}

func TestSQLEnqueueMigrationDownDropsItsFunctions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, schema := pgtest.Migrated(t)
	m, err := pgqueue.NewMigrator(pool, &pgqueue.MigrateOptions{Schema: schema})
	require.NoError(t, err)
	defer m.Close()
	require.NoError(t, m.DownTo(ctx, 6), "migrating down past 00007")
	var names []string
	rows, err := pool.Query(ctx, `SELECT proname FROM pg_proc WHERE pronamespace = $1::regnamespace
	    AND proname IN ('pgqueue_enqueue', 'pgqueue_enqueue_many', 'pgqueue_job_error', 'pgqueue_job_json_error', 'pgqueue_limits')`, schema)
	require.NoError(t, err)
	names, err = pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Empty(t, names, "Down must drop every function Up created")
	var lang string
	require.NoError(t, pool.QueryRow(ctx, `SELECT l.lanname FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
	    WHERE p.pronamespace = $1::regnamespace AND p.proname = 'pgqueue_notify_channel'`, schema).Scan(&lang))
	require.Equal(t, "sql", lang, "Down must restore version 2's pgqueue_notify_channel")
	require.NoError(t, m.Up(ctx))
}
