package redisqueue_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/pgqueue/pgqueue"
	"github.com/pgqueue/pgqueue/internal/redistest"
	"github.com/pgqueue/pgqueue/queuetest"
	"github.com/pgqueue/pgqueue/redisqueue"
)

// TestConformance runs the shared backend suite on Redis, each behaviour
// under its own key prefix.
func TestConformance(t *testing.T) {
	t.Parallel()
	queuetest.Run(t, queuetest.Harness{
		UniquePerQueue: true, // see the package doc: keys live in the queue's hash slot
		NewBackend:     func(t testing.TB) pgqueue.Backend { return redistest.Backend(t) },
		// A job key that no longer holds a hash, as a bug or a stray write
		// could leave it: the queuetest jobs are in queue "default".
		Poison: func(t testing.TB, b pgqueue.Backend, id int64) {
			t.Helper()
			rb := b.(*redisqueue.Backend)
			if err := admin(t).Set(context.Background(), jobKey(rb, pgqueue.DefaultQueue, id), "not a hash", 0).Err(); err != nil {
				t.Fatalf("poison job %d: %v", id, err)
			}
		},
	})
}

// TestConformanceAcrossInstances runs the suite with the calls that take
// a JobRef made on a second Backend instance over the same prefix, as a
// second process would: it has never inserted into any queue, so it must
// read the queue registry in Redis to find the queue a token names.
func TestConformanceAcrossInstances(t *testing.T) {
	t.Parallel()
	queuetest.Run(t, queuetest.Harness{
		UniquePerQueue: true, // see the package doc: keys live in the queue's hash slot
		NewBackend: func(t testing.TB) pgqueue.Backend {
			first := redistest.Backend(t)
			other, err := redisqueue.New(first.Client(), &redisqueue.Options{Prefix: first.Prefix()})
			require.NoError(t, err)
			return twoInstances{Backend: first, other: other}
		},
	})
}

func TestNewRefusesBadConfig(t *testing.T) {
	t.Parallel()
	_, err := redisqueue.New(nil, nil)
	require.ErrorIs(t, err, pgqueue.ErrInvalidConfig, "a nil client must be refused")
	c := redistest.Client(t, "pgqt-new")
	_, err = redisqueue.New(c, &redisqueue.Options{Prefix: "a{b}"})
	require.ErrorIs(t, err, pgqueue.ErrInvalidConfig, "a prefix with braces would break the hash tags")
	ring := redis.NewRing(&redis.RingOptions{Addrs: map[string]string{"a": "localhost:1"}})
	defer ring.Close()
	_, err = redisqueue.New(ring, nil)
	require.ErrorIs(t, err, pgqueue.ErrInvalidConfig, "a Ring would lose wake-ups between shards")
	b, err := redisqueue.New(c, nil)
	require.NoError(t, err)
	require.Equal(t, redisqueue.DefaultPrefix, b.Prefix(), "the default prefix")
}

// Insert refuses, storing nothing, jobs it cannot keep: an empty kind, a
// queue name that would break the hash tag, a priority out of range, a
// unique key longer than 512 bytes.
func TestInsertRefusesBadJobs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := redistest.Backend(t)
	good := pgqueue.InsertParams{Kind: "k", Queue: "q", Priority: 5, Args: []byte(`{}`), MaxAttempts: 1}
	for name, mutate := range map[string]func(p *pgqueue.InsertParams){
		"empty kind":           func(p *pgqueue.InsertParams) { p.Kind = "" },
		"empty queue":          func(p *pgqueue.InsertParams) { p.Queue = "" },
		"queue with a brace":   func(p *pgqueue.InsertParams) { p.Queue = "a}b" },
		"negative priority":    func(p *pgqueue.InsertParams) { p.Priority = -1 },
		"priority above range": func(p *pgqueue.InsertParams) { p.Priority = redisqueue.MaxPriority + 1 },
		"long unique key":      func(p *pgqueue.InsertParams) { p.UniqueKey = strings.Repeat("k", 513) },
	} {
		bad := good
		mutate(&bad)
		ids, err := b.Insert(ctx, []pgqueue.InsertParams{good, bad})
		require.ErrorIs(t, err, pgqueue.ErrInvalidArgs, "Insert with %s", name)
		require.Empty(t, ids)
	}
	rows, err := b.Claim(ctx, pgqueue.ClaimParams{Queue: "q", Kinds: []string{"k"}, Limit: 10, Lease: time.Minute})
	require.NoError(t, err)
	require.Empty(t, rows, "a refused batch stores nothing, not even its good jobs")
	keys, err := redistest.Keys(ctx, admin(t), b.Prefix())
	require.NoError(t, err)
	require.Empty(t, keys, "a refused batch writes no key")
}

// The Client refuses transactional enqueue on this backend: Redis cannot
// take part in a Postgres transaction.
func TestEnqueueTxUnsupported(t *testing.T) {
	t.Parallel()
	c, err := pgqueue.New(redistest.Backend(t), pgqueue.Config{})
	require.NoError(t, err)
	_, err = c.EnqueueTx(context.Background(), nil, pingArgs{Seq: 1}, nil)
	require.ErrorIs(t, err, pgqueue.ErrTxUnsupported, "EnqueueTx on Redis")
	_, err = c.EnqueueManyTx(context.Background(), nil, []pgqueue.EnqueueRequest{{Args: pingArgs{Seq: 1}}})
	require.ErrorIs(t, err, pgqueue.ErrTxUnsupported, "EnqueueManyTx on Redis")
}

// pingArgs is the payload of the Redis-specific tests and benchmarks.
type pingArgs struct {
	Seq int `json:"seq"`
}

func (pingArgs) Kind() string { return "redisqueue.ping" }
