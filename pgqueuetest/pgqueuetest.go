// Package pgqueuetest helps applications test code that enqueues or works
// pgqueue jobs: assert that a job was enqueued inside a transaction, run a
// worker inline on given args, and drain a queue synchronously.
package pgqueuetest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/pgqueue/pgqueue"
)

// EnqueuedJob is a job found by RequireEnqueued.
type EnqueuedJob struct {
	// ID is the job's ID.
	ID int64
	// Queue is the queue the job was enqueued in.
	Queue string
	// Args is the job's payload as Postgres returns it: jsonb, so key
	// order and spacing may differ from what was enqueued.
	Args json.RawMessage
	// State is available, scheduled or running when the table was read.
	State pgqueue.State
}

// FindEnqueued returns the jobs of want's kind in schema's queue table, as
// seen by db (pass the test's transaction to see its uncommitted jobs),
// whose args equal want's as JSON values.
func FindEnqueued[T pgqueue.Args](ctx context.Context, db pgqueue.DBTX, schema string, want T) ([]EnqueuedJob, []EnqueuedJob, error) {
	wantJSON, err := json.Marshal(want)
	if err != nil {
		return nil, nil, fmt.Errorf("pgqueuetest: encode want: %w", err)
	}
	rows, err := db.Query(ctx, "SELECT id, queue, args, state FROM "+pgx.Identifier{schema, "pgqueue_jobs"}.Sanitize()+" WHERE kind = $1 ORDER BY id", want.Kind())
	if err != nil {
		return nil, nil, fmt.Errorf("pgqueuetest: query jobs: %w", err)
	}
	all, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (EnqueuedJob, error) {
		var (
			j     EnqueuedJob
			state string
		)
		err := row.Scan(&j.ID, &j.Queue, &j.Args, &state)
		j.State = pgqueue.State(state)
		return j, err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("pgqueuetest: read jobs: %w", err)
	}
	var matches []EnqueuedJob
	for _, j := range all {
		if sameJSON(j.Args, wantJSON) {
			matches = append(matches, j)
		}
	}
	return matches, all, nil
}

// sameJSON compares two JSON documents as values (key order and spacing
// do not matter; jsonb normalises both).
func sameJSON(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return bytes.Equal(a, b)
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return bytes.Equal(xa, ya)
}

// RequireEnqueued fails the test unless exactly one job of want's kind
// with args equal to want is in schema's queue table as db sees it, and
// returns it. Pass the transaction the code under test enqueued in to see
// jobs before commit.
func RequireEnqueued[T pgqueue.Args](t testing.TB, db pgqueue.DBTX, schema string, want T) EnqueuedJob {
	t.Helper()
	matches, all, err := FindEnqueued(context.Background(), db, schema, want)
	if err != nil {
		t.Fatal(err)
	}
	if len(matches) != 1 {
		var found []string
		for _, j := range all {
			found = append(found, fmt.Sprintf("#%d %s", j.ID, j.Args))
		}
		t.Fatalf("pgqueuetest: want exactly one %q job with args %+v, found %d among %d of that kind: [%s]",
			want.Kind(), want, len(matches), len(all), strings.Join(found, ", "))
	}
	return matches[0]
}

// RequireNotEnqueued fails the test if a job of want's kind with args
// equal to want is in schema's queue table as db sees it.
func RequireNotEnqueued[T pgqueue.Args](t testing.TB, db pgqueue.DBTX, schema string, want T) {
	t.Helper()
	matches, _, err := FindEnqueued(context.Background(), db, schema, want)
	if err != nil {
		t.Fatal(err)
	}
	if len(matches) > 0 {
		t.Fatalf("pgqueuetest: want no %q job with args %+v, found #%d", want.Kind(), want, matches[0].ID)
	}
}

// Work runs w inline on a job with args, as attempt 1 of 1, without any
// backend, and returns the worker's error (a panic is returned as a
// *pgqueue.PanicError). The job cannot be completed with CompleteTx.
func Work[T pgqueue.Args](ctx context.Context, w pgqueue.Worker[T], args T) (err error) {
	raw, err := json.Marshal(args)
	if err != nil {
		return fmt.Errorf("pgqueuetest: encode args: %w", err)
	}
	var decoded T
	if err := json.Unmarshal(raw, &decoded); err != nil {
		return &pgqueue.DecodeError{Kind: args.Kind(), Err: err}
	}
	defer func() {
		if r := recover(); r != nil {
			err = &pgqueue.PanicError{Value: r}
		}
	}()
	return w.Work(ctx, &pgqueue.Job[T]{Kind: args.Kind(), Queue: pgqueue.DefaultQueue, Attempt: 1, MaxAttempts: 1, Args: decoded})
}

// Drain works every due job of the queues with c, in the calling
// goroutine, and returns how many runs it made (see pgqueue.Client.Drain);
// it fails the test on error.
func Drain(t testing.TB, c *pgqueue.Client, queues ...string) int {
	t.Helper()
	n, err := c.Drain(context.Background(), queues...)
	if err != nil {
		t.Fatalf("pgqueuetest: drain: %v", err)
	}
	return n
}
