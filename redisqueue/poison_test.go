package redisqueue_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/pgqueue/pgqueue"
	"github.com/pgqueue/pgqueue/internal/redistest"
	"github.com/pgqueue/pgqueue/redisqueue"
)

// poisonKind is the kind of the jobs the poison tests store.
const poisonKind = "redisqueue.poison"

// queueKey is one of queue's own keys (suffix "sched", "running",
// "avail:<kind>", ...), as the package documents the layout.
func queueKey(b *redisqueue.Backend, queue, suffix string) string {
	return "{" + b.Prefix() + ":" + queue + "}:" + suffix
}

// poison replaces job id's hash with a plain string, which no script can
// read as a hash (every hash command on it fails with WRONGTYPE).
func poison(t *testing.T, b *redisqueue.Backend, id int64) {
	t.Helper()
	require.NoError(t, admin(t).Set(context.Background(), jobKey(b, pgqueue.DefaultQueue, id), "not a hash", 0).Err())
}

// insertN stores n jobs of poisonKind in queue "default", due at runAt
// (zero: now), and returns their IDs.
func insertN(t *testing.T, b *redisqueue.Backend, n int, runAt time.Time) []int64 {
	t.Helper()
	jobs := make([]pgqueue.InsertParams, n)
	for i := range jobs {
		jobs[i] = pgqueue.InsertParams{Kind: poisonKind, Queue: pgqueue.DefaultQueue, Priority: pgqueue.DefaultPriority,
			Args: []byte(`{"seq":` + strconv.Itoa(i) + `}`), MaxAttempts: 3, RunAt: runAt}
	}
	ids, err := b.Insert(context.Background(), jobs)
	require.NoError(t, err, "Insert")
	return ids
}

func claimPoison(t *testing.T, b *redisqueue.Backend, lease time.Duration) []*pgqueue.JobRow {
	t.Helper()
	rows, err := b.Claim(context.Background(), pgqueue.ClaimParams{Queue: pgqueue.DefaultQueue, Kinds: []string{poisonKind}, Limit: 100, Lease: lease})
	require.NoError(t, err, "Claim must not fail because one stored job is corrupt")
	return rows
}

func redisZ(score float64, member string) redis.Z { return redis.Z{Score: score, Member: member} }

func rowIDs(rows []*pgqueue.JobRow) []int64 {
	out := make([]int64, len(rows))
	for i, r := range rows {
		out[i] = r.ID
	}
	return out
}

func without(ids []int64, drop ...int64) []int64 {
	var out []int64
	for _, id := range ids {
		keep := true
		for _, d := range drop {
			keep = keep && id != d
		}
		if keep {
			out = append(out, id)
		}
	}
	return out
}

// requireBuried checks that job id, and only it, is dead-lettered with a
// "decode" error containing want.
func requireBuried(t *testing.T, b *redisqueue.Backend, id int64, want string) {
	t.Helper()
	dead, err := b.ListDead(context.Background(), pgqueue.DeadFilter{})
	require.NoError(t, err, "ListDead must not fail because one stored job is corrupt")
	require.Len(t, dead, 1, "exactly the corrupt job is dead-lettered")
	require.Equal(t, id, dead[0].ID, "the corrupt job is the one dead-lettered")
	require.NotEmpty(t, dead[0].Errors, "the dead-lettered corrupt job records why")
	last := dead[0].Errors[len(dead[0].Errors)-1]
	require.Equal(t, "decode", last.Kind, "a corrupt job is recorded as a decode failure")
	require.Contains(t, last.Error, want, "the error says what is wrong with the stored job")
}

// A job whose key no longer holds a hash, or a set member that names no
// job, is a poison entry: every step that meets it must set it aside (dead
// letter, or drop a member naming no job) and carry on with the other
// jobs, never fail half-way and leave them in no set.
func TestPoisonEntryNeverStopsOtherJobs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("claim meets a job hash replaced by a string", func(t *testing.T) {
		t.Parallel()
		b := redistest.Backend(t)
		ids := insertN(t, b, 5, time.Time{})
		poison(t, b, ids[1])
		rows := claimPoison(t, b, time.Minute)
		require.ElementsMatch(t, without(ids, ids[1]), rowIDs(rows), "every healthy job is claimed in the same call")
		requireBuried(t, b, ids[1], "not a hash")
		n, err := admin(t).ZCard(ctx, queueKey(b, pgqueue.DefaultQueue, "avail:"+poisonKind)).Result()
		require.NoError(t, err)
		require.Zero(t, n, "nothing is left in the available set")
	})

	t.Run("claim meets a garbage member in the available set", func(t *testing.T) {
		t.Parallel()
		b := redistest.Backend(t)
		ids := insertN(t, b, 3, time.Time{})
		avail := queueKey(b, pgqueue.DefaultQueue, "avail:"+poisonKind)
		require.NoError(t, admin(t).ZAdd(ctx, avail, redisZ(0, "garbage")).Err())
		rows := claimPoison(t, b, time.Minute)
		require.ElementsMatch(t, ids, rowIDs(rows), "every healthy job is claimed despite the garbage member")
		n, err := admin(t).ZCard(ctx, avail).Result()
		require.NoError(t, err)
		require.Zero(t, n, "the garbage member is dropped from the available set")
		dead, err := b.ListDead(ctx, pgqueue.DeadFilter{})
		require.NoError(t, err)
		require.Empty(t, dead, "a member naming no job is dropped, not dead-lettered")
	})

	t.Run("promote meets a string job and a garbage member", func(t *testing.T) {
		t.Parallel()
		b := redistest.Backend(t)
		ids := insertN(t, b, 3, time.Now().Add(300*time.Millisecond))
		poison(t, b, ids[0])
		require.NoError(t, admin(t).ZAdd(ctx, queueKey(b, pgqueue.DefaultQueue, "sched"), redisZ(0, "x-garbage")).Err())
		var rows []*pgqueue.JobRow
		waitUntil(t, "the healthy scheduled jobs to be promoted and claimed", func() bool {
			_, err := b.PromoteDue(ctx)
			require.NoError(t, err, "PromoteDue must not fail because one stored job is corrupt")
			rows = append(rows, claimPoison(t, b, time.Minute)...)
			return len(rows) >= 2
		})
		require.ElementsMatch(t, without(ids, ids[0]), rowIDs(rows))
		requireBuried(t, b, ids[0], "not a hash")
	})

	t.Run("rescue meets a string job and a garbage member", func(t *testing.T) {
		t.Parallel()
		b := redistest.Backend(t)
		ids := insertN(t, b, 3, time.Time{})
		require.Len(t, claimPoison(t, b, 50*time.Millisecond), 3)
		poison(t, b, ids[2])
		require.NoError(t, admin(t).ZAdd(ctx, queueKey(b, pgqueue.DefaultQueue, "running"), redisZ(0, "junk")).Err())
		var total pgqueue.RescueResult
		waitUntil(t, "the expired leases to be handled", func() bool {
			res, err := b.Rescue(ctx, pgqueue.AttemptError{Kind: "lease_expired", Error: "expired"})
			require.NoError(t, err, "Rescue must not fail because one stored job is corrupt")
			total.Requeued += res.Requeued
			total.DeadLettered += res.DeadLettered
			return total.Requeued+total.DeadLettered >= 3
		})
		require.Equal(t, 2, total.Requeued, "the healthy jobs are requeued")
		require.Equal(t, 1, total.DeadLettered, "the corrupt job is dead-lettered")
		require.ElementsMatch(t, without(ids, ids[2]), rowIDs(claimPoison(t, b, time.Minute)))
		requireBuried(t, b, ids[2], "not a hash")
		n, err := admin(t).ZCard(ctx, queueKey(b, pgqueue.DefaultQueue, "running")).Result()
		require.NoError(t, err)
		require.Equal(t, int64(2), n, "the running set holds the two reclaimed jobs, no junk")
	})

	t.Run("complete, heartbeat, reschedule and dead-letter meet a string job", func(t *testing.T) {
		t.Parallel()
		b := redistest.Backend(t)
		ids := insertN(t, b, 4, time.Time{})
		rows := claimPoison(t, b, time.Minute)
		require.Len(t, rows, 4)
		byID := map[int64]pgqueue.JobRef{}
		for _, r := range rows {
			byID[r.ID] = r.Ref()
		}
		bad := byID[ids[0]]
		poison(t, b, bad.ID)

		lost, err := b.Heartbeat(ctx, []pgqueue.JobRef{byID[ids[1]], bad, byID[ids[2]]}, time.Minute)
		require.NoError(t, err, "Heartbeat must not fail because one job of the batch is corrupt")
		require.Equal(t, []pgqueue.JobRef{bad}, lost, "only the corrupt job's lease is reported lost")

		lost, err = b.Complete(ctx, []pgqueue.JobRef{bad, byID[ids[1]]})
		require.NoError(t, err, "Complete must not fail because one job of the batch is corrupt")
		require.Equal(t, []pgqueue.JobRef{bad}, lost, "the healthy job is completed, the corrupt one reported lost")

		err = b.Reschedule(ctx, bad, pgqueue.RescheduleParams{})
		require.ErrorIs(t, err, pgqueue.ErrLeaseLost, "a corrupt job cannot be rescheduled: its lease is reported lost")
		err = b.DeadLetter(ctx, bad, pgqueue.AttemptError{Kind: "error", Error: "boom"})
		require.ErrorIs(t, err, pgqueue.ErrLeaseLost, "a corrupt job cannot be dead-lettered by its holder: its lease is reported lost")

		require.NoError(t, b.Reschedule(ctx, byID[ids[2]], pgqueue.RescheduleParams{}), "a healthy job is still rescheduled")
		require.NoError(t, b.DeadLetter(ctx, byID[ids[3]], pgqueue.AttemptError{Kind: "error", Error: "boom"}), "a healthy job is still dead-lettered")
		require.Equal(t, []int64{ids[2]}, rowIDs(claimPoison(t, b, time.Minute)), "the rescheduled job is claimable again")
	})

	t.Run("list, requeue and purge dead jobs with a corrupt dead job", func(t *testing.T) {
		t.Parallel()
		b := redistest.Backend(t)
		ids := insertN(t, b, 3, time.Time{})
		for _, r := range claimPoison(t, b, time.Minute) {
			require.NoError(t, b.DeadLetter(ctx, r.Ref(), pgqueue.AttemptError{Kind: "error", Error: "boom"}))
		}
		poison(t, b, ids[0])
		dead, err := b.ListDead(ctx, pgqueue.DeadFilter{})
		require.NoError(t, err, "ListDead must not fail because one dead job is corrupt")
		require.Len(t, dead, 3, "every dead job is listed, the corrupt one too")
		moved, err := b.RequeueDead(ctx, ids)
		require.NoError(t, err, "RequeueDead must not fail because one dead job is corrupt")
		require.Equal(t, 2, moved, "the healthy dead jobs are requeued, the corrupt one is not")
		n, err := b.PurgeDead(ctx, pgqueue.DeadFilter{})
		require.NoError(t, err, "PurgeDead must not fail because one dead job is corrupt")
		require.Equal(t, 1, n, "the corrupt dead job is purged")
		exists, err := admin(t).Exists(ctx, jobKey(b, pgqueue.DefaultQueue, ids[0])).Result()
		require.NoError(t, err)
		require.Zero(t, exists, "purging deletes the corrupt job's key")
		require.ElementsMatch(t, without(ids, ids[0]), rowIDs(claimPoison(t, b, time.Minute)))
	})
}

// A client working a queue whose stored jobs include a poison entry runs
// every healthy job; the poison job ends in the dead letters.
func TestClientSurvivesPoisonJob(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := redistest.Backend(t)
	var ids []int64
	for range 3 {
		ids = append(ids, insertOne(t, b, pingArgs{}.Kind(), time.Time{}))
	}
	poison(t, b, ids[1])

	c, err := pgqueue.New(b, pgqueue.Config{PollInterval: 20 * time.Millisecond})
	require.NoError(t, err)
	var ran atomic.Int64
	require.NoError(t, pgqueue.Register(c, pgqueue.WorkFunc[pingArgs](func(ctx context.Context, j *pgqueue.Job[pingArgs]) error {
		ran.Add(1)
		return nil
	})))
	require.NoError(t, c.Start(ctx))
	defer func() { require.NoError(t, c.Stop(ctx)) }()
	waitUntil(t, "the two healthy jobs to run and the poison job to be dead-lettered", func() bool {
		dead, err := b.ListDead(ctx, pgqueue.DeadFilter{})
		require.NoError(t, err)
		return ran.Load() == 2 && len(dead) == 1 && dead[0].ID == ids[1]
	})
}
