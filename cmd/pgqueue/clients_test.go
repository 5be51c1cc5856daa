package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgqueue/pgqueue"
)

// `pgqueue clients` lists a running client with its queues and leaves it
// out once stopped; `pgqueue periodic list` shows the last tick of each
// periodic job and the next run its client expects.
func TestCLIClientsAndPeriodicList(t *testing.T) {
	t.Parallel()
	url, schema, b := setup(t)
	ctx := context.Background()

	out := ok(t, cli(t, url, schema, "clients"), "clients with none running")
	require.Equal(t, "ID  HOST  PID  VERSION  QUEUES  PERIODIC  STARTED  LAST SEEN\n", out)

	sched, err := pgqueue.Every(time.Hour)
	require.NoError(t, err)
	c, err := pgqueue.New(b, pgqueue.Config{ID: "cli-client", Queues: map[string]pgqueue.QueueConfig{"mail": {MaxWorkers: 4}, "default": {MaxWorkers: 2}},
		Periodic: []pgqueue.PeriodicJob{{Name: "hourly", Schedule: sched, Args: cliArgs{N: 1}, RunOnStart: true}}})
	require.NoError(t, err)
	require.NoError(t, pgqueue.Register(c, pgqueue.WorkFunc[cliArgs](func(ctx context.Context, j *pgqueue.Job[cliArgs]) error { return nil })))
	require.NoError(t, c.Start(ctx))
	t.Cleanup(func() { _ = c.Stop(context.Background()) })

	out = ok(t, cli(t, url, schema, "clients"), "clients")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 2, out)
	require.Regexp(t, `^cli-client\s+\S+\s+\d+\s+\S+\s+default=2,mail=4\s+hourly\s+\d{4}-`, lines[1])

	var got struct{ Clients []map[string]any }
	require.NoError(t, json.Unmarshal([]byte(ok(t, cli(t, url, schema, "clients", "-o", "json"), "clients -o json")), &got))
	require.Len(t, got.Clients, 1)
	require.Equal(t, "cli-client", got.Clients[0]["id"])

	var periodic []pgqueue.PeriodicInfo
	require.Eventually(t, func() bool {
		periodic, err = pgqueue.NewAdmin(b).PeriodicJobs(ctx)
		return err == nil && len(periodic) == 1
	}, 5*time.Second, 20*time.Millisecond, "RunOnStart records the hourly job's tick")
	out = ok(t, cli(t, url, schema, "periodic", "list"), "periodic list")
	require.Equal(t, periodic[0].LastTick.Add(time.Hour), periodic[0].NextRun, "the client records the schedule's next tick")
	require.Equal(t, "NAME    LAST TICK             NEXT RUN\nhourly  "+periodic[0].LastTick.UTC().Format(time.RFC3339)+"  "+periodic[0].NextRun.UTC().Format(time.RFC3339)+"\n", out)

	require.NoError(t, c.Stop(ctx))
	out = ok(t, cli(t, url, schema, "clients"), "clients after Stop")
	require.Equal(t, 1, strings.Count(out, "\n"), "a stopped client is not listed:\n%s", out)
}

// Both commands take no arguments.
func TestCLIClientsAndPeriodicRefuseArguments(t *testing.T) {
	t.Parallel()
	url, schema, _ := setup(t)
	fails(t, cli(t, url, schema, "clients", "extra"), "clients extra", "takes no arguments")
	fails(t, cli(t, url, schema, "periodic", "list", "extra"), "periodic list extra", "takes no arguments")
	fails(t, cli(t, url, schema, "periodic", "lst"), "periodic lst", "list")
}
