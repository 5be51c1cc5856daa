package pgqueue

// The completer: successful completions gathered and written in batches.

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// completeChunk caps the refs written by one Complete call.
const completeChunk = 5000

// completer gathers successful completions for CompleteFlushInterval and
// writes them in one statement, so a busy client pays one round trip per
// flush rather than one per job. A crash loses at most the pending batch,
// whose jobs then run again after their lease: at-least-once holds.
type completer struct {
	e       *engine
	mu      sync.Mutex
	pending []completion
	// closed is set by close: a completion added after it would never be
	// written, so add refuses it.
	closed bool
	kick   chan struct{}
	quit   chan struct{}
	done   chan struct{}
}

func newCompleter(e *engine) *completer {
	return &completer{e: e, kick: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{})}
}

// completion is one job to complete, and what to do once its write is
// done: recorded is called with nil when the completion was stored, an
// error matching ErrLeaseLost when the job was no longer held, or the
// write's error, so that the job's event says what was stored.
type completion struct {
	ref JobRef
	// more is the rest of the Completion (output, retention, workflow);
	// nil for a plain completion, which Backend.Complete stores whole.
	more     *Completion
	recorded func(err error)
}

// plain reports whether the completion carries nothing but its ref.
func (c *completion) plain() bool { return c.more == nil }

// add queues a completion. It returns false, and queues nothing, once the
// completer is closed (Stop's grace ended while the job ran): the job is
// then left to lease expiry.
func (c *completer) add(done Completion, recorded func(err error)) bool {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return false
	}
	p := completion{ref: done.Ref, recorded: recorded}
	if done.Output != nil || done.Keep > 0 || done.Workflow {
		more := done
		p.more = &more
	}
	c.pending = append(c.pending, p)
	first := len(c.pending) == 1
	c.mu.Unlock()
	if first {
		select {
		case c.kick <- struct{}{}:
		default:
		}
	}
	return true
}

func (c *completer) loop() {
	defer c.e.bgWG.Done()
	defer close(c.done)
	for {
		select {
		case <-c.quit:
			c.flush()
			return
		case <-c.kick:
		}
		t := time.NewTimer(c.e.cfg.CompleteFlushInterval)
		select {
		case <-t.C:
		case <-c.quit:
			t.Stop()
		}
		c.flush()
	}
}

func (c *completer) flush() {
	c.mu.Lock()
	batch := c.pending
	c.pending = nil
	c.mu.Unlock()
	// Runs with output, a retention or a workflow go through RunRecorder;
	// the others keep the plain statement, so that a client without them
	// pays nothing for them (a batch of plain ones is written as it is).
	plain, recorded := batch, []completion(nil)
	if i := slices.IndexFunc(batch, func(p completion) bool { return !p.plain() }); i >= 0 {
		plain = slices.Clone(batch[:i])
		rr, _ := c.e.backend.(RunRecorder)
		for _, p := range batch[i:] {
			switch {
			case p.plain():
				plain = append(plain, p)
			case rr == nil:
				c.e.warnNoRunRecorder()
				p.more = nil
				plain = append(plain, p)
			default:
				recorded = append(recorded, p)
			}
		}
	}
	for i, part := range [][]completion{plain, recorded} {
		for len(part) > 0 {
			n := min(len(part), completeChunk)
			c.write(part[:n], i == 1)
			part = part[n:]
		}
	}
}

// write stores one chunk of completions, all plain or (withRecorder) all
// through RunRecorder.
func (c *completer) write(batch []completion, withRecorder bool) {
	refs := make([]JobRef, len(batch))
	var done []Completion
	if withRecorder {
		done = make([]Completion, len(batch))
	}
	for i, p := range batch {
		refs[i] = p.ref
		if withRecorder {
			done[i] = *p.more
		}
	}
	var (
		lost   []JobRef
		resent bool
	)
	err := retryWithBackoff(c.e.bgCtx, 5, 20*time.Millisecond, nil, func(try int) error {
		ctx, cancel := context.WithTimeout(c.e.bgCtx, 10*time.Second)
		defer cancel()
		var err error
		if withRecorder {
			lost, err = c.e.backend.(RunRecorder).CompleteRecorded(ctx, done)
		} else {
			lost, err = c.e.backend.Complete(ctx, refs)
		}
		resent = try > 1
		return err
	})
	if err == nil && resent && len(lost) > 0 {
		if checker, ok := c.e.backend.(CompletionChecker); ok {
			lost = c.notCompleted(checker, lost)
		}
	}
	if err != nil {
		c.e.c.log.Error("pgqueue: could not record completions; those jobs will run again after their lease", "count", len(refs), "err", err)
		for _, p := range batch {
			p.recorded(err)
		}
		return
	}
	if len(lost) > 0 {
		c.e.c.log.Warn("pgqueue: completed jobs whose lease was lost; they may run again", "count", len(lost))
	}
	lostSet := make(map[JobRef]bool, len(lost))
	for _, r := range lost {
		lostSet[r] = true
	}
	for _, p := range batch {
		if lostSet[p.ref] {
			p.recorded(fmt.Errorf("%w: job %d: completion not recorded", ErrLeaseLost, p.ref.ID))
		} else {
			p.recorded(nil)
		}
	}
}

// notCompleted returns the refs of lost whose jobs are still in the
// store. A write that failed may have committed before its reply was
// lost; its resend then finds those jobs gone and reports them lost,
// though it was this run's completion that took them. On error it
// returns lost as it is.
func (c *completer) notCompleted(checker CompletionChecker, lost []JobRef) []JobRef {
	ctx, cancel := context.WithTimeout(c.e.bgCtx, 10*time.Second)
	defer cancel()
	finished, err := checker.Finished(ctx, lost)
	if err != nil {
		c.e.c.log.Warn("pgqueue: could not check whether resent completions were stored; reporting them as lost", "count", len(lost), "err", err)
		return lost
	}
	gone := make(map[JobRef]bool, len(finished))
	for _, r := range finished {
		gone[r] = true
	}
	return slices.DeleteFunc(lost, func(r JobRef) bool { return gone[r] })
}

// close flushes what is pending and stops the loop.
func (c *completer) close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	close(c.quit)
	<-c.done
}
