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

// PauseQueue implements QueuePauser (see Admin.PauseQueue).
func (b *PostgresBackend) PauseQueue(ctx context.Context, queue string) error {
	return NewAdmin(b).PauseQueue(ctx, queue)
}

// ResumeQueue implements QueuePauser (see Admin.ResumeQueue).
func (b *PostgresBackend) ResumeQueue(ctx context.Context, queue string) (bool, error) {
	return NewAdmin(b).ResumeQueue(ctx, queue)
}

// PauseQueue stops every client from claiming jobs of queue until
// ResumeQueue. It returns ErrInvalidArgs for a bad queue name or a backend
// that cannot pause.
func (c *Client) PauseQueue(ctx context.Context, queue string) error {
	p, ok := c.backend.(QueuePauser)
	if !ok {
		return invalidJob("queue", "backend %T cannot pause queues", c.backend)
	}
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
