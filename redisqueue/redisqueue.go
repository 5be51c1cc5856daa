package redisqueue

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/pgqueue/pgqueue"
)

// DefaultPrefix is the key prefix used when Options.Prefix is empty.
const DefaultPrefix = "pgqueue"

// MaxPriority is the highest job priority this backend stores. The Client
// only produces priorities from pgqueue.MinPriority to pgqueue.MaxPriority;
// the wider range exists for callers of Backend.Insert.
const MaxPriority = 1023

var (
	_ pgqueue.Backend              = (*Backend)(nil)
	_ pgqueue.UniqueInserter       = (*Backend)(nil)
	_ pgqueue.Canceller            = (*Backend)(nil)
	_ pgqueue.PeriodicEnqueuer     = (*Backend)(nil)
	_ pgqueue.PeriodicNextRecorder = (*Backend)(nil)
	_ pgqueue.QueueLimiter         = (*Backend)(nil)
	_ pgqueue.QueuePauser          = (*Backend)(nil)
)

// Options configures a Backend built by New. The zero value (or nil) is
// valid.
type Options struct {
	// Prefix starts every key the backend writes and its wake-up channel's
	// name, so several independent queues can share one Redis database.
	// Default "pgqueue". It must not contain '{' or '}', which would break
	// the hash tags that keep each queue in one cluster slot, nor ':', the
	// separator between prefix and queue name in those tags (see
	// validPrefix for why it is refused rather than escaped).
	Prefix string
}

// Backend is a pgqueue.Backend over Redis. Build it with New. It is safe for
// concurrent use by any number of goroutines and Clients, in one process or
// many.
//
// Its methods return errors wrapping pgqueue.ErrDatabase when Redis cannot
// be reached or refuses a command, wrapping the context's error when ctx
// ends first, wrapping pgqueue.ErrInvalidArgs for jobs it cannot store
// (Insert) or a bad queue name, pgqueue.ErrInvalidConfig for bad limits
// (SetQueueLimits), pgqueue.ErrJobNotFound (CancelJob), a
// *pgqueue.DuplicateError from Insert for unique jobs whose key is held,
// and pgqueue.ErrLeaseLost as the Backend interface describes.
//
// Besides pgqueue.Backend it implements pgqueue.UniqueInserter (unique
// per queue: see the package documentation), pgqueue.Canceller,
// pgqueue.PeriodicEnqueuer, pgqueue.QueueLimiter, pgqueue.QueuePauser and
// pgqueue.LivenessKeeper (see liveness.go).
type Backend struct {
	rdb redis.UniversalClient
	// plain is true for a *redis.Client (standalone or failover): one
	// server holds every key, so Insert can be one script.
	plain bool
	// co coalesces concurrent one-job inserts (plain client only).
	co coalescer
	// reserve holds the job IDs a cluster client reserved for its one-job
	// inserts (see clusterIDBlock).
	reserve idReserve
	prefix  string
	k       globalKeys
	// channel is the pub/sub channel of wake-ups.
	channel string
	names   queueNames
	// statsQueues holds the queues this Backend has added to
	// {P}:stats-queues, so that a stats write adds each once.
	statsQueues sync.Map
}

// globalKeys are the keys under the prefix's own tag.
type globalKeys struct {
	tag, ids, queues, queueIndex, rescue string
}

// insertGuard is the retry guard of one Insert call (see enqueue.lua).
func (k globalKeys) insertGuard(token string) string { return k.tag + ":insert:" + token }

// New returns a Backend storing jobs through client, which may be a plain
// client (redis.NewClient), a failover client (redis.NewFailoverClient) or
// a cluster client (redis.NewClusterClient). It does not contact Redis.
// opts may be nil. It returns an error wrapping pgqueue.ErrInvalidConfig
// for a nil client, a *redis.Ring (its shards are independent servers that
// share no pub/sub, so wake-ups would be lost between them), or a prefix
// containing '{', '}' or ':'.
func New(client redis.UniversalClient, opts *Options) (*Backend, error) {
	if client == nil {
		return nil, fmt.Errorf("%w: redisqueue: client must not be nil", pgqueue.ErrInvalidConfig)
	}
	if _, ring := client.(*redis.Ring); ring {
		return nil, fmt.Errorf("%w: redisqueue: a redis.Ring is not supported (its shards share no pub/sub); use a cluster", pgqueue.ErrInvalidConfig)
	}
	prefix := DefaultPrefix
	if opts != nil && opts.Prefix != "" {
		prefix = opts.Prefix
	}
	if err := validPrefix(prefix); err != nil {
		return nil, err
	}
	_, plain := client.(*redis.Client)
	tag := prefixTag(prefix)
	return &Backend{
		rdb:    client,
		plain:  plain,
		prefix: prefix,
		k: globalKeys{
			tag:        tag,
			ids:        tag + ":ids",
			queues:     tag + ":queues",
			queueIndex: tag + ":queue-index",
			rescue:     tag + ":rescue",
		},
		channel: prefix + ":wake",
		names:   queueNames{byIdx: map[int64]string{}, byName: map[string]int64{}},
	}, nil
}

// Prefix returns the key prefix the backend uses.
func (b *Backend) Prefix() string { return b.prefix }

// Client returns the Redis client the backend uses.
func (b *Backend) Client() redis.UniversalClient { return b.rdb }

// queueKeys are the keys of one queue, all under the tag {prefix:queue}.
type queueKeys struct {
	name    string
	tag     string
	sched   string
	running string
	dead    string
	// history holds the completed jobs kept for a retention, scored by
	// the time they may be dropped (history.go).
	history string
	// config holds the queue's pause flag and global limits.
	config string
}

func (b *Backend) queue(name string) queueKeys {
	tag := queueTag(b.prefix, name)
	return queueKeys{name: name, tag: tag, sched: tag + ":sched", running: tag + ":running", dead: tag + ":dead", history: tag + ":history", config: tag + ":config"}
}

func (q queueKeys) avail(kind string) string { return q.tag + ":avail:" + kind }

// insertGuard is the retry guard of one insert.lua call (the cluster path).
func (q queueKeys) insertGuard(token string) string { return q.tag + ":insert:" + token }
func (q queueKeys) deadKind(kind string) string     { return q.tag + ":dead:" + kind }

// wrapErr labels a failure of op: the context's error as it is, anything
// else as a database error.
func wrapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("redisqueue: %s: %w", op, err)
	}
	return fmt.Errorf("%w: redisqueue: %s: %w", pgqueue.ErrDatabase, op, err)
}

// micros converts a time to microseconds since the epoch, clamped to the
// range a Lua number holds exactly (times before 1970 become 1970).
func micros(t time.Time) int64 {
	const limit = 1<<53 - 1
	return min(max(t.UnixMicro(), 0), limit)
}

// fromMicros is the inverse of micros.
func fromMicros(us int64) time.Time {
	return time.UnixMicro(us).UTC()
}

// errorStamp is the time scripts stamp on the errors they write themselves
// (corrupt jobs), on the client's clock like every other AttemptError.At.
func errorStamp() string {
	return time.Now().UTC().Format(time.RFC3339Nano)
}
