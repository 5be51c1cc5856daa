package pgqueue

// Middleware, enqueue middleware and events (JobMeta, Event, Subscribe).

import (
	"context"
	"encoding/json"
	"sync"
	"time"
)

// JobMeta describes a job without decoding its args: what middleware and
// event subscribers see.
type JobMeta struct {
	// ID is the job's ID.
	ID int64
	// Kind names the job type.
	Kind string
	// Queue is the queue the job was enqueued in.
	Queue string
	// Priority is from 1 (runs first) to 10 (runs last).
	Priority int
	// Attempt counts runs including this one, starting at 1.
	Attempt int
	// MaxAttempts is how many runs the job gets before it is
	// dead-lettered.
	MaxAttempts int
	// Args is the job's payload as stored, undecoded JSON.
	Args json.RawMessage
	// CreatedAt is when the job was enqueued, by the backend's clock.
	CreatedAt time.Time
	// ScheduledAt is when the job became due for this run (see
	// Job.ScheduledAt).
	ScheduledAt time.Time
	// Metadata is what EnqueueOptions.Metadata (or enqueue middleware) set.
	Metadata map[string]string
}

func metaOf(row *JobRow) *JobMeta {
	return &JobMeta{ID: row.ID, Kind: row.Kind, Queue: row.Queue, Priority: row.Priority, Attempt: row.Attempt,
		MaxAttempts: row.MaxAttempts, Args: row.Args, CreatedAt: row.CreatedAt, ScheduledAt: row.RunAt, Metadata: row.Metadata}
}

// Handler runs one job; the innermost Handler decodes the args and calls
// the registered Worker.
type Handler func(ctx context.Context, job *JobMeta) error

// Middleware wraps every job run, for logging, tracing, tenancy or
// metrics. It must call next to run the job, and return next's error
// unless it means to change the outcome.
type Middleware func(next Handler) Handler

// EnqueueHandler stores jobs; the innermost one writes them to the
// backend (or to the caller's transaction).
type EnqueueHandler func(ctx context.Context, jobs []InsertParams) ([]int64, error)

// EnqueueMiddleware wraps every enqueue (Enqueue, EnqueueMany and their Tx
// forms) after validation: it may inspect the jobs, add context, or
// refuse by returning an error without calling next.
type EnqueueMiddleware func(next EnqueueHandler) EnqueueHandler

// EventKind names what happened to a job.
type EventKind string

// The events a Client publishes to subscribers. Each reports what was
// stored for the run, not only what the worker returned.
const (
	EventCompleted EventKind = "completed" // the completion was stored (by the client, or by CompleteTx)
	EventFailed    EventKind = "failed"    // the attempt failed; the job will retry
	EventDead      EventKind = "dead"      // the job moved to the dead-letter table
	EventSnoozed   EventKind = "snoozed"   // the worker asked to run it again later
	EventReleased  EventKind = "released"  // put back unfinished on shutdown
	// EventLeaseLost: the run's result was not stored, because the job's
	// lease was lost (it was rescued and may run elsewhere), or the write
	// failed, or the run returned after Stop gave up on it. The job runs
	// again after its lease; Err says why.
	EventLeaseLost EventKind = "lease_lost"
	// EventCancelled: cancelled while running. If the run's heartbeat
	// notices the lost lease before the cancellation message arrives, the
	// run reports EventLeaseLost instead.
	EventCancelled EventKind = "cancelled"
)

// Event reports the outcome of one job run.
type Event struct {
	// Kind says what became of the job.
	Kind EventKind
	// Job describes the job that ran, as middleware saw it.
	Job *JobMeta
	// Err is the worker's error for failed and dead jobs, and for a job
	// completed with CompleteTx whose worker then returned an error; for
	// EventLeaseLost it also holds why the result was not stored.
	Err error
	// Duration is how long the worker ran.
	Duration time.Duration
	// At is when the event was published: after the run ended and the
	// client recorded its outcome (completions are written in batches, so
	// a completion's event comes once its batch is written).
	At time.Time
}

// events fans events out to subscribers without ever blocking a worker:
// a subscriber whose buffer is full misses events (counted in Dropped).
type events struct {
	mu   sync.Mutex
	subs map[*subscription]struct{}
}

type subscription struct {
	ch      chan Event
	dropped int64
}

// Subscription is a stream of events from Subscribe.
type Subscription struct {
	// C delivers the events. It is closed by Close.
	C   <-chan Event
	sub *subscription
	ev  *events
}

// Close stops the subscription and closes C.
func (s *Subscription) Close() {
	s.ev.mu.Lock()
	defer s.ev.mu.Unlock()
	if _, ok := s.ev.subs[s.sub]; ok {
		delete(s.ev.subs, s.sub)
		close(s.sub.ch)
	}
}

// Dropped returns how many events this subscriber missed because its
// buffer was full.
func (s *Subscription) Dropped() int64 {
	s.ev.mu.Lock()
	defer s.ev.mu.Unlock()
	return s.sub.dropped
}

// Subscribe returns a stream of the events of the jobs this client runs,
// buffered to buffer events (default 256 when buffer <= 0). Events are
// never allowed to slow workers down: when the buffer is full, events are
// dropped and counted. Close the subscription when done.
func (c *Client) Subscribe(buffer int) *Subscription {
	if buffer <= 0 {
		buffer = 256
	}
	s := &subscription{ch: make(chan Event, buffer)}
	c.events.mu.Lock()
	if c.events.subs == nil {
		c.events.subs = map[*subscription]struct{}{}
	}
	c.events.subs[s] = struct{}{}
	c.events.mu.Unlock()
	return &Subscription{C: s.ch, sub: s, ev: &c.events}
}

func (ev *events) publish(e Event) {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	for s := range ev.subs {
		select {
		case s.ch <- e:
		default:
			s.dropped++
		}
	}
}
