package pgqueue

// Batches: many jobs enqueued together, with callback jobs that run once
// when the batch is done. A batch is stored as a workflow whose callbacks
// are tasks after every job of the batch.

import (
	"context"
	"fmt"
)

// Batch is a set of jobs with callback jobs: OnSuccess runs once every job
// completed, OnComplete once every job finished whatever the outcome,
// OnDiscard once every job finished and at least one was dead-lettered or
// cancelled. A callback is released by the step that finishes the batch's
// last job (for a failure, the failure sweep, within about PollInterval),
// exactly once. Build one with NewBatch, then enqueue it with
// Client.EnqueueBatch or EnqueueBatchTx. Not safe for concurrent use while
// it is built.
type Batch struct {
	name      string
	jobs      []batchJob
	callbacks []batchCallback
}

type batchJob struct {
	args Args
	opts *EnqueueOptions
}

// batchCallback is a callback and when it runs.
type batchCallback struct {
	batchJob
	when string // "success", "complete" or "discard"
}

// NewBatch starts an empty batch called name (for operators; the workflow
// that holds it is named "batch <name>").
func NewBatch(name string) *Batch { return &Batch{name: name} }

// Add adds a job to the batch.
func (b *Batch) Add(args Args, opts *EnqueueOptions) { b.jobs = append(b.jobs, batchJob{args, opts}) }

// OnSuccess adds a callback job that runs once every job of the batch
// completed; it is cancelled when one was dead-lettered or cancelled.
func (b *Batch) OnSuccess(args Args, opts *EnqueueOptions) {
	b.callbacks = append(b.callbacks, batchCallback{batchJob{args, opts}, "success"})
}

// OnComplete adds a callback job that runs once every job of the batch
// finished, whatever the outcome.
func (b *Batch) OnComplete(args Args, opts *EnqueueOptions) {
	b.callbacks = append(b.callbacks, batchCallback{batchJob{args, opts}, "complete"})
}

// OnDiscard adds a callback job that runs once every job of the batch
// finished, if at least one was dead-lettered or cancelled; when they all
// completed it is skipped.
func (b *Batch) OnDiscard(args Args, opts *EnqueueOptions) {
	b.callbacks = append(b.callbacks, batchCallback{batchJob{args, opts}, "discard"})
}

// workflow returns the batch as a workflow: its jobs, then each callback
// after all of them.
func (b *Batch) workflow() (*Workflow, error) {
	if b == nil {
		return nil, invalidJob("batch", "must not be nil")
	}
	if len(b.jobs) == 0 {
		return nil, invalidJob("batch", "%q has no jobs", b.name)
	}
	if len(b.jobs)+len(b.callbacks) > MaxWorkflowTasks {
		return nil, invalidJob("batch", "%q has %d jobs and callbacks, more than MaxWorkflowTasks (%d)", b.name, len(b.jobs)+len(b.callbacks), MaxWorkflowTasks)
	}
	wf := NewWorkflow("batch " + b.name)
	jobs := make([]*Task, len(b.jobs))
	for i, j := range b.jobs {
		jobs[i] = wf.Add(j.args, j.opts, Named(fmt.Sprintf("job %d", i)))
	}
	for i, cb := range b.callbacks {
		name := Named(fmt.Sprintf("on %s %d", cb.when, i))
		switch cb.when {
		case "success":
			wf.Add(cb.args, cb.opts, name, After(jobs...))
		case "complete":
			wf.Add(cb.args, cb.opts, name, AfterAnyway(jobs...))
		default:
			wf.Add(cb.args, cb.opts, name, AfterAnyway(jobs...), func(_ *Workflow, t *workflowTask) { t.needsFailure = true })
		}
	}
	return wf, nil
}

// EnqueueBatch stores every job and callback of b at once, or none, and
// returns the workflow that holds them: its ID, and the job IDs of the
// batch's jobs then its callbacks, in the order they were added. Errors
// are EnqueueWorkflow's; a batch without jobs is refused with
// ErrInvalidArgs.
func (c *Client) EnqueueBatch(ctx context.Context, b *Batch) (WorkflowIDs, error) {
	wf, err := b.workflow()
	if err != nil {
		return WorkflowIDs{}, err
	}
	return c.EnqueueWorkflow(ctx, wf)
}

// EnqueueBatchTx is EnqueueBatch inside the caller's transaction tx (see
// EnqueueWorkflowTx).
func (c *Client) EnqueueBatchTx(ctx context.Context, tx DBTX, b *Batch) (WorkflowIDs, error) {
	wf, err := b.workflow()
	if err != nil {
		return WorkflowIDs{}, err
	}
	return c.EnqueueWorkflowTx(ctx, tx, wf)
}
