package pgqueue

// The client registry: which clients run against a store, and the
// periodic jobs the store knows (Admin.Clients, Admin.PeriodicJobs).

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"sync"
	"time"
)

// ErrClientNotFound is returned by ClientRegistry.ClientSeen for a client
// the registry does not hold (never registered, unregistered, or pruned
// after ClientStaleAfter without being seen). A running client registers
// itself again when it gets it.
var ErrClientNotFound = errors.New("pgqueue: client not registered")

// Client registry timing. A started client registers at Start, tells the
// registry it is alive every ClientSeenInterval (on the rescuer's loop, so
// not more often than Config.RescueInterval allows), and unregisters at
// the end of Stop. An entry not seen for ClientStaleAfter (a client that
// died, or one draining at Stop for longer than that) is hidden from
// Admin.Clients and pruned when a client next registers.
const (
	// ClientStaleAfter is how long an entry of the registry stays listed
	// without being seen: 1 minute.
	ClientStaleAfter = time.Minute
	// ClientSeenInterval is how often a running client refreshes its
	// entry: every 15s.
	ClientSeenInterval = 15 * time.Second
)

// ClientInfo is a running client, as the registry holds it.
type ClientInfo struct {
	// ID is the client's Config.ID, the name it claims jobs under.
	ID string `json:"id"`
	// Host is the host name of the client's machine.
	Host string `json:"host"`
	// PID is the client's process ID.
	PID int `json:"pid"`
	// Version is the pgqueue version the client runs (Version).
	Version string `json:"version"`
	// Queues maps each queue the client works to its MaxWorkers; empty
	// for a client that only enqueues periodic jobs.
	Queues map[string]int `json:"queues"`
	// Periodic names the periodic jobs the client runs (Config.Periodic).
	Periodic []string `json:"periodic,omitempty"`
	// StartedAt is when the client registered, by the store's clock. It
	// is set by the store: RegisterClient ignores the value passed in.
	StartedAt time.Time `json:"started_at"`
	// LastSeen is when the client last registered or was seen, by the
	// store's clock; set by the store like StartedAt.
	LastSeen time.Time `json:"last_seen"`
	// Liveness is whether the client binds its liveness in the store
	// (LivenessKeeper) and bound it before its first claim: the rescuers
	// of other clients then trust the absence of its liveness as its
	// death even if they never saw it alive (a worker killed right after
	// its start). False for a client that does not bind it (liveness
	// disabled, or PollOnly without a direct connection), whose jobs wait
	// for their leases unless a rescuer saw it alive before.
	Liveness bool `json:"liveness"`
}

// ClientRegistry is an optional Backend interface for a registry of the
// clients running against the store (Admin.Clients). A started Client
// uses it when the backend has it; no job's life cycle ever writes to it.
type ClientRegistry interface {
	// RegisterClient stores c under c.ID, replacing any entry of that ID,
	// with StartedAt and LastSeen set to the store's now, and may prune
	// the entries not seen for ClientStaleAfter. It returns an error
	// wrapping ErrInvalidArgs for an empty c.ID.
	RegisterClient(ctx context.Context, c ClientInfo) error
	// ClientSeen sets the LastSeen of client id to the store's now. It
	// returns an error wrapping ErrClientNotFound when the registry holds
	// no entry for id.
	ClientSeen(ctx context.Context, id string) error
	// UnregisterClient removes client id's entry; removing an entry that
	// does not exist is not an error.
	UnregisterClient(ctx context.Context, id string) error
	// Clients returns the entries seen within staleAfter of the store's
	// now, sorted by ID. It never returns nil on success.
	Clients(ctx context.Context, staleAfter time.Duration) ([]ClientInfo, error)
}

// PeriodicInfo is a periodic job the store holds a record of: some client
// enqueued at least one of its ticks.
type PeriodicInfo struct {
	// Name is the periodic job's PeriodicJob.Name.
	Name string `json:"name"`
	// Queue is the queue the record belongs to, on stores that keep one
	// record per queue (redisqueue); empty where one record covers every
	// queue (Postgres, memqueue).
	Queue string `json:"queue,omitempty"`
	// LastTick is the last tick some client enqueued (or recorded while
	// the job's unique key was held).
	LastTick time.Time `json:"last_tick"`
	// NextRun is the tick after LastTick that the client which recorded
	// LastTick expected from its schedule; zero when unknown (recorded by
	// an older client, before Postgres migration 9, or by a backend
	// without PeriodicNextRecorder). A NextRun in the past means no
	// client has enqueued that tick yet: none runs the job now, or one is
	// late.
	NextRun time.Time `json:"next_run,omitzero"`
}

// PeriodicLister is an optional Backend interface that lists the records
// of periodic jobs EnqueuePeriodic keeps (Admin.PeriodicJobs).
type PeriodicLister interface {
	// PeriodicJobs returns every periodic job's record, sorted by name
	// (then queue). It never returns nil on success.
	PeriodicJobs(ctx context.Context) ([]PeriodicInfo, error)
}

// Clients returns the clients running against the store: those that
// registered at Start and were seen within ClientStaleAfter, sorted by
// ID. A client that died stays listed until ClientStaleAfter has passed
// since it was last seen. It returns ErrUnsupported on a backend without
// ClientRegistry, and on Postgres ErrDatabase (for example when the schema
// predates migration 8).
func (a *Admin) Clients(ctx context.Context) ([]ClientInfo, error) {
	r, ok := a.b.(ClientRegistry)
	if !ok {
		return nil, unsupported("Clients", "ClientRegistry", a.b)
	}
	return r.Clients(ctx, ClientStaleAfter)
}

// PeriodicJobs returns the periodic jobs the store holds a record of, with
// the last tick enqueued and the next run the recording client expected
// from its schedule (the store does not know the schedules: ClientInfo.
// Periodic says which clients run them), sorted by name. It returns
// ErrUnsupported on a backend without PeriodicLister.
func (a *Admin) PeriodicJobs(ctx context.Context) ([]PeriodicInfo, error) {
	l, ok := a.b.(PeriodicLister)
	if !ok {
		return nil, unsupported("PeriodicJobs", "PeriodicLister", a.b)
	}
	return l.PeriodicJobs(ctx)
}

// registryTimeout bounds each call the engine makes to the registry.
const registryTimeout = 5 * time.Second

// clientRegistrar keeps this client's entry in the registry: registered
// at Start, refreshed by the rescuer's loop every ClientSeenInterval,
// removed at Stop. Its methods are no-ops on a nil receiver (a backend
// without ClientRegistry). Failures are logged, never fatal: the registry
// is for operators, and a store that lacks it must not stop a worker.
type clientRegistrar struct {
	store    ClientRegistry
	info     ClientInfo
	interval time.Duration
	failures *failureLog

	mu         sync.Mutex
	registered bool      // the last write succeeded
	lastTry    time.Time // when the entry was last written, or tried
}

// newClientRegistrar returns the engine's registrar, nil when the
// backend has no registry.
func (e *engine) newClientRegistrar() *clientRegistrar {
	store, ok := e.backend.(ClientRegistry)
	if !ok {
		return nil
	}
	host, err := os.Hostname()
	if err != nil {
		host = "unknown"
	}
	info := ClientInfo{ID: e.cfg.ID, Host: host, PID: os.Getpid(), Version: Version, Queues: map[string]int{}}
	for name, q := range e.queues {
		info.Queues[name] = q.max
	}
	for _, p := range e.cfg.Periodic {
		info.Periodic = append(info.Periodic, p.Name)
	}
	return &clientRegistrar{store: store, info: info, interval: ClientSeenInterval,
		failures: &failureLog{log: e.c.log, msg: "pgqueue: client registry write failed; Admin.Clients may not list this client", every: time.Minute}}
}

// setLiveness records that this client's liveness is bound, for the
// entry's next write, and reports whether that is news.
func (r *clientRegistrar) setLiveness() bool {
	if r == nil {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	news := !r.info.Liveness
	r.info.Liveness = true
	return news
}

// register writes the entry.
func (r *clientRegistrar) register(ctx context.Context) {
	if r == nil {
		return
	}
	r.mu.Lock()
	info := r.info
	r.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, registryTimeout)
	err := r.store.RegisterClient(ctx, info)
	cancel()
	r.done(err)
}

// refresh, once interval has passed since the last write (or failed
// try), marks the entry seen, or registers it again when the last write
// failed or the registry lost it. A store without the registry (a
// Postgres schema before migration 8) is thus tried once per interval.
func (r *clientRegistrar) refresh(ctx context.Context) {
	if r == nil {
		return
	}
	r.mu.Lock()
	registered, last := r.registered, r.lastTry
	r.mu.Unlock()
	if time.Since(last) < r.interval {
		return
	}
	if !registered {
		r.register(ctx)
		return
	}
	cctx, cancel := context.WithTimeout(ctx, registryTimeout)
	err := r.store.ClientSeen(cctx, r.info.ID)
	cancel()
	if errors.Is(err, ErrClientNotFound) {
		r.register(ctx)
		return
	}
	r.done(err)
}

// done records the outcome of a write.
func (r *clientRegistrar) done(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.registered, r.lastTry = err == nil, time.Now()
	if err != nil && ctxAlive(err) {
		r.failures.report(err)
	}
}

// ctxAlive reports whether err is not merely a context ending.
func ctxAlive(err error) bool { return !errors.Is(err, context.Canceled) }

// unregister removes the entry.
func (r *clientRegistrar) unregister(ctx context.Context, log *slog.Logger) {
	if r == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, registryTimeout)
	defer cancel()
	if err := r.store.UnregisterClient(ctx, r.info.ID); err != nil {
		log.Warn("pgqueue: could not remove this client from the registry; it stays listed until ClientStaleAfter", "err", err)
	}
}
