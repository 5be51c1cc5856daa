package pgqueue_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/pgqueue/pgqueue"
	"github.com/pgqueue/pgqueue/internal/pgtest"
)

// BenchmarkListJobs200k times the first page of ListJobs (50 jobs) on a
// schema holding 200,000 waiting jobs and 20,000 dead letters, with the
// filters an operator uses most:
//
//	go test -run '^$' -bench ListJobs200k -benchtime 20x .
//
// Filling the table takes a few seconds before the timers start.
func BenchmarkListJobs200k(b *testing.B) {
	backend := pgtest.Backend(b)
	ctx := context.Background()
	jobs := pgx.Identifier{backend.Schema(), "pgqueue_jobs"}.Sanitize()
	dead := pgx.Identifier{backend.Schema(), "pgqueue_dead_jobs"}.Sanitize()
	_, err := backend.Pool().Exec(ctx, fmt.Sprintf(`
		INSERT INTO %[1]s (state, queue, kind, priority, args, max_attempts, run_at, metadata)
		SELECT CASE WHEN g %% 10 = 0 THEN 'scheduled' ELSE 'available' END,
		       'queue_' || (g %% 3), 'kind_' || (g %% 5), 1 + g %% 10,
		       jsonb_build_object('customer_id', g %% 1000, 'seq', g), 25,
		       CASE WHEN g %% 10 = 0 THEN now() + interval '1 hour' ELSE now() END,
		       jsonb_build_object('tenant', 'tenant_' || (g %% 50))
		FROM generate_series(1, 200000) g;
		INSERT INTO %[2]s (id, queue, kind, priority, args, attempt, max_attempts, errors, created_at, died_at, lease_token)
		SELECT 1000000 + g, 'queue_0', 'kind_' || (g %% 4), 5, '{}', 25, 25, '[{"error":"x"}]', now(), now(), 1
		FROM generate_series(1, 20000) g`, jobs, dead))
	require.NoError(b, err)
	for _, table := range []string{jobs, dead} {
		_, err = backend.Pool().Exec(ctx, "VACUUM ANALYZE "+table)
		require.NoError(b, err)
	}
	admin := pgqueue.NewAdmin(backend)
	for name, f := range map[string]pgqueue.JobFilter{
		"all":            {},
		"state+queue":    {States: []pgqueue.State{pgqueue.StateAvailable}, Queues: []string{"queue_1"}},
		"kind":           {Kinds: []string{"kind_3"}},
		"args":           {Args: json.RawMessage(`{"customer_id": 42}`)},
		"metadata":       {Metadata: map[string]string{"tenant": "tenant_7"}},
		"dead":           {States: []pgqueue.State{pgqueue.StateDead}},
		"id":             {IDs: []int64{123456}},
		"oldest,running": {Order: pgqueue.OldestFirst, States: []pgqueue.State{pgqueue.StateRunning}},
	} {
		b.Run(name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				_, err := admin.ListJobs(ctx, f)
				require.NoError(b, err)
			}
		})
	}
}
