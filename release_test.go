package pgqueue_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/pgqueue/pgqueue"
	"github.com/pgqueue/pgqueue/internal/pgtest"
)

// Release puts back, in one call, the jobs still held under their tokens
// (available again, the claim's attempt given back) and returns their
// IDs; a ref whose token is stale is left alone and not returned.
func TestReleasePutsBackOnlyJobsStillHeld(t *testing.T) {
	t.Parallel()
	b := pgtest.Backend(t)
	ctx := context.Background()
	ids, err := b.Insert(ctx, []pgqueue.InsertParams{
		{Kind: "ping", Queue: pgqueue.DefaultQueue, Priority: pgqueue.DefaultPriority, Args: json.RawMessage(`{"seq":1}`), MaxAttempts: 3},
		{Kind: "ping", Queue: pgqueue.DefaultQueue, Priority: pgqueue.DefaultPriority, Args: json.RawMessage(`{"seq":2}`), MaxAttempts: 3},
	})
	require.NoError(t, err)
	rows, err := b.Claim(ctx, pgqueue.ClaimParams{Queue: pgqueue.DefaultQueue, Kinds: []string{"ping"}, Limit: 10, Lease: time.Minute, ClientID: "releaser"})
	require.NoError(t, err)
	require.Len(t, rows, 2, "both jobs claimed")
	held, stale := rows[0].Ref(), rows[1].Ref()
	stale.Token++ // a ref from an older claim of the job

	released, err := b.Release(ctx, []pgqueue.JobRef{held, stale})
	require.NoError(t, err)
	require.Equal(t, []int64{held.ID}, released, "only the job still held under its token is released")

	again, err := b.Claim(ctx, pgqueue.ClaimParams{Queue: pgqueue.DefaultQueue, Kinds: []string{"ping"}, Limit: 10, Lease: time.Minute, ClientID: "releaser"})
	require.NoError(t, err)
	require.Len(t, again, 1, "the released job is available again; the other is still running under its first claim")
	require.Equal(t, held.ID, again[0].ID)
	require.Equal(t, 1, again[0].Attempt, "a released job gets its attempt back: claimed again, it is on attempt 1")
	require.ElementsMatch(t, ids, []int64{held.ID, rows[1].ID})

	none, err := b.Release(ctx, nil)
	require.NoError(t, err, "releasing nothing is no error")
	require.Empty(t, none)
}

// Release on a store that fails returns an error wrapping ErrDatabase.
func TestReleaseReportsADatabaseFailure(t *testing.T) {
	t.Parallel()
	b := pgtest.Backend(t)
	pool, err := pgxpool.New(context.Background(), pgtest.URL(t))
	require.NoError(t, err)
	closed, err := pgqueue.NewPostgres(pool, &pgqueue.PostgresOptions{Schema: b.Schema()})
	require.NoError(t, err)
	pool.Close()
	_, err = closed.Release(context.Background(), []pgqueue.JobRef{{ID: 1, Token: 1}})
	require.ErrorIs(t, err, pgqueue.ErrDatabase, "a closed pool must fail the release with ErrDatabase, releasing nothing")
}
