package pgqueue_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/pgqueue/pgqueue"
	"github.com/pgqueue/pgqueue/internal/pgtest"
	"github.com/pgqueue/pgqueue/memqueue"
)

// Start/Stop cycles leave no goroutine behind. Not parallel: goleak looks
// at every goroutine of the process, and parallel tests start only after
// the sequential ones are done.
func TestStartStopLeaksNoGoroutines(t *testing.T) {
	backends := map[string]pgqueue.Backend{"memqueue": memqueue.New(), "postgres": pgtest.Backend(t)}
	// The pool and the test framework own goroutines that outlive a client.
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	for name, b := range backends {
		for cycle := range 3 {
			c, err := pgqueue.New(b, pgqueue.Config{PollInterval: 10 * time.Millisecond, RescueInterval: 10 * time.Millisecond})
			require.NoError(t, err)
			done := make(chan struct{}, 4)
			require.NoError(t, pgqueue.Register(c, pgqueue.WorkFunc[pingArgs](func(ctx context.Context, j *pgqueue.Job[pingArgs]) error {
				done <- struct{}{}
				return nil
			})))
			require.NoError(t, c.Start(context.Background()))
			_, err = c.Enqueue(context.Background(), pingArgs{Seq: cycle}, nil)
			require.NoError(t, err)
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatalf("%s cycle %d: the job did not run", name, cycle)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			require.NoError(t, c.Stop(ctx), "%s cycle %d: stop", name, cycle)
			cancel()
		}
	}
}
