package pgqueue_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/pgqueue/pgqueue"
	"github.com/pgqueue/pgqueue/internal/pgtest"
)

// insertRunningJob writes a running job straight into the table, as an
// older version (before enqueue checked lengths) or a hand-written INSERT
// could have, with its lease already ended when expired. It returns the
// job's ref.
func insertRunningJob(t *testing.T, b *pgqueue.PostgresBackend, kind string, attempt, maxAttempts int, expired bool) pgqueue.JobRef {
	t.Helper()
	lease := "now() + interval '1 hour'"
	if expired {
		lease = "now() - interval '1 second'"
	}
	if len(kind) > 100 {
		// Random text, which Postgres cannot compress below the index
		// row limit as it could a repeated letter.
		b := make([]byte, len(kind)/2)
		_, _ = rand.Read(b)
		kind = hex.EncodeToString(b)
	}
	var ref pgqueue.JobRef
	err := b.Pool().QueryRow(context.Background(), fmt.Sprintf(`
		INSERT INTO %s (state, queue, kind, args, attempt, max_attempts, lease_until, lease_token, attempted_at)
		VALUES ('running', 'default', $1, '{}', $2, $3, %s, 7, now())
		RETURNING id, lease_token`, pgx.Identifier{b.Schema(), "pgqueue_jobs"}.Sanitize(), lease),
		kind, attempt, maxAttempts).Scan(&ref.ID, &ref.Token)
	require.NoError(t, err, "insert a running job by hand")
	return ref
}

func jobState(t *testing.T, b *pgqueue.PostgresBackend, id int64) string {
	t.Helper()
	var state string
	err := b.Pool().QueryRow(context.Background(), fmt.Sprintf(`
		SELECT state FROM %s WHERE id = $1
		UNION ALL SELECT 'dead' FROM %s WHERE id = $1`,
		pgx.Identifier{b.Schema(), "pgqueue_jobs"}.Sanitize(), pgx.Identifier{b.Schema(), "pgqueue_dead_jobs"}.Sanitize()), id).Scan(&state)
	if err == pgx.ErrNoRows {
		return "gone"
	}
	require.NoError(t, err)
	return state
}

func deadJob(t *testing.T, b *pgqueue.PostgresBackend, id int64) *pgqueue.DeadJob {
	t.Helper()
	dead, err := b.ListDead(context.Background(), pgqueue.DeadFilter{IDs: []int64{id}})
	require.NoError(t, err, "list dead job %d", id)
	require.Len(t, dead, 1, "job %d should be in the dead-letter table", id)
	return dead[0]
}

var leaseExpired = pgqueue.AttemptError{Kind: "lease_expired", Error: "lease expired"}

// A job whose kind is too long for the dead-letter table's index used to
// make every rescue fail, so that the other crashed workers' jobs stayed
// running for ever.
func TestRescueHandlesOtherJobsPastOneThatCannotBeDeadLettered(t *testing.T) {
	t.Parallel()
	b := pgtest.Backend(t)
	ctx := context.Background()
	poison := insertRunningJob(t, b, strings.Repeat("k", 9000), 1, 1, true)
	doomed := insertRunningJob(t, b, "ping", 1, 1, true)
	retried := insertRunningJob(t, b, "ping", 1, 3, true)

	res, err := b.Rescue(ctx, leaseExpired)
	require.NoError(t, err, "one unstorable job must not make the whole rescue fail")
	require.Equal(t, 1, res.Requeued, "the job with attempts left must be requeued")
	require.Equal(t, 2, res.DeadLettered, "the job out of attempts and the unstorable one must both be dead-lettered")
	require.Empty(t, res.Skipped, "the unstorable job should have been quarantined, not skipped")
	require.Equal(t, "available", jobState(t, b, retried.ID))
	require.Equal(t, "dead", jobState(t, b, doomed.ID))

	d := deadJob(t, b, poison.ID)
	require.Equal(t, 500, len(d.Kind), "the quarantined job's kind is cut to 500 characters")
	require.Len(t, d.Errors, 2, "the dead letter records the lease expiry and the storage failure")
	require.Equal(t, "lease_expired", d.Errors[0].Kind)
	require.Equal(t, "storage", d.Errors[1].Kind)
	require.Contains(t, d.Errors[1].Error, "index row", "the storage entry should quote Postgres's reason")

	// And the rescue keeps working afterwards.
	later := insertRunningJob(t, b, "ping", 1, 3, true)
	res, err = b.Rescue(ctx, leaseExpired)
	require.NoError(t, err)
	require.Equal(t, 1, res.Requeued)
	require.Equal(t, "available", jobState(t, b, later.ID))
}

// The same job, failed by its worker or cancelled by an operator, must be
// dead-lettered too, not fail five times and wait out its lease.
func TestDeadLetterAndCancelQuarantineAJobTheDeadTableCannotTakeAsItIs(t *testing.T) {
	t.Parallel()
	b := pgtest.Backend(t)
	ctx := context.Background()
	held := insertRunningJob(t, b, strings.Repeat("k", 9000), 1, 5, false)
	require.NoError(t, b.DeadLetter(ctx, held, pgqueue.AttemptError{Kind: "permanent", Error: "no"}), "dead-letter the unstorable job")
	require.Equal(t, "dead", jobState(t, b, held.ID))
	require.Equal(t, "permanent", deadJob(t, b, held.ID).Errors[0].Kind)

	// Lease lost still reads as lease lost on the fallback path.
	err := b.DeadLetter(ctx, held, pgqueue.AttemptError{Kind: "permanent", Error: "again"})
	require.ErrorIs(t, err, pgqueue.ErrLeaseLost)

	running := insertRunningJob(t, b, strings.Repeat("c", 9000), 1, 5, false)
	require.NoError(t, b.CancelJob(ctx, running.ID), "cancel the unstorable job")
	require.Equal(t, "dead", jobState(t, b, running.ID))
	require.Equal(t, "cancelled", deadJob(t, b, running.ID).Errors[0].Kind)
}

// Postgres text cannot hold NUL, and a handler's error text may: recording
// it must not fail (it used to fail five times, then the job waited out a
// whole lease instead of its backoff).
func TestErrorTextWithNULIsStoredOnPostgres(t *testing.T) {
	t.Parallel()
	b := pgtest.Backend(t)
	ctx := context.Background()
	ids, err := b.Insert(ctx, []pgqueue.InsertParams{{Kind: "ping", Queue: "default", Priority: 5, Args: []byte(`{}`), MaxAttempts: 3}})
	require.NoError(t, err)
	claim := func() *pgqueue.JobRow {
		rows, err := b.Claim(ctx, pgqueue.ClaimParams{Queue: "default", Kinds: []string{"ping"}, Limit: 1, Lease: time.Minute})
		require.NoError(t, err)
		require.Len(t, rows, 1, "job %d should be claimable", ids[0])
		return rows[0]
	}
	row := claim()
	bad := pgqueue.AttemptError{Attempt: 1, Kind: "error", Error: "bad\x00byte", Stack: "frame\x00"}
	require.NoError(t, b.Reschedule(ctx, row.Ref(), pgqueue.RescheduleParams{Error: &bad}), "reschedule with a NUL in the error")
	row = claim()
	require.Equal(t, "bad\uFFFDbyte", row.Errors[0].Error, "NUL is stored as U+FFFD")
	require.NoError(t, b.DeadLetter(ctx, row.Ref(), bad), "dead-letter with a NUL in the error")
	d := deadJob(t, b, ids[0])
	require.Len(t, d.Errors, 2)
	require.Equal(t, "frame\uFFFD", d.Errors[1].Stack)
}

// Anyone who can connect can NOTIFY on our channel. A forged cancel
// message used to cancel the running job's context without cancelling the
// job, which then reran after its lease with an attempt spent.
func TestForgedCancelNotificationDoesNotStopARunningJob(t *testing.T) {
	t.Parallel()
	b := pgtest.Backend(t)
	ctx := context.Background()
	started, release := make(chan int64, 1), make(chan struct{})
	stopped := make(chan error, 1)
	c := startClient(t, b, pgqueue.Config{}, func(ctx context.Context, j *pgqueue.Job[pingArgs]) error {
		started <- j.ID
		hold := release
		if j.Args.Seq != 0 {
			hold = nil // the second job waits for its cancellation only
		}
		select {
		case <-ctx.Done():
			stopped <- context.Cause(ctx)
			return ctx.Err()
		case <-hold:
			return nil
		}
	})
	listenerReady(t, b)
	events := c.Subscribe(16)
	defer events.Close()
	id, err := c.Enqueue(ctx, pingArgs{}, nil)
	require.NoError(t, err)
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the job never started")
	}
	_, err = b.Pool().Exec(ctx, `SELECT pg_notify($1, $2)`, "pgqueue."+b.Schema(), pgqueue.CancelMessage(id))
	require.NoError(t, err, "send the forged cancel message")
	select {
	case cause := <-stopped:
		t.Fatalf("a NOTIFY that no cancel sent stopped the running job (cause %v)", cause)
	case <-time.After(time.Second):
	}
	close(release)
	select {
	case ev := <-events.C:
		require.Equal(t, pgqueue.EventCompleted, ev.Kind, "the job should complete normally")
	case <-time.After(10 * time.Second):
		t.Fatal("no event after the job was released")
	}

	// A real cancel still stops a running job.
	id2, err := c.Enqueue(ctx, pingArgs{Seq: 2}, nil)
	require.NoError(t, err)
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the second job never started")
	}
	require.NoError(t, b.CancelJob(ctx, id2), "cancel from the store, as another process would")
	select {
	case cause := <-stopped:
		require.ErrorIs(t, cause, pgqueue.ErrJobCancelled)
	case <-time.After(10 * time.Second):
		t.Fatal("a real cancellation did not stop the running job")
	}
}

// EnqueueMany's promise: on any error, no job is stored; on success, all
// are. A large batch whose context ends while Postgres commits used to
// report the context's error although every job was stored, so a caller
// who retried stored them twice. Deadlines from very short to long
// enough land the context's end before, during and after the commit.
func TestEnqueueManyReportsAnErrorOnlyWhenNothingWasStored(t *testing.T) {
	t.Parallel()
	b := pgtest.Backend(t)
	c, err := pgqueue.New(b, pgqueue.Config{})
	require.NoError(t, err)
	const n = 20000
	deadline := 5 * time.Millisecond
	var failed, succeeded int
	for try := 0; try < 16 && succeeded < 2; try++ {
		queue := fmt.Sprintf("try%d", try)
		reqs := make([]pgqueue.EnqueueRequest, n)
		for i := range reqs {
			reqs[i] = pgqueue.EnqueueRequest{Args: pingArgs{Seq: i}, Options: &pgqueue.EnqueueOptions{Queue: queue}}
		}
		ctx, cancel := context.WithTimeout(context.Background(), deadline)
		ids, err := c.EnqueueMany(ctx, reqs)
		cancel()
		var stored int
		require.NoError(t, b.Pool().QueryRow(context.Background(), fmt.Sprintf(`SELECT count(*) FROM %s WHERE queue = $1`,
			pgx.Identifier{b.Schema(), "pgqueue_jobs"}.Sanitize()), queue).Scan(&stored))
		if err != nil {
			failed++
			require.Zero(t, stored, "EnqueueMany with a %v deadline returned %v, yet %d of its %d jobs are stored: a caller who retries gets duplicates", deadline, err, stored, n)
		} else {
			succeeded++
			require.Len(t, ids, n)
			require.Equal(t, n, stored, "EnqueueMany returned no error but not every job is stored")
		}
		deadline *= 2
	}
	require.NotZero(t, failed, "no deadline was short enough to fail: the test proved nothing")
	require.NotZero(t, succeeded, "no deadline was long enough to succeed")
}

// storedText is what Postgres keeps of a worker's error text: the text
// itself, with each NUL and each byte of invalid UTF-8 as U+FFFD.
func storedText(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r == 0 {
			r = utf8.RuneError
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Any text a handler's error carries is stored, and read back as
// storedText says, through both writes that record it (reschedule and
// dead-letter); it used to fail on a NUL.
func FuzzErrorTextIsStoredAndReadBack(f *testing.F) {
	for _, seed := range []string{"", "plain", "nul\x00byte", "\x00", "bad utf8 \xff\xfe", "emoji 🎉 and \u2028", strings.Repeat("long ", 2000), "quote \" backslash \\ \u0000 escape"} {
		f.Add(seed)
	}
	b := pgtest.Backend(f)
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, text string) {
		ids, err := b.Insert(ctx, []pgqueue.InsertParams{{Kind: "fuzz", Queue: "fuzz", Priority: 5, Args: []byte(`{}`), MaxAttempts: 2}})
		require.NoError(t, err)
		claim := func() *pgqueue.JobRow {
			rows, err := b.Claim(ctx, pgqueue.ClaimParams{Queue: "fuzz", Kinds: []string{"fuzz"}, Limit: 1, Lease: time.Minute})
			require.NoError(t, err)
			require.Len(t, rows, 1)
			return rows[0]
		}
		row := claim()
		info := pgqueue.AttemptError{Attempt: 1, Kind: "error", Error: text, Stack: text}
		require.NoError(t, b.Reschedule(ctx, row.Ref(), pgqueue.RescheduleParams{Error: &info}), "reschedule with error text %q", text)
		row = claim()
		require.Equal(t, storedText(text), row.Errors[0].Error, "the rescheduled job's error text, read back")
		require.NoError(t, b.DeadLetter(ctx, row.Ref(), info), "dead-letter with error text %q", text)
		d := deadJob(t, b, ids[0])
		require.Equal(t, storedText(text), d.Errors[1].Error, "the dead letter's error text, read back")
		require.Equal(t, storedText(text), d.Errors[1].Stack, "the dead letter's stack, read back")
	})
}

// After a COMMIT that got no answer, the client reads the transaction's
// fate by its ID: committed, rolled back, or still running (it waits).
func TestCommitOutcomeIsReadByTransactionID(t *testing.T) {
	t.Parallel()
	b := pgtest.Backend(t)
	pool := b.Pool()
	ctx := context.Background()
	xactOf := func(tx pgx.Tx) int64 {
		var xact int64
		require.NoError(t, tx.QueryRow(ctx, "SELECT pg_current_xact_id()::text::bigint").Scan(&xact))
		return xact
	}

	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	committed := xactOf(tx)
	require.NoError(t, tx.Commit(ctx))
	ok, err := pgqueue.XactCommitted(ctx, b, committed)
	require.NoError(t, err, "reading the status of a committed transaction")
	require.True(t, ok, "transaction %d committed, and its status should say so", committed)

	tx, err = pool.Begin(ctx)
	require.NoError(t, err)
	rolledBack := xactOf(tx)
	require.NoError(t, tx.Rollback(ctx))
	ok, err = pgqueue.XactCommitted(ctx, b, rolledBack)
	require.NoError(t, err, "reading the status of a rolled-back transaction")
	require.False(t, ok, "transaction %d rolled back, and its status should say it did not commit", rolledBack)

	// Still open: the check waits for it and sees its commit.
	tx, err = pool.Begin(ctx)
	require.NoError(t, err)
	open := xactOf(tx)
	go func() {
		time.Sleep(50 * time.Millisecond)
		_ = tx.Commit(ctx)
	}()
	ok, err = pgqueue.XactCommitted(ctx, b, open)
	require.NoError(t, err, "reading the status of a transaction that commits while the check waits")
	require.True(t, ok, "transaction %d committed 50 ms after the check began, which should wait for it", open)
}
