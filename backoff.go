package pgqueue

// retryWithBackoff: the one retry loop for the engine's writes.

import (
	"context"
	"time"
)

// retryWithBackoff calls op (with the try's number, from 1) up to tries
// times, until it returns nil or an error that final reports as final
// (final may be nil). It waits first after the first failure and twice as
// long after each later one; when ctx ends during a wait it stops at once.
// It returns nil on success and op's last error otherwise.
func retryWithBackoff(ctx context.Context, tries int, first time.Duration, final func(error) bool, op func(try int) error) error {
	wait := first
	var err error
	for try := 1; try <= tries; try++ {
		if err = op(try); err == nil || (final != nil && final(err)) || try == tries {
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		wait *= 2
	}
	return err
}
