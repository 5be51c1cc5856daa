package pgqueue_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/pgqueue/pgqueue"
	"github.com/pgqueue/pgqueue/internal/pgtest"
)

const (
	liveChildSchema = "PGQUEUE_LIVENESS_CHILD_SCHEMA"
	liveChildURL    = "PGQUEUE_LIVENESS_CHILD_URL"
	liveChildID     = "liveness-child"
	liveChildTest   = "TestLivenessChild"
)

// livenessBound waits until a session holds the liveness lock of client
// id in b's schema, and returns that session's pid.
func livenessBound(t *testing.T, b *pgqueue.PostgresBackend, id string) int {
	t.Helper()
	var pid int
	require.Eventually(t, func() bool {
		err := b.Pool().QueryRow(context.Background(), `SELECT l.pid FROM pg_locks l JOIN pg_stat_activity a USING (pid)
			WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2 AND l.objid = hashtext($1)::oid AND a.application_name = $2`,
			id, b.LivenessName()).Scan(&pid)
		return err == nil
	}, 10*time.Second, 10*time.Millisecond, "client %q never bound its liveness", id)
	return pid
}

// TestLivenessChild is the worker process that TestSIGKILLedClientsJob
// RunsAgainWithinSeconds starts and kills; on its own it does nothing. It
// runs with the default Config: a 30s lease.
func TestLivenessChild(t *testing.T) {
	schema := os.Getenv(liveChildSchema)
	if schema == "" {
		t.Skip("helper process for TestSIGKILLedClientsJobRunsAgainWithinSeconds")
	}
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv(liveChildURL))
	require.NoError(t, err)
	b, err := pgqueue.NewPostgres(pool, &pgqueue.PostgresOptions{Schema: schema})
	require.NoError(t, err)
	c, err := pgqueue.New(b, pgqueue.Config{ID: liveChildID})
	require.NoError(t, err)
	require.NoError(t, pgqueue.Register(c, pgqueue.WorkFunc[pingArgs](func(ctx context.Context, j *pgqueue.Job[pingArgs]) error {
		select {} // hold the job until SIGKILL
	})))
	require.NoError(t, c.Start(ctx))
	select {}
}

// With default settings (30s lease), the jobs of a worker process killed
// with SIGKILL run again within seconds: its liveness lock vanished with
// its connection, and a live client's rescuer saw it gone.
func TestSIGKILLedClientsJobRunsAgainWithinSeconds(t *testing.T) {
	t.Parallel()
	b := pgtest.Backend(t)
	const n = 3
	ids, child := startHoldingChild(t, b, n)
	runs := startSurvivor(t, b, n)
	require.NoError(t, child.Process.Signal(syscall.SIGKILL), "kill -9 the worker process")
	_, _ = child.Process.Wait()
	killed := time.Now()
	requireRerunWithinSeconds(t, runs, ids, killed)
}

// A watcher whose own pooled connections are terminated again and again
// (pg_terminate_backend every 300 ms, a pooler or server restarting
// under it) still rescues a SIGKILLed client's jobs within seconds: a
// query that fails on a cut connection is asked again on a new one, so
// the cut does not restart the grace of every gone client.
func TestDeadClientIsRescuedWhileTheWatchersConnectionsAreCut(t *testing.T) {
	t.Parallel()
	b := pgtest.Backend(t)
	const n = 3
	ids, child := startHoldingChild(t, b, n)
	cfg, err := pgxpool.ParseConfig(pgtest.URL(t))
	require.NoError(t, err)
	watcherPool := fmt.Sprintf("watcher-pool-%08x", rand.Uint32()) // unique per run, under application_name's 63 bytes
	cfg.ConnConfig.RuntimeParams["application_name"] = watcherPool
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	wb, err := pgqueue.NewPostgres(pool, &pgqueue.PostgresOptions{Schema: b.Schema()})
	require.NoError(t, err)
	runs := startSurvivor(t, wb, n)

	ctx, cancel := context.WithCancel(context.Background())
	var cuts sync.WaitGroup
	cuts.Add(1)
	terminated := 0
	go func() {
		defer cuts.Done()
		for ctx.Err() == nil {
			var k int
			if err := b.Pool().QueryRow(ctx, `SELECT count(*) FILTER (WHERE ok) FROM (
				SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = $1) t`, watcherPool).Scan(&k); err == nil {
				terminated += k
			}
			select {
			case <-ctx.Done():
			case <-time.After(300 * time.Millisecond):
			}
		}
	}()
	require.NoError(t, child.Process.Signal(syscall.SIGKILL), "kill -9 the worker process")
	_, _ = child.Process.Wait()
	killed := time.Now()
	requireRerunWithinSeconds(t, runs, ids, killed)
	cancel()
	cuts.Wait()
	require.Positive(t, terminated, "the watcher's pooled connections were never terminated: the test did not cut anything")
	t.Logf("%d of the watcher's pooled connections were terminated meanwhile", terminated)
}

// heldRun is one run of a job that a SIGKILLed child held.
type heldRun struct {
	id   int64
	at   time.Time
	errs []pgqueue.AttemptError
}

// startHoldingChild enqueues n jobs in b, starts a worker process
// (TestLivenessChild, default settings: a 30 s lease) that claims and
// holds them, and returns once it holds all n with its liveness bound.
func startHoldingChild(t *testing.T, b *pgqueue.PostgresBackend, n int) (map[int64]bool, *exec.Cmd) {
	t.Helper()
	ctx := context.Background()
	enq, err := pgqueue.New(b, pgqueue.Config{})
	require.NoError(t, err)
	ids := map[int64]bool{}
	for i := range n {
		id, err := enq.Enqueue(ctx, pingArgs{Seq: i}, nil)
		require.NoError(t, err)
		ids[id] = true
	}
	child := exec.Command(os.Args[0], "-test.run=^"+liveChildTest+"$", "-test.count=1")
	child.Env = append(os.Environ(), liveChildSchema+"="+b.Schema(), liveChildURL+"="+pgtest.URL(t))
	require.NoError(t, child.Start(), "start the worker process")
	t.Cleanup(func() { _ = child.Process.Kill(); _, _ = child.Process.Wait() })
	jobs := pgx.Identifier{b.Schema(), "pgqueue_jobs"}.Sanitize()
	require.Eventually(t, func() bool {
		var held int
		err := b.Pool().QueryRow(ctx, "SELECT count(*) FROM "+jobs+" WHERE state = 'running' AND claimed_by = $1", liveChildID).Scan(&held)
		return err == nil && held == n
	}, 30*time.Second, 20*time.Millisecond, "the child worker process never claimed the %d jobs", n)
	livenessBound(t, b, liveChildID)
	return ids, child
}

// startSurvivor starts a client over b that records each run, and checks
// for 3 s that it leaves the live child's jobs alone.
func startSurvivor(t *testing.T, b pgqueue.Backend, n int) chan heldRun {
	t.Helper()
	runs := make(chan heldRun, n)
	startClient(t, b, pgqueue.Config{ID: "survivor"}, func(ctx context.Context, j *pgqueue.Job[pingArgs]) error {
		runs <- heldRun{id: j.ID, at: time.Now(), errs: j.Errors}
		return nil
	})
	select {
	case r := <-runs:
		t.Fatalf("job %d ran on the survivor at %v while the child was alive", r.id, r.at)
	case <-time.After(3 * time.Second):
	}
	return runs
}

// requireRerunWithinSeconds checks that each of the jobs in ids, held by
// a child SIGKILLed at killed, runs again within 5 s of the kill, with
// the holder's death as its recorded error.
func requireRerunWithinSeconds(t *testing.T, runs chan heldRun, ids map[int64]bool, killed time.Time) {
	t.Helper()
	for range ids {
		select {
		case r := <-runs:
			took := r.at.Sub(killed)
			require.True(t, ids[r.id], "job %d ran, not one the child held", r.id)
			require.LessOrEqual(t, took, 5*time.Second, "job %d ran again %v after its holder died; the default settings promise at most 5s", r.id, took)
			require.Len(t, r.errs, 1, "the lost attempt is recorded")
			require.Equal(t, "client_gone", r.errs[0].Kind, "the rescue names the holder's death, not a lease expiry")
			t.Logf("job %d ran again %v after its holder was SIGKILLed (lease 30s)", r.id, took.Round(time.Millisecond))
		case <-time.After(10 * time.Second):
			t.Fatal("the SIGKILLed worker's jobs did not run again within 10s of its death (default lease: 30s)")
		}
	}
}

// A live client whose liveness connection is terminated again and again
// binds it again each time, and none of its jobs runs a second time.
func TestLiveClientsTerminatedLivenessConnectionNeverRerunsItsJobs(t *testing.T) {
	t.Parallel()
	b := pgtest.Backend(t)
	ctx := context.Background()
	h := newHeldRuns()
	holder := startClient(t, b, pgqueue.Config{ID: "holder"}, h.work("holder"))
	const n = 5
	for i := range n {
		_, err := holder.Enqueue(ctx, pingArgs{Seq: i}, nil)
		require.NoError(t, err)
	}
	h.waitStarted(t, "holder", n)
	startClient(t, b, pgqueue.Config{ID: "watcher"}, h.work("watcher"))

	terminated := 0
	var slowest time.Duration // from a termination to the next binding
	for end := time.Now().Add(8 * time.Second); time.Now().Before(end); {
		pid := livenessBound(t, b, "holder")
		var ok bool
		require.NoError(t, b.Pool().QueryRow(ctx, "SELECT pg_terminate_backend($1)", pid).Scan(&ok))
		require.True(t, ok, "terminate the holder's liveness session %d", pid)
		terminated++
		cut := time.Now()
		for livenessBound(t, b, "holder") == pid {
			time.Sleep(5 * time.Millisecond)
		}
		slowest = max(slowest, time.Since(cut))
		// Each binding lasts 600-1200ms before it is cut again, however
		// slowly the holder bound it: the watch samples every
		// RescueInterval (1s), and a client cut again the moment it binds
		// looks to it like one that never binds (README, "Liveness").
		time.Sleep(time.Duration(600+rand.IntN(600)) * time.Millisecond)
	}
	// Past every grace period and rescue of the last termination.
	time.Sleep(3 * time.Second)
	watcherRuns := len(h.runs("watcher"))
	holderRuns := fmt.Sprint(h.runs("holder"))
	require.Zero(t, watcherRuns, "the watcher ran %d of the live holder's jobs after %d terminations of its liveness connection (the slowest binding again took %v; LivenessGrace is 2s)", watcherRuns, terminated, slowest)
	h.finish(t, b)
	for id, k := range h.runs("holder") {
		require.Equal(t, 1, k, "job %d ran %d times on the holder (runs %s)", id, k, holderRuns)
	}
	t.Logf("%d terminations of a live client's liveness session over 8s, bound again within %v each: its %d jobs ran once each", terminated, slowest, n)
}

// A client that never binds its liveness (disabled, or PollOnly with no
// direct connection configured) is never taken for dead: its jobs wait
// for their leases.
func TestClientWithoutLivenessIsLeftToItsLease(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		opts pgqueue.PostgresOptions
		cfg  pgqueue.Config
	}{
		{"disabled", pgqueue.PostgresOptions{DisableSessionLiveness: true}, pgqueue.Config{}},
		{"poll-only without a direct connection", pgqueue.PostgresOptions{}, pgqueue.Config{PollOnly: true, PollInterval: 50 * time.Millisecond}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := pgtest.Backend(t)
			ctx := context.Background()
			tc.opts.Schema = b.Schema()
			hb, err := pgqueue.NewPostgres(b.Pool(), &tc.opts)
			require.NoError(t, err)
			started := make(chan int64, 1)
			tc.cfg.ID = "unbound"
			holder := startClient(t, hb, tc.cfg, func(ctx context.Context, j *pgqueue.Job[pingArgs]) error {
				started <- j.ID
				<-ctx.Done()
				return context.Cause(ctx)
			})
			_, err = holder.Enqueue(ctx, pingArgs{}, nil)
			require.NoError(t, err)
			select {
			case <-started:
			case <-time.After(10 * time.Second):
				t.Fatal("the holder never started the job")
			}
			reran := make(chan int64, 1)
			startClient(t, b, pgqueue.Config{ID: "watcher"}, func(ctx context.Context, j *pgqueue.Job[pingArgs]) error {
				reran <- j.ID
				return nil
			})
			var locks int
			require.NoError(t, b.Pool().QueryRow(ctx, `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 2 AND objid = hashtext('unbound')::oid`).Scan(&locks))
			require.Zero(t, locks, "the holder must not bind liveness here")
			select {
			case id := <-reran:
				t.Fatalf("job %d of a live client that has no liveness binding ran again on the watcher", id)
			case <-time.After(4 * time.Second):
			}
		})
	}
}

// collidingIDs returns two client IDs whose hashtext is the same.
func collidingIDs(t *testing.T, db *pgxpool.Pool) (string, string) {
	t.Helper()
	var a, b string
	require.NoError(t, db.QueryRow(context.Background(), `SELECT min(s), max(s) FROM (
		SELECT 'client-' || i AS s, hashtext('client-' || i) AS h FROM generate_series(1, 300000) i) x
		GROUP BY h HAVING count(*) > 1 LIMIT 1`).Scan(&a, &b), "find two client IDs whose hashes collide")
	return a, b
}

// A dead client whose ID hashes like a live one's looks alive: its jobs
// wait for their leases, and a live client's jobs are never taken.
// RescueGone frees only the jobs of clients still gone, claimed long
// enough ago.
func TestRescueGoneFreesOnlyJobsOfClientsWhoseLivenessIsGone(t *testing.T) {
	t.Parallel()
	b := pgtest.Backend(t)
	ctx := context.Background()
	alive, deadTwin := collidingIDs(t, b.Pool())
	kaCtx, stopKA := context.WithCancel(ctx)
	kaDone := make(chan error, 1)
	go func() { kaDone <- b.KeepAlive(kaCtx, pgqueue.LivenessParams{ClientID: alive}) }()
	t.Cleanup(func() { stopKA(); <-kaDone })
	livenessBound(t, b, alive)

	enq, err := pgqueue.New(b, pgqueue.Config{})
	require.NoError(t, err)
	for i := range 3 {
		_, err := enq.Enqueue(ctx, pingArgs{Seq: i}, &pgqueue.EnqueueOptions{MaxAttempts: 1 + i%2})
		require.NoError(t, err)
	}
	claim := func(by string, limit int) []*pgqueue.JobRow {
		rows, err := b.Claim(ctx, pgqueue.ClaimParams{Queue: pgqueue.DefaultQueue, Kinds: []string{"ping"}, Limit: limit, Lease: time.Hour, ClientID: by})
		require.NoError(t, err)
		return rows
	}
	require.Len(t, claim(deadTwin, 1), 1)
	require.Len(t, claim("dead", 2), 2)

	holders, err := b.Holders(ctx)
	require.NoError(t, err)
	require.Equal(t, map[string]bool{deadTwin: true, "dead": false}, holders,
		"%q holds no lock but hashes like %q, which does: it looks alive; \"dead\" does not", deadTwin, alive)

	info := pgqueue.AttemptError{At: time.Now().UTC(), Kind: "client_gone", Error: "test"}
	res, err := b.RescueGone(ctx, []string{"dead", deadTwin}, time.Hour, info)
	require.NoError(t, err)
	require.Zero(t, res.Requeued+res.DeadLettered, "jobs claimed less than minAge ago are left alone")

	time.Sleep(50 * time.Millisecond)
	res, err = b.RescueGone(ctx, []string{"dead", deadTwin}, 10*time.Millisecond, info)
	require.NoError(t, err)
	require.Equal(t, 1, res.Requeued, "the gone client's job with attempts left is requeued")
	require.Equal(t, 1, res.DeadLettered, "the gone client's job with no attempts left is dead-lettered")
	require.Equal(t, []string{pgqueue.DefaultQueue}, res.Queues)
	holders, err = b.Holders(ctx)
	require.NoError(t, err)
	require.Equal(t, map[string]bool{deadTwin: true}, holders, "the job of the client whose hash collides with a live one stays running")
	again := claim("next", 5)
	require.Len(t, again, 1, "the requeued job is available again")
	require.Equal(t, "client_gone", again[0].Errors[len(again[0].Errors)-1].Kind)
}

// In PollOnly mode without a direct connection configured, KeepAlive
// refuses at once, saying why.
func TestKeepAliveRefusesPooledWithoutDirectConnection(t *testing.T) {
	t.Parallel()
	b := pgtest.Backend(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := b.KeepAlive(ctx, pgqueue.LivenessParams{ClientID: "x", Pooled: true})
	require.True(t, errors.Is(err, pgqueue.ErrUnsupported), "want ErrUnsupported, got %v", err)
	require.ErrorContains(t, err, "LivenessConnConfig")
}

// A client never takes its own jobs for a dead client's: with its
// liveness connection terminated over and over for several graces (its
// lock missing at most observations), a client alone on its schema runs
// each of its jobs once. Its own absence watch would otherwise requeue
// them after the grace and claim them again while the first runs go on.
func TestClientNeverRescuesItsOwnJobs(t *testing.T) {
	t.Parallel()
	b := pgtest.Backend(t)
	ctx := context.Background()
	h := newHeldRuns()
	cfg := pgqueue.Config{ID: "solo", LivenessGrace: 200 * time.Millisecond, RescueInterval: 50 * time.Millisecond}
	c := startClient(t, b, cfg, h.work("solo"))
	const n = 3
	for i := range n {
		_, err := c.Enqueue(ctx, pingArgs{Seq: i}, nil)
		require.NoError(t, err)
	}
	h.waitStarted(t, "solo", n)
	livenessBound(t, b, "solo")
	terminated := 0
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		var k int
		require.NoError(t, b.Pool().QueryRow(ctx, `SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
			WHERE application_name = $1 AND pid <> pg_backend_pid()) AS t`, b.LivenessName()).Scan(&k))
		terminated += k
	}
	require.Positive(t, terminated, "the test must have terminated the client's liveness session")
	again := fmt.Sprint(h.runs("solo"))
	h.finish(t, b)
	for id, k := range h.runs("solo") {
		require.Equal(t, 1, k, "job %d ran %d times on the only client, whose liveness session was terminated %d times over 3s (runs when the terminations ended: %s)", id, k, terminated, again)
	}
}

// heldRuns counts the runs of ping jobs per client and holds each run
// until release: the jobs stay running (and held) while a test cuts the
// holder's liveness.
type heldRuns struct {
	mu      sync.Mutex
	by      map[string]map[int64]int
	release chan struct{}
}

func newHeldRuns() *heldRuns {
	return &heldRuns{by: map[string]map[int64]int{}, release: make(chan struct{})}
}

// work is the handler of client who.
func (h *heldRuns) work(who string) func(context.Context, *pgqueue.Job[pingArgs]) error {
	h.mu.Lock()
	h.by[who] = map[int64]int{}
	h.mu.Unlock()
	return func(ctx context.Context, j *pgqueue.Job[pingArgs]) error {
		h.mu.Lock()
		h.by[who][j.ID]++
		h.mu.Unlock()
		select {
		case <-h.release:
			return nil
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
}

// runs returns how many runs client who started of each job.
func (h *heldRuns) runs(who string) map[int64]int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return maps.Clone(h.by[who])
}

// waitStarted waits until client who has started n distinct jobs.
func (h *heldRuns) waitStarted(t *testing.T, who string, n int) {
	t.Helper()
	require.Eventually(t, func() bool { return len(h.runs(who)) == n }, 10*time.Second, 10*time.Millisecond,
		"%s never started its %d jobs", who, n)
}

// finish lets every run end and waits until b's jobs table is empty.
func (h *heldRuns) finish(t *testing.T, b *pgqueue.PostgresBackend) {
	t.Helper()
	close(h.release)
	jobs := pgx.Identifier{b.Schema(), "pgqueue_jobs"}.Sanitize()
	require.Eventually(t, func() bool {
		var left int
		return b.Pool().QueryRow(context.Background(), "SELECT count(*) FROM "+jobs).Scan(&left) == nil && left == 0
	}, 10*time.Second, 20*time.Millisecond, "the held jobs did not complete once released")
}
