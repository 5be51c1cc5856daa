package redisqueue

// What a run leaves behind: output, progress and the history of completed
// jobs (pgqueue.RunRecorder, pgqueue.HistoryKeeper). A kept job stays as
// its hash, in state completed, and its queue's history set (in the
// queue's slot) orders the kept jobs by the time they may be dropped.

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/pgqueue/pgqueue"
)

var (
	_ pgqueue.RunRecorder   = (*Backend)(nil)
	_ pgqueue.HistoryKeeper = (*Backend)(nil)
)

// historyPruneBatch caps the jobs one prune call deletes per queue, so a
// prune never holds Redis for long; the next call goes on.
const historyPruneBatch = 1000

// CompleteRecorded implements pgqueue.RunRecorder: one complete_recorded
// script per queue, all in one round trip, with complete.lua's retry
// guard.
func (b *Backend) CompleteRecorded(ctx context.Context, done []pgqueue.Completion) ([]pgqueue.JobRef, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(done) == 0 {
		return nil, nil
	}
	refs := make([]pgqueue.JobRef, len(done))
	for i, c := range done {
		refs[i] = c.Ref
	}
	return b.refScript(ctx, "complete jobs", refCall{
		s: completeRecScript, guard: completeGuardTTL,
		keys:   func(q queueKeys) []string { return []string{q.history} },
		perRef: func(i int) []any { return []any{string(done[i].Output), max(done[i].Keep, 0).Microseconds()} },
	}, refs)
}

// DeadLetterRecorded implements pgqueue.RunRecorder.
func (b *Backend) DeadLetterRecorded(ctx context.Context, ref pgqueue.JobRef, info pgqueue.AttemptError, output json.RawMessage) error {
	return b.deadLetter(ctx, ref, info, output)
}

// HeartbeatProgress implements pgqueue.RunRecorder: heartbeat.lua's
// lease extension with each job's new progress (three values per job),
// one script per queue.
func (b *Backend) HeartbeatProgress(ctx context.Context, refs []pgqueue.JobRef, progress []json.RawMessage, lease time.Duration) ([]pgqueue.JobRef, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(progress) != len(refs) {
		return nil, fmt.Errorf("redisqueue: %d progress entries for %d refs: %w", len(progress), len(refs), pgqueue.ErrInvalidArgs)
	}
	if len(refs) == 0 {
		return nil, nil
	}
	return b.refScript(ctx, "heartbeat", refCall{
		s: heartbeatScript, lead: []any{max(lease, 0).Microseconds(), 3},
		perRef: func(i int) []any { return []any{string(progress[i])} },
	}, refs)
}

// MaintainHistory implements pgqueue.HistoryKeeper: every known queue's
// kept jobs past their keep time are deleted, up to historyPruneBatch per
// queue per call, in one round trip (Redis needs no preparing).
func (b *Backend) MaintainHistory(ctx context.Context, _ time.Duration) (pgqueue.HistoryUpkeep, error) {
	var r pgqueue.HistoryUpkeep
	if err := ctx.Err(); err != nil {
		return r, err
	}
	names, err := b.knownQueues(ctx)
	if err != nil || len(names) == 0 {
		return r, err
	}
	calls := make([]call, 0, len(names))
	for _, name := range names {
		if validQueue(name) != nil {
			continue
		}
		q := b.queue(name)
		calls = append(calls, call{s: historyPrune, keys: []string{q.history}, args: []any{q.tag, historyPruneBatch}})
	}
	cmds, err := b.runAll(ctx, calls)
	if err != nil {
		return r, wrapErr("prune history", err)
	}
	for _, cmd := range cmds {
		n, err := cmd.Int64()
		if err != nil {
			return r, wrapErr("prune history", err)
		}
		r.Dropped += int(n)
	}
	return r, nil
}
