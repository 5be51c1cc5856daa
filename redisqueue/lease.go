package redisqueue

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/pgqueue/pgqueue"
)

// completeGuardTTL is how long the retry guard of one complete.lua call
// (one batch's refs in one queue) keeps the call's answer: longer than
// go-redis's resends of one call and the engine's retries of one batch
// take together (five tries, each up to a 10s timeout, plus backoff).
const completeGuardTTL = 60 * time.Second

// Complete deletes the running jobs held under the refs' tokens and returns
// the refs that were no longer held (lease lost, job finished, unknown ID,
// or a job whose key no longer holds a hash: rescue dead-letters it when
// its lease ends). Each queue's jobs are completed atomically; the queues of one batch
// are written in one round trip. Completing is idempotent per batch: each
// queue's script leaves a retry guard, {P:Q}:done:<hash of the group's IDs
// and tokens>, holding its answer for completeGuardTTL, so a resend of the
// same refs (go-redis's after a lost reply, or the caller's retry of the
// same batch after an error) reports the jobs the first run completed as
// completed, not lost. Fencing tokens are never reused, so no other batch
// has the same guard.
func (b *Backend) Complete(ctx context.Context, refs []pgqueue.JobRef) ([]pgqueue.JobRef, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(refs) == 0 {
		return nil, nil
	}
	return b.leaseScript(ctx, "complete jobs", completeScript, completeGuardTTL, refs)
}

// completeGuard names the retry guard of one complete.lua call: a hash of
// the group's IDs and tokens, in order, in the queue's slot.
func (q queueKeys) completeGuard(group []pgqueue.JobRef) string {
	h := sha256.New()
	var buf [16]byte
	for _, r := range group {
		binary.BigEndian.PutUint64(buf[:8], uint64(r.ID))
		binary.BigEndian.PutUint64(buf[8:], uint64(r.Token))
		h.Write(buf[:])
	}
	return q.tag + ":done:" + hex.EncodeToString(h.Sum(nil)[:16])
}

// Heartbeat moves the leases of the running jobs held under the refs'
// tokens to lease from now, on the Redis server's clock, and returns the
// refs that were no longer held.
func (b *Backend) Heartbeat(ctx context.Context, refs []pgqueue.JobRef, lease time.Duration) ([]pgqueue.JobRef, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(refs) == 0 {
		return nil, nil
	}
	return b.leaseScript(ctx, "heartbeat", heartbeatScript, 0, refs, max(lease, 0).Microseconds(), 2)
}

// leaseScript groups refs by queue and runs s once per queue, in one round
// trip, on the queue's running set with the arguments: the queue's tag,
// lead, then each ref's ID and token. The script answers the positions
// (1-based, within its group) of the jobs it found held under their
// tokens; leaseScript returns the other refs, whose leases were lost.
// With guard > 0 each call also declares the group's retry guard
// (completeGuard) as its second key, and the guard's expiry in ms comes
// first in lead.
func (b *Backend) leaseScript(ctx context.Context, op string, s *script, guard time.Duration, refs []pgqueue.JobRef, lead ...any) ([]pgqueue.JobRef, error) {
	return b.refScript(ctx, op, refCall{s: s, guard: guard, lead: lead}, refs)
}

// refCall says how refScript calls its script for one queue's refs.
type refCall struct {
	s *script
	// guard, when positive, declares the group's retry guard as the
	// second key, with its expiry in ms first among the arguments.
	guard time.Duration
	// keys are more keys of the queue, after the running set and guard.
	keys func(q queueKeys) []string
	// lead are arguments after the queue's tag (and guard expiry).
	lead []any
	// perRef are the arguments of refs[i] after its ID and token; nil:
	// none.
	perRef func(i int) []any
}

// refScript is leaseScript with per-queue keys and per-ref arguments
// (rc): one call per queue, one round trip, and the refs whose jobs the
// scripts did not find held are returned as lost.
func (b *Backend) refScript(ctx context.Context, op string, rc refCall, refs []pgqueue.JobRef) ([]pgqueue.JobRef, error) {
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
		group := make([]pgqueue.JobRef, len(groups[name]))
		for j, i := range groups[name] {
			group[j] = refs[i]
		}
		q := b.queue(name)
		keys := []string{q.running}
		args := make([]any, 0, 2+len(rc.lead)+2*len(group))
		args = append(args, q.tag)
		if rc.guard > 0 {
			keys = append(keys, q.completeGuard(group))
			args = append(args, rc.guard.Milliseconds())
		}
		if rc.keys != nil {
			keys = append(keys, rc.keys(q)...)
		}
		args = append(args, rc.lead...)
		for _, i := range groups[name] {
			args = append(args, refs[i].ID, refs[i].Token)
			if rc.perRef != nil {
				args = append(args, rc.perRef(i)...)
			}
		}
		calls[n] = call{s: rc.s, keys: keys, args: args}
	}
	ok := make([]bool, len(refs))
	if len(calls) > 0 {
		if err := b.answeredPositions(ctx, op, calls, names, groups, ok); err != nil {
			return nil, err
		}
	}
	var lost []pgqueue.JobRef
	for i, r := range refs {
		if !ok[i] {
			lost = append(lost, r)
		}
	}
	return lost, nil
}

// answeredPositions runs calls (one per queue in names) and marks in ok
// the refs each script answered by position within its queue's group.
func (b *Backend) answeredPositions(ctx context.Context, op string, calls []call, names []string, groups map[string][]int, ok []bool) error {
	cmds, err := b.runAll(ctx, calls)
	if err != nil {
		return wrapErr(op, err)
	}
	for n, name := range names {
		positions, err := cmds[n].Int64Slice()
		if err != nil {
			return wrapErr(op, err)
		}
		for _, p := range positions {
			if p >= 1 && int(p) <= len(groups[name]) {
				ok[groups[name][p-1]] = true
			}
		}
	}
	return nil
}

// refQueue finds the queue of one ref's job from its token; ok is false
// for a token no queue of this prefix issued.
func (b *Backend) refQueue(ctx context.Context, ref pgqueue.JobRef) (q queueKeys, ok bool, err error) {
	name, err := b.queueOfToken(ctx, ref.Token)
	if err != nil || name == "" {
		return queueKeys{}, false, err
	}
	return b.queue(name), true, nil
}

// Reschedule puts a running job back in its queue: available at once (and
// its queue woken) when p.Delay <= 0, else scheduled p.Delay from now on the
// Redis server's clock. p.Error, when set, is appended to its history; with
// p.RefundAttempt the attempt the claim counted is given back; with
// p.KeepRunAt a job put back available keeps its run time. It returns
// an error wrapping pgqueue.ErrLeaseLost, changing nothing, if the job is
// not held under ref's token or its key no longer holds a hash (rescue
// dead-letters it when its lease ends). A held job whose hash lacks the
// kind or priority it needs to be put back is dead-lettered with a
// "decode" error instead, and the error wraps pgqueue.ErrLeaseLost too.
func (b *Backend) Reschedule(ctx context.Context, ref pgqueue.JobRef, p pgqueue.RescheduleParams) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	errJSON := ""
	if p.Error != nil {
		raw, err := json.Marshal(p.Error)
		if err != nil {
			return fmt.Errorf("redisqueue: encode attempt error: %w", err)
		}
		errJSON = string(raw)
	}
	q, ok, err := b.refQueue(ctx, ref)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: job %d", pgqueue.ErrLeaseLost, ref.ID)
	}
	refund := "0"
	if p.RefundAttempt {
		refund = "1"
	}
	keep := "0"
	if p.KeepRunAt {
		keep = "1"
	}
	n, err := rescheduleScript.run(ctx, b, []string{q.running, q.sched},
		q.tag, b.channel, q.name, ref.ID, ref.Token, p.Delay.Microseconds(), errJSON, refund, errorStamp(), keep).Int64()
	if err != nil {
		return wrapErr("reschedule job", err)
	}
	switch n {
	case 0:
		return fmt.Errorf("%w: job %d", pgqueue.ErrLeaseLost, ref.ID)
	case 2:
		return fmt.Errorf("%w: job %d: its stored hash is too damaged to reschedule (no kind or priority), so it was dead-lettered with a decode error", pgqueue.ErrLeaseLost, ref.ID)
	}
	return nil
}

// DeadLetter moves a running job to its queue's dead-letter store, with
// info appended to its history, in one atomic step. The job keeps its ID,
// fields and history until PurgeDead. It returns an error wrapping
// pgqueue.ErrLeaseLost, changing nothing, if the job is not held under
// ref's token or its key no longer holds a hash (rescue dead-letters it
// when its lease ends).
func (b *Backend) DeadLetter(ctx context.Context, ref pgqueue.JobRef, info pgqueue.AttemptError) error {
	return b.deadLetter(ctx, ref, info, nil)
}

// deadLetter is DeadLetter with the output the run recorded (nil: none).
func (b *Backend) deadLetter(ctx context.Context, ref pgqueue.JobRef, info pgqueue.AttemptError, output json.RawMessage) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	errJSON, err := json.Marshal(info)
	if err != nil {
		return fmt.Errorf("redisqueue: encode attempt error: %w", err)
	}
	q, ok, err := b.refQueue(ctx, ref)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: job %d", pgqueue.ErrLeaseLost, ref.ID)
	}
	n, err := deadLetterScript.run(ctx, b, []string{q.running, q.dead},
		q.tag, ref.ID, ref.Token, string(errJSON), "0", string(output)).Int64()
	if err != nil {
		return wrapErr("dead-letter job", err)
	}
	if n == 0 {
		return fmt.Errorf("%w: job %d", pgqueue.ErrLeaseLost, ref.ID)
	}
	return nil
}
