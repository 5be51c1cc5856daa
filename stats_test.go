package pgqueue_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/pgqueue/pgqueue"
	"github.com/pgqueue/pgqueue/internal/pgtest"
	"github.com/pgqueue/pgqueue/memqueue"
)

// A duration equal to a bound falls in that bound's bucket, one just above
// in the next; percentiles are the bound of the bucket holding them.
func TestStatsBucketsBoundsAndPercentiles(t *testing.T) {
	t.Parallel()
	bounds := pgqueue.StatsBucketBounds()
	require.Len(t, bounds, pgqueue.StatsBucketCount-1, "one bound per bucket but the last")
	bounds[0] = time.Hour
	require.Equal(t, 100*time.Microsecond, pgqueue.StatsBucketBounds()[0], "StatsBucketBounds returns a copy")
	var b pgqueue.StatsBuckets
	require.Zero(t, b.Percentile(0.5), "an empty histogram has no percentile")
	b.Observe(time.Millisecond)
	b.Observe(time.Millisecond + 1)
	b.Observe(-time.Second)
	b.Observe(3 * time.Hour)
	require.Equal(t, pgqueue.StatsBuckets{0: 1, 3: 1, 4: 1, pgqueue.StatsBucketCount - 1: 1}, b)
	require.EqualValues(t, 4, b.Total())
	require.Equal(t, 100*time.Microsecond, b.Percentile(0.25), "a negative duration counts as zero")
	require.Equal(t, time.Millisecond, b.Percentile(0.5))
	require.Equal(t, 2*time.Millisecond, b.Percentile(0.75))
	require.Equal(t, time.Hour, b.Percentile(0.95), "the overflow bucket reports the last bound")
	var sum pgqueue.StatsBuckets
	sum.Add(&b)
	sum.Add(&b)
	require.EqualValues(t, 8, sum.Total())
}

// A flush that fails keeps its counts, added to those counted meanwhile;
// the next flush writes them all. Outcomes that finish nothing (snoozed,
// released) are not counted.
func TestStatsRollupKeepsCountsWhenAFlushFails(t *testing.T) {
	t.Parallel()
	b := memqueue.New()
	r := pgqueue.NewStatsRollupForTest(b, time.Hour)
	at := time.Now().UTC().Truncate(time.Minute)
	row := &pgqueue.JobRow{Queue: "mail", Kind: "send", RunAt: at.Add(-2 * time.Second), AttemptedAt: at}
	r.Observe(row, pgqueue.EventCompleted, true, 30*time.Millisecond, at)
	r.Observe(row, pgqueue.EventFailed, true, time.Second, at)
	r.Observe(row, pgqueue.EventSnoozed, true, time.Second, at)
	r.Observe(row, pgqueue.EventReleased, false, 0, at)
	require.Equal(t, 1, r.Pending(), "one row per minute, queue and kind")

	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	require.Error(t, r.Flush(cancelled), "a store that cannot be written fails the flush")
	require.Equal(t, 1, r.Pending(), "the failed flush's row is kept")
	r.Observe(row, pgqueue.EventCompleted, true, 30*time.Millisecond, at)
	r.Observe(row, pgqueue.EventLeaseLost, false, 0, at)
	require.NoError(t, r.Flush(context.Background()))
	require.Zero(t, r.Pending(), "a flush that succeeds leaves nothing pending")

	points, err := pgqueue.NewAdmin(b).StatsHistory(context.Background(), at, at.Add(time.Minute), time.Minute)
	require.NoError(t, err)
	require.Equal(t, []pgqueue.StatsPoint{{At: at, Completed: 2, Failed: 1, LeaseLost: 1, RunP50: 50 * time.Millisecond, RunP95: time.Second,
		WaitP50: 2 * time.Second, WaitP95: 2 * time.Second}}, points, "the kept counts and the new ones, written once; wait is claim minus run-at")
	require.NoError(t, r.Flush(context.Background()), "a flush with nothing pending writes nothing")
}

// Rows kept across failing flushes are bounded: past the bound the oldest
// minutes are dropped.
func TestStatsRollupBoundsWhatItKeeps(t *testing.T) {
	t.Parallel()
	b := memqueue.New()
	r := pgqueue.NewStatsRollupForTest(b, 30*24*time.Hour)
	base := time.Now().UTC().Truncate(time.Minute).Add(-time.Duration(pgqueue.MaxPendingStatsRows+10) * time.Minute)
	row := &pgqueue.JobRow{Queue: "q", Kind: "k"}
	for i := range pgqueue.MaxPendingStatsRows + 10 {
		r.Observe(row, pgqueue.EventCompleted, false, 0, base.Add(time.Duration(i)*time.Minute))
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	require.Error(t, r.Flush(cancelled))
	require.Equal(t, pgqueue.MaxPendingStatsRows, r.Pending(), "the rollup keeps at most MaxPendingStatsRows rows")
	require.NoError(t, r.Flush(context.Background()))
	points, err := pgqueue.NewAdmin(b).StatsHistory(context.Background(), base, base.Add(20*time.Minute), time.Minute)
	require.NoError(t, err)
	for i, p := range points {
		if i < 10 {
			require.Zero(t, p.Completed, "minute %d: the ten oldest minutes were dropped", i)
		} else {
			require.EqualValues(t, 1, p.Completed, "minute %d: the newer ones were kept", i)
		}
	}
}

// A client writes what it counted at Stop, without waiting for its flush
// interval.
func TestClientStopFlushesStats(t *testing.T) {
	t.Parallel()
	b := memqueue.New()
	from := time.Now().Add(-time.Minute)
	c, err := pgqueue.New(b, pgqueue.Config{StatsFlushInterval: time.Hour, PollInterval: 20 * time.Millisecond})
	require.NoError(t, err)
	done := make(chan struct{}, 1)
	require.NoError(t, pgqueue.Register(c, pgqueue.WorkFunc[statsArgs](func(ctx context.Context, j *pgqueue.Job[statsArgs]) error {
		done <- struct{}{}
		return nil
	})))
	require.NoError(t, c.Start(context.Background()))
	_, err = c.Enqueue(context.Background(), statsArgs{}, nil)
	require.NoError(t, err)
	<-done
	require.NoError(t, c.Stop(context.Background()))
	points, err := pgqueue.NewAdmin(b).StatsHistory(context.Background(), from, time.Now().Add(time.Minute), 5*time.Minute)
	require.NoError(t, err)
	var completed int64
	for _, p := range points {
		completed += p.Completed
	}
	require.EqualValues(t, 1, completed, "the completion counted before Stop is written by Stop")
}

type statsArgs struct{}

func (statsArgs) Kind() string { return "stats.test" }

// The maintenance loop prunes, on Postgres, the rows older than the
// retention, in batches, and keeps the others.
func TestStatsPruneStepDeletesPastRetention(t *testing.T) {
	t.Parallel()
	b := pgtest.Backend(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Minute)
	var rows []pgqueue.StatsRollup
	for i := range 3 {
		rows = append(rows, pgqueue.StatsRollup{Minute: now.Add(-8 * 24 * time.Hour).Add(time.Duration(i) * time.Minute), Queue: "q", Kind: fmt.Sprint("k", i), Completed: 1})
	}
	rows = append(rows, pgqueue.StatsRollup{Minute: now.Add(-time.Hour), Queue: "q", Kind: "recent", Completed: 1})
	require.NoError(t, b.RecordStats(ctx, rows, pgqueue.DefaultStatsRetention))
	n, err := pgqueue.PruneStatsStep(ctx, b, pgqueue.DefaultStatsRetention, time.Now())
	require.NoError(t, err)
	require.Equal(t, 3, n, "the three rows older than seven days")
	points, err := pgqueue.NewAdmin(b).StatsHistory(ctx, now.Add(-2*time.Hour), now, time.Hour)
	require.NoError(t, err)
	require.EqualValues(t, 1, points[0].Completed+points[1].Completed, "the row within the retention stays")
}

// Negative stats settings are refused at New.
func TestStatsConfigRefusesNegative(t *testing.T) {
	t.Parallel()
	_, err := pgqueue.New(memqueue.New(), pgqueue.Config{StatsFlushInterval: -time.Second})
	require.ErrorIs(t, err, pgqueue.ErrInvalidConfig)
	_, err = pgqueue.New(memqueue.New(), pgqueue.Config{StatsRetention: -time.Hour})
	require.ErrorIs(t, err, pgqueue.ErrInvalidConfig)
}

// README's SQL over pgqueue_stats runs as written and sums what clients
// wrote.
func TestStatsReadmeSQL(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	s := string(readme)
	i := strings.Index(s, "<!-- stats: sql ")
	require.GreaterOrEqual(t, i, 0, "README has no stats SQL marker")
	s = s[i:]
	s = s[strings.Index(s, "```sql\n")+len("```sql\n"):]
	query := s[:strings.Index(s, "```")]

	b := pgtest.Backend(t)
	minute := time.Now().UTC().Truncate(time.Minute).Add(-5 * time.Minute)
	require.NoError(t, b.RecordStats(ctx, []pgqueue.StatsRollup{
		{Minute: minute, Queue: "a", Kind: "k", Completed: 3, Failed: 1},
		{Minute: minute, Queue: "b", Kind: "k", Completed: 2, Dead: 1},
	}, pgqueue.DefaultStatsRetention))
	tx, err := b.Pool().Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	_, err = tx.Exec(ctx, "SELECT set_config('search_path', $1, true)", pgx.Identifier{b.Schema()}.Sanitize())
	require.NoError(t, err)
	var (
		at                      time.Time
		completed, failed, dead int64
	)
	require.NoError(t, tx.QueryRow(ctx, query).Scan(&at, &completed, &failed, &dead), "README's query:\n%s", query)
	require.True(t, at.Equal(minute))
	require.Equal(t, [3]int64{5, 1, 1}, [3]int64{completed, failed, dead})
}

// Admin.StatsHistory takes exactly MaxStatsHistoryPoints points and
// refuses one more.
func TestStatsHistoryPointLimit(t *testing.T) {
	t.Parallel()
	admin := pgqueue.NewAdmin(memqueue.New())
	to := time.Now().UTC().Truncate(time.Minute)
	points, err := admin.StatsHistory(context.Background(), to.Add(-pgqueue.MaxStatsHistoryPoints*time.Minute), to, time.Minute)
	require.NoError(t, err)
	require.Len(t, points, pgqueue.MaxStatsHistoryPoints)
	_, err = admin.StatsHistory(context.Background(), to.Add(-pgqueue.MaxStatsHistoryPoints*time.Minute-time.Second), to, time.Minute)
	require.ErrorIs(t, err, pgqueue.ErrInvalidArgs, "one more (partial) step is one too many")
}
