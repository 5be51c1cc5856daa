package pgqueue

// The operator API's shared vocabulary: JobFilter (listing, counting and
// bulk actions), pages and cursors, bulk actions, and the optional Backend
// interfaces that serve them (JobLister, JobActor, StatsReporter).

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// JobOrder is the order ListJobs returns jobs in. Jobs are ordered by ID,
// which grows with insertion, so "newest" means most recently enqueued.
type JobOrder string

const (
	// NewestFirst lists the most recently enqueued jobs first (the
	// default: the zero JobOrder means NewestFirst).
	NewestFirst JobOrder = "newest"
	// OldestFirst lists the longest-enqueued jobs first.
	OldestFirst JobOrder = "oldest"
)

// Limits of ListJobs.
const (
	// DefaultJobListLimit is the page size ListJobs uses when
	// JobFilter.Limit is 0.
	DefaultJobListLimit = 50
	// MaxJobListLimit is the largest page ListJobs returns; a larger
	// JobFilter.Limit is refused with ErrInvalidArgs.
	MaxJobListLimit = 1000
	// ListTimeout bounds each statement the Postgres backend runs for
	// ListJobs, CountJobs and each batch of a bulk action (a server-side
	// statement_timeout): a search can never load the database for longer.
	ListTimeout = 5 * time.Second
)

// JobFilter selects jobs for Admin.ListJobs, Admin.CountJobs and
// Admin.Bulk. Every field is optional; set fields combine with AND, and
// the values inside one slice with OR. The zero JobFilter matches every
// waiting, running and dead job.
type JobFilter struct {
	// States, when set, keeps jobs in these states: StateAvailable,
	// StateScheduled, StateRunning, StateWaiting (workflow tasks whose
	// dependencies have not finished), StateDead, StateCancelled,
	// StateCompleted. Dead and cancelled jobs are both dead letters: a
	// cancelled one's last error has kind "cancelled" (StateOfDeadLetter).
	// Completed jobs are listed only while the history keeps them
	// (Config.Retention).
	States []State `json:"states,omitempty"`
	// Queues, when set, keeps jobs of these queues.
	Queues []string `json:"queues,omitempty"`
	// Kinds, when set, keeps jobs of these kinds.
	Kinds []string `json:"kinds,omitempty"`
	// Priorities, when set, keeps jobs with these priorities.
	Priorities []int `json:"priorities,omitempty"`
	// IDs, when set, keeps these jobs.
	IDs []int64 `json:"ids,omitempty"`
	// CreatedAfter, when set, keeps jobs created at or after it.
	CreatedAfter time.Time `json:"created_after,omitzero"`
	// CreatedBefore, when set, keeps jobs created strictly before it.
	CreatedBefore time.Time `json:"created_before,omitzero"`
	// FinishedAfter, when set, keeps jobs that finished (were
	// dead-lettered or completed) at or after it; waiting and running jobs
	// never match.
	FinishedAfter time.Time `json:"finished_after,omitzero"`
	// FinishedBefore, when set, keeps jobs that finished strictly before
	// it; waiting and running jobs never match.
	FinishedBefore time.Time `json:"finished_before,omitzero"`
	// Metadata, when set, keeps jobs whose metadata holds every key with
	// the given value.
	Metadata map[string]string `json:"metadata,omitempty"`
	// Args, when set, keeps jobs whose args contain this JSON value, as
	// Postgres's jsonb @> operator defines it: {"customer_id": 42}
	// matches {"customer_id": 42, "plan": "pro"}; an array matches an
	// array holding all its elements. It must be valid JSON.
	Args json.RawMessage `json:"args,omitempty"`
	// Order is NewestFirst (the default) or OldestFirst.
	Order JobOrder `json:"order,omitempty"`
	// Limit is the page size of ListJobs: 0 means DefaultJobListLimit, at
	// most MaxJobListLimit. CountJobs and Bulk ignore it.
	Limit int `json:"limit,omitempty"`
	// Cursor, when set, continues a listing where the page that returned
	// it (JobPage.NextCursor) ended. It must be used with the same filter
	// and order. CountJobs and Bulk ignore it.
	Cursor string `json:"cursor,omitempty"`
}

// JobPage is one page of ListJobs.
type JobPage struct {
	// Jobs are the page's jobs, in the filter's order.
	Jobs []*JobInfo `json:"jobs"`
	// NextCursor continues the listing (JobFilter.Cursor); empty when this
	// is the last page.
	NextCursor string `json:"next_cursor,omitempty"`
}

// JobQuery is what Admin hands a JobLister: a validated filter, the ID
// after which (in Filter.Order) the page starts, and how many jobs to
// return at most.
type JobQuery struct {
	// Filter is the validated filter; its Cursor and Limit are already
	// turned into After and Limit.
	Filter JobFilter
	// After, when not 0, keeps jobs whose ID comes after it in
	// Filter.Order: lower IDs for NewestFirst, higher for OldestFirst.
	After int64
	// Limit is the most jobs to return; positive.
	Limit int
}

// Oldest reports whether the query lists the oldest jobs first.
func (q JobQuery) Oldest() bool { return q.Filter.Order == OldestFirst }

// Follows reports whether id comes after q.After in the query's order
// (always true when After is 0).
func (q JobQuery) Follows(id int64) bool {
	switch {
	case q.After == 0:
		return true
	case q.Oldest():
		return id > q.After
	default:
		return id < q.After
	}
}

// JobTarget names a job a bulk action acts on: its ID, and its queue for
// backends whose keys are per queue.
type JobTarget struct {
	ID    int64
	Queue string
}

// BulkAction is what Admin.Bulk does to the jobs a filter matches.
type BulkAction string

const (
	// BulkRetry makes scheduled jobs (new, retrying or snoozed) due now.
	BulkRetry BulkAction = "retry"
	// BulkCancel cancels waiting and running jobs, as Admin.CancelJob
	// does: they move to the dead letters with a "cancelled" error.
	BulkCancel BulkAction = "cancel"
	// BulkDelete deletes waiting (available and scheduled) jobs outright;
	// running jobs are left alone (cancel them instead).
	BulkDelete BulkAction = "delete"
	// BulkRequeueDead moves dead letters back into their queues, due now,
	// with attempts reset (as Admin.RequeueDead does).
	BulkRequeueDead BulkAction = "requeue_dead"
	// BulkPurgeDead deletes dead letters.
	BulkPurgeDead BulkAction = "purge_dead"
)

// States returns the states action acts on; nil for an unknown action.
func (a BulkAction) States() []State {
	switch a {
	case BulkRetry:
		return []State{StateScheduled}
	case BulkCancel:
		return []State{StateAvailable, StateScheduled, StateRunning}
	case BulkDelete:
		return []State{StateAvailable, StateScheduled}
	case BulkRequeueDead, BulkPurgeDead:
		return []State{StateDead, StateCancelled}
	}
	return nil
}

// Bulk action batch sizes.
const (
	// DefaultBulkBatch is the batch size of Admin.Bulk when
	// BulkOptions.BatchSize is 0.
	DefaultBulkBatch = 500
	// MaxBulkBatch is the largest batch Admin.Bulk accepts.
	MaxBulkBatch = 5000
)

// BulkOptions tunes Admin.Bulk.
type BulkOptions struct {
	// DryRun only counts the jobs the action would touch (BulkResult.Matched)
	// and changes nothing. Default false.
	DryRun bool
	// BatchSize is how many jobs each statement (or script) changes at
	// most: 0 means DefaultBulkBatch, at most MaxBulkBatch.
	BatchSize int
}

// BulkResult reports what Admin.Bulk did.
type BulkResult struct {
	// Action is the action run.
	Action BulkAction `json:"action"`
	// DryRun is true when nothing was changed.
	DryRun bool `json:"dry_run,omitempty"`
	// Matched counts the jobs that matched the filter in the action's
	// states: for a dry run, counted at once; otherwise as the batches
	// found them.
	Matched int64 `json:"matched"`
	// Changed counts the jobs the action changed. It can be below Matched
	// when jobs changed state between being found and being acted on (a
	// scheduled job claimed in between, for example).
	Changed int64 `json:"changed"`
	// Batches is how many batches ran.
	Batches int `json:"batches"`
}

// JobLister is an optional Backend interface for listing and counting
// jobs in every state (Admin.ListJobs, Admin.CountJobs, Admin.Job).
type JobLister interface {
	// ListJobs returns up to q.Limit jobs matching q.Filter whose ID
	// follows q.After (JobQuery.Follows), in q.Filter's order by ID.
	ListJobs(ctx context.Context, q JobQuery) ([]*JobInfo, error)
	// CountJobs returns how many jobs match f (Limit, Cursor and Order
	// ignored).
	CountJobs(ctx context.Context, f JobFilter) (int64, error)
}

// JobActor is an optional Backend interface for bulk actions
// (Admin.Bulk, Admin.RetryJob).
type JobActor interface {
	// ActOnJobs applies action to the given jobs that are still in one of
	// action.States(), each atomically, and returns how many it changed.
	// Jobs no longer in those states are skipped.
	ActOnJobs(ctx context.Context, action BulkAction, jobs []JobTarget) (int, error)
}

// StatsReporter is an optional Backend interface for Admin.Stats.
type StatsReporter interface {
	// QueueStats reports the store's queues, running jobs and dead
	// letters by kind, as Admin.Stats describes.
	QueueStats(ctx context.Context) (*Stats, error)
}

// validStates are the states a JobFilter may name.
var validStates = []State{StateAvailable, StateScheduled, StateRunning, StateWaiting, StateDead, StateCancelled, StateCompleted}

// validate checks f and returns it with its slices sorted and deduplicated.
func (f JobFilter) validate() (JobFilter, error) {
	for _, s := range f.States {
		if !slices.Contains(validStates, s) {
			return f, invalidJob("States", "unknown state %q (want available, scheduled, running, waiting, dead, cancelled or completed)", s)
		}
	}
	for _, p := range f.Priorities {
		if p < MinPriority || p > MaxPriority {
			return f, invalidJob("Priorities", "priority %d is outside %d..%d", p, MinPriority, MaxPriority)
		}
	}
	for _, q := range f.Queues {
		if q == "" {
			return f, invalidJob("Queues", "empty queue name")
		}
	}
	for _, k := range f.Kinds {
		if k == "" {
			return f, invalidJob("Kinds", "empty kind")
		}
	}
	if len(f.Args) > 0 && !json.Valid(f.Args) {
		return f, invalidJob("Args", "not valid JSON: %s", f.Args)
	}
	switch f.Order {
	case "":
		f.Order = NewestFirst
	case NewestFirst, OldestFirst:
	default:
		return f, invalidJob("Order", "unknown order %q (want newest or oldest)", f.Order)
	}
	if f.Limit < 0 || f.Limit > MaxJobListLimit {
		return f, invalidJob("Limit", "must be between 0 and %d, got %d", MaxJobListLimit, f.Limit)
	}
	f.States = slices.Compact(slices.Sorted(slices.Values(f.States)))
	f.Queues = slices.Compact(slices.Sorted(slices.Values(f.Queues)))
	f.Kinds = slices.Compact(slices.Sorted(slices.Values(f.Kinds)))
	f.Priorities = slices.Compact(slices.Sorted(slices.Values(f.Priorities)))
	f.IDs = slices.Compact(slices.Sorted(slices.Values(f.IDs)))
	f.Metadata = maps.Clone(f.Metadata)
	return f, nil
}

// HasState reports whether f keeps jobs in state s.
func (f JobFilter) HasState(s State) bool {
	return len(f.States) == 0 || slices.Contains(f.States, s)
}

// Match reports whether job info passes every set field of f except the
// cursor and limit. Backends that filter in Go (memqueue, redisqueue) use
// it, so that they all agree with Postgres.
func (f JobFilter) Match(info *JobInfo) bool {
	switch {
	case !f.HasState(info.State),
		len(f.Queues) > 0 && !slices.Contains(f.Queues, info.Queue),
		len(f.Kinds) > 0 && !slices.Contains(f.Kinds, info.Kind),
		len(f.Priorities) > 0 && !slices.Contains(f.Priorities, info.Priority),
		len(f.IDs) > 0 && !slices.Contains(f.IDs, info.ID),
		!f.CreatedAfter.IsZero() && info.CreatedAt.Before(f.CreatedAfter),
		!f.CreatedBefore.IsZero() && !info.CreatedAt.Before(f.CreatedBefore),
		!f.FinishedAfter.IsZero() && (info.FinishedAt.IsZero() || info.FinishedAt.Before(f.FinishedAfter)),
		!f.FinishedBefore.IsZero() && (info.FinishedAt.IsZero() || !info.FinishedAt.Before(f.FinishedBefore)):
		return false
	}
	for k, v := range f.Metadata {
		if got, ok := info.Metadata[k]; !ok || got != v {
			return false
		}
	}
	if len(f.Args) > 0 {
		return JSONContains(info.Args, f.Args)
	}
	return true
}

// JSONContains reports whether JSON document doc contains pattern as
// Postgres's jsonb @> defines it: objects contain objects whose every key
// is contained in the same key's value; arrays contain arrays whose every
// element is contained in some element; a top-level array contains a
// scalar it holds; scalars contain equal scalars (numbers compared by
// value). Invalid JSON contains nothing.
func JSONContains(doc, pattern json.RawMessage) bool {
	var d, p any
	if decodeNumbers(doc, &d) != nil || decodeNumbers(pattern, &p) != nil {
		return false
	}
	if arr, ok := d.([]any); ok {
		switch p.(type) {
		case []any, map[string]any:
		default:
			return slices.ContainsFunc(arr, func(e any) bool { return jsonContains(e, p) })
		}
	}
	return jsonContains(d, p)
}

func decodeNumbers(raw json.RawMessage, v *any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	return dec.Decode(v)
}

func jsonContains(d, p any) bool {
	switch pv := p.(type) {
	case map[string]any:
		dv, ok := d.(map[string]any)
		if !ok {
			return false
		}
		for k, pe := range pv {
			de, ok := dv[k]
			if !ok || !jsonContains(de, pe) {
				return false
			}
		}
		return true
	case []any:
		dv, ok := d.([]any)
		if !ok {
			return false
		}
		for _, pe := range pv {
			if !slices.ContainsFunc(dv, func(de any) bool {
				// Inside arrays, a scalar matches only a scalar.
				if _, nested := de.([]any); nested {
					if _, pn := pe.([]any); !pn {
						return false
					}
				}
				return jsonContains(de, pe)
			}) {
				return false
			}
		}
		return true
	case json.Number:
		dn, ok := d.(json.Number)
		if !ok {
			return false
		}
		a, err1 := strconv.ParseFloat(string(dn), 64)
		b, err2 := strconv.ParseFloat(string(pv), 64)
		return err1 == nil && err2 == nil && a == b
	default:
		return d == p
	}
}

// encodeCursor makes the opaque cursor that continues a listing after id.
func encodeCursor(order JobOrder, id int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte("v1:" + string(order) + ":" + strconv.FormatInt(id, 10)))
}

// decodeCursor reads a cursor made by encodeCursor for the same order.
func decodeCursor(order JobOrder, c string) (int64, error) {
	if c == "" {
		return 0, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(c)
	parts := strings.Split(string(raw), ":")
	if err != nil || len(parts) != 3 || parts[0] != "v1" {
		return 0, invalidJob("Cursor", "%q is not a cursor returned by ListJobs", c)
	}
	if JobOrder(parts[1]) != order {
		return 0, invalidJob("Cursor", "the cursor continues a listing in %s-first order, not %s-first", parts[1], order)
	}
	id, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil || id <= 0 {
		return 0, invalidJob("Cursor", "%q is not a cursor returned by ListJobs", c)
	}
	return id, nil
}

// unsupported says which optional interface an Admin operation needs.
func unsupported(op, iface string, b Backend) error {
	return fmt.Errorf("%w: %s needs a backend implementing pgqueue.%s (%T does not)", ErrUnsupported, op, iface, b)
}
