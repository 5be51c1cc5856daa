package redisqueue

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/pgqueue/pgqueue"
)

// The cluster insert path (alloc.lua, then insert.lua per queue and chunk)
// runs on one server as well; forcing it there checks chunking, unique
// keys across chunks, the retry guard and the existing-key error without a
// cluster.
func TestClusterInsertPathOnOneServer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b, c := oneServerBackend(t, "clusterpath")
	b.plain = false

	n := InsertChunk + 10
	jobs := make([]pgqueue.InsertParams, n)
	for i := range jobs {
		jobs[i] = pgqueue.InsertParams{Kind: "k", Queue: "q", Args: []byte(`{}`), MaxAttempts: 1}
	}
	jobs[1].UniqueKey, jobs[InsertChunk+1].UniqueKey = "u", "u"
	res, err := b.InsertUnique(ctx, jobs)
	require.NoError(t, err)
	require.True(t, res[InsertChunk+1].Duplicate, "a unique key repeated in the next chunk is a duplicate")
	require.Equal(t, res[1].ID, res[InsertChunk+1].ID, "the duplicate reports the holder")
	for i := 1; i < n; i++ {
		if i != InsertChunk+1 {
			require.Equal(t, res[0].ID+int64(i), res[i].ID, "cluster-path IDs are consecutive")
		}
	}
	stored, err := c.ZCard(ctx, b.queue("q").avail("k")).Result()
	require.NoError(t, err)
	require.Equal(t, int64(n-1), stored, "every job but the duplicate is stored")

	// A resend of an insert.lua call (its reply lost) answers as the first.
	q := b.queue("q")
	guard := q.insertGuard(guardToken())
	first, index, err := b.alloc(ctx, 1, []string{"q"})
	require.NoError(t, err)
	args := appendJobs([]any{q.tag, b.channel, "q", index["q"], first, time.Minute.Milliseconds()},
		[]pgqueue.InsertParams{{Kind: "k", Queue: "q", Args: []byte(`{}`), MaxAttempts: 1, UniqueKey: "u"}}, []int{0}, []string{""})
	for range 2 {
		out, err := insertScript.Run(ctx, c, []string{q.sched, guard}, args...).Int64Slice()
		require.NoError(t, err, "a resent insert.lua call must answer as the first run, not fail on its own job")
		require.Equal(t, []int64{0, res[1].ID}, out, "the job is a duplicate of the holder, both times")
	}

	// An insert landing on an existing job key fails.
	require.NoError(t, c.Del(ctx, b.k.ids).Err())
	_, err = b.Insert(ctx, jobs[:1])
	require.ErrorIs(t, err, pgqueue.ErrDatabase)
	require.Contains(t, err.Error(), "exists already", "the error names the existing job key")
}

// On a cluster, one-job inserts take their IDs from a block the client
// reserved: the prefix's counter is asked once per block, not per job, and
// two clients inserting in turn never hand out the same ID.
func TestClusterOneJobInsertsTakeIDsFromAReservedBlock(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clients, c := twoClusterPathClients(t, "idblock")
	const perClient = 150
	seen := map[int64]bool{}
	for i := range 2 * perClient {
		ids, err := clients[i%2].Insert(ctx, []pgqueue.InsertParams{{Kind: "k", Queue: "q", Args: []byte(`{}`), MaxAttempts: 1}})
		require.NoError(t, err)
		require.Len(t, ids, 1)
		require.False(t, seen[ids[0]], "insert %d got ID %d, which an earlier insert of either client got already", i, ids[0])
		seen[ids[0]] = true
	}
	counter, err := c.Get(ctx, clients[0].k.ids).Int64()
	require.NoError(t, err)
	require.Equal(t, int64(2*2*clusterIDBlock), counter,
		"each client inserting %d jobs one at a time reserves 2 blocks of %d IDs: the counter is asked once per block, not per job", perClient, clusterIDBlock)
	stored, err := c.ZCard(ctx, clients[0].queue("q").avail("k")).Result()
	require.NoError(t, err)
	require.Equal(t, int64(2*perClient), stored, "every job is stored under its own ID")

	// A batch still gets consecutive IDs of its own, beyond every block.
	batch := make([]pgqueue.InsertParams, 3)
	for i := range batch {
		batch[i] = pgqueue.InsertParams{Kind: "k", Queue: "q", Args: []byte(`{}`), MaxAttempts: 1}
	}
	ids, err := clients[0].Insert(ctx, batch)
	require.NoError(t, err)
	require.Equal(t, []int64{counter + 1, counter + 2, counter + 3}, ids, "a batch's IDs come from the counter, consecutive, after the reserved blocks")
}

// A one-job insert on a cluster that finds its reserved ID taken (the
// counter went back and handed it out again) fails, storing nothing, and
// the client drops the rest of its block: the next insert takes a fresh
// block from the counter instead of the IDs after the taken one.
func TestClusterReserveIsDroppedWhenAnIDIsTaken(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b, c := oneServerBackend(t, "idtaken")
	b.plain = false
	one := []pgqueue.InsertParams{{Kind: "k", Queue: "q", Args: []byte(`{}`), MaxAttempts: 1}}
	ids, err := b.Insert(ctx, one)
	require.NoError(t, err)
	taken := ids[0] + 1
	require.NoError(t, c.HSet(ctx, b.queue("q").tag+":job:"+strconv.FormatInt(taken, 10), "kind", "k").Err())

	_, err = b.Insert(ctx, one)
	require.ErrorIs(t, err, pgqueue.ErrDatabase, "an insert onto an existing job key fails")
	require.Contains(t, err.Error(), "exists already")
	ids, err = b.Insert(ctx, one)
	require.NoError(t, err)
	require.Equal(t, int64(clusterIDBlock+1), ids[0],
		"after the failure the next insert takes a fresh block from the counter (ID %d), not ID %d after the taken one", clusterIDBlock+1, taken+1)
}

// Concurrent one-job inserts on the cluster path, from two clients, refill
// their reserves at once again and again: every ID is still handed out
// once, and every job is stored.
func TestClusterConcurrentOneJobInsertsGetDistinctIDs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clients, c := twoClusterPathClients(t, "idblock-concurrent")
	const goroutines, each = 8, 150
	var mu sync.Mutex
	seen := map[int64]int{}
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := clients[g%2]
			for i := range each {
				queue := []string{"q", "r", "s"}[i%3]
				ids, err := b.Insert(ctx, []pgqueue.InsertParams{{Kind: "k", Queue: queue, Args: []byte(`{}`), MaxAttempts: 1}})
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				seen[ids[0]]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err, "a concurrent one-job insert failed")
	}
	require.Len(t, seen, goroutines*each, "every insert got an ID of its own")
	for id, n := range seen {
		require.Equal(t, 1, n, "ID %d was handed out %d times", id, n)
	}
	var stored int64
	for _, q := range []string{"q", "r", "s"} {
		n, err := c.ZCard(ctx, clients[0].queue(q).avail("k")).Result()
		require.NoError(t, err)
		stored += n
	}
	require.Equal(t, int64(goroutines*each), stored, "every job is stored")
}

// twoClusterPathClients returns two backends on one fresh prefix of the
// test Redis (see oneServerBackend), both forced onto the cluster insert
// path, and their client.
func twoClusterPathClients(t *testing.T, name string) ([]*Backend, *redis.Client) {
	t.Helper()
	first, c := oneServerBackend(t, name)
	second, err := New(c, &Options{Prefix: first.prefix})
	require.NoError(t, err)
	clients := []*Backend{first, second}
	for _, b := range clients {
		b.plain = false // the cluster path, on one server
	}
	return clients, c
}
