package redisqueue

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/pgqueue/pgqueue"
)

const (
	// maintenanceBatch caps the jobs one promote or rescue script moves, so
	// that no single script blocks Redis for long; the Go side repeats
	// while batches come back full.
	maintenanceBatch = 1000
	// rescueLockTTL bounds how long a rescuer that crashed, or could not
	// release the lock, keeps the others out. It may be short: the lock
	// only saves duplicate scans, as rescue.lua re-checks every lease it
	// handles, so a scan outliving it is still correct.
	rescueLockTTL = 5 * time.Second
	// maxPasses bounds the batches one PromoteDue, Rescue or PurgeDead call
	// runs per queue (so 100,000 jobs of one queue per call), so that a
	// call ends even while other clients keep adding work as fast as it
	// is done; the next call carries on where it stopped.
	maxPasses = 100
)

// PromoteDue makes scheduled jobs whose run-at has passed on the Redis
// server's clock available, in every queue, and wakes the queues that got
// jobs. It reports those queues (sorted, each once) and how long until the
// earliest job still scheduled falls due. Each queue's step is atomic; all
// queues are handled in one pipelined round trip per batch of 1000 jobs,
// at most 100 batches per queue per call (NextIn is then 0).
func (b *Backend) PromoteDue(ctx context.Context) (pgqueue.PromoteResult, error) {
	var res pgqueue.PromoteResult
	if err := ctx.Err(); err != nil {
		return res, err
	}
	names, err := b.knownQueues(ctx)
	if err != nil {
		return res, err
	}
	touched := map[string]bool{}
	// The next due time per queue: a later pass over the queues whose
	// batch was full replaces only theirs.
	nextIn := map[string]time.Duration{}
	for pass := 0; len(names) > 0; pass++ {
		if pass == maxPasses {
			// Jobs are still due in these queues: say so, and let the
			// next call promote them.
			for _, name := range names {
				nextIn[name] = 0
			}
			break
		}
		stamp := errorStamp()
		calls := make([]call, len(names))
		for i, name := range names {
			q := b.queue(name)
			calls[i] = call{s: promoteScript, keys: []string{q.sched}, args: []any{q.tag, b.channel, name, maintenanceBatch, stamp}}
		}
		cmds, err := b.runAll(ctx, calls)
		if err != nil {
			return pgqueue.PromoteResult{}, wrapErr("promote scheduled jobs", err)
		}
		var again []string
		for i, cmd := range cmds {
			v, err := cmd.Int64Slice()
			if err != nil || len(v) != 4 {
				return pgqueue.PromoteResult{}, wrapErr("promote scheduled jobs", fmt.Errorf("unexpected reply %v: %v", cmd.Val(), err))
			}
			if v[0] > 0 {
				touched[names[i]] = true
			}
			if v[1] == 1 {
				again = append(again, names[i])
			}
			delete(nextIn, names[i])
			if v[2] == 1 {
				nextIn[names[i]] = time.Duration(v[3]) * time.Microsecond
			}
		}
		names = again
	}
	for _, next := range nextIn {
		if !res.HasNext || next < res.NextIn {
			res.HasNext, res.NextIn = true, next
		}
	}
	for q := range touched {
		res.Queues = append(res.Queues, q)
	}
	slices.Sort(res.Queues)
	return res, nil
}

// Rescue handles running jobs whose lease ended on the Redis server's
// clock, in every queue: those with attempts left become available again
// (run-at now) and their queues are woken, the others are dead-lettered;
// each gets info appended to its history with its Attempt set to the
// attempt that was lost. Only one Rescue runs at a time across every
// client of the prefix (a lock with a 5s expiry); a call that finds
// another in progress returns a zero result and no error. A call handles
// at most 100 batches of 1000 jobs per queue; the next carries on.
func (b *Backend) Rescue(ctx context.Context, info pgqueue.AttemptError) (pgqueue.RescueResult, error) {
	var res pgqueue.RescueResult
	if err := ctx.Err(); err != nil {
		return res, err
	}
	tail, err := errorTail(info)
	if err != nil {
		return res, err
	}
	token := lockToken()
	got, err := lockScript.run(ctx, b, []string{b.k.rescue}, token, rescueLockTTL.Milliseconds()).Int64()
	if err != nil {
		return res, wrapErr("take the rescue lock", err)
	}
	if got != 1 {
		return res, nil
	}
	defer b.unlockRescue(ctx, token)

	names, err := b.knownQueues(ctx)
	if err != nil {
		return res, err
	}
	return b.rescuePasses(ctx, "rescue expired leases", names, func(names []string) []call {
		stamp := errorStamp()
		calls := make([]call, len(names))
		for i, name := range names {
			q := b.queue(name)
			calls[i] = call{s: rescueScript, keys: []string{q.running, q.dead}, args: []any{q.tag, b.channel, name, tail, maintenanceBatch, stamp}}
		}
		return calls
	})
}

// rescuePasses runs a rescue script over names, one call per queue per
// pass (made by calls), again for the queues whose script said it had more
// to do, for at most maxPasses passes, and adds up what the scripts did:
// (requeued, dead-lettered, more) each. What the scripts that ran did is
// counted even if another failed, so it is never reported twice.
func (b *Backend) rescuePasses(ctx context.Context, op string, names []string, calls func(names []string) []call) (pgqueue.RescueResult, error) {
	var res pgqueue.RescueResult
	woken := map[string]bool{}
	for pass := 0; len(names) > 0 && pass < maxPasses; pass++ {
		cmds, err := b.runAll(ctx, calls(names))
		var again []string
		for i, cmd := range cmds {
			v, cerr := cmd.Int64Slice()
			if cerr != nil || len(v) != 3 {
				continue
			}
			res.Requeued += int(v[0])
			res.DeadLettered += int(v[1])
			if v[0] > 0 {
				woken[names[i]] = true
			}
			if v[2] == 1 {
				again = append(again, names[i])
			}
		}
		if err != nil {
			return res, wrapErr(op, err)
		}
		names = again
	}
	for q := range woken {
		res.Queues = append(res.Queues, q)
	}
	slices.Sort(res.Queues)
	return res, nil
}

// errorTail encodes info and returns what follows its attempt number, for
// rescue.lua to prepend each job's own attempt to.
func errorTail(info pgqueue.AttemptError) (string, error) {
	info.Attempt = 0
	raw, err := json.Marshal(info)
	if err != nil {
		return "", fmt.Errorf("redisqueue: encode attempt error: %w", err)
	}
	const head = `{"attempt":0`
	if len(raw) <= len(head) || string(raw[:len(head)]) != head {
		return "", fmt.Errorf("redisqueue: attempt error encodes as %s, not starting with %s", raw, head)
	}
	return string(raw[len(head):]), nil
}

// unlockRescue releases the rescue lock if token still holds it, trying
// a few times: a lock left behind stops every rescue until it expires.
// It uses a context of its own, since ctx may be what ended the scan.
func (b *Backend) unlockRescue(ctx context.Context, token string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	for try := 0; try < 3 && ctx.Err() == nil; try++ {
		if unlockScript.run(ctx, b, []string{b.k.rescue}, token).Err() == nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func lockToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
