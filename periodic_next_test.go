package pgqueue_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgqueue/pgqueue"
	"github.com/pgqueue/pgqueue/internal/pgtest"
	"github.com/pgqueue/pgqueue/memqueue"
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

// periodicOnly is a memqueue backend seen through PeriodicEnqueuer and
// PeriodicLister only, as a backend without PeriodicNextRecorder.
type periodicOnly struct {
	pgqueue.Backend
	m *memqueue.Backend
}

func (p periodicOnly) EnqueuePeriodic(ctx context.Context, name string, tick time.Time, job pgqueue.InsertParams) (int64, bool, error) {
	return p.m.EnqueuePeriodic(ctx, name, tick, job)
}

func (p periodicOnly) PeriodicJobs(ctx context.Context) ([]pgqueue.PeriodicInfo, error) {
	return p.m.PeriodicJobs(ctx)
}

// A client on a backend without PeriodicNextRecorder enqueues its ticks
// with EnqueuePeriodic: NextRun stays unknown. Admin.StatsHistory on a
// backend without StatsHistoryReader is ErrUnsupported.
func TestPeriodicWithoutNextRecorderAndStatsUnsupported(t *testing.T) {
	t.Parallel()
	m := memqueue.New()
	b := periodicOnly{Backend: m, m: m}
	sched, err := pgqueue.Every(time.Hour)
	require.NoError(t, err)
	c, err := pgqueue.New(b, pgqueue.Config{Periodic: []pgqueue.PeriodicJob{{Name: "hourly", Schedule: sched, Args: statsArgs{}, RunOnStart: true}}})
	require.NoError(t, err)
	require.NoError(t, c.Start(context.Background()))
	defer func() { _ = c.Stop(context.Background()) }()
	var list []pgqueue.PeriodicInfo
	require.Eventually(t, func() bool {
		list, err = pgqueue.NewAdmin(b).PeriodicJobs(context.Background())
		return err == nil && len(list) == 1
	}, 5*time.Second, 10*time.Millisecond, "RunOnStart records the tick")
	require.True(t, list[0].NextRun.IsZero(), "no PeriodicNextRecorder: NextRun unknown, got %v", list[0].NextRun)

	_, err = pgqueue.NewAdmin(bareBackend{}).StatsHistory(context.Background(), time.Now().Add(-time.Hour), time.Now(), time.Minute)
	require.ErrorIs(t, err, pgqueue.ErrUnsupported)
}
