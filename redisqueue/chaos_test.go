package redisqueue_test

// Redis faults under a working client (issue 16): a SIGKILLed redis-server
// restarted from its append-only file, the workers' connections killed
// again and again, and a Redis stall longer than the lease. Each test runs
// its own redis-server (internal/rediscluster) so that it may kill, stall
// or restart it, feeds a pgqueue.Client a stream of jobs from a second,
// enqueue-only Client while the first works them, and prints one
// "redis-chaos:" line with what it saw.

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/pgqueue/pgqueue"
	"github.com/pgqueue/pgqueue/internal/rediscluster"
	"github.com/pgqueue/pgqueue/internal/servicetest"
	"github.com/pgqueue/pgqueue/redisqueue"
)

const (
	chaosPrefix   = "chaos"
	chaosWorkers  = "chaos-workers"  // client name of the working Client's connections
	chaosProducer = "chaos-producer" // client name of the enqueueing Client's connections
	chaosAdmin    = "chaos-admin"    // client name of the test's own connection
)

// chaosArgs is the jobs' payload: a sequence number of the producer's, so
// that jobs are told apart by what the producer sent, not by an ID a
// restarted Redis might hand out again.
type chaosArgs struct {
	Seq int `json:"seq"`
}

func (chaosArgs) Kind() string { return "redisqueue.chaos" }

// chaosRun is one run of a job, as the worker saw it.
type chaosRun struct {
	attempt   int
	lastError string // kind of the last recorded attempt error ("" on a first run)
}

type chaosAck struct {
	seq int
	at  time.Time // when Enqueue returned without error
}

// chaosRig is a private redis-server, a working Client on it, an
// enqueue-only Client, and what they did.
type chaosRig struct {
	t        *testing.T
	ctx      context.Context
	dir      string
	srv      *rediscluster.Server
	srvArgs  []string
	adm      *redis.Client
	backend  *redisqueue.Backend
	workers  *pgqueue.Client
	producer *pgqueue.Client
	sub      *pgqueue.Subscription
	subDone  chan struct{}
	logs     *countingHandler

	mu          sync.Mutex
	runs        map[int][]chaosRun
	inFlight    map[int]int
	overlaps    int           // runs that began while another run of the same job was in flight
	completions map[int][]int // seq -> attempts whose completion was stored (EventCompleted)
	leaseLost   map[int]int   // seq -> EventLeaseLost events
	acks        []chaosAck
	failed      atomic.Int64 // Enqueue calls that returned an error (their job may or may not exist)

	every         time.Duration
	stopProducing chan struct{}
	produced      chan struct{}
}

type chaosConfig struct {
	lease, heartbeat time.Duration
	work             time.Duration // how long each run takes
	every            time.Duration // the producer's pause between enqueues (default 2ms)
	workerRetries    int           // the working Client's go-redis MaxRetries (0: go-redis's default, -1: none)
	serverArgs       []string
}

// newChaosRig starts redis-server in a temporary directory (or fails under
// CI=true and skips otherwise when there is none), and both Clients.
func newChaosRig(t *testing.T, ctx context.Context, cfg chaosConfig) *chaosRig {
	t.Helper()
	if _, err := rediscluster.ServerBinary(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%v [CI=true: failing instead of skipping]", err)
		}
		servicetest.Skip(t, "no redis-server to start a private Redis with: "+err.Error())
	}
	r := &chaosRig{
		t: t, ctx: ctx, dir: t.TempDir(), srvArgs: cfg.serverArgs,
		runs: map[int][]chaosRun{}, inFlight: map[int]int{}, completions: map[int][]int{}, leaseLost: map[int]int{},
		every: cmp.Or(cfg.every, 2*time.Millisecond),
		logs:  &countingHandler{}, stopProducing: make(chan struct{}), produced: make(chan struct{}),
	}
	srv, err := rediscluster.StartServer(ctx, r.dir, false, r.srvArgs...)
	require.NoError(t, err, "start a private redis-server")
	r.srv = srv
	t.Cleanup(func() { r.srv.Stop() })

	// Short timeouts, so that calls to a dead or stalled server fail fast
	// and the engine's retry paths run; the admin waits out DEBUG SLEEP.
	clientOpts := func(name string) *redis.Options {
		return &redis.Options{Addr: srv.Addr, ClientName: name, DialTimeout: 300 * time.Millisecond,
			ReadTimeout: 500 * time.Millisecond, WriteTimeout: 500 * time.Millisecond}
	}
	r.adm = redis.NewClient(&redis.Options{Addr: srv.Addr, ClientName: chaosAdmin, ReadTimeout: 10 * time.Second})
	wopts := clientOpts(chaosWorkers)
	wopts.MaxRetries = cfg.workerRetries
	wrdb := redis.NewClient(wopts)
	prdb := redis.NewClient(clientOpts(chaosProducer))
	t.Cleanup(func() { _, _, _ = r.adm.Close(), wrdb.Close(), prdb.Close() })

	r.backend, err = redisqueue.New(wrdb, &redisqueue.Options{Prefix: chaosPrefix})
	require.NoError(t, err)
	pb, err := redisqueue.New(prdb, &redisqueue.Options{Prefix: chaosPrefix})
	require.NoError(t, err)
	r.producer, err = pgqueue.New(pb, pgqueue.Config{ID: "chaos-producer"})
	require.NoError(t, err)

	r.workers, err = pgqueue.New(r.backend, pgqueue.Config{
		ID:                    "chaos-workers",
		Queues:                map[string]pgqueue.QueueConfig{pgqueue.DefaultQueue: {MaxWorkers: 8}},
		LeaseDuration:         cfg.lease,
		HeartbeatInterval:     cfg.heartbeat,
		RescueInterval:        200 * time.Millisecond,
		PollInterval:          100 * time.Millisecond,
		CompleteFlushInterval: 5 * time.Millisecond,
		Logger:                slog.New(r.logs),
	})
	require.NoError(t, err)
	require.NoError(t, pgqueue.Register(r.workers, pgqueue.WorkFunc[chaosArgs](func(ctx context.Context, j *pgqueue.Job[chaosArgs]) error {
		run := chaosRun{attempt: j.Attempt}
		if len(j.Errors) > 0 {
			run.lastError = j.Errors[len(j.Errors)-1].Kind
		}
		seq := j.Args.Seq
		r.mu.Lock()
		if r.inFlight[seq] > 0 {
			r.overlaps++
		}
		r.inFlight[seq]++
		r.runs[seq] = append(r.runs[seq], run)
		r.mu.Unlock()
		time.Sleep(cfg.work)
		r.mu.Lock()
		r.inFlight[seq]--
		r.mu.Unlock()
		return nil
	})))

	// Completions as the client stored them: a fencing failure would show
	// as a job completed twice, or completed by a run older than its last.
	r.sub = r.workers.Subscribe(1 << 16)
	r.subDone = make(chan struct{})
	go func() {
		defer close(r.subDone)
		for ev := range r.sub.C {
			var a chaosArgs
			if ev.Job == nil || json.Unmarshal(ev.Job.Args, &a) != nil {
				continue
			}
			r.mu.Lock()
			switch ev.Kind {
			case pgqueue.EventCompleted:
				r.completions[a.Seq] = append(r.completions[a.Seq], ev.Job.Attempt)
			case pgqueue.EventLeaseLost:
				r.leaseLost[a.Seq]++
			}
			r.mu.Unlock()
		}
	}()
	require.NoError(t, r.workers.Start(ctx))
	t.Cleanup(func() { _ = r.workers.Stop(context.Background()) })
	return r
}

// produce enqueues a job every r.every until stopProducing is closed.
func (r *chaosRig) produce() {
	go func() {
		defer close(r.produced)
		for seq := 0; ; seq++ {
			select {
			case <-r.stopProducing:
				return
			default:
			}
			cctx, cancel := context.WithTimeout(r.ctx, 2*time.Second)
			_, err := r.producer.Enqueue(cctx, chaosArgs{Seq: seq}, nil)
			cancel()
			if err != nil {
				r.failed.Add(1)
				time.Sleep(20 * time.Millisecond)
				continue
			}
			r.mu.Lock()
			r.acks = append(r.acks, chaosAck{seq: seq, at: time.Now()})
			r.mu.Unlock()
			time.Sleep(r.every)
		}
	}()
}

// acked returns a copy of the acknowledged enqueues so far.
func (r *chaosRig) acked() []chaosAck {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]chaosAck(nil), r.acks...)
}

// pending counts the jobs Redis still holds waiting, scheduled or running.
func (r *chaosRig) pending() int64 {
	q := "{" + chaosPrefix + ":" + pgqueue.DefaultQueue + "}"
	var n int64
	for _, k := range []string{q + ":avail:" + (chaosArgs{}).Kind(), q + ":sched", q + ":running"} {
		v, err := r.adm.ZCard(r.ctx, k).Result()
		if err != nil {
			return -1
		}
		n += v
	}
	return n
}

// drain stops the producer, waits (up to 20s) until every acknowledged
// job not in mayBeLost has run and Redis holds no job, stops the working
// Client and the event stream, and checks that nothing was dead-lettered.
func (r *chaosRig) drain(mayBeLost func(chaosAck) bool) {
	t := r.t
	close(r.stopProducing)
	<-r.produced
	acks := r.acked()
	deadline := time.Now().Add(20 * time.Second)
	for {
		r.mu.Lock()
		missing := 0
		for _, a := range acks {
			if len(r.runs[a.seq]) == 0 && !mayBeLost(a) {
				missing++
			}
		}
		r.mu.Unlock()
		left := r.pending()
		if missing == 0 && left == 0 {
			break
		}

		if time.Now().After(deadline) {
			t.Fatalf("20s after the last fault, %d acknowledged jobs have not run and Redis still holds %d jobs", missing, left)
		}
		time.Sleep(20 * time.Millisecond)
	}
	require.NoError(t, r.workers.Stop(r.ctx))
	require.Zero(t, r.sub.Dropped(), "the event subscriber must have seen every event")
	r.sub.Close()
	<-r.subDone
	dead, err := r.backend.ListDead(r.ctx, pgqueue.DeadFilter{})
	require.NoError(t, err)
	require.Empty(t, dead, "no job may be dead-lettered: every run succeeds")
}

// chaosFigures is what a run of the rig shows, once drained.
type chaosFigures struct {
	acked, lost, duplicates, overlaps int
	rerunKinds                        map[string]int // last error kind of each run after a job's first
	completedTwice, staleCompletions  int
	staleRunsRefused                  int // runs of rerun jobs whose result was refused (EventLeaseLost)
	// Jobs that ran, are gone from Redis (so their completion was stored:
	// nothing else removes a job that is not dead-lettered) and did not
	// run again, but whose run was reported as EventLeaseLost, not
	// EventCompleted: the reply to their completion was lost to the
	// fault, and the resent completion found the job already gone.
	completedButReportedLost int
}

// figures counts, over the acknowledged jobs, what was lost (never ran),
// duplicated (ran more than once) and how completions were stored.
func (r *chaosRig) figures(lost func(chaosAck)) chaosFigures {
	r.mu.Lock()
	defer r.mu.Unlock()
	f := chaosFigures{acked: len(r.acks), overlaps: r.overlaps, rerunKinds: map[string]int{}}
	for _, a := range r.acks {
		runs := r.runs[a.seq]
		if len(runs) == 0 {
			f.lost++
			lost(a)
			continue
		}
		latest := 0
		for i, run := range runs {
			latest = max(latest, run.attempt)
			if i > 0 {
				f.duplicates++
				f.rerunKinds[run.lastError]++
			}
		}
		if len(runs) > 1 {
			f.staleRunsRefused += r.leaseLost[a.seq]
		}
		done := r.completions[a.seq]
		switch {
		case len(done) == 0 && r.leaseLost[a.seq] > 0:
			f.completedButReportedLost++
		case len(done) == 0:
			r.t.Errorf("job seq %d ran %d times, is gone from Redis, and no run of it was reported completed or lease-lost", a.seq, len(runs))
		case done[len(done)-1] != latest:
			f.staleCompletions++
			r.t.Errorf("job seq %d: the completion stored last is attempt %d's, but attempt %d ran after it: a stale run's completion was accepted", a.seq, done[len(done)-1], latest)
		}
		if len(done) > 1 {
			f.completedTwice++
		}
	}
	return f
}

func (f chaosFigures) String() string {
	kinds := make([]string, 0, len(f.rerunKinds))
	for k, n := range f.rerunKinds {
		kinds = append(kinds, fmt.Sprintf("%s:%d", k, n))
	}
	sort.Strings(kinds)
	return fmt.Sprintf("acked=%d lost=%d duplicates=%d (rerun after %v) overlapping_runs=%d completed_twice=%d stale_completions=%d stale_runs_refused=%d completed_but_reported_lease_lost=%d",
		f.acked, f.lost, f.duplicates, kinds, f.overlaps, f.completedTwice, f.staleCompletions, f.staleRunsRefused, f.completedButReportedLost)
}

// aofWindow is how long before a crash an acknowledged write may be lost
// with appendfsync everysec: Redis fsyncs the append-only file once a
// second (and may put a write off up to 2s while a slow fsync runs).
const aofWindow = time.Second

// SIGKILL of a redis-server running with appendonly yes and appendfsync
// everysec, restarted from the same directory on the same port while the
// producer enqueues and the workers work: the same Clients (no restart)
// go on enqueueing and working on the restarted server, and every job
// whose enqueue was acknowledged more than aofWindow before the kill runs.
// What was acknowledged inside the window and lost is counted and
// reported. A delayed backlog, due after the restart, shows that the
// restarted server loaded the file. A SIGKILL of the process alone keeps what Redis wrote to the
// file (it is in the OS's page cache), so this measures 0; only a crash
// of the host loses the unsynced second, which a test cannot cause.
func TestRedisChaosSIGKILLWithAppendOnlyFileLosesNothingOlderThanTheFsyncWindow(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	r := newChaosRig(t, ctx, chaosConfig{
		lease: 2 * time.Second, heartbeat: 300 * time.Millisecond, work: 5 * time.Millisecond,
		serverArgs: []string{"--appendonly", "yes", "--appendfsync", "everysec"},
	})
	// A backlog that only the append-only file can bring back: 200 jobs
	// due 2.5s from now, after the restart, acknowledged long before the
	// kill. Were the restarted server empty, they would be lost.
	backlog := make([]pgqueue.EnqueueRequest, 200)
	for i := range backlog {
		backlog[i] = pgqueue.EnqueueRequest{Args: chaosArgs{Seq: -1 - i}, Options: &pgqueue.EnqueueOptions{Delay: 2500 * time.Millisecond}}
	}
	_, err := r.producer.EnqueueMany(ctx, backlog)
	require.NoError(t, err, "enqueue the delayed backlog")
	r.mu.Lock()
	for i := range backlog {
		r.acks = append(r.acks, chaosAck{seq: -1 - i, at: time.Now()})
	}
	r.mu.Unlock()
	r.produce()

	time.Sleep(1500 * time.Millisecond)
	require.GreaterOrEqual(t, r.pending(), int64(len(backlog)), "the delayed backlog should wait in Redis at the kill")
	killedAt := time.Now()
	r.srv.Kill()
	time.Sleep(500 * time.Millisecond)
	srv, err := rediscluster.StartServerOn(ctx, r.dir, r.srv.Port, r.srvArgs...)
	require.NoError(t, err, "restart redis-server from its directory on its port")
	r.srv = srv
	restartedAt := time.Now()
	require.Eventually(t, func() bool { return r.pending() >= int64(len(backlog)) }, 2*time.Second, 20*time.Millisecond,
		"the restarted server should have loaded the delayed backlog from its append-only file")
	time.Sleep(1500 * time.Millisecond)

	r.drain(func(a chaosAck) bool { return a.at.Before(killedAt) && killedAt.Sub(a.at) <= aofWindow })
	var after, inWindow int
	for _, a := range r.acked() {
		if a.at.After(restartedAt) {
			after++
		}
		if a.at.Before(killedAt) && killedAt.Sub(a.at) <= aofWindow {
			inWindow++
		}
	}
	require.Positive(t, after, "the producer should enqueue on the restarted server without a restart of its own")
	var oldest time.Duration
	f := r.figures(func(a chaosAck) {
		age := killedAt.Sub(a.at)
		require.True(t, a.at.Before(killedAt), "job seq %d was acknowledged %v after the kill, by the restarted server, and never ran", a.seq, -age)
		require.LessOrEqual(t, age, aofWindow, "job seq %d was acknowledged %v before the kill, outside the fsync window, and never ran", a.seq, age)
		oldest = max(oldest, age)
	})
	require.Zero(t, f.overlaps, "no job may run twice at once")
	t.Logf("redis-chaos: sigkill appendfsync=everysec %v lost_in_window=%d of %d acked within %v before the kill (oldest lost %v) acked_after_restart=%d enqueue_errors=%d client_warnings=%d",
		f, f.lost, inWindow, aofWindow, oldest, after, r.failed.Load(), r.logs.count.Load())
}

// Killing the working Client's connections (CLIENT KILL by its client
// name, and every tenth round CLIENT KILL TYPE normal, which takes the
// producer's too) every 10ms for 1.5s while jobs flow loses nothing: every
// acknowledged job runs and Redis is left holding none. The working
// Client stays alive throughout (its liveness key is refreshed again
// within 50–500ms of a failure, well inside its 3s TTL), so no job is
// rescued as a gone client's, no two runs of a job ever overlap, and a
// job runs again only after a lease expired: a claim or completion whose
// reply was lost to a kill leaves a lease nobody renews. No job's
// completion is stored twice, nor by a run older than the job's last.
//
// It runs with go-redis's own retries (the default) and without them, so
// that failed commands reach the engine's retry paths too.
func TestRedisChaosKilledWorkerConnectionsLoseNothingAndNeverRunAJobTwiceAtOnce(t *testing.T) {
	t.Parallel()
	for _, retries := range []int{0, -1} {
		name := "go-redis retries"
		if retries < 0 {
			name = "no go-redis retries"
		}
		t.Run(name, func(t *testing.T) { testChaosClientKill(t, name, retries) })
	}
}

func testChaosClientKill(t *testing.T, name string, retries int) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	r := newChaosRig(t, ctx, chaosConfig{lease: 2 * time.Second, heartbeat: 200 * time.Millisecond, work: 20 * time.Millisecond, workerRetries: retries})
	r.produce()

	time.Sleep(500 * time.Millisecond)
	// Kill every 10ms for 1.5s, so that kills land on commands in flight
	// (a connection killed while idle in the pool is just replaced).
	var killed int64
	rounds := 0
	for end := time.Now().Add(1500 * time.Millisecond); time.Now().Before(end); rounds++ {
		var n int64
		var err error
		if rounds%10 == 9 {
			n, err = r.adm.ClientKillByFilter(ctx, "TYPE", "normal", "SKIPME", "yes").Result()
		} else {
			n = int64(killConnections(t, r.adm, chaosWorkers))
		}
		require.NoError(t, err, "CLIENT KILL")
		killed += n
		time.Sleep(10 * time.Millisecond)
	}
	require.Positive(t, killed, "the test must have killed some connections")
	r.drain(func(chaosAck) bool { return false })

	f := r.figures(func(a chaosAck) { t.Errorf("job seq %d was acknowledged and never ran", a.seq) })
	require.Zero(t, f.lost, "no acknowledged job may be lost")
	require.Zero(t, f.overlaps, "no job may run twice at once while its holder is alive")
	for kind, n := range f.rerunKinds {
		require.Equal(t, "lease_expired", kind, "%d jobs ran again after %q: a job of a live client runs again only after its lease expired", n, kind)
	}
	require.Zero(t, f.completedTwice, "no job's completion may be stored twice")
	require.Zero(t, f.completedButReportedLost, "a completion whose reply was lost and was resent must be reported completed, not lease-lost (complete.lua's retry guard)")
	t.Logf("redis-chaos: client-kill (%s) connections_killed=%d rounds=%d %v enqueue_errors=%d client_warnings=%d",
		name, killed, rounds, f, r.failed.Load(), r.logs.count.Load())
}

// A Redis stall (DEBUG SLEEP 3s) longer than the lease (2s, heartbeat
// every 300ms) and than the liveness key's TTL (3s): afterwards nothing is
// lost. Runs whose lease expired during the stall may run again (as
// lease_expired; never as a gone client's, since the client lived), and
// fencing makes the stale run's completion a no-op: no job's completion
// is stored twice, and none is stored by a run older than the job's last.
func TestRedisChaosStallLongerThanTheLeaseLosesNothingAndFencesStaleCompletions(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const stall = 3 * time.Second
	r := newChaosRig(t, ctx, chaosConfig{
		lease: 2 * time.Second, heartbeat: 300 * time.Millisecond, work: 100 * time.Millisecond,
		every:      25 * time.Millisecond, // 40 jobs/s against 8 workers' 80: no backlog to drain
		serverArgs: []string{"--enable-debug-command", "yes"},
	})
	r.produce()

	time.Sleep(time.Second)
	r.mu.Lock()
	inFlight := 0
	for _, n := range r.inFlight {
		inFlight += n
	}
	r.mu.Unlock()
	began := time.Now()
	require.NoError(t, r.adm.Do(ctx, "DEBUG", "SLEEP", fmt.Sprintf("%.1f", stall.Seconds())).Err(), "DEBUG SLEEP")
	require.GreaterOrEqual(t, time.Since(began), stall-100*time.Millisecond, "Redis should have stalled for the whole sleep")
	time.Sleep(1500 * time.Millisecond)
	r.drain(func(chaosAck) bool { return false })

	f := r.figures(func(a chaosAck) { t.Errorf("job seq %d was acknowledged and never ran", a.seq) })
	require.Zero(t, f.lost, "no acknowledged job may be lost")
	for kind, n := range f.rerunKinds {
		require.Equal(t, "lease_expired", kind, "%d jobs ran again after %q: the client lived through the stall", n, kind)
	}
	require.Zero(t, f.completedTwice, "no job's completion may be stored twice: the stale run's must be refused")
	require.Zero(t, f.staleCompletions)
	require.Zero(t, f.completedButReportedLost, "a completion whose reply was lost and was resent must be reported completed, not lease-lost (complete.lua's retry guard)")
	t.Logf("redis-chaos: stall debug_sleep=%v lease=2s heartbeat=300ms runs_in_flight_at_stall=%d %v enqueue_errors=%d client_warnings=%d",
		stall, inFlight, f, r.failed.Load(), r.logs.count.Load())
}
