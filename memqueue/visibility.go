package memqueue

// The operator API's interfaces: listing, counting, bulk actions and
// stats (pgqueue.JobLister, pgqueue.JobActor, pgqueue.StatsReporter).

import (
	"bytes"
	"cmp"
	"container/heap"
	"context"
	"errors"
	"slices"

	"github.com/pgqueue/pgqueue"
)

var (
	_ pgqueue.JobLister     = (*Backend)(nil)
	_ pgqueue.JobActor      = (*Backend)(nil)
	_ pgqueue.StatsReporter = (*Backend)(nil)
)

// info returns the job as the operator sees it, sharing no memory with
// the store. b.mu must be held.
func (j *job) info() *pgqueue.JobInfo {
	info := &pgqueue.JobInfo{JobRow: *j.rowCopy(), State: j.state, Output: bytes.Clone(j.output)}
	if j.progress != nil {
		p := *j.progress
		info.Progress = &p
	}
	switch j.state {
	case pgqueue.StateDead:
		info.FinishedAt = j.diedAt
		info.State = pgqueue.StateOfDeadLetter(j.row.Errors)
	case pgqueue.StateCompleted:
		info.FinishedAt = j.finishedAt
	}
	return info
}

// each calls fn with every stored job, in no particular order. b.mu must
// be held.
func (b *Backend) each(fn func(j *job)) {
	for _, byKind := range b.available {
		for _, h := range byKind {
			for _, j := range h.jobs {
				fn(j)
			}
		}
	}
	for _, j := range b.scheduled.jobs {
		fn(j)
	}
	for _, j := range b.running {
		fn(j)
	}
	for _, j := range b.dead {
		fn(j)
	}
	for _, j := range b.history {
		fn(j)
	}
	for _, j := range b.waiting {
		fn(j)
	}
}

// matching returns the jobs f matches, as JobInfo. b.mu must be held.
func (b *Backend) matching(f pgqueue.JobFilter, keep func(id int64) bool) []*pgqueue.JobInfo {
	var out []*pgqueue.JobInfo
	b.each(func(j *job) {
		if !keep(j.row.ID) {
			return
		}
		if info := j.info(); f.Match(info) {
			out = append(out, info)
		}
	})
	return out
}

// ListJobs implements pgqueue.JobLister. It walks every stored job (O(n)
// per page): memqueue holds what fits in memory.
func (b *Backend) ListJobs(ctx context.Context, q pgqueue.JobQuery) ([]*pgqueue.JobInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b.mu.Lock()
	out := b.matching(q.Filter, q.Follows)
	b.mu.Unlock()
	slices.SortFunc(out, func(x, y *pgqueue.JobInfo) int {
		if q.Oldest() {
			return cmp.Compare(x.ID, y.ID)
		}
		return cmp.Compare(y.ID, x.ID)
	})
	return out[:min(len(out), q.Limit)], nil
}

// CountJobs implements pgqueue.JobLister.
func (b *Backend) CountJobs(ctx context.Context, f pgqueue.JobFilter) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return int64(len(b.matching(f, func(int64) bool { return true }))), nil
}

// ActOnJobs implements pgqueue.JobActor: each job still in one of the
// action's states is changed under the Backend's lock.
func (b *Backend) ActOnJobs(ctx context.Context, action pgqueue.BulkAction, jobs []pgqueue.JobTarget) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	ids := make([]int64, len(jobs))
	for i, t := range jobs {
		ids[i] = t.ID
	}
	switch action {
	case pgqueue.BulkRetry:
		return b.retryScheduled(ids), nil
	case pgqueue.BulkDelete:
		b.mu.Lock()
		n := 0
		for _, id := range ids {
			if j := b.removeWaiting(id); j != nil {
				b.release(j)
				n++
			}
		}
		b.mu.Unlock()
		return n, nil
	case pgqueue.BulkCancel:
		n := 0
		for _, id := range ids {
			switch err := b.CancelJob(ctx, id); {
			case err == nil:
				n++
			case !errors.Is(err, pgqueue.ErrJobNotFound):
				return n, err
			}
		}
		return n, nil
	case pgqueue.BulkRequeueDead:
		return b.RequeueDead(ctx, ids)
	case pgqueue.BulkPurgeDead:
		return b.PurgeDead(ctx, pgqueue.DeadFilter{IDs: ids})
	}
	return 0, errors.New("memqueue: unknown bulk action " + string(action))
}

// retryScheduled makes the scheduled jobs among ids available now and
// wakes their queues.
func (b *Backend) retryScheduled(ids []int64) int {
	b.mu.Lock()
	now := b.now()
	var woken []string
	for _, id := range ids {
		i := slices.IndexFunc(b.scheduled.jobs, func(j *job) bool { return j.row.ID == id })
		if i < 0 {
			continue
		}
		j := heap.Remove(b.scheduled, i).(*job)
		j.state = pgqueue.StateAvailable
		j.row.RunAt = now
		b.available.push(j)
		woken = append(woken, j.row.Queue)
	}
	b.mu.Unlock()
	b.notify(sortedUnique(woken))
	return len(woken)
}

// QueueStats implements pgqueue.StatsReporter. Counts are exact; running
// jobs show no ClaimedBy (memqueue does not store it).
func (b *Backend) QueueStats(ctx context.Context) (*pgqueue.Stats, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	st := &pgqueue.Stats{At: now, Queues: []pgqueue.QueueStats{}, Running: []pgqueue.RunningJob{}, Dead: []pgqueue.KindCount{}}
	queues := map[string]*pgqueue.QueueStats{}
	get := func(name string) *pgqueue.QueueStats {
		if q := queues[name]; q != nil {
			return q
		}
		q := &pgqueue.QueueStats{Queue: name}
		queues[name] = q
		return q
	}
	dead := map[string]int64{}
	b.each(func(j *job) {
		if j.state == pgqueue.StateDead {
			dead[j.row.Kind]++
			return
		}
		q := get(j.row.Queue)
		switch j.state {
		case pgqueue.StateAvailable:
			q.Available.N++
			if lag := now.Sub(j.row.RunAt); lag > q.Lag {
				q.Lag = lag
			}
		case pgqueue.StateScheduled:
			q.Scheduled.N++
		case pgqueue.StateRunning:
			q.Running.N++
			st.Running = append(st.Running, pgqueue.RunningJob{ID: j.row.ID, Queue: j.row.Queue, Kind: j.row.Kind,
				Attempt: j.row.Attempt, MaxAttempts: j.row.MaxAttempts, AttemptedAt: j.row.AttemptedAt, LeaseUntil: j.row.LeaseUntil})
		}
	})
	for name := range b.paused {
		get(name).Paused = true
	}
	for name, l := range b.limits {
		q := get(name)
		q.Limits.MaxRunning = l.maxRunning
		if l.rate > 0 {
			q.Limits.Rate = &pgqueue.RateLimit{PerSecond: l.rate, Burst: int(l.burst)}
		}
	}
	for _, q := range queues {
		st.Queues = append(st.Queues, *q)
	}
	slices.SortFunc(st.Queues, func(x, y pgqueue.QueueStats) int { return cmp.Compare(x.Queue, y.Queue) })
	slices.SortFunc(st.Running, func(x, y pgqueue.RunningJob) int {
		return cmp.Or(x.LeaseUntil.Compare(y.LeaseUntil), cmp.Compare(x.ID, y.ID))
	})
	st.Running = st.Running[:min(len(st.Running), 100)]
	for kind, n := range dead {
		st.Dead = append(st.Dead, pgqueue.KindCount{Kind: kind, Count: pgqueue.Count{N: n}})
	}
	slices.SortFunc(st.Dead, func(x, y pgqueue.KindCount) int { return cmp.Compare(x.Kind, y.Kind) })
	return st, nil
}
