package pgqueue_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/pgqueue/pgqueue"
	"github.com/pgqueue/pgqueue/internal/pgtest"
)

// BenchmarkOperatorReads1MPlus1MHistory times the operator's reads on a
// schema holding 1,000,000 waiting jobs and 1,000,000 completed jobs in
// the history (a day's retention, spread over its hourly partitions):
// Stats, and the first page of ListJobs with the filters an operator uses
// most, completed jobs included.
//
//	go test -run '^$' -bench OperatorReads1M -benchtime 20x .
//
// Filling the tables takes about a minute before the timers start.
func BenchmarkOperatorReads1MPlus1MHistory(b *testing.B) {
	backend := pgtest.Backend(b)
	ctx := context.Background()
	_, err := backend.MaintainHistory(ctx, 24*time.Hour)
	require.NoError(b, err)
	jobs := pgx.Identifier{backend.Schema(), "pgqueue_jobs"}.Sanitize()
	hist := pgx.Identifier{backend.Schema(), "pgqueue_job_history"}.Sanitize()
	_, err = backend.Pool().Exec(ctx, fmt.Sprintf(`
		INSERT INTO %[1]s (state, queue, kind, priority, args, max_attempts, run_at, metadata)
		SELECT CASE WHEN g %% 10 = 0 THEN 'scheduled' ELSE 'available' END,
		       'queue_' || (g %% 3), 'kind_' || (g %% 5), 1 + g %% 10,
		       jsonb_build_object('customer_id', g %% 1000, 'seq', g), 25,
		       CASE WHEN g %% 10 = 0 THEN now() + interval '1 hour' ELSE now() - g * interval '1 ms' END,
		       jsonb_build_object('tenant', 'tenant_' || (g %% 50))
		FROM generate_series(1, 1000000) g;
		INSERT INTO %[2]s (id, queue, kind, priority, args, attempt, max_attempts, metadata, created_at, run_at,
		                   attempted_at, finished_at, keep_until, lease_token, output)
		SELECT 2000000 + g, 'queue_' || (g %% 3), 'kind_' || (g %% 5), 5,
		       jsonb_build_object('customer_id', g %% 1000, 'seq', g), 1, 25,
		       jsonb_build_object('tenant', 'tenant_' || (g %% 50)),
		       now() - interval '1 hour', now() - interval '1 hour', now() - interval '1 hour',
		       now() - (1000000 - g) * interval '50 ms',
		       now() + interval '1 hour' + g * interval '70 ms', 1, '{"ok": true}'
		FROM generate_series(1, 1000000) g`, jobs, hist))
	require.NoError(b, err)
	for _, table := range []string{jobs, hist} {
		_, err = backend.Pool().Exec(ctx, "VACUUM ANALYZE "+table)
		require.NoError(b, err)
	}
	admin := pgqueue.NewAdmin(backend)
	b.Run("Stats", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			_, err := admin.Stats(ctx)
			require.NoError(b, err)
		}
	})
	for _, c := range []struct {
		name string
		f    pgqueue.JobFilter
	}{
		{"ListJobs/all", pgqueue.JobFilter{}},
		{"ListJobs/completed", pgqueue.JobFilter{States: []pgqueue.State{pgqueue.StateCompleted}}},
		{"ListJobs/completed+queue", pgqueue.JobFilter{States: []pgqueue.State{pgqueue.StateCompleted}, Queues: []string{"queue_1"}}},
		{"ListJobs/finished-last-minute", pgqueue.JobFilter{FinishedAfter: time.Now().Add(-time.Minute)}},
		{"ListJobs/available+kind", pgqueue.JobFilter{States: []pgqueue.State{pgqueue.StateAvailable}, Kinds: []string{"kind_3"}}},
		{"ListJobs/id", pgqueue.JobFilter{IDs: []int64{2_500_000}}},
		{"ListJobs/metadata", pgqueue.JobFilter{Metadata: map[string]string{"tenant": "tenant_7"}}},
		{"ListJobs/args-1-in-1000", pgqueue.JobFilter{Args: json.RawMessage(`{"customer_id": 42}`)}},
	} {
		b.Run(c.name, func(b *testing.B) {
			var page pgqueue.JobPage
			for i := 0; i < b.N; i++ {
				page, err = admin.ListJobs(ctx, c.f)
				require.NoError(b, err)
			}
			require.NotEmpty(b, page.Jobs, "the filter must match jobs, or the timing means nothing")
		})
	}
}
