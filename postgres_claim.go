package pgqueue

// The Postgres backend's claim: one pipelined round trip, and the cache
// of queues with global limits that need the locking claim.

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// Claim implements Backend.
func (b *PostgresBackend) Claim(ctx context.Context, p ClaimParams) ([]*JobRow, error) {
	if p.Limit <= 0 || len(p.Kinds) == 0 {
		return nil, nil
	}
	// One round trip: the plan setting, the claim and the commit are
	// pipelined in one batch.
	batch := &pgx.Batch{}
	limited, err := b.limits.isLimited(ctx, b, p.Queue)
	if err != nil {
		return nil, dbErr("read queue limits", err)
	}
	claim := b.q.Claim
	batch.Queue("BEGIN")
	batch.Queue(b.q.ClaimPlan)
	if limited {
		batch.Queue(b.q.ClaimLock, p.Queue)
		claim = b.q.ClaimLimited
	}
	var out []*JobRow
	batch.Queue(claim, p.Queue, p.Kinds, p.Limit, micros(p.Lease), p.ClientID).Query(func(rows pgx.Rows) error {
		var err error
		out, err = newClaimScanner(p).scanAll(rows, p.Limit)
		return err
	})
	batch.Queue("COMMIT")
	if err := b.pool.SendBatch(ctx, batch).Close(); err != nil {
		return nil, dbErr("claim jobs", err)
	}
	slices.SortFunc(out, func(a, c *JobRow) int {
		if n := cmp.Compare(a.Priority, c.Priority); n != 0 {
			return n
		}
		if n := a.RunAt.Compare(c.RunAt); n != 0 {
			return n
		}
		return cmp.Compare(a.ID, c.ID)
	})
	return out, nil
}

// claimScanner reads the rows of one claim (sql/job_columns.sql, the
// columns scanJobColumns reads) with one set of scan targets for all of
// them. Claims are the hot path: scanning each row into fresh locals cost
// about ten allocations per job (the targets escape through Scan's
// arguments, and json.RawMessage and the kind and queue strings were each
// allocated), a fifth of the client's CPU per drained job with the
// collector's share. The queue and kind strings are those of the claim's
// parameters (every row claimed is of that queue and one of those kinds),
// so they are shared, not copied per row.
type claimScanner struct {
	p           ClaimParams
	id, token   int64
	kind, queue pgtype.DriverBytes
	prio        int16
	args        []byte
	errs, meta  pgtype.DriverBytes
	attempt     int32
	maxAttempts int32
	created     time.Time
	runAt       time.Time
	attempted   pgtype.Timestamptz
	lease       pgtype.Timestamptz
	workflow    pgtype.Int8
	dest        []any
}

func newClaimScanner(p ClaimParams) *claimScanner {
	s := &claimScanner{p: p}
	// The order of sql/job_columns.sql.
	s.dest = []any{&s.id, &s.kind, &s.queue, &s.prio, &s.args, &s.attempt, &s.maxAttempts,
		&s.errs, &s.created, &s.runAt, &s.attempted, &s.lease, &s.token, &s.meta, &s.workflow}
	return s
}

// scanAll reads every row; limit sizes the result.
func (s *claimScanner) scanAll(rows pgx.Rows, limit int) ([]*JobRow, error) {
	defer rows.Close()
	out := make([]*JobRow, 0, limit)
	for rows.Next() {
		j, err := s.scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	return out, rows.Err()
}

// scan reads the current row into a new JobRow.
func (s *claimScanner) scan(rows pgx.Rows) (*JobRow, error) {
	// args is scanned into a fresh copy (pgx copies into a []byte); errs
	// and meta, like kind and queue, are the driver's memory until the
	// next row, and are decoded before it.
	s.args, s.errs, s.meta = nil, nil, nil
	if err := rows.Scan(s.dest...); err != nil {
		return nil, err
	}
	j := &JobRow{
		ID: s.id, Kind: shared(s.kind, s.p.Kinds...), Queue: shared(s.queue, s.p.Queue),
		Priority: int(s.prio), Attempt: int(s.attempt), MaxAttempts: int(s.maxAttempts),
		CreatedAt: s.created, RunAt: s.runAt, AttemptedAt: s.attempted.Time, LeaseUntil: s.lease.Time,
		Token: s.token, WorkflowID: s.workflow.Int64,
	}
	if s.args != nil {
		j.Args = json.RawMessage(s.args)
	}
	if s.meta != nil {
		if err := json.Unmarshal(s.meta, &j.Metadata); err != nil {
			return nil, fmt.Errorf("%w: job %d: decode metadata: %w", ErrDatabase, j.ID, err)
		}
	}
	var err error
	j.Errors, err = decodeErrors(j.ID, s.errs)
	return j, err
}

// shared returns the string of known equal to b, or a copy of b when none
// is.
func shared(b []byte, known ...string) string {
	for _, k := range known {
		if string(b) == k {
			return k
		}
	}
	return string(b)
}

// limitCacheTTL is how long a client trusts its list of limited queues:
// limits set at run time (Admin.SetQueueLimits) apply within it.
const limitCacheTTL = time.Second

// limitCache remembers which queues have global limits, so that claims of
// the (usual) unlimited queues skip the lock and the limit arithmetic.
type limitCache struct {
	mu      sync.Mutex
	at      time.Time
	limited map[string]bool
}

func (c *limitCache) isLimited(ctx context.Context, b *PostgresBackend, queue string) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.limited == nil || time.Since(c.at) > limitCacheTTL {
		rows, _ := b.pool.Query(ctx, b.q.LimitedQueues)
		names, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return false, err
		}
		c.limited = make(map[string]bool, len(names))
		for _, n := range names {
			c.limited[n] = true
		}
		c.at = time.Now()
	}
	return c.limited[queue], nil
}

// invalidate makes the next claim re-read the limits.
func (c *limitCache) invalidate() {
	c.mu.Lock()
	c.limited = nil
	c.mu.Unlock()
}
