package queuetest

import (
	"context"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgqueue/pgqueue"
)

func periodicBehaviours() []behaviour {
	return []behaviour{
		{"PeriodicOneJobPerTickAcrossClients", testPeriodicOneJobPerTickAcrossClients},
		{"PeriodicRunOnStartOnce", testPeriodicRunOnStartOnce},
		{"PeriodicBadSchedulesRefused", testPeriodicBadSchedulesRefused},
	}
}

func requirePeriodic(t *testing.T, b pgqueue.Backend) {
	t.Helper()
	if _, ok := b.(pgqueue.PeriodicEnqueuer); !ok {
		t.Skipf("%T does not implement pgqueue.PeriodicEnqueuer", b)
	}
}

// Three clients run the same schedule: every tick is enqueued (and run)
// exactly once.
func testPeriodicOneJobPerTickAcrossClients(t *testing.T, b pgqueue.Backend) {
	requirePeriodic(t, b)
	const period = 100 * time.Millisecond
	sched, err := pgqueue.Every(period)
	require.NoError(t, err)
	var (
		mu    sync.Mutex
		ticks []time.Time
	)
	var clients []*pgqueue.Client
	for i := range 3 {
		cfg := fastConfig(t)
		cfg.ID = cfg.ID + "#" + string(rune('a'+i))
		cfg.Periodic = []pgqueue.PeriodicJob{{Name: "heartbeat-report", Schedule: sched, Args: basicArgs{N: 1}}}
		c := newClient(t, b, cfg)
		register(t, c, func(ctx context.Context, j *pgqueue.Job[basicArgs]) error {
			mu.Lock()
			ticks = append(ticks, j.ScheduledAt)
			mu.Unlock()
			return nil
		})
		clients = append(clients, c)
	}
	for _, c := range clients {
		start(t, c)
	}
	time.Sleep(12 * period)
	for _, c := range clients {
		stop(t, c)
	}
	mu.Lock()
	defer mu.Unlock()
	sort.Slice(ticks, func(i, j int) bool { return ticks[i].Before(ticks[j]) })
	require.GreaterOrEqual(t, len(ticks), 5, "about 12 ticks should have run, got %v", ticks)
	for i, tk := range ticks {
		require.True(t, tk.Equal(tk.Truncate(period)), "run %d is stamped with its tick, a multiple of the period: %v", i, tk)
		if i > 0 {
			require.False(t, tk.Equal(ticks[i-1]), "tick %v ran twice: three clients must enqueue each tick once", tk)
		}
	}
}

// RunOnStart enqueues one job at once, however many clients start.
func testPeriodicRunOnStartOnce(t *testing.T, b pgqueue.Backend) {
	requirePeriodic(t, b)
	sched, err := pgqueue.Every(time.Hour)
	require.NoError(t, err)
	runs := make(chan time.Time, 8)
	var clients []*pgqueue.Client
	for range 3 {
		cfg := fastConfig(t)
		cfg.Periodic = []pgqueue.PeriodicJob{{Name: "nightly", Schedule: sched, Args: basicArgs{N: 2}, RunOnStart: true}}
		c := newClient(t, b, cfg)
		register(t, c, func(ctx context.Context, j *pgqueue.Job[basicArgs]) error {
			runs <- j.ScheduledAt
			return nil
		})
		clients = append(clients, c)
	}
	for _, c := range clients {
		start(t, c)
	}
	first := recv(t, runs, "the run-on-start job")
	require.WithinDuration(t, time.Now(), first, clockSlack, "the run-on-start job is due at once, not at the next tick an hour away")
	select {
	case again := <-runs:
		t.Fatalf("run on start enqueued more than once across 3 clients (again at %v)", again)
	case <-time.After(500 * time.Millisecond):
	}
}

func testPeriodicBadSchedulesRefused(t *testing.T, b pgqueue.Backend) {
	requirePeriodic(t, b)
	_, err := pgqueue.Cron("61 * * * *")
	require.ErrorIs(t, err, pgqueue.ErrInvalidConfig, "minute 61 does not exist")
	_, err = pgqueue.Cron("not a cron")
	require.ErrorIs(t, err, pgqueue.ErrInvalidConfig)
	s, err := pgqueue.Cron("*/15 * * * *")
	require.NoError(t, err)
	require.Equal(t, time.Date(2026, 1, 1, 10, 15, 0, 0, time.UTC), s.Next(time.Date(2026, 1, 1, 10, 7, 0, 0, time.UTC)))
	_, err = pgqueue.Every(0)
	require.ErrorIs(t, err, pgqueue.ErrInvalidConfig)

	every, _ := pgqueue.Every(time.Minute)
	for name, p := range map[string][]pgqueue.PeriodicJob{
		"no name":     {{Schedule: every, Args: basicArgs{}}},
		"no schedule": {{Name: "x", Args: basicArgs{}}},
		"bad args":    {{Name: "x", Schedule: every, Args: basicArgs{}, Options: &pgqueue.EnqueueOptions{Priority: 99}}},
		"twice":       {{Name: "x", Schedule: every, Args: basicArgs{}}, {Name: "x", Schedule: every, Args: basicArgs{}}},
	} {
		cfg := fastConfig(t)
		cfg.Periodic = p
		_, err := pgqueue.New(b, cfg)
		require.Error(t, err, "%s: New must refuse the periodic job", name)
	}
}
