package pgqueue

// Pausing and resuming queues from a Client.

import (
	"context"
	"fmt"
)

// PauseQueue stops every client from claiming jobs of queue until
// ResumeQueue. It returns ErrInvalidArgs for a bad queue name and
// ErrUnsupported on a backend that cannot pause (no QueuePauser).
func (c *Client) PauseQueue(ctx context.Context, queue string) error {
	p, ok := c.backend.(QueuePauser)
	if !ok {
		return fmt.Errorf("%w: backend %T cannot pause queues", ErrUnsupported, c.backend)
	}
	// Checked here too: a third-party backend need not validate names.
	if err := CheckQueueName(queue); err != nil {
		return err
	}
	return p.PauseQueue(ctx, queue)
}

// ResumeQueue lets clients claim from a paused queue again, and reports
// whether it was paused. Errors as for PauseQueue.
func (c *Client) ResumeQueue(ctx context.Context, queue string) (bool, error) {
	p, ok := c.backend.(QueuePauser)
	if !ok {
		return false, fmt.Errorf("%w: backend %T cannot pause queues", ErrUnsupported, c.backend)
	}
	if err := CheckQueueName(queue); err != nil {
		return false, err
	}
	was, err := p.ResumeQueue(ctx, queue)
	if err == nil && was {
		c.wakeLocal(queue)
	}
	return was, err
}
