package pgqueue

// failureLog: one log line per outage instead of one per retry.

import (
	"log/slog"
	"sync"
	"time"
)

// failureLog logs a failure that may repeat every few seconds for as long
// as an outage lasts (a listener that cannot reconnect): the first one at
// once, then at most one line per every, counting the ones in between.
type failureLog struct {
	log   *slog.Logger
	msg   string
	every time.Duration

	mu         sync.Mutex
	last       time.Time
	suppressed int
}

// report logs err, or counts it when a line was written less than every
// ago.
func (f *failureLog) report(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.last.IsZero() && time.Since(f.last) < f.every {
		f.suppressed++
		return
	}
	f.log.Warn(f.msg, "err", err, "repeats_not_logged", f.suppressed)
	f.last, f.suppressed = time.Now(), 0
}
