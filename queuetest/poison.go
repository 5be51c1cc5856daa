package queuetest

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgqueue/pgqueue"
)

// poisonBehaviours check the isolation rule: one bad job (unstorable,
// undecodable, corrupt in the store) never stops another job from being
// claimed, rescued, completed or dead-lettered. The damage is the
// backend's own (Harness.Poison); a backend that cannot be damaged that
// way runs the undecodable case only.
func poisonBehaviours(h Harness) []behaviour {
	return []behaviour{
		{"UndecodableJobNeverBlocksTheOthers", testUndecodableJobNeverBlocksTheOthers},
		{"DamagedJobNeverBlocksRescue", withPoison(h, testDamagedJobNeverBlocksRescue)},
		{"DamagedJobNeverBlocksTheOthersWrites", withPoison(h, testDamagedJobNeverBlocksTheOthersWrites)},
	}
}

// withPoison runs fn with the harness's Poison, or skips, saying why, when
// the backend declares none.
func withPoison(h Harness, fn func(t *testing.T, b pgqueue.Backend, poison func(testing.TB, pgqueue.Backend, int64))) func(*testing.T, pgqueue.Backend) {
	return func(t *testing.T, b pgqueue.Backend) {
		if h.Poison == nil {
			t.Skip("queuetest: this backend declares no way to damage a stored job (Harness.Poison); the undecodable case covers it")
		}
		fn(t, b, h.Poison)
	}
}

// An undecodable job among good ones, in a queue worked one job at a
// time: it is dead-lettered and every good job still runs.
func testUndecodableJobNeverBlocksTheOthers(t *testing.T, b pgqueue.Backend) {
	cfg := fastConfig(t)
	cfg.Queues = map[string]pgqueue.QueueConfig{pgqueue.DefaultQueue: {MaxWorkers: 1}}
	c := newClient(t, b, cfg)
	var ran atomic.Int32
	register(t, c, func(ctx context.Context, job *pgqueue.Job[intNArgs]) error {
		ran.Add(1)
		return nil
	})
	good := enqueue(t, c, intNArgs{N: 1}, nil)
	bad := enqueue(t, c, textNArgs{N: "not a number"}, &pgqueue.EnqueueOptions{MaxAttempts: 5})
	for i := range 4 {
		enqueue(t, c, intNArgs{N: i + 2}, nil)
	}
	start(t, c)
	waitFor(t, "all five good jobs to run past the undecodable one", func() bool { return ran.Load() == 5 })
	d := waitDead(t, b, bad, "its args do not decode")
	stop(t, c)
	require.Equal(t, "decode", d.Errors[0].Kind)
	require.Nil(t, deadByID(t, b, good), "a good job must not be dead-lettered")
}

// Damaged jobs whose leases ended (a crash) are handled by rescue without
// failing it, and the healthy ones are requeued or dead-lettered as usual.
func testDamagedJobNeverBlocksRescue(t *testing.T, b pgqueue.Backend, poison func(testing.TB, pgqueue.Backend, int64)) {
	out := job("queuetest.poison")
	out.MaxAttempts = 1
	ids := insert(t, b, job("queuetest.poison"), out, out)
	retried, spent, damaged := ids[0], ids[1], ids[2]
	rows := claim(t, b, pgqueue.DefaultQueue, 3, 50*time.Millisecond, "queuetest.poison")
	require.Len(t, rows, 3)
	poison(t, b, damaged)
	time.Sleep(100 * time.Millisecond)

	res, err := b.Rescue(context.Background(), rescueInfo)
	require.NoError(t, err, "one damaged job must not make the rescue fail for every other job")
	require.NotNil(t, deadByID(t, b, spent), "the healthy job with no attempts left must be dead-lettered by the rescue")
	again := claim(t, b, pgqueue.DefaultQueue, 10, longLease, "queuetest.poison")
	require.Equal(t, []int64{retried}, rowIDs(again), "the healthy job with attempts left must be requeued and claimable, and the damaged one must not come back")
	require.True(t, deadByID(t, b, damaged) != nil || slices.Contains(res.Skipped, damaged),
		"the damaged job must end in the dead-letter store or be reported in RescueResult.Skipped (skipped %v)", res.Skipped)
	require.Empty(t, rescue(t, b).Skipped, "a later rescue must find nothing left to skip once the damaged job was moved")
}

// With a damaged job held beside healthy ones, the damaged job's own
// writes may fail, but the healthy jobs complete and dead-letter, and new
// jobs are claimed, as if it were not there.
func testDamagedJobNeverBlocksTheOthersWrites(t *testing.T, b pgqueue.Backend, poison func(testing.TB, pgqueue.Backend, int64)) {
	ctx := context.Background()
	ids := insert(t, b, job("queuetest.poison"), job("queuetest.poison"), job("queuetest.poison"))
	rows := claim(t, b, pgqueue.DefaultQueue, 3, longLease, "queuetest.poison")
	require.Len(t, rows, 3)
	byID := map[int64]*pgqueue.JobRow{}
	for _, r := range rows {
		byID[r.ID] = r
	}
	completed, failed, damaged := byID[ids[0]], byID[ids[1]], byID[ids[2]]
	poison(t, b, damaged.ID)

	// The damaged job's own writes: whatever they return, they must not
	// hang or take the others down.
	_ = b.Reschedule(ctx, damaged.Ref(), pgqueue.RescheduleParams{Error: &pgqueue.AttemptError{Attempt: 1, At: time.Now().UTC(), Kind: "error", Error: "queuetest: retry the damaged job"}})
	_ = b.DeadLetter(ctx, damaged.Ref(), pgqueue.AttemptError{Attempt: 1, At: time.Now().UTC(), Kind: "permanent", Error: "queuetest: give up on the damaged job"})
	_, _ = b.Heartbeat(ctx, []pgqueue.JobRef{damaged.Ref(), completed.Ref()}, longLease)

	lost, err := b.Complete(ctx, []pgqueue.JobRef{completed.Ref(), damaged.Ref()})
	require.NoError(t, err, "completing a batch that holds a damaged job must not fail for the healthy one")
	require.NotContains(t, lost, completed.Ref(), "the healthy job's completion must be stored")
	require.NoError(t, b.DeadLetter(ctx, failed.Ref(), pgqueue.AttemptError{Attempt: 1, At: time.Now().UTC(), Kind: "permanent", Error: "queuetest: healthy dead letter"}),
		"dead-lettering a healthy job beside a damaged one must succeed")
	require.NotNil(t, deadByID(t, b, failed.ID))

	fresh := insert(t, b, job("queuetest.poison"))[0]
	got := claim(t, b, pgqueue.DefaultQueue, 10, longLease, "queuetest.poison")
	require.Contains(t, rowIDs(got), fresh, "a new job must be claimable while a damaged one sits in the store")
}
