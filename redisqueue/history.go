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
	queues := make([]string, len(done))
	for i, c := range done {
		q, err := b.queueOfToken(ctx, c.Ref.Token)
		if err != nil {
			return nil, err
		}
		queues[i] = q
	}
	names, groups := byQueue(queues)
	calls := make([]call, len(names))
	for n, name := range names {
		q := b.queue(name)
		refs := make([]pgqueue.JobRef, len(groups[name]))
		args := make([]any, 0, 2+4*len(refs))
		args = append(args, q.tag, completeGuardTTL.Milliseconds())
		for j, i := range groups[name] {
			c := done[i]
			refs[j] = c.Ref
			args = append(args, c.Ref.ID, c.Ref.Token, string(c.Output), max(c.Keep, 0).Microseconds())
		}
		calls[n] = call{s: completeRecScript, keys: []string{q.running, q.completeGuard(refs) + ":rec", q.history}, args: args}
	}
	ok := make([]bool, len(done))
	if err := b.answeredPositions(ctx, "complete jobs", calls, names, groups, ok); err != nil {
		return nil, err
	}
	var lost []pgqueue.JobRef
	for i, c := range done {
		if !ok[i] {
			lost = append(lost, c.Ref)
		}
	}
	return lost, nil
}

// DeadLetterRecorded implements pgqueue.RunRecorder.
func (b *Backend) DeadLetterRecorded(ctx context.Context, ref pgqueue.JobRef, info pgqueue.AttemptError, output json.RawMessage) error {
	return b.deadLetter(ctx, ref, info, output)
}

// HeartbeatProgress implements pgqueue.RunRecorder: heartbeat.lua's
// lease extension with each job's new progress, one script per queue.
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
	queues := make([]string, len(refs))
	for i, r := range refs {
		q, err := b.queueOfToken(ctx, r.Token)
		if err != nil {
			return nil, err
		}
		queues[i] = q
	}
	names, groups := byQueue(queues)
	calls := make([]call, len(names))
	for n, name := range names {
		q := b.queue(name)
		args := []any{q.tag, max(lease, 0).Microseconds()}
		for _, i := range groups[name] {
			args = append(args, refs[i].ID, refs[i].Token, string(progress[i]))
		}
		calls[n] = call{s: heartbeatProgress, keys: []string{q.running}, args: args}
	}
	ok := make([]bool, len(refs))
	if err := b.answeredPositions(ctx, "heartbeat", calls, names, groups, ok); err != nil {
		return nil, err
	}
	var lost []pgqueue.JobRef
	for i, r := range refs {
		if !ok[i] {
			lost = append(lost, r)
		}
	}
	return lost, nil
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
