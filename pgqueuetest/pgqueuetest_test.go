package pgqueuetest_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgqueue/pgqueue"
	"github.com/pgqueue/pgqueue/internal/pgtest"
	"github.com/pgqueue/pgqueue/memqueue"
	"github.com/pgqueue/pgqueue/pgqueuetest"
)

type welcome struct {
	UserID int    `json:"user_id"`
	Lang   string `json:"lang"`
}

func (welcome) Kind() string { return "user.welcome" }

// signUp is "application code": it creates a user and enqueues a welcome
// email in the same transaction.
func signUp(ctx context.Context, c *pgqueue.Client, tx pgqueue.DBTX, id int) error {
	_, err := c.EnqueueTx(ctx, tx, welcome{UserID: id, Lang: "en"}, nil)
	return err
}

func TestRequireEnqueuedSeesTheTestTransaction(t *testing.T) {
	t.Parallel()
	b := pgtest.Backend(t)
	ctx := context.Background()
	c, err := pgqueue.New(b, pgqueue.Config{})
	require.NoError(t, err)
	tx, err := b.Pool().Begin(ctx)
	require.NoError(t, err)
	defer tx.Rollback(ctx)

	require.NoError(t, signUp(ctx, c, tx, 7))
	got := pgqueuetest.RequireEnqueued(t, tx, b.Schema(), welcome{UserID: 7, Lang: "en"})
	require.Equal(t, pgqueue.StateAvailable, got.State)
	pgqueuetest.RequireNotEnqueued(t, tx, b.Schema(), welcome{UserID: 8, Lang: "en"})
	// Outside the transaction nothing is visible yet.
	pgqueuetest.RequireNotEnqueued(t, b.Pool(), b.Schema(), welcome{UserID: 7, Lang: "en"})

	matches, all, err := pgqueuetest.FindEnqueued(ctx, tx, b.Schema(), welcome{UserID: 9})
	require.NoError(t, err)
	require.Empty(t, matches)
	require.Len(t, all, 1, "FindEnqueued reports every job of the kind")
}

func TestWorkRunsAWorkerInline(t *testing.T) {
	t.Parallel()
	var seen welcome
	w := pgqueue.WorkFunc[welcome](func(ctx context.Context, j *pgqueue.Job[welcome]) error {
		seen = j.Args
		if j.Args.Lang == "" {
			return errors.New("no language")
		}
		return nil
	})
	require.NoError(t, pgqueuetest.Work[welcome](context.Background(), w, welcome{UserID: 1, Lang: "fr"}))
	require.Equal(t, welcome{UserID: 1, Lang: "fr"}, seen, "the worker sees the args after a JSON round trip")
	require.EqualError(t, pgqueuetest.Work[welcome](context.Background(), w, welcome{UserID: 2}), "no language")

	panicky := pgqueue.WorkFunc[welcome](func(ctx context.Context, j *pgqueue.Job[welcome]) error { panic("boom") })
	var perr *pgqueue.PanicError
	require.ErrorAs(t, pgqueuetest.Work[welcome](context.Background(), panicky, welcome{}), &perr)
}

func TestDrainWorksAQueueSynchronously(t *testing.T) {
	t.Parallel()
	for name, b := range map[string]pgqueue.Backend{"memqueue": memqueue.New(), "postgres": pgtest.Backend(t)} {
		t.Run(name, func(t *testing.T) {
			c, err := pgqueue.New(b, pgqueue.Config{})
			require.NoError(t, err)
			var users []int
			require.NoError(t, pgqueue.Register(c, pgqueue.WorkFunc[welcome](func(ctx context.Context, j *pgqueue.Job[welcome]) error {
				users = append(users, j.Args.UserID)
				return nil
			})))
			for i := 1; i <= 3; i++ {
				_, err := c.Enqueue(context.Background(), welcome{UserID: i}, &pgqueue.EnqueueOptions{Priority: 5 - i})
				require.NoError(t, err)
			}
			require.Equal(t, 3, pgqueuetest.Drain(t, c))
			require.Equal(t, []int{3, 2, 1}, users, "drained in priority order")
			require.Zero(t, pgqueuetest.Drain(t, c), "nothing left")

			require.NoError(t, c.Start(context.Background()))
			_, err = c.Drain(context.Background())
			require.ErrorIs(t, err, pgqueue.ErrAlreadyStarted, "Drain refuses a started client")
			require.NoError(t, c.Stop(context.Background()))
			_, err = c.Drain(context.Background())
			require.ErrorIs(t, err, pgqueue.ErrClientStopped)

			empty, err := pgqueue.New(b, pgqueue.Config{})
			require.NoError(t, err)
			_, err = empty.Drain(context.Background())
			require.ErrorIs(t, err, pgqueue.ErrNoWorkers)
		})
	}
}
