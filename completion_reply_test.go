package pgqueue_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/pgqueue/pgqueue"
	"github.com/pgqueue/pgqueue/internal/pgtest"
)

// replyLosingBackend is a real Postgres backend whose first completion
// write commits and then fails as if the connection had died before the
// reply arrived: what a client sees when its connection is cut between
// the server's commit and its answer.
type replyLosingBackend struct {
	*pgqueue.PostgresBackend
	lost atomic.Int32
}

func (b *replyLosingBackend) Complete(ctx context.Context, refs []pgqueue.JobRef) ([]pgqueue.JobRef, error) {
	lost, err := b.PostgresBackend.Complete(ctx, refs)
	if err == nil && b.lost.CompareAndSwap(0, 1) {
		return nil, errors.New("unexpected EOF (the reply of a committed completion, lost)")
	}
	return lost, err
}

// A completion that committed but whose reply was lost is resent; the
// resend finds the job gone. The run is still reported completed, not as
// a lost lease, and the job does not run again.
func TestCompletionWhoseReplyWasLostIsReportedCompleted(t *testing.T) {
	t.Parallel()
	pb := pgtest.Backend(t)
	b := &replyLosingBackend{PostgresBackend: pb}
	ctx := context.Background()
	runs := make(chan int64, 4)
	c := startClient(t, b, pgqueue.Config{ID: "lossy"}, func(ctx context.Context, j *pgqueue.Job[pingArgs]) error {
		runs <- j.ID
		return nil
	})
	sub := c.Subscribe(16)
	defer sub.Close()
	id, err := c.Enqueue(ctx, pingArgs{}, nil)
	require.NoError(t, err)
	require.Equal(t, id, <-runs)
	for {
		select {
		case ev := <-sub.C:
			if ev.Job == nil || ev.Job.ID != id {
				continue
			}
			require.Equal(t, pgqueue.EventCompleted, ev.Kind, "the run whose completion was stored is reported completed (err: %v)", ev.Err)
			require.EqualValues(t, 1, b.lost.Load(), "the first completion's reply was dropped")
			select {
			case again := <-runs:
				t.Fatalf("job %d ran again after its completion was stored", again)
			case <-time.After(500 * time.Millisecond):
			}
			return
		case <-time.After(10 * time.Second):
			t.Fatal("no event for the job within 10s")
		}
	}
}

// Finished names the jobs no longer stored (completed), and not those
// still waiting, running under another lease, or dead-lettered.
func TestFinishedNamesOnlyJobsThatLeftTheStore(t *testing.T) {
	t.Parallel()
	b := pgtest.Backend(t)
	ctx := context.Background()
	ins := make([]pgqueue.InsertParams, 4)
	for i := range ins {
		ins[i] = pgqueue.InsertParams{Kind: "ping", Queue: pgqueue.DefaultQueue, Priority: 5, Args: []byte(`{}`), MaxAttempts: 3}
	}
	res, err := b.Insert(ctx, ins)
	require.NoError(t, err)
	rows, err := b.Claim(ctx, pgqueue.ClaimParams{Queue: pgqueue.DefaultQueue, Kinds: []string{"ping"}, Limit: 3, Lease: time.Minute, ClientID: "x"})
	require.NoError(t, err)
	require.Len(t, rows, 3)
	completed, running, dead := rows[0].Ref(), rows[1].Ref(), rows[2].Ref()
	lost, err := b.Complete(ctx, []pgqueue.JobRef{completed})
	require.NoError(t, err)
	require.Empty(t, lost)
	require.NoError(t, b.DeadLetter(ctx, dead, pgqueue.AttemptError{At: time.Now(), Kind: "error", Error: "boom"}))
	waiting := pgqueue.JobRef{ID: res[3], Token: 1}
	got, err := b.Finished(ctx, []pgqueue.JobRef{completed, running, dead, waiting})
	require.NoError(t, err)
	require.Equal(t, []pgqueue.JobRef{completed}, got, "only the completed job left the store")

	// A schema without the pgqueue tables: the read fails with ErrDatabase.
	_, err = b.Pool().Exec(ctx, "DROP TABLE "+pgx.Identifier{b.Schema(), "pgqueue_dead_jobs"}.Sanitize()+" CASCADE")
	require.NoError(t, err)
	_, err = b.Finished(ctx, []pgqueue.JobRef{completed})
	require.ErrorIs(t, err, pgqueue.ErrDatabase, "Finished on a schema without its tables")
}
