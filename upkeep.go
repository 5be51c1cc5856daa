package pgqueue

// The upkeeper: lets a backend that needs it look after its storage.

import (
	"context"
	"log/slog"
	"time"
)

// upkeeper calls the backend's Maintain (on Postgres: vacuum the jobs
// table when dead rows pile up) every interval, apart from promotion and
// rescue so that a long vacuum never delays either.
type upkeeper struct {
	store Maintainer
	// interval is Config.PollInterval.
	interval time.Duration
	log      *slog.Logger
}

// run calls step every interval until ctx ends.
func (u *upkeeper) run(ctx context.Context) { onTicker(ctx, u.interval, u.step) }

// step runs one Maintain, bounded to a minute, and logs its failure.
func (u *upkeeper) step(ctx context.Context) {
	cctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := u.store.Maintain(cctx); err != nil && ctx.Err() == nil {
		u.log.Warn("pgqueue: backend maintenance failed", "err", err)
	}
}
