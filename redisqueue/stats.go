package redisqueue

// The per-minute stats rollups. Each queue's rollups live under the
// queue's hash tag, so each queue's write is one script on one slot
// (stats_record.lua):
//
//   - {P:Q}:stats:<minute> is a hash per minute (<minute> in Unix
//     seconds) with one field per counter and kind, "<counter>:<kind>",
//     counters c (completed), f (failed), d (dead), x (cancelled),
//     l (lease lost), r0..r23 and w0..w23 (run and wait time buckets);
//     zero counts are not written. It expires retention after its minute.
//   - {P:Q}:stats-minutes is a sorted set of the minutes that have a
//     hash (member and score the minute), trimmed past retention at each
//     write, so reads find the minutes without a SCAN.
//   - {P}:stats-queues is the set of queues that have stats, in the
//     prefix's slot, so a read of every queue finds them on a cluster.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/pgqueue/pgqueue"
)

var (
	_ pgqueue.StatsRecorder      = (*Backend)(nil)
	_ pgqueue.StatsHistoryReader = (*Backend)(nil)
)

// statsQueues is the set of the queues that have stats.
func (k globalKeys) statsQueues() string { return k.tag + ":stats-queues" }

// statsMinute is the hash of one minute's rollups of queue q.
func (q queueKeys) statsMinute(minute int64) string {
	return q.tag + ":stats:" + strconv.FormatInt(minute, 10)
}

// statsMinutes is the sorted set of the minutes queue q has rollups for.
func (q queueKeys) statsMinutes() string { return q.tag + ":stats-minutes" }

// statsCounters are the field prefixes of the outcome counters, in
// StatsRollup's order.
var statsCounters = [...]string{"c", "f", "d", "x", "l"}

// statsFields returns r's non-zero counts by field name.
func statsFields(r *pgqueue.StatsRollup) map[string]int64 {
	out := map[string]int64{}
	for i, n := range [...]int64{r.Completed, r.Failed, r.Dead, r.Cancelled, r.LeaseLost} {
		if n != 0 {
			out[statsCounters[i]+":"+r.Kind] = n
		}
	}
	for i := range pgqueue.StatsBucketCount {
		if n := r.Run[i]; n != 0 {
			out["r"+strconv.Itoa(i)+":"+r.Kind] = n
		}
		if n := r.Wait[i]; n != 0 {
			out["w"+strconv.Itoa(i)+":"+r.Kind] = n
		}
	}
	return out
}

var statsRecordScript = loadScriptWith("stats_record", "core")

// RecordStats implements pgqueue.StatsRecorder: one stats_record.lua call
// per queue, atomic on the queue's slot, all pipelined in one round trip
// (runAll), so each queue's rows are stored all or nothing. Each minute's
// hash expires retention after the minute (retention <= 0: never), and
// the queue's minute index is trimmed. A queue this Backend has not yet
// written stats for is first added to {P}:stats-queues (one more round
// trip, once per queue). If some queues' calls fail and others succeed,
// the error is returned and the client writes all rows again: the queues
// that succeeded then count them twice, a rare overcount preferred to
// losing counts. It returns an error wrapping pgqueue.ErrInvalidArgs for
// a queue name a key cannot hold, and pgqueue.ErrDatabase when Redis
// fails.
func (b *Backend) RecordStats(ctx context.Context, rows []pgqueue.StatsRollup, retention time.Duration) error {
	if len(rows) == 0 {
		return nil
	}
	byQueue := map[string][]*pgqueue.StatsRollup{}
	var names []string
	for i := range rows {
		r := &rows[i]
		if err := validQueue(r.Queue); err != nil {
			return err
		}
		if _, ok := byQueue[r.Queue]; !ok {
			names = append(names, r.Queue)
		}
		byQueue[r.Queue] = append(byQueue[r.Queue], r)
	}
	slices.Sort(names)
	var unseen []any
	for _, name := range names {
		if _, ok := b.statsQueues.Load(name); !ok {
			unseen = append(unseen, name)
		}
	}
	if len(unseen) > 0 {
		if err := b.rdb.SAdd(ctx, b.k.statsQueues(), unseen...).Err(); err != nil {
			return wrapErr("record stats", err)
		}
		for _, name := range unseen {
			b.statsQueues.Store(name, true)
		}
	}
	keep := int64(0)
	if retention > 0 {
		keep = int64(max(retention/time.Second, 1))
	}
	now := time.Now().Unix()
	calls := make([]call, 0, len(names))
	for _, name := range names {
		q := b.queue(name)
		// Rows of one minute and different kinds go in one group.
		fields := map[int64]map[string]int64{}
		var minutes []int64
		for _, r := range byQueue[name] {
			m := r.Minute.UTC().Truncate(time.Minute).Unix()
			if fields[m] == nil {
				fields[m] = map[string]int64{}
				minutes = append(minutes, m)
			}
			for f, n := range statsFields(r) {
				fields[m][f] += n
			}
		}
		slices.Sort(minutes)
		args := []any{q.tag, keep, now}
		for _, m := range minutes {
			args = append(args, m, len(fields[m]))
			for f, n := range fields[m] {
				args = append(args, f, n)
			}
		}
		calls = append(calls, call{s: statsRecordScript, keys: []string{q.statsMinutes()}, args: args})
	}
	_, err := b.runAll(ctx, calls)
	return wrapErr("record stats", err)
}

// PruneStats implements pgqueue.StatsRecorder: the rollups expire by
// themselves (see RecordStats), so it deletes nothing and returns 0.
func (b *Backend) PruneStats(ctx context.Context, before time.Time, limit int) (int, error) {
	return 0, nil
}

// StatsHistory implements pgqueue.StatsHistoryReader: it reads the
// queues' minute indexes (one pipelined round trip) and the minutes'
// hashes in range (another), each command on its queue's slot, and sums
// them per step (pgqueue.SumStatsHistory). It returns pgqueue.ErrDatabase
// when Redis fails or a hash holds a field it cannot read.
func (b *Backend) StatsHistory(ctx context.Context, q pgqueue.StatsHistoryQuery) ([]pgqueue.StatsPoint, error) {
	names := q.Queues
	if len(names) == 0 {
		var err error
		if names, err = b.rdb.SMembers(ctx, b.k.statsQueues()).Result(); err != nil {
			return nil, wrapErr("read stats history", err)
		}
	}
	var queues []string
	for _, n := range names {
		if validQueue(n) == nil {
			queues = append(queues, n)
		}
	}
	if len(queues) == 0 {
		return pgqueue.SumStatsHistory(q, nil), nil
	}
	from := strconv.FormatInt(q.From.Truncate(time.Minute).Unix(), 10)
	// Up to To inclusive: a minute that starts before To but in its
	// second is in range; SumStatsHistory leaves out one starting at To.
	to := strconv.FormatInt(q.To.Unix(), 10)
	idx := make([]*redis.StringSliceCmd, len(queues))
	_, err := b.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, name := range queues {
			idx[i] = p.ZRangeByScore(ctx, b.queue(name).statsMinutes(), &redis.ZRangeBy{Min: from, Max: to})
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, wrapErr("read stats history", err)
	}
	type read struct {
		queue  string
		minute int64
		cmd    *redis.MapStringStringCmd
	}
	var reads []read
	_, err = b.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, name := range queues {
			for _, m := range idx[i].Val() {
				minute, err := strconv.ParseInt(m, 10, 64)
				if err != nil {
					return fmt.Errorf("minute %q of queue %q: %w", m, name, err)
				}
				reads = append(reads, read{queue: name, minute: minute, cmd: p.HGetAll(ctx, b.queue(name).statsMinute(minute))})
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, wrapErr("read stats history", err)
	}
	var rows []pgqueue.StatsRollup
	for _, rd := range reads {
		got, err := statsRows(rd.queue, time.Unix(rd.minute, 0).UTC(), rd.cmd.Val())
		if err != nil {
			return nil, wrapErr("read stats history", err)
		}
		rows = append(rows, got...)
	}
	return pgqueue.SumStatsHistory(q, rows), nil
}

// statsRows parses one minute's hash of queue into one rollup per kind.
func statsRows(queue string, minute time.Time, fields map[string]string) ([]pgqueue.StatsRollup, error) {
	byKind := map[string]*pgqueue.StatsRollup{}
	for field, val := range fields {
		counter, kind, ok := strings.Cut(field, ":")
		n, err := strconv.ParseInt(val, 10, 64)
		if !ok || err != nil {
			return nil, fmt.Errorf("field %q = %q of queue %q at %s does not parse", field, val, queue, minute.Format(time.RFC3339))
		}
		r := byKind[kind]
		if r == nil {
			r = &pgqueue.StatsRollup{Minute: minute, Queue: queue, Kind: kind}
			byKind[kind] = r
		}
		switch counter {
		case "c":
			r.Completed += n
		case "f":
			r.Failed += n
		case "d":
			r.Dead += n
		case "x":
			r.Cancelled += n
		case "l":
			r.LeaseLost += n
		default:
			i, err := -1, error(nil)
			if len(counter) > 1 {
				i, err = strconv.Atoi(counter[1:])
			}
			if err != nil || i < 0 || i >= pgqueue.StatsBucketCount || (counter[0] != 'r' && counter[0] != 'w') {
				return nil, fmt.Errorf("field %q of queue %q at %s is no stats counter", field, queue, minute.Format(time.RFC3339))
			}
			if counter[0] == 'r' {
				r.Run[i] += n
			} else {
				r.Wait[i] += n
			}
		}
	}
	out := make([]pgqueue.StatsRollup, 0, len(byKind))
	for _, r := range byKind {
		out = append(out, *r)
	}
	return out, nil
}
