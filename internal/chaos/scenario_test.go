package chaos

import (
	"context"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgqueue/pgqueue"
)

// The recovery scenario of issue 16, run as stated there with default
// settings: 20,000 jobs enqueued one per transaction (10 % rolled back)
// by producers paced to scenarioRate, 4 worker processes running 25 jobs
// each, 20 SIGKILLs of random workers and 10 rounds of
// pg_terminate_backend of every connection the workers hold (pool,
// listener, liveness) spread over the enqueueing. Jobs are short, as
// background jobs mostly are: 90 % run 0–20 ms, 10 % run 100–500 ms.
const (
	scenarioJobs      = 20000
	scenarioSlots     = 25
	scenarioRollback  = 0.10
	scenarioRate      = 400 // jobs per second, all producers together
	scenarioProducers = 4
	scenarioKills     = 20
	scenarioTermRound = 10
	// scenarioDupShare is the bound on duplicate runs: 1 % of
	// the jobs committed.
	scenarioDupShare = 0.01
)

// TestRecoveryScenario checks, on that scenario, that nothing is lost, no
// rolled-back job runs, no fencing token runs twice, every SIGKILLed
// worker's jobs run again within 5 s (p99) and 10 s (max), no live
// client's jobs are rescued, and duplicate runs stay within the jobs in
// flight at the faults and under 1 % of the jobs.
//
//	PGQUEUE_CHAOS=1 go test -race -count=1 -v -run TestRecoveryScenario ./internal/chaos/
func TestRecoveryScenario(t *testing.T) {
	if os.Getenv(envEnable) != "1" {
		t.Skip("recovery scenario: set PGQUEUE_CHAOS=1 to run it (it starts its own PostgreSQL)")
	}
	began := time.Now()
	pg, observer := startLedgerPostgres(t)
	ctx := context.Background()
	urls := make([]string, numWorkers)
	for i := range urls {
		urls[i] = pg.URL()
	}
	fl := newFleet(t, urls, make([]string, numWorkers))
	fl.slots = scenarioSlots
	faults := &faultLog{start: time.Now()}
	t.Cleanup(func() {
		if t.Failed() {
			faults.mu.Lock()
			t.Logf("fault events:\n%s", strings.Join(faults.events, "\n"))
			faults.mu.Unlock()
			t.Logf("worker logs:\n%s", fl.logTails(6, 40))
		}
	})
	for slot := range numWorkers {
		if err := fl.start(slot); err != nil {
			t.Fatalf("start worker: %v", err)
		}
	}
	producerPool := openPool(t, pg.URL(), "chaos-producer", scenarioProducers+2)
	backend, err := pgqueue.NewPostgres(producerPool, &pgqueue.PostgresOptions{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	enqueuer, err := pgqueue.New(backend, pgqueue.Config{MaxAttempts: maxAttempts})
	if err != nil {
		t.Fatal(err)
	}

	// Enqueue, with the faults spread evenly over the enqueueing.
	phase := time.Duration(scenarioJobs) * time.Second / scenarioRate
	bk := &book{}
	var seq atomic.Int64
	var wg sync.WaitGroup
	for p := range scenarioProducers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			produceOnePerTx(rand.New(rand.NewPCG(uint64(p), uint64(began.UnixNano()))), producerPool, enqueuer, &seq, bk)
		}()
	}
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := range scenarioKills {
			time.Sleep(time.Until(faults.start.Add(phase * time.Duration(2*i+1) / (2 * scenarioKills))))
			if !killOne(t, fl, observer, faults) {
				return
			}
		}
	}()
	go func() {
		defer wg.Done()
		for i := range scenarioTermRound {
			time.Sleep(time.Until(faults.start.Add(phase * time.Duration(4*i+3) / (4 * scenarioTermRound))))
			terminateWorkers(observer, faults)
		}
	}()
	wg.Wait()
	faults.event("enqueueing and faults over")

	drained := waitDrained(t, ctx, observer, 200*time.Millisecond, nil)
	res, rr, liveRescued := conclude(t, ctx, observer, fl, bk, faults)
	bound := faults.bound()
	liveDup := liveClientDuplicates(t, ctx, observer, faults)
	if liveDup > 0 {
		t.Errorf("%d jobs that no SIGKILLed worker held ran more than once: a live client's job ran twice", liveDup)
	}
	committed := res.enqueued // the jobs that committed (rolled-back ones are counted apart)
	share := float64(res.duplicates) / float64(max(1, committed))
	if share > scenarioDupShare {
		t.Errorf("%d duplicate runs are %.2f %% of the %d jobs committed, over the %.0f %% the issue allows", res.duplicates, 100*share, committed, 100*scenarioDupShare)
	}
	faults.mu.Lock()
	t.Logf("scenario: attempted=%d committed=%d rolled_back=%d uncertain=%d completed=%d dead=%d lost=%d duplicates=%d (%.2f %%; held at kills %d, bound %d; of jobs no killed worker held %d) fencing_violations=%d "+
		"kills=%d (undeclared %d) terminated=%d (worker=%d listener=%d liveness=%d) rerun_after_kill: jobs=%d p50=%v p99=%v max=%v live_clients_rescued=%d phase=%v drain=%v total=%v",
		scenarioJobs, committed, res.rolledBack, res.uncertain, res.completed, res.dead, res.lost, res.duplicates, 100*share, faults.killHeld, bound, liveDup, res.fencing,
		faults.kills, rr.undeclared, faults.termWorker+faults.termListener+faults.termLiveness, faults.termWorker, faults.termListener, faults.termLiveness,
		rr.jobs, rr.p50.Round(time.Millisecond), rr.p99.Round(time.Millisecond), rr.max.Round(time.Millisecond), liveRescued,
		phase, drained.Round(time.Millisecond), time.Since(began).Round(time.Second))
	faults.mu.Unlock()
}

// produceOnePerTx enqueues one job per transaction, rolling back
// scenarioRollback of them, at this producer's share of scenarioRate,
// until scenarioJobs enqueues were tried in all.
func produceOnePerTx(rng *rand.Rand, pool *pgxpool.Pool, client *pgqueue.Client, seq *atomic.Int64, bk *book) {
	every := time.Second * scenarioProducers / scenarioRate
	next := time.Now()
	for {
		s := seq.Add(1)
		if s > scenarioJobs {
			return
		}
		time.Sleep(time.Until(next))
		next = next.Add(every)
		r := jobRec{seq: s, args: chaosJob{Seq: s, SleepMS: rng.IntN(21)}}
		if rng.Float64() < 0.1 {
			r.args.SleepMS = 100 + rng.IntN(401)
		}
		outcome := func() string {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			tx, err := pool.Begin(ctx)
			if err != nil {
				return "failed"
			}
			defer func() { _ = tx.Rollback(context.Background()) }()
			id, err := client.EnqueueTx(ctx, tx, r.args, &pgqueue.EnqueueOptions{MaxAttempts: maxAttempts})
			if err != nil {
				return "failed"
			}
			r.id = id
			if _, err := tx.Exec(ctx, `INSERT INTO chaos.produced (seq, job_id) VALUES ($1, $2)`, r.seq, id); err != nil {
				return "failed"
			}
			if rng.Float64() < scenarioRollback {
				return "rolled back"
			}
			if err := tx.Commit(ctx); err != nil {
				return "uncertain"
			}
			return "committed"
		}()
		bk.mu.Lock()
		switch outcome {
		case "committed":
			bk.committed = append(bk.committed, r)
			bk.commits++
		case "uncertain":
			bk.uncertain = append(bk.uncertain, r)
			bk.uncertainTx++
		default:
			bk.rolledBack = append(bk.rolledBack, r)
			bk.rollbacks++
		}
		bk.mu.Unlock()
	}
}

// terminateWorkers runs one round of pg_terminate_backend on every
// connection of the worker processes: their pools, listeners and
// liveness sessions. The workers live on: none of their jobs may be
// rescued, and a run whose own connection was cut fails and is retried
// (at most one duplicate per terminated pool connection).
func terminateWorkers(db *pgxpool.Pool, faults *faultLog) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var pool, listener, liveness int
	err := db.QueryRow(ctx, `SELECT
		count(*) FILTER (WHERE application_name LIKE 'chaos-worker:%'),
		count(*) FILTER (WHERE application_name = $1),
		count(*) FILTER (WHERE application_name = $2)
		FROM (SELECT application_name, pg_terminate_backend(pid) AS ok FROM pg_stat_activity
		      WHERE application_name LIKE 'chaos-worker:%' OR application_name IN ($1, $2)) t
		WHERE ok`, listenerApplication, livenessApplication).Scan(&pool, &listener, &liveness)
	if err != nil {
		faults.event("terminate round: %v", err)
		return
	}
	faults.mu.Lock()
	faults.termWorker += pool
	faults.termListener += listener
	faults.termLiveness += liveness
	faults.mu.Unlock()
	faults.event("pg_terminate_backend round: %d pool, %d listener, %d liveness connections", pool, listener, liveness)
}

// liveClientDuplicates counts the jobs that ran more than once though no
// SIGKILLed worker held them: runs of live clients that ran twice. The
// scenario's jobs never fail on purpose, so any second run is a rerun.
func liveClientDuplicates(t *testing.T, ctx context.Context, db *pgxpool.Pool, faults *faultLog) int {
	t.Helper()
	faults.mu.Lock()
	var held []int64
	for _, k := range faults.killRecs {
		held = append(held, k.jobs...)
	}
	unmeasured := faults.killUnmeasured
	faults.mu.Unlock()
	if unmeasured > 0 {
		t.Logf("%d kills could not list the jobs their worker held; their jobs may count here", unmeasured)
	}
	var n int
	err := db.QueryRow(ctx, `SELECT count(*) FROM (
		SELECT job_id FROM chaos.runs GROUP BY job_id HAVING count(*) > 1) d
		WHERE job_id <> ALL($1::bigint[])`, held).Scan(&n)
	if err != nil {
		t.Errorf("count the duplicates of live clients' jobs: %v", err)
	}
	return n
}
