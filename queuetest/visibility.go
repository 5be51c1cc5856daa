package queuetest

// The Visibility group: the operator API (pgqueue.Admin) over the
// backend's JobLister, JobActor and StatsReporter: listing with every
// filter, keyset pagination under churn, counting and bulk actions.

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgqueue/pgqueue"
)

func visibilityBehaviours() []behaviour {
	return []behaviour{
		{"ListJobsEveryFilter", testListJobsEveryFilter},
		{"ListJobsPaginatesUnderChurn", testListJobsPaginatesUnderChurn},
		{"ListJobsRefusesBadFilters", testListJobsRefusesBadFilters},
		{"BulkActions", testBulkActions},
		{"BulkInBatches", testBulkInBatches},
		{"JobLookupAndRetry", testJobLookupAndRetry},
		{"Stats", testVisibilityStats},
	}
}

// requireLister skips on a backend without the operator interfaces.
func requireLister(t *testing.T, b pgqueue.Backend) *pgqueue.Admin {
	t.Helper()
	if _, ok := b.(pgqueue.JobLister); !ok {
		t.Skipf("%T does not implement pgqueue.JobLister", b)
	}
	if _, ok := b.(pgqueue.JobActor); !ok {
		t.Skipf("%T does not implement pgqueue.JobActor", b)
	}
	return pgqueue.NewAdmin(b)
}

// visFixture is one job of each state, across two queues, two kinds,
// three priorities, with args and metadata to search on.
type visFixture struct {
	avail, sched, running, dead, avail2 int64
	start                               time.Time
}

func seedVisibility(t *testing.T, b pgqueue.Backend) visFixture {
	t.Helper()
	ctx := context.Background()
	mk := func(queue, kind string, prio int, args string, meta map[string]string) pgqueue.InsertParams {
		return pgqueue.InsertParams{Kind: kind, Queue: queue, Priority: prio, Args: json.RawMessage(args), MaxAttempts: 3, Metadata: meta}
	}
	f := visFixture{start: time.Now().Add(-time.Minute)}
	f.avail = insert(t, b, mk("vis-a", "vis.k1", 1, `{"customer_id":42,"plan":"pro"}`, map[string]string{"tenant": "acme"}))[0]
	sched := mk("vis-a", "vis.k2", 5, `{"customer_id":7}`, map[string]string{"tenant": "globex"})
	sched.RunAt = time.Now().Add(time.Hour)
	f.sched = insert(t, b, sched)[0]
	f.running = insert(t, b, mk("vis-b", "vis.k1", 5, `{"customer_id":42,"tags":["x","y"]}`, map[string]string{"tenant": "acme", "region": "eu"}))[0]
	rows := claim(t, b, "vis-b", 1, time.Hour, "vis.k1")
	require.Len(t, rows, 1, "the fixture's running job must be claimable")
	f.dead = insert(t, b, mk("vis-b", "vis.k2", 9, `{"customer_id":8}`, nil))[0]
	rows = claim(t, b, "vis-b", 1, time.Hour, "vis.k2")
	require.Len(t, rows, 1, "the fixture's dead job must be claimable")
	require.NoError(t, b.DeadLetter(ctx, rows[0].Ref(), pgqueue.AttemptError{Attempt: 1, At: time.Now().UTC(), Error: "boom", Kind: "permanent"}))
	f.avail2 = insert(t, b, mk("vis-a", "vis.k1", 1, `{"customer_id":43}`, map[string]string{"tenant": "acme"}))[0]
	return f
}

// listIDs lists every page of f and returns the IDs in order.
func listIDs(t *testing.T, a *pgqueue.Admin, f pgqueue.JobFilter) []int64 {
	t.Helper()
	var ids []int64
	for range 100 {
		page, err := a.ListJobs(context.Background(), f)
		require.NoError(t, err, "ListJobs(%+v)", f)
		for _, j := range page.Jobs {
			ids = append(ids, j.ID)
		}
		if page.NextCursor == "" {
			return ids
		}
		f.Cursor = page.NextCursor
	}
	t.Fatal("ListJobs never returned a last page")
	return nil
}

// Every filter field, alone and combined, keeps exactly the jobs it
// describes, newest first, and CountJobs agrees with the listing.
func testListJobsEveryFilter(t *testing.T, b pgqueue.Backend) {
	a := requireLister(t, b)
	x := seedVisibility(t, b)
	all := []int64{x.avail2, x.dead, x.running, x.sched, x.avail}
	cases := []struct {
		name string
		f    pgqueue.JobFilter
		want []int64
	}{
		{"no filter: every job, newest first", pgqueue.JobFilter{}, all},
		{"state available", pgqueue.JobFilter{States: []pgqueue.State{pgqueue.StateAvailable}}, []int64{x.avail2, x.avail}},
		{"state scheduled", pgqueue.JobFilter{States: []pgqueue.State{pgqueue.StateScheduled}}, []int64{x.sched}},
		{"state running", pgqueue.JobFilter{States: []pgqueue.State{pgqueue.StateRunning}}, []int64{x.running}},
		{"state dead", pgqueue.JobFilter{States: []pgqueue.State{pgqueue.StateDead}}, []int64{x.dead}},
		{"states running or dead", pgqueue.JobFilter{States: []pgqueue.State{pgqueue.StateDead, pgqueue.StateRunning}}, []int64{x.dead, x.running}},
		{"queue", pgqueue.JobFilter{Queues: []string{"vis-b"}}, []int64{x.dead, x.running}},
		{"unknown queue", pgqueue.JobFilter{Queues: []string{"vis-none"}}, nil},
		{"kind", pgqueue.JobFilter{Kinds: []string{"vis.k2"}}, []int64{x.dead, x.sched}},
		{"priority", pgqueue.JobFilter{Priorities: []int{1}}, []int64{x.avail2, x.avail}},
		{"priorities", pgqueue.JobFilter{Priorities: []int{5, 9}}, []int64{x.dead, x.running, x.sched}},
		{"ids", pgqueue.JobFilter{IDs: []int64{x.sched, x.dead, 987654321}}, []int64{x.dead, x.sched}},
		{"created in range", pgqueue.JobFilter{CreatedAfter: x.start, CreatedBefore: time.Now().Add(time.Minute)}, all},
		{"created before the fixture", pgqueue.JobFilter{CreatedBefore: x.start}, nil},
		{"created after the fixture", pgqueue.JobFilter{CreatedAfter: time.Now().Add(time.Minute)}, nil},
		{"finished after: dead letters only", pgqueue.JobFilter{FinishedAfter: x.start}, []int64{x.dead}},
		{"finished before the fixture", pgqueue.JobFilter{FinishedBefore: x.start}, nil},
		{"metadata", pgqueue.JobFilter{Metadata: map[string]string{"tenant": "acme"}}, []int64{x.avail2, x.running, x.avail}},
		{"metadata, two keys", pgqueue.JobFilter{Metadata: map[string]string{"tenant": "acme", "region": "eu"}}, []int64{x.running}},
		{"args containment", pgqueue.JobFilter{Args: json.RawMessage(`{"customer_id": 42}`)}, []int64{x.running, x.avail}},
		{"args containment, number written differently", pgqueue.JobFilter{Args: json.RawMessage(`{"customer_id": 42.0}`)}, []int64{x.running, x.avail}},
		{"args containment, array element", pgqueue.JobFilter{Args: json.RawMessage(`{"tags": ["y"]}`)}, []int64{x.running}},
		{"args containment, no match", pgqueue.JobFilter{Args: json.RawMessage(`{"customer_id": "42"}`)}, nil},
		{"combined", pgqueue.JobFilter{Queues: []string{"vis-a"}, Kinds: []string{"vis.k1"}, States: []pgqueue.State{pgqueue.StateAvailable},
			Args: json.RawMessage(`{"customer_id": 42}`), Metadata: map[string]string{"tenant": "acme"}}, []int64{x.avail}},
		{"oldest first", pgqueue.JobFilter{Order: pgqueue.OldestFirst}, reversed(all)},
	}
	for _, tc := range cases {
		got := listIDs(t, a, tc.f)
		require.Equal(t, tc.want, got, "ListJobs with filter %q", tc.name)
		n, err := a.CountJobs(context.Background(), tc.f)
		require.NoError(t, err, "CountJobs with filter %q", tc.name)
		require.EqualValues(t, len(tc.want), n, "CountJobs must count what ListJobs lists, filter %q", tc.name)
	}

	// The listed jobs carry their state and fields.
	page, err := a.ListJobs(context.Background(), pgqueue.JobFilter{})
	require.NoError(t, err)
	byID := map[int64]*pgqueue.JobInfo{}
	for _, j := range page.Jobs {
		byID[j.ID] = j
	}
	require.Equal(t, pgqueue.StateAvailable, byID[x.avail].State)
	require.Equal(t, pgqueue.StateScheduled, byID[x.sched].State)
	require.Equal(t, pgqueue.StateRunning, byID[x.running].State)
	require.Equal(t, pgqueue.StateDead, byID[x.dead].State)
	require.Equal(t, "vis.k1", byID[x.avail].Kind)
	require.Equal(t, "vis-a", byID[x.avail].Queue)
	require.Equal(t, 1, byID[x.avail].Priority)
	require.JSONEq(t, `{"customer_id":42,"plan":"pro"}`, string(byID[x.avail].Args))
	require.Equal(t, map[string]string{"tenant": "acme"}, byID[x.avail].Metadata)
	require.False(t, byID[x.running].LeaseUntil.IsZero(), "a running job shows its lease")
	require.False(t, byID[x.dead].FinishedAt.IsZero(), "a dead job shows when it died")
	require.True(t, byID[x.avail].FinishedAt.IsZero(), "a waiting job has not finished")
	require.Equal(t, "boom", byID[x.dead].Errors[len(byID[x.dead].Errors)-1].Error, "a dead job shows its errors")
}

// Pages never skip or repeat a job, while jobs are enqueued and completed
// between pages, in both orders.
func testListJobsPaginatesUnderChurn(t *testing.T, b pgqueue.Backend) {
	a := requireLister(t, b)
	ctx := context.Background()
	const kind = "vis.page"
	var initial []int64
	for range 3 {
		batch := make([]pgqueue.InsertParams, 10)
		for i := range batch {
			batch[i] = job(kind)
		}
		initial = append(initial, insert(t, b, batch...)...)
	}
	for _, order := range []pgqueue.JobOrder{pgqueue.NewestFirst, pgqueue.OldestFirst} {
		f := pgqueue.JobFilter{Kinds: []string{kind}, Limit: 4, Order: order}
		var seen, completed, added []int64
		for page := 0; ; page++ {
			p, err := a.ListJobs(ctx, f)
			require.NoError(t, err, "page %d (%s first)", page, order)
			require.LessOrEqual(t, len(p.Jobs), 4, "a page holds at most Limit jobs")
			for _, j := range p.Jobs {
				seen = append(seen, j.ID)
			}
			if p.NextCursor == "" {
				break
			}
			f.Cursor = p.NextCursor
			// Churn between pages: two new jobs, and the two oldest
			// waiting jobs completed.
			added = append(added, insert(t, b, job(kind), job(kind))...)
			for _, r := range claim(t, b, pgqueue.DefaultQueue, 2, time.Minute, kind) {
				lost, err := b.Complete(ctx, []pgqueue.JobRef{r.Ref()})
				require.NoError(t, err)
				require.Empty(t, lost)
				completed = append(completed, r.ID)
			}
		}
		require.Equal(t, len(seen), len(slices.Compact(slices.Sorted(slices.Values(seen)))), "%s first: no job may be listed twice: %v", order, seen)
		require.True(t, slices.IsSortedFunc(seen, func(x, y int64) int {
			if order == pgqueue.OldestFirst {
				return int(x - y)
			}
			return int(y - x)
		}), "%s first: IDs must be in order: %v", order, seen)
		present := map[int64]bool{}
		for _, id := range seen {
			present[id] = true
		}
		for _, id := range initial {
			if !present[id] && !slices.Contains(completed, id) {
				t.Fatalf("%s first: job %d waited throughout but was skipped; listed %v, completed %v", order, id, seen, completed)
			}
		}
		initial = slices.DeleteFunc(append(initial, added...), func(id int64) bool { return slices.Contains(completed, id) })
	}
}

// A bad filter is refused with ErrInvalidArgs, naming what is wrong.
func testListJobsRefusesBadFilters(t *testing.T, b pgqueue.Backend) {
	a := requireLister(t, b)
	ctx := context.Background()
	insert(t, b, job("vis.bad"), job("vis.bad"))
	page, err := a.ListJobs(ctx, pgqueue.JobFilter{Limit: 1})
	require.NoError(t, err)
	require.NotEmpty(t, page.NextCursor, "one job per page over two jobs leaves a next page")
	for name, f := range map[string]pgqueue.JobFilter{
		"unknown state":         {States: []pgqueue.State{"completed-yesterday"}},
		"priority out of range": {Priorities: []int{11}},
		"invalid args JSON":     {Args: json.RawMessage(`{"customer_id":`)},
		"limit above the cap":   {Limit: pgqueue.MaxJobListLimit + 1},
		"negative limit":        {Limit: -1},
		"unknown order":         {Order: "sideways"},
		"garbage cursor":        {Cursor: "not-a-cursor"},
		"cursor of other order": {Cursor: page.NextCursor, Order: pgqueue.OldestFirst},
		"empty queue name":      {Queues: []string{""}},
		"empty kind":            {Kinds: []string{""}},
	} {
		_, err := a.ListJobs(ctx, f)
		require.ErrorIs(t, err, pgqueue.ErrInvalidArgs, "ListJobs with %s", name)
		_, err = a.CountJobs(ctx, pgqueue.JobFilter{States: []pgqueue.State{"nope"}})
		require.ErrorIs(t, err, pgqueue.ErrInvalidArgs, "CountJobs with an unknown state")
	}
	_, err = a.Bulk(ctx, "explode", pgqueue.JobFilter{}, pgqueue.BulkOptions{})
	require.ErrorIs(t, err, pgqueue.ErrInvalidArgs, "an unknown bulk action")
	_, err = a.Bulk(ctx, pgqueue.BulkPurgeDead, pgqueue.JobFilter{States: []pgqueue.State{pgqueue.StateRunning}}, pgqueue.BulkOptions{})
	require.ErrorIs(t, err, pgqueue.ErrInvalidArgs, "purge_dead with a filter that keeps only running jobs")
	_, err = a.Bulk(ctx, pgqueue.BulkCancel, pgqueue.JobFilter{}, pgqueue.BulkOptions{BatchSize: pgqueue.MaxBulkBatch + 1})
	require.ErrorIs(t, err, pgqueue.ErrInvalidArgs, "a batch above MaxBulkBatch")
}

// Each bulk action changes exactly the matching jobs in its states; a dry
// run only counts.
func testBulkActions(t *testing.T, b pgqueue.Backend) {
	a := requireLister(t, b)
	ctx := context.Background()
	x := seedVisibility(t, b)
	states := func() map[int64]pgqueue.State {
		out := map[int64]pgqueue.State{}
		page, err := a.ListJobs(ctx, pgqueue.JobFilter{})
		require.NoError(t, err)
		for _, j := range page.Jobs {
			out[j.ID] = j.State
		}
		return out
	}
	before := states()

	// Dry runs count the jobs in the action's states and change nothing.
	for action, want := range map[pgqueue.BulkAction]int64{
		pgqueue.BulkRetry: 1, pgqueue.BulkCancel: 4, pgqueue.BulkDelete: 3, pgqueue.BulkRequeueDead: 1, pgqueue.BulkPurgeDead: 1,
	} {
		res, err := a.Bulk(ctx, action, pgqueue.JobFilter{}, pgqueue.BulkOptions{DryRun: true})
		require.NoError(t, err, "dry run of %s", action)
		require.Equal(t, want, res.Matched, "dry run of %s counts the jobs in its states", action)
		require.Zero(t, res.Changed, "a dry run changes nothing")
	}
	require.Equal(t, before, states(), "dry runs must change nothing")

	// Retry: the scheduled job becomes available now.
	res, err := a.Bulk(ctx, pgqueue.BulkRetry, pgqueue.JobFilter{Queues: []string{"vis-a"}}, pgqueue.BulkOptions{})
	require.NoError(t, err)
	require.EqualValues(t, 1, res.Changed, "retry changes the one scheduled job")
	require.Equal(t, pgqueue.StateAvailable, states()[x.sched], "a retried job is available")
	rows := claim(t, b, "vis-a", 5, time.Minute, "vis.k2")
	require.Equal(t, []int64{x.sched}, rowIDs(rows), "a retried job is claimable at once")
	lost, err := b.Complete(ctx, []pgqueue.JobRef{rows[0].Ref()})
	require.NoError(t, err)
	require.Empty(t, lost)

	// Requeue dead: the dead job is available again with attempts reset.
	res, err = a.Bulk(ctx, pgqueue.BulkRequeueDead, pgqueue.JobFilter{Kinds: []string{"vis.k2"}}, pgqueue.BulkOptions{})
	require.NoError(t, err)
	require.EqualValues(t, 1, res.Changed)
	require.Equal(t, pgqueue.StateAvailable, states()[x.dead], "a requeued dead letter is available")

	// Delete: waiting jobs of vis-b are deleted, the running one is left.
	res, err = a.Bulk(ctx, pgqueue.BulkDelete, pgqueue.JobFilter{Queues: []string{"vis-b"}}, pgqueue.BulkOptions{})
	require.NoError(t, err)
	require.EqualValues(t, 1, res.Changed, "delete removes the requeued job, not the running one")
	st := states()
	require.NotContains(t, st, x.dead, "a deleted job is gone")
	require.Equal(t, pgqueue.StateRunning, st[x.running], "delete leaves running jobs alone")

	// Cancel by args: the running job and the first available job move to
	// the dead letters, marked cancelled.
	res, err = a.Bulk(ctx, pgqueue.BulkCancel, pgqueue.JobFilter{Args: json.RawMessage(`{"customer_id":42}`)}, pgqueue.BulkOptions{})
	require.NoError(t, err)
	require.EqualValues(t, 2, res.Changed, "cancel moves the two jobs of customer 42")
	st = states()
	require.Equal(t, pgqueue.StateCancelled, st[x.running], "a cancelled job is listed in state cancelled")
	require.Equal(t, pgqueue.StateCancelled, st[x.avail], "a cancelled job is listed in state cancelled")
	cancelled, err := a.ListJobs(ctx, pgqueue.JobFilter{States: []pgqueue.State{pgqueue.StateCancelled}})
	require.NoError(t, err)
	require.ElementsMatch(t, []int64{x.running, x.avail}, infoIDs(cancelled.Jobs), "state cancelled lists the cancelled dead letters")
	deadOnly, err := a.ListJobs(ctx, pgqueue.JobFilter{States: []pgqueue.State{pgqueue.StateDead}})
	require.NoError(t, err)
	require.NotContains(t, infoIDs(deadOnly.Jobs), x.running, "state dead leaves out the cancelled dead letters")
	require.Equal(t, pgqueue.StateAvailable, st[x.avail2], "a job of another customer is untouched")
	d := deadByID(t, b, x.running)
	require.Equal(t, "cancelled", d.Errors[len(d.Errors)-1].Kind, "a bulk-cancelled job is marked cancelled")

	// Cancel one job by ID: it is a cancelled dead letter too.
	require.NoError(t, a.CancelJob(ctx, x.avail2))
	require.Equal(t, pgqueue.StateCancelled, states()[x.avail2], "a job cancelled by ID is listed in state cancelled")
	found, err := a.FindJob(ctx, x.avail2)
	require.NoError(t, err)
	require.Equal(t, pgqueue.StateCancelled, found.State, "FindJob shows a job cancelled by ID as cancelled")

	// Purge: the cancelled jobs are deleted for good.
	res, err = a.Bulk(ctx, pgqueue.BulkPurgeDead, pgqueue.JobFilter{}, pgqueue.BulkOptions{})
	require.NoError(t, err)
	require.EqualValues(t, 3, res.Changed)
	require.Empty(t, states(), "nothing is left")
}

// A bulk action runs in batches of BatchSize and reaches every match.
func testBulkInBatches(t *testing.T, b pgqueue.Backend) {
	a := requireLister(t, b)
	ctx := context.Background()
	jobs := make([]pgqueue.InsertParams, 7)
	for i := range jobs {
		jobs[i] = job("vis.batch")
		jobs[i].RunAt = time.Now().Add(time.Hour)
	}
	insert(t, b, jobs...)
	insert(t, b, job("vis.other"))
	res, err := a.Bulk(ctx, pgqueue.BulkDelete, pgqueue.JobFilter{Kinds: []string{"vis.batch"}}, pgqueue.BulkOptions{BatchSize: 3})
	require.NoError(t, err)
	require.Equal(t, pgqueue.BulkResult{Action: pgqueue.BulkDelete, Matched: 7, Changed: 7, Batches: 3}, res, "7 jobs in batches of 3")
	n, err := a.CountJobs(ctx, pgqueue.JobFilter{})
	require.NoError(t, err)
	require.EqualValues(t, 1, n, "only the job of another kind is left")
}

// Job, FindJob and RetryJob work on every backend.
func testJobLookupAndRetry(t *testing.T, b pgqueue.Backend) {
	a := requireLister(t, b)
	ctx := context.Background()
	x := seedVisibility(t, b)
	info, err := a.FindJob(ctx, x.dead)
	require.NoError(t, err)
	require.Equal(t, pgqueue.StateDead, info.State, "FindJob finds dead letters")
	_, err = a.Job(ctx, x.dead)
	require.ErrorIs(t, err, pgqueue.ErrJobNotFound, "Job covers waiting and running jobs only")
	_, err = a.FindJob(ctx, 987654321)
	require.ErrorIs(t, err, pgqueue.ErrJobNotFound)
	info, err = a.Job(ctx, x.running)
	require.NoError(t, err)
	require.Equal(t, pgqueue.StateRunning, info.State)

	require.ErrorIs(t, a.RetryJob(ctx, x.running), pgqueue.ErrJobRunning, "a running job cannot be retried")
	require.ErrorIs(t, a.RetryJob(ctx, 987654321), pgqueue.ErrJobNotFound)
	require.NoError(t, a.RetryJob(ctx, x.sched))
	info, err = a.Job(ctx, x.sched)
	require.NoError(t, err)
	require.Equal(t, pgqueue.StateAvailable, info.State, "a retried scheduled job is available")
	require.NoError(t, a.RetryJob(ctx, x.dead))
	info, err = a.Job(ctx, x.dead)
	require.NoError(t, err)
	require.Equal(t, pgqueue.StateAvailable, info.State, "a retried dead letter is back in its queue")
	require.Zero(t, info.Attempt, "a requeued dead letter's attempts are reset")

	n, err := a.CountDead(ctx, pgqueue.DeadFilter{})
	require.NoError(t, err)
	require.Zero(t, n, "no dead letters are left")
}

// Stats counts each queue's jobs by state, and dead letters by kind.
func testVisibilityStats(t *testing.T, b pgqueue.Backend) {
	a := requireLister(t, b)
	if _, ok := b.(pgqueue.StatsReporter); !ok {
		t.Skipf("%T does not implement pgqueue.StatsReporter", b)
	}
	seedVisibility(t, b)
	st, err := a.Stats(context.Background())
	require.NoError(t, err)
	got := map[string][3]int64{}
	for _, q := range st.Queues {
		got[q.Queue] = [3]int64{q.Available.N, q.Scheduled.N, q.Running.N}
	}
	require.Equal(t, map[string][3]int64{"vis-a": {2, 1, 0}, "vis-b": {0, 0, 1}}, got, "available, scheduled, running per queue")
	require.Len(t, st.Running, 1, "one running job")
	require.Equal(t, []pgqueue.KindCount{{Kind: "vis.k2", Count: pgqueue.Count{N: 1}}}, st.Dead, "dead letters by kind")
	ok, err := a.QueueExists(context.Background(), "vis-b")
	require.NoError(t, err)
	require.True(t, ok, "a queue holding jobs exists")
}

// infoIDs returns the IDs of jobs, in order.
func infoIDs(jobs []*pgqueue.JobInfo) []int64 {
	out := make([]int64, len(jobs))
	for i, j := range jobs {
		out[i] = j.ID
	}
	return out
}
