package redisqueue

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/pgqueue/pgqueue"
)

// Claim marks up to p.Limit available jobs of p.Queue whose kind is in
// p.Kinds as running, in priority, run-at, ID order, and returns them, each
// with its attempt incremented, a token one above its previous one and a
// lease ending p.Lease from now on the Redis server's clock. Jobs of other
// kinds are neither read nor changed: each kind has its own available set.
// Run-at orders at millisecond resolution; jobs due in the same millisecond
// are taken in ID order.
//
// A paused queue (PauseQueue) gives no jobs, and a queue's global limits
// (SetQueueLimits) cap the claim; both are checked inside the claim's
// atomic script.
//
// A job whose stored hash is unusable (fields missing or not numbers, the
// hash gone, or an error history that does not decode) is dead-lettered
// with a "decode" error saying what is wrong, and is not returned. It
// returns no jobs, and no error, when none is due, when p.Limit <= 0 or
// when p.Kinds is empty.
func (b *Backend) Claim(ctx context.Context, p pgqueue.ClaimParams) ([]*pgqueue.JobRow, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if p.Limit <= 0 || len(p.Kinds) == 0 || validQueue(p.Queue) != nil {
		return nil, nil
	}
	kinds := slices.Compact(slices.Sorted(slices.Values(p.Kinds)))
	q := b.queue(p.Queue)
	keys := make([]string, 0, 2+len(kinds))
	keys = append(keys, q.running, q.config)
	args := make([]any, 0, 6+len(kinds))
	args = append(args, q.tag, p.Queue, p.Limit, max(p.Lease, 0).Microseconds(), p.ClientID, errorStamp())
	for _, k := range kinds {
		keys = append(keys, q.avail(k))
		args = append(args, k)
	}
	res, err := claimScript.run(ctx, b, keys, args...).Slice()
	if err != nil {
		return nil, wrapErr("claim jobs", err)
	}
	rows := make([]*pgqueue.JobRow, 0, len(res))
	for _, r := range res {
		row, badHistory, err := parseClaimed(r, p.Queue)
		if err != nil {
			// The script checked what it needs; what is left is a history
			// or a number Go cannot read. The job is already running, so
			// dead-letter it now rather than hand it out.
			b.buryClaimed(ctx, q, row, badHistory, err)
			continue
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// claimedFields names the values of a claim.lua row, for error messages.
var claimedFields = [13]string{"id", "kind", "priority", "args", "attempt", "max_attempts", "errors",
	"created_at", "run_at", "attempted_at", "lease_until", "token", "metadata"}

// parseClaimed reads one row returned by claim.lua. On error it still
// returns the ID and token when it could read them, and says whether the
// error history is what failed to decode.
func parseClaimed(v any, queue string) (row *pgqueue.JobRow, badHistory bool, err error) {
	f, ok := v.([]any)
	if !ok || len(f) != 13 {
		return nil, false, fmt.Errorf("claim returned a malformed row: %v", v)
	}
	s := make([]string, len(f))
	for i, x := range f {
		s[i], _ = x.(string)
	}
	row = &pgqueue.JobRow{Kind: s[1], Queue: queue, Args: json.RawMessage(s[3])}
	var errs []error
	num := func(i int) int64 {
		n, err := strconv.ParseInt(s[i], 10, 64)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %q is not an integer", claimedFields[i], s[i]))
		}
		return n
	}
	row.ID = num(0)
	row.Token = num(11)
	row.Priority = int(num(2))
	row.Attempt = int(num(4))
	row.MaxAttempts = int(num(5))
	row.CreatedAt = fromMicros(num(7))
	row.RunAt = fromMicros(num(8))
	row.AttemptedAt = fromMicros(num(9))
	row.LeaseUntil = fromMicros(num(10))
	if len(errs) > 0 {
		msg := errs[0].Error()
		for _, e := range errs[1:] {
			msg += ", " + e.Error()
		}
		return row, false, fmt.Errorf("the stored job is corrupt: %s", msg)
	}
	if s[12] != "" {
		if err := json.Unmarshal([]byte(s[12]), &row.Metadata); err != nil {
			return row, false, fmt.Errorf("the stored metadata does not decode: %w", err)
		}
	}
	if s[6] != "" {
		if err := json.Unmarshal([]byte(s[6]), &row.Errors); err != nil {
			return row, true, fmt.Errorf("the stored error history does not decode: %w", err)
		}
	}
	return row, false, nil
}

// buryClaimed dead-letters a claimed job that parseClaimed refused, with
// a "decode" error. When the history is what did not decode, the dead job
// starts a fresh one and the unreadable one is kept in the hash's
// errors_unreadable field. If this fails too, the job stays running and is
// rescued after its lease, to be tried again.
func (b *Backend) buryClaimed(ctx context.Context, q queueKeys, row *pgqueue.JobRow, badHistory bool, cause error) {
	if row == nil || row.ID == 0 {
		return
	}
	info := pgqueue.AttemptError{
		Attempt: row.Attempt,
		At:      time.Now().UTC(),
		Error:   fmt.Sprintf("redisqueue: job %d: %v", row.ID, cause),
		Kind:    "decode",
	}
	errJSON, err := json.Marshal(info)
	if err != nil {
		return
	}
	reset := "0"
	if badHistory {
		reset = "1"
	}
	_ = deadLetterScript.run(ctx, b, []string{q.running, q.dead},
		q.tag, row.ID, row.Token, string(errJSON), reset).Err()
}
