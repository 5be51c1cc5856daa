package pgqueue

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"
)

// UniqueOpts makes a job unique: while a job with the same unique key is
// waiting or running, enqueueing another is refused with a *DuplicateError
// naming the existing job. Once that job finishes (completes, or is
// dead-lettered or cancelled) the key is free again. The check is enforced
// by the store (a unique index on Postgres), so it holds under any number
// of concurrent enqueues.
type UniqueOpts struct {
	// Key, when set, is the unique key itself, shared across kinds and
	// queues. Otherwise the key is derived from the kind and the fields
	// chosen below.
	Key string
	// ByArgs includes the args (as JSON) in the derived key.
	ByArgs bool
	// ByQueue includes the queue in the derived key.
	ByQueue bool
	// ByPeriod includes the period the job's run-at falls in (run-at
	// truncated to ByPeriod, in UTC): at most one such job per period.
	// Must not be negative; 0 leaves time out of the key.
	ByPeriod time.Duration
}

// ErrDuplicateJob is matched (errors.Is) by the *DuplicateError returned
// when a unique job's key is already held.
var ErrDuplicateJob = errors.New("pgqueue: duplicate unique job")

// DuplicateError reports the jobs of an enqueue that were not stored
// because their unique key was held. The other jobs were stored. The IDs
// returned alongside it hold, at each duplicate's index, the ID of the job
// holding the key (0 if that job finished before it could be read).
type DuplicateError struct {
	// Indexes are the positions, in the enqueued batch, of the duplicates.
	Indexes []int
	// ExistingIDs are the IDs of the jobs holding their keys, in the same
	// order as Indexes.
	ExistingIDs []int64
}

// Error lists the duplicates.
func (e *DuplicateError) Error() string {
	if len(e.Indexes) == 1 {
		return fmt.Sprintf("pgqueue: duplicate unique job: held by job %d", e.ExistingIDs[0])
	}
	return fmt.Sprintf("pgqueue: %d duplicate unique jobs at indexes %v (held by jobs %v)", len(e.Indexes), e.Indexes, e.ExistingIDs)
}

// Is makes errors.Is(err, ErrDuplicateJob) true.
func (e *DuplicateError) Is(target error) bool { return target == ErrDuplicateJob }

// InsertResult is one job's outcome from UniqueInserter.InsertUnique.
type InsertResult struct {
	// ID is the new job's ID or, for a duplicate, the ID of the job holding
	// the key (0 if it could not be read).
	ID int64
	// Duplicate is true when the job was not stored because its unique key
	// was held; ID then names the holder.
	Duplicate bool
}

// UniqueInserter is an optional Backend interface for backends that
// enforce InsertParams.UniqueKey. The Client refuses unique jobs on a
// backend without it.
type UniqueInserter interface {
	// InsertUnique stores the jobs whose unique key (if any) is not held by
	// a waiting or running job, and reports each job's outcome in order.
	// Within one batch, the first job with a key wins.
	InsertUnique(ctx context.Context, jobs []InsertParams) ([]InsertResult, error)
}

// ResultIDs turns InsertUnique results into the IDs Backend.Insert
// returns: in order, a duplicate's being its holder's, with a
// *DuplicateError listing the duplicates when there are any. Backends use
// it to implement Insert on top of InsertUnique.
func ResultIDs(res []InsertResult) ([]int64, error) {
	ids := make([]int64, len(res))
	var dup *DuplicateError
	for i, r := range res {
		ids[i] = r.ID
		if r.Duplicate {
			if dup == nil {
				dup = &DuplicateError{}
			}
			dup.Indexes = append(dup.Indexes, i)
			dup.ExistingIDs = append(dup.ExistingIDs, r.ID)
		}
	}
	if dup != nil {
		return ids, dup
	}
	return ids, nil
}

// uniqueKey derives the unique key of a job from its options.
func uniqueKey(kind, queue string, args json.RawMessage, runAt time.Time, u *UniqueOpts) (string, error) {
	if u == nil {
		return "", nil
	}
	if u.ByPeriod < 0 {
		return "", invalidJob("Unique.ByPeriod", "must not be negative, got %v", u.ByPeriod)
	}
	if u.Key != "" {
		if len(u.Key) > 512 {
			return "", invalidJob("Unique.Key", "longer than 512 bytes")
		}
		return u.Key, nil
	}
	h := sha256.New()
	part := func(s string) { h.Write([]byte(strconv.Itoa(len(s)) + ":" + s)) }
	part(kind)
	if u.ByQueue {
		part("q=" + queue)
	}
	if u.ByArgs {
		canon, err := canonicalJSON(args)
		if err != nil {
			return "", invalidJob("args", "cannot canonicalise for a unique key: %v", err)
		}
		part("a=" + string(canon))
	}
	if u.ByPeriod > 0 {
		if runAt.IsZero() {
			runAt = time.Now()
		}
		part("p=" + runAt.UTC().Truncate(u.ByPeriod).Format(time.RFC3339Nano))
	}
	return kind + ":" + hex.EncodeToString(h.Sum(nil)[:16]), nil
}

// canonicalJSON re-encodes JSON with sorted object keys, so that equal
// args give equal keys whatever their field order.
func canonicalJSON(raw json.RawMessage) ([]byte, error) {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, err
	}
	return json.Marshal(v) // encoding/json sorts map keys
}

// hasUnique reports whether any job carries a unique key.
func hasUnique(params []InsertParams) bool {
	return slices.ContainsFunc(params, func(p InsertParams) bool { return p.UniqueKey != "" })
}
