package pgqueue_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgqueue/pgqueue"
	"github.com/pgqueue/pgqueue/memqueue"
)

// On a backend with none of the optional interfaces, every Admin method
// that needs one returns ErrUnsupported, naming the interface.
func TestAdminOnBareBackendIsUnsupported(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := pgqueue.NewAdmin(bareBackend{memqueue.New()})
	_, err := a.ListJobs(ctx, pgqueue.JobFilter{})
	require.ErrorIs(t, err, pgqueue.ErrUnsupported, "ListJobs")
	require.ErrorContains(t, err, "JobLister")
	_, err = a.CountJobs(ctx, pgqueue.JobFilter{})
	require.ErrorIs(t, err, pgqueue.ErrUnsupported, "CountJobs")
	_, err = a.Bulk(ctx, pgqueue.BulkCancel, pgqueue.JobFilter{}, pgqueue.BulkOptions{})
	require.ErrorIs(t, err, pgqueue.ErrUnsupported, "Bulk")
	_, err = a.Bulk(ctx, pgqueue.BulkCancel, pgqueue.JobFilter{}, pgqueue.BulkOptions{DryRun: true})
	require.ErrorIs(t, err, pgqueue.ErrUnsupported, "a dry run needs CountJobs")
	_, err = a.Stats(ctx)
	require.ErrorIs(t, err, pgqueue.ErrUnsupported, "Stats")
	_, err = a.FindJob(ctx, 1)
	require.ErrorIs(t, err, pgqueue.ErrUnsupported, "FindJob")
	_, err = a.Job(ctx, 1)
	require.ErrorIs(t, err, pgqueue.ErrUnsupported, "Job")
	require.ErrorIs(t, a.RetryJob(ctx, 1), pgqueue.ErrUnsupported, "RetryJob")
	require.ErrorIs(t, a.CancelJob(ctx, 1), pgqueue.ErrUnsupported, "CancelJob")
	require.ErrorIs(t, a.PauseQueue(ctx, "q"), pgqueue.ErrUnsupported, "PauseQueue")
	_, err = a.ResumeQueue(ctx, "q")
	require.ErrorIs(t, err, pgqueue.ErrUnsupported, "ResumeQueue")
	require.ErrorIs(t, a.SetQueueLimits(ctx, "q", pgqueue.QueueLimits{MaxRunning: 1}), pgqueue.ErrUnsupported, "SetQueueLimits")
	_, err = a.QueueExists(ctx, "q")
	require.ErrorIs(t, err, pgqueue.ErrUnsupported, "QueueExists needs Stats")
	_, err = a.CountDead(ctx, pgqueue.DeadFilter{})
	require.ErrorIs(t, err, pgqueue.ErrUnsupported, "CountDead needs CountJobs")
	_, err = a.RequeueDead(ctx, pgqueue.DeadFilter{})
	require.ErrorIs(t, err, pgqueue.ErrUnsupported, "RequeueDead needs Bulk")
	require.NoError(t, a.CheckMigrated(ctx), "a backend without SchemaChecker is always ready")
}

// JSONContains follows jsonb @>: nested objects, arrays as sets, numbers
// by value, a top-level array containing a scalar.
func TestJSONContains(t *testing.T) {
	t.Parallel()
	doc := json.RawMessage(`{"customer_id": 42, "plan": {"tier": "pro", "seats": 5}, "tags": ["a", "b", ["c"]]}`)
	for pattern, want := range map[string]bool{
		`{}`:                         true,
		`{"customer_id": 42}`:        true,
		`{"customer_id": 4.2e1}`:     true,
		`{"customer_id": "42"}`:      false,
		`{"plan": {"tier": "pro"}}`:  true,
		`{"plan": {"tier": "free"}}`: false,
		`{"tags": ["b", "a"]}`:       true,
		`{"tags": [["c"]]}`:          true,
		`{"tags": ["c"]}`:            false,
		`{"missing": null}`:          false,
		`[]`:                         false,
		`not json`:                   false,
	} {
		require.Equal(t, want, pgqueue.JSONContains(doc, json.RawMessage(pattern)), "%s @> %s", doc, pattern)
	}
	require.True(t, pgqueue.JSONContains(json.RawMessage(`[1, 2, 3]`), json.RawMessage(`2`)), "a top-level array contains a scalar it holds")
	require.False(t, pgqueue.JSONContains(json.RawMessage(`[1, 2, 3]`), json.RawMessage(`4`)))
}
