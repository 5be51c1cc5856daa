package redisqueue

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/pgqueue/pgqueue"
)

// oneServerBackend returns a backend on a fresh prefix of the test Redis
// (PGQUEUE_TEST_REDIS_URL; an internal test cannot use redistest, which
// imports this package), its client, and removes the prefix's keys at the
// end.
func oneServerBackend(t *testing.T, name string) (*Backend, *redis.Client) {
	t.Helper()
	url := os.Getenv("PGQUEUE_TEST_REDIS_URL")
	if url == "" {
		t.Skip("set PGQUEUE_TEST_REDIS_URL to run this test")
	}
	opts, err := redis.ParseURL(url)
	require.NoError(t, err)
	c := redis.NewClient(opts)
	prefix := "pgqt-" + name + "-" + guardToken()
	t.Cleanup(func() {
		ctx := context.Background()
		keys, _ := c.Keys(ctx, "{"+prefix+"[}:]*").Result()
		if len(keys) > 0 {
			_ = c.Del(ctx, keys...).Err()
		}
		_ = c.Close()
	})
	b, err := New(c, &Options{Prefix: prefix})
	require.NoError(t, err)
	require.True(t, b.plain)
	return b, c
}

// storedJob is what a job's insert left in Redis, with the fields that
// differ between two inserts of the same job (its ID, the insert's clock)
// blanked.
type storedJob struct {
	hash       map[string]string
	set        string
	score      float64
	tokenQueue int64
}

func readStoredJob(t *testing.T, c *redis.Client, b *Backend, queue, kind string, id int64) storedJob {
	t.Helper()
	ctx := context.Background()
	q := b.queue(queue)
	h, err := c.HGetAll(ctx, q.tag+":job:"+strconv.FormatInt(id, 10)).Result()
	require.NoError(t, err)
	require.NotEmpty(t, h, "job %d is stored", id)
	token, err := strconv.ParseInt(h["token"], 10, 64)
	require.NoError(t, err)
	s := storedJob{hash: h, tokenQueue: token >> 32}
	m := fmt.Sprintf("%019d", id)
	for _, set := range []string{q.avail(kind), q.sched} {
		if score, err := c.ZScore(ctx, set, m).Result(); err == nil {
			s.set, s.score = set, score
		}
	}
	delete(h, "created_at")
	if s.set == q.avail(kind) {
		// Due now: run-at is the insert's clock, and the score's ms part.
		delete(h, "run_at")
		s.score = float64(int64(s.score) >> 42)
	}
	return s
}

// The one-job path (enqueue_one.lua) stores exactly what the batch path
// (enqueue.lua) stores for the same job: same hash fields and values, same
// set, same score, same token's queue. It is the hot path of Enqueue; the
// batch path is the reference.
func TestInsertOneStoresWhatABatchStores(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b, c := oneServerBackend(t, "insertone")
	future := time.Now().Add(time.Hour).Truncate(time.Microsecond)
	past := time.Unix(1_700_000_000, 123_456_000)
	cases := map[string]pgqueue.InsertParams{
		"due now":       {Kind: "k", Queue: "q1", Args: []byte(`{"a":1}`), MaxAttempts: 25, Priority: 3},
		"due in past":   {Kind: "k", Queue: "q1", Args: []byte(`{"a":2}`), MaxAttempts: 1, RunAt: past},
		"scheduled":     {Kind: "k2", Queue: "q2", Args: []byte(`{}`), MaxAttempts: 5, RunAt: future},
		"with metadata": {Kind: "k", Queue: "q3:sub", Args: []byte(`{}`), MaxAttempts: 2, Metadata: map[string]string{"tenant": "t1"}},
	}
	for name, job := range cases {
		meta, err := validateJobs([]pgqueue.InsertParams{job})
		require.NoError(t, err)
		lean, err := b.insertOne(ctx, job, meta[0])
		require.NoError(t, err, name)
		queues := []string{job.Queue}
		names, groups := byQueue(queues)
		batch, dups, err := b.insertOneTrip(ctx, []pgqueue.InsertParams{job}, meta, names, groups)
		require.NoError(t, err, name)
		require.Empty(t, dups)
		require.Greater(t, batch, lean)
		require.Equal(t, readStoredJob(t, c, b, job.Queue, job.Kind, batch), readStoredJob(t, c, b, job.Queue, job.Kind, lean), name)
	}
	// Through Insert, one job without a unique key takes the one-job path
	// and is claimable like any other.
	ids, err := b.Insert(ctx, []pgqueue.InsertParams{{Kind: "k9", Queue: "q9", Args: []byte(`{"x":1}`), MaxAttempts: 3}})
	require.NoError(t, err)
	rows, err := b.Claim(ctx, pgqueue.ClaimParams{Queue: "q9", Kinds: []string{"k9"}, Limit: 5, Lease: time.Minute})
	require.NoError(t, err)
	require.Len(t, rows, 1)
	require.Equal(t, ids[0], rows[0].ID)
	require.JSONEq(t, `{"x":1}`, string(rows[0].Args))
}

// go-redis resends a script whose reply was lost. A resent one-job insert
// answers the first run's ID and stores nothing more.
func TestInsertOneResendStoresOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b, c := oneServerBackend(t, "insertone-resend")
	q := b.queue("q")
	keys := []string{b.k.ids, b.k.queues, b.k.queueIndex, b.k.insertGuard(guardToken()), q.avail("k"), q.sched}
	args := []any{q.tag, b.channel, "q", "k", 0, `{}`, 1, "", "", time.Minute.Milliseconds()}
	first, err := enqueueOneScript.Run(ctx, c, keys, args...).Int64Slice()
	require.NoError(t, err)
	require.Len(t, first, 2, "the first run answers the ID and the queue's index")
	again, err := enqueueOneScript.Run(ctx, c, keys, args...).Int64Slice()
	require.NoError(t, err)
	require.Equal(t, first[:1], again, "the resend answers the first run's ID")
	n, err := c.ZCard(ctx, q.avail("k")).Result()
	require.NoError(t, err)
	require.Equal(t, int64(1), n, "the job is stored once")
}

// A one-job insert that cannot be stored fails with nothing of the job
// written and its retry guard dropped (so that a resend cannot report it
// stored): a job key that exists already, or a set of the wrong type.
func TestInsertOneFailsWithNothingStored(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b, c := oneServerBackend(t, "insertone-fail")
	job := pgqueue.InsertParams{Kind: "k", Queue: "q", Args: []byte(`{}`), MaxAttempts: 1}
	old, err := b.insertOne(ctx, job, "")
	require.NoError(t, err)
	q := b.queue("q")
	oldKey := q.tag + ":job:" + strconv.FormatInt(old, 10)

	require.NoError(t, c.Del(ctx, b.k.ids).Err())
	_, err = b.Insert(ctx, []pgqueue.InsertParams{{Kind: "other", Queue: "q", Args: []byte(`{"new":1}`), MaxAttempts: 1}})
	require.ErrorIs(t, err, pgqueue.ErrDatabase)
	require.Contains(t, err.Error(), "exists already")
	kind, err := c.HGet(ctx, oldKey, "kind").Result()
	require.NoError(t, err)
	require.Equal(t, "k", kind, "the existing job is untouched")
	n, err := c.Exists(ctx, q.avail("other")).Result()
	require.NoError(t, err)
	require.Zero(t, n, "nothing of the failed job was stored")

	require.NoError(t, c.Set(ctx, q.avail("bad"), "not a zset", 0).Err())
	require.NoError(t, c.Set(ctx, q.sched, "not a zset", 0).Err())
	for _, runAt := range []time.Time{{}, time.Now().Add(time.Hour)} {
		before, err := c.Get(ctx, b.k.ids).Int64()
		require.NoError(t, err)
		_, err = b.Insert(ctx, []pgqueue.InsertParams{{Kind: "bad", Queue: "q", Args: []byte(`{}`), MaxAttempts: 1, RunAt: runAt}})
		require.ErrorIs(t, err, pgqueue.ErrDatabase)
		require.Contains(t, err.Error(), "not a sorted set")
		exists, err := c.Exists(ctx, q.tag+":job:"+strconv.FormatInt(before+1, 10)).Result()
		require.NoError(t, err)
		require.Zero(t, exists, "no job hash is left behind")
		guards, err := c.Keys(ctx, b.k.tag+":insert:*").Result()
		require.NoError(t, err)
		require.Len(t, guards, 1, "only the first insert's guard is left: a failed insert drops its own")
	}
}
