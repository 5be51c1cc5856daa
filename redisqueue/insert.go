package redisqueue

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/pgqueue/pgqueue"
)

// insertGuardTTL is how long the retry guard of a one-round-trip Insert
// lives: longer than go-redis's retries of one call take with its default
// timeouts (three tries, each up to a 3s read timeout plus backoff).
const insertGuardTTL = 30 * time.Second

// Insert stores jobs and returns their IDs in the order given. IDs come
// from one counter per prefix, so they are unique across every queue and
// grow in insertion order. A job whose RunAt is zero or not after the
// Redis server's clock is stored available and its queue woken; the others
// are scheduled. A RunAt before 1970 is stored as 1970. Metadata is kept
// with the job (as a JSON object) and returned by every claim and by
// ListDead.
//
// On a plain or failover client the whole batch, whatever its queues, is
// stored in one atomic script and one round trip; a retry of that script
// by go-redis after a lost reply returns the first run's IDs rather than
// storing the batch twice. On a cluster client, IDs are allocated first
// (one script on the prefix's slot) and each queue's jobs are then stored
// atomically by a script on the queue's slot, all queues in one pipelined
// round trip: if Insert returns an error, the jobs of some queues may have
// been stored and will run.
//
// It returns an error wrapping pgqueue.ErrInvalidArgs, storing nothing, for
// an empty kind, a queue name that is empty or has '{' or '}', a priority
// outside 0..MaxPriority, or a UniqueKey (unique jobs are not supported).
func (b *Backend) Insert(ctx context.Context, jobs []pgqueue.InsertParams) ([]int64, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(jobs) == 0 {
		return nil, nil
	}
	queues := make([]string, len(jobs))
	// metadata holds each job's metadata as a JSON object, "" for none.
	metadata := make([]string, len(jobs))
	for i, j := range jobs {
		if j.Kind == "" {
			return nil, fmt.Errorf("%w: redisqueue: job %d: empty kind", pgqueue.ErrInvalidArgs, i)
		}
		if err := validQueue(j.Queue); err != nil {
			return nil, fmt.Errorf("job %d: %w", i, err)
		}
		if j.UniqueKey != "" {
			// Unique jobs need pgqueue.UniqueInserter, which this backend
			// does not implement; the Client refuses them before this.
			return nil, fmt.Errorf("%w: redisqueue: job %d: unique jobs are not supported on Redis", pgqueue.ErrInvalidArgs, i)
		}
		if j.Priority < 0 || j.Priority > MaxPriority {
			return nil, fmt.Errorf("%w: redisqueue: job %d: priority %d is outside 0..%d", pgqueue.ErrInvalidArgs, i, j.Priority, MaxPriority)
		}
		queues[i] = j.Queue
		if len(j.Metadata) > 0 {
			raw, err := json.Marshal(j.Metadata)
			if err != nil {
				return nil, fmt.Errorf("%w: redisqueue: job %d: encode metadata: %w", pgqueue.ErrInvalidArgs, i, err)
			}
			metadata[i] = string(raw)
		}
	}
	names, groups := byQueue(queues)

	var first int64
	var err error
	if b.plain {
		first, err = b.insertOneTrip(ctx, jobs, metadata, names, groups)
	} else {
		first, err = b.insertPerQueue(ctx, jobs, metadata, names, groups)
	}
	if err != nil {
		return nil, err
	}
	ids := make([]int64, len(jobs))
	for i := range jobs {
		ids[i] = first + int64(i)
	}
	return ids, nil
}

// appendJobs appends, for each job of a queue, the seven values
// insert_jobs reads (offset in the batch, kind, priority, args, max
// attempts, run-at, metadata).
func appendJobs(args []any, jobs []pgqueue.InsertParams, positions []int, metadata []string) []any {
	for _, i := range positions {
		j := jobs[i]
		runAt := ""
		if !j.RunAt.IsZero() {
			runAt = strconv.FormatInt(micros(j.RunAt), 10)
		}
		args = append(args, i, j.Kind, j.Priority, string(j.Args), j.MaxAttempts, runAt, metadata[i])
	}
	return args
}

// insertOneTrip stores the batch with enqueue.lua: one server holds every
// key, so one script can do it all.
func (b *Backend) insertOneTrip(ctx context.Context, jobs []pgqueue.InsertParams, metadata, names []string, groups map[string][]int) (int64, error) {
	keys := make([]string, 0, 4+len(names))
	keys = append(keys, b.k.ids, b.k.queues, b.k.queueIndex, b.k.insertGuard(guardToken()))
	args := make([]any, 0, 3+3*len(names)+7*len(jobs))
	args = append(args, b.channel, len(jobs), insertGuardTTL.Milliseconds())
	for _, name := range names {
		q := b.queue(name)
		keys = append(keys, q.sched)
		args = append(args, q.tag, name, len(groups[name]))
		args = appendJobs(args, jobs, groups[name], metadata)
	}
	res, err := enqueueScript.Run(ctx, b.rdb, keys, args...).Int64Slice()
	if err != nil {
		return 0, wrapErr("insert jobs", err)
	}
	if len(res) == 0 {
		return 0, wrapErr("insert jobs", fmt.Errorf("empty reply"))
	}
	b.rememberQueues(names, res[1:])
	return res[0], nil
}

// insertPerQueue stores the batch the cluster way: alloc.lua on the
// prefix's slot, then insert.lua on each queue's slot.
func (b *Backend) insertPerQueue(ctx context.Context, jobs []pgqueue.InsertParams, metadata, names []string, groups map[string][]int) (int64, error) {
	allocArgs := make([]any, 0, 1+len(names))
	allocArgs = append(allocArgs, len(jobs))
	for _, name := range names {
		allocArgs = append(allocArgs, name)
	}
	res, err := allocScript.Run(ctx, b.rdb, []string{b.k.ids, b.k.queues, b.k.queueIndex}, allocArgs...).Int64Slice()
	if err != nil {
		return 0, wrapErr("allocate job IDs", err)
	}
	if len(res) != 1+len(names) {
		return 0, wrapErr("allocate job IDs", fmt.Errorf("unexpected reply %v", res))
	}
	first := res[0]
	b.rememberQueues(names, res[1:])
	calls := make([]call, len(names))
	for n, name := range names {
		q := b.queue(name)
		args := make([]any, 0, 5+7*len(groups[name]))
		args = append(args, q.tag, b.channel, name, res[1+n], first)
		calls[n] = call{s: insertScript, keys: []string{q.sched}, args: appendJobs(args, jobs, groups[name], metadata)}
	}
	if _, err := b.runAll(ctx, calls); err != nil {
		return 0, wrapErr("insert jobs", err)
	}
	return first, nil
}

func guardToken() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
