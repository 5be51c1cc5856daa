package redisqueue

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/pgqueue/pgqueue"
)

// InsertUnique implements pgqueue.UniqueInserter. It stores jobs as Insert
// does, except that a job whose UniqueKey is held by a waiting (available
// or scheduled) or running job of the same queue, or by an earlier job of
// the same queue in this batch, is not stored: its result is Duplicate,
// with the holder's ID. The check and the insert are one atomic script
// per queue, so concurrent callers cannot both store a key.
//
// A key is held from the insert until its job completes, is
// dead-lettered (by DeadLetter, by Rescue after its last attempt, or as
// corrupt) or is cancelled; a dead job requeued by RequeueDead is no
// longer unique. Jobs without a UniqueKey are always stored.
//
// Limitation: keys are unique per queue, not across queues as on
// Postgres. Each queue's keys live in the queue's own hash {P:Q}:unique,
// in its cluster slot, which is what lets the check be atomic on a Redis
// Cluster; the same key in two queues is held twice. Derived keys made
// with pgqueue.UniqueOpts.ByQueue are per queue anyway.
//
// Errors are those of Insert.
func (b *Backend) InsertUnique(ctx context.Context, jobs []pgqueue.InsertParams) ([]pgqueue.InsertResult, error) {
	return b.insert(ctx, jobs)
}

// CancelJob implements pgqueue.Canceller. The job, if waiting (available
// or scheduled) or running, moves to its queue's dead-letter store with an
// error of kind "cancelled" appended to its history (stamped with its
// attempt), and its unique key is freed. A running job's lease is thereby
// lost: its holder's Complete, Heartbeat, Reschedule and DeadLetter report
// it lost, and the holder is told at once through Listen, which delivers
// pgqueue.CancelMessage(id) to every listener. The job stays in the
// dead-letter store until requeued or purged.
//
// A job ID does not say which queue holds the job, so every known queue
// is asked, in one pipelined round trip; each queue's step is atomic. It
// returns an error wrapping pgqueue.ErrJobNotFound when no queue holds the
// job waiting or running (unknown, completed, or dead already).
func (b *Backend) CancelJob(ctx context.Context, id int64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	tail, err := errorTail(pgqueue.AttemptError{At: time.Now().UTC(), Kind: "cancelled", Error: "cancelled"})
	if err != nil {
		return err
	}
	names, err := b.knownQueues(ctx)
	if err != nil {
		return err
	}
	calls := make([]call, len(names))
	for i, name := range names {
		q := b.queue(name)
		calls[i] = call{s: cancelScript, keys: []string{q.running, q.sched, q.dead},
			args: []any{q.tag, b.channel, id, tail, pgqueue.CancelMessage(id)}}
	}
	cancelled := int64(0)
	if len(calls) > 0 {
		cmds, err := b.runAll(ctx, calls)
		for _, cmd := range cmds {
			n, _ := cmd.Int64()
			cancelled += n
		}
		if err != nil && cancelled == 0 {
			return wrapErr("cancel job", err)
		}
	}
	if cancelled == 0 {
		return fmt.Errorf("redisqueue: cancel job %d: %w", id, pgqueue.ErrJobNotFound)
	}
	return nil
}

// EnqueuePeriodic implements pgqueue.PeriodicEnqueuer. It inserts job (as
// InsertUnique would) as tick of the periodic job name unless that tick or
// a later one was recorded already, in which case it stores nothing and
// returns enqueued false; it also returns false, with the tick recorded,
// when job's unique key is held. The tick record and the job are written
// by one atomic script, so however many clients call it for one tick,
// one job is stored.
//
// The record of name's last tick lives in the job's queue's slot
// ({P:Q}:periodic), next to the job: a periodic job whose queue changes
// between deploys starts a fresh record in the new queue, so one tick may
// then be enqueued in both. Each call first takes an ID (one round trip
// on the prefix's slot); a call that loses the tick leaves it unused.
//
// Errors are those of Insert.
func (b *Backend) EnqueuePeriodic(ctx context.Context, name string, tick time.Time, job pgqueue.InsertParams) (int64, bool, error) {
	return b.EnqueuePeriodicNext(ctx, name, tick, time.Time{}, job)
}

// EnqueuePeriodicNext implements pgqueue.PeriodicNextRecorder: it is
// EnqueuePeriodic that, in the same script, records next in the queue's
// {P:Q}:periodic-next hash whenever it records the tick (next zero:
// removes it, unknown).
func (b *Backend) EnqueuePeriodicNext(ctx context.Context, name string, tick, next time.Time, job pgqueue.InsertParams) (int64, bool, error) {
	if err := ctx.Err(); err != nil {
		return 0, false, err
	}
	metadata, err := validateJobs([]pgqueue.InsertParams{job})
	if err != nil {
		return 0, false, err
	}
	id, index, err := b.alloc(ctx, 1, []string{job.Queue})
	if err != nil {
		return 0, false, err
	}
	q := b.queue(job.Queue)
	args := []any{q.tag, b.channel, job.Queue, index[job.Queue], id, name, micros(tick)}
	args = appendJobs(args, []pgqueue.InsertParams{job}, []int{0}, metadata)
	nextArg := ""
	if !next.IsZero() {
		nextArg = strconv.FormatInt(micros(next), 10)
	}
	args = append(args, nextArg)
	out, err := periodicScript.run(ctx, b, []string{q.sched}, args...).Int64Slice()
	if err != nil {
		return 0, false, wrapErr("enqueue periodic job", err)
	}
	if len(out) != 2 {
		return 0, false, wrapErr("enqueue periodic job", fmt.Errorf("unexpected reply %v", out))
	}
	if out[0] != 1 {
		return 0, false, nil
	}
	return out[1], true, nil
}

// SetQueueLimits implements pgqueue.QueueLimiter: it stores queue's global
// limits, which every Claim of the queue, by any client of the prefix,
// keeps from then on, checked inside the claim's atomic script.
// l.MaxRunning caps the queue's running jobs (the size of its running set,
// which counts jobs whose lease ended until Rescue handles them); 0 means
// no cap. l.Rate caps claims per second with a token bucket of Burst
// tokens (default: PerSecond rounded up, at least 1) refilled at
// PerSecond on the Redis server's clock; nil means no cap. A new or
// changed rate starts with a full bucket; the same rate set again (every
// client does at Start) keeps the bucket, so restarts grant no extra
// burst. Zero limits clear them. A paused queue stays paused.
//
// It returns an error wrapping pgqueue.ErrInvalidArgs for a queue name
// that is empty or has '{' or '}', and wrapping pgqueue.ErrInvalidConfig
// for a negative MaxRunning, a PerSecond that is not a positive number or
// a negative Burst.
func (b *Backend) SetQueueLimits(ctx context.Context, queue string, l pgqueue.QueueLimits) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := validQueue(queue); err != nil {
		return err
	}
	l, err := l.Normalize(queue)
	if err != nil {
		return err
	}
	rate, burst := "", ""
	if r := l.Rate; r != nil {
		rate, burst = strconv.FormatFloat(r.PerSecond, 'g', -1, 64), strconv.Itoa(r.Burst)
	}
	q := b.queue(queue)
	err = setLimitsScript.run(ctx, b, []string{q.config}, l.MaxRunning, rate, burst).Err()
	return wrapErr("set queue limits", err)
}

// PauseQueue implements pgqueue.QueuePauser: from now on no Claim, by any
// client of the prefix, takes jobs of queue (the claim script checks the
// flag) until ResumeQueue. Running jobs finish, and Insert still stores
// jobs. Pausing a paused queue keeps its original pause time. It returns
// an error wrapping pgqueue.ErrInvalidArgs for a queue name that is empty
// or has '{' or '}'.
func (b *Backend) PauseQueue(ctx context.Context, queue string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := validQueue(queue); err != nil {
		return err
	}
	q := b.queue(queue)
	err := b.rdb.HSetNX(ctx, q.config, "paused", strconv.FormatInt(time.Now().UnixMicro(), 10)).Err()
	return wrapErr("pause queue", err)
}

// ResumeQueue implements pgqueue.QueuePauser: clients may claim from queue
// again, and, if it was paused, its listeners are woken (Listen). It
// reports whether the queue was paused. Errors are those of PauseQueue.
func (b *Backend) ResumeQueue(ctx context.Context, queue string) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if err := validQueue(queue); err != nil {
		return false, err
	}
	q := b.queue(queue)
	n, err := resumeScript.run(ctx, b, []string{q.config}, b.channel, queue).Int64()
	if err != nil {
		return false, wrapErr("resume queue", err)
	}
	return n == 1, nil
}
