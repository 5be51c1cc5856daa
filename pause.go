package pgqueue

import "context"

// QueuePauser is an optional Backend interface for pausing queues: a
// paused queue is not claimed by any client until resumed; jobs already
// running finish, and enqueueing still works.
type QueuePauser interface {
	PauseQueue(ctx context.Context, queue string) error
	// ResumeQueue reports whether the queue was paused.
	ResumeQueue(ctx context.Context, queue string) (bool, error)
}

var _ QueuePauser = (*PostgresBackend)(nil)

// PauseQueue implements QueuePauser. The pause is stored in
// pgqueue_queues, checked by every claim. It returns ErrInvalidArgs for a
// bad queue name and ErrDatabase on failure.
func (b *PostgresBackend) PauseQueue(ctx context.Context, queue string) error {
	if !queueNameRE.MatchString(queue) {
		return invalidJob("queue", "%q is not a valid queue name", queue)
	}
	_, err := b.pool.Exec(ctx, b.q.QueuePause, queue)
	return dbErr("pause queue", err)
}

// ResumeQueue implements QueuePauser and wakes the queue's workers on
// every client. Errors as for PauseQueue.
func (b *PostgresBackend) ResumeQueue(ctx context.Context, queue string) (bool, error) {
	if !queueNameRE.MatchString(queue) {
		return false, invalidJob("queue", "%q is not a valid queue name", queue)
	}
	var (
		was   bool
		woken int64
	)
	err := b.pool.QueryRow(ctx, b.q.QueueResume, queue, b.channel).Scan(&was, &woken)
	return was, dbErr("resume queue", err)
}

// PauseQueue stops every client from claiming jobs of queue until
// ResumeQueue. It returns ErrInvalidArgs for a bad queue name or a backend
// that cannot pause.
func (c *Client) PauseQueue(ctx context.Context, queue string) error {
	p, ok := c.backend.(QueuePauser)
	if !ok {
		return invalidJob("queue", "backend %T cannot pause queues", c.backend)
	}
	// Checked here too: a third-party backend need not validate names.
	if !queueNameRE.MatchString(queue) {
		return invalidJob("queue", "%q is not a valid queue name", queue)
	}
	return p.PauseQueue(ctx, queue)
}

// ResumeQueue lets clients claim from a paused queue again, and reports
// whether it was paused. Errors as for PauseQueue.
func (c *Client) ResumeQueue(ctx context.Context, queue string) (bool, error) {
	p, ok := c.backend.(QueuePauser)
	if !ok {
		return false, invalidJob("queue", "backend %T cannot pause queues", c.backend)
	}
	if !queueNameRE.MatchString(queue) {
		return false, invalidJob("queue", "%q is not a valid queue name", queue)
	}
	was, err := p.ResumeQueue(ctx, queue)
	if err == nil && was {
		c.wakeLocal(queue)
	}
	return was, err
}
