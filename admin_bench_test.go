package pgqueue_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/pgqueue/pgqueue"
	"github.com/pgqueue/pgqueue/internal/pgtest"
)

// BenchmarkAdminStats1M times Stats on a schema holding 1,000,000 jobs
// (900,000 available in 3 queues, 90,000 scheduled, 10,000 dead letters):
//
//	go test -run '^$' -bench AdminStats1M -benchtime 20x .
//
// Filling the table takes a few seconds before the timer starts.
func BenchmarkAdminStats1M(b *testing.B) {
	backend := pgtest.Backend(b)
	ctx := context.Background()
	jobs := pgx.Identifier{backend.Schema(), "pgqueue_jobs"}.Sanitize()
	dead := pgx.Identifier{backend.Schema(), "pgqueue_dead_jobs"}.Sanitize()
	_, err := backend.Pool().Exec(ctx, fmt.Sprintf(`
		INSERT INTO %[1]s (state, queue, kind, priority, args, max_attempts, run_at)
		SELECT CASE WHEN g %% 10 = 0 THEN 'scheduled' ELSE 'available' END,
		       'queue_' || (g %% 3), 'ping', 1 + g %% 10, '{"seq":1}', 25,
		       CASE WHEN g %% 10 = 0 THEN now() + interval '1 hour' ELSE now() - g * interval '1 ms' END
		FROM generate_series(1, 990000) g;
		INSERT INTO %[2]s (id, queue, kind, priority, args, attempt, max_attempts, errors, created_at, died_at, lease_token)
		SELECT 2000000 + g, 'queue_0', 'kind_' || (g %% 4), 5, '{}', 25, 25, '[{"error":"x"}]', now(), now(), 1
		FROM generate_series(1, 10000) g`, jobs, dead))
	require.NoError(b, err)
	for _, table := range []string{jobs, dead} {
		_, err = backend.Pool().Exec(ctx, "VACUUM ANALYZE "+table)
		require.NoError(b, err)
	}
	admin := pgqueue.NewAdmin(backend)
	b.ResetTimer()
	var st *pgqueue.Stats
	for i := 0; i < b.N; i++ {
		st, err = admin.Stats(ctx)
		require.NoError(b, err)
	}
	b.StopTimer()
	start := time.Now()
	_, _ = admin.Stats(ctx)
	b.Logf("one Stats call on 1,000,000 jobs: %v; %d queues, first: %+v", time.Since(start), len(st.Queues), st.Queues[0])
}
