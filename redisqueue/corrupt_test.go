package redisqueue_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgqueue/pgqueue"
	"github.com/pgqueue/pgqueue/internal/redistest"
)

const corruptKind = "redisqueue.corrupt"

// A job hash damaged behind the backend's back is dead-lettered by the
// step that finds it, with a "decode" error naming the damage; the claim
// carries on with the next job and never returns the bad one.
func TestCorruptJobsAreDeadLettered(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tests := []struct {
		name string
		// damage breaks job id, which is available (or, with scheduled,
		// scheduled) in queue "default".
		damage    func(t *testing.T, key string)
		scheduled bool
		// step is the backend call that must find the damage.
		step string
		want string
	}{
		{name: "missing field", step: "claim", want: "max_attempts (missing)",
			damage: func(t *testing.T, key string) { require.NoError(t, admin(t).HDel(ctx, key, "max_attempts").Err()) }},
		{name: "non-numeric field", step: "claim", want: "attempt (not an integer: many)",
			damage: func(t *testing.T, key string) { require.NoError(t, admin(t).HSet(ctx, key, "attempt", "many").Err()) }},
		{name: "hash deleted (evicted)", step: "claim", want: "the job hash is gone",
			damage: func(t *testing.T, key string) { require.NoError(t, admin(t).Del(ctx, key).Err()) }},
		{name: "error history that does not decode", step: "claim", want: "error history does not decode",
			damage: func(t *testing.T, key string) { require.NoError(t, admin(t).HSet(ctx, key, "errors", "[{oops").Err()) }},
		{name: "metadata that does not decode", step: "claim", want: "metadata does not decode",
			damage: func(t *testing.T, key string) { require.NoError(t, admin(t).HSet(ctx, key, "metadata", "{").Err()) }},
		{name: "number Lua reads but Go does not", step: "claim", want: `max_attempts "2.5" is not an integer`,
			damage: func(t *testing.T, key string) {
				require.NoError(t, admin(t).HSet(ctx, key, "max_attempts", "2.5").Err())
			}},
		{name: "scheduled job missing its priority", step: "promote", scheduled: true, want: "priority (missing)",
			damage: func(t *testing.T, key string) { require.NoError(t, admin(t).HDel(ctx, key, "priority").Err()) }},
		{name: "running job missing its max attempts", step: "rescue", want: "max_attempts (missing)",
			damage: func(t *testing.T, key string) { require.NoError(t, admin(t).HDel(ctx, key, "max_attempts").Err()) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := redistest.Backend(t)
			var runAt time.Time
			if tc.scheduled {
				runAt = time.Now().Add(500 * time.Millisecond)
			}
			bad := insertOne(t, b, corruptKind, runAt)
			good := insertOne(t, b, corruptKind, runAt)
			claimAll := func(lease time.Duration) []*pgqueue.JobRow {
				rows, err := b.Claim(ctx, pgqueue.ClaimParams{Queue: pgqueue.DefaultQueue, Kinds: []string{corruptKind}, Limit: 10, Lease: lease})
				require.NoError(t, err, "Claim must not fail on a corrupt job")
				return rows
			}
			switch tc.step {
			case "claim":
				tc.damage(t, jobKey(b, pgqueue.DefaultQueue, bad))
				rows := claimAll(time.Minute)
				require.Len(t, rows, 1, "the claim must skip the corrupt job and still take the good one")
				require.Equal(t, good, rows[0].ID)
			case "promote":
				tc.damage(t, jobKey(b, pgqueue.DefaultQueue, bad))
				waitUntil(t, "the good job to be promoted", func() bool {
					res, err := b.PromoteDue(ctx)
					require.NoError(t, err, "PromoteDue must not fail on a corrupt job")
					return len(res.Queues) > 0
				})
				rows := claimAll(time.Minute)
				require.Len(t, rows, 1, "only the good job was promoted")
				require.Equal(t, good, rows[0].ID)
			case "rescue":
				require.Len(t, claimAll(50*time.Millisecond), 2)
				tc.damage(t, jobKey(b, pgqueue.DefaultQueue, bad))
				var total pgqueue.RescueResult
				waitUntil(t, "both expired leases to be handled", func() bool {
					res, err := b.Rescue(ctx, pgqueue.AttemptError{Kind: "lease_expired", Error: "expired"})
					require.NoError(t, err, "Rescue must not fail on a corrupt job")
					total.Requeued += res.Requeued
					total.DeadLettered += res.DeadLettered
					return total.Requeued+total.DeadLettered == 2
				})
				require.Equal(t, 1, total.DeadLettered, "the corrupt job is dead-lettered")
				rows := claimAll(time.Minute)
				require.Len(t, rows, 1, "the good job was requeued")
				require.Equal(t, good, rows[0].ID)
			}

			dead, err := b.ListDead(ctx, pgqueue.DeadFilter{})
			require.NoError(t, err)
			require.Len(t, dead, 1, "the corrupt job, and only it, is dead")
			d := dead[0]
			require.Equal(t, bad, d.ID)
			require.Equal(t, corruptKind, d.Kind, "the dead job keeps its kind")
			require.Equal(t, pgqueue.DefaultQueue, d.Queue)
			require.NotEmpty(t, d.Errors, "the dead job records why")
			last := d.Errors[len(d.Errors)-1]
			t.Logf("dead-letter error: %s", last.Error)
			require.Equal(t, "decode", last.Kind, "a corrupt job is recorded as a decode failure")
			require.Contains(t, last.Error, tc.want, "the error says what is wrong")
			require.WithinDuration(t, time.Now(), last.At, 5*time.Second, "the error is stamped with the time")
			n, err := b.PurgeDead(ctx, pgqueue.DeadFilter{})
			require.NoError(t, err)
			require.Equal(t, 1, n, "the dead corrupt job can be purged")
		})
	}
}

// A client working a queue with a corrupt job keeps working: undecodable
// args reach the engine, which dead-letters them as a decode error, and a
// hash missing fields is dead-lettered by the claim; the worker never sees
// either, and the good jobs run.
func TestClientSurvivesCorruptJobs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := redistest.Backend(t)
	adm := admin(t)
	badArgs := insertOne(t, b, pingArgs{}.Kind(), time.Time{})
	badHash := insertOne(t, b, pingArgs{}.Kind(), time.Time{})
	require.NoError(t, adm.HSet(ctx, jobKey(b, pgqueue.DefaultQueue, badArgs), "args", `{"seq":`).Err())
	require.NoError(t, adm.HDel(ctx, jobKey(b, pgqueue.DefaultQueue, badHash), "token", "created_at").Err())

	c, err := pgqueue.New(b, pgqueue.Config{PollInterval: 20 * time.Millisecond})
	require.NoError(t, err)
	var ran atomic.Int64
	require.NoError(t, pgqueue.Register(c, pgqueue.WorkFunc[pingArgs](func(ctx context.Context, j *pgqueue.Job[pingArgs]) error {
		ran.Add(1)
		return nil
	})))
	require.NoError(t, c.Start(ctx))
	defer func() { require.NoError(t, c.Stop(ctx)) }()
	_, err = c.Enqueue(ctx, pingArgs{Seq: 2}, nil)
	require.NoError(t, err)

	var dead []*pgqueue.DeadJob
	waitUntil(t, "both corrupt jobs to be dead-lettered and the good one to run", func() bool {
		dead, err = b.ListDead(ctx, pgqueue.DeadFilter{})
		require.NoError(t, err)
		return len(dead) == 2 && ran.Load() == 1
	})
	byID := map[int64]*pgqueue.DeadJob{}
	for _, d := range dead {
		byID[d.ID] = d
	}
	require.Contains(t, byID[badArgs].Errors[0].Error, "decode", "undecodable args fail to decode in the engine")
	require.Equal(t, "decode", byID[badArgs].Errors[0].Kind)
	require.Contains(t, byID[badHash].Errors[0].Error, "token (missing), created_at (missing)", "the claim names the missing fields")
	require.Equal(t, int64(1), ran.Load(), "the worker ran only the good job")
}
