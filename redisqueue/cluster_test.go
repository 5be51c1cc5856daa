package redisqueue_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgqueue/pgqueue"
	"github.com/pgqueue/pgqueue/internal/redistest"
	"github.com/pgqueue/pgqueue/queuetest"
)

// TestClusterConformance runs the suite through a cluster client, when a
// Redis Cluster is given in PGQUEUE_TEST_REDIS_CLUSTER_ADDRS: every script
// must touch keys of one slot only, or the cluster refuses it.
func TestClusterConformance(t *testing.T) {
	t.Parallel()
	queuetest.Run(t, queuetest.Harness{
		UniquePerQueue: true, // see the package doc: keys live in the queue's hash slot
		NewBackend:     func(t testing.TB) pgqueue.Backend { return redistest.ClusterBackend(t) },
	})
}

// On a cluster, an Insert spanning queues in different slots stores every
// job (each queue's group atomically) and returns IDs in order.
func TestClusterInsertAcrossSlots(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := redistest.ClusterBackend(t)
	var jobs []pgqueue.InsertParams
	queues := []string{"q1", "q2", "q3", "q4", "q5", "q6"}
	for _, q := range queues {
		jobs = append(jobs, pgqueue.InsertParams{Kind: "k", Queue: q, Priority: 5, Args: []byte(`{}`), MaxAttempts: 1})
	}
	ids, err := b.Insert(ctx, jobs)
	require.NoError(t, err)
	for i := 1; i < len(ids); i++ {
		require.Greater(t, ids[i], ids[i-1], "IDs grow in insertion order across queues")
	}
	for i, q := range queues {
		rows, err := b.Claim(ctx, pgqueue.ClaimParams{Queue: q, Kinds: []string{"k"}, Limit: 10, Lease: time.Minute})
		require.NoError(t, err)
		require.Len(t, rows, 1, "queue %s holds its job", q)
		require.Equal(t, ids[i], rows[0].ID)
		lost, err := b.Complete(ctx, []pgqueue.JobRef{rows[0].Ref()})
		require.NoError(t, err)
		require.Empty(t, lost)
	}
}
