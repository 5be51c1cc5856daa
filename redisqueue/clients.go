package redisqueue

// The client registry ({P}:clients and {P}:clients-seen) and the list of
// periodic jobs ({P:Q}:periodic of every known queue).

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/pgqueue/pgqueue"
)

var (
	_ pgqueue.ClientRegistry = (*Backend)(nil)
	_ pgqueue.PeriodicLister = (*Backend)(nil)
)

var (
	clientsRegisterScript = loadScriptWith("clients_register", "core")
	clientsSeenScript     = loadScriptWith("clients_seen", "core")
	clientsListScript     = loadScriptWith("clients_list", "core")
)

// clientKeys are the registry's two keys, both in the prefix's slot so
// that every registry script touches one slot: the entries, and when each
// was last seen.
func (k globalKeys) clientKeys() []string {
	return []string{k.tag + ":clients", k.tag + ":clients-seen"}
}

// clientEntry is what the registry stores of a client besides its ID and
// times.
type clientEntry struct {
	Host     string         `json:"host"`
	PID      int            `json:"pid"`
	Version  string         `json:"version"`
	Queues   map[string]int `json:"queues"`
	Periodic []string       `json:"periodic,omitempty"`
	Liveness bool           `json:"liveness,omitempty"`
}

// RegisterClient implements pgqueue.ClientRegistry: it stores c in
// {P}:clients with StartedAt and LastSeen set to the Redis server's clock,
// and forgets up to 100 other clients not seen for
// pgqueue.ClientStaleAfter, in one script on the prefix's slot. It returns
// an error wrapping pgqueue.ErrInvalidArgs for an empty c.ID, and
// pgqueue.ErrDatabase when Redis fails.
func (b *Backend) RegisterClient(ctx context.Context, c pgqueue.ClientInfo) error {
	if c.ID == "" {
		return fmt.Errorf("%w: redisqueue: RegisterClient needs a client ID", pgqueue.ErrInvalidArgs)
	}
	e := clientEntry{Host: c.Host, PID: c.PID, Version: c.Version, Queues: c.Queues, Periodic: c.Periodic, Liveness: c.Liveness}
	if e.Queues == nil {
		e.Queues = map[string]int{}
	}
	raw, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("%w: redisqueue: client entry: %v", pgqueue.ErrInvalidArgs, err)
	}
	err = clientsRegisterScript.run(ctx, b, b.k.clientKeys(), c.ID, string(raw), pgqueue.ClientStaleAfter.Microseconds()).Err()
	return wrapErr("register client", err)
}

// ClientSeen implements pgqueue.ClientRegistry: it sets client id's last
// seen time to the Redis server's clock. It returns an error wrapping
// pgqueue.ErrClientNotFound when id is not registered, and
// pgqueue.ErrDatabase when Redis fails.
func (b *Backend) ClientSeen(ctx context.Context, id string) error {
	n, err := clientsSeenScript.run(ctx, b, b.k.clientKeys(), id).Int64()
	if err != nil {
		return wrapErr("mark client seen", err)
	}
	if n == 0 {
		return fmt.Errorf("%w: redisqueue: %q", pgqueue.ErrClientNotFound, id)
	}
	return nil
}

// UnregisterClient implements pgqueue.ClientRegistry: it removes client
// id's entry, if any, in one MULTI on the prefix's slot.
// pgqueue.ErrDatabase when Redis fails.
func (b *Backend) UnregisterClient(ctx context.Context, id string) error {
	keys := b.k.clientKeys()
	_, err := b.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HDel(ctx, keys[0], id)
		p.ZRem(ctx, keys[1], id)
		return nil
	})
	return wrapErr("unregister client", err)
}

// Clients implements pgqueue.ClientRegistry: the clients seen within
// staleAfter of the Redis server's clock, by ID. pgqueue.ErrDatabase when
// Redis fails or an entry does not parse.
func (b *Backend) Clients(ctx context.Context, staleAfter time.Duration) ([]pgqueue.ClientInfo, error) {
	vals, err := clientsListScript.run(ctx, b, b.k.clientKeys(), staleAfter.Microseconds()).StringSlice()
	if err != nil {
		return nil, wrapErr("list clients", err)
	}
	out := []pgqueue.ClientInfo{}
	for i := 0; i+2 < len(vals); i += 3 {
		seen, err1 := strconv.ParseFloat(vals[i+1], 64)
		started, body, _ := strings.Cut(vals[i+2], " ")
		startedUS, err2 := strconv.ParseInt(started, 10, 64)
		var e clientEntry
		err3 := json.Unmarshal([]byte(body), &e)
		if err := cmpErr(err1, err2, err3); err != nil {
			return nil, wrapErr("list clients", fmt.Errorf("entry of client %q: %w", vals[i], err))
		}
		if e.Queues == nil {
			e.Queues = map[string]int{}
		}
		out = append(out, pgqueue.ClientInfo{ID: vals[i], Host: e.Host, PID: e.PID, Version: e.Version,
			Queues: e.Queues, Periodic: e.Periodic, Liveness: e.Liveness, StartedAt: fromMicros(startedUS), LastSeen: fromMicros(int64(seen))})
	}
	slices.SortFunc(out, func(x, y pgqueue.ClientInfo) int { return strings.Compare(x.ID, y.ID) })
	return out, nil
}

// cmpErr returns the first non-nil error.
func cmpErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// PeriodicJobs implements pgqueue.PeriodicLister: the records of every
// known queue's {P:Q}:periodic hash, with the next ticks of its
// {P:Q}:periodic-next hash (two HGETALLs per queue, pipelined),
// sorted by name then queue. The record is per queue (see EnqueuePeriodic),
// so a periodic job that moved between queues is listed once per queue.
// pgqueue.ErrDatabase when Redis fails or a record does not parse.
func (b *Backend) PeriodicJobs(ctx context.Context) ([]pgqueue.PeriodicInfo, error) {
	names, err := b.knownQueues(ctx)
	if err != nil {
		return nil, err
	}
	out := []pgqueue.PeriodicInfo{}
	if len(names) == 0 {
		return out, nil
	}
	cmds := make([]*redis.MapStringStringCmd, len(names))
	nexts := make([]*redis.MapStringStringCmd, len(names))
	_, err = b.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, name := range names {
			cmds[i] = p.HGetAll(ctx, b.queue(name).tag+":periodic")
			nexts[i] = p.HGetAll(ctx, b.queue(name).tag+":periodic-next")
		}
		return nil
	})
	if err != nil {
		return nil, wrapErr("list periodic jobs", err)
	}
	for i, name := range names {
		for job, rec := range cmds[i].Val() {
			tick, _, _ := strings.Cut(rec, ":")
			us, err := strconv.ParseInt(tick, 10, 64)
			if err != nil {
				return nil, wrapErr("list periodic jobs", fmt.Errorf("record %q of %q in queue %q: %w", rec, job, name, err))
			}
			info := pgqueue.PeriodicInfo{Name: job, Queue: name, LastTick: fromMicros(us)}
			if raw, ok := nexts[i].Val()[job]; ok {
				next, err := strconv.ParseInt(raw, 10, 64)
				if err != nil {
					return nil, wrapErr("list periodic jobs", fmt.Errorf("next tick %q of %q in queue %q: %w", raw, job, name, err))
				}
				info.NextRun = fromMicros(next)
			}
			out = append(out, info)
		}
	}
	slices.SortFunc(out, func(x, y pgqueue.PeriodicInfo) int {
		if c := strings.Compare(x.Name, y.Name); c != 0 {
			return c
		}
		return strings.Compare(x.Queue, y.Queue)
	})
	return out, nil
}
