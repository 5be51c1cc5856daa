package pgqueue

// The Postgres backend's LISTEN connection: dial, LISTEN, wait, ping,
// reconnect, and report failures.

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Listener timing. A half-open TCP connection looks alive for ever, so an
// idle listener pings its connection every ListenerPingInterval and reconnects if
// the ping fails.
const (
	listenPingDefault = 15 * time.Second
	listenBackoffMin  = 100 * time.Millisecond
	listenBackoffMax  = 5 * time.Second
)

// Listen implements Backend: ListenReporting without a report.
func (b *PostgresBackend) Listen(ctx context.Context, wake func(queue string)) error {
	return b.ListenReporting(ctx, wake, nil)
}

// ListenReporting implements ListenReporter. It holds one dedicated
// connection (dialled from the pool's configuration or
// PostgresOptions.ListenerConnConfig, not taken from the pool) that
// LISTENs on the schema's channel, reconnects with capped exponential
// backoff when the connection fails, and calls wake("") after every
// (re)LISTEN so that jobs enqueued while it was away are found at once.
// Each failed session is passed to report (when not nil). It returns nil
// when ctx ends, and the error at once when no session ever got to LISTEN
// and the failure is one a retry cannot cure (bad credentials, a missing
// database, a refused LISTEN: see permanentListenError).
func (b *PostgresBackend) ListenReporting(ctx context.Context, wake func(queue string), report func(error)) error {
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	var (
		fatal    error
		listened bool
	)
	Reconnect(ctx, listenBackoffMin, listenBackoffMax, func(ctx context.Context) bool {
		// listenOnce calls wake("") right after its LISTEN succeeds.
		ok := false
		err := b.listenOnce(ctx, func(q string) {
			ok, listened = true, true
			wake(q)
		})
		if err != nil && ctx.Err() == nil {
			if !listened && permanentListenError(err) {
				fatal = err
				stop()
				return false
			}
			if report != nil {
				report(err)
			}
		}
		return ok
	})
	if fatal != nil {
		return fmt.Errorf("%w: listener cannot start: %w", ErrDatabase, fatal)
	}
	return nil
}

// permanentListenError reports a failure that reconnecting cannot cure:
// authentication (SQLSTATE class 28), a database that does not exist
// (3D000), insufficient privilege (42501), or a connection that does not
// deliver notifications (errListenThroughPooler).
func permanentListenError(err error) bool {
	if errors.Is(err, errListenThroughPooler) {
		return true
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	return strings.HasPrefix(pgErr.Code, "28") || pgErr.Code == "3D000" || pgErr.Code == "42501"
}

// listenOnce connects, listens and delivers wake-ups until the connection
// fails or ctx ends.
func (b *PostgresBackend) listenOnce(ctx context.Context, wake func(queue string)) error {
	cfg := b.listenConfig.Copy()
	if cfg.RuntimeParams == nil {
		cfg.RuntimeParams = map[string]string{}
	}
	// Named so operators (and tests) can find the listener in
	// pg_stat_activity.
	cfg.RuntimeParams["application_name"] = b.ListenerName()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = conn.Close(closeCtx)
	}()
	if err := b.probeListen(ctx, conn); err != nil {
		return err
	}
	setupCtx, cancel := context.WithTimeout(ctx, listenSetupTimeout)
	_, err = conn.Exec(setupCtx, b.q.Listen)
	cancel()
	if err != nil {
		return err
	}
	wake("")
	for {
		waitCtx, cancel := context.WithTimeout(ctx, b.listenPing)
		n, err := conn.WaitForNotification(waitCtx)
		cancel()
		switch {
		case err == nil:
			wake(n.Payload)
		case ctx.Err() != nil:
			return nil
		case waitCtx.Err() != nil:
			pingCtx, cancel := context.WithTimeout(ctx, max(b.listenPing/3, time.Second))
			err = conn.Ping(pingCtx)
			cancel()
			if err != nil {
				return err
			}
		default:
			return err
		}
	}
}

// ListenerName is the application_name of the backend's listener
// connection, as shown in pg_stat_activity.
func (b *PostgresBackend) ListenerName() string { return b.connName("pgqueue-listener") }

// connName is the application_name of one of the backend's own
// connections: role and schema, cut to the 63 bytes Postgres keeps.
func (b *PostgresBackend) connName(role string) string {
	name := role + ":" + b.schema
	if len(name) > 63 {
		name = name[:63]
	}
	return name
}

// listenProbePrefix starts the payload of a listener's probe.
const listenProbePrefix = "probe "

// probeChannel is the channel of the listeners' probes of one schema,
// apart from the queues' channel so that no queue listener sees them.
func probeChannel(schema string) string {
	h := fnv.New64a()
	h.Write([]byte(schema))
	return fmt.Sprintf("pgqueue.probe.%x", h.Sum64())
}

// errListenThroughPooler is the listener's error when its probe never
// arrives: LISTEN through PgBouncer in transaction mode.
var errListenThroughPooler = errors.New("LISTEN does not deliver notifications on this connection (a NOTIFY sent to it never arrived): is it going through a transaction pooler such as PgBouncer in transaction mode? Set Config.PollOnly, or PostgresOptions.ListenerConnConfig to a direct connection")

// listenProbeWait is how long the listener waits for its own probe.
const listenProbeWait = 5 * time.Second

// listenSetupTimeout bounds each statement that sets the listener up
// (its LISTENs): a connection that goes silent then must not hang the
// listener, which instead reconnects.
const listenSetupTimeout = 5 * time.Second

// probeListen sends a NOTIFY from the pool and waits for it on conn,
// which has just LISTENed. Through a transaction pooler the LISTEN was
// run by a server connection that conn no longer holds, and the probe
// never arrives while conn still answers: the listener fails with
// errListenThroughPooler instead of silently never waking anyone. When
// conn does not answer either, the attempt just failed, and the listener
// tries again.
func (b *PostgresBackend) probeListen(ctx context.Context, conn *pgx.Conn) error {
	setupCtx, cancel := context.WithTimeout(ctx, listenSetupTimeout)
	_, err := conn.Exec(setupCtx, b.q.ListenProbeOn)
	cancel()
	if err != nil {
		return err
	}
	payload := fmt.Sprintf("%s%d", listenProbePrefix, time.Now().UnixNano())
	if _, err := b.pool.Exec(ctx, b.q.ListenProbe, payload, probeChannel(b.schema)); err != nil {
		return err
	}
	waitCtx, cancel := context.WithTimeout(ctx, listenProbeWait)
	defer cancel()
	for {
		n, err := conn.WaitForNotification(waitCtx)
		switch {
		case err == nil && n.Payload == payload:
			setupCtx, cancel := context.WithTimeout(ctx, listenSetupTimeout)
			_, err = conn.Exec(setupCtx, b.q.ListenProbeOff)
			cancel()
			return err
		case err == nil:
			continue // another listener's probe
		case ctx.Err() != nil:
			return ctx.Err()
		case waitCtx.Err() != nil:
			// No probe. Through a pooler the connection itself still
			// answers; a connection gone silent (a network fault in the
			// middle of the probe) does not, and is only a failed attempt,
			// which the listener retries like any other.
			pingCtx, cancel := context.WithTimeout(ctx, time.Second)
			defer cancel()
			if err := conn.Ping(pingCtx); err != nil {
				return fmt.Errorf("listener probe: the connection stopped answering: %w", err)
			}
			return errListenThroughPooler
		default:
			return err
		}
	}
}
