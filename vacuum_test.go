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
