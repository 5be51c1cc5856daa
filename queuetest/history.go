package queuetest

// The History group: what a run leaves behind (RunRecorder and
// HistoryKeeper): completed jobs kept for Config.Retention with their
// output, output kept with dead letters, progress carried by heartbeats,
// and nothing kept without a retention.

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgqueue/pgqueue"
)

func historyBehaviours() []behaviour {
	return []behaviour{
		{"RetentionKeepsCompletedJobsWithOutput", testRetentionKeepsCompleted},
		{"NoRetentionKeepsNothing", testNoRetentionKeepsNothing},
		{"QueueRetentionOverridesClient", testQueueRetentionOverrides},
		{"DeadLetterKeepsOutput", testDeadLetterKeepsOutput},
		{"ProgressRidesOnHeartbeat", testProgressRidesOnHeartbeat},
		{"HeartbeatProgressRefusesMismatchedLengths", testHeartbeatProgressMismatch},
		{"HistoryUpkeepIsSafeToRepeat", testHistoryUpkeepRepeats},
	}
}

// requireRecorder skips on a backend that stores no output or history.
func requireRecorder(t *testing.T, b pgqueue.Backend) *pgqueue.Admin {
	t.Helper()
	if _, ok := b.(pgqueue.RunRecorder); !ok {
		t.Skipf("%T does not implement pgqueue.RunRecorder", b)
	}
	return requireLister(t, b)
}

// outputResult is what the history workers record.
type outputResult struct {
	Sent  int    `json:"sent"`
	Label string `json:"label"`
}

// findJob returns job id from the Admin, failing on an error.
func findJob(t *testing.T, a *pgqueue.Admin, id int64) *pgqueue.JobInfo {
	t.Helper()
	info, err := a.FindJob(context.Background(), id)
	require.NoError(t, err, "FindJob(%d)", id)
	return info
}

// waitCompleted waits for job id to show in the history as completed.
func waitCompleted(t *testing.T, a *pgqueue.Admin, id int64) *pgqueue.JobInfo {
	t.Helper()
	var info *pgqueue.JobInfo
	waitFor(t, "the completed job to show in the history", func() bool {
		got, err := a.FindJob(context.Background(), id)
		if err == nil && got.State == pgqueue.StateCompleted {
			info = got
			return true
		}
		return false
	})
	return info
}

// With a retention, a completed job stays findable (state completed) with
// its args, metadata, attempt, finish time and the output its handler
// recorded last; listing and counting by state completed find it, and its
// neighbours in other states are not reported completed.
func testRetentionKeepsCompleted(t *testing.T, b pgqueue.Backend) {
	a := requireRecorder(t, b)
	ctx := context.Background()
	cfg := fastConfig(t)
	cfg.Retention = time.Hour
	c := newClient(t, b, cfg)
	register(t, c, func(ctx context.Context, job *pgqueue.Job[basicArgs]) error {
		require.NoError(t, pgqueue.RecordOutput(ctx, outputResult{Sent: 1, Label: "first"}))
		// The last call wins.
		return pgqueue.RecordOutput(ctx, outputResult{Sent: job.Args.N, Label: "<b>done</b>"})
	})
	before := time.Now()
	id := enqueue(t, c, basicArgs{N: 3}, &pgqueue.EnqueueOptions{Metadata: map[string]string{"tenant": "acme"}})
	waiting := enqueue(t, c, otherArgs{N: 1}, nil) // no worker: stays available
	start(t, c)
	info := waitCompleted(t, a, id)
	require.Equal(t, "queuetest.basic", info.Kind)
	require.JSONEq(t, `{"n":3}`, string(info.Args), "the history keeps the args")
	require.Equal(t, map[string]string{"tenant": "acme"}, info.Metadata, "the history keeps the metadata")
	require.Equal(t, 1, info.Attempt, "the attempt that completed it")
	require.JSONEq(t, `{"sent":3,"label":"<b>done</b>"}`, string(info.Output), "the output is the one recorded last")
	require.False(t, info.FinishedAt.Before(before.Add(-5*time.Second)), "FinishedAt is the completion time, got %v", info.FinishedAt)
	require.False(t, info.CreatedAt.IsZero(), "CreatedAt is kept")

	page, err := a.ListJobs(ctx, pgqueue.JobFilter{States: []pgqueue.State{pgqueue.StateCompleted}})
	require.NoError(t, err)
	require.Len(t, page.Jobs, 1, "listing state completed finds the completed job only")
	require.Equal(t, id, page.Jobs[0].ID)
	n, err := a.CountJobs(ctx, pgqueue.JobFilter{States: []pgqueue.State{pgqueue.StateCompleted}})
	require.NoError(t, err)
	require.EqualValues(t, 1, n, "CountJobs of state completed")
	all, err := a.ListJobs(ctx, pgqueue.JobFilter{})
	require.NoError(t, err)
	require.Len(t, all.Jobs, 2, "a filter without states lists waiting and completed jobs alike")
	require.Equal(t, waiting, all.Jobs[0].ID, "newest first: the waiting job was enqueued last")
	require.Equal(t, pgqueue.StateAvailable, findJob(t, a, waiting).State)
	byArgs, err := a.ListJobs(ctx, pgqueue.JobFilter{Args: json.RawMessage(`{"n":3}`), States: []pgqueue.State{pgqueue.StateCompleted}})
	require.NoError(t, err)
	require.Len(t, byArgs.Jobs, 1, "args containment searches the history too")
	finished, err := a.ListJobs(ctx, pgqueue.JobFilter{FinishedAfter: before.Add(-5 * time.Second)})
	require.NoError(t, err)
	require.Len(t, finished.Jobs, 1, "a finished-at bound keeps completed jobs and drops waiting ones")
}

// Without a retention (the default) a completed job is gone, output and
// all: FindJob reports ErrJobNotFound.
func testNoRetentionKeepsNothing(t *testing.T, b pgqueue.Backend) {
	a := requireRecorder(t, b)
	c := newClient(t, b, fastConfig(t))
	done := make(chan int64, 1)
	register(t, c, func(ctx context.Context, job *pgqueue.Job[basicArgs]) error {
		defer func() { done <- job.ID }()
		return pgqueue.RecordOutput(ctx, map[string]int{"n": job.Args.N})
	})
	id := enqueue(t, c, basicArgs{N: 1}, nil)
	start(t, c)
	recv(t, done, "the job to run")
	waitFor(t, "the completed job to leave the store", func() bool {
		_, err := a.FindJob(context.Background(), id)
		return errors.Is(err, pgqueue.ErrJobNotFound)
	})
	n, err := a.CountJobs(context.Background(), pgqueue.JobFilter{States: []pgqueue.State{pgqueue.StateCompleted}})
	require.NoError(t, err)
	require.Zero(t, n, "no retention: the history stays empty")
}

// QueueConfig.Retention overrides Config.Retention: negative keeps
// nothing in that queue although the client keeps the others.
func testQueueRetentionOverrides(t *testing.T, b pgqueue.Backend) {
	a := requireRecorder(t, b)
	cfg := fastConfig(t)
	cfg.Retention = time.Hour
	cfg.Queues = map[string]pgqueue.QueueConfig{
		"kept":     {MaxWorkers: 2},
		"not-kept": {MaxWorkers: 2, Retention: -1},
	}
	c := newClient(t, b, cfg)
	ran := make(chan int64, 2)
	register(t, c, func(ctx context.Context, job *pgqueue.Job[basicArgs]) error {
		ran <- job.ID
		return nil
	})
	kept := enqueue(t, c, basicArgs{N: 1}, &pgqueue.EnqueueOptions{Queue: "kept"})
	gone := enqueue(t, c, basicArgs{N: 2}, &pgqueue.EnqueueOptions{Queue: "not-kept"})
	start(t, c)
	recv(t, ran, "a job to run")
	recv(t, ran, "the other job to run")
	info := waitCompleted(t, a, kept)
	require.Empty(t, info.Output, "no output recorded, none stored")
	waitFor(t, "the job of the queue with a negative retention to leave the store", func() bool {
		_, err := a.FindJob(context.Background(), gone)
		return errors.Is(err, pgqueue.ErrJobNotFound)
	})
}

// A job dead-lettered keeps the output its last run recorded.
func testDeadLetterKeepsOutput(t *testing.T, b pgqueue.Backend) {
	a := requireRecorder(t, b)
	c := newClient(t, b, fastConfig(t))
	register(t, c, func(ctx context.Context, job *pgqueue.Job[basicArgs]) error {
		require.NoError(t, pgqueue.RecordOutput(ctx, map[string]any{"partial": job.Args.N}))
		return pgqueue.Permanent(errors.New("cannot go on"))
	})
	id := enqueue(t, c, basicArgs{N: 9}, nil)
	start(t, c)
	waitDead(t, b, id, "a permanent error")
	info := findJob(t, a, id)
	require.Equal(t, pgqueue.StateDead, info.State)
	require.JSONEq(t, `{"partial":9}`, string(info.Output), "the dead letter keeps the output of its last run")
}

// SetProgress is stored by the next heartbeat, without a write of its
// own, and read back while the job runs.
func testProgressRidesOnHeartbeat(t *testing.T, b pgqueue.Backend) {
	a := requireRecorder(t, b)
	c := newClient(t, b, fastConfig(t)) // heartbeats every 100ms
	release := make(chan struct{})
	register(t, c, func(ctx context.Context, job *pgqueue.Job[basicArgs]) error {
		require.NoError(t, pgqueue.SetProgress(ctx, 0.25, "a quarter"))
		require.NoError(t, pgqueue.SetProgress(ctx, 0.5, "half way"))
		<-release
		return nil
	})
	id := enqueue(t, c, basicArgs{N: 1}, nil)
	start(t, c)
	defer close(release)
	var info *pgqueue.JobInfo
	waitFor(t, "the running job's progress to be stored by a heartbeat", func() bool {
		got, err := a.FindJob(context.Background(), id)
		if err == nil && got.Progress != nil {
			info = got
			return true
		}
		return false
	})
	require.Equal(t, pgqueue.StateRunning, info.State)
	require.InDelta(t, 0.5, info.Progress.Fraction, 1e-9, "the latest progress, not the first")
	require.Equal(t, "half way", info.Progress.Note)
	require.WithinDuration(t, time.Now(), info.Progress.At, time.Minute, "At is when the handler reported it")
}

// MaintainHistory may run from many clients at any time: repeated and
// concurrent calls succeed, and the history stays readable.
func testHistoryUpkeepRepeats(t *testing.T, b pgqueue.Backend) {
	hk, ok := b.(pgqueue.HistoryKeeper)
	if !ok {
		t.Skipf("%T does not implement pgqueue.HistoryKeeper", b)
	}
	ctx := context.Background()
	errs := make(chan error, 4)
	for i := range 4 {
		go func() {
			_, err := hk.MaintainHistory(ctx, time.Duration(i)*time.Hour)
			errs <- err
		}()
	}
	for range 4 {
		require.NoError(t, recv(t, errs, "a MaintainHistory call to return"), "concurrent MaintainHistory")
	}
	_, err := hk.MaintainHistory(ctx, 0)
	require.NoError(t, err, "MaintainHistory without a retention only prunes")
}

// HeartbeatProgress with a progress slice whose length is not the refs'
// is refused with ErrInvalidArgs before anything is written: the jobs
// stay held under their leases, and a correct call then works.
func testHeartbeatProgressMismatch(t *testing.T, b pgqueue.Backend) {
	requireRecorder(t, b)
	rr := b.(pgqueue.RunRecorder)
	ctx := context.Background()
	insert(t, b, job("queuetest.progress"), job("queuetest.progress"))
	rows := claim(t, b, pgqueue.DefaultQueue, 2, longLease, "queuetest.progress")
	require.Len(t, rows, 2)
	refs := []pgqueue.JobRef{rows[0].Ref(), rows[1].Ref()}
	_, err := rr.HeartbeatProgress(ctx, refs, []json.RawMessage{json.RawMessage(`{"fraction":0.5}`)}, longLease)
	require.ErrorIs(t, err, pgqueue.ErrInvalidArgs, "one progress entry for two refs")
	lost, err := rr.HeartbeatProgress(ctx, refs, []json.RawMessage{json.RawMessage(`{"fraction":0.5}`), nil}, longLease)
	require.NoError(t, err)
	require.Empty(t, lost, "the refused call changed nothing: both jobs are still held")
}
