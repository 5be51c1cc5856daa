package pgqueue

// Periodic jobs: Every and Cron schedules, their validation, and the loop
// that enqueues each tick once across clients.

import (
	"context"
	"fmt"
	"time"

	"github.com/robfig/cron/v3"
)

// Schedule says when a periodic job's ticks fall. Every client running
// the same schedule must compute the same ticks: tick times, not clients,
// identify a run.
type Schedule interface {
	// Next returns the first tick strictly after t.
	Next(t time.Time) time.Time
}

// Every returns a Schedule ticking every d, aligned to the Unix epoch
// (every hour on the hour, every 5 minutes on multiples of 5). It returns
// ErrInvalidConfig when d is not positive.
func Every(d time.Duration) (Schedule, error) {
	if d <= 0 {
		return nil, invalidConfig("Every", "interval must be positive, got %v", d)
	}
	return every(d), nil
}

type every time.Duration

func (e every) Next(t time.Time) time.Time {
	return t.Truncate(time.Duration(e)).Add(time.Duration(e))
}

// Cron parses a standard five-field cron expression (minute hour
// day-of-month month day-of-week, or descriptors such as "@hourly"),
// evaluated in UTC unless it starts with "CRON_TZ=Zone ". It returns
// ErrInvalidConfig for an expression that does not parse, and for one that
// never fires (such as "0 0 30 2 *", February 30th).
func Cron(expr string) (Schedule, error) {
	s, err := cron.ParseStandard(expr)
	if err != nil {
		return nil, invalidConfig("Cron", "%q: %v", expr, err)
	}
	// The parser accepts dates that do not exist; Next then returns the
	// zero time, which would make the periodic loop spin.
	if s.Next(time.Now().UTC()).IsZero() {
		return nil, invalidConfig("Cron", "%q never fires (no such date in the next five years)", expr)
	}
	return utcSchedule{s}, nil
}

type utcSchedule struct{ s cron.Schedule }

func (u utcSchedule) Next(t time.Time) time.Time { return u.s.Next(t.UTC()) }

// PeriodicJob enqueues Args on a Schedule. However many clients run it,
// each tick is enqueued exactly once (on Postgres, a row per periodic job
// records the last tick enqueued, updated in the same transaction as the
// job). Ticks missed while no client ran are skipped, not caught up.
type PeriodicJob struct {
	// Name identifies the periodic job across clients and deploys; keep it
	// stable. Required.
	Name string
	// Schedule says when the ticks fall (see Every and Cron). Required.
	Schedule Schedule
	// Args is the payload enqueued at every tick. Required.
	Args Args
	// Options tune every job the periodic job enqueues; nil uses the
	// args' defaults, then the client's.
	Options *EnqueueOptions
	// RunOnStart enqueues the next tick's job as soon as the client
	// starts instead of waiting for it (once across clients; that tick is
	// then not enqueued again).
	RunOnStart bool
}

// PeriodicEnqueuer is an optional Backend interface for periodic jobs.
type PeriodicEnqueuer interface {
	// EnqueuePeriodic inserts job as tick of the periodic job name, unless
	// that tick (or a later one) was already enqueued: then it stores
	// nothing and returns enqueued false. The tick record and the job are
	// stored atomically.
	EnqueuePeriodic(ctx context.Context, name string, tick time.Time, job InsertParams) (id int64, enqueued bool, err error)
}

// PeriodicNextRecorder is an optional interface of a PeriodicEnqueuer
// that also stores, with each tick, the next tick the enqueueing client's
// schedule expects, so that operators see it (PeriodicInfo.NextRun): the
// store never knows the schedules themselves.
type PeriodicNextRecorder interface {
	// EnqueuePeriodicNext is EnqueuePeriodic that records next beside
	// tick whenever it records tick (next zero: unknown). It returns the
	// errors EnqueuePeriodic returns.
	EnqueuePeriodicNext(ctx context.Context, name string, tick, next time.Time, job InsertParams) (id int64, enqueued bool, err error)
}

// validatePeriodic checks the periodic jobs at New, so that a bad schedule
// fails at deploy, not at the first tick.
func (c *Client) validatePeriodic() error {
	seen := map[string]bool{}
	for i, p := range c.cfg.Periodic {
		switch {
		case p.Name == "":
			return invalidConfig(fmt.Sprintf("Periodic[%d].Name", i), "required")
		case seen[p.Name]:
			return invalidConfig(fmt.Sprintf("Periodic[%d].Name", i), "%q is used twice", p.Name)
		case p.Schedule == nil:
			return invalidConfig(fmt.Sprintf("Periodic[%d].Schedule", i), "required for %q", p.Name)
		}
		seen[p.Name] = true
		if now := time.Now(); !p.Schedule.Next(now).After(now) {
			return invalidConfig(fmt.Sprintf("Periodic[%d].Schedule", i), "%q never fires: Next(%v) returned %v, not a later time", p.Name, now.Format(time.RFC3339), p.Schedule.Next(now))
		}
		if _, err := c.prepareOne(p.Args, p.Options); err != nil {
			return fmt.Errorf("periodic job %q: %w", p.Name, err)
		}
	}
	if len(c.cfg.Periodic) > 0 {
		if _, ok := c.backend.(PeriodicEnqueuer); !ok {
			return invalidConfig("Periodic", "backend %T does not support periodic jobs", c.backend)
		}
	}
	return nil
}

// periodicLoop enqueues each periodic job at its ticks until Stop.
func (e *engine) periodicLoop(ctx context.Context) {
	pe := e.backend.(PeriodicEnqueuer)
	now := time.Now()
	next := make([]time.Time, len(e.cfg.Periodic))
	// advance sets job i's next tick after t. A schedule that returns no
	// later time (the zero time, or one not after t) would make the loop
	// spin enqueueing the same tick: the job is stopped instead, with an
	// error, and its zero next tick leaves it out of the loop.
	advance := func(i int, t time.Time) {
		p := e.cfg.Periodic[i]
		next[i] = p.Schedule.Next(t)
		if !next[i].After(t) {
			e.c.log.Error("pgqueue: periodic job's schedule returned no later tick; it is not enqueued again until the client restarts",
				"name", p.Name, "after", t, "next", next[i])
			next[i] = time.Time{}
		}
	}
	for i, p := range e.cfg.Periodic {
		advance(i, now)
		if p.RunOnStart && !next[i].IsZero() {
			e.enqueueTick(pe, p, next[i])
		}
	}
	for {
		soonest := -1
		for i := range next {
			if !next[i].IsZero() && (soonest < 0 || next[i].Before(next[soonest])) {
				soonest = i
			}
		}
		if soonest < 0 {
			<-ctx.Done()
			return
		}
		timer := time.NewTimer(time.Until(next[soonest]))
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
		now := time.Now()
		for i, p := range e.cfg.Periodic {
			if !next[i].IsZero() && !next[i].After(now) {
				e.enqueueTick(pe, p, next[i])
				advance(i, now)
			}
		}
	}
}

// nextTick is the tick the loop runs after tick, as the store records it:
// the schedule's next after tick, or after now when the loop is late (the
// loop skips the ticks it missed). It is zero, unknown, when the schedule
// returns no later time.
func nextTick(s Schedule, tick, now time.Time) time.Time {
	after := tick
	if now.After(after) {
		after = now
	}
	next := s.Next(after)
	if !next.After(after) {
		return time.Time{}
	}
	return next.UTC()
}

// enqueuePeriodic calls EnqueuePeriodicNext when pe has it, and
// EnqueuePeriodic (next not recorded) otherwise.
func enqueuePeriodic(ctx context.Context, pe PeriodicEnqueuer, name string, tick, next time.Time, job InsertParams) (int64, bool, error) {
	if nr, ok := pe.(PeriodicNextRecorder); ok {
		return nr.EnqueuePeriodicNext(ctx, name, tick, next, job)
	}
	return pe.EnqueuePeriodic(ctx, name, tick, job)
}

// enqueueTick enqueues one tick of p, retrying briefly on errors.
func (e *engine) enqueueTick(pe PeriodicEnqueuer, p PeriodicJob, tick time.Time) {
	params, err := e.c.prepareOne(p.Args, p.Options)
	if err != nil {
		e.c.log.Error("pgqueue: periodic job refused", "name", p.Name, "err", err)
		return
	}
	if params.RunAt.IsZero() && !tick.After(time.Now()) {
		// Stamping a due job with its tick lets workers (and operators) see
		// which tick a run belongs to. A run-on-start job, whose tick is
		// still ahead, stays due now.
		params.RunAt = tick
	}
	_ = retryWithBackoff(e.loopsCtx, 3, 200*time.Millisecond, nil, func(try int) error {
		ctx, cancel := context.WithTimeout(e.loopsCtx, 10*time.Second)
		id, won, err := enqueuePeriodic(ctx, pe, p.Name, tick.UTC(), nextTick(p.Schedule, tick, time.Now()), params)
		cancel()
		switch {
		case err != nil:
			e.c.log.Warn("pgqueue: enqueueing periodic job failed", "name", p.Name, "tick", tick, "try", try, "err", err)
		case won:
			e.c.log.Info("pgqueue: periodic job enqueued", "name", p.Name, "tick", tick, "id", id)
			e.wakeQueues(params.Queue)
		}
		return err
	})
}
