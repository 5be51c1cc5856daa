package queuetest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgqueue/pgqueue"
)

func pausePriorityBehaviours() []behaviour {
	return []behaviour{
		{"PauseStopsClaimsResumeRestarts", testPauseStopsClaimsResumeRestarts},
		{"HighPriorityOvertakesBacklog", testHighPriorityOvertakesBacklog},
	}
}

// A paused queue is claimed by no client; resuming wakes them.
func testPauseStopsClaimsResumeRestarts(t *testing.T, b pgqueue.Backend) {
	if _, ok := b.(pgqueue.QueuePauser); !ok {
		t.Skipf("%T does not implement pgqueue.QueuePauser", b)
	}
	c := newClient(t, b, fastConfig(t))
	ran := make(chan int, 4)
	register(t, c, func(ctx context.Context, j *pgqueue.Job[basicArgs]) error {
		ran <- j.Args.N
		return nil
	})
	require.NoError(t, c.PauseQueue(context.Background(), pgqueue.DefaultQueue))
	start(t, c)
	enqueue(t, c, basicArgs{N: 1}, nil)
	select {
	case n := <-ran:
		t.Fatalf("job %d ran in a paused queue", n)
	case <-time.After(300 * time.Millisecond):
	}
	was, err := c.ResumeQueue(context.Background(), pgqueue.DefaultQueue)
	require.NoError(t, err)
	require.True(t, was)
	require.Equal(t, 1, recv(t, ran, "the job after resume"))
	require.ErrorIs(t, c.PauseQueue(context.Background(), "bad name"), pgqueue.ErrInvalidArgs)
}

// With one worker busy on a backlog of low-priority jobs, a job enqueued
// later at a higher priority runs next.
func testHighPriorityOvertakesBacklog(t *testing.T, b pgqueue.Backend) {
	cfg := fastConfig(t)
	cfg.Queues = map[string]pgqueue.QueueConfig{pgqueue.DefaultQueue: {MaxWorkers: 1}}
	c := newClient(t, b, cfg)
	order := make(chan int, 32)
	gate := make(chan struct{})
	register(t, c, func(ctx context.Context, j *pgqueue.Job[basicArgs]) error {
		order <- j.Args.N
		if j.Args.N == 0 {
			<-gate // hold the only worker until the urgent job is enqueued
		}
		return nil
	})
	for i := range 10 {
		enqueue(t, c, basicArgs{N: i}, &pgqueue.EnqueueOptions{Priority: pgqueue.MaxPriority})
	}
	start(t, c)
	require.Equal(t, 0, recv(t, order, "the first backlog job"))
	enqueue(t, c, basicArgs{N: 99}, &pgqueue.EnqueueOptions{Priority: pgqueue.MinPriority})
	close(gate)
	require.Equal(t, 99, recv(t, order, "the next job"), "the high-priority job must overtake the 9 waiting low-priority jobs")
}
