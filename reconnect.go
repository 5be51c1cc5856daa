package pgqueue

// Reconnect: the capped-backoff session loop the Postgres and Redis
// listeners share.

import (
	"context"
	"time"
)

// Reconnect runs session again and again until ctx ends, for a backend's
// Listen: session holds one connection until it fails. Between sessions it
// waits lo, doubling up to hi while sessions keep failing to get going;
// a session that reports it got going (connected and listened) resets the
// wait. It returns when ctx ends.
func Reconnect(ctx context.Context, lo, hi time.Duration, session func(ctx context.Context) (ok bool)) {
	backoff := lo
	for ctx.Err() == nil {
		if session(ctx) {
			backoff = lo
		}
		if ctx.Err() != nil {
			return
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
		backoff = min(backoff*2, hi)
	}
}
