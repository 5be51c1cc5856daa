package pgqueue

// Workflows: jobs that wait for other jobs (a DAG), built in Go and
// enqueued in one step (in the caller's transaction on Postgres).

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// MaxWorkflowTasks caps the tasks of one workflow: it is enqueued in one
// transaction, and its status is derived from its tasks when it is read.
const MaxWorkflowTasks = 100_000

// Workflow is a set of tasks, each a job, and the dependencies between
// them: a task runs only once every task it depends on has finished. Build
// one with NewWorkflow and Add, then enqueue it with
// Client.EnqueueWorkflow or Client.EnqueueWorkflowTx. A Workflow is not
// safe for concurrent use while it is built.
type Workflow struct {
	name  string
	tasks []*workflowTask
	names map[string]bool
	// err is the first mistake made while building; Enqueue returns it.
	err error
}

// workflowTask is one task as Add recorded it.
type workflowTask struct {
	name         string
	args         Args
	opts         *EnqueueOptions
	deps         []WorkflowDep
	needsFailure bool
}

// Task is a handle on a task of a workflow, returned by Workflow.Add and
// given to After and AfterAnyway.
type Task struct {
	wf    *Workflow
	index int
}

// Name returns the task's name in its workflow.
func (t *Task) Name() string { return t.wf.tasks[t.index].name }

// TaskOption configures a task added with Workflow.Add.
type TaskOption func(w *Workflow, t *workflowTask)

// After makes the task wait until every task in deps has completed. When
// one of them is dead-lettered or cancelled instead, the task is cancelled
// too (and so, in turn, are its own dependents that wait on it with After).
func After(deps ...*Task) TaskOption {
	return func(w *Workflow, t *workflowTask) { w.addDeps(t, deps, false) }
}

// AfterAnyway makes the task wait until every task in deps has finished,
// whatever the outcome: it runs even when one of them was dead-lettered or
// cancelled.
func AfterAnyway(deps ...*Task) TaskOption {
	return func(w *Workflow, t *workflowTask) { w.addDeps(t, deps, true) }
}

// Named names the task in its workflow (default: its kind, then "#n" when
// the kind is taken). Names are how a task finds its dependencies' output
// (DependencyOutputs) and how operators see the workflow.
func Named(name string) TaskOption {
	return func(w *Workflow, t *workflowTask) { t.name = name }
}

// NewWorkflow starts an empty workflow called name (for operators; it need
// not be unique).
func NewWorkflow(name string) *Workflow {
	return &Workflow{name: name, names: map[string]bool{}}
}

// Add adds a task running args with opts (as Enqueue takes them) and
// returns its handle. Mistakes (a dependency of another workflow, a name
// used twice, a nil args) are reported by the enqueue, before anything is
// written.
func (w *Workflow) Add(args Args, opts *EnqueueOptions, options ...TaskOption) *Task {
	t := &workflowTask{args: args, opts: opts}
	for _, o := range options {
		if o != nil {
			o(w, t)
		}
	}
	if t.name == "" {
		t.name = w.defaultName(args)
	}
	switch {
	case t.name == "" || len(t.name) > MaxKindBytes:
		w.fail(invalidJob("Named", "task %d: a task name must be 1 to %d bytes", len(w.tasks), MaxKindBytes))
	case w.names[t.name]:
		w.fail(invalidJob("Named", "task %d: the name %q is taken by another task of the workflow", len(w.tasks), t.name))
	}
	w.names[t.name] = true
	w.tasks = append(w.tasks, t)
	return &Task{wf: w, index: len(w.tasks) - 1}
}

// defaultName is args' kind, numbered when the kind is taken ("task" when
// args has no kind: the enqueue refuses it then).
func (w *Workflow) defaultName(args Args) string {
	base, err := kindOf(args)
	if err != nil {
		base = "task"
	}
	if !w.names[base] {
		return base
	}
	for n := 2; ; n++ {
		if name := fmt.Sprintf("%s#%d", base, n); !w.names[name] {
			return name
		}
	}
}

// addDeps records deps of t, failing the workflow on a task that is not
// one of its own (a nil one, or one of another workflow). A dependency
// can only be a task added before t, so a workflow cannot hold a cycle.
func (w *Workflow) addDeps(t *workflowTask, deps []*Task, anyway bool) {
	for _, d := range deps {
		if d == nil || d.wf != w || d.index >= len(w.tasks) {
			w.fail(invalidJob("After", "task %d: a dependency is not a task of this workflow (nil, or added to another one)", len(w.tasks)))
			continue
		}
		t.deps = append(t.deps, WorkflowDep{Task: d.index, RunOnFailure: anyway})
	}
}

func (w *Workflow) fail(err error) {
	if w.err == nil {
		w.err = err
	}
}

// WorkflowDep is one dependency of a task in WorkflowParams.
type WorkflowDep struct {
	// Task is the index, in WorkflowParams.Tasks, of the task depended on;
	// it is lower than the dependent's own index.
	Task int
	// RunOnFailure releases the dependent when the task it depends on is
	// dead-lettered or cancelled, instead of cancelling it.
	RunOnFailure bool
}

// WorkflowTaskParams is one task of WorkflowParams.
type WorkflowTaskParams struct {
	// Name is the task's name, unique in its workflow.
	Name string
	// Job is the task's job, validated and encoded.
	Job InsertParams
	// Deps are the tasks it waits for; none means it is due as any job.
	Deps []WorkflowDep
	// NeedsFailure makes the task run only when one of its dependencies
	// was dead-lettered or cancelled (a batch's OnDiscard); when they all
	// completed it is skipped, unrun. Its Deps are then RunOnFailure.
	NeedsFailure bool
}

// WorkflowParams is a validated workflow for WorkflowStore.InsertWorkflow.
type WorkflowParams struct {
	// Name is the workflow's name.
	Name string
	// Tasks are its tasks, dependencies always before their dependents.
	Tasks []WorkflowTaskParams
}

// WorkflowIDs says where InsertWorkflow stored a workflow.
type WorkflowIDs struct {
	// ID is the workflow's ID.
	ID int64 `json:"id"`
	// Jobs are the job IDs of its tasks, in WorkflowParams order.
	Jobs []int64 `json:"jobs"`
}

// params validates and encodes the workflow for the client's backend.
func (c *Client) workflowParams(w *Workflow) (WorkflowParams, error) {
	if w == nil {
		return WorkflowParams{}, invalidJob("workflow", "must not be nil")
	}
	if w.err != nil {
		return WorkflowParams{}, w.err
	}
	if len(w.tasks) == 0 {
		return WorkflowParams{}, invalidJob("workflow", "%q has no tasks", w.name)
	}
	if len(w.tasks) > MaxWorkflowTasks {
		return WorkflowParams{}, invalidJob("workflow", "%q has %d tasks, more than MaxWorkflowTasks (%d)", w.name, len(w.tasks), MaxWorkflowTasks)
	}
	p := WorkflowParams{Name: w.name, Tasks: make([]WorkflowTaskParams, len(w.tasks))}
	for i, t := range w.tasks {
		if t.opts != nil && t.opts.Unique != nil {
			return WorkflowParams{}, invalidJob("Unique", "task %q: a workflow task cannot have a unique key (a duplicate would leave its dependents waiting)", t.name)
		}
		job, err := c.prepareOne(t.args, t.opts)
		if err != nil {
			return WorkflowParams{}, fmt.Errorf("task %q: %w", t.name, err)
		}
		p.Tasks[i] = WorkflowTaskParams{Name: t.name, Job: job, Deps: t.deps, NeedsFailure: t.needsFailure}
	}
	return p, nil
}

// EnqueueWorkflow stores every task of w at once, or none: tasks without
// dependencies are due at once (or at their RunAt), the others wait, out
// of every claim, until their dependencies finish. It returns the
// workflow's ID and its tasks' job IDs. It returns ErrInvalidArgs for a
// workflow built wrong (no tasks, a foreign dependency, a name used twice,
// a task with a unique key or bad enqueue input) and ErrUnsupported on a
// backend without WorkflowStore; nothing is stored then.
func (c *Client) EnqueueWorkflow(ctx context.Context, w *Workflow) (WorkflowIDs, error) {
	ws, ok := c.backend.(WorkflowStore)
	if !ok {
		return WorkflowIDs{}, unsupported("EnqueueWorkflow", "WorkflowStore", c.backend)
	}
	p, err := c.workflowParams(w)
	if err != nil {
		return WorkflowIDs{}, err
	}
	return ws.InsertWorkflow(ctx, p)
}

// EnqueueWorkflowTx is EnqueueWorkflow inside the caller's transaction tx:
// the workflow exists if and only if tx commits. It returns
// ErrTxUnsupported on a backend without TxWorkflowInserter, and the errors
// of EnqueueWorkflow.
func (c *Client) EnqueueWorkflowTx(ctx context.Context, tx DBTX, w *Workflow) (WorkflowIDs, error) {
	ti, ok := c.backend.(TxWorkflowInserter)
	if !ok {
		return WorkflowIDs{}, fmt.Errorf("%w (backend is %T)", ErrTxUnsupported, c.backend)
	}
	if isNilHandle(tx) {
		return WorkflowIDs{}, invalidJob("tx", "must not be nil")
	}
	p, err := c.workflowParams(w)
	if err != nil {
		return WorkflowIDs{}, err
	}
	return ti.InsertWorkflowTx(ctx, tx, p)
}

// DependencyOutputs returns the output (RecordOutput) of each completed
// dependency of the workflow task ctx belongs to, by task name; a
// dependency that recorded none, or that failed, is absent. It returns
// ErrInvalidArgs when ctx is not a running job's context, and
// ErrUnsupported on a backend without WorkflowStore.
func DependencyOutputs(ctx context.Context) (map[string]json.RawMessage, error) {
	st := jobStateFrom(ctx)
	if st == nil {
		return nil, invalidJob("ctx", "DependencyOutputs needs the context of a running job (the one its handler was given)")
	}
	ws, ok := st.client.backend.(WorkflowStore)
	if !ok {
		return nil, unsupported("DependencyOutputs", "WorkflowStore", st.client.backend)
	}
	return ws.DependencyOutputs(ctx, st.ref.ID)
}

// WorkflowStatus is where a workflow stands, derived from its tasks.
type WorkflowStatus string

// The statuses of a workflow.
const (
	// WorkflowRunning: some task is still waiting or running.
	WorkflowRunning WorkflowStatus = "running"
	// WorkflowSucceeded: every task completed.
	WorkflowSucceeded WorkflowStatus = "succeeded"
	// WorkflowFailed: every task finished, and some was dead-lettered.
	WorkflowFailed WorkflowStatus = "failed"
	// WorkflowCancelled: every task finished, some was cancelled, and none
	// was dead-lettered for an error of its own.
	WorkflowCancelled WorkflowStatus = "cancelled"
)

// WorkflowInfo is a workflow as operators see it.
type WorkflowInfo struct {
	// ID is the workflow's ID.
	ID int64 `json:"id"`
	// Name is what NewWorkflow was given.
	Name string `json:"name"`
	// CreatedAt is when it was enqueued.
	CreatedAt time.Time `json:"created_at"`
	// Status is derived from its tasks.
	Status WorkflowStatus `json:"status"`
	// Tasks counts its tasks; the other counts split them by where they
	// stand. Completed counts the tasks that finished well, kept in the
	// history or not.
	Tasks     int `json:"tasks"`
	Waiting   int `json:"waiting"`
	Active    int `json:"active"`
	Completed int `json:"completed"`
	Dead      int `json:"dead"`
	Cancelled int `json:"cancelled"`
}

// WorkflowTaskInfo is one task of a workflow (Admin.Workflow).
type WorkflowTaskInfo struct {
	// Name is the task's name.
	Name string `json:"name"`
	// JobID is the task's job.
	JobID int64 `json:"job_id"`
	// State is the job's state: StateWaiting while dependencies are
	// unfinished, then the job's own; StateCompleted once it completed,
	// whether or not the history keeps the job.
	State State `json:"state"`
	// DependsOn names the tasks it waits for.
	DependsOn []string `json:"depends_on,omitempty"`
}

// WorkflowStore is an optional Backend interface for workflows: storing
// them, releasing a task once its dependencies finish, and showing them.
// A backend releases the dependents of a task in the same step that
// completes it (CompleteRecorded with Completion.Workflow), so that no
// task waits for a poll.
type WorkflowStore interface {
	// InsertWorkflow stores p atomically and wakes the queues of its due
	// tasks.
	InsertWorkflow(ctx context.Context, p WorkflowParams) (WorkflowIDs, error)
	// DependencyOutputs returns the outputs of job id's completed
	// dependencies by task name.
	DependencyOutputs(ctx context.Context, id int64) (map[string]json.RawMessage, error)
	// ResolveFailedDependencies applies the failure policy to the
	// dependents of tasks that were dead-lettered or cancelled: cancels
	// them (After) or counts the dependency as finished (AfterAnyway). It
	// returns how many dependents it changed. Clients call it about once
	// per PollInterval; it must be cheap when there is nothing to do.
	ResolveFailedDependencies(ctx context.Context) (int, error)
	// Workflow returns one workflow and its tasks; ErrJobNotFound when
	// there is none with that ID.
	Workflow(ctx context.Context, id int64) (*WorkflowInfo, []WorkflowTaskInfo, error)
	// ListWorkflows returns up to limit workflows, newest first, with an
	// ID below before (0: from the newest).
	ListWorkflows(ctx context.Context, before int64, limit int) ([]WorkflowInfo, error)
	// CancelWorkflow cancels every task of workflow id still in the queue
	// (as Canceller.CancelJob does) and returns how many, or an error
	// wrapping ErrJobNotFound when there is no workflow id.
	CancelWorkflow(ctx context.Context, id int64) (int, error)
	// PruneWorkflows deletes the records (not the jobs) of workflows
	// created more than olderThan ago whose every task has finished, and
	// returns how many.
	PruneWorkflows(ctx context.Context, olderThan time.Duration) (int, error)
	// RetryWorkflow puts every task of workflow id that is a dead letter
	// back, attempts reset: waiting while a dependency has not completed,
	// due otherwise. Completed tasks stay as they are. It returns how
	// many went back.
	RetryWorkflow(ctx context.Context, id int64) (int, error)
}

// TxWorkflowInserter is an optional Backend interface for
// EnqueueWorkflowTx.
type TxWorkflowInserter interface {
	// InsertWorkflowTx is InsertWorkflow on the caller's transaction.
	InsertWorkflowTx(ctx context.Context, tx DBTX, p WorkflowParams) (WorkflowIDs, error)
}

// status derives the workflow's status from its task counts.
func (w *WorkflowInfo) status() WorkflowStatus {
	switch {
	case w.Waiting+w.Active > 0:
		return WorkflowRunning
	case w.Dead > 0:
		return WorkflowFailed
	case w.Cancelled > 0:
		return WorkflowCancelled
	}
	return WorkflowSucceeded
}

// Workflows returns up to limit workflows (0: 50, at most 1000), newest
// first, with an ID below before (0: from the newest), each with its
// status and its tasks counted by where they stand. It returns
// ErrUnsupported on a backend without WorkflowStore.
func (a *Admin) Workflows(ctx context.Context, before int64, limit int) ([]WorkflowInfo, error) {
	ws, ok := a.b.(WorkflowStore)
	if !ok {
		return nil, unsupported("Workflows", "WorkflowStore", a.b)
	}
	if limit == 0 {
		limit = DefaultJobListLimit
	}
	if limit < 0 || limit > MaxJobListLimit {
		return nil, invalidJob("limit", "must be from 1 to %d, got %d", MaxJobListLimit, limit)
	}
	list, err := ws.ListWorkflows(ctx, before, limit)
	for i := range list {
		list[i].Status = list[i].status()
	}
	return list, err
}

// Workflow returns one workflow with its status and its tasks (name, job,
// state, dependencies) in dependency order. It returns ErrJobNotFound for
// an unknown ID and ErrUnsupported on a backend without WorkflowStore.
func (a *Admin) Workflow(ctx context.Context, id int64) (*WorkflowInfo, []WorkflowTaskInfo, error) {
	ws, ok := a.b.(WorkflowStore)
	if !ok {
		return nil, nil, unsupported("Workflow", "WorkflowStore", a.b)
	}
	w, tasks, err := ws.Workflow(ctx, id)
	if w != nil {
		w.Status = w.status()
	}
	return w, tasks, err
}

// CancelWorkflow cancels every task of workflow id that has not finished:
// each moves to the dead letters marked cancelled, running ones are told
// to stop, and the workflow ends cancelled (or failed, if a task had
// failed). It returns how many tasks it cancelled, ErrJobNotFound for an
// unknown workflow and ErrUnsupported on a backend without WorkflowStore.
func (a *Admin) CancelWorkflow(ctx context.Context, id int64) (int, error) {
	ws, ok := a.b.(WorkflowStore)
	if !ok {
		return 0, unsupported("CancelWorkflow", "WorkflowStore", a.b)
	}
	return ws.CancelWorkflow(ctx, id)
}

// RetryWorkflow runs a failed or cancelled workflow again from its failed
// tasks: every task that was dead-lettered or cancelled goes back with its
// attempts reset, waiting again for its dependencies that have not
// completed; completed tasks are not run again. It returns how many tasks
// went back, ErrJobNotFound for an unknown workflow, ErrInvalidArgs for
// one still running (cancel it first, or wait), and ErrUnsupported on a
// backend without WorkflowStore.
func (a *Admin) RetryWorkflow(ctx context.Context, id int64) (int, error) {
	ws, ok := a.b.(WorkflowStore)
	if !ok {
		return 0, unsupported("RetryWorkflow", "WorkflowStore", a.b)
	}
	w, _, err := ws.Workflow(ctx, id)
	if err != nil {
		return 0, err
	}
	if w.status() == WorkflowRunning {
		return 0, invalidJob("workflow", "%d is still running (%d waiting, %d active): cancel it or let it finish before retrying", id, w.Waiting, w.Active)
	}
	return ws.RetryWorkflow(ctx, id)
}
