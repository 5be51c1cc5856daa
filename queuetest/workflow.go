package queuetest

// The Workflows group: tasks that wait for other tasks
// (pgqueue.WorkflowStore): a diamond runs its join once after both
// branches, outputs flow to dependents, failures cancel or release
// dependents by policy, a workflow built wrong stores nothing, and waiting
// tasks are never claimed.

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgqueue/pgqueue"
)

func workflowBehaviours() []behaviour {
	return []behaviour{
		{"DiamondRunsJoinOnceAfterBoth", testWorkflowDiamond},
		{"FailurePolicyCancelsOrReleases", testWorkflowFailurePolicy},
		{"BuiltWrongStoresNothing", testWorkflowRefusals},
		{"WaitingTasksAreNeverClaimed", testWorkflowWaitingNotClaimed},
		{"RetryRunsOnlyFailedTasks", testWorkflowRetry},
		{"CancelStopsEveryTask", testWorkflowCancel},
		{"PruneKeepsRunningWorkflows", testWorkflowPrune},
	}
}

// requireWorkflows skips on a backend without workflows, after checking
// that it says so with ErrUnsupported.
func requireWorkflows(t *testing.T, b pgqueue.Backend) {
	t.Helper()
	if _, ok := b.(pgqueue.WorkflowStore); ok {
		return
	}
	c := newClient(t, b, fastConfig(t))
	wf := pgqueue.NewWorkflow("w")
	wf.Add(basicArgs{N: 1}, nil)
	_, err := c.EnqueueWorkflow(context.Background(), wf)
	require.ErrorIs(t, err, pgqueue.ErrUnsupported, "a backend without WorkflowStore refuses workflows with ErrUnsupported")
	t.Skipf("%T does not implement pgqueue.WorkflowStore", b)
}

// stepArgs is a workflow task that records its step name when it runs.
type stepArgs struct {
	Step string `json:"step"`
	Fail bool   `json:"fail,omitempty"`
}

func (stepArgs) Kind() string { return "queuetest.step" }

// stepLog records the order in which steps ran.
type stepLog struct {
	mu   sync.Mutex
	runs []string
	seen map[string]map[string]json.RawMessage
}

func (l *stepLog) add(step string, deps map[string]json.RawMessage) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.runs = append(l.runs, step)
	if l.seen == nil {
		l.seen = map[string]map[string]json.RawMessage{}
	}
	l.seen[step] = deps
}

func (l *stepLog) snapshot() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.runs...)
}

// stepWorker runs steps: it records each run with its dependencies'
// outputs, records its step name as output, and fails permanently when
// asked to.
func stepWorker(t *testing.T, log *stepLog) pgqueue.WorkFunc[stepArgs] {
	return func(ctx context.Context, job *pgqueue.Job[stepArgs]) error {
		deps, err := pgqueue.DependencyOutputs(ctx)
		if err != nil {
			return err
		}
		log.add(job.Args.Step, deps)
		if job.Args.Fail {
			return pgqueue.Permanent(errors.New("step " + job.Args.Step + " fails"))
		}
		return pgqueue.RecordOutput(ctx, map[string]string{"from": job.Args.Step})
	}
}

// waitWorkflow waits until workflow id has status want.
func waitWorkflow(t *testing.T, a *pgqueue.Admin, id int64, want pgqueue.WorkflowStatus) *pgqueue.WorkflowInfo {
	t.Helper()
	var info *pgqueue.WorkflowInfo
	waitFor(t, "workflow to be "+string(want), func() bool {
		w, _, err := a.Workflow(context.Background(), id)
		require.NoError(t, err)
		info = w
		return w.Status == want
	})
	return info
}

// A diamond (A → B, A → C, B and C → D) runs A first, B and C after it,
// and D exactly once, after both; D reads B's and C's outputs; the
// workflow ends succeeded with every task completed.
func testWorkflowDiamond(t *testing.T, b pgqueue.Backend) {
	requireWorkflows(t, b)
	a := pgqueue.NewAdmin(b)
	log := &stepLog{}
	cfg := fastConfig(t)
	cfg.Queues = map[string]pgqueue.QueueConfig{pgqueue.DefaultQueue: {MaxWorkers: 4}}
	c := newClient(t, b, cfg)
	register(t, c, stepWorker(t, log))
	wf := pgqueue.NewWorkflow("diamond")
	ta := wf.Add(stepArgs{Step: "A"}, nil, pgqueue.Named("A"))
	tb := wf.Add(stepArgs{Step: "B"}, nil, pgqueue.Named("B"), pgqueue.After(ta))
	tc := wf.Add(stepArgs{Step: "C"}, nil, pgqueue.Named("C"), pgqueue.After(ta))
	wf.Add(stepArgs{Step: "D"}, nil, pgqueue.Named("D"), pgqueue.After(tb, tc))
	ids, err := c.EnqueueWorkflow(context.Background(), wf)
	require.NoError(t, err)
	require.Len(t, ids.Jobs, 4, "one job per task")
	info, tasks, err := a.Workflow(context.Background(), ids.ID)
	require.NoError(t, err)
	require.Equal(t, "diamond", info.Name)
	require.Equal(t, pgqueue.WorkflowRunning, info.Status)
	require.Equal(t, 4, info.Tasks)
	require.Equal(t, 3, info.Waiting, "B, C and D wait before anything runs")
	require.Equal(t, []string{"B", "C"}, tasks[3].DependsOn, "D depends on B and C")

	start(t, c)
	waitWorkflow(t, a, ids.ID, pgqueue.WorkflowSucceeded)
	runs := log.snapshot()
	require.Len(t, runs, 4, "each task runs exactly once: %v", runs)
	require.Equal(t, "A", runs[0], "A runs first: %v", runs)
	require.Equal(t, "D", runs[3], "D runs last, after both B and C: %v", runs)
	require.ElementsMatch(t, []string{"B", "C"}, runs[1:3])
	log.mu.Lock()
	dDeps := log.seen["D"]
	log.mu.Unlock()
	require.Len(t, dDeps, 2, "D sees the outputs of its two dependencies")
	require.JSONEq(t, `{"from":"B"}`, string(dDeps["B"]))
	require.JSONEq(t, `{"from":"C"}`, string(dDeps["C"]))
	_, tasks, err = a.Workflow(context.Background(), ids.ID)
	require.NoError(t, err)
	for _, task := range tasks {
		require.Equal(t, pgqueue.StateCompleted, task.State, "task %s", task.Name)
	}
	list, err := a.Workflows(context.Background(), 0, 10)
	require.NoError(t, err)
	require.Len(t, list, 1)
	require.Equal(t, 4, list[0].Completed)
}

// When A is dead-lettered, B (After A) is cancelled, and so is E (After
// B), while C (AfterAnyway A) runs; the workflow ends failed.
func testWorkflowFailurePolicy(t *testing.T, b pgqueue.Backend) {
	requireWorkflows(t, b)
	a := pgqueue.NewAdmin(b)
	log := &stepLog{}
	c := newClient(t, b, fastConfig(t))
	register(t, c, stepWorker(t, log))
	wf := pgqueue.NewWorkflow("failing")
	ta := wf.Add(stepArgs{Step: "A", Fail: true}, nil, pgqueue.Named("A"))
	tb := wf.Add(stepArgs{Step: "B"}, nil, pgqueue.Named("B"), pgqueue.After(ta))
	wf.Add(stepArgs{Step: "C"}, nil, pgqueue.Named("C"), pgqueue.AfterAnyway(ta))
	wf.Add(stepArgs{Step: "E"}, nil, pgqueue.Named("E"), pgqueue.After(tb))
	ids, err := c.EnqueueWorkflow(context.Background(), wf)
	require.NoError(t, err)
	start(t, c)
	info := waitWorkflow(t, a, ids.ID, pgqueue.WorkflowFailed)
	require.Equal(t, 1, info.Dead, "A is dead")
	require.Equal(t, 2, info.Cancelled, "B and E are cancelled")
	require.Equal(t, 1, info.Completed, "C ran anyway")
	require.ElementsMatch(t, []string{"A", "C"}, log.snapshot(), "only A and C ran")
	_, tasks, err := a.Workflow(context.Background(), ids.ID)
	require.NoError(t, err)
	byName := map[string]pgqueue.WorkflowTaskInfo{}
	for _, task := range tasks {
		byName[task.Name] = task
	}
	require.Equal(t, pgqueue.StateDead, byName["A"].State)
	require.Equal(t, pgqueue.StateCancelled, byName["B"].State)
	require.Equal(t, pgqueue.StateCancelled, byName["E"].State)
	d := deadByID(t, b, byName["B"].JobID)
	require.NotNil(t, d, "a cancelled dependent is a dead letter")
	require.Contains(t, d.Errors[len(d.Errors)-1].Error, "dependency A was dead-lettered", "its error names the dependency")
}

// A workflow with no tasks, a dependency of another workflow or a name
// used twice is refused with ErrInvalidArgs, and nothing is stored.
func testWorkflowRefusals(t *testing.T, b pgqueue.Backend) {
	requireWorkflows(t, b)
	ctx := context.Background()
	c := newClient(t, b, fastConfig(t))
	_, err := c.EnqueueWorkflow(ctx, pgqueue.NewWorkflow("empty"))
	require.ErrorIs(t, err, pgqueue.ErrInvalidArgs, "an empty workflow")
	other := pgqueue.NewWorkflow("other")
	foreign := other.Add(stepArgs{Step: "X"}, nil)
	wf := pgqueue.NewWorkflow("bad")
	wf.Add(stepArgs{Step: "A"}, nil, pgqueue.After(foreign))
	_, err = c.EnqueueWorkflow(ctx, wf)
	require.ErrorIs(t, err, pgqueue.ErrInvalidArgs, "a dependency of another workflow")
	dup := pgqueue.NewWorkflow("dup")
	dup.Add(stepArgs{Step: "A"}, nil, pgqueue.Named("same"))
	dup.Add(stepArgs{Step: "B"}, nil, pgqueue.Named("same"))
	_, err = c.EnqueueWorkflow(ctx, dup)
	require.ErrorIs(t, err, pgqueue.ErrInvalidArgs, "a task name used twice")
	bad := pgqueue.NewWorkflow("bad args")
	first := bad.Add(stepArgs{Step: "A"}, nil)
	bad.Add(stepArgs{Step: "B"}, &pgqueue.EnqueueOptions{Priority: 99}, pgqueue.After(first))
	_, err = c.EnqueueWorkflow(ctx, bad)
	require.ErrorIs(t, err, pgqueue.ErrInvalidArgs, "a task with bad enqueue options")
	list, err := pgqueue.NewAdmin(b).Workflows(ctx, 0, 10)
	require.NoError(t, err)
	require.Empty(t, list, "a refused workflow stores nothing")
	n, err := pgqueue.NewAdmin(b).CountJobs(ctx, pgqueue.JobFilter{})
	require.NoError(t, err)
	require.Zero(t, n, "a refused workflow stores no job")
}

// A waiting task is listed in state waiting and never claimed, however
// long it waits; its dependency is.
func testWorkflowWaitingNotClaimed(t *testing.T, b pgqueue.Backend) {
	requireWorkflows(t, b)
	ctx := context.Background()
	c := newClient(t, b, fastConfig(t))
	wf := pgqueue.NewWorkflow("waiting")
	first := wf.Add(stepArgs{Step: "A"}, nil)
	wf.Add(stepArgs{Step: "B"}, nil, pgqueue.After(first))
	ids, err := c.EnqueueWorkflow(ctx, wf)
	require.NoError(t, err)
	page, err := pgqueue.NewAdmin(b).ListJobs(ctx, pgqueue.JobFilter{States: []pgqueue.State{pgqueue.StateWaiting}})
	require.NoError(t, err)
	require.Len(t, page.Jobs, 1, "the dependent is listed as waiting")
	require.Equal(t, ids.Jobs[1], page.Jobs[0].ID)
	require.Equal(t, ids.ID, page.Jobs[0].WorkflowID, "a task names its workflow")
	rows := claim(t, b, pgqueue.DefaultQueue, 10, time.Minute, stepArgs{}.Kind())
	require.Equal(t, []int64{ids.Jobs[0]}, rowIDs(rows), "only the task without dependencies is claimed")
	require.Equal(t, ids.ID, rows[0].WorkflowID, "a claimed task names its workflow")
	requireNothingClaimable(t, b, pgqueue.DefaultQueue, "the dependent waits", stepArgs{}.Kind())
}

// RetryWorkflow of a failed workflow runs its dead-lettered task and the
// dependents that were cancelled with it, in order, and never runs a
// completed task again; retrying a running workflow is refused.
func testWorkflowRetry(t *testing.T, b pgqueue.Backend) {
	requireWorkflows(t, b)
	ctx := context.Background()
	a := pgqueue.NewAdmin(b)
	log := &stepLog{}
	var mu sync.Mutex
	failing := map[string]bool{"B": true}
	c := newClient(t, b, fastConfig(t))
	register(t, c, func(ctx context.Context, job *pgqueue.Job[stepArgs]) error {
		log.add(job.Args.Step, nil)
		mu.Lock()
		fail := failing[job.Args.Step]
		mu.Unlock()
		if fail {
			return pgqueue.Permanent(errors.New("not yet"))
		}
		return nil
	})
	wf := pgqueue.NewWorkflow("retry")
	ta := wf.Add(stepArgs{Step: "A"}, nil, pgqueue.Named("A"))
	tb := wf.Add(stepArgs{Step: "B"}, nil, pgqueue.Named("B"), pgqueue.After(ta))
	wf.Add(stepArgs{Step: "C"}, nil, pgqueue.Named("C"), pgqueue.After(tb))
	ids, err := c.EnqueueWorkflow(ctx, wf)
	require.NoError(t, err)
	_, err = a.RetryWorkflow(ctx, ids.ID)
	require.ErrorIs(t, err, pgqueue.ErrInvalidArgs, "retrying a running workflow is refused")
	start(t, c)
	waitWorkflow(t, a, ids.ID, pgqueue.WorkflowFailed)
	require.Equal(t, []string{"A", "B"}, log.snapshot(), "A ran, B failed, C was cancelled")

	mu.Lock()
	failing["B"] = false
	mu.Unlock()
	n, err := a.RetryWorkflow(ctx, ids.ID)
	require.NoError(t, err)
	require.Equal(t, 2, n, "B (dead) and C (cancelled with it) go back")
	waitWorkflow(t, a, ids.ID, pgqueue.WorkflowSucceeded)
	require.Equal(t, []string{"A", "B", "B", "C"}, log.snapshot(), "A is not run again; B then C run")
	_, err = a.RetryWorkflow(ctx, ids.ID+1000)
	require.ErrorIs(t, err, pgqueue.ErrJobNotFound, "an unknown workflow")
}

// CancelWorkflow cancels every unfinished task, waiting or due, and the
// workflow ends cancelled.
func testWorkflowCancel(t *testing.T, b pgqueue.Backend) {
	requireWorkflows(t, b)
	ctx := context.Background()
	a := pgqueue.NewAdmin(b)
	c := newClient(t, b, fastConfig(t)) // not started: nothing runs
	wf := pgqueue.NewWorkflow("cancel")
	first := wf.Add(stepArgs{Step: "A"}, nil)
	wf.Add(stepArgs{Step: "B"}, nil, pgqueue.After(first))
	ids, err := c.EnqueueWorkflow(ctx, wf)
	require.NoError(t, err)
	n, err := a.CancelWorkflow(ctx, ids.ID)
	require.NoError(t, err)
	require.Equal(t, 2, n, "both tasks are cancelled")
	info, tasks, err := a.Workflow(ctx, ids.ID)
	require.NoError(t, err)
	require.Equal(t, pgqueue.WorkflowCancelled, info.Status)
	for _, task := range tasks {
		require.Equal(t, pgqueue.StateCancelled, task.State, "task %s", task.Name)
	}
	requireNothingClaimable(t, b, pgqueue.DefaultQueue, "a cancelled workflow's tasks", stepArgs{}.Kind())
	n, err = a.CancelWorkflow(ctx, ids.ID)
	require.NoError(t, err, "cancelling a finished workflow again is no error")
	require.Zero(t, n, "a finished workflow has nothing left to cancel")
	_, err = a.CancelWorkflow(ctx, ids.ID+1000)
	require.ErrorIs(t, err, pgqueue.ErrJobNotFound, "an unknown workflow")
}

// PruneWorkflows deletes the records of finished workflows older than
// asked, never one still running, and never the jobs of its tasks.
func testWorkflowPrune(t *testing.T, b pgqueue.Backend) {
	requireWorkflows(t, b)
	ctx := context.Background()
	ws := b.(pgqueue.WorkflowStore)
	a := pgqueue.NewAdmin(b)
	c := newClient(t, b, fastConfig(t))
	log := &stepLog{}
	register(t, c, stepWorker(t, log))
	done := pgqueue.NewWorkflow("done")
	done.Add(stepArgs{Step: "A"}, nil)
	finished, err := c.EnqueueWorkflow(ctx, done)
	require.NoError(t, err)
	start(t, c)
	waitWorkflow(t, a, finished.ID, pgqueue.WorkflowSucceeded)
	stop(t, c)
	waiting := pgqueue.NewWorkflow("still running")
	waiting.Add(stepArgs{Step: "B"}, nil)
	running, err := c.EnqueueWorkflow(ctx, waiting)
	require.NoError(t, err)

	n, err := ws.PruneWorkflows(ctx, time.Hour)
	require.NoError(t, err)
	require.Zero(t, n, "nothing is older than an hour")
	time.Sleep(10 * time.Millisecond)
	n, err = ws.PruneWorkflows(ctx, time.Millisecond)
	require.NoError(t, err)
	require.Equal(t, 1, n, "the finished workflow is pruned, the running one kept")
	_, _, err = a.Workflow(ctx, finished.ID)
	require.ErrorIs(t, err, pgqueue.ErrJobNotFound, "a pruned workflow is gone")
	w, _, err := a.Workflow(ctx, running.ID)
	require.NoError(t, err)
	require.Equal(t, pgqueue.WorkflowRunning, w.Status)
	info, err := a.FindJob(ctx, running.Jobs[0])
	require.NoError(t, err, "the running workflow's job is untouched")
	require.Equal(t, pgqueue.StateAvailable, info.State)
}
