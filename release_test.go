package pgqueue_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/pgqueue/pgqueue"
	"github.com/pgqueue/pgqueue/internal/pgtest"
)

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
