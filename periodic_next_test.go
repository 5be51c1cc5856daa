package pgqueue_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgqueue/pgqueue"
	"github.com/pgqueue/pgqueue/internal/pgtest"
)

// On a schema before migration 9 (no next_tick column), periodic jobs keep
// working: the tick is recorded without its next one, and listed with
// NextRun zero; once migrated, the next tick is recorded again. Stats
// reads and writes fail with ErrDatabase there, saying what is missing.
func TestPostgresPeriodicAndStatsBeforeMigration9(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, schema := pgtest.Migrated(t)
	m, err := pgqueue.NewMigrator(pool, &pgqueue.MigrateOptions{Schema: schema})
	require.NoError(t, err)
	defer m.Close()
	require.NoError(t, m.DownTo(ctx, 8), "migrating down past 00009")
	b, err := pgqueue.NewPostgres(pool, &pgqueue.PostgresOptions{Schema: schema})
	require.NoError(t, err)
	job := pgqueue.InsertParams{Kind: "report", Queue: "default", Priority: pgqueue.DefaultPriority, Args: json.RawMessage(`{}`), MaxAttempts: 1}
	tick := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	_, won, err := b.EnqueuePeriodicNext(ctx, "hourly", tick, tick.Add(time.Hour), job)
	require.NoError(t, err, "a schema without next_tick still records ticks")
	require.True(t, won)
	_, won, err = b.EnqueuePeriodicNext(ctx, "hourly", tick, tick.Add(time.Hour), job)
	require.NoError(t, err)
	require.False(t, won, "and still enqueues each tick once")
	list, err := pgqueue.NewAdmin(b).PeriodicJobs(ctx)
	require.NoError(t, err)
	require.Len(t, list, 1)
	require.True(t, list[0].LastTick.Equal(tick))
	require.True(t, list[0].NextRun.IsZero(), "no next_tick column: NextRun unknown")

	_, err = pgqueue.NewAdmin(b).StatsHistory(ctx, tick, tick.Add(time.Hour), time.Minute)
	require.ErrorIs(t, err, pgqueue.ErrDatabase)
	require.ErrorContains(t, err, "migrations", "the error says the migrations are missing")
	require.ErrorIs(t, b.RecordStats(ctx, []pgqueue.StatsRollup{{Minute: tick, Queue: "q", Kind: "k", Completed: 1}}, time.Hour), pgqueue.ErrDatabase)

	require.NoError(t, m.Up(ctx))
	_, won, err = b.EnqueuePeriodicNext(ctx, "hourly", tick.Add(time.Hour), tick.Add(2*time.Hour), job)
	require.NoError(t, err)
	require.True(t, won)
	list, err = pgqueue.NewAdmin(b).PeriodicJobs(ctx)
	require.NoError(t, err)
	require.True(t, list[0].NextRun.Equal(tick.Add(2*time.Hour)), "migrated while running: next ticks are recorded from then on, got %v", list[0].NextRun)
}
