package redisqueue

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/pgqueue/pgqueue"
)

// insertGuardTTL is how long the retry guard of a one-round-trip Insert
// lives: longer than go-redis's retries of one call take with its default
// timeouts (three tries, each up to a 3s read timeout plus backoff).
const insertGuardTTL = 30 * time.Second

// InsertChunk is the most jobs one script of Insert stores. Redis runs a
// script to its end while every other client waits (a script that runs
// longer than busy-reply-threshold, 5s by default, makes other clients'
// commands fail with BUSY), and storing a job costs about 10-25µs of Redis
// time, so a 1000-job script holds the server for roughly 10-25ms: short
// enough for other clients' latency, long enough that a script's fixed
// cost (its lib, the ID allocation, one PUBLISH) stays negligible.
const InsertChunk = 1000

// Insert stores jobs and returns their IDs in the order given. IDs come
// from one counter per prefix, so they are unique across every queue and
// grow in insertion order. A job whose RunAt is zero or not after the
// Redis server's clock is stored available and its queue woken; the others
// are scheduled. A RunAt before 1970 is stored as 1970. Metadata is kept
// with the job (as a JSON object) and returned by every claim and by
// ListDead.
//
// On a plain or failover client, one-job Inserts without a unique key
// that arrive while another is in flight are queued and then stored
// together in one script call (at most two such calls are in flight at
// once), each under its own ID, so that concurrent Enqueues cost Redis
// less per job; a call that finds none in flight is sent at once.
//
// A batch is stored in chunks of InsertChunk jobs, in the order given,
// one after the other, so that no single script blocks Redis for long.
// Each chunk is atomic: on a plain or failover client a chunk, whatever
// its queues, is one script in one round trip (all or none), and a retry
// of that script by go-redis after a lost reply returns the first run's
// IDs rather than storing the chunk twice; on a cluster client, IDs for
// the whole batch are allocated first (one script on the prefix's slot)
// and each queue's jobs of a chunk are then stored atomically by a script
// on the queue's slot, all queues of the chunk in one pipelined round
// trip. A one-job insert on a cluster client takes its ID from a block
// of clusterIDBlock IDs the client reserved, so that it is one script on
// the queue's slot; IDs from different clients' blocks do not follow the
// order of their inserts. A batch of at most InsertChunk jobs on a plain
// client is therefore all or none; a larger batch is not: if Insert returns an
// error, the chunks before the one that failed (and, on a cluster, some
// queues of that chunk) were stored and will run, and the error says which
// jobs. IDs still grow in the order given but, on a plain client, need not
// be consecutive across chunks.
//
// Jobs with a UniqueKey are checked as InsertUnique does: when some are
// duplicates, the others are stored and Insert returns all the IDs (a
// duplicate's being its holder's) with a *pgqueue.DuplicateError. The
// check sees the jobs of earlier chunks, so duplicates across chunks are
// found as within one.
//
// It returns an error wrapping pgqueue.ErrInvalidArgs, storing nothing, for
// an empty kind, a queue name that is empty or has '{' or '}', a priority
// outside 0..MaxPriority, or a UniqueKey longer than 512 bytes. It returns
// an error wrapping pgqueue.ErrDatabase, storing nothing of the chunk, if
// a job's key exists already (the prefix's ID counter went back: deleted,
// evicted, or restored from an older snapshot than the jobs) or a set of
// the queue that the chunk would write holds the wrong type: a job is
// never stored over another, nor silently skipped.
func (b *Backend) Insert(ctx context.Context, jobs []pgqueue.InsertParams) ([]int64, error) {
	if b.plain && len(jobs) == 1 && jobs[0].UniqueKey == "" {
		// Enqueue's path, without insert's per-call slices.
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		meta, err := validateJob(0, jobs[0])
		if err != nil {
			return nil, err
		}
		id, err := b.insertSingle(ctx, &jobs[0], meta)
		if err != nil {
			return nil, err
		}
		return []int64{id}, nil
	}
	res, err := b.insert(ctx, jobs)
	if err != nil || len(res) == 0 {
		return nil, err
	}
	return pgqueue.ResultIDs(res)
}

// maxUniqueKey is the longest UniqueKey stored, as on Postgres.
const maxUniqueKey = 512

// validateJobs checks jobs as Insert documents and encodes their metadata
// ("" for none).
func validateJobs(jobs []pgqueue.InsertParams) (metadata []string, err error) {
	metadata = make([]string, len(jobs))
	for i, j := range jobs {
		if metadata[i], err = validateJob(i, j); err != nil {
			return nil, err
		}
	}
	return metadata, nil
}

// validateJob checks job i of a batch as Insert documents and encodes its
// metadata ("" for none).
func validateJob(i int, j pgqueue.InsertParams) (metadata string, err error) {
	if j.Kind == "" {
		return "", fmt.Errorf("%w: redisqueue: job %d: empty kind", pgqueue.ErrInvalidArgs, i)
	}
	if err := validQueue(j.Queue); err != nil {
		return "", fmt.Errorf("job %d: %w", i, err)
	}
	if len(j.UniqueKey) > maxUniqueKey {
		return "", fmt.Errorf("%w: redisqueue: job %d: unique key longer than %d bytes", pgqueue.ErrInvalidArgs, i, maxUniqueKey)
	}
	if j.Priority < 0 || j.Priority > MaxPriority {
		return "", fmt.Errorf("%w: redisqueue: job %d: priority %d is outside 0..%d", pgqueue.ErrInvalidArgs, i, j.Priority, MaxPriority)
	}
	if len(j.Metadata) > 0 {
		raw, err := json.Marshal(j.Metadata)
		if err != nil {
			return "", fmt.Errorf("%w: redisqueue: job %d: encode metadata: %w", pgqueue.ErrInvalidArgs, i, err)
		}
		return string(raw), nil
	}
	return "", nil
}

// insert stores jobs (see Insert and InsertUnique) and reports each one's
// outcome.
func (b *Backend) insert(ctx context.Context, jobs []pgqueue.InsertParams) ([]pgqueue.InsertResult, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(jobs) == 0 {
		return nil, nil
	}
	metadata, err := validateJobs(jobs)
	if err != nil {
		return nil, err
	}
	if b.plain && len(jobs) == 1 && jobs[0].UniqueKey == "" {
		id, err := b.insertSingle(ctx, &jobs[0], metadata[0])
		if err != nil {
			return nil, err
		}
		return []pgqueue.InsertResult{{ID: id}}, nil
	}
	out := make([]pgqueue.InsertResult, len(jobs))
	var (
		first int64
		index map[string]int64
	)
	switch {
	case !b.plain && len(jobs) == 1:
		// An ID from the client's reserve: one round trip, on the
		// queue's slot.
		var idx int64
		if first, idx, err = b.takeID(ctx, jobs[0].Queue); err != nil {
			return nil, err
		}
		index = map[string]int64{jobs[0].Queue: idx}
	case !b.plain:
		// One allocation for the whole batch: its IDs are consecutive.
		if first, index, err = b.alloc(ctx, len(jobs), distinctQueues(jobs)); err != nil {
			return nil, err
		}
	}
	for start := 0; start < len(jobs); start += InsertChunk {
		end := min(start+InsertChunk, len(jobs))
		chunk, meta := jobs[start:end], metadata[start:end]
		queues := make([]string, len(chunk))
		for i, j := range chunk {
			queues[i] = j.Queue
		}
		names, groups := byQueue(queues)
		var (
			chunkFirst int64
			dups       []int64
		)
		if b.plain {
			chunkFirst, dups, err = b.insertOneTrip(ctx, chunk, meta, names, groups)
		} else {
			chunkFirst = first + int64(start)
			dups, err = b.insertPerQueue(ctx, chunk, meta, names, groups, chunkFirst, index)
			b.reserve.dropOn(err)
		}
		if err != nil {
			if start > 0 {
				return nil, fmt.Errorf("jobs %d..%d of %d not stored (jobs 0..%d were, and will run): %w", start, len(jobs)-1, len(jobs), start-1, err)
			}
			return nil, err
		}
		for i := range chunk {
			out[start+i].ID = chunkFirst + int64(i)
		}
		for i := 0; i+1 < len(dups); i += 2 {
			if off := dups[i]; off >= 0 && int(off) < len(chunk) {
				out[start+int(off)] = pgqueue.InsertResult{ID: dups[i+1], Duplicate: true}
			}
		}
	}
	return out, nil
}

// distinctQueues lists the queues of jobs, sorted, each once.
func distinctQueues(jobs []pgqueue.InsertParams) []string {
	queues := make([]string, len(jobs))
	for i, j := range jobs {
		queues[i] = j.Queue
	}
	names, _ := byQueue(queues)
	return names
}

// appendJobs appends, for each job of a queue, the eight values
// insert_jobs reads (offset in the batch, kind, priority, args, max
// attempts, run-at, metadata, unique key).
func appendJobs(args []any, jobs []pgqueue.InsertParams, positions []int, metadata []string) []any {
	for _, i := range positions {
		j := jobs[i]
		runAt := ""
		if !j.RunAt.IsZero() {
			runAt = strconv.FormatInt(micros(j.RunAt), 10)
		}
		args = append(args, i, j.Kind, j.Priority, string(j.Args), j.MaxAttempts, runAt, metadata[i], j.UniqueKey)
	}
	return args
}

// insertOneTrip stores the batch with enqueue.lua: one server holds every
// key, so one script can do it all. It returns the first ID and, flat, the
// offset and holder of each duplicate.
func (b *Backend) insertOneTrip(ctx context.Context, jobs []pgqueue.InsertParams, metadata, names []string, groups map[string][]int) (int64, []int64, error) {
	keys := make([]string, 0, 4+len(names))
	keys = append(keys, b.k.ids, b.k.queues, b.k.queueIndex, b.k.insertGuard(guardToken()))
	args := make([]any, 0, 3+3*len(names)+8*len(jobs))
	args = append(args, b.channel, len(jobs), insertGuardTTL.Milliseconds())
	for _, name := range names {
		q := b.queue(name)
		keys = append(keys, q.sched)
		args = append(args, q.tag, name, len(groups[name]))
		args = appendJobs(args, jobs, groups[name], metadata)
	}
	res, err := enqueueScript.run(ctx, b, keys, args...).Int64Slice()
	if err != nil {
		return 0, nil, wrapErr("insert jobs", err)
	}
	if len(res) < 2 || res[1] < 0 || int(res[1]) > len(res)-2 {
		return 0, nil, wrapErr("insert jobs", fmt.Errorf("unexpected reply %v", res))
	}
	n := int(res[1])
	b.rememberQueues(names, res[2:2+n])
	return res[0], res[2+n:], nil
}

// coalescer gathers the one-job inserts (no unique key, plain client) that
// arrive while another is in flight, so that they share one script call:
// under concurrent Enqueues, Redis then pays its per-call costs (the round
// trip, the script's start, the guard, the PUBLISH) once for several jobs
// rather than once per job. A call that finds none in flight is sent at
// once, alone, so an idle backend adds no wait.
//
// Up to two calls are in flight at once. With one, the client and Redis
// take turns: while Redis runs a call every caller in it waits, and while
// those callers prepare their next jobs Redis has nothing to do. So a
// sender that finds at least 2*splitAt inserts queued and no other call
// in flight sends half of them and starts a second flight with the rest:
// Redis runs the second call while the client answers the first one's
// callers and gathers their next jobs, and the two flights go on in
// turns. Fewer queued inserts all go in one call: a round trip's fixed
// costs (system calls and wake-ups on both sides) exceed those of storing
// a few jobs, so smaller calls would lose more than the overlap gains.
type coalescer struct {
	mu sync.Mutex
	// flights counts the flights: a lone insert sent by its caller, or a
	// sender goroutine (sendPending) with the call it has out.
	flights int
	pending []*pendingInsert
}

const (
	// maxFlights bounds the coalesced calls in flight at once. A third
	// would split the callers into batches too small to pay for their
	// round trips.
	maxFlights = 2
	// splitAt is the fewest inserts each of two flights carries when a
	// sender splits what is queued.
	splitAt = 4
)

// pendingInsert is one queued one-job insert and, once a value arrives on
// done, its outcome. They are pooled (see pendingPool): under a stream of
// Enqueues one is needed per job.
type pendingInsert struct {
	ctx  context.Context
	job  pgqueue.InsertParams
	meta string
	// done has room for the one value the sender puts there, so that the
	// sender never waits for its caller, and it can be reused, unlike a
	// channel that is closed.
	done chan struct{}
	id   int64
	err  error
}

// pendingPool holds the pendingInserts no one refers to any more: those
// whose caller got its outcome, or took them back from the queue when its
// ctx ended. One the sender has taken while its caller left is not
// returned: the sender still writes its outcome.
var pendingPool = sync.Pool{New: func() any { return &pendingInsert{done: make(chan struct{}, 1)} }}

// release clears p, so that the pool keeps nothing of its job alive, and
// returns it to the pool.
func (p *pendingInsert) release() {
	*p = pendingInsert{done: p.done}
	pendingPool.Put(p)
}

// insertSingle stores one job without a unique key. If no such insert is
// in flight it sends it now; otherwise it queues it for the next call,
// which carries every insert queued by then (see coalescer). Either way
// the job is stored atomically and its ID returned, or an error. A caller
// whose ctx ends while its job is queued returns at once with nothing
// stored; once its job is being sent, ctx ending returns at once too, and
// the job may then be stored, as when ctx ends during any call. *job is
// not read after insertSingle returns (a queued job is a copy).
func (b *Backend) insertSingle(ctx context.Context, job *pgqueue.InsertParams, meta string) (int64, error) {
	c := &b.co
	c.mu.Lock()
	if c.flights == 0 {
		c.flights = 1
		c.mu.Unlock()
		id, err := b.runLean(ctx, 1, func(int) (*pgqueue.InsertParams, string) { return job, meta })
		b.handOff()
		return id, err
	}
	p := pendingPool.Get().(*pendingInsert)
	p.ctx, p.job, p.meta = ctx, *job, meta
	c.pending = append(c.pending, p)
	c.mu.Unlock()
	select {
	case <-p.done:
		id, err := p.id, p.err
		p.release()
		return id, err
	case <-ctx.Done():
		c.mu.Lock()
		i := slices.Index(c.pending, p)
		if i >= 0 {
			c.pending = slices.Delete(c.pending, i, i+1)
		}
		c.mu.Unlock()
		if i >= 0 {
			p.release()
		}
		return 0, wrapErr("insert jobs", ctx.Err())
	}
}

// handOff ends a lone insert's flight: inserts queued meanwhile are sent
// by a goroutine of their own, so that the caller returns with its own
// outcome and does not wait for others' calls.
func (b *Backend) handOff() {
	c := &b.co
	c.mu.Lock()
	idle := len(c.pending) == 0
	if idle {
		c.flights--
	}
	c.mu.Unlock()
	if !idle {
		go b.sendPending(true)
	}
}

// sendPending is a flight that sends the queued one-job inserts, up to
// InsertChunk per call, until none is left. When it is the only flight and
// finds at least 2*splitAt queued, it sends half and starts a second
// flight with the rest (see coalescer).
//
// With yield set, and always after its first call, it yields the
// processor once before taking a batch. The callers the previous call
// just answered are then runnable, and under a steady stream of Enqueues
// they are about to queue their next job: letting them run first lets
// that job join this call rather than wait for the next one. Larger calls
// cost both sides less per job (Redis's per-call work, the round trip's
// system calls), which matters most when the client and Redis share
// cores. A yield is not a timed wait: with nothing else runnable it
// returns at once.
func (b *Backend) sendPending(yield bool) {
	c := &b.co
	for {
		if yield {
			runtime.Gosched()
		}
		yield = true
		c.mu.Lock()
		if len(c.pending) == 0 {
			c.flights--
			c.mu.Unlock()
			return
		}
		n := min(len(c.pending), InsertChunk)
		split := c.flights < maxFlights && n >= 2*splitAt
		if split {
			n = (n + 1) / 2
			c.flights++
		}
		batch := c.pending[:n:n]
		c.pending = slices.Clone(c.pending[n:])
		c.mu.Unlock()
		if split {
			// The rest is queued already: the second flight takes it
			// without a yield, while this one's call is on its way.
			go b.sendPending(false)
		}
		b.sendBatch(batch)
	}
}

// sendBatch stores the jobs of batch, each queued by its own caller, in
// one enqueue_lean.lua call, and gives each caller its outcome. The call
// is atomic: a refusal by the script (a job key that exists, a set of the
// wrong type) stores nothing, and then each job of a larger batch is sent
// again on its own, so that each caller gets the answer its job alone
// would have got and one caller's bad job never fails another's. Any
// other error (no reply) goes to every caller: their jobs may or may not
// be stored, as with any call whose reply is lost.
func (b *Backend) sendBatch(batch []*pendingInsert) {
	// The callers wait for this call whatever their contexts do (each
	// returns on its own when its ctx ends); values such as tracing spans
	// are kept from the first.
	ctx := context.WithoutCancel(batch[0].ctx)
	first, err := b.runLean(ctx, len(batch), func(i int) (*pgqueue.InsertParams, string) { return &batch[i].job, batch[i].meta })
	var refused redis.Error
	for i, p := range batch {
		switch {
		case err == nil:
			p.id = first + int64(i)
		case len(batch) > 1 && errors.As(err, &refused):
			p.id, p.err = b.runLean(p.ctx, 1, func(int) (*pgqueue.InsertParams, string) { return &p.job, p.meta })
		default:
			p.err = err
		}
		// The caller may reuse p as soon as it has the value: p is not
		// touched after this.
		p.done <- struct{}{}
	}
}

// insertLean stores jobs without unique keys, each the one job of an
// Insert call, with enqueue_lean.lua, the lean form of insertOneTrip
// (plain client only): the same jobs stored, the same retry guard, fewer
// commands. It returns the first job's ID; the others follow in order.
func (b *Backend) insertLean(ctx context.Context, jobs []pgqueue.InsertParams, metadata []string) (int64, error) {
	return b.runLean(ctx, len(jobs), func(i int) (*pgqueue.InsertParams, string) { return &jobs[i], metadata[i] })
}

// runLean is insertLean for n jobs read through job (a job and its
// encoded metadata), so that the coalescer's queued jobs are sent from
// where they are, not copied into a slice first.
func (b *Backend) runLean(ctx context.Context, n int, job func(i int) (*pgqueue.InsertParams, string)) (int64, error) {
	args := make([]any, 0, 2+8*n)
	args = append(args, b.channel, insertGuardTTL.Milliseconds())
	// Concurrent Enqueues mostly share a queue and a kind: a job repeating
	// the one before's reuses its boxed values instead of allocating its
	// own.
	var (
		tag, queue, kind any
		prevQueue        string
		prevKind         string
	)
	for i := range n {
		j, meta := job(i)
		runAt := ""
		if !j.RunAt.IsZero() {
			runAt = strconv.FormatInt(micros(j.RunAt), 10)
		}
		if i == 0 || j.Queue != prevQueue {
			tag, queue, prevQueue = queueTag(b.prefix, j.Queue), j.Queue, j.Queue
		}
		if i == 0 || j.Kind != prevKind {
			kind, prevKind = j.Kind, j.Kind
		}
		args = append(args, tag, queue, kind, j.Priority, string(j.Args), j.MaxAttempts, runAt, meta)
	}
	keys := []string{b.k.ids, b.k.queues, b.k.queueIndex, b.k.insertGuard(guardToken())}
	res, err := enqueueLeanScript.run(ctx, b, keys, args...).Int64Slice()
	if err != nil {
		return 0, wrapErr("insert jobs", err)
	}
	switch len(res) {
	case 1 + n:
		prevQueue = ""
		for i := range n {
			if j, _ := job(i); i == 0 || j.Queue != prevQueue {
				b.rememberQueues([]string{j.Queue}, res[1+i:2+i])
				prevQueue = j.Queue
			}
		}
	case 1: // a resend answered by the guard
	default:
		return 0, wrapErr("insert jobs", fmt.Errorf("unexpected reply %v", res))
	}
	return res[0], nil
}

// insertPerQueue stores one chunk the cluster way, with IDs from first on
// and queue indexes already allocated by alloc.lua: insert.lua on each
// queue's slot, all queues pipelined. Each call carries a retry guard of
// its own (see insert.lua). It returns, flat, the offset (within the
// chunk) and holder of each duplicate.
func (b *Backend) insertPerQueue(ctx context.Context, jobs []pgqueue.InsertParams, metadata, names []string, groups map[string][]int, first int64, index map[string]int64) ([]int64, error) {
	calls := make([]call, len(names))
	for n, name := range names {
		q := b.queue(name)
		args := make([]any, 0, 6+8*len(groups[name]))
		args = append(args, q.tag, b.channel, name, index[name], first, insertGuardTTL.Milliseconds())
		calls[n] = call{s: insertScript, keys: []string{q.sched, q.insertGuard(guardToken())}, args: appendJobs(args, jobs, groups[name], metadata)}
	}
	cmds, err := b.runAll(ctx, calls)
	if err != nil {
		return nil, wrapErr("insert jobs", err)
	}
	var dups []int64
	for _, cmd := range cmds {
		d, err := cmd.Int64Slice()
		if err != nil {
			return nil, wrapErr("insert jobs", err)
		}
		dups = append(dups, d...)
	}
	return dups, nil
}

// alloc runs alloc.lua: n IDs and the indexes of names. It returns the
// first ID and each name's index.
func (b *Backend) alloc(ctx context.Context, n int, names []string) (int64, map[string]int64, error) {
	args := make([]any, 0, 1+len(names))
	args = append(args, n)
	for _, name := range names {
		args = append(args, name)
	}
	res, err := allocScript.run(ctx, b, []string{b.k.ids, b.k.queues, b.k.queueIndex}, args...).Int64Slice()
	if err != nil {
		return 0, nil, wrapErr("allocate job IDs", err)
	}
	if len(res) != 1+len(names) {
		return 0, nil, wrapErr("allocate job IDs", fmt.Errorf("unexpected reply %v", res))
	}
	b.rememberQueues(names, res[1:])
	index := make(map[string]int64, len(names))
	for i, name := range names {
		index[name] = res[1+i]
	}
	return res[0], index, nil
}

func guardToken() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
