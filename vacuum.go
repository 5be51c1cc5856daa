package pgqueue

import (
	"context"
	"errors"
	"hash/fnv"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
)

// Maintainer is an optional Backend interface for storage upkeep that
// does not fit the job life cycle, such as vacuuming. A started Client
// calls Maintain about once per PollInterval; it must be cheap when there
// is nothing to do and safe to call from many clients at once.
type Maintainer interface {
	Maintain(ctx context.Context) error
}

// Vacuum thresholds: the jobs table is vacuumed when it holds more than
// vacuumMinDead dead rows and more dead rows than live ones, at most once
// per vacuumMinGap.
const (
	vacuumMinDead = 20000
	vacuumMinGap  = 2 * time.Second
)

var _ Maintainer = (*PostgresBackend)(nil)

// vacuumState remembers whether vacuuming is possible at all.
type vacuumState struct {
	denied atomic.Bool
}

// Maintain implements Maintainer: it vacuums the jobs table when dead rows
// pile up faster than autovacuum removes them (one client at a time, by
// advisory lock). When the role may not vacuum the table (it does not own
// it), Maintain returns that error once and then stops trying; autovacuum
// alone is left to do the job.
func (b *PostgresBackend) Maintain(ctx context.Context) error {
	if b.vacuum.denied.Load() {
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
	if dead < vacuumMinDead || dead < live || (since.Valid && since.Float64 < vacuumMinGap.Seconds()) {
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
	if _, err := conn.Exec(ctx, b.q.Vacuum); err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "42501" {
			b.vacuum.denied.Store(true)
		}
		return dbErr("vacuum jobs table", err)
	}
	return nil
}

func (b *PostgresBackend) vacuumKey() int64 {
	h := fnv.New64a()
	h.Write([]byte("pgqueue.vacuum\x00" + b.schema))
	return int64(h.Sum64())
}
