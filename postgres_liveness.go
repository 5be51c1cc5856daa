package pgqueue

// The Postgres backend's liveness: a session-level advisory lock per
// client, held on a connection of its own, that the rescuer reads in
// pg_locks to free the jobs of clients whose process died.

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
)

// Liveness timing. The session is re-established fast (the rescuer gives
// a client LivenessGrace, 2s by default, to bind it again); the ping
// finds a server that vanished without closing the connection.
const (
	livenessBackoffMin = 50 * time.Millisecond
	livenessBackoffMax = 500 * time.Millisecond
	livenessPing       = 5 * time.Second
	livenessPingWait   = 2 * time.Second
)

// livenessKeepalives ask the server to probe an idle liveness connection
// after 10s, every 5s, and to drop it after 4 unanswered probes: a client
// cut off by a network partition loses its session (and so its jobs)
// after about 30s, the default LeaseDuration, never sooner than its
// lease would have ended by default; a shorter partition leaves the
// session as it was.
var livenessKeepalives = map[string]string{
	"tcp_keepalives_idle":     "10",
	"tcp_keepalives_interval": "5",
	"tcp_keepalives_count":    "4",
}

// livenessKey is the first half of the schema's liveness locks' key, so
// that schemas sharing a database keep their clients apart.
func livenessKey(schema string) int32 {
	h := fnv.New32a()
	h.Write([]byte("pgqueue.liveness\x00" + schema))
	return int32(h.Sum32())
}

// KeepAlive implements LivenessKeeper. It holds a session-level advisory
// lock keyed by the schema and the hash of p.ClientID on a dedicated
// connection, dialled from PostgresOptions.LivenessConnConfig (default:
// ListenerConnConfig, else the pool's configuration), and takes it again
// on a new connection whenever that one fails. It returns an error
// wrapping ErrUnsupported at once when PostgresOptions.DisableSessionLiveness
// is set, or when p.Pooled and no direct connection was configured
// (LivenessConnConfig or ListenerConnConfig): through a transaction
// pooler the lock would belong to a server connection the pooler lends
// to others, which may outlive the client or close under it.
func (b *PostgresBackend) KeepAlive(ctx context.Context, p LivenessParams) error {
	switch {
	case b.liveness.off:
		return fmt.Errorf("%w: session liveness is disabled (PostgresOptions.DisableSessionLiveness); jobs of dead clients wait for their leases", ErrUnsupported)
	case p.Pooled && !b.liveness.direct:
		return fmt.Errorf("%w: session liveness needs a direct connection in PollOnly mode (set PostgresOptions.LivenessConnConfig or ListenerConnConfig); jobs of dead clients wait for their leases", ErrUnsupported)
	}
	Reconnect(ctx, livenessBackoffMin, livenessBackoffMax, func(ctx context.Context) bool {
		ok := false
		err := b.liveOnce(ctx, p.ClientID, func() {
			ok = true
			if p.Bound != nil {
				p.Bound()
			}
		})
		if err != nil && ctx.Err() == nil && p.Report != nil {
			p.Report(err)
		}
		return ok
	})
	return nil
}

// liveOnce connects, takes the client's liveness lock, calls bound, and
// holds the connection until it fails or ctx ends.
func (b *PostgresBackend) liveOnce(ctx context.Context, clientID string, bound func()) error {
	cfg := b.liveness.config.Copy()
	params := make(map[string]string, len(cfg.RuntimeParams)+len(livenessKeepalives)+1)
	for k, v := range livenessKeepalives {
		params[k] = v
	}
	for k, v := range cfg.RuntimeParams {
		params[k] = v
	}
	params["application_name"] = b.LivenessName()
	cfg.RuntimeParams = params
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = conn.Close(closeCtx)
	}()
	var locked bool
	if err := conn.QueryRow(ctx, b.q.LivenessLock, b.liveness.key, clientID).Scan(&locked); err != nil {
		return err
	}
	if !locked {
		// Only an exclusive lock on the key blocks a shared one; pgqueue
		// takes none, so someone else does.
		return errors.New("pgqueue: liveness lock refused: another session holds it exclusively")
	}
	bound()
	for {
		// Reading the connection (there are no notifications to wait for)
		// finds a terminated session at once; the ping finds a server
		// that vanished silently.
		waitCtx, cancel := context.WithTimeout(ctx, livenessPing)
		_, err := conn.WaitForNotification(waitCtx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil && waitCtx.Err() == nil:
			return err
		}
		pingCtx, cancel := context.WithTimeout(ctx, livenessPingWait)
		err = conn.Ping(pingCtx)
		cancel()
		if err != nil && ctx.Err() == nil {
			return err
		}
	}
}

// LivenessName is the application_name of the backend's liveness
// connections, as shown in pg_stat_activity.
func (b *PostgresBackend) LivenessName() string { return b.connName("pgqueue-liveness") }

// Holders implements LivenessKeeper: the holders of running jobs, and
// whether each one's liveness lock is held (by any session: the hash of
// two client IDs may collide, which only makes a dead client look alive).
func (b *PostgresBackend) Holders(ctx context.Context) (map[string]bool, error) {
	rows, _ := b.pool.Query(ctx, b.q.LivenessHolders, b.liveness.key)
	out := map[string]bool{}
	var (
		id   string
		live bool
	)
	_, err := pgx.ForEachRow(rows, []any{&id, &live}, func() error {
		out[id] = live
		return nil
	})
	if err != nil {
		return nil, dbErr("read client liveness", err)
	}
	return out, nil
}

// RescueGone implements LivenessKeeper, one at a time per schema (under a
// lock of its own, beside Rescue's). Unlike Rescue it has no row-by-row path: when a job's own
// data keeps it from moving, the statement fails, and the job is left to
// its lease, whose rescue does take that path.
func (b *PostgresBackend) RescueGone(ctx context.Context, gone []string, minAge time.Duration, info AttemptError) (RescueResult, error) {
	var res RescueResult
	if len(gone) == 0 {
		return res, nil
	}
	errJSON, err := encodeAttemptError(info)
	if err != nil {
		return res, err
	}
	err = pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
		res = RescueResult{}
		var locked bool
		// A lock of its own, not Rescue's: the two run on tickers of the
		// same interval and would keep missing each other's turn. They
		// may run at once; each skips the rows the other has locked.
		if err := tx.QueryRow(ctx, b.q.RescueLock, b.lockKey^1).Scan(&locked); err != nil || !locked {
			return err
		}
		rows, _ := tx.Query(ctx, b.q.LivenessRequeue, errJSON, b.channel, gone, micros(minAge), b.liveness.key)
		res.Queues, res.Requeued, err = queueCounts(rows)
		if err != nil {
			return err
		}
		rows, _ = tx.Query(ctx, b.q.LivenessDead, errJSON, gone, micros(minAge), b.liveness.key)
		dead, err := pgx.CollectRows(rows, pgx.RowTo[string])
		res.DeadLettered = len(dead)
		return err
	})
	if err != nil {
		return RescueResult{}, dbErr("rescue jobs of gone clients", err)
	}
	sort.Strings(res.Queues)
	return res, nil
}

// livenessState is the backend's liveness configuration.
type livenessState struct {
	key    int32
	config *pgx.ConnConfig
	direct bool // config was set explicitly as a direct connection
	off    bool
}

// newLivenessState reads the liveness options (opts may be nil).
func newLivenessState(schema string, pool *pgx.ConnConfig, opts *PostgresOptions) livenessState {
	s := livenessState{key: livenessKey(schema), config: pool}
	if opts == nil {
		return s
	}
	s.off = opts.DisableSessionLiveness
	switch {
	case opts.LivenessConnConfig != nil:
		s.config, s.direct = opts.LivenessConnConfig, true
	case opts.ListenerConnConfig != nil:
		s.config, s.direct = opts.ListenerConnConfig, true
	}
	return s
}
