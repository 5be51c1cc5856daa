package pgqueue_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/stretchr/testify/require"

	"github.com/pgqueue/pgqueue/internal/pgtest"
)

func TestMaintainVacuumsWhenDeadRowsPileUp(t *testing.T) {
	t.Parallel()
	b := pgtest.Backend(t)
	ctx := context.Background()
	jobs := pgx.Identifier{b.Schema(), "pgqueue_jobs"}.Sanitize()
	lastVacuum := func() pgtype.Timestamptz {
		var at pgtype.Timestamptz
		require.NoError(t, b.Pool().QueryRow(ctx, `SELECT last_vacuum FROM pg_stat_user_tables WHERE relid = to_regclass($1)`, jobs).Scan(&at))
		return at
	}

	require.NoError(t, b.Maintain(ctx), "nothing to do on an empty table")
	require.False(t, lastVacuum().Valid, "an empty table must not be vacuumed")

	// 30,000 finished jobs leave 30,000 dead rows and no live ones.
	_, err := b.Pool().Exec(ctx, fmt.Sprintf(`INSERT INTO %s (queue, kind, args, max_attempts) SELECT 'q', 'k', '{}', 1 FROM generate_series(1, 30000)`, jobs))
	require.NoError(t, err)
	_, err = b.Pool().Exec(ctx, "DELETE FROM "+jobs)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		require.NoError(t, b.Maintain(ctx))
		return lastVacuum().Valid
	}, 15*time.Second, 200*time.Millisecond, "Maintain never vacuumed a table holding 30,000 dead rows")
}

// While a transaction older than the dead rows pins the vacuum horizon, a
// vacuum removes nothing; Maintain then holds the next vacuums back
// instead of scanning the table every vacuumMinGap, and vacuums again
// once the horizon is released.
func TestMaintainBacksOffWhileTheHorizonIsPinned(t *testing.T) {
	t.Parallel()
	b := pgtest.Backend(t)
	ctx := context.Background()
	jobs := pgx.Identifier{b.Schema(), "pgqueue_jobs"}.Sanitize()
	vacuums := func() int64 {
		var n int64
		require.NoError(t, b.Pool().QueryRow(ctx, `SELECT vacuum_count FROM pg_stat_user_tables WHERE relid = to_regclass($1)`, jobs).Scan(&n))
		return n
	}
	// A transaction with an XID, open before the rows die: nothing they
	// leave can be removed while it lasts.
	pin, err := b.Pool().Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = pin.Rollback(ctx) }()
	_, err = pin.Exec(ctx, "SELECT pg_current_xact_id()")
	require.NoError(t, err)
	_, err = b.Pool().Exec(ctx, fmt.Sprintf(`INSERT INTO %s (queue, kind, args, max_attempts) SELECT 'q', 'k', '{}', 1 FROM generate_series(1, 30000)`, jobs))
	require.NoError(t, err)
	_, err = b.Pool().Exec(ctx, "DELETE FROM "+jobs)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		require.NoError(t, b.Maintain(ctx))
		return vacuums() == 1
	}, 15*time.Second, 100*time.Millisecond, "Maintain never vacuumed a table holding 30,000 dead rows")
	// The vacuum removed nothing: for the next second (twice the minimum
	// gap) Maintain, called as often as the client does, vacuums no more.
	for end := time.Now().Add(time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		require.NoError(t, b.Maintain(ctx))
	}
	require.EqualValues(t, 1, vacuums(), "a vacuum that removed nothing was repeated while the horizon stayed pinned")

	require.NoError(t, pin.Rollback(ctx))
	require.Eventually(t, func() bool {
		require.NoError(t, b.Maintain(ctx))
		var dead int64
		require.NoError(t, b.Pool().QueryRow(ctx, `SELECT n_dead_tup FROM pg_stat_user_tables WHERE relid = to_regclass($1)`, jobs).Scan(&dead))
		return vacuums() >= 2 && dead < 1000
	}, 30*time.Second, 100*time.Millisecond, "Maintain never vacuumed the dead rows away after the horizon was released")
}
