package pgqueue_test

import (
	"context"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/pgqueue/pgqueue"
	"github.com/pgqueue/pgqueue/internal/pgtest"
)

const (
	killChildEnv  = "PGQUEUE_KILL_CHILD_SCHEMA"
	killChildID   = "doomed-child"
	killChildURL  = "PGQUEUE_KILL_CHILD_URL"
	killChildTest = "TestKilledWorkerChild"
)

// TestKilledWorkerChild is the worker process that TestSIGKILLedWorkersJob
// RunsAgainAfterLeaseExpiry starts and kills; on its own it does nothing.
func TestKilledWorkerChild(t *testing.T) {
	schema := os.Getenv(killChildEnv)
	if schema == "" {
		t.Skip("helper process for TestSIGKILLedWorkersJobRunsAgainAfterLeaseExpiry")
	}
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv(killChildURL))
	require.NoError(t, err)
	b, err := pgqueue.NewPostgres(pool, &pgqueue.PostgresOptions{Schema: schema})
	require.NoError(t, err)
	c, err := pgqueue.New(b, pgqueue.Config{ID: killChildID, LeaseDuration: time.Second, HeartbeatInterval: 200 * time.Millisecond, PollInterval: 20 * time.Millisecond})
	require.NoError(t, err)
	require.NoError(t, pgqueue.Register(c, pgqueue.WorkFunc[pingArgs](func(ctx context.Context, j *pgqueue.Job[pingArgs]) error {
		select {} // hold the job until SIGKILL
	})))
	require.NoError(t, c.Start(ctx))
	select {}
}

func TestSIGKILLedWorkersJobRunsAgainAfterLeaseExpiry(t *testing.T) {
	t.Parallel()
	b := pgtest.Backend(t)
	ctx := context.Background()
	jobs := pgx.Identifier{b.Schema(), "pgqueue_jobs"}.Sanitize()

	enq, err := pgqueue.New(b, pgqueue.Config{})
	require.NoError(t, err)
	id, err := enq.Enqueue(ctx, pingArgs{Seq: 99}, &pgqueue.EnqueueOptions{MaxAttempts: 5})
	require.NoError(t, err)

	child := exec.Command(os.Args[0], "-test.run=^"+killChildTest+"$", "-test.count=1")
	child.Env = append(os.Environ(), killChildEnv+"="+b.Schema(), killChildURL+"="+pgtest.URL(t))
	require.NoError(t, child.Start(), "start the worker process")
	t.Cleanup(func() { _ = child.Process.Kill(); _, _ = child.Process.Wait() })

	require.Eventually(t, func() bool {
		var by string
		err := b.Pool().QueryRow(ctx, "SELECT coalesce(claimed_by, '') FROM "+jobs+" WHERE id = $1 AND state = 'running'", id).Scan(&by)
		return err == nil && by == killChildID
	}, 30*time.Second, 20*time.Millisecond, "the child worker process never claimed the job")

	// A healthy client runs alongside: it must not touch the job while the
	// child's lease is valid.
	type run struct {
		at      time.Time
		attempt int
		errs    []pgqueue.AttemptError
	}
	runs := make(chan run, 4)
	startClient(t, b, pgqueue.Config{ID: "survivor", LeaseDuration: 2 * time.Second, RescueInterval: 100 * time.Millisecond, PollInterval: 50 * time.Millisecond},
		func(ctx context.Context, j *pgqueue.Job[pingArgs]) error {
			runs <- run{at: time.Now(), attempt: j.Attempt, errs: j.Errors}
			return nil
		})
	select {
	case r := <-runs:
		t.Fatalf("the job ran on another client at %v while the child's lease was still being renewed", r.at)
	case <-time.After(1500 * time.Millisecond):
	}

	require.NoError(t, child.Process.Signal(syscall.SIGKILL), "kill -9 the worker process")
	_, _ = child.Process.Wait()
	var leaseUntil time.Time
	require.NoError(t, b.Pool().QueryRow(ctx, "SELECT lease_until FROM "+jobs+" WHERE id = $1", id).Scan(&leaseUntil))

	select {
	case r := <-runs:
		require.False(t, r.at.Before(leaseUntil), "the job ran again at %v, before the dead worker's lease ended at %v", r.at, leaseUntil)
		require.Equal(t, 2, r.attempt, "the rerun is the job's second attempt")
		require.Len(t, r.errs, 1, "the lost attempt is recorded")
		require.Equal(t, "lease_expired", r.errs[0].Kind)
		t.Logf("job re-ran %v after the dead worker's lease ended", r.at.Sub(leaseUntil))
	case <-time.After(15 * time.Second):
		t.Fatal("the SIGKILLed worker's job did not run again within 15s")
	}
}
