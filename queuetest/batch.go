package queuetest

// The Batches group: a batch's callbacks run exactly once, when its last
// job finishes, even when several clients finish its jobs at once.

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgqueue/pgqueue"
)

func batchBehaviours() []behaviour {
	return []behaviour{
		{"CallbacksFireOnceAcrossClients", testBatchCallbacks},
	}
}

// batchArgs is a batch job (Fail makes it dead-letter) or a callback
// (Callback names it).
type batchArgs struct {
	Batch    string `json:"batch"`
	N        int    `json:"n"`
	Fail     bool   `json:"fail,omitempty"`
	Callback string `json:"callback,omitempty"`
}

func (batchArgs) Kind() string { return "queuetest.batch" }

// Two batches of 30 jobs run on three clients of 4 workers: the batch
// whose jobs all complete runs OnSuccess and OnComplete once each and
// skips OnDiscard; the batch with one dead job runs OnComplete and
// OnDiscard once each, and its OnSuccess is cancelled.
func testBatchCallbacks(t *testing.T, b pgqueue.Backend) {
	requireWorkflows(t, b)
	ctx := context.Background()
	const jobs = 30
	var mu sync.Mutex
	runs := map[string]int{}
	work := func(ctx context.Context, job *pgqueue.Job[batchArgs]) error {
		key := fmt.Sprintf("%s/job", job.Args.Batch)
		if job.Args.Callback != "" {
			key = job.Args.Batch + "/" + job.Args.Callback
		}
		mu.Lock()
		runs[key]++
		mu.Unlock()
		time.Sleep(time.Millisecond)
		if job.Args.Fail {
			return pgqueue.Permanent(errors.New("this job fails"))
		}
		return nil
	}
	var clients []*pgqueue.Client
	for i := range 3 {
		cfg := fastConfig(t)
		cfg.ID = fmt.Sprintf("%s-%d", cfg.ID, i)
		cfg.Queues = map[string]pgqueue.QueueConfig{pgqueue.DefaultQueue: {MaxWorkers: 4}}
		c := newClient(t, b, cfg)
		register(t, c, pgqueue.WorkFunc[batchArgs](work))
		clients = append(clients, c)
	}
	producer := clients[0]
	ids := map[string]pgqueue.WorkflowIDs{}
	for _, name := range []string{"good", "bad"} {
		batch := pgqueue.NewBatch(name)
		for n := range jobs {
			batch.Add(batchArgs{Batch: name, N: n, Fail: name == "bad" && n == 7}, nil)
		}
		batch.OnSuccess(batchArgs{Batch: name, Callback: "success"}, nil)
		batch.OnComplete(batchArgs{Batch: name, Callback: "complete"}, nil)
		batch.OnDiscard(batchArgs{Batch: name, Callback: "discard"}, nil)
		got, err := producer.EnqueueBatch(ctx, batch)
		require.NoError(t, err)
		require.Len(t, got.Jobs, jobs+3, "one job per batch job and per callback")
		ids[name] = got
	}
	_, err := producer.EnqueueBatch(ctx, pgqueue.NewBatch("empty"))
	require.ErrorIs(t, err, pgqueue.ErrInvalidArgs, "a batch without jobs")
	// Start the clients only now, so that they finish the jobs together.
	for _, c := range clients {
		start(t, c)
	}
	a := pgqueue.NewAdmin(b)
	good := waitWorkflow(t, a, ids["good"].ID, pgqueue.WorkflowSucceeded)
	require.Equal(t, jobs+3, good.Completed, "the good batch: every job and callback completed or skipped")
	waitWorkflow(t, a, ids["bad"].ID, pgqueue.WorkflowFailed)
	time.Sleep(200 * time.Millisecond) // a second release would have run by now
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, map[string]int{
		"good/job": jobs, "good/success": 1, "good/complete": 1,
		"bad/job": jobs, "bad/complete": 1, "bad/discard": 1,
	}, runs, "each job runs once; each callback that is due runs exactly once; good/discard is skipped and bad/success cancelled")
	_, tasks, err := a.Workflow(ctx, ids["good"].ID)
	require.NoError(t, err)
	require.Equal(t, pgqueue.StateSkipped, tasks[len(tasks)-1].State, "the good batch's OnDiscard is skipped")
	_, tasks, err = a.Workflow(ctx, ids["bad"].ID)
	require.NoError(t, err)
	require.Equal(t, pgqueue.StateCancelled, tasks[jobs].State, "the bad batch's OnSuccess is cancelled")
}
