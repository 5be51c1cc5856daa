package memqueue

// Workflows (pgqueue.WorkflowStore): tasks wait in the waiting map until
// their dependencies finish; completing a task releases its dependents in
// the same step.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/pgqueue/pgqueue"
)

var _ pgqueue.WorkflowStore = (*Backend)(nil)

// workflow is one stored workflow.
type workflow struct {
	id      int64
	name    string
	created time.Time
	jobs    []int64
}

// task is one workflow task's record.
type task struct {
	job       int64
	workflow  int64
	name      string
	depsLeft  int
	finished  pgqueue.State // "" until its outcome is applied
	output    json.RawMessage
	in, out   []int64 // dependencies and dependents, by job ID
	runAnyway map[int64]bool
	// needsFailure: run only if a dependency failed (failedDeps > 0);
	// otherwise skipped when the last one finishes.
	needsFailure bool
	failedDeps   int
}

// InsertWorkflow implements pgqueue.WorkflowStore: the workflow is stored
// whole under one lock.
func (b *Backend) InsertWorkflow(ctx context.Context, p pgqueue.WorkflowParams) (pgqueue.WorkflowIDs, error) {
	if err := ctx.Err(); err != nil {
		return pgqueue.WorkflowIDs{}, err
	}
	b.mu.Lock()
	now := b.now()
	b.lastWF++
	wf := &workflow{id: b.lastWF, name: p.Name, created: now}
	ids := pgqueue.WorkflowIDs{ID: wf.id, Jobs: make([]int64, len(p.Tasks))}
	var woken []string
	for i, tp := range p.Tasks {
		b.lastID++
		j := &job{row: pgqueue.JobRow{
			ID: b.lastID, Kind: tp.Job.Kind, Queue: tp.Job.Queue, Priority: tp.Job.Priority,
			Args: bytes.Clone(tp.Job.Args), MaxAttempts: tp.Job.MaxAttempts, CreatedAt: now,
			RunAt: tp.Job.RunAt, Metadata: maps.Clone(tp.Job.Metadata), WorkflowID: wf.id,
		}}
		if j.row.RunAt.IsZero() {
			j.row.RunAt = now
		}
		ids.Jobs[i] = j.row.ID
		t := &task{job: j.row.ID, workflow: wf.id, name: tp.Name, depsLeft: len(tp.Deps), runAnyway: map[int64]bool{}, needsFailure: tp.NeedsFailure}
		for _, d := range tp.Deps {
			parent := ids.Jobs[d.Task]
			t.in = append(t.in, parent)
			t.runAnyway[parent] = d.RunOnFailure
			b.tasks[parent].out = append(b.tasks[parent].out, j.row.ID)
		}
		b.tasks[j.row.ID] = t
		wf.jobs = append(wf.jobs, j.row.ID)
		if t.depsLeft > 0 {
			j.state = pgqueue.StateWaiting
			b.waiting[j.row.ID] = j
		} else if q := b.place(j, now); q != "" {
			woken = append(woken, q)
		}
	}
	b.workflows[wf.id] = wf
	b.mu.Unlock()
	b.notify(sortedUnique(woken))
	return ids, nil
}

// completeTask records the completion of j, when it is a workflow task,
// and releases the dependents whose last dependency it was; it returns the
// queues to wake. b.mu must be held.
func (b *Backend) completeTask(j *job, output json.RawMessage) []string {
	t := b.tasks[j.row.ID]
	if t == nil || t.finished != "" {
		return nil
	}
	t.finished, t.output = pgqueue.StateCompleted, bytes.Clone(output)
	return b.countFinished(t)
}

// countFinished takes t off the dependency count of each of its
// dependents and releases those left with none. b.mu must be held.
func (b *Backend) countFinished(t *task) []string {
	var woken []string
	now := b.now()
	for _, child := range t.out {
		ct := b.tasks[child]
		if ct.finished != "" {
			continue // it ran anyway, and t was retried
		}
		ct.depsLeft--
		if ct.depsLeft > 0 {
			continue
		}
		if q := b.releaseTask(ct, now); q != "" {
			woken = append(woken, q)
		}
	}
	return woken
}

// releaseTask makes task t, whose dependencies have all finished, due
// (returning its queue to wake when it is available), or skips it when it
// needs a failed dependency and none failed. b.mu must be held.
func (b *Backend) releaseTask(t *task, now time.Time) string {
	j := b.waiting[t.job]
	if j == nil {
		return ""
	}
	delete(b.waiting, t.job)
	if t.needsFailure && t.failedDeps == 0 {
		t.finished = pgqueue.StateSkipped
		return ""
	}
	return b.place(j, now)
}

// DependencyOutputs implements pgqueue.WorkflowStore.
func (b *Backend) DependencyOutputs(ctx context.Context, id int64) (map[string]json.RawMessage, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	out := map[string]json.RawMessage{}
	if t := b.tasks[id]; t != nil {
		for _, p := range t.in {
			if pt := b.tasks[p]; pt.finished == pgqueue.StateCompleted && pt.output != nil {
				out[pt.name] = bytes.Clone(pt.output)
			}
		}
	}
	return out, nil
}

// ResolveFailedDependencies implements pgqueue.WorkflowStore: every
// unfinished task that sits in the dead letters has its outcome applied to
// its dependents, until none is left.
func (b *Backend) ResolveFailedDependencies(ctx context.Context) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	b.mu.Lock()
	changed := 0
	var woken []string
	for {
		var failed []*task
		for id, j := range b.dead {
			if t := b.tasks[id]; t != nil && t.finished == "" {
				t.finished = pgqueue.StateOfDeadLetter(j.row.Errors)
				failed = append(failed, t)
			}
		}
		if len(failed) == 0 {
			break
		}
		slices.SortFunc(failed, func(x, y *task) int { return int(x.job - y.job) })
		now := b.now()
		for _, t := range failed {
			for _, child := range t.out {
				ct := b.tasks[child]
				j := b.waiting[child]
				if j == nil {
					continue
				}
				if ct.runAnyway[t.job] {
					ct.depsLeft--
					ct.failedDeps++
					if ct.depsLeft == 0 {
						if q := b.releaseTask(ct, now); q != "" {
							woken = append(woken, q)
						}
						changed++
					}
					continue
				}
				delete(b.waiting, child)
				verb := "dead-lettered"
				if t.finished == pgqueue.StateCancelled {
					verb = "cancelled"
				}
				j.row.Errors = append(j.row.Errors, pgqueue.AttemptError{Attempt: j.row.Attempt, At: now.UTC(), Kind: "cancelled",
					Error: fmt.Sprintf("cancelled: its dependency %s was %s", t.name, verb)})
				b.running[child] = j // kill takes it from the running set
				b.kill(j, now)
				changed++
			}
		}
	}
	b.mu.Unlock()
	b.notify(sortedUnique(woken))
	return changed, nil
}

// workflowInfo returns the workflow with its tasks counted, given every
// job's state (jobStates). b.mu must be held.
func (b *Backend) workflowInfo(wf *workflow, states map[int64]pgqueue.State) pgqueue.WorkflowInfo {
	w := pgqueue.WorkflowInfo{ID: wf.id, Name: wf.name, CreatedAt: wf.created, Tasks: len(wf.jobs)}
	for _, id := range wf.jobs {
		switch b.taskStateIn(b.tasks[id], states) {
		case pgqueue.StateWaiting:
			w.Waiting++
		case pgqueue.StateCompleted, pgqueue.StateSkipped:
			w.Completed++
		case pgqueue.StateDead:
			w.Dead++
		case pgqueue.StateCancelled:
			w.Cancelled++
		default:
			w.Active++
		}
	}
	return w
}

// jobStates maps every stored job to its listed state. b.mu must be held.
func (b *Backend) jobStates() map[int64]pgqueue.State {
	out := map[int64]pgqueue.State{}
	b.each(func(j *job) {
		st := j.state
		if st == pgqueue.StateDead {
			st = pgqueue.StateOfDeadLetter(j.row.Errors)
		}
		out[j.row.ID] = st
	})
	return out
}

// taskStateIn is the task's state given every job's (jobStates): its
// recorded outcome, else its job's state, else completed (its job left
// the store without one only if it was deleted by hand).
func (b *Backend) taskStateIn(t *task, states map[int64]pgqueue.State) pgqueue.State {
	if t.finished != "" {
		return t.finished
	}
	if st, ok := states[t.job]; ok {
		return st
	}
	return pgqueue.StateCompleted
}

// Workflow implements pgqueue.WorkflowStore.
func (b *Backend) Workflow(ctx context.Context, id int64) (*pgqueue.WorkflowInfo, []pgqueue.WorkflowTaskInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	wf := b.workflows[id]
	if wf == nil {
		return nil, nil, fmt.Errorf("memqueue: workflow %d: %w", id, pgqueue.ErrJobNotFound)
	}
	states := b.jobStates()
	info := b.workflowInfo(wf, states)
	tasks := make([]pgqueue.WorkflowTaskInfo, len(wf.jobs))
	for i, jid := range wf.jobs {
		t := b.tasks[jid]
		ti := pgqueue.WorkflowTaskInfo{Name: t.name, JobID: jid, State: b.taskStateIn(t, states)}
		for _, p := range t.in {
			ti.DependsOn = append(ti.DependsOn, b.tasks[p].name)
		}
		tasks[i] = ti
	}
	return &info, tasks, nil
}

// ListWorkflows implements pgqueue.WorkflowStore.
func (b *Backend) ListWorkflows(ctx context.Context, before int64, limit int) ([]pgqueue.WorkflowInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	var ids []int64
	for id := range b.workflows {
		if before == 0 || id < before {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	slices.Reverse(ids)
	out := []pgqueue.WorkflowInfo{}
	states := b.jobStates() // once for the page, not once per workflow
	for _, id := range ids[:min(limit, len(ids))] {
		out = append(out, b.workflowInfo(b.workflows[id], states))
	}
	return out, nil
}

// CancelWorkflow implements pgqueue.WorkflowStore; ErrJobNotFound for an
// unknown workflow.
func (b *Backend) CancelWorkflow(ctx context.Context, id int64) (int, error) {
	b.mu.Lock()
	wf := b.workflows[id]
	if wf == nil {
		b.mu.Unlock()
		return 0, fmt.Errorf("%w: memqueue: workflow %d", pgqueue.ErrJobNotFound, id)
	}
	var ids []int64
	states := b.jobStates()
	for _, jid := range wf.jobs {
		switch states[jid] {
		case pgqueue.StateWaiting, pgqueue.StateAvailable, pgqueue.StateScheduled, pgqueue.StateRunning:
			ids = append(ids, jid)
		}
	}
	b.mu.Unlock()
	n := 0
	for _, jid := range ids {
		if err := b.CancelJob(ctx, jid); err == nil {
			n++
		} else if !errors.Is(err, pgqueue.ErrJobNotFound) {
			return n, err
		}
	}
	return n, nil
}

// RetryWorkflow implements pgqueue.WorkflowStore.
func (b *Backend) RetryWorkflow(ctx context.Context, id int64) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	b.mu.Lock()
	wf := b.workflows[id]
	if wf == nil {
		b.mu.Unlock()
		return 0, nil
	}
	now := b.now()
	var woken []string
	n := 0
	for _, jid := range wf.jobs {
		j := b.dead[jid]
		if j == nil {
			continue
		}
		t := b.tasks[jid]
		t.finished, t.depsLeft = "", 0
		for _, p := range t.in {
			if b.tasks[p].finished != pgqueue.StateCompleted {
				t.depsLeft++
			}
		}
		delete(b.dead, jid)
		j.row.Attempt, j.row.RunAt, j.diedAt = 0, now, time.Time{}
		if t.depsLeft > 0 {
			j.state = pgqueue.StateWaiting
			b.waiting[jid] = j
		} else if q := b.place(j, now); q != "" {
			woken = append(woken, q)
		}
		n++
	}
	b.mu.Unlock()
	b.notify(sortedUnique(woken))
	return n, nil
}

// PruneWorkflows implements pgqueue.WorkflowStore.
func (b *Backend) PruneWorkflows(ctx context.Context, olderThan time.Duration) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	cutoff := b.now().Add(-olderThan)
	n := 0
	for id, wf := range b.workflows {
		if !wf.created.Before(cutoff) {
			continue
		}
		done := true
		for _, jid := range wf.jobs {
			if b.tasks[jid].finished == "" {
				done = false
				break
			}
		}
		if !done {
			continue
		}
		for _, jid := range wf.jobs {
			delete(b.tasks, jid)
		}
		for key, seq := range b.sequences {
			if seq.workflow == id {
				delete(b.sequences, key)
			}
		}
		delete(b.workflows, id)
		n++
	}
	return n, nil
}
