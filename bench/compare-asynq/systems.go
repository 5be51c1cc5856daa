package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/pgqueue/pgqueue"
	"github.com/pgqueue/pgqueue/redisqueue"
)

// system is one queue under test on Redis. Jobs are no-ops identified by
// a sequence number, so that a worker's start can be matched to its
// enqueue.
type system struct {
	// name labels the results: "pgqueue", "asynq(defaults)", ...
	name string
	// enqueue stores one job with one call.
	enqueue func(ctx context.Context, seq int64) error
	// enqueueBatch stores several jobs with one call; nil when the system
	// has no such API.
	enqueueBatch func(ctx context.Context, seqs []int64) error
	// start starts workers that call worked(seq) as each job begins, and
	// returns a function that stops them (waiting for running jobs).
	start func(ctx context.Context, worked func(seq int64)) (stop func(), err error)
	// reset deletes the system's jobs: every run starts on an empty queue.
	reset func(ctx context.Context) error
	// drop deletes every key of the system, at the end.
	drop func(ctx context.Context) error
}

// job is the payload both systems store: {"seq":N}.
type job struct {
	Seq int64 `json:"seq"`
}

// Kind implements pgqueue.Args; it is also asynq's task type.
func (job) Kind() string { return "bench.noop" }

// pgqueueSystem is pgqueue's Redis backend under prefix, its client with
// pgqueue.Config{} (the defaults) except for the queues it works.
func pgqueueSystem(name string, rdb redis.UniversalClient, prefix string, queues []string) (system, error) {
	backend, err := redisqueue.New(rdb, &redisqueue.Options{Prefix: prefix})
	if err != nil {
		return system{}, err
	}
	enq, err := pgqueue.New(backend, pgqueue.Config{})
	if err != nil {
		return system{}, err
	}
	// Jobs go round-robin over the queues, by sequence number.
	opts := make([]*pgqueue.EnqueueOptions, len(queues))
	for i, q := range queues {
		opts[i] = &pgqueue.EnqueueOptions{Queue: q}
	}
	pick := func(seq int64) *pgqueue.EnqueueOptions { return opts[seq%int64(len(opts))] }
	return system{
		name: name,
		enqueue: func(ctx context.Context, seq int64) error {
			_, err := enq.Enqueue(ctx, job{Seq: seq}, pick(seq))
			return err
		},
		enqueueBatch: func(ctx context.Context, seqs []int64) error {
			reqs := make([]pgqueue.EnqueueRequest, len(seqs))
			for i, s := range seqs {
				reqs[i] = pgqueue.EnqueueRequest{Args: job{Seq: s}, Options: pick(s)}
			}
			_, err := enq.EnqueueMany(ctx, reqs)
			return err
		},
		start: func(ctx context.Context, worked func(int64)) (func(), error) {
			cfg := pgqueue.Config{Queues: map[string]pgqueue.QueueConfig{}}
			for _, q := range queues {
				cfg.Queues[q] = pgqueue.QueueConfig{} // default MaxWorkers
			}
			c, err := pgqueue.New(backend, cfg)
			if err != nil {
				return nil, err
			}
			if err := pgqueue.Register(c, pgqueue.WorkFunc[job](func(_ context.Context, j *pgqueue.Job[job]) error {
				worked(j.Args.Seq)
				return nil
			})); err != nil {
				return nil, err
			}
			if err := c.Start(ctx); err != nil {
				return nil, err
			}
			return func() {
				sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				_ = c.Stop(sctx)
			}, nil
		},
		drop: func(ctx context.Context) error { return deleteMatching(ctx, rdb, "{"+prefix+"[}:]*") },
		reset: func(ctx context.Context) error {
			// The ID counter is put back after the keys are gone, as
			// in a store that never loses it: a cluster client keeps a
			// block of IDs it reserved, and a counter started again
			// would hand those out once more.
			ids := "{" + prefix + "}:ids"
			n, err := rdb.Get(ctx, ids).Int64()
			if err != nil && !errors.Is(err, redis.Nil) {
				return err
			}
			if err := deleteMatching(ctx, rdb, "{"+prefix+"[}:]*"); err != nil {
				return err
			}
			if n > 0 {
				return rdb.Set(ctx, ids, n, 0).Err()
			}
			return nil
		},
	}, nil
}

// asynqVariant is one asynq server configuration; zero values keep
// asynq's defaults.
type asynqVariant struct {
	name              string
	concurrency       int
	taskCheckInterval time.Duration
}

var (
	// asynqDefaults is asynq.Config{} apart from the queue name: as many
	// workers as CPUs (2 here), a 1s check for new tasks when idle.
	asynqDefaults = asynqVariant{name: "asynq(defaults)"}
	// asynqTuned uses the two settings asynq documents for throughput and
	// latency: Concurrency ("maximum number of concurrent processing of
	// tasks"; its examples use 10, we give it 100 like pgqueue's default
	// MaxWorkers) and TaskCheckInterval ("interval between checks for new
	// tasks to process when all queues are empty", default 1s; 1ms here).
	asynqTuned = asynqVariant{name: "asynq(tuned)", concurrency: 100, taskCheckInterval: time.Millisecond}
)

// asynqSystem is asynq on rdb, its tasks in queue (a name of its own, so
// that the run never touches another asynq user's keys).
func asynqSystem(v asynqVariant, rdb redis.UniversalClient, queue string) system {
	client := asynq.NewClientFromRedisClient(rdb)
	dropKeys := func(ctx context.Context) error { return deleteMatching(ctx, rdb, "asynq:{"+queue+"}*") }
	task := func(seq int64) *asynq.Task {
		b, _ := json.Marshal(job{Seq: seq})
		return asynq.NewTask(job{}.Kind(), b)
	}
	return system{
		name: v.name,
		enqueue: func(ctx context.Context, seq int64) error {
			_, err := client.EnqueueContext(ctx, task(seq), asynq.Queue(queue))
			return err
		},
		// asynq has no batch enqueue: Client.Enqueue stores one task per
		// call (task groups aggregate on the server side, after enqueue).
		enqueueBatch: nil,
		start: func(ctx context.Context, worked func(int64)) (func(), error) {
			srv := asynq.NewServerFromRedisClient(rdb, asynq.Config{
				Concurrency:       v.concurrency,
				TaskCheckInterval: v.taskCheckInterval,
				Queues:            map[string]int{queue: 1},
				LogLevel:          asynq.ErrorLevel,
			})
			mux := asynq.NewServeMux()
			mux.HandleFunc(job{}.Kind(), func(_ context.Context, t *asynq.Task) error {
				var j job
				if err := json.Unmarshal(t.Payload(), &j); err != nil {
					return err
				}
				worked(j.Seq)
				return nil
			})
			if err := srv.Start(mux); err != nil {
				return nil, err
			}
			return srv.Shutdown, nil
		},
		reset: dropKeys,
		drop: func(ctx context.Context) error {
			if err := dropKeys(ctx); err != nil {
				return err
			}
			// asynq also lists every queue it saw in one global set.
			return rdb.SRem(ctx, "asynq:queues", queue).Err()
		},
	}
}

// deleteMatching deletes the keys matching pattern with SCAN and DEL, on
// every primary of a cluster.
func deleteMatching(ctx context.Context, rdb redis.UniversalClient, pattern string) error {
	del := func(ctx context.Context, c *redis.Client) error {
		iter := c.Scan(ctx, 0, pattern, 1000).Iterator()
		var keys []string
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		if err := iter.Err(); err != nil {
			return err
		}
		for len(keys) > 0 {
			n := min(len(keys), 500)
			pipe := c.Pipeline()
			for _, k := range keys[:n] {
				pipe.Del(ctx, k)
			}
			if _, err := pipe.Exec(ctx); err != nil {
				return err
			}
			keys = keys[n:]
		}
		return nil
	}
	switch c := rdb.(type) {
	case *redis.ClusterClient:
		return c.ForEachMaster(ctx, del)
	case *redis.Client:
		return del(ctx, c)
	}
	return fmt.Errorf("unsupported client %T", rdb)
}
