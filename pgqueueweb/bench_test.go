package pgqueueweb_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/pgqueue/pgqueue"
	"github.com/pgqueue/pgqueue/internal/pgtest"
	"github.com/pgqueue/pgqueue/pgqueueweb"
)

// BenchmarkHandler1M times each page of the dashboard, server-side (the
// handler, its Admin calls and the template), on a Postgres schema of
// 1,000,000 jobs: 990,000 waiting (available and scheduled, in 3 queues,
// args {"customer_id": g % 1000}, metadata tenant t0..t49) and 10,000 dead
// letters; and 100 workflows of 10 tasks, one of 300 (the most the graph
// draws) and one of 1,000 tasks (10 layers of 100, each task after two of
// the layer before). The stats cache is off, so every overview load counts. Filling
// the table takes about a minute, so it runs only with PGQUEUE_BENCH_1M=1:
//
//	PGQUEUE_BENCH_1M=1 go test -run '^$' -bench Handler1M -benchtime 20x ./pgqueueweb
func BenchmarkHandler1M(b *testing.B) {
	if os.Getenv("PGQUEUE_BENCH_1M") != "1" {
		b.Skip("set PGQUEUE_BENCH_1M=1 to fill a table of 1,000,000 jobs and time each page on it")
	}
	backend := pgtest.Backend(b)
	ctx := context.Background()
	jobs := pgx.Identifier{backend.Schema(), "pgqueue_jobs"}.Sanitize()
	dead := pgx.Identifier{backend.Schema(), "pgqueue_dead_jobs"}.Sanitize()
	_, err := backend.Pool().Exec(ctx, fmt.Sprintf(`
		INSERT INTO %[1]s (state, queue, kind, priority, args, max_attempts, run_at, metadata)
		SELECT CASE WHEN g %% 10 = 0 THEN 'scheduled' ELSE 'available' END,
		       'queue_' || (g %% 3), 'kind_' || (g %% 5), 1 + g %% 10,
		       jsonb_build_object('customer_id', g %% 1000, 'note', 'job ' || g), 25,
		       CASE WHEN g %% 10 = 0 THEN now() + interval '1 hour' ELSE now() - g * interval '1 ms' END,
		       jsonb_build_object('tenant', 't' || (g %% 50))
		FROM generate_series(1, 990000) g;
		INSERT INTO %[2]s (id, queue, kind, priority, args, attempt, max_attempts, errors, created_at, died_at, lease_token)
		SELECT 2000000 + g, 'queue_0', 'dead_kind_' || (g %% 4), 5, '{"customer_id": 1}', 25, 25,
		       '[{"attempt":25,"kind":"error","error":"smtp: 550 mailbox unavailable"}]', now(), now(), 1
		FROM generate_series(1, 10000) g`, jobs, dead))
	require.NoError(b, err)
	for _, table := range []string{jobs, dead} {
		_, err = backend.Pool().Exec(ctx, "VACUUM ANALYZE "+table)
		require.NoError(b, err)
	}
	var someID int64
	require.NoError(b, backend.Pool().QueryRow(ctx, "SELECT id FROM "+jobs+" ORDER BY id LIMIT 1 OFFSET 500000").Scan(&someID))

	client, err := pgqueue.New(backend, pgqueue.Config{})
	require.NoError(b, err)
	layered := func(name string, layers, width int) int64 {
		wf := pgqueue.NewWorkflow(name)
		var prev, cur []*pgqueue.Task
		for l := range layers {
			for i := range width {
				var opts []pgqueue.TaskOption
				if l > 0 {
					opts = append(opts, pgqueue.After(prev[i], prev[(i+1)%width]))
				}
				cur = append(cur, wf.Add(testArgs{K: "wf_task", Customer: i}, &pgqueue.EnqueueOptions{Queue: "workflows"},
					append(opts, pgqueue.Named(fmt.Sprintf("step-%d-%d", l, i)))...))
			}
			prev, cur = cur, nil
		}
		ids, err := client.EnqueueWorkflow(ctx, wf)
		require.NoError(b, err)
		return ids.ID
	}
	for i := range 100 {
		layered(fmt.Sprintf("small %d", i), 2, 5)
	}
	graph300 := layered("graph 300", 6, 50)
	big := layered("big 1000", 10, 100)

	// As autovacuum would soon after the insert: without statistics, the
	// planner reads each task's dependency names by scanning every task
	// (about 200 ms for the 1,000-task page here, against about 25 ms).
	for _, t := range []string{"pgqueue_workflows", "pgqueue_workflow_tasks", "pgqueue_workflow_edges", "pgqueue_jobs"} {
		_, err = backend.Pool().Exec(ctx, "ANALYZE "+pgx.Identifier{backend.Schema(), t}.Sanitize())
		require.NoError(b, err)
	}

	h := pgqueueweb.Handler(pgqueue.NewAdmin(backend), pgqueueweb.Options{StatsCacheTTL: -1})
	pages := []struct{ name, path string }{
		{"Overview", "/"},
		{"Jobs", "/jobs"},
		{"JobsPage2", ""}, // filled in below: the second page by cursor
		{"JobsByQueueAndState", "/jobs?queue=queue_1&state=scheduled"},
		{"JobsByArgs1in1000", "/jobs?" + url.Values{"args": {`{"customer_id": 7}`}}.Encode()},
		{"JobsByMeta1in50", "/jobs?" + url.Values{"meta": {"tenant=t7"}}.Encode()},
		{"Job", fmt.Sprintf("/jobs/%d", someID)},
		{"DeadLetters", "/dead"},
		{"DeadLettersByKind", "/dead?kind=dead_kind_1"},
		{"Queues", "/queues"},
		{"Periodic", "/periodic"},
		{"Clients", "/clients"},
		{"ConfirmCancelByKind", "/confirm?action=cancel&kind=kind_3"},
		{"Workflows", "/workflows"},
		{"WorkflowsPage2", fmt.Sprintf("/workflows?before=%d", big-49)}, // IDs are sequential here
		{"WorkflowGraph300", fmt.Sprintf("/workflows/%d", graph300)},
		{"Workflow1000", fmt.Sprintf("/workflows/%d", big)},
	}
	page, err := pgqueue.NewAdmin(backend).ListJobs(ctx, pgqueue.JobFilter{})
	require.NoError(b, err)
	pages[2].path = "/jobs?cursor=" + url.QueryEscape(page.NextCursor)
	for _, p := range pages {
		b.Run(p.name, func(b *testing.B) {
			for b.Loop() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, p.path, nil))
				if rec.Code != http.StatusOK {
					b.Fatalf("GET %s: %d %s", p.path, rec.Code, rec.Body.String())
				}
			}
		})
	}
}
