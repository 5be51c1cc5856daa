package redisqueue_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgqueue/pgqueue"
	"github.com/pgqueue/pgqueue/internal/redistest"
)

// A minute's rollups live under the queue's hash tag and expire retention
// after their minute; the minute index expires too, and a minute whose
// retention has passed is gone from reads.
func TestStatsKeysShareTheQueueTagAndExpire(t *testing.T) {
	t.Parallel()
	b := redistest.Backend(t)
	adm := admin(t)
	ctx := context.Background()
	minute := time.Now().UTC().Truncate(time.Minute).Add(-time.Minute)
	rows := []pgqueue.StatsRollup{{Minute: minute, Queue: "mail:eu", Kind: "send:fast", Completed: 2}}
	require.NoError(t, b.RecordStats(ctx, rows, time.Hour))
	tag := "{" + b.Prefix() + ":mail:eu}"
	key := tag + ":stats:" + strconv.FormatInt(minute.Unix(), 10)
	fields, err := adm.HGetAll(ctx, key).Result()
	require.NoError(t, err)
	require.Equal(t, map[string]string{"c:send:fast": "2"}, fields, "one field per non-zero counter and kind, in the queue's tag")
	ttl, err := adm.TTL(ctx, key).Result()
	require.NoError(t, err)
	require.Greater(t, ttl, 50*time.Minute, "the minute's hash expires an hour after its minute")
	require.LessOrEqual(t, ttl, time.Hour)
	ttl, err = adm.TTL(ctx, tag+":stats-minutes").Result()
	require.NoError(t, err)
	require.Greater(t, ttl, time.Duration(0), "the minute index expires too")

	old := time.Now().UTC().Truncate(time.Minute).Add(-2 * time.Hour)
	require.NoError(t, b.RecordStats(ctx, []pgqueue.StatsRollup{{Minute: old, Queue: "mail:eu", Kind: "send:fast", Completed: 5}}, time.Hour))
	points, err := pgqueue.NewAdmin(b).StatsHistory(ctx, old, time.Now(), time.Hour)
	require.NoError(t, err)
	var total int64
	for _, p := range points {
		total += p.Completed
	}
	require.EqualValues(t, 2, total, "a minute written past its retention is expired at once, and its index entry trimmed")
	n, err := adm.ZCard(ctx, tag+":stats-minutes").Result()
	require.NoError(t, err)
	require.EqualValues(t, 1, n, "the index holds only the minute within retention")
}

// A hash field that is no stats counter is reported, not guessed at.
func TestStatsHistoryRefusesCorruptFields(t *testing.T) {
	t.Parallel()
	b := redistest.Backend(t)
	ctx := context.Background()
	minute := time.Now().UTC().Truncate(time.Minute)
	require.NoError(t, b.RecordStats(ctx, []pgqueue.StatsRollup{{Minute: minute, Queue: "q", Kind: "k", Failed: 1}}, time.Hour))
	key := "{" + b.Prefix() + ":q}:stats:" + strconv.FormatInt(minute.Unix(), 10)
	require.NoError(t, admin(t).HSet(ctx, key, "r99:k", "1").Err())
	_, err := pgqueue.NewAdmin(b).StatsHistory(ctx, minute, minute.Add(time.Minute), time.Minute)
	require.ErrorIs(t, err, pgqueue.ErrDatabase)
	require.ErrorContains(t, err, "r99:k")
}
