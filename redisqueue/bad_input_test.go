package redisqueue_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/pgqueue/pgqueue"
	"github.com/pgqueue/pgqueue/internal/redistest"
	"github.com/pgqueue/pgqueue/redisqueue"
)

// Two backends on one database must never share a key: prefix "P" with
// queue "tenant:mail" and prefix "P:tenant" with queue "mail" used to map
// to the same hash tag, so the second job was silently never stored.
// Either New refuses the second prefix, or both jobs are stored.
func TestPrefixesNeverShareKeys(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	first := redistest.Backend(t)
	second, err := redisqueue.New(first.Client(), &redisqueue.Options{Prefix: first.Prefix() + ":tenant"})
	if err != nil {
		require.ErrorIs(t, err, pgqueue.ErrInvalidConfig, "a refused prefix is a configuration error")
		require.Contains(t, err.Error(), ":", "the error names the separator")
		return
	}
	job := func(queue string) []pgqueue.InsertParams {
		return []pgqueue.InsertParams{{Kind: "k", Queue: queue, Args: []byte(`{}`), MaxAttempts: 1}}
	}
	_, err = first.Insert(ctx, job("tenant:mail"))
	require.NoError(t, err)
	_, err = second.Insert(ctx, job("mail"))
	if err == nil {
		rows, err := second.Claim(ctx, pgqueue.ClaimParams{Queue: "mail", Kinds: []string{"k"}, Limit: 10, Lease: time.Minute})
		require.NoError(t, err)
		require.Len(t, rows, 1, "the second prefix's job must be stored in its own keys")
		rows, err = first.Claim(ctx, pgqueue.ClaimParams{Queue: "tenant:mail", Kinds: []string{"k"}, Limit: 10, Lease: time.Minute})
		require.NoError(t, err)
		require.Len(t, rows, 1, "the first prefix's job must be stored in its own keys, untouched by the second")
	}
}

// An insert whose job key exists already (the ID counter went back: it was
// deleted, evicted or restored from an older snapshot) fails, storing
// nothing of its batch, and leaves the existing job as it was.
func TestInsertOverAnExistingJobFails(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := redistest.Backend(t)
	old := insertOne(t, b, "old.kind", time.Time{})
	require.NoError(t, admin(t).Del(ctx, "{"+b.Prefix()+"}:ids").Err())
	ids, err := b.Insert(ctx, []pgqueue.InsertParams{
		{Kind: "new.kind", Queue: pgqueue.DefaultQueue, Args: []byte(`{"new":1}`), MaxAttempts: 1},
		{Kind: "new.kind", Queue: pgqueue.DefaultQueue, Args: []byte(`{"new":2}`), MaxAttempts: 1},
	})
	require.Error(t, err, "an insert that would land on an existing job must fail, not skip it silently (got IDs %v)", ids)
	require.ErrorIs(t, err, pgqueue.ErrDatabase)
	require.Contains(t, err.Error(), "exists already", "the error says an existing job was found")
	kind, err := admin(t).HGet(ctx, jobKey(b, pgqueue.DefaultQueue, old), "kind").Result()
	require.NoError(t, err)
	require.Equal(t, "old.kind", kind, "the existing job is untouched")
	rows, err := b.Claim(ctx, pgqueue.ClaimParams{Queue: pgqueue.DefaultQueue, Kinds: []string{"new.kind"}, Limit: 10, Lease: time.Minute})
	require.NoError(t, err)
	require.Empty(t, rows, "nothing of the failed batch was stored")
}

// scriptSizes records the number of arguments of every script call a
// client sends.
type scriptSizes struct {
	mu   sync.Mutex
	args []int
}

func (s *scriptSizes) DialHook(next redis.DialHook) redis.DialHook { return next }

func (s *scriptSizes) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		s.record(cmd)
		return next(ctx, cmd)
	}
}

func (s *scriptSizes) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, c := range cmds {
			s.record(c)
		}
		return next(ctx, cmds)
	}
}

func (s *scriptSizes) record(cmd redis.Cmder) {
	if name := strings.ToLower(cmd.Name()); name == "evalsha" || name == "eval" {
		s.mu.Lock()
		s.args = append(s.args, len(cmd.Args()))
		s.mu.Unlock()
	}
}

// A huge EnqueueMany must not be one script: Redis runs a script to the
// end while every other client waits (a 400k-job batch was a 4.6s script,
// answering others BUSY). Insert splits a batch into scripts of at most
// redisqueue.InsertChunk jobs; unique keys still hold across chunks.
func TestHugeInsertIsChunked(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	prefix := redistest.Prefix(t)
	c := redistest.Client(t, prefix)
	sizes := &scriptSizes{}
	c.AddHook(sizes)
	b, err := redisqueue.New(c, &redisqueue.Options{Prefix: prefix})
	require.NoError(t, err)

	chunk := redisqueue.InsertChunk
	n := 2*chunk + chunk/2
	jobs := make([]pgqueue.InsertParams, n)
	for i := range jobs {
		jobs[i] = pgqueue.InsertParams{Kind: "bulk", Queue: []string{"a", "b"}[i%2], Args: []byte(fmt.Sprintf(`{"i":%d}`, i)), MaxAttempts: 1}
	}
	// Job 3 and the same queue's job chunk+3 (and 2*chunk+3) share a key,
	// across chunk boundaries; 5 and 7 share one within the first chunk.
	for _, i := range []int{3, chunk + 3, 2*chunk + 3} {
		jobs[i].UniqueKey = "across"
	}
	jobs[5].UniqueKey, jobs[7].UniqueKey = "within", "within"
	res, err := b.InsertUnique(ctx, jobs)
	require.NoError(t, err)
	require.Len(t, res, n)

	sizes.mu.Lock()
	most := 0
	for _, a := range sizes.args {
		most = max(most, a)
	}
	calls := len(sizes.args)
	sizes.mu.Unlock()
	// 8 values per job, plus a fixed head of a few keys and values.
	require.Less(t, most, 8*chunk+64, "one script carried more than InsertChunk (%d) jobs: %d arguments", chunk, most)
	require.GreaterOrEqual(t, calls, 3, "a batch of %d jobs takes at least 3 scripts", n)

	seen := map[int64]bool{}
	var last int64
	for i, r := range res {
		switch i {
		case chunk + 3, 2*chunk + 3:
			require.True(t, r.Duplicate, "job %d repeats job 3's unique key across a chunk boundary", i)
			require.Equal(t, res[3].ID, r.ID, "a duplicate reports the holder's ID")
		case 7:
			require.True(t, r.Duplicate, "job 7 repeats job 5's unique key")
			require.Equal(t, res[5].ID, r.ID)
		default:
			require.False(t, r.Duplicate, "job %d is not a duplicate", i)
			require.False(t, seen[r.ID], "ID %d given twice", r.ID)
			require.Greater(t, r.ID, last, "IDs grow in the order given")
			seen[r.ID], last = true, r.ID
		}
	}
	stored := 0
	for _, q := range []string{"a", "b"} {
		k := "{" + prefix + ":" + q + "}:avail:bulk"
		m, err := admin(t).ZCard(ctx, k).Result()
		require.NoError(t, err)
		stored += int(m)
	}
	require.Equal(t, n-3, stored, "every job but the three duplicates is stored and available")
}

// PurgeDead with a kind filter used to loop for ever when dead-letter
// index members had lost their job hash: the member stayed in the kind's
// set and was read again and again. Dangling members are now removed, and
// the purge ends.
func TestPurgeDeadEndsOnDanglingMembers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := redistest.Backend(t)
	ids := insertN(t, b, 3, time.Time{})
	for _, r := range claimPoison(t, b, time.Minute) {
		require.NoError(t, b.DeadLetter(ctx, r.Ref(), pgqueue.AttemptError{Kind: "error", Error: "boom"}))
	}
	kindSet := queueKey(b, pgqueue.DefaultQueue, "dead:"+poisonKind)
	dangling := make([]redis.Z, 2500)
	for i := range dangling {
		dangling[i] = redisZ(1, fmt.Sprintf("%019d", 1_000_000+i))
	}
	require.NoError(t, admin(t).ZAdd(ctx, kindSet, dangling...).Err())
	require.NoError(t, admin(t).ZAdd(ctx, queueKey(b, pgqueue.DefaultQueue, "dead"), dangling[:10]...).Err())

	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	n, err := b.PurgeDead(ctx, pgqueue.DeadFilter{Kind: poisonKind})
	require.NoError(t, err, "PurgeDead must end (it looped on dangling members before)")
	require.Equal(t, len(ids), n, "the three real dead jobs are purged; dangling members are not jobs")
	left, err := admin(t).ZCard(ctx, kindSet).Result()
	require.NoError(t, err)
	require.Zero(t, left, "dangling members are removed from the kind's dead-letter set")
	left, err = admin(t).ZCard(ctx, queueKey(b, pgqueue.DefaultQueue, "dead")).Result()
	require.NoError(t, err)
	require.Zero(t, left, "dangling members are removed from the queue's dead-letter set too")
}

// A NUL byte in a worker's error text is stored and read back intact on
// every path that writes an error: reschedule (read back by the next
// claim), dead-letter and rescue (read back by ListDead).
func TestErrorTextWithNULRoundTrips(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := redistest.Backend(t)
	const text = "before\x00after \x01\xff"
	const valid = "before\x00after \x01\ufffd" // JSON turns invalid UTF-8 into U+FFFD
	insertN(t, b, 2, time.Time{})
	rows := claimPoison(t, b, time.Minute)
	require.Len(t, rows, 2)
	require.NoError(t, b.Reschedule(ctx, rows[0].Ref(), pgqueue.RescheduleParams{Error: &pgqueue.AttemptError{Attempt: 1, Kind: "error", Error: text}}))
	require.NoError(t, b.DeadLetter(ctx, rows[1].Ref(), pgqueue.AttemptError{Attempt: 1, Kind: "error", Error: text}))

	again := claimPoison(t, b, 20*time.Millisecond)
	require.Len(t, again, 1)
	require.Len(t, again[0].Errors, 1)
	require.Equal(t, valid, again[0].Errors[0].Error, "the rescheduled job's error keeps its NUL byte")
	waitUntil(t, "the lease to expire and be rescued", func() bool {
		res, err := b.Rescue(ctx, pgqueue.AttemptError{Kind: "lease_expired", Error: text})
		require.NoError(t, err)
		return res.Requeued == 1
	})
	last := claimPoison(t, b, time.Minute)
	require.Len(t, last, 1)
	require.Len(t, last[0].Errors, 2)
	require.Equal(t, valid, last[0].Errors[1].Error, "the rescuer's error keeps its NUL byte")

	dead, err := b.ListDead(ctx, pgqueue.DeadFilter{})
	require.NoError(t, err)
	require.Len(t, dead, 1)
	require.Equal(t, valid, dead[0].Errors[0].Error, "the dead job's error keeps its NUL byte")
}
