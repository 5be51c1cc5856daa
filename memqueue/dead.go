package memqueue

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/pgqueue/pgqueue"
)

// deadMatcher is a DeadFilter ready to test jobs against.
type deadMatcher struct {
	f   pgqueue.DeadFilter
	ids map[int64]struct{}
}

func newDeadMatcher(f pgqueue.DeadFilter) deadMatcher {
	m := deadMatcher{f: f}
	if len(f.IDs) > 0 {
		m.ids = make(map[int64]struct{}, len(f.IDs))
		for _, id := range f.IDs {
			m.ids[id] = struct{}{}
		}
	}
	return m
}

// match reports whether dead job j passes every set field of the filter.
// The time bounds are strict: DiedBefore keeps jobs that died before it,
// DiedAfter those that died after it.
func (m deadMatcher) match(j *job) bool {
	switch {
	case m.f.Kind != "" && j.row.Kind != m.f.Kind,
		m.f.Queue != "" && j.row.Queue != m.f.Queue,
		!m.f.DiedBefore.IsZero() && !j.diedAt.Before(m.f.DiedBefore),
		!m.f.DiedAfter.IsZero() && !j.diedAt.After(m.f.DiedAfter):
		return false
	}
	if m.ids != nil {
		_, ok := m.ids[j.row.ID]
		return ok
	}
	return true
}

// ListDead returns copies of the dead-lettered jobs matching f, newest
// first (latest DiedAt; on a tie, higher ID first), at most f.Limit of
// them; a Limit of zero or less means 100. Zero fields of f match
// everything.
func (b *Backend) ListDead(ctx context.Context, f pgqueue.DeadFilter) ([]*pgqueue.DeadJob, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	limit := f.EffectiveLimit()
	m := newDeadMatcher(f)
	b.mu.Lock()
	defer b.mu.Unlock()
	var found []*job
	for _, j := range b.dead {
		if m.match(j) {
			found = append(found, j)
		}
	}
	slices.SortFunc(found, func(x, y *job) int {
		if c := y.diedAt.Compare(x.diedAt); c != 0 {
			return c
		}
		return cmp.Compare(y.row.ID, x.row.ID)
	})
	found = found[:min(len(found), limit)]
	out := make([]*pgqueue.DeadJob, len(found))
	for i, j := range found {
		out[i] = j.deadCopy()
	}
	return out, nil
}

// RequeueDead moves the dead-lettered jobs with the given IDs back into
// their queues as available now, with their attempt reset to 0 and their
// error history and token kept, and wakes their queues. It returns how many
// it moved; unknown and repeated IDs are skipped.
func (b *Backend) RequeueDead(ctx context.Context, ids []int64) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	b.mu.Lock()
	now := b.now()
	var woken []string
	moved := 0
	for _, id := range ids {
		j := b.dead[id]
		if j == nil {
			continue
		}
		delete(b.dead, id)
		j.state = pgqueue.StateAvailable
		j.diedAt = time.Time{}
		j.row.Attempt = 0
		j.row.RunAt = now
		j.row.LeaseUntil = time.Time{}
		b.available.push(j)
		woken = append(woken, j.row.Queue)
		moved++
	}
	b.mu.Unlock()
	b.notify(sortedUnique(woken))
	return moved, nil
}

// PurgeDead deletes the dead-lettered jobs matching f, ignoring f.Limit,
// and returns how many it deleted. A zero filter deletes every dead job.
func (b *Backend) PurgeDead(ctx context.Context, f pgqueue.DeadFilter) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	m := newDeadMatcher(f)
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for id, j := range b.dead {
		if m.match(j) {
			delete(b.dead, id)
			n++
		}
	}
	return n, nil
}
