package redisqueue_test

import (
	"cmp"
	"context"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgqueue/pgqueue"
	"github.com/pgqueue/pgqueue/internal/redistest"
)

// A claim over several kinds merges their available sets in priority,
// run-at, ID order, whether it takes one job at a time or many at once,
// and a kind listed twice does not make a job claimed twice.
func TestClaimMergesKindsInOrder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	specs := []struct {
		kind     string
		priority int
		ago      time.Duration
	}{
		{"a", 5, 3 * time.Second},
		{"b", 5, 3 * time.Second}, // ties with the first: ID decides
		{"a", 1, 1 * time.Second},
		{"b", 1, 2 * time.Second},
		{"b", 10, 10 * time.Second},
		{"c", 1, 9 * time.Second}, // a kind nobody asks for
		{"a", 5, 3 * time.Second},
		{"b", 2, 0},
	}
	for _, limit := range []int{1, 100} {
		b := redistest.Backend(t)
		params := make([]pgqueue.InsertParams, len(specs))
		for i, s := range specs {
			params[i] = pgqueue.InsertParams{Kind: s.kind, Queue: "q", Priority: s.priority, Args: []byte(`{}`), MaxAttempts: 1, RunAt: base.Add(-s.ago)}
		}
		ids, err := b.Insert(ctx, params)
		require.NoError(t, err)
		var want []int64
		for i, s := range specs {
			if s.kind != "c" {
				want = append(want, ids[i])
			}
		}
		slices.SortFunc(want, func(x, y int64) int {
			sx, sy := specs[x-ids[0]], specs[y-ids[0]]
			return cmp.Or(cmp.Compare(sx.priority, sy.priority), cmp.Compare(sy.ago, sx.ago), cmp.Compare(x, y))
		})
		var got []int64
		for {
			rows, err := b.Claim(ctx, pgqueue.ClaimParams{Queue: "q", Kinds: []string{"b", "a", "b"}, Limit: limit, Lease: time.Minute})
			require.NoError(t, err)
			if len(rows) == 0 {
				break
			}
			for _, r := range rows {
				require.NotEqual(t, "c", r.Kind, "a kind not asked for was claimed")
				got = append(got, r.ID)
			}
		}
		require.Equal(t, want, got, "claim order with Limit %d", limit)
	}
}

// A job's tokens count up by one per claim, across retries, dead-lettering
// and requeue, and their high bits name the job's queue: a token naming
// another or no queue fences the caller out like any stale token.
func TestTokensCountUpAndNameTheQueue(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := redistest.Backend(t)
	ids, err := b.Insert(ctx, []pgqueue.InsertParams{
		{Kind: "k", Queue: "first", Priority: 5, Args: []byte(`{}`), MaxAttempts: 5},
		{Kind: "k", Queue: "second", Priority: 5, Args: []byte(`{}`), MaxAttempts: 5},
	})
	require.NoError(t, err)
	claim := func(q string) *pgqueue.JobRow {
		rows, err := b.Claim(ctx, pgqueue.ClaimParams{Queue: q, Kinds: []string{"k"}, Limit: 1, Lease: time.Minute})
		require.NoError(t, err)
		require.Len(t, rows, 1)
		return rows[0]
	}
	other := claim("second")
	r1 := claim("first")
	require.Equal(t, ids[0], r1.ID)
	require.NotEqual(t, r1.Token>>32, other.Token>>32, "the two queues have different indexes")
	require.Equal(t, int64(1), r1.Token&(1<<32-1), "the first claim is the job's claim 1")

	require.NoError(t, b.Reschedule(ctx, r1.Ref(), pgqueue.RescheduleParams{}))
	r2 := claim("first")
	require.Equal(t, r1.Token+1, r2.Token, "a retry's claim gets the next token")
	require.NoError(t, b.DeadLetter(ctx, r2.Ref(), pgqueue.AttemptError{Kind: "permanent"}))
	n, err := b.RequeueDead(ctx, []int64{r2.ID})
	require.NoError(t, err)
	require.Equal(t, 1, n)
	r3 := claim("first")
	require.Equal(t, r2.Token+1, r3.Token, "tokens keep counting across dead-letter and requeue")

	for name, ref := range map[string]pgqueue.JobRef{
		"the other queue's index": {ID: r3.ID, Token: other.Token&^(1<<32-1) | r3.Token&(1<<32-1)},
		"an index never given":    {ID: r3.ID, Token: 999<<32 | 3},
		"index zero":              {ID: r3.ID, Token: 3},
		"a negative token":        {ID: r3.ID, Token: -r3.Token},
	} {
		lost, err := b.Complete(ctx, []pgqueue.JobRef{ref})
		require.NoError(t, err, name)
		require.Equal(t, []pgqueue.JobRef{ref}, lost, "Complete with %s must report the ref lost", name)
		require.ErrorIs(t, b.Reschedule(ctx, ref, pgqueue.RescheduleParams{}), pgqueue.ErrLeaseLost, name)
		require.ErrorIs(t, b.DeadLetter(ctx, ref, pgqueue.AttemptError{}), pgqueue.ErrLeaseLost, name)
	}
	lost, err := b.Complete(ctx, []pgqueue.JobRef{r3.Ref(), other.Ref()})
	require.NoError(t, err)
	require.Empty(t, lost, "the real holders still hold both jobs")
}
