package redisqueue

import (
	"context"
	"strings"
	"sync"
)

// clusterIDBlock is how many job IDs a cluster client reserves at a time
// for its one-job inserts. On a cluster the prefix's ID counter and a
// queue's keys live in different slots, so an insert whose ID came from
// the counter costs two round trips, and every insert of every queue
// passes through the one primary that owns the prefix's slot. With a
// reserve, a one-job insert is one script on its queue's own slot, and
// the counter is asked once per block. IDs a process reserved but did not
// use are skipped: IDs stay unique, and need not be consecutive or follow
// the order in which different clients inserted.
const clusterIDBlock = 100

// idReserve is a cluster client's block of unused job IDs, next..end-1.
type idReserve struct {
	mu        sync.Mutex
	next, end int64
}

// takeID returns an ID for one new job of queue and the queue's index:
// from the reserve and the queue-name cache when both have them, else by
// one alloc.lua call that takes a new block (the old block's rest, if
// any, is skipped) and learns the index.
func (b *Backend) takeID(ctx context.Context, queue string) (int64, int64, error) {
	r := &b.reserve
	if idx, known := b.indexOf(queue); known {
		r.mu.Lock()
		if r.next < r.end {
			id := r.next
			r.next++
			r.mu.Unlock()
			return id, idx, nil
		}
		r.mu.Unlock()
	}
	first, index, err := b.alloc(ctx, clusterIDBlock, []string{queue})
	if err != nil {
		return 0, 0, err
	}
	r.mu.Lock()
	// Concurrent refills each keep their own first ID; the reserve keeps
	// the rest of the last block stored, and the others' rests are
	// skipped.
	r.next, r.end = first+1, first+clusterIDBlock
	r.mu.Unlock()
	return first, index[queue], nil
}

// dropOn empties the reserve when err is a refusal because a job key
// exists already: the prefix's counter went back (deleted, evicted,
// restored from an older snapshot), and the rest of a block reserved
// before that may be what the counter hands out again. The next one-job
// insert then takes a fresh block from the counter, as a batch does.
func (r *idReserve) dropOn(err error) {
	if err == nil || !strings.Contains(err.Error(), "exists already") {
		return
	}
	r.mu.Lock()
	r.next = r.end
	r.mu.Unlock()
}
