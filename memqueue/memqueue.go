// Package memqueue is an in-memory pgqueue.Backend, for tests, demos and
// programs that want a job queue with no infrastructure.
//
// It keeps the same semantics as the Postgres backend (claim order, lease
// tokens, retries, dead letters, wake-ups) and is checked by the same
// conformance suite (queuetest), but jobs live in the process's memory and
// are gone when it exits, and it cannot join a Postgres transaction: the
// Client's transactional methods report pgqueue.ErrTxUnsupported on it.
//
//	backend := memqueue.New()
//	client, err := pgqueue.New(backend, pgqueue.Config{})
//
// Several Clients may share one Backend, as several processes share one
// database: each gets every wake-up, and claims never hand one job to two
// of them while its lease is valid.
package memqueue

import (
	"bytes"
	"cmp"
	"container/heap"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/pgqueue/pgqueue"
)

var (
	_ pgqueue.Backend              = (*Backend)(nil)
	_ pgqueue.UniqueInserter       = (*Backend)(nil)
	_ pgqueue.PeriodicEnqueuer     = (*Backend)(nil)
	_ pgqueue.PeriodicNextRecorder = (*Backend)(nil)
)

// EnqueuePeriodic implements pgqueue.PeriodicEnqueuer:
// EnqueuePeriodicNext with the next tick unknown.
func (b *Backend) EnqueuePeriodic(ctx context.Context, name string, tick time.Time, job pgqueue.InsertParams) (int64, bool, error) {
	return b.EnqueuePeriodicNext(ctx, name, tick, time.Time{}, job)
}

// EnqueuePeriodicNext implements pgqueue.PeriodicNextRecorder: it inserts
// job as tick of the periodic job name, recording next beside the tick,
// unless that tick, or a later one, was enqueued already.
func (b *Backend) EnqueuePeriodicNext(ctx context.Context, name string, tick, next time.Time, job pgqueue.InsertParams) (int64, bool, error) {
	b.tickMu.Lock()
	defer b.tickMu.Unlock()
	b.mu.Lock()
	last, seen := b.ticks[name]
	if seen && !last.Before(tick) {
		b.mu.Unlock()
		return 0, false, nil
	}
	b.ticks[name] = tick
	b.nextTicks[name] = next
	b.mu.Unlock()
	res, err := b.InsertUnique(ctx, []pgqueue.InsertParams{job})
	if err != nil {
		return 0, false, err
	}
	if res[0].Duplicate {
		return 0, false, nil
	}
	return res[0].ID, true, nil
}

// Backend is an in-memory pgqueue.Backend. The zero value is not usable;
// call New. It is safe for concurrent use by any number of goroutines and
// Clients. Its methods return an error only when their context is already
// done (ctx.Err()), and, for the methods that take a lease reference,
// pgqueue.ErrLeaseLost as the Backend interface describes.
type Backend struct {
	now func() time.Time

	// tickMu makes a periodic tick and its insert one step.
	tickMu    sync.Mutex
	mu        sync.Mutex
	lastID    int64
	available availableIndex
	scheduled *jobHeap // ordered by run-at, then ID
	running   map[int64]*job
	dead      map[int64]*job
	// history holds completed jobs kept for a retention (history.go).
	history map[int64]*job
	// waiting holds workflow tasks whose dependencies have not finished;
	// workflows and tasks are the workflows' records (workflow.go).
	waiting   map[int64]*job
	workflows map[int64]*workflow
	tasks     map[int64]*task
	sequences map[string]*sequence
	lastWF    int64
	// unique maps the unique key of each waiting or running job to its ID.
	unique map[string]int64
	// ticks maps each periodic job's name to its last enqueued tick.
	ticks map[string]time.Time
	// nextTicks maps each periodic job's name to the next tick the client
	// that recorded its last tick expected (zero: unknown).
	nextTicks map[string]time.Time
	// limits holds the queues' global limits.
	limits map[string]*queueLimit
	// paused holds the paused queues.
	paused map[string]bool

	lmu       sync.Mutex
	listeners map[*listener]struct{}

	// live counts, per client ID, the KeepAlive calls holding its
	// liveness (see liveness.go). Guarded by mu.
	live map[string]int

	// clients is the client registry (see clients.go). Guarded by mu.
	clients map[string]pgqueue.ClientInfo

	// stats holds the per-minute stats rollups (see stats.go).
	stats statsStore
}

// Option configures a Backend built by New.
type Option func(*Backend)

// WithClock makes the Backend read the time from now instead of time.Now,
// for tests that move time by hand (lease expiry, scheduled jobs) instead
// of sleeping. It governs only the Backend's own decisions: run-at, lease
// and dead-letter times. A Client driving the Backend still waits in real
// time, so use a fake clock for backend-level tests, not with a running
// Client. A nil now leaves the default, time.Now.
func WithClock(now func() time.Time) Option {
	return func(b *Backend) {
		if now != nil {
			b.now = now
		}
	}
}

// New returns an empty Backend. With no options it reads time.Now.
func New(opts ...Option) *Backend {
	b := &Backend{
		now:       time.Now,
		available: availableIndex{},
		scheduled: &jobHeap{less: dueBefore},
		running:   map[int64]*job{},
		dead:      map[int64]*job{},
		history:   map[int64]*job{},
		waiting:   map[int64]*job{},
		workflows: map[int64]*workflow{},
		tasks:     map[int64]*task{},
		sequences: map[string]*sequence{},
		unique:    map[string]int64{},
		ticks:     map[string]time.Time{},
		nextTicks: map[string]time.Time{},
		limits:    map[string]*queueLimit{},
		paused:    map[string]bool{},
		listeners: map[*listener]struct{}{},
		live:      map[string]int{},
		clients:   map[string]pgqueue.ClientInfo{},
	}
	for _, o := range opts {
		o(b)
	}
	return b
}

// Stats counts a Backend's jobs by state.
type Stats struct {
	// Available jobs are due and waiting to be claimed.
	Available int
	// Scheduled jobs wait for a future run-at (new, retrying or snoozed).
	// A scheduled job stays scheduled past its run-at until PromoteDue runs.
	Scheduled int
	// Running jobs are claimed and hold a lease, valid or expired.
	Running int
	// Dead jobs are in the dead-letter store.
	Dead int
}

// Stats returns how many jobs the Backend holds in each state, taken in one
// consistent snapshot. It is meant for tests, for example to wait until a
// Client has worked every job: Available, Scheduled and Running all zero.
func (b *Backend) Stats() Stats {
	b.mu.Lock()
	defer b.mu.Unlock()
	return Stats{
		Available: b.available.len(),
		Scheduled: b.scheduled.Len(),
		Running:   len(b.running),
		Dead:      len(b.dead),
	}
}

// Insert stores jobs and returns their IDs in the order given; IDs start at
// 1 and only increase. A job whose RunAt is zero or not after now is stored
// available (a zero RunAt becomes now), the others scheduled. The queues
// that received available jobs are woken once each. All jobs are stored, or
// none when ctx is done.
func (b *Backend) Insert(ctx context.Context, jobs []pgqueue.InsertParams) ([]int64, error) {
	res, err := b.InsertUnique(ctx, jobs)
	if err != nil {
		return nil, err
	}
	return pgqueue.ResultIDs(res)
}

// InsertUnique implements pgqueue.UniqueInserter: it inserts as Insert
// does, except that a job whose unique key is held by a waiting or running
// job (or by an earlier job of the same batch) is skipped and reported as
// a duplicate with the holder's ID.
func (b *Backend) InsertUnique(ctx context.Context, jobs []pgqueue.InsertParams) ([]pgqueue.InsertResult, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b.mu.Lock()
	now := b.now()
	out := make([]pgqueue.InsertResult, len(jobs))
	var woken []string
	for i, p := range jobs {
		if p.UniqueKey != "" {
			if holder, ok := b.unique[p.UniqueKey]; ok {
				out[i] = pgqueue.InsertResult{ID: holder, Duplicate: true}
				continue
			}
		}
		b.lastID++
		j := &job{uniqueKey: p.UniqueKey, row: pgqueue.JobRow{
			ID:          b.lastID,
			Kind:        p.Kind,
			Queue:       p.Queue,
			Priority:    p.Priority,
			Args:        bytes.Clone(p.Args),
			MaxAttempts: p.MaxAttempts,
			CreatedAt:   now,
			RunAt:       p.RunAt,
			Metadata:    maps.Clone(p.Metadata),
		}}
		if j.row.RunAt.IsZero() {
			j.row.RunAt = now
		}
		if q := b.place(j, now); q != "" {
			woken = append(woken, q)
		}
		if j.uniqueKey != "" {
			b.unique[j.uniqueKey] = j.row.ID
		}
		out[i].ID = j.row.ID
	}
	b.mu.Unlock()
	b.notify(sortedUnique(woken))
	return out, nil
}

// place puts a new or released job where its run-at says: scheduled, or
// available, in which case it returns its queue to wake. b.mu must be
// held.
func (b *Backend) place(j *job, now time.Time) string {
	if j.row.RunAt.After(now) {
		j.state = pgqueue.StateScheduled
		heap.Push(b.scheduled, j)
		return ""
	}
	j.state = pgqueue.StateAvailable
	b.available.push(j)
	return j.row.Queue
}

// release frees the unique key of a job that finished. b.mu must be held.
func (b *Backend) release(j *job) {
	if j.uniqueKey != "" && b.unique[j.uniqueKey] == j.row.ID {
		delete(b.unique, j.uniqueKey)
	}
	j.uniqueKey = ""
}

// Claim marks up to p.Limit available jobs of p.Queue whose kind is in
// p.Kinds as running, in priority, run-at, ID order, and returns copies of
// them. Each claimed job's attempt goes up by one, its token by one (a
// token is never reused for a job, across dead-lettering and requeueing
// too), its AttemptedAt becomes now and its lease ends p.Lease from now.
// A scheduled job whose run-at has passed is not claimable until PromoteDue
// makes it available, as in Postgres. p.ClientID is kept with the job
// while it runs, for liveness (Holders, RescueGone). Claim returns no jobs and no error
// when none match, p.Limit is not positive or p.Kinds is empty.
func (b *Backend) Claim(ctx context.Context, p pgqueue.ClaimParams) ([]*pgqueue.JobRow, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.paused[p.Queue] {
		return nil, nil
	}
	now := b.now()
	limit, spend := b.allowed(p.Queue, p.Limit, now)
	taken := b.available.take(p.Queue, p.Kinds, limit)
	if len(taken) == 0 {
		return nil, nil
	}
	spend(len(taken))
	out := make([]*pgqueue.JobRow, len(taken))
	for i, j := range taken {
		j.state = pgqueue.StateRunning
		j.row.Attempt++
		j.row.Token++
		j.row.AttemptedAt = now
		j.row.LeaseUntil = now.Add(p.Lease)
		j.claimedBy = p.ClientID
		b.running[j.row.ID] = j
		out[i] = j.rowCopy()
	}
	return out, nil
}

// held returns the running job that ref names, or nil when the job is not
// running under ref's token. b.mu must be held.
func (b *Backend) held(ref pgqueue.JobRef) *job {
	j := b.running[ref.ID]
	if j == nil || j.row.Token != ref.Token {
		return nil
	}
	return j
}

func leaseLost(op string, ref pgqueue.JobRef) error {
	return fmt.Errorf("memqueue: %s job %d (token %d): %w", op, ref.ID, ref.Token, pgqueue.ErrLeaseLost)
}

// Complete removes the running jobs that refs name, and returns, in the
// order given, the refs whose job was not running under that token (lease
// lost, or finished already). A ref given twice is lost the second time.
func (b *Backend) Complete(ctx context.Context, refs []pgqueue.JobRef) (lost []pgqueue.JobRef, err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b.mu.Lock()
	var woken []string
	for _, ref := range refs {
		if b.held(ref) == nil {
			lost = append(lost, ref)
			continue
		}
		j := b.running[ref.ID]
		b.release(j)
		delete(b.running, ref.ID)
		woken = append(woken, b.completeTask(j, nil)...)
	}
	b.mu.Unlock()
	b.notify(sortedUnique(woken))
	return lost, nil
}

// Reschedule puts the running job ref names back in its queue: available
// at once (run-at now) when p.Delay <= 0, else scheduled p.Delay from now.
// p.Error, when set, is appended to the job's errors; p.RefundAttempt takes
// back the attempt its claim counted; p.KeepRunAt keeps the job's run time
// when it goes back available. The lease is cleared; the token is
// kept, so the next claim gets a new one. The queue is woken when the job
// became available. It returns an error matching pgqueue.ErrLeaseLost, and
// changes nothing, when the job is not running under ref's token.
func (b *Backend) Reschedule(ctx context.Context, ref pgqueue.JobRef, p pgqueue.RescheduleParams) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	j := b.held(ref)
	if j == nil {
		b.mu.Unlock()
		return leaseLost("reschedule", ref)
	}
	now := b.now()
	delete(b.running, ref.ID)
	if p.Error != nil {
		j.row.Errors = append(j.row.Errors, *p.Error)
	}
	if p.RefundAttempt && j.row.Attempt > 0 {
		j.row.Attempt--
	}
	j.row.LeaseUntil = time.Time{}
	var woken []string
	if p.Delay <= 0 {
		j.state = pgqueue.StateAvailable
		if !p.KeepRunAt {
			j.row.RunAt = now
		}
		b.available.push(j)
		woken = []string{j.row.Queue}
	} else {
		j.state = pgqueue.StateScheduled
		j.row.RunAt = now.Add(p.Delay)
		heap.Push(b.scheduled, j)
	}
	b.mu.Unlock()
	b.notify(woken)
	return nil
}

// DeadLetter moves the running job ref names to the dead-letter store with
// errInfo appended to its errors and DiedAt now. It keeps the job's ID and
// token, so a later RequeueDead and claim continue its token sequence. It
// returns an error matching pgqueue.ErrLeaseLost, and changes nothing, when
// the job is not running under ref's token.
func (b *Backend) DeadLetter(ctx context.Context, ref pgqueue.JobRef, errInfo pgqueue.AttemptError) error {
	return b.deadLetter(ctx, ref, errInfo, nil)
}

// deadLetter is DeadLetter that also keeps output with the dead letter.
func (b *Backend) deadLetter(ctx context.Context, ref pgqueue.JobRef, errInfo pgqueue.AttemptError, output json.RawMessage) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	j := b.held(ref)
	if j == nil {
		return leaseLost("dead-letter", ref)
	}
	j.row.Errors = append(j.row.Errors, errInfo)
	if output != nil {
		j.output = bytes.Clone(output)
	}
	b.kill(j, b.now())
	return nil
}

// kill moves running job j to the dead-letter store. b.mu must be held.
func (b *Backend) kill(j *job, now time.Time) {
	b.release(j)
	delete(b.running, j.row.ID)
	j.state = pgqueue.StateDead
	j.row.LeaseUntil = time.Time{}
	j.diedAt = now
	b.dead[j.row.ID] = j
}

// Heartbeat extends to lease from now the leases of the running jobs refs
// name, expired or not as long as no Rescue took them, and returns, in the
// order given, the refs whose job was not running under that token.
func (b *Backend) Heartbeat(ctx context.Context, refs []pgqueue.JobRef, lease time.Duration) (lost []pgqueue.JobRef, err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	until := b.now().Add(lease)
	for _, ref := range refs {
		j := b.held(ref)
		if j == nil {
			lost = append(lost, ref)
			continue
		}
		j.row.LeaseUntil = until
	}
	return lost, nil
}

// PromoteDue makes every scheduled job whose run-at is not after now
// available, keeping its run-at, and wakes the queues it touched. The
// result lists those queues once each, sorted, and says how long until the
// earliest job still scheduled falls due (HasNext false when none is).
func (b *Backend) PromoteDue(ctx context.Context) (pgqueue.PromoteResult, error) {
	if err := ctx.Err(); err != nil {
		return pgqueue.PromoteResult{}, err
	}
	b.mu.Lock()
	now := b.now()
	var touched []string
	for j := b.scheduled.peek(); j != nil && !j.row.RunAt.After(now); j = b.scheduled.peek() {
		heap.Pop(b.scheduled)
		j.state = pgqueue.StateAvailable
		b.available.push(j)
		touched = append(touched, j.row.Queue)
	}
	res := pgqueue.PromoteResult{Queues: sortedUnique(touched)}
	if next := b.scheduled.peek(); next != nil {
		res.NextIn, res.HasNext = next.row.RunAt.Sub(now), true
	}
	b.mu.Unlock()
	b.notify(res.Queues)
	return res, nil
}

// Rescue handles the running jobs whose lease ended before now. Each gets
// errInfo appended to its errors, with errInfo.Attempt set to the job's
// attempt. A job that has used all its attempts (attempt >= max attempts)
// is dead-lettered; the others become available again at once (run-at
// now, token kept so the stale holder stays fenced out) and their queues
// are woken. The result counts both and lists the queues that received
// available jobs, once each, sorted. Calls are serialized by the Backend's
// lock, so one never sees another in progress.
func (b *Backend) Rescue(ctx context.Context, errInfo pgqueue.AttemptError) (pgqueue.RescueResult, error) {
	if err := ctx.Err(); err != nil {
		return pgqueue.RescueResult{}, err
	}
	return b.rescueWhere(errInfo, func(j *job, now time.Time) bool { return j.row.LeaseUntil.Before(now) }), nil
}

// rescueWhere gives back the running jobs that match, as Rescue describes:
// each gets errInfo appended (with its attempt), a job out of attempts is
// dead-lettered, the others become available at once and their queues are
// woken. It takes the Backend's lock.
func (b *Backend) rescueWhere(errInfo pgqueue.AttemptError, match func(j *job, now time.Time) bool) pgqueue.RescueResult {
	b.mu.Lock()
	now := b.now()
	var expired []*job
	for _, j := range b.running {
		if match(j, now) {
			expired = append(expired, j)
		}
	}
	// Map order is random; ID order keeps results and errors repeatable.
	slices.SortFunc(expired, func(a, b *job) int { return cmp.Compare(a.row.ID, b.row.ID) })
	var res pgqueue.RescueResult
	var woken []string
	for _, j := range expired {
		info := errInfo
		info.Attempt = j.row.Attempt
		j.row.Errors = append(j.row.Errors, info)
		if j.row.Attempt >= j.row.MaxAttempts {
			b.kill(j, now)
			res.DeadLettered++
			continue
		}
		delete(b.running, j.row.ID)
		j.state = pgqueue.StateAvailable
		j.row.RunAt = now
		j.row.LeaseUntil = time.Time{}
		b.available.push(j)
		woken = append(woken, j.row.Queue)
		res.Requeued++
	}
	res.Queues = sortedUnique(woken)
	b.mu.Unlock()
	b.notify(res.Queues)
	return res
}
