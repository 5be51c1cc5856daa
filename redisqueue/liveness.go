package redisqueue

// The Redis backend's liveness (pgqueue.LivenessKeeper): a short-lived key
// per client, refreshed while the client lives, that the rescuer reads to
// free at once the jobs of clients whose process died.

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/pgqueue/pgqueue"
)

var _ pgqueue.LivenessKeeper = (*Backend)(nil)

// Liveness timing. A client's liveness key lives LivenessTTL and is set
// again every LivenessRefresh, so two refreshes in a row may fail (or a
// stall of the client or of Redis may last up to about two seconds)
// before it vanishes; the engine then waits pgqueue.Config.LivenessGrace
// (2s by default) more before it trusts the absence. A dead client's key
// vanishes LivenessTTL-LivenessRefresh to LivenessTTL after its last
// refresh.
const (
	// LivenessTTL is how long a client's liveness key lives unless it is
	// set again: 3s.
	LivenessTTL = 3 * time.Second
	// LivenessRefresh is how often KeepAlive sets the key again: every 1s.
	LivenessRefresh = time.Second
)

// A failed refresh is tried again after a backoff growing from
// livenessRetryMin to livenessRetryMax, much sooner than LivenessRefresh:
// the key must be back before it expires.
const (
	livenessRetryMin = 50 * time.Millisecond
	livenessRetryMax = 500 * time.Millisecond
)

var (
	livenessHoldersScript = loadScript("liveness_holders")
	livenessRescueScript  = loadScript("liveness_rescue")
)

// liveKey is client's liveness key, {P}:live:<client>. It is in the
// prefix's slot, not in a queue's: a client claims from any queue, and
// KeepAlive does not know which (see RescueGone for what this costs on a
// cluster).
func (k globalKeys) liveKey(client string) string { return k.tag + ":live:" + client }

// rescueGoneLock is RescueGone's lock, apart from Rescue's: the two run on
// tickers of the same interval and would keep missing each other's turn.
func (k globalKeys) rescueGoneLock() string { return k.tag + ":rescue-gone" }

// KeepAlive implements pgqueue.LivenessKeeper. It sets the client's
// liveness key, {P}:live:<p.ClientID>, to a token of its own with an
// expiry of LivenessTTL (3s), sets it again every LivenessRefresh (1s),
// and after a failure (passed to p.Report) tries again within 50–500ms.
// When ctx ends it deletes the key if it still holds its token, and
// returns nil. p.Pooled does not matter here: the key is not bound to a
// connection. It returns an error wrapping pgqueue.ErrInvalidArgs at once
// for an empty p.ClientID.
//
// A client whose process dies leaves its key to expire, within LivenessTTL
// of its last refresh; one that cannot reach Redis (a partition, or a
// stall of its own longer than LivenessTTL) loses it too, and its jobs are
// then rescued as a dead client's would be: fencing refuses whatever its
// runs try to record afterwards.
func (b *Backend) KeepAlive(ctx context.Context, p pgqueue.LivenessParams) error {
	if p.ClientID == "" {
		return fmt.Errorf("%w: redisqueue: KeepAlive needs a client ID", pgqueue.ErrInvalidArgs)
	}
	key, token := b.k.liveKey(p.ClientID), lockToken()
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		_ = unlockScript.run(dctx, b, []string{key}, token).Err()
	}()
	wait := time.Duration(0)
	retry := livenessRetryMin
	held := false // the last SET succeeded
	for {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		// Each attempt is bounded well within the TTL, so that a stalled
		// command does not keep the next one from being sent.
		sctx, cancel := context.WithTimeout(ctx, LivenessTTL/3)
		err := b.rdb.Set(sctx, key, token, LivenessTTL).Err()
		cancel()
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			held = false
			if p.Report != nil {
				p.Report(wrapErr("set the liveness key", err))
			}
			wait, retry = retry, min(2*retry, livenessRetryMax)
		default:
			if !held && p.Bound != nil {
				p.Bound() // the first time, or again after a failure
			}
			held = true
			wait, retry = LivenessRefresh, livenessRetryMin
		}
	}
}

// Holders implements pgqueue.LivenessKeeper: the clients holding running
// jobs in any queue (read by one script per queue, pipelined), and whether
// each one's liveness key exists now (read afterwards, so a client that
// claimed a job and died in between is reported gone, never the reverse).
func (b *Backend) Holders(ctx context.Context) (map[string]bool, error) {
	names, err := b.knownQueues(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	if len(names) == 0 {
		return out, nil
	}
	calls := make([]call, len(names))
	for i, name := range names {
		q := b.queue(name)
		calls[i] = call{s: livenessHoldersScript, keys: []string{q.running}, args: []any{q.tag}}
	}
	cmds, err := b.runAll(ctx, calls)
	if err != nil {
		return nil, wrapErr("read the holders of running jobs", err)
	}
	for _, cmd := range cmds {
		ids, err := cmd.StringSlice()
		if err != nil {
			return nil, wrapErr("read the holders of running jobs", err)
		}
		for _, id := range ids {
			out[id] = false
		}
	}
	live, err := b.liveClients(ctx, mapKeys(out))
	if err != nil {
		return nil, err
	}
	for id := range live {
		out[id] = true
	}
	return out, nil
}

// liveClients returns which of clients have their liveness key, in one
// pipelined round trip (the keys share the prefix's slot).
func (b *Backend) liveClients(ctx context.Context, clients []string) (map[string]bool, error) {
	live := map[string]bool{}
	if len(clients) == 0 {
		return live, nil
	}
	cmds := make([]*redis.IntCmd, len(clients))
	_, err := b.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range clients {
			cmds[i] = p.Exists(ctx, b.k.liveKey(id))
		}
		return nil
	})
	if err != nil {
		return nil, wrapErr("read liveness keys", err)
	}
	for i, cmd := range cmds {
		if cmd.Val() > 0 {
			live[clients[i]] = true
		}
	}
	return live, nil
}

// RescueGone implements pgqueue.LivenessKeeper. Under a lock of its own
// ({P}:rescue-gone, expiring after 5s, beside Rescue's {P}:rescue) it
// first drops from gone the clients whose liveness key exists again, then
// runs one script per known queue (pipelined, at most 100 batches of 1000
// jobs per queue per call) that requeues or dead-letters the jobs still
// running under one of the others, claimed more than minAge ago on the
// Redis server's clock. A call that finds another in progress returns a
// zero result and no error. A job whose hash is damaged is left to the
// lease rescue, which buries it.
//
// How atomic the liveness check is depends on the client. On a plain or
// failover client (one server holds every key) each queue's script checks
// the liveness keys again as it moves the jobs, atomically. On a cluster
// the liveness keys live in the prefix's slot and a queue's jobs in
// another, which no script may read together; the check made from Go just
// before is the last one, so a client that binds its liveness again in
// the milliseconds between the two (after it had been gone for the whole
// grace period, so it could not reach Redis for seconds) may still lose
// jobs: as after a lease expiry, fencing then refuses whatever its runs
// try to record.
func (b *Backend) RescueGone(ctx context.Context, gone []string, minAge time.Duration, info pgqueue.AttemptError) (pgqueue.RescueResult, error) {
	var res pgqueue.RescueResult
	if err := ctx.Err(); err != nil {
		return res, err
	}
	if len(gone) == 0 {
		return res, nil
	}
	tail, err := errorTail(info)
	if err != nil {
		return res, err
	}
	token := lockToken()
	lock := b.k.rescueGoneLock()
	got, err := lockScript.run(ctx, b, []string{lock}, token, rescueLockTTL.Milliseconds()).Int64()
	if err != nil {
		return res, wrapErr("take the liveness rescue lock", err)
	}
	if got != 1 {
		return res, nil
	}
	defer b.unlock(ctx, lock, token)

	live, err := b.liveClients(ctx, gone)
	if err != nil {
		return res, err
	}
	var still []string
	for _, id := range gone {
		if !live[id] && !slices.Contains(still, id) {
			still = append(still, id)
		}
	}
	if len(still) == 0 {
		return res, nil
	}
	names, err := b.knownQueues(ctx)
	if err != nil {
		return res, err
	}
	return b.rescuePasses(ctx, "rescue jobs of gone clients", names, func(names []string) []call {
		calls := make([]call, len(names))
		for i, name := range names {
			q := b.queue(name)
			keys := []string{q.running, q.dead}
			if b.plain {
				for _, id := range still {
					keys = append(keys, b.k.liveKey(id))
				}
			}
			args := []any{q.tag, b.channel, name, tail, maintenanceBatch, minAge.Microseconds()}
			for _, id := range still {
				args = append(args, id)
			}
			calls[i] = call{s: livenessRescueScript, keys: keys, args: args}
		}
		return calls
	})
}

// unlock releases lock if token still holds it, trying a few times, on a
// context of its own (ctx may be what ended the caller).
func (b *Backend) unlock(ctx context.Context, lock, token string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	for try := 0; try < 3 && ctx.Err() == nil; try++ {
		if unlockScript.run(ctx, b, []string{lock}, token).Err() == nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// mapKeys returns m's keys, sorted.
func mapKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
