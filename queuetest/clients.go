package queuetest

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgqueue/pgqueue"
)

func clientRegistryBehaviours() []behaviour {
	return []behaviour{
		{"RegisterSeeListUnregister", testClientRegistryRoundTrip},
		{"StaleClientsHidden", testClientRegistryHidesStale},
		{"ClientListedWhileRunning", testClientListedWhileRunning},
		{"PeriodicJobsListed", testPeriodicJobsListed},
		{"PeriodicNextRunRecorded", testPeriodicNextRunRecorded},
		{"PeriodicNextRunFromSchedule", testPeriodicNextRunFromSchedule},
	}
}

func requireRegistry(t *testing.T, b pgqueue.Backend) pgqueue.ClientRegistry {
	t.Helper()
	r, ok := b.(pgqueue.ClientRegistry)
	if !ok {
		t.Skipf("%T does not implement pgqueue.ClientRegistry", b)
	}
	return r
}

// clients lists the registry with staleAfter, failing the test on error.
func clients(t *testing.T, r pgqueue.ClientRegistry, staleAfter time.Duration) []pgqueue.ClientInfo {
	t.Helper()
	list, err := r.Clients(context.Background(), staleAfter)
	require.NoError(t, err, "Clients")
	require.NotNil(t, list, "Clients returns an empty slice, not nil, when none is registered")
	return list
}

// The registry keeps what a client registers, stamps it with the store's
// clock, moves LastSeen forward on ClientSeen and forgets an unregistered
// client; its error paths are the documented ones.
func testClientRegistryRoundTrip(t *testing.T, b pgqueue.Backend) {
	r := requireRegistry(t, b)
	ctx := context.Background()
	require.Empty(t, clients(t, r, time.Minute))
	before := time.Now()
	a := pgqueue.ClientInfo{ID: "b-client", Host: "host-b", PID: 42, Version: "v1.2.3",
		Queues: map[string]int{"default": 10, "mail": 2}, Periodic: []string{"nightly"}, Liveness: true}
	require.NoError(t, r.RegisterClient(ctx, a))
	require.NoError(t, r.RegisterClient(ctx, pgqueue.ClientInfo{ID: "a-client", Host: "host-a", PID: 7, Version: "v1.2.3"}))
	list := clients(t, r, time.Minute)
	require.Len(t, list, 2)
	require.Equal(t, "a-client", list[0].ID, "sorted by ID")
	require.NotNil(t, list[0].Queues, "Queues is an empty map, not nil, for a client without queues")
	got := list[1]
	require.Equal(t, a.ID, got.ID)
	require.Equal(t, a.Host, got.Host)
	require.Equal(t, a.PID, got.PID)
	require.Equal(t, a.Version, got.Version)
	require.Equal(t, a.Queues, got.Queues)
	require.Equal(t, a.Periodic, got.Periodic)
	require.True(t, got.Liveness, "Liveness is kept: other clients' rescuers trust it")
	require.False(t, list[0].Liveness, "Liveness is false for a client that did not declare it")
	require.WithinDuration(t, before, got.StartedAt, 5*time.Second, "StartedAt is the store's now at registration")
	require.False(t, got.LastSeen.Before(got.StartedAt), "LastSeen is not before StartedAt")

	time.Sleep(20 * time.Millisecond)
	require.NoError(t, r.ClientSeen(ctx, a.ID))
	again := clients(t, r, time.Minute)[1]
	require.True(t, again.LastSeen.After(got.LastSeen), "ClientSeen moves LastSeen forward: %v, then %v", got.LastSeen, again.LastSeen)
	require.True(t, again.StartedAt.Equal(got.StartedAt), "ClientSeen keeps StartedAt")

	require.NoError(t, r.UnregisterClient(ctx, a.ID))
	list = clients(t, r, time.Minute)
	require.Len(t, list, 1)
	require.Equal(t, "a-client", list[0].ID)
	require.NoError(t, r.UnregisterClient(ctx, a.ID), "unregistering an unknown client is no error")
	require.ErrorIs(t, r.ClientSeen(ctx, a.ID), pgqueue.ErrClientNotFound, "ClientSeen of an unregistered client")
	require.ErrorIs(t, r.RegisterClient(ctx, pgqueue.ClientInfo{Host: "h"}), pgqueue.ErrInvalidArgs, "RegisterClient without an ID")
}

// An entry not seen within staleAfter is not listed; seeing it lists it
// again.
func testClientRegistryHidesStale(t *testing.T, b pgqueue.Backend) {
	r := requireRegistry(t, b)
	ctx := context.Background()
	require.NoError(t, r.RegisterClient(ctx, pgqueue.ClientInfo{ID: "quiet", Host: "h", PID: 1, Version: "v"}))
	require.NoError(t, r.RegisterClient(ctx, pgqueue.ClientInfo{ID: "busy", Host: "h", PID: 2, Version: "v"}))
	time.Sleep(400 * time.Millisecond)
	require.NoError(t, r.ClientSeen(ctx, "busy"))
	list := clients(t, r, 200*time.Millisecond)
	require.Len(t, list, 1, "only the client seen within the stale period is listed: %+v", list)
	require.Equal(t, "busy", list[0].ID)
	require.Len(t, clients(t, r, time.Minute), 2, "a longer stale period lists both")
	require.NoError(t, r.ClientSeen(ctx, "quiet"))
	require.Len(t, clients(t, r, 200*time.Millisecond), 2, "a stale client seen again is listed again")
}

// A started Client is listed by Admin.Clients with its queues and
// periodic jobs, and is gone once stopped.
func testClientListedWhileRunning(t *testing.T, b pgqueue.Backend) {
	requireRegistry(t, b)
	admin := pgqueue.NewAdmin(b)
	cfg := fastConfig(t)
	cfg.Queues = map[string]pgqueue.QueueConfig{"default": {MaxWorkers: 3}}
	c := newClient(t, b, cfg)
	register(t, c, func(ctx context.Context, j *pgqueue.Job[basicArgs]) error { return nil })
	start(t, c)
	list, err := admin.Clients(context.Background())
	require.NoError(t, err)
	require.Len(t, list, 1, "the started client is registered by the time Start returns")
	got := list[0]
	require.Equal(t, cfg.ID, got.ID)
	require.Equal(t, map[string]int{"default": 3}, got.Queues)
	require.Equal(t, pgqueue.Version, got.Version)
	require.Equal(t, os.Getpid(), got.PID)
	host, _ := os.Hostname()
	require.Equal(t, host, got.Host)
	stop(t, c)
	list, err = admin.Clients(context.Background())
	require.NoError(t, err)
	require.Empty(t, list, "a stopped client unregisters")
}

// Admin.PeriodicJobs lists each periodic job's last enqueued tick.
func testPeriodicJobsListed(t *testing.T, b pgqueue.Backend) {
	requirePeriodic(t, b)
	if _, ok := b.(pgqueue.PeriodicLister); !ok {
		t.Skipf("%T does not implement pgqueue.PeriodicLister", b)
	}
	admin := pgqueue.NewAdmin(b)
	ctx := context.Background()
	list, err := admin.PeriodicJobs(ctx)
	require.NoError(t, err)
	require.NotNil(t, list)
	require.Empty(t, list)
	pe := b.(pgqueue.PeriodicEnqueuer)
	tick := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	for _, name := range []string{"zeta", "alpha"} {
		_, won, err := pe.EnqueuePeriodic(ctx, name, tick, job("report"))
		require.NoError(t, err)
		require.True(t, won)
	}
	_, won, err := pe.EnqueuePeriodic(ctx, "alpha", tick.Add(time.Hour), job("report"))
	require.NoError(t, err)
	require.True(t, won)
	list, err = admin.PeriodicJobs(ctx)
	require.NoError(t, err)
	require.Len(t, list, 2)
	require.Equal(t, "alpha", list[0].Name, "sorted by name")
	require.True(t, list[0].LastTick.Equal(tick.Add(time.Hour)), "alpha's last tick: got %v", list[0].LastTick)
	require.Equal(t, "zeta", list[1].Name)
	require.True(t, list[1].LastTick.Equal(tick), "zeta's last tick: got %v", list[1].LastTick)
}

func requireNextRecorder(t *testing.T, b pgqueue.Backend) pgqueue.PeriodicNextRecorder {
	t.Helper()
	requirePeriodic(t, b)
	if _, ok := b.(pgqueue.PeriodicLister); !ok {
		t.Skipf("%T does not implement pgqueue.PeriodicLister", b)
	}
	nr, ok := b.(pgqueue.PeriodicNextRecorder)
	if !ok {
		t.Skipf("%T does not implement pgqueue.PeriodicNextRecorder", b)
	}
	return nr
}

// periodicByName lists the periodic jobs and returns name's record.
func periodicByName(t *testing.T, b pgqueue.Backend, name string) pgqueue.PeriodicInfo {
	t.Helper()
	list, err := pgqueue.NewAdmin(b).PeriodicJobs(context.Background())
	require.NoError(t, err)
	for _, p := range list {
		if p.Name == name {
			return p
		}
	}
	t.Fatalf("periodic job %q is not listed: %+v", name, list)
	return pgqueue.PeriodicInfo{}
}

// The next tick recorded with a tick is listed as NextRun; a call that
// does not record its tick (not new) leaves it; a tick recorded without
// a next one clears it (unknown, not stale).
func testPeriodicNextRunRecorded(t *testing.T, b pgqueue.Backend) {
	nr := requireNextRecorder(t, b)
	ctx := context.Background()
	tick := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	_, won, err := nr.EnqueuePeriodicNext(ctx, "hourly", tick, tick.Add(time.Hour), job("report"))
	require.NoError(t, err)
	require.True(t, won)
	got := periodicByName(t, b, "hourly")
	require.True(t, got.LastTick.Equal(tick), "LastTick: got %v", got.LastTick)
	require.True(t, got.NextRun.Equal(tick.Add(time.Hour)), "NextRun is the next tick recorded with the tick: got %v", got.NextRun)

	_, won, err = nr.EnqueuePeriodicNext(ctx, "hourly", tick, tick.Add(5*time.Hour), job("report"))
	require.NoError(t, err)
	require.False(t, won, "the same tick is not enqueued twice")
	require.True(t, periodicByName(t, b, "hourly").NextRun.Equal(tick.Add(time.Hour)), "a tick that was not new changes no record")

	_, won, err = b.(pgqueue.PeriodicEnqueuer).EnqueuePeriodic(ctx, "hourly", tick.Add(time.Hour), job("report"))
	require.NoError(t, err)
	require.True(t, won)
	got = periodicByName(t, b, "hourly")
	require.True(t, got.LastTick.Equal(tick.Add(time.Hour)))
	require.True(t, got.NextRun.IsZero(), "a tick recorded without its next leaves NextRun unknown, not stale: got %v", got.NextRun)
}

// A client running a periodic job records, with each tick, the next tick
// its schedule expects.
func testPeriodicNextRunFromSchedule(t *testing.T, b pgqueue.Backend) {
	requireNextRecorder(t, b)
	sched, err := pgqueue.Every(time.Hour)
	require.NoError(t, err)
	cfg := fastConfig(t)
	cfg.Periodic = []pgqueue.PeriodicJob{{Name: "hourly-report", Schedule: sched, Args: basicArgs{N: 1}, RunOnStart: true}}
	c := newClient(t, b, cfg)
	start(t, c)
	var got pgqueue.PeriodicInfo
	waitFor(t, "RunOnStart to record the first tick", func() bool {
		list, err := pgqueue.NewAdmin(b).PeriodicJobs(context.Background())
		require.NoError(t, err)
		for _, p := range list {
			if p.Name == "hourly-report" {
				got = p
				return true
			}
		}
		return false
	})
	require.Zero(t, got.LastTick.Sub(got.LastTick.Truncate(time.Hour)), "Every(1h) ticks on the hour: got %v", got.LastTick)
	require.True(t, got.NextRun.Equal(got.LastTick.Add(time.Hour)), "the next run is the schedule's tick after the last: last %v, next %v", got.LastTick, got.NextRun)
}
