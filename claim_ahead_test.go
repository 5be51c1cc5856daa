package pgqueue_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgqueue/pgqueue"
	"github.com/pgqueue/pgqueue/internal/pgtest"
)

// claimSizeBackend is a real Postgres backend that notes the largest claim
// it answered.
type claimSizeBackend struct {
	*pgqueue.PostgresBackend
	largest atomic.Int64
}

func (b *claimSizeBackend) Claim(ctx context.Context, p pgqueue.ClaimParams) ([]*pgqueue.JobRow, error) {
	rows, err := b.PostgresBackend.Claim(ctx, p)
	for n := int64(len(rows)); ; {
		old := b.largest.Load()
		if n <= old || b.largest.CompareAndSwap(old, n) {
			break
		}
	}
	return rows, err
}

// A queue whose jobs finish fast claims further ahead than MaxWorkers, up
// to 8 × MaxWorkers, so that a drain claims in batches larger than the
// floor allows; and never more than that.
func TestFastQueueClaimsFurtherAhead(t *testing.T) {
	t.Parallel()
	b := &claimSizeBackend{PostgresBackend: pgtest.Backend(t)}
	const workers, jobs = 8, 20000
	producer, err := pgqueue.New(b, pgqueue.Config{})
	require.NoError(t, err)
	ctx := context.Background()
	for from := 0; from < jobs; from += 1000 {
		batch := make([]pgqueue.EnqueueRequest, 1000)
		for i := range batch {
			batch[i] = pgqueue.EnqueueRequest{Args: pingArgs{Seq: from + i}}
		}
		_, err := producer.EnqueueMany(ctx, batch)
		require.NoError(t, err)
	}
	var ran atomic.Int64
	startClient(t, b, pgqueue.Config{Queues: map[string]pgqueue.QueueConfig{pgqueue.DefaultQueue: {MaxWorkers: workers}}},
		func(ctx context.Context, j *pgqueue.Job[pingArgs]) error {
			ran.Add(1)
			return nil
		})
	require.Eventually(t, func() bool { return ran.Load() >= jobs }, 2*time.Minute, 10*time.Millisecond,
		"all %d no-op jobs should run", jobs)
	largest := b.largest.Load()
	require.Greater(t, largest, int64(2*workers),
		"a drain of no-op jobs should claim more than its %d workers plus the %d they claim ahead at rest; its largest claim was %d rows", workers, workers, largest)
	require.LessOrEqual(t, largest, int64(workers+8*workers),
		"a queue claims at most its %d workers plus 8 × that ahead; a claim took %d rows", workers, largest)
}
