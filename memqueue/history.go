package memqueue

// What a run leaves behind: output, progress and the history of completed
// jobs (pgqueue.RunRecorder, pgqueue.HistoryKeeper).

import (
	"bytes"
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

// CompleteRecorded implements pgqueue.RunRecorder: each job still held
// under its ref is completed, and kept in the history with its output
// until Keep from now when Keep > 0.
func (b *Backend) CompleteRecorded(ctx context.Context, done []pgqueue.Completion) (lost []pgqueue.JobRef, err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b.mu.Lock()
	var woken []string
	defer func() {
		b.mu.Unlock()
		b.notify(sortedUnique(woken))
	}()
	now := b.now()
	for _, c := range done {
		j := b.held(c.Ref)
		if j == nil {
			lost = append(lost, c.Ref)
			continue
		}
		b.release(j)
		delete(b.running, c.Ref.ID)
		woken = append(woken, b.completeTask(j, c.Output)...)
		if c.Keep <= 0 {
			continue
		}
		j.state = pgqueue.StateCompleted
		j.row.LeaseUntil = time.Time{}
		j.output = bytes.Clone(c.Output)
		j.finishedAt, j.keepUntil = now, now.Add(c.Keep)
		b.history[j.row.ID] = j
	}
	return lost, nil
}

// DeadLetterRecorded implements pgqueue.RunRecorder.
func (b *Backend) DeadLetterRecorded(ctx context.Context, ref pgqueue.JobRef, errInfo pgqueue.AttemptError, output json.RawMessage) error {
	return b.deadLetter(ctx, ref, errInfo, output)
}

// HeartbeatProgress implements pgqueue.RunRecorder.
func (b *Backend) HeartbeatProgress(ctx context.Context, refs []pgqueue.JobRef, progress []json.RawMessage, lease time.Duration) (lost []pgqueue.JobRef, err error) {
	if len(progress) != len(refs) {
		return nil, fmt.Errorf("memqueue: %d progress entries for %d refs: %w", len(progress), len(refs), pgqueue.ErrInvalidArgs)
	}
	decoded := make([]*pgqueue.Progress, len(progress))
	for i, raw := range progress {
		if raw == nil {
			continue
		}
		decoded[i] = new(pgqueue.Progress)
		if err := json.Unmarshal(raw, decoded[i]); err != nil {
			return nil, fmt.Errorf("memqueue: progress of job %d: %w: %v", refs[i].ID, pgqueue.ErrInvalidArgs, err)
		}
	}
	lost, err = b.Heartbeat(ctx, refs, lease)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for i, ref := range refs {
		if j := b.held(ref); j != nil && decoded[i] != nil {
			j.progress = decoded[i]
		}
	}
	return lost, nil
}

// MaintainHistory implements pgqueue.HistoryKeeper: it drops the kept jobs
// whose keep time has passed (memqueue needs no preparing).
func (b *Backend) MaintainHistory(ctx context.Context, _ time.Duration) (pgqueue.HistoryUpkeep, error) {
	if err := ctx.Err(); err != nil {
		return pgqueue.HistoryUpkeep{}, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	var r pgqueue.HistoryUpkeep
	for id, j := range b.history {
		if !j.keepUntil.After(now) {
			delete(b.history, id)
			r.Dropped++
		}
	}
	return r, nil
}
