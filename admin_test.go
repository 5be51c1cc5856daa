package pgqueue_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/pgqueue/pgqueue"
	"github.com/pgqueue/pgqueue/internal/pgtest"
)

func newAdmin(t testing.TB) (*pgqueue.PostgresBackend, *pgqueue.Client, *pgqueue.Admin) {
	t.Helper()
	b := pgtest.Backend(t)
	c, err := pgqueue.New(b, pgqueue.Config{})
	require.NoError(t, err)
	return b, c, pgqueue.NewAdmin(b)
}

func claimOne(t *testing.T, b pgqueue.Backend, queue string) *pgqueue.JobRow {
	t.Helper()
	rows, err := b.Claim(context.Background(), pgqueue.ClaimParams{Queue: queue, Kinds: []string{"ping"}, Limit: 1, Lease: time.Minute, ClientID: "test"})
	require.NoError(t, err)
	require.Len(t, rows, 1, "expected to claim one job from %q", queue)
	return rows[0]
}

func TestAdminStatsCountsByQueueAndState(t *testing.T) {
	t.Parallel()
	b, c, admin := newAdmin(t)
	ctx := context.Background()
	for i := range 3 {
		_, err := c.Enqueue(ctx, pingArgs{Seq: i}, &pgqueue.EnqueueOptions{Queue: "mail"})
		require.NoError(t, err)
	}
	for range 2 {
		_, err := c.Enqueue(ctx, pingArgs{}, &pgqueue.EnqueueOptions{Queue: "reports", Delay: time.Hour})
		require.NoError(t, err)
	}
	running := claimOne(t, b, "mail")
	deadRow := claimOne(t, b, "mail")
	require.NoError(t, b.DeadLetter(ctx, deadRow.Ref(), pgqueue.AttemptError{Attempt: 1, Kind: "permanent", Error: "boom"}))
	require.NoError(t, admin.PauseQueue(ctx, "idle"))
	time.Sleep(20 * time.Millisecond) // so the waiting job has a measurable lag

	st, err := admin.Stats(ctx)
	require.NoError(t, err)
	byName := map[string]pgqueue.QueueStats{}
	for _, q := range st.Queues {
		byName[q.Queue] = q
	}
	require.Len(t, byName, 3, "queues: mail, reports and the paused idle queue; got %+v", st.Queues)
	require.Equal(t, pgqueue.Count{N: 1}, byName["mail"].Available)
	require.Equal(t, pgqueue.Count{N: 1}, byName["mail"].Running)
	require.Equal(t, pgqueue.Count{N: 0}, byName["mail"].Scheduled)
	require.Greater(t, byName["mail"].Lag, 10*time.Millisecond, "mail has had a due job waiting since before the pause")
	require.Equal(t, pgqueue.Count{N: 2}, byName["reports"].Scheduled)
	require.Zero(t, byName["reports"].Lag, "a queue with only future jobs has no lag")
	require.True(t, byName["idle"].Paused)
	require.False(t, byName["mail"].Paused)
	require.Len(t, st.Running, 1)
	require.Equal(t, running.ID, st.Running[0].ID)
	require.Equal(t, "test", st.Running[0].ClaimedBy)
	require.WithinDuration(t, time.Now().Add(time.Minute), st.Running[0].LeaseUntil, 10*time.Second)
	require.Equal(t, []pgqueue.KindCount{{Kind: "ping", Count: pgqueue.Count{N: 1}}}, st.Dead)
}

func TestAdminStatsEstimatesPastTheExactLimit(t *testing.T) {
	t.Parallel()
	b, c, admin := newAdmin(t)
	ctx := context.Background()
	reqs := make([]pgqueue.EnqueueRequest, 2000)
	for i := range reqs {
		reqs[i] = pgqueue.EnqueueRequest{Args: pingArgs{Seq: i}, Options: &pgqueue.EnqueueOptions{Queue: "bulk"}}
	}
	for range (pgqueue.StatsExactLimit / len(reqs)) + 1 {
		_, err := c.EnqueueMany(ctx, reqs)
		require.NoError(t, err)
	}
	_, err := b.Pool().Exec(ctx, "ANALYZE "+pgx.Identifier{b.Schema(), "pgqueue_jobs"}.Sanitize())
	require.NoError(t, err)
	st, err := admin.Stats(ctx)
	require.NoError(t, err)
	require.Len(t, st.Queues, 1)
	got := st.Queues[0].Available
	require.True(t, got.Estimated, "a count past StatsExactLimit must be flagged as an estimate")
	require.InDelta(t, 12000, got.N, 2400, "the estimate should be near the 12,000 jobs inserted")
}

func TestAdminPauseStopsClaimsAndResumeWakesWorkers(t *testing.T) {
	t.Parallel()
	b, _, admin := newAdmin(t)
	ctx := context.Background()
	ran := make(chan int, 4)
	c := startClient(t, b, pgqueue.Config{PollInterval: 20 * time.Millisecond}, func(ctx context.Context, j *pgqueue.Job[pingArgs]) error {
		ran <- j.Args.Seq
		return nil
	})
	require.NoError(t, admin.PauseQueue(ctx, pgqueue.DefaultQueue))
	require.NoError(t, admin.PauseQueue(ctx, pgqueue.DefaultQueue), "pausing twice is a no-op")
	_, err := c.Enqueue(ctx, pingArgs{Seq: 1}, nil)
	require.NoError(t, err)
	select {
	case seq := <-ran:
		t.Fatalf("job %d ran in a paused queue", seq)
	case <-time.After(300 * time.Millisecond):
	}
	was, err := admin.ResumeQueue(ctx, pgqueue.DefaultQueue)
	require.NoError(t, err)
	require.True(t, was, "the queue was paused")
	select {
	case seq := <-ran:
		require.Equal(t, 1, seq)
	case <-time.After(5 * time.Second):
		t.Fatal("the job did not run after the queue was resumed")
	}
	was, err = admin.ResumeQueue(ctx, pgqueue.DefaultQueue)
	require.NoError(t, err)
	require.False(t, was, "resuming a running queue reports it was not paused")
	require.ErrorIs(t, admin.PauseQueue(ctx, "bad name"), pgqueue.ErrInvalidArgs)
	_, err = admin.ResumeQueue(ctx, "")
	require.ErrorIs(t, err, pgqueue.ErrInvalidArgs)
}

func TestAdminCancelAndRetryJobs(t *testing.T) {
	t.Parallel()
	b, c, admin := newAdmin(t)
	ctx := context.Background()

	waiting, err := c.Enqueue(ctx, pingArgs{Seq: 1}, &pgqueue.EnqueueOptions{Queue: "q"})
	require.NoError(t, err)
	require.NoError(t, admin.CancelJob(ctx, waiting))
	dead, err := admin.DeadJob(ctx, waiting)
	require.NoError(t, err, "a cancelled job stays visible in the dead-letter table")
	require.Equal(t, "cancelled", dead.Errors[len(dead.Errors)-1].Kind)
	require.ErrorIs(t, admin.CancelJob(ctx, waiting), pgqueue.ErrJobNotFound, "a cancelled job is no longer in the queue")

	require.NoError(t, admin.RetryJob(ctx, waiting), "retrying a dead letter requeues it")
	info, err := admin.Job(ctx, waiting)
	require.NoError(t, err)
	require.Equal(t, pgqueue.StateAvailable, info.State)
	require.Equal(t, 0, info.Attempt)

	later, err := c.Enqueue(ctx, pingArgs{Seq: 2}, &pgqueue.EnqueueOptions{Queue: "later", Delay: time.Hour})
	require.NoError(t, err)
	require.NoError(t, admin.RetryJob(ctx, later), "retrying a scheduled job makes it due now")
	info, err = admin.Job(ctx, later)
	require.NoError(t, err)
	require.Equal(t, pgqueue.StateAvailable, info.State)
	require.WithinDuration(t, time.Now(), info.RunAt, 10*time.Second)

	held := claimOne(t, b, "later")
	require.ErrorIs(t, admin.RetryJob(ctx, held.ID), pgqueue.ErrJobRunning)
	require.NoError(t, admin.CancelJob(ctx, held.ID), "a running job can be cancelled")
	_, err = admin.DeadJob(ctx, held.ID)
	require.NoError(t, err, "the cancelled running job is a dead letter")
	require.ErrorIs(t, admin.CancelJob(ctx, 987654), pgqueue.ErrJobNotFound)
	require.ErrorIs(t, admin.RetryJob(ctx, 987654), pgqueue.ErrJobNotFound)
	_, err = admin.Job(ctx, 987654)
	require.ErrorIs(t, err, pgqueue.ErrJobNotFound)
	_, err = admin.DeadJob(ctx, 987654)
	require.ErrorIs(t, err, pgqueue.ErrJobNotFound)
	_, err = admin.ListDead(ctx, pgqueue.DeadFilter{Limit: -1})
	require.ErrorIs(t, err, pgqueue.ErrInvalidArgs)
}

func TestAdminRequeueAndPurgeBySelector(t *testing.T) {
	t.Parallel()
	b, c, admin := newAdmin(t)
	ctx := context.Background()
	kill := func(queue string) int64 {
		_, err := c.Enqueue(ctx, pingArgs{}, &pgqueue.EnqueueOptions{Queue: queue})
		require.NoError(t, err)
		row := claimOne(t, b, queue)
		require.NoError(t, b.DeadLetter(ctx, row.Ref(), pgqueue.AttemptError{Attempt: 1, Kind: "error", Error: "x"}))
		return row.ID
	}
	a1, a2, b1 := kill("a"), kill("a"), kill("b")
	n, err := admin.RequeueDead(ctx, pgqueue.DeadFilter{Queue: "a"})
	require.NoError(t, err)
	require.Equal(t, 2, n, "requeue by queue moves both of queue a's dead letters")
	for _, id := range []int64{a1, a2} {
		_, err := admin.Job(ctx, id)
		require.NoError(t, err, "job %d is back in the queue", id)
	}
	n, err = admin.PurgeDead(ctx, pgqueue.DeadFilter{Queue: "a"})
	require.NoError(t, err)
	require.Zero(t, n, "nothing of queue a is dead any more")
	n, err = admin.PurgeDead(ctx, pgqueue.DeadFilter{IDs: []int64{b1}})
	require.NoError(t, err)
	require.Equal(t, 1, n)
}

func TestOperatorSQLFunctions(t *testing.T) {
	t.Parallel()
	b, c, _ := newAdmin(t)
	ctx := context.Background()
	var ids []int64
	for range 3 {
		_, err := c.Enqueue(ctx, pingArgs{}, &pgqueue.EnqueueOptions{Queue: "sql"})
		require.NoError(t, err)
		row := claimOne(t, b, "sql")
		require.NoError(t, b.DeadLetter(ctx, row.Ref(), pgqueue.AttemptError{Attempt: 1, Kind: "error", Error: "x"}))
		ids = append(ids, row.ID)
	}
	// As an operator in psql would, with the schema on the search_path.
	conn, err := b.Pool().Acquire(ctx)
	require.NoError(t, err)
	defer conn.Release()
	_, err = conn.Exec(ctx, "SET search_path TO "+pgx.Identifier{b.Schema()}.Sanitize())
	require.NoError(t, err)
	defer conn.Exec(context.Background(), "RESET search_path")

	var requeued int
	require.NoError(t, conn.QueryRow(ctx,
		`SELECT count(*) FILTER (WHERE pgqueue_requeue_dead(id)) FROM pgqueue_dead_jobs WHERE kind = 'ping' AND id <> $1`, ids[2]).Scan(&requeued))
	require.Equal(t, 2, requeued)
	var back int
	require.NoError(t, conn.QueryRow(ctx, `SELECT count(*) FROM pgqueue_jobs WHERE id = ANY($1) AND state = 'available' AND attempt = 0`, ids[:2]).Scan(&back))
	require.Equal(t, 2, back, "requeued jobs are available again with attempts reset")
	var again bool
	require.NoError(t, conn.QueryRow(ctx, `SELECT pgqueue_requeue_dead($1)`, ids[0]).Scan(&again))
	require.False(t, again, "requeueing a job that is not dead returns false")

	var purged bool
	require.NoError(t, conn.QueryRow(ctx, `SELECT pgqueue_purge_dead($1)`, ids[2]).Scan(&purged))
	require.True(t, purged)
	require.NoError(t, conn.QueryRow(ctx, `SELECT pgqueue_purge_dead($1)`, ids[2]).Scan(&purged))
	require.False(t, purged, "purging twice returns false")
}

func TestAdminRefusesAnUnmigratedSchema(t *testing.T) {
	t.Parallel()
	pool, schema := pgtest.NewSchema(t)
	b, err := pgqueue.NewPostgres(pool, &pgqueue.PostgresOptions{Schema: schema})
	require.NoError(t, err)
	_, err = pgqueue.NewAdmin(b).Stats(context.Background())
	require.ErrorIs(t, err, pgqueue.ErrNotMigrated)
	require.Contains(t, err.Error(), "migrate up", "the error must say how to fix it")
	c, err := pgqueue.New(b, pgqueue.Config{})
	require.NoError(t, err)
	_, err = c.Enqueue(context.Background(), pingArgs{}, nil)
	require.True(t, errors.Is(err, pgqueue.ErrDatabase), "enqueue into an unmigrated schema: %v", err)
	require.Contains(t, err.Error(), "Migrate", "the error must point at the migrations")
}

// A queue is known while it holds jobs or dead letters or is paused or
// limited; Stats lists it only while it has something to say.
func TestAdminQueueExistsAndStatsHidesQueuesWithNothingToSay(t *testing.T) {
	t.Parallel()
	_, c, a := newAdmin(t)
	ctx := context.Background()
	known := func(q string) bool {
		ok, err := a.QueueExists(ctx, q)
		require.NoError(t, err)
		return ok
	}
	listed := func() []string {
		st, err := a.Stats(ctx)
		require.NoError(t, err)
		var names []string
		for _, q := range st.Queues {
			names = append(names, q.Queue)
		}
		return names
	}
	require.False(t, known("mail"), "a queue that never had a job is not known")
	_, err := c.Enqueue(ctx, pingArgs{}, &pgqueue.EnqueueOptions{Queue: "mail"})
	require.NoError(t, err)
	require.True(t, known("mail"), "a queue with a waiting job is known")

	require.NoError(t, a.PauseQueue(ctx, "idle"), "pause a queue ahead of its first job")
	require.True(t, known("idle"), "a paused queue is known")
	require.Equal(t, []string{"idle", "mail"}, listed(), "Stats lists the paused queue and the one with jobs")
	_, err = a.ResumeQueue(ctx, "idle")
	require.NoError(t, err)
	require.Equal(t, []string{"mail"}, listed(), "a resumed queue with no jobs and no limits says nothing and is left out")

	require.NoError(t, a.SetQueueLimits(ctx, "capped", pgqueue.QueueLimits{MaxRunning: 3}))
	st, err := a.Stats(ctx)
	require.NoError(t, err)
	require.Equal(t, "capped", st.Queues[0].Queue, "a limited queue is listed even when empty")
	require.Equal(t, 3, st.Queues[0].Limits.MaxRunning, "Stats reports the queue's limits")

	_, err = a.QueueExists(ctx, "bad name!")
	require.ErrorIs(t, err, pgqueue.ErrInvalidArgs)
}
