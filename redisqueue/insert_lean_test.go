package redisqueue

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
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

// The lean path (enqueue_lean.lua) stores exactly what the batch path
// (enqueue.lua) stores for the same job: same hash fields and values, same
// set, same score, same token's queue, alone or with others. It is the hot
// path of Enqueue; the batch path is the reference.
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
	var all []pgqueue.InsertParams
	compare := func(name string, jobs []pgqueue.InsertParams) {
		t.Helper()
		meta, err := validateJobs(jobs)
		require.NoError(t, err)
		lean, err := b.insertLean(ctx, jobs, meta)
		require.NoError(t, err, name)
		queues := make([]string, len(jobs))
		for i, j := range jobs {
			queues[i] = j.Queue
		}
		names, groups := byQueue(queues)
		batch, dups, err := b.insertOneTrip(ctx, jobs, meta, names, groups)
		require.NoError(t, err, name)
		require.Empty(t, dups)
		require.Greater(t, batch, lean)
		for i, j := range jobs {
			require.Equal(t, readStoredJob(t, c, b, j.Queue, j.Kind, batch+int64(i)), readStoredJob(t, c, b, j.Queue, j.Kind, lean+int64(i)), "%s: job %d", name, i)
		}
	}
	for name, job := range cases {
		compare(name, []pgqueue.InsertParams{job})
		all = append(all, job)
	}
	compare("several jobs of several queues in one call", append(all, all...))
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
	keys := []string{b.k.ids, b.k.queues, b.k.queueIndex, b.k.insertGuard(guardToken())}
	args := []any{b.channel, time.Minute.Milliseconds(), q.tag, "q", "k", 0, `{}`, 1, "", ""}
	first, err := enqueueLeanScript.Run(ctx, c, keys, args...).Int64Slice()
	require.NoError(t, err)
	require.Len(t, first, 2, "the first run answers the ID and the queue's index")
	again, err := enqueueLeanScript.Run(ctx, c, keys, args...).Int64Slice()
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
	old, err := b.insertLean(ctx, []pgqueue.InsertParams{job}, []string{""})
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

// holdFlights marks every flight of b's coalescer taken, as if that many
// calls were in flight, so that one-job Inserts queue and no call starts
// until the test calls sendPending, which takes one of them over.
func holdFlights(t *testing.T, b *Backend) {
	t.Helper()
	b.co.mu.Lock()
	defer b.co.mu.Unlock()
	require.Zero(t, b.co.flights)
	b.co.flights = maxFlights
}

// queueInserts starts one Insert of one job per element of jobs while the
// backend's flights are held (holdFlights), and returns once all of them
// are queued; sendPending then sends them.
func queueInserts(t *testing.T, b *Backend, jobs []pgqueue.InsertParams) (ids []int64, errs []error, wait func()) {
	t.Helper()
	holdFlights(t, b)
	ids, errs = make([]int64, len(jobs)), make([]error, len(jobs))
	var wg sync.WaitGroup
	for i, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var got []int64
			got, errs[i] = b.Insert(context.Background(), []pgqueue.InsertParams{j})
			if len(got) == 1 {
				ids[i] = got[0]
			}
		}()
	}
	require.Eventually(t, func() bool {
		b.co.mu.Lock()
		defer b.co.mu.Unlock()
		return len(b.co.pending) == len(jobs)
	}, 5*time.Second, time.Millisecond)
	return ids, errs, wg.Wait
}

// One-job inserts that arrive while another is in flight share one call;
// each caller still gets its own job's ID, and one caller's bad job (a set
// of the wrong type) fails that caller alone.
func TestConcurrentInsertsShareACall(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b, c := oneServerBackend(t, "coalesce")
	jobs := make([]pgqueue.InsertParams, 6)
	for i := range jobs {
		jobs[i] = pgqueue.InsertParams{Kind: "k", Queue: []string{"qa", "qb"}[i%2], Args: []byte(`{"n":` + strconv.Itoa(i) + `}`), MaxAttempts: 1}
	}
	jobs[5].RunAt = time.Now().Add(time.Hour)

	ids, errs, wait := queueInserts(t, b, jobs)
	b.sendPending(false)
	wait()
	releaseFlights(t, b)
	for i := range jobs {
		require.NoError(t, errs[i])
	}
	sorted := slices.Clone(ids)
	slices.Sort(sorted)
	for i := range sorted {
		require.Equal(t, sorted[0]+int64(i), sorted[i], "queued inserts share one call: consecutive IDs %v", ids)
	}
	for i, j := range jobs {
		args, err := c.HGet(ctx, b.queue(j.Queue).tag+":job:"+strconv.FormatInt(ids[i], 10), "args").Result()
		require.NoError(t, err)
		require.Equal(t, string(j.Args), args, "caller %d got its own job's ID", i)
	}

	require.NoError(t, c.Set(ctx, b.queue("qbad").avail("k"), "not a zset", 0).Err())
	jobs[2].Queue = "qbad"
	ids, errs, wait = queueInserts(t, b, jobs)
	b.sendPending(false)
	wait()
	for i, j := range jobs {
		if i == 2 {
			require.ErrorIs(t, errs[i], pgqueue.ErrDatabase)
			require.Contains(t, errs[i].Error(), "not a sorted set")
			continue
		}
		require.NoError(t, errs[i], "another caller's bad job does not fail caller %d", i)
		args, err := c.HGet(ctx, b.queue(j.Queue).tag+":job:"+strconv.FormatInt(ids[i], 10), "args").Result()
		require.NoError(t, err)
		require.Equal(t, string(j.Args), args)
	}
	releaseFlights(t, b)
}

// releaseFlights ends the flights holdFlights took that no sendPending
// took over, checking that those that did ended, with nothing queued.
func releaseFlights(t *testing.T, b *Backend) {
	t.Helper()
	b.co.mu.Lock()
	defer b.co.mu.Unlock()
	require.Empty(t, b.co.pending)
	require.Equal(t, maxFlights-1, b.co.flights, "the sender ends when nothing is queued")
	b.co.flights = 0
}

// A caller whose context ends while its job is queued returns at once,
// and its job is not stored.
func TestQueuedInsertCancelled(t *testing.T) {
	t.Parallel()
	b, c := oneServerBackend(t, "coalesce-cancel")
	holdFlights(t, b)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := b.Insert(ctx, []pgqueue.InsertParams{{Kind: "k", Queue: "q", Args: []byte(`{}`), MaxAttempts: 1}})
		done <- err
	}()
	require.Eventually(t, func() bool {
		b.co.mu.Lock()
		defer b.co.mu.Unlock()
		return len(b.co.pending) == 1
	}, 5*time.Second, time.Millisecond)
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
	b.sendPending(false)
	releaseFlights(t, b)
	n, err := c.Exists(context.Background(), b.queue("q").avail("k")).Result()
	require.NoError(t, err)
	require.Zero(t, n, "the cancelled job is not stored")
}

// Many concurrent one-job Inserts: every job is stored once, under the ID
// its caller got.
func TestConcurrentInsertsStress(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b, c := oneServerBackend(t, "coalesce-stress")
	const callers, each = 16, 40
	ids := make([][]int64, callers)
	var wg sync.WaitGroup
	for g := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				got, err := b.Insert(ctx, []pgqueue.InsertParams{{Kind: "k", Queue: "q" + strconv.Itoa(g%3),
					Args: []byte(`{"g":` + strconv.Itoa(g) + `,"i":` + strconv.Itoa(i) + `}`), MaxAttempts: 1}})
				if !assert.NoError(t, err) {
					return
				}
				ids[g] = append(ids[g], got[0])
			}
		}()
	}
	wg.Wait()
	seen := map[int64]bool{}
	for g := range callers {
		require.Len(t, ids[g], each)
		for i, id := range ids[g] {
			require.False(t, seen[id], "ID %d given twice", id)
			seen[id] = true
			args, err := c.HGet(ctx, b.queue("q"+strconv.Itoa(g%3)).tag+":job:"+strconv.FormatInt(id, 10), "args").Result()
			require.NoError(t, err)
			require.Equal(t, `{"g":`+strconv.Itoa(g)+`,"i":`+strconv.Itoa(i)+`}`, args)
		}
	}
	perQueue := map[int]int64{}
	for g := range callers {
		perQueue[g%3] += each
	}
	for q, want := range perQueue {
		n, err := c.ZCard(ctx, b.queue("q"+strconv.Itoa(q)).avail("k")).Result()
		require.NoError(t, err)
		require.Equal(t, want, n, "queue q%d holds each of its jobs once", q)
	}
}

// A sender that is the only flight and finds 2*splitAt inserts queued
// sends half of them and starts a second flight with the rest: two calls,
// each atomic, each caller with its own job's ID.
func TestSplitFlight(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b, c := oneServerBackend(t, "coalesce-split")
	jobs := make([]pgqueue.InsertParams, 2*splitAt)
	for i := range jobs {
		jobs[i] = pgqueue.InsertParams{Kind: "k", Queue: "q", Args: []byte(`{"n":` + strconv.Itoa(i) + `}`), MaxAttempts: 1}
	}
	ids, errs, wait := queueInserts(t, b, jobs)
	b.co.mu.Lock()
	b.co.flights = 1 // the sender below is the only flight
	b.co.mu.Unlock()
	b.sendPending(false)
	wait()
	for i := range jobs {
		require.NoError(t, errs[i])
	}
	sorted := slices.Clone(ids)
	slices.Sort(sorted)
	require.Equal(t, len(sorted), len(slices.Compact(sorted)), "IDs given twice: %v", ids)
	guards, err := c.Keys(ctx, b.k.tag+":insert:*").Result()
	require.NoError(t, err)
	require.Len(t, guards, 2, "two calls, each with its retry guard")
	for i, j := range jobs {
		args, err := c.HGet(ctx, b.queue(j.Queue).tag+":job:"+strconv.FormatInt(ids[i], 10), "args").Result()
		require.NoError(t, err)
		require.Equal(t, string(j.Args), args, "caller %d got its own job's ID", i)
	}
	// The callers have their IDs before the second sender looks for more.
	require.Eventually(t, func() bool {
		b.co.mu.Lock()
		defer b.co.mu.Unlock()
		return len(b.co.pending) == 0 && b.co.flights == 0
	}, 5*time.Second, time.Millisecond, "both flights end when nothing is queued")
}
