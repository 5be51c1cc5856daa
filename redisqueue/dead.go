package redisqueue

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/pgqueue/pgqueue"
)

// ListDead returns the dead-lettered jobs matching f, newest first (latest
// death; on a tie, higher ID first), at most f.Limit of them (100 when
// Limit <= 0). Zero fields of f match everything; DiedBefore and DiedAfter
// are strict bounds. Each queue is read in one consistent snapshot; the
// queues of a call are read in one pipelined round trip and merged. With
// f.Kind set only that kind's dead-letter index is read.
func (b *Backend) ListDead(ctx context.Context, f pgqueue.DeadFilter) ([]*pgqueue.DeadJob, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	limit := f.EffectiveLimit()
	targets, err := b.deadTargets(ctx, f)
	if err != nil {
		return nil, err
	}
	before, after := deadBounds(f)
	calls := make([]call, len(targets))
	for i, t := range targets {
		args := append([]any{t.q.tag, before, after, limit}, t.ids...)
		calls[i] = call{s: listDeadScript, keys: []string{t.set}, args: args}
	}
	if len(calls) == 0 {
		return nil, nil
	}
	cmds, err := b.runAll(ctx, calls)
	if err != nil {
		return nil, wrapErr("list dead jobs", err)
	}
	var out []*pgqueue.DeadJob
	for i, cmd := range cmds {
		rows, err := cmd.Slice()
		if err != nil {
			return nil, wrapErr("list dead jobs", err)
		}
		for _, r := range rows {
			if d := parseDead(r, targets[i].q.name); d != nil {
				out = append(out, d)
			}
		}
	}
	slices.SortFunc(out, func(x, y *pgqueue.DeadJob) int {
		return cmp.Or(y.DiedAt.Compare(x.DiedAt), cmp.Compare(y.ID, x.ID))
	})
	return out[:min(len(out), limit)], nil
}

// RequeueDead moves the dead-lettered jobs with the given IDs back into
// their queues as available now, under the same ID, with their attempt
// count reset to 0 and their error history and token kept, and wakes their
// queues. It returns how many it moved; unknown, repeated and not-dead IDs
// are skipped, and so are stubs left for jobs whose hash had vanished
// (they have no kind or args to run). An ID does not say which queue holds
// the job, so every known queue is asked about every ID, in one pipelined
// round trip; each queue's jobs move atomically.
func (b *Backend) RequeueDead(ctx context.Context, ids []int64) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	ids = slices.Compact(slices.Sorted(slices.Values(ids)))
	if len(ids) == 0 {
		return 0, nil
	}
	names, err := b.knownQueues(ctx)
	if err != nil {
		return 0, err
	}
	moved := 0
	for len(ids) > 0 {
		chunk := ids[:min(len(ids), maintenanceBatch)]
		ids = ids[len(chunk):]
		calls := make([]call, len(names))
		for n, name := range names {
			q := b.queue(name)
			args := make([]any, 0, 3+len(chunk))
			args = append(args, q.tag, b.channel, name)
			for _, id := range chunk {
				args = append(args, id)
			}
			calls[n] = call{s: requeueDeadScript, keys: []string{q.dead}, args: args}
		}
		if len(calls) == 0 {
			return 0, nil
		}
		cmds, err := b.runAll(ctx, calls)
		for _, cmd := range cmds {
			n, _ := cmd.Int64()
			moved += int(n)
		}
		if err != nil {
			return moved, wrapErr("requeue dead jobs", err)
		}
	}
	return moved, nil
}

// PurgeDead deletes the dead-lettered jobs matching f, ignoring f.Limit,
// and returns how many it deleted. A zero filter deletes every dead job.
// A time-range purge deletes in batches of 1000 per queue per round trip,
// so a large purge never blocks Redis for long, and is not one atomic step.
// Members of the dead-letter sets whose job hash is gone are removed and
// not counted. A purge still finding a full batch after maxPurgePasses
// batches of one queue (dead jobs added as fast as they are purged)
// stops with an error wrapping pgqueue.ErrDatabase and the count so far.
func (b *Backend) PurgeDead(ctx context.Context, f pgqueue.DeadFilter) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	targets, err := b.deadTargets(ctx, f)
	if err != nil {
		return 0, err
	}
	before, after := deadBounds(f)
	purged := 0
	for pass := 0; len(targets) > 0; pass++ {
		if pass == maxPurgePasses {
			return purged, fmt.Errorf("%w: redisqueue: purge dead jobs: stopped after %d batches of %d in one queue (dead jobs are being added as fast as they are purged?); call PurgeDead again to go on",
				pgqueue.ErrDatabase, maxPurgePasses, maintenanceBatch)
		}
		calls := make([]call, len(targets))
		for i, t := range targets {
			args := append([]any{t.q.tag, before, after, maintenanceBatch}, t.ids...)
			calls[i] = call{s: purgeDeadScript, keys: []string{t.set}, args: args}
		}
		cmds, err := b.runAll(ctx, calls)
		var again []deadTarget
		for i, cmd := range cmds {
			// The reply is how many members the script read (each of
			// which it removed from the set, so a scan always moves on),
			// then the IDs it deleted.
			vals, cerr := cmd.Int64Slice()
			if cerr != nil || len(vals) == 0 {
				continue
			}
			purged += len(vals) - 1
			if len(targets[i].ids) == 0 && vals[0] >= maintenanceBatch {
				again = append(again, targets[i])
			}
		}
		if err != nil {
			return purged, wrapErr("purge dead jobs", err)
		}
		targets = again
	}
	return purged, nil
}

// maxPurgePasses bounds the batches of one queue a PurgeDead call runs
// (10 million dead jobs), so that it ends even if dead jobs keep coming.
const maxPurgePasses = 10000

// deadTarget is one queue's dead-letter set to read, and the IDs to look
// at in it (none: scan by time).
type deadTarget struct {
	q   queueKeys
	set string
	ids []any
}

// deadTargets says which per-queue sets a filter needs: one queue's or
// every known queue's, and the kind's index when f.Kind is set. With
// f.IDs each target carries the IDs to look for (an ID does not say which
// queue holds it, so every target gets all of them).
func (b *Backend) deadTargets(ctx context.Context, f pgqueue.DeadFilter) ([]deadTarget, error) {
	names := []string{f.Queue}
	if f.Queue == "" {
		var err error
		if names, err = b.knownQueues(ctx); err != nil {
			return nil, err
		}
	} else if validQueue(f.Queue) != nil {
		return nil, nil
	}
	var ids []any
	for _, id := range slices.Compact(slices.Sorted(slices.Values(f.IDs))) {
		ids = append(ids, id)
	}
	out := make([]deadTarget, len(names))
	for i, name := range names {
		q := b.queue(name)
		out[i] = deadTarget{q: q, set: q.dead, ids: ids}
		if f.Kind != "" {
			out[i].set = q.deadKind(f.Kind)
		}
	}
	return out, nil
}

// deadBounds turns the filter's strict time bounds into strict bounds on
// microsecond death times: died < before ⇔ µs < ceil(before), and
// died > after ⇔ µs > floor(after). "" means unbounded.
func deadBounds(f pgqueue.DeadFilter) (before, after string) {
	if !f.DiedBefore.IsZero() {
		us := f.DiedBefore.UnixMicro()
		if f.DiedBefore.Nanosecond()%1000 != 0 {
			us++
		}
		before = strconv.FormatInt(us, 10)
	}
	if !f.DiedAfter.IsZero() {
		after = strconv.FormatInt(f.DiedAfter.UnixMicro(), 10)
	}
	return before, after
}

// parseDead reads one row of list_dead.lua leniently: a dead job is shown
// even when some of its fields are damaged, with zero values for what
// cannot be read and a note in place of a history that does not decode.
func parseDead(v any, queue string) *pgqueue.DeadJob {
	f, ok := v.([]any)
	if !ok || len(f) != 10 {
		return nil
	}
	s := make([]string, len(f))
	for i, x := range f {
		s[i], _ = x.(string)
	}
	num := func(i int) int64 {
		n, _ := strconv.ParseInt(s[i], 10, 64)
		return n
	}
	timeAt := func(i int) time.Time {
		if s[i] == "" {
			return time.Time{}
		}
		return fromMicros(num(i))
	}
	d := &pgqueue.DeadJob{
		ID:          num(0),
		Kind:        s[1],
		Queue:       queue,
		Priority:    int(num(2)),
		Attempt:     int(num(4)),
		MaxAttempts: int(num(5)),
		CreatedAt:   timeAt(7),
		DiedAt:      timeAt(8),
	}
	if s[3] != "" {
		d.Args = json.RawMessage(s[3])
	}
	if s[9] != "" {
		// Damaged metadata is left out rather than hiding the job.
		if err := json.Unmarshal([]byte(s[9]), &d.Metadata); err != nil {
			d.Metadata = nil
		}
	}
	if s[6] != "" {
		if err := json.Unmarshal([]byte(s[6]), &d.Errors); err != nil {
			d.Errors = []pgqueue.AttemptError{{Attempt: d.Attempt, Kind: "decode",
				Error: fmt.Sprintf("redisqueue: job %d: the stored error history does not decode: %v", d.ID, err)}}
		}
	}
	return d
}
