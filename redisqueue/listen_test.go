package redisqueue_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgqueue/pgqueue"
	"github.com/pgqueue/pgqueue/internal/redistest"
)

// wakeRecorder counts Listen's wake-ups per queue.
type wakeRecorder struct {
	mu    sync.Mutex
	woken map[string]int
}

func (r *wakeRecorder) wake(q string) {
	r.mu.Lock()
	r.woken[q]++
	r.mu.Unlock()
}

func (r *wakeRecorder) count(q string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.woken[q]
}

// When its connection is killed, Listen subscribes again on a new one,
// says so with wake(""), and goes on delivering wake-ups; it returns nil
// when its context ends.
func TestListenReconnects(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b := redistest.Backend(t)
	adm := admin(t)
	rec := &wakeRecorder{woken: map[string]int{}}
	done := make(chan error, 1)
	go func() { done <- b.Listen(ctx, rec.wake) }()

	waitUntil(t, `Listen to subscribe and call wake("")`, func() bool { return rec.count("") == 1 })
	for round := 1; round <= 3; round++ {
		require.Positive(t, killConnections(t, adm, b.Prefix()), "round %d: the listener's connection must be found and killed", round)
		waitUntil(t, fmt.Sprintf(`Listen to resubscribe after kill %d and call wake("")`, round), func() bool {
			return rec.count("") == round+1
		})
		q := fmt.Sprintf("after-kill-%d", round)
		_, err := b.Insert(ctx, []pgqueue.InsertParams{{Kind: "k", Queue: q, Priority: 5, Args: []byte(`{}`), MaxAttempts: 1}})
		require.NoError(t, err, "Insert")
		waitUntil(t, "a wake-up for "+q+" on the new connection", func() bool { return rec.count(q) == 1 })
	}

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err, "Listen returns nil when its context ends")
	case <-time.After(5 * time.Second):
		t.Fatal("Listen did not return after its context ended")
	}
	require.Error(t, b.Listen(context.Background(), nil), "Listen with a nil wake function fails")
}

// Every source of newly available jobs wakes the queue: insert, an
// immediate Reschedule, PromoteDue, Rescue and RequeueDead. A scheduled
// insert wakes nobody.
func TestWakeSources(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b := redistest.Backend(t)
	rec := &wakeRecorder{woken: map[string]int{}}
	go func() { _ = b.Listen(ctx, rec.wake) }()
	waitUntil(t, "Listen to subscribe", func() bool { return rec.count("") > 0 })
	q := pgqueue.DefaultQueue
	claimOne := func(lease time.Duration) *pgqueue.JobRow {
		rows, err := b.Claim(ctx, pgqueue.ClaimParams{Queue: q, Kinds: []string{"k"}, Limit: 1, Lease: lease})
		require.NoError(t, err)
		require.Len(t, rows, 1)
		return rows[0]
	}
	expectWake := func(what string, n int) {
		waitUntil(t, what+" to wake the queue", func() bool { return rec.count(q) == n })
	}

	_, err := b.Insert(ctx, []pgqueue.InsertParams{{Kind: "k", Queue: q, Priority: 5, Args: []byte(`{}`), MaxAttempts: 3, RunAt: time.Now().Add(500 * time.Millisecond)}})
	require.NoError(t, err)
	time.Sleep(50 * time.Millisecond)
	require.Zero(t, rec.count(q), "a scheduled insert wakes nobody")
	waitUntil(t, "PromoteDue to promote", func() bool {
		res, err := b.PromoteDue(ctx)
		require.NoError(t, err)
		return len(res.Queues) == 1
	})
	expectWake("PromoteDue", 1)

	require.NoError(t, b.Reschedule(ctx, claimOne(time.Minute).Ref(), pgqueue.RescheduleParams{}))
	expectWake("Reschedule", 2)

	claimOne(20 * time.Millisecond) // attempt 2 of 3
	waitUntil(t, "Rescue to requeue", func() bool {
		res, err := b.Rescue(ctx, pgqueue.AttemptError{Kind: "lease_expired"})
		require.NoError(t, err)
		return res.Requeued == 1
	})
	expectWake("Rescue", 3)

	last := claimOne(time.Minute) // attempt 3 of 3
	require.NoError(t, b.DeadLetter(ctx, last.Ref(), pgqueue.AttemptError{Kind: "permanent"}))
	time.Sleep(30 * time.Millisecond)
	require.Equal(t, 3, rec.count(q), "a dead-letter wakes nobody")
	n, err := b.RequeueDead(ctx, []int64{last.ID})
	require.NoError(t, err)
	require.Equal(t, 1, n)
	expectWake("RequeueDead", 4)

	_, err = b.Insert(ctx, []pgqueue.InsertParams{{Kind: "k", Queue: q, Priority: 5, Args: []byte(`{}`), MaxAttempts: 3}})
	require.NoError(t, err)
	expectWake("Insert", 5)
}
