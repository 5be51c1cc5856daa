package memqueue

// Sequences (pgqueue.SequenceInserter): each sequenced job becomes the
// next task of its key's workflow, waiting for the one before.

import (
	"bytes"
	"context"
	"maps"
	"strconv"

	"github.com/pgqueue/pgqueue"
)

var _ pgqueue.SequenceInserter = (*Backend)(nil)

// sequence is one sequence key's state.
type sequence struct {
	workflow   int64
	last       int64
	lastGoesOn bool
}

// InsertSequenced implements pgqueue.SequenceInserter.
func (b *Backend) InsertSequenced(ctx context.Context, jobs []pgqueue.InsertParams) ([]int64, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ids := make([]int64, len(jobs))
	for i, p := range jobs {
		if p.Sequence == "" {
			got, err := b.Insert(ctx, []pgqueue.InsertParams{p})
			if err != nil {
				return nil, err
			}
			ids[i] = got[0]
			continue
		}
		ids[i] = b.insertSequenced(p)
	}
	return ids, nil
}

// insertSequenced stores one sequenced job under the lock.
func (b *Backend) insertSequenced(p pgqueue.InsertParams) int64 {
	b.mu.Lock()
	now := b.now()
	seq := b.sequences[p.Sequence]
	if seq == nil {
		b.lastWF++
		seq = &sequence{workflow: b.lastWF}
		b.workflows[seq.workflow] = &workflow{id: seq.workflow, name: pgqueue.SequenceWorkflowName(p.Sequence), created: now}
		b.sequences[p.Sequence] = seq
	}
	wf := b.workflows[seq.workflow]
	b.lastID++
	j := &job{row: pgqueue.JobRow{
		ID: b.lastID, Kind: p.Kind, Queue: p.Queue, Priority: p.Priority, Args: bytes.Clone(p.Args),
		MaxAttempts: p.MaxAttempts, CreatedAt: now, RunAt: p.RunAt, Metadata: maps.Clone(p.Metadata), WorkflowID: wf.id,
	}}
	if j.row.RunAt.IsZero() {
		j.row.RunAt = now
	}
	t := &task{job: j.row.ID, workflow: wf.id, name: "#" + strconv.Itoa(len(wf.jobs)+1), runAnyway: map[int64]bool{}}
	if prev := b.tasks[seq.last]; prev != nil && prev.finished == "" {
		t.in, t.depsLeft = []int64{prev.job}, 1
		t.runAnyway[prev.job] = seq.lastGoesOn
		prev.out = append(prev.out, j.row.ID)
	}
	b.tasks[j.row.ID] = t
	wf.jobs = append(wf.jobs, j.row.ID)
	seq.last, seq.lastGoesOn = j.row.ID, p.SequenceContinue
	var woken []string
	if t.depsLeft > 0 {
		j.state = pgqueue.StateWaiting
		b.waiting[j.row.ID] = j
	} else if q := b.place(j, now); q != "" {
		woken = append(woken, q)
	}
	b.mu.Unlock()
	b.notify(woken)
	return j.row.ID
}
