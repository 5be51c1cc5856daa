package chaos

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgqueue/pgqueue"
)

type claimEvent struct {
	client string
	token  int64
}

// A claim commits with synchronous_commit = off, so a crash right after it
// can forget it: the job is available again with its old attempt and lease
// token. The worker that received the forgotten claim keeps running the
// job, and must learn at its next heartbeat that its lease is gone — even
// when another worker has claimed the job again in the meantime. That
// re-claim must therefore get a token the forgotten claim never had;
// otherwise the stale worker's heartbeats extend the new holder's lease and
// its completion deletes a job someone else is running.
func TestCrashForgottenClaimIsFenced(t *testing.T) {
	if os.Getenv(envEnable) != "1" {
		t.Skip("crash suite: set PGQUEUE_CHAOS=1 to run it (it starts, restarts and crashes its own PostgreSQL)")
	}
	pg := startPrivatePostgres(t)
	ctx := context.Background()
	db := openPool(t, pg.URL(), "chaos-observer", 4)
	if err := pgqueue.Migrate(ctx, db, &pgqueue.MigrateOptions{Schema: schema}); err != nil {
		t.Fatalf("migrate: %v", err)
	}

	started := make(chan claimEvent, 16)
	ended := make(chan error, 16)
	release := map[string]chan struct{}{"stale": make(chan struct{}, 1), "fresh": make(chan struct{}, 1)}
	newClient := func(id string) *pgqueue.Client {
		pool := openPool(t, pg.URL(), "chaos-"+id, 4)
		b, err := pgqueue.NewPostgres(pool, &pgqueue.PostgresOptions{Schema: schema})
		if err != nil {
			t.Fatal(err)
		}
		// A long heartbeat interval, so that after the restart the other
		// client claims the job before this one's next heartbeat.
		c, err := pgqueue.New(b, pgqueue.Config{ID: id, Queues: map[string]pgqueue.QueueConfig{pgqueue.DefaultQueue: {MaxWorkers: 1}},
			LeaseDuration: 20 * time.Second, HeartbeatInterval: 2 * time.Second, RescueInterval: 200 * time.Millisecond, PollInterval: 100 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		if err := pgqueue.Register(c, pgqueue.WorkFunc[chaosJob](func(ctx context.Context, j *pgqueue.Job[chaosJob]) error {
			started <- claimEvent{client: id, token: leaseToken(j)}
			select {
			case <-ctx.Done():
				ended <- context.Cause(ctx)
				return context.Cause(ctx)
			case <-release[id]:
				ended <- nil
				return nil
			}
		})); err != nil {
			t.Fatal(err)
		}
		return c
	}
	stop := func(c *pgqueue.Client, id string) {
		select { // let a held job finish
		case release[id] <- struct{}{}:
		default:
		}
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = c.Stop(sctx)
	}

	enq, err := pgqueue.New(mustBackend(t, db), pgqueue.Config{})
	if err != nil {
		t.Fatal(err)
	}
	a := newClient("stale")
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer stop(a, "stale")

	// Crash right after a claim until one is forgotten (the WAL writer
	// flushes an asynchronous commit within a few hundred ms, so the crash
	// usually wins the race).
	var first claimEvent
	var id int64
	forgotten := false
	for try := 1; try <= 5 && !forgotten; try++ {
		if id, err = enq.Enqueue(ctx, chaosJob{Seq: int64(try)}, nil); err != nil {
			t.Fatal(err)
		}
		select {
		case first = <-started:
		case <-time.After(10 * time.Second):
			t.Fatal("the job was never claimed")
		}
		if first.token < 0 {
			t.Fatal("cannot read the claim's lease token: pgqueue's internals changed, update leaseToken")
		}
		if err := pg.StopImmediate(); err != nil {
			t.Fatal(err)
		}
		if err := pg.Start(); err != nil {
			t.Fatal(err)
		}
		var state string
		if err := retryQuery(func() error {
			return db.QueryRow(ctx, `SELECT state FROM chaos.pgqueue_jobs WHERE id = $1`, id).Scan(&state)
		}); err != nil {
			t.Fatal(err)
		}
		forgotten = state != "running"
		t.Logf("try %d: job %d claimed under token %d, after the crash it is %s", try, id, first.token, state)
		if !forgotten {
			// The claim survived: let it finish and try again.
			release["stale"] <- struct{}{}
			<-ended
			// The run may have ended otherwise (the crash cut its
			// heartbeat) and left the release unread: the next try's
			// run would take it and end at once.
			select {
			case <-release["stale"]:
			default:
			}
		}
	}
	if !forgotten {
		// Claims that survive every crash (synchronous claim commits)
		// leave nothing to fence.
		t.Log("no claim was forgotten in 5 crashes: nothing to check")
		return
	}

	b := newClient("fresh")
	if err := b.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer stop(b, "fresh")
	var second claimEvent
	select {
	case second = <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the other client never claimed the job after the crash")
	}
	t.Logf("after the crash %q claimed job %d under token %d; the stale claim had token %d", second.client, id, second.token, first.token)
	if second.token == first.token {
		t.Errorf("FENCING: the re-claim after the crash got the same lease token (%d) as the forgotten claim still running on %q", second.token, first.client)
	}

	// The stale worker must be told at its next heartbeat.
	select {
	case err := <-ended:
		if !errors.Is(err, pgqueue.ErrLeaseLost) {
			t.Errorf("a run ended with %v, want ErrLeaseLost for the stale run", err)
		}
		return
	case <-time.After(5 * time.Second):
		var until time.Time
		_ = db.QueryRow(ctx, `SELECT lease_until FROM chaos.pgqueue_jobs WHERE id = $1`, id).Scan(&until)
		t.Errorf("the stale worker %q still runs the job 5s after %q re-claimed it: its heartbeats (2s apart) succeed against the new claim (lease now until %v)",
			first.client, second.client, until.Format(time.RFC3339Nano))
	}
	// And it must not be able to complete the job the other worker holds.
	release["stale"] <- struct{}{}
	<-ended
	time.Sleep(500 * time.Millisecond) // the completer flushes within ms
	var n int
	_ = db.QueryRow(ctx, `SELECT count(*) FROM chaos.pgqueue_jobs WHERE id = $1 AND state = 'running' AND claimed_by = 'fresh'`, id).Scan(&n)
	if n == 0 {
		t.Errorf("the stale worker's completion deleted job %d while %q still runs it under its own claim", id, second.client)
	}
}

// retryQuery retries a query a few times: after a restart the pool's idle
// connections are dead, and only the first use finds out.
func retryQuery(q func() error) error {
	var err error
	for range 5 {
		if err = q(); err == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return err
}

func mustBackend(t *testing.T, pool *pgxpool.Pool) *pgqueue.PostgresBackend {
	t.Helper()
	b, err := pgqueue.NewPostgres(pool, &pgqueue.PostgresOptions{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	return b
}
