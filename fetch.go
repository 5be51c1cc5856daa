package pgqueue

// The queue fetcher: claims a queue's due jobs into its worker slots.

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"
)

// queueFetcher claims the due jobs of one queue, as many as the queue has
// free worker slots, and hands them to the queue's worker goroutines
// (engine.workLoop) through jobs. It claims when woken (a NOTIFY, a local
// enqueue, a finished job while there is a backlog) and at least every
// interval.
type queueFetcher struct {
	name string
	// max is the queue's MaxWorkers: its worker slots on this client.
	max int
	// ahead is how many jobs may be claimed ahead of free worker slots,
	// waiting in jobs with their leases kept alive (see claimAhead): the
	// floor of the allowance, which grows up to claimAheadGrowth times
	// that while the queue's jobs finish fast (see allowance).
	ahead int
	// interval is how often the queue is polled without a wake-up (see
	// pollInterval).
	interval time.Duration
	// claim is the template of every claim: queue, kinds, lease, client.
	claim   ClaimParams
	backend Backend
	// claimCtx carries the claims: the engine's background context, so
	// that Stop cannot abort a claim between the store's commit and our
	// receipt of its rows.
	claimCtx context.Context
	log      *slog.Logger
	// claimed is called once per claimed job before it is handed over.
	claimed func(*JobRow)

	active atomic.Int64
	// finished counts the queue's jobs whose run ended, for the pace.
	finished atomic.Int64
	wake     chan struct{}
	backlog  atomic.Bool
	// pace is the jobs finished per second over the last measured window,
	// which began at paceAt with paceFinished finished; only the fetcher's
	// own goroutine reads and writes them.
	pace         float64
	paceAt       time.Time
	paceFinished int64
	// claimTook is how long the last claim took, round trip included; only
	// the fetcher's own goroutine reads and writes it.
	claimTook time.Duration
	// jobs feeds the queue's max long-lived worker goroutines. Reusing
	// goroutines keeps their grown stacks: a fresh goroutine per job spent
	// a quarter of the client's CPU growing its stack while decoding args.
	// Its buffer holds fetchBuffer(max, ahead) rows, so handing over
	// never blocks.
	jobs chan *JobRow
}

// claimAheadMinWorkers is the fewest MaxWorkers for which a queue claims
// ahead. With few workers, one job claimed ahead is a large share of the
// queue, and a higher-priority job enqueued meanwhile would wait behind
// it; with many, claims of at least half the slots are what lets a drain
// run at the store's speed instead of one small claim per finished job.
const claimAheadMinWorkers = 8

// claimAhead is how many jobs a queue with max worker slots claims ahead
// of its free slots: max, when max is at least claimAheadMinWorkers and
// the queue has no global limits (a job claimed ahead would hold a slot
// or a token that another client could use now), else none.
func claimAhead(cfg Config, queue string, max int) int {
	qc := cfg.Queues[queue]
	if max < claimAheadMinWorkers || qc.GlobalMaxWorkers > 0 || qc.RateLimit != nil {
		return 0
	}
	return max
}

// claimAheadGrowth is how many times its floor (claimAhead) a queue's
// claim-ahead allowance grows to at most while its jobs finish fast:
// Postgres claims a row for less the more rows one claim takes, so a
// drain of quick jobs runs faster in claims of several hundred rows.
const claimAheadGrowth = 8

// claimAheadHorizon bounds that growth by time: the allowance grows past
// its floor only to what the queue, at its recent pace, starts within
// this long, or within twice the last claim's round trip when that is
// longer, up to claimAheadHorizonMax (the next claim starts when half the
// allowance is free, and the half still waiting must last until its rows
// arrive, or the workers idle). So a job claimed ahead waits about that
// long at most for a worker, and a higher-priority job enqueued meanwhile
// waits no longer behind the jobs claimed before it.
const claimAheadHorizon = 25 * time.Millisecond

// claimAheadHorizonMax caps the stretch by slow claims: a claim slowed by
// a fault (a cut connection, a restarting server) says nothing about the
// next, and must not let a queue hoard jobs that its workers start only
// seconds later, or that a crash would strand with it.
const claimAheadHorizonMax = 100 * time.Millisecond

// paceWindow is the shortest span over which a fetcher measures its
// queue's pace (jobs finished per second).
const paceWindow = 100 * time.Millisecond

// newQueueFetcher returns the fetcher of queue name for e, with max worker
// slots.
func (e *engine) newQueueFetcher(name string, max int) *queueFetcher {
	ahead := claimAhead(e.cfg, name, max)
	return &queueFetcher{
		name: name, max: max, ahead: ahead, interval: pollInterval(e.cfg, name),
		claim:   ClaimParams{Queue: name, Kinds: e.kinds, Lease: e.cfg.LeaseDuration, ClientID: e.cfg.ID},
		backend: e.backend, claimCtx: e.bgCtx, log: e.c.log, claimed: e.claimed,
		wake: make(chan struct{}, 1), jobs: make(chan *JobRow, fetchBuffer(max, ahead)),
	}
}

// fetchBuffer is the size of the hand-over buffer of a queue with max
// worker slots and a claim-ahead floor of ahead: room for every job the
// fetcher may hold at once, running or claimed ahead at the largest
// allowance.
func fetchBuffer(max, ahead int) int { return max + claimAheadGrowth*ahead }

// allowance is how many jobs the queue may claim ahead now: what it
// starts, at the pace of its last window of at least paceWindow, within
// claimAheadHorizon or twice the last claim's round trip, whichever is
// longer, but no longer than claimAheadHorizonMax; and never under the
// floor (ahead) nor over claimAheadGrowth times it. The first window runs
// from the zero time, so a fetcher starts at its floor, and a queue that
// was idle returns to it.
func (q *queueFetcher) allowance(now time.Time) int {
	if q.ahead == 0 {
		return 0
	}
	if span := now.Sub(q.paceAt); span >= paceWindow {
		done := q.finished.Load()
		q.pace = float64(done-q.paceFinished) / span.Seconds()
		q.paceAt, q.paceFinished = now, done
	}
	within := min(max(claimAheadHorizon, 2*q.claimTook), claimAheadHorizonMax)
	return min(max(int(q.pace*within.Seconds()), q.ahead), claimAheadGrowth*q.ahead)
}

// claimed records a job the fetcher claimed, before it reaches a worker:
// from then on Stop waits for it, and heartbeats keep its lease.
func (e *engine) claimed(row *JobRow) {
	e.jobsWG.Add(1)
	e.running.add(&jobState{ref: row.Ref(), row: row, client: e.c})
}

// poke wakes the fetcher; pokes while it is busy fold into one.
func (q *queueFetcher) poke() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// run claims at once, then whenever woken or polled, until ctx ends.
func (q *queueFetcher) run(ctx context.Context) {
	t := time.NewTicker(q.interval)
	defer t.Stop()
	for {
		q.step(ctx)
		select {
		case <-ctx.Done():
			return
		case <-q.wake:
		case <-t.C:
		}
	}
}

// step claims as many jobs as the queue has free slots, plus the jobs it
// may claim ahead, repeating while claims come back full, and hands them
// over. With a claim-ahead allowance it waits until at least half of it
// is free, so that a busy queue claims in large batches rather than one
// small claim per finished job. A failed claim is logged and retried at
// the next wake-up or poll.
func (q *queueFetcher) step(ctx context.Context) {
	ahead := q.allowance(time.Now())
	for ctx.Err() == nil {
		free := q.max + ahead - int(q.active.Load())
		if free <= 0 || (ahead > 0 && free < ahead/2) {
			q.backlog.Store(true)
			return
		}
		p := q.claim
		p.Limit = free
		cctx, cancel := context.WithTimeout(q.claimCtx, 10*time.Second)
		began := time.Now()
		rows, err := q.backend.Claim(cctx, p)
		q.claimTook = time.Since(began)
		cancel()
		if err != nil {
			q.log.Warn("pgqueue: claim failed; will retry at the next poll", "queue", q.name, "err", err)
			return
		}
		q.backlog.Store(len(rows) == free)
		for _, row := range rows {
			q.active.Add(1)
			q.claimed(row)
			q.jobs <- row
		}
		if len(rows) < free {
			return
		}
	}
}

// pollInterval is how often a queue is polled. A queue with global limits
// is polled more often, because slots and tokens free up on other clients
// (or with time) without any wake-up.
func pollInterval(cfg Config, queue string) time.Duration {
	qc := cfg.Queues[queue]
	d := cfg.PollInterval
	if qc.GlobalMaxWorkers > 0 {
		d = min(d, 50*time.Millisecond)
	}
	if qc.RateLimit != nil {
		// Compared as floats: a tiny PerSecond gives a wait past the int64
		// range, whose conversion to a Duration is undefined.
		if per := float64(time.Second) / qc.RateLimit.PerSecond; per < float64(d) {
			d = max(time.Duration(per), 5*time.Millisecond)
		}
	}
	return d
}
