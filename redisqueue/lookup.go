package redisqueue

import (
	"context"
	"slices"
	"strconv"
	"sync"

	"github.com/redis/go-redis/v9"
)

// tokenShift splits a fencing token: the bits above it are the job's queue
// index, those below count the job's claims. A job's tokens are therefore
// index<<32 + 1, + 2, ...: each is the previous plus one, and the token
// alone names the queue whose keys hold the job. Tokens stay below 2^53
// (Lua's exact integers) with up to 2^21 queue names per prefix; a job
// would need 2^32 claims to overflow into its queue's bits.
const tokenShift = 32

// maxQueues is how many distinct queue names one prefix can hold.
const maxQueues = 1<<(53-tokenShift) - 1

// queueNames caches the registry of queue indexes ({P}:queue-index and
// {P}:queues) both ways. An index, once given, never changes its name, so
// entries never go stale.
type queueNames struct {
	mu     sync.Mutex
	byIdx  map[int64]string
	byName map[string]int64
}

// learn records that name has index idx; b.names.mu must be held. The
// enqueue paths call it per call, mostly for a pair already known.
func (n *queueNames) learn(name string, idx int64) {
	if n.byIdx[idx] == name {
		return
	}
	n.byIdx[idx] = name
	n.byName[name] = idx
}

// indexOf returns the cached index of queue name, if known.
func (b *Backend) indexOf(name string) (int64, bool) {
	b.names.mu.Lock()
	defer b.names.mu.Unlock()
	idx, ok := b.names.byName[name]
	return idx, ok
}

// queueOfToken returns the queue named by a fencing token's high bits, or
// "" when no queue has that index (a token this prefix never issued).
func (b *Backend) queueOfToken(ctx context.Context, token int64) (string, error) {
	idx := token >> tokenShift
	if idx <= 0 || idx > maxQueues {
		return "", nil
	}
	b.names.mu.Lock()
	name, ok := b.names.byIdx[idx]
	b.names.mu.Unlock()
	if ok {
		return name, nil
	}
	name, err := b.rdb.HGet(ctx, b.k.queueIndex, strconv.FormatInt(idx, 10)).Result()
	if err == redis.Nil {
		return "", nil
	}
	if err != nil {
		return "", wrapErr("look up a queue", err)
	}
	b.names.mu.Lock()
	b.names.learn(name, idx)
	b.names.mu.Unlock()
	return name, nil
}

// rememberQueues records the indexes an insert learnt, names[i] having
// index indexes[i]; a short list (a retried insert's reply) is fine.
func (b *Backend) rememberQueues(names []string, indexes []int64) {
	b.names.mu.Lock()
	defer b.names.mu.Unlock()
	for i, idx := range indexes {
		if i < len(names) && idx > 0 {
			b.names.learn(names[i], idx)
		}
	}
}

// byQueue groups positions 0..len(queues)-1 by queue name, skipping "",
// and returns the names in sorted order with their positions.
func byQueue(queues []string) (names []string, groups map[string][]int) {
	groups = map[string][]int{}
	for i, q := range queues {
		if q == "" {
			continue
		}
		if _, ok := groups[q]; !ok {
			names = append(names, q)
		}
		groups[q] = append(groups[q], i)
	}
	slices.Sort(names)
	return names, groups
}

// knownQueues returns every queue name ever used under the prefix, sorted.
func (b *Backend) knownQueues(ctx context.Context) ([]string, error) {
	qs, err := b.rdb.HKeys(ctx, b.k.queues).Result()
	if err != nil {
		return nil, wrapErr("list queues", err)
	}
	slices.Sort(qs)
	return qs, nil
}
