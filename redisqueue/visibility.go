package redisqueue

// The operator API's interfaces: listing, counting, bulk actions and
// stats (pgqueue.JobLister, pgqueue.JobActor, pgqueue.StatsReporter).
//
// Redis has no secondary indexes over job fields, so a listing reads the
// member IDs of the wanted states' sets in the wanted queues (O(jobs
// there)), sorts them, and then reads job hashes, in pipelined chunks
// along the order, until the page is full: kind, priority, time,
// metadata and args filters are applied to the hashes. Available jobs sit
// in one set per kind; with no kind filter their sets are found with a
// SCAN of the queue's keys. Counting reads every candidate hash. This is
// an operator tool: fine on queues of thousands to a few hundred thousand
// jobs, not something to poll.

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/pgqueue/pgqueue"
)

var (
	_ pgqueue.JobLister     = (*Backend)(nil)
	_ pgqueue.JobActor      = (*Backend)(nil)
	_ pgqueue.StatsReporter = (*Backend)(nil)
)

// hashChunk is how many job hashes one pipelined round trip reads.
const hashChunk = 200

// candidate is a job a listing may return: its ID and queue.
type candidate struct {
	id    int64
	queue string
}

// ListJobs implements pgqueue.JobLister (see the file comment for its cost).
func (b *Backend) ListJobs(ctx context.Context, q pgqueue.JobQuery) ([]*pgqueue.JobInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	cands, err := b.candidates(ctx, q.Filter)
	if err != nil {
		return nil, err
	}
	cands = slices.DeleteFunc(cands, func(c candidate) bool { return !q.Follows(c.id) })
	slices.SortFunc(cands, func(x, y candidate) int {
		if q.Oldest() {
			return cmp.Compare(x.id, y.id)
		}
		return cmp.Compare(y.id, x.id)
	})
	var out []*pgqueue.JobInfo
	for start := 0; start < len(cands) && len(out) < q.Limit; start += hashChunk {
		infos, err := b.readJobs(ctx, cands[start:min(start+hashChunk, len(cands))])
		if err != nil {
			return nil, err
		}
		for _, info := range infos {
			if info != nil && q.Filter.Match(info) && len(out) < q.Limit {
				out = append(out, info)
			}
		}
	}
	return out, nil
}

// CountJobs implements pgqueue.JobLister: it reads every candidate's hash.
func (b *Backend) CountJobs(ctx context.Context, f pgqueue.JobFilter) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	cands, err := b.candidates(ctx, f)
	if err != nil {
		return 0, err
	}
	var n int64
	for start := 0; start < len(cands); start += hashChunk {
		infos, err := b.readJobs(ctx, cands[start:min(start+hashChunk, len(cands))])
		if err != nil {
			return 0, err
		}
		for _, info := range infos {
			if info != nil && f.Match(info) {
				n++
			}
		}
	}
	return n, nil
}

// candidates returns the jobs of f's queues in f's states, each once:
// with f.IDs, every ID in every queue (readJobs finds where it lives);
// otherwise the members of the state sets.
func (b *Backend) candidates(ctx context.Context, f pgqueue.JobFilter) ([]candidate, error) {
	names := f.Queues
	if len(names) == 0 {
		var err error
		if names, err = b.knownQueues(ctx); err != nil {
			return nil, err
		}
	}
	names = slices.DeleteFunc(slices.Clone(names), func(n string) bool { return validQueue(n) != nil })
	var out []candidate
	if len(f.IDs) > 0 {
		for _, name := range names {
			for _, id := range f.IDs {
				out = append(out, candidate{id: id, queue: name})
			}
		}
		return out, nil
	}
	type setOf struct {
		queue string
		cmd   *redis.StringSliceCmd
	}
	var sets []setOf
	for _, name := range names {
		q := b.queue(name)
		var keys []string
		if f.HasState(pgqueue.StateScheduled) {
			keys = append(keys, q.sched)
		}
		if f.HasState(pgqueue.StateRunning) {
			keys = append(keys, q.running)
		}
		if f.HasState(pgqueue.StateCompleted) {
			keys = append(keys, q.history)
		}
		if f.HasState(pgqueue.StateDead) || f.HasState(pgqueue.StateCancelled) {
			if len(f.Kinds) == 0 {
				keys = append(keys, q.dead)
			}
			for _, k := range f.Kinds {
				keys = append(keys, q.deadKind(k))
			}
		}
		if f.HasState(pgqueue.StateAvailable) {
			kinds := f.Kinds
			if len(kinds) == 0 {
				var err error
				if kinds, err = b.availKinds(ctx, q); err != nil {
					return nil, err
				}
			}
			for _, k := range kinds {
				keys = append(keys, q.avail(k))
			}
		}
		_, err := b.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, k := range keys {
				sets = append(sets, setOf{queue: name, cmd: p.ZRange(ctx, k, 0, -1)})
			}
			return nil
		})
		if err != nil && err != redis.Nil {
			return nil, wrapErr("list jobs", err)
		}
	}
	for _, s := range sets {
		members, err := s.cmd.Result()
		if err != nil && err != redis.Nil {
			return nil, wrapErr("list jobs", err)
		}
		for _, m := range members {
			if id, err := strconv.ParseInt(strings.TrimLeft(m, "0"), 10, 64); err == nil && id > 0 {
				out = append(out, candidate{id: id, queue: s.queue})
			}
		}
	}
	slices.SortFunc(out, func(x, y candidate) int { return cmp.Or(cmp.Compare(x.id, y.id), cmp.Compare(x.queue, y.queue)) })
	return slices.Compact(out), nil
}

// availKinds finds the kinds that have an available set in queue q, by
// SCANning for its keys (on every primary of a cluster).
func (b *Backend) availKinds(ctx context.Context, q queueKeys) ([]string, error) {
	prefix := q.avail("")
	pattern := globEscape(prefix) + "*"
	var (
		mu    sync.Mutex
		kinds []string
	)
	scan := func(ctx context.Context, c redis.Cmdable) error {
		iter := c.Scan(ctx, 0, pattern, 1000).Iterator()
		for iter.Next(ctx) {
			mu.Lock()
			kinds = append(kinds, strings.TrimPrefix(iter.Val(), prefix))
			mu.Unlock()
		}
		return iter.Err()
	}
	var err error
	if cc, ok := b.rdb.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return scan(ctx, c) })
	} else {
		err = scan(ctx, b.rdb)
	}
	if err != nil {
		return nil, wrapErr("find available kinds", err)
	}
	return slices.Compact(slices.Sorted(slices.Values(kinds))), nil
}

// globEscape quotes the characters SCAN MATCH treats as a pattern.
func globEscape(s string) string {
	var sb strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			sb.WriteByte('\\')
		}
		sb.WriteRune(r)
	}
	return sb.String()
}

// readJobs reads the hashes of cands in one pipelined round trip; a
// candidate with no hash (finished meanwhile, or an ID another queue
// holds) or a damaged one is nil.
func (b *Backend) readJobs(ctx context.Context, cands []candidate) ([]*pgqueue.JobInfo, error) {
	cmds := make([]*redis.MapStringStringCmd, len(cands))
	_, err := b.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, c := range cands {
			cmds[i] = p.HGetAll(ctx, b.queue(c.queue).tag+":job:"+strconv.FormatInt(c.id, 10))
		}
		return nil
	})
	out := make([]*pgqueue.JobInfo, len(cands))
	for i, cmd := range cmds {
		h, herr := cmd.Result()
		if herr != nil {
			if redis.HasErrorPrefix(herr, "WRONGTYPE") {
				continue // a damaged job is not listed; the next step that meets it dead-letters it
			}
			return nil, wrapErr("read jobs", herr)
		}
		out[i] = parseJobHash(cands[i], h)
	}
	if err != nil && !redis.HasErrorPrefix(err, "WRONGTYPE") {
		return nil, wrapErr("read jobs", err)
	}
	return out, nil
}

// parseJobHash reads a job hash leniently, as parseDead does; nil when
// the hash is empty or has no state.
func parseJobHash(c candidate, h map[string]string) *pgqueue.JobInfo {
	if h["state"] == "" {
		return nil
	}
	num := func(k string) int64 {
		n, _ := strconv.ParseInt(h[k], 10, 64)
		return n
	}
	at := func(k string) time.Time {
		if h[k] == "" {
			return time.Time{}
		}
		return fromMicros(num(k))
	}
	info := &pgqueue.JobInfo{State: pgqueue.State(h["state"]), ClaimedBy: h["claimed_by"]}
	j := &info.JobRow
	j.ID, j.Kind, j.Queue = c.id, h["kind"], c.queue
	j.Priority, j.Attempt, j.MaxAttempts, j.Token = int(num("priority")), int(num("attempt")), int(num("max_attempts")), num("token")
	j.CreatedAt, j.RunAt, j.AttemptedAt, j.LeaseUntil = at("created_at"), at("run_at"), at("attempted_at"), at("lease_until")
	switch info.State {
	case pgqueue.StateDead:
		info.FinishedAt = at("died_at")
		j.LeaseUntil = time.Time{}
	case pgqueue.StateCompleted:
		info.FinishedAt = at("finished_at")
	}
	if h["output"] != "" {
		info.Output = json.RawMessage(h["output"])
	}
	if h["progress"] != "" {
		var p pgqueue.Progress
		if err := json.Unmarshal([]byte(h["progress"]), &p); err == nil {
			info.Progress = &p
		}
	}
	if h["args"] != "" {
		j.Args = json.RawMessage(h["args"])
	}
	if h["metadata"] != "" {
		if err := json.Unmarshal([]byte(h["metadata"]), &j.Metadata); err != nil {
			j.Metadata = nil
		}
	}
	if h["errors"] != "" {
		if err := json.Unmarshal([]byte(h["errors"]), &j.Errors); err != nil {
			j.Errors = []pgqueue.AttemptError{{Attempt: j.Attempt, Kind: "decode",
				Error: fmt.Sprintf("redisqueue: job %d: the stored error history does not decode: %v", j.ID, err)}}
		}
	}
	if info.State == pgqueue.StateDead {
		info.State = pgqueue.StateOfDeadLetter(j.Errors)
	}
	return info
}

// ActOnJobs implements pgqueue.JobActor: one atomic script per queue, all
// queues in one pipelined round trip (requeue and purge of dead letters
// use RequeueDead and PurgeDead).
func (b *Backend) ActOnJobs(ctx context.Context, action pgqueue.BulkAction, jobs []pgqueue.JobTarget) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	ids := make([]int64, len(jobs))
	byQ := map[string][]any{}
	var names []string
	for i, t := range jobs {
		ids[i] = t.ID
		if validQueue(t.Queue) != nil {
			continue
		}
		if _, ok := byQ[t.Queue]; !ok {
			names = append(names, t.Queue)
		}
		byQ[t.Queue] = append(byQ[t.Queue], t.ID)
	}
	slices.Sort(names)
	var calls []call
	switch action {
	case pgqueue.BulkRequeueDead:
		return b.RequeueDead(ctx, ids)
	case pgqueue.BulkPurgeDead:
		return b.PurgeDead(ctx, pgqueue.DeadFilter{IDs: ids})
	case pgqueue.BulkRetry:
		for _, name := range names {
			q := b.queue(name)
			calls = append(calls, call{s: retryJobsScript, keys: []string{q.sched}, args: append([]any{q.tag, b.channel, name}, byQ[name]...)})
		}
	case pgqueue.BulkDelete:
		for _, name := range names {
			q := b.queue(name)
			calls = append(calls, call{s: deleteJobsScript, keys: []string{q.sched}, args: append([]any{q.tag}, byQ[name]...)})
		}
	case pgqueue.BulkCancel:
		tail, err := errorTail(pgqueue.AttemptError{At: time.Now().UTC(), Kind: "cancelled", Error: "cancelled"})
		if err != nil {
			return 0, err
		}
		for _, name := range names {
			q := b.queue(name)
			for _, id := range byQ[name] {
				calls = append(calls, call{s: cancelScript, keys: []string{q.running, q.sched, q.dead},
					args: []any{q.tag, b.channel, id, tail, pgqueue.CancelMessage(id.(int64))}})
			}
		}
	default:
		return 0, fmt.Errorf("%w: redisqueue: unknown bulk action %q", pgqueue.ErrInvalidArgs, action)
	}
	if len(calls) == 0 {
		return 0, nil
	}
	cmds, err := b.runAll(ctx, calls)
	n := 0
	for _, cmd := range cmds {
		k, _ := cmd.Int64()
		n += int(k)
	}
	return n, wrapErr(string(action)+" jobs", err)
}

// QueueStats implements pgqueue.StatsReporter: for every known queue, one
// pipelined round trip of set sizes (available summed over its kinds'
// sets, found by SCAN), its config and its oldest available job; exact
// counts.
func (b *Backend) QueueStats(ctx context.Context) (*pgqueue.Stats, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	names, err := b.knownQueues(ctx)
	if err != nil {
		return nil, err
	}
	st := &pgqueue.Stats{At: time.Now(), Queues: []pgqueue.QueueStats{}, Running: []pgqueue.RunningJob{}, Dead: []pgqueue.KindCount{}}
	dead := map[string]int64{}
	for _, name := range names {
		q := b.queue(name)
		kinds, err := b.availKinds(ctx, q)
		if err != nil {
			return nil, err
		}
		qs := pgqueue.QueueStats{Queue: name}
		var (
			availCmds          []*redis.IntCmd
			sched, run         *redis.IntCmd
			cfg                *redis.MapStringStringCmd
			running, deadMembs *redis.StringSliceCmd
		)
		_, err = b.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, k := range kinds {
				availCmds = append(availCmds, p.ZCard(ctx, q.avail(k)))
			}
			sched, run = p.ZCard(ctx, q.sched), p.ZCard(ctx, q.running)
			cfg = p.HGetAll(ctx, q.config)
			running = p.ZRange(ctx, q.running, 0, 99)
			deadMembs = p.ZRange(ctx, q.dead, 0, -1)
			return nil
		})
		if err != nil && err != redis.Nil {
			return nil, wrapErr("queue stats", err)
		}
		for _, c := range availCmds {
			qs.Available.N += c.Val()
		}
		qs.Scheduled.N, qs.Running.N = sched.Val(), run.Val()
		c := cfg.Val()
		qs.Paused = c["paused"] != ""
		qs.Limits.MaxRunning, _ = strconv.Atoi(c["max_running"])
		if r, err := strconv.ParseFloat(c["rate"], 64); err == nil && r > 0 {
			burst, _ := strconv.Atoi(c["burst"])
			qs.Limits.Rate = &pgqueue.RateLimit{PerSecond: r, Burst: burst}
		}
		// Running jobs and dead letters by kind need the hashes.
		var cands []candidate
		for _, m := range append(running.Val(), deadMembs.Val()...) {
			if id, err := strconv.ParseInt(strings.TrimLeft(m, "0"), 10, 64); err == nil {
				cands = append(cands, candidate{id: id, queue: name})
			}
		}
		for start := 0; start < len(cands); start += hashChunk {
			infos, err := b.readJobs(ctx, cands[start:min(start+hashChunk, len(cands))])
			if err != nil {
				return nil, err
			}
			for _, info := range infos {
				switch {
				case info == nil:
				case info.State == pgqueue.StateDead, info.State == pgqueue.StateCancelled:
					dead[info.Kind]++
				case info.State == pgqueue.StateRunning:
					st.Running = append(st.Running, pgqueue.RunningJob{ID: info.ID, Queue: name, Kind: info.Kind, Attempt: info.Attempt,
						MaxAttempts: info.MaxAttempts, ClaimedBy: info.ClaimedBy, AttemptedAt: info.AttemptedAt, LeaseUntil: info.LeaseUntil})
				}
			}
		}
		if qs.Available.N > 0 {
			oldest, err := b.ListJobs(ctx, pgqueue.JobQuery{Filter: pgqueue.JobFilter{Queues: []string{name}, States: []pgqueue.State{pgqueue.StateAvailable}, Order: pgqueue.OldestFirst}, Limit: 1})
			if err != nil {
				return nil, err
			}
			if len(oldest) == 1 && st.At.After(oldest[0].RunAt) {
				qs.Lag = st.At.Sub(oldest[0].RunAt)
			}
		}
		if qs.Available.N+qs.Scheduled.N+qs.Running.N > 0 || qs.Paused || qs.Limits.MaxRunning > 0 || qs.Limits.Rate != nil {
			st.Queues = append(st.Queues, qs)
		}
	}
	slices.SortFunc(st.Running, func(x, y pgqueue.RunningJob) int {
		return cmp.Or(x.LeaseUntil.Compare(y.LeaseUntil), cmp.Compare(x.ID, y.ID))
	})
	st.Running = st.Running[:min(len(st.Running), 100)]
	for kind, n := range dead {
		st.Dead = append(st.Dead, pgqueue.KindCount{Kind: kind, Count: pgqueue.Count{N: n}})
	}
	slices.SortFunc(st.Dead, func(x, y pgqueue.KindCount) int { return cmp.Compare(x.Kind, y.Kind) })
	return st, nil
}
