package pgqueue

// The Postgres backend's upkeep: promoting due scheduled jobs, vacuuming
// the jobs table, and the census of kinds no client works.

import (
	"context"
	"errors"
	"hash/fnv"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
)

// promoteBatch caps how many scheduled jobs one promotion statement moves.
const promoteBatch = 5000

// queueCounts reads rows of (queue, count, notified) into a sorted queue list
// and a total.
func queueCounts(rows pgx.Rows) ([]string, int, error) {
	var (
		queues []string
		total  int
	)
	for rows.Next() {
		var (
			q        string
			n        int64
			notified any
		)
		if err := rows.Scan(&q, &n, &notified); err != nil {
			return nil, 0, err
		}
		queues = append(queues, q)
		total += int(n)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, err
	}
	sort.Strings(queues)
	return queues, total, nil
}

// PromoteDue implements Backend.
func (b *PostgresBackend) PromoteDue(ctx context.Context) (PromoteResult, error) {
	var res PromoteResult
	seen := map[string]bool{}
	for {
		rows, err := b.pool.Query(ctx, b.q.Promote, b.channel, promoteBatch)
		if err != nil {
			return res, dbErr("promote scheduled jobs", err)
		}
		queues, n, err := queueCounts(rows)
		if err != nil {
			return res, dbErr("promote scheduled jobs", err)
		}
		for _, q := range queues {
			if !seen[q] {
				seen[q] = true
				res.Queues = append(res.Queues, q)
			}
		}
		if n < promoteBatch {
			break
		}
	}
	sort.Strings(res.Queues)
	var next pgtype.Int8
	if err := b.pool.QueryRow(ctx, b.q.NextDue).Scan(&next); err != nil {
		return res, dbErr("find next scheduled job", err)
	}
	if next.Valid {
		res.HasNext, res.NextIn = true, time.Duration(next.Int64)*time.Microsecond
	}
	return res, nil
}

// Vacuum thresholds: the jobs table is vacuumed when it holds at least
// vacuumMinDead dead rows and at least one dead row for every
// vacuumLivePerDead live ones, at most once per vacuumMinGap. During a
// drain every job leaves two dead rows (its claim and its completion), and
// the claim index fills with entries every claim must step over, from the
// front of the queue, until a vacuum removes them: waiting for as many
// dead rows as live ones let claims slow down by half before the first
// vacuum. The live share keeps a table of a million waiting jobs from
// being vacuumed (its indexes scanned whole) every few seconds. The gap
// is short because a busy queue's table is small: with a backlog of
// 10,000 jobs worked at 40,000 jobs/s, a vacuum every 3 s (the old 2 s gap
// and 1 s check) took 80-120 ms and claims slowed from 1.7 to 2.9 ms per
// 100 jobs between two of them.
const (
	vacuumMinDead     = 20000
	vacuumLivePerDead = 4
	vacuumMinGap      = 500 * time.Millisecond
)

// vacuumDue reports whether a jobs table with dead and live rows, last
// vacuumed sinceLast ago (negative: never), needs a vacuum now.
func vacuumDue(dead, live int64, sinceLast time.Duration) bool {
	return dead >= vacuumMinDead && dead*vacuumLivePerDead >= live && (sinceLast < 0 || sinceLast >= vacuumMinGap)
}

// vacuumState remembers whether vacuuming is possible at all, and how
// long the last vacuum makes the next one wait.
type vacuumState struct {
	denied atomic.Bool

	mu sync.Mutex
	// notBefore holds vacuums back after one that could not remove most
	// dead rows: a transaction older than them pins the horizon (a long
	// report, a forgotten idle-in-transaction session), and vacuuming
	// again every vacuumMinGap would scan the swollen table and its
	// indexes over and over for nothing. backoff is the wait after the
	// next such vacuum.
	notBefore time.Time
	backoff   time.Duration
}

// Backoff after a vacuum that removed less than half the dead rows it
// found: vacuumPinnedMin, doubling to vacuumPinnedMax while it lasts.
const (
	vacuumPinnedMin = 2 * time.Second
	vacuumPinnedMax = 30 * time.Second
)

// held reports whether vacuums are held back at now.
func (v *vacuumState) held(now time.Time) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return now.Before(v.notBefore)
}

// vacuumDuty bounds the share of time this client spends vacuuming: after
// a vacuum that took d, the next waits at least vacuumDuty*d (a third of
// a core at most). A small table (a busy queue's) is vacuumed in tens of
// milliseconds and so as often as vacuumMinGap allows; one swollen by a
// burst or a pinned horizon takes longer and is vacuumed less often. A
// larger factor starves a swollen table: its dead rows pile up faster than
// the spaced-out vacuums remove them (in the soak, ten times left 1.9
// million dead rows and a third of the throughput after the horizon's
// release).
const vacuumDuty = 2

// vacuumed records the outcome of a vacuum that took took, found before
// dead rows and left after: the next waits vacuumDuty times as long, and
// one that removed less than half of them holds the next back longer,
// each time in a row; one that removed more ends that.
func (v *vacuumState) vacuumed(before, after int64, took time.Duration, now time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	wait := vacuumDuty * took
	if after*2 < before {
		v.backoff = 0
	} else {
		v.backoff = min(max(2*v.backoff, vacuumPinnedMin), vacuumPinnedMax)
		wait = max(wait, v.backoff)
	}
	v.notBefore = now.Add(wait)
}

// Maintain implements Maintainer: it vacuums the jobs table when dead rows
// pile up faster than autovacuum removes them (see vacuumDue) (one client at a time, by
// advisory lock). When the role may not vacuum the table (it does not own
// it), Maintain returns that error once and then stops trying; autovacuum
// alone is left to do the job.
func (b *PostgresBackend) Maintain(ctx context.Context) error {
	if b.vacuum.denied.Load() || b.vacuum.held(time.Now()) {
		return nil
	}
	var (
		dead, live int64
		since      pgtype.Float8
	)
	table := pgx.Identifier{b.schema, "pgqueue_jobs"}.Sanitize()
	err := b.pool.QueryRow(ctx, b.q.VacuumCheck, table).Scan(&dead, &live, &since)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return dbErr("check dead rows", err)
	}
	sinceLast := time.Duration(-1)
	if since.Valid {
		sinceLast = time.Duration(since.Float64 * float64(time.Second))
	}
	if !vacuumDue(dead, live, sinceLast) {
		return nil
	}
	conn, err := b.pool.Acquire(ctx)
	if err != nil {
		return dbErr("vacuum", err)
	}
	defer conn.Release()
	var locked bool
	if err := conn.QueryRow(ctx, b.q.VacuumLock, b.vacuumKey()).Scan(&locked); err != nil || !locked {
		return dbErr("vacuum lock", err)
	}
	defer func() {
		unlockCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, _ = conn.Exec(unlockCtx, b.q.VacuumUnlock, b.vacuumKey())
	}()
	start := time.Now()
	if _, err := conn.Exec(ctx, b.q.Vacuum); err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "42501" {
			b.vacuum.denied.Store(true)
		}
		return dbErr("vacuum jobs table", err)
	}
	// The vacuum just set the table's dead-row count to what it could
	// not remove.
	var after int64
	if err := conn.QueryRow(ctx, b.q.VacuumCheck, table).Scan(&after, &live, &since); err == nil {
		b.vacuum.vacuumed(dead, after, time.Since(start), time.Now())
	}
	return nil
}

func (b *PostgresBackend) vacuumKey() int64 {
	h := fnv.New64a()
	h.Write([]byte("pgqueue.vacuum\x00" + b.schema))
	return int64(h.Sum64())
}

// UnworkedKinds implements KindCensus.
func (b *PostgresBackend) UnworkedKinds(ctx context.Context, queue string, kinds []string, olderThan time.Duration, limit int) (map[string]int, error) {
	rows, _ := b.pool.Query(ctx, b.q.UnworkedKinds, queue, kinds, micros(olderThan), limit)
	out := map[string]int{}
	var (
		kind string
		n    int64
	)
	_, err := pgx.ForEachRow(rows, []any{&kind, &n}, func() error {
		out[kind] = int(n)
		return nil
	})
	if err != nil {
		return nil, dbErr("count unworked kinds", err)
	}
	return out, nil
}
