package memqueue

import (
	"bytes"
	"container/heap"
	"encoding/json"
	"maps"
	"slices"
	"time"

	"github.com/pgqueue/pgqueue"
)

// job is one stored job in any state. The Backend's mutex guards it.
type job struct {
	row   pgqueue.JobRow
	state pgqueue.State
	// diedAt is set while the job is in the dead-letter store.
	diedAt time.Time
	// uniqueKey is held while the job waits or runs.
	uniqueKey string
	// claimedBy is the ID of the client that claimed the job last.
	claimedBy string
	// output is what the last run recorded (kept with dead letters and
	// the history); progress what the last heartbeat carried.
	output   json.RawMessage
	progress *pgqueue.Progress
	// finishedAt and keepUntil are set while the job is in the history.
	finishedAt, keepUntil time.Time
}

// rowCopy returns a copy of the job's row that shares no memory with the
// store, so a caller mutating it cannot change the queue.
func (j *job) rowCopy() *pgqueue.JobRow {
	r := j.row
	r.Args = bytes.Clone(j.row.Args)
	r.Errors = slices.Clone(j.row.Errors)
	r.Metadata = maps.Clone(j.row.Metadata)
	return &r
}

// deadCopy returns the job as a DeadJob sharing no memory with the store.
func (j *job) deadCopy() *pgqueue.DeadJob {
	return &pgqueue.DeadJob{
		ID:          j.row.ID,
		Kind:        j.row.Kind,
		Queue:       j.row.Queue,
		Priority:    j.row.Priority,
		Args:        bytes.Clone(j.row.Args),
		Attempt:     j.row.Attempt,
		MaxAttempts: j.row.MaxAttempts,
		Errors:      slices.Clone(j.row.Errors),
		CreatedAt:   j.row.CreatedAt,
		DiedAt:      j.diedAt,
		Metadata:    maps.Clone(j.row.Metadata),
	}
}

// claimBefore is the order Claim takes available jobs in: priority, then
// run-at, then ID, all ascending (the Postgres claim index's order).
func claimBefore(a, b *job) bool {
	if a.row.Priority != b.row.Priority {
		return a.row.Priority < b.row.Priority
	}
	if !a.row.RunAt.Equal(b.row.RunAt) {
		return a.row.RunAt.Before(b.row.RunAt)
	}
	return a.row.ID < b.row.ID
}

// dueBefore is the order scheduled jobs fall due in: run-at, then ID.
func dueBefore(a, b *job) bool {
	if !a.row.RunAt.Equal(b.row.RunAt) {
		return a.row.RunAt.Before(b.row.RunAt)
	}
	return a.row.ID < b.row.ID
}

// jobHeap is a min-heap of jobs under less. Jobs only ever leave the
// available and scheduled states by being popped (claimed or promoted), so
// no removal from the middle is needed; a future cancel operation would
// need per-job heap indexes.
type jobHeap struct {
	jobs []*job
	less func(a, b *job) bool
}

func (h *jobHeap) Len() int           { return len(h.jobs) }
func (h *jobHeap) Less(i, j int) bool { return h.less(h.jobs[i], h.jobs[j]) }
func (h *jobHeap) Swap(i, j int)      { h.jobs[i], h.jobs[j] = h.jobs[j], h.jobs[i] }
func (h *jobHeap) Push(x any)         { h.jobs = append(h.jobs, x.(*job)) }
func (h *jobHeap) Pop() any {
	n := len(h.jobs) - 1
	j := h.jobs[n]
	h.jobs[n] = nil
	h.jobs = h.jobs[:n]
	return j
}

// peek returns the least job without removing it, or nil when empty.
func (h *jobHeap) peek() *job {
	if len(h.jobs) == 0 {
		return nil
	}
	return h.jobs[0]
}

// availableIndex holds the available jobs per queue and kind, each in
// claim order, so that Claim costs O(limit × kinds + limit × log n) and
// never walks jobs of kinds the claimer does not work.
type availableIndex map[string]map[string]*jobHeap

func (ix availableIndex) push(j *job) {
	byKind := ix[j.row.Queue]
	if byKind == nil {
		byKind = map[string]*jobHeap{}
		ix[j.row.Queue] = byKind
	}
	h := byKind[j.row.Kind]
	if h == nil {
		h = &jobHeap{less: claimBefore}
		byKind[j.row.Kind] = h
	}
	heap.Push(h, j)
}

// take pops up to limit jobs of queue whose kind is in kinds, in claim
// order, dropping heaps it empties so the index does not grow with every
// queue and kind ever seen.
func (ix availableIndex) take(queue string, kinds []string, limit int) []*job {
	byKind := ix[queue]
	if byKind == nil || limit <= 0 {
		return nil
	}
	heaps := make([]*jobHeap, 0, len(kinds))
	for _, k := range kinds {
		if h := byKind[k]; h != nil && !slices.Contains(heaps, h) {
			heaps = append(heaps, h)
		}
	}
	var out []*job
	for len(out) < limit {
		var best *jobHeap
		for _, h := range heaps {
			if top := h.peek(); top != nil && (best == nil || claimBefore(top, best.peek())) {
				best = h
			}
		}
		if best == nil {
			break
		}
		out = append(out, heap.Pop(best).(*job))
	}
	for _, k := range kinds {
		if h := byKind[k]; h != nil && h.Len() == 0 {
			delete(byKind, k)
		}
	}
	if len(byKind) == 0 {
		delete(ix, queue)
	}
	return out
}

func (ix availableIndex) len() int {
	n := 0
	for _, byKind := range ix {
		for _, h := range byKind {
			n += h.Len()
		}
	}
	return n
}

// sortedUnique returns the distinct names in s, sorted; nil when s is empty.
func sortedUnique(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	s = slices.Clone(s)
	slices.Sort(s)
	return slices.Compact(s)
}
