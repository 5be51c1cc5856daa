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

// idReserve is a cluster client's block of unused job IDs, next..end-1,
// and the queue indexes it has learnt (an index never changes once
// given, see queueNames).
type idReserve struct {
	mu        sync.Mutex
	next, end int64
	index     map[string]int64
}

// takeID returns an ID for one new job of queue and the queue's index,
// from the reserve when it has both, else by one alloc.lua call that also
// refills the reserve (when it is empty) and learns the index.
func (b *Backend) takeID(ctx context.Context, queue string) (int64, int64, error) {
	r := &b.reserve
	r.mu.Lock()
	idx, known := r.index[queue]
	if known && r.next < r.end {
		id := r.next
		r.next++
		r.mu.Unlock()
		return id, idx, nil
	}
	// Asks only for the index while the block still has IDs: alloc.lua
	// with no IDs takes none from the counter.
	n := int64(clusterIDBlock)
	if r.next < r.end {
		n = 0
	}
	r.mu.Unlock()
	first, index, err := b.alloc(ctx, int(n), []string{queue})
	if err != nil {
		return 0, 0, err
	}
	idx = index[queue]
	if n == 0 {
		// Another caller may have emptied the block meanwhile: ask again,
		// the index now known.
		return b.takeID(ctx, queue)
	}
	r.mu.Lock()
	// Concurrent refills each keep their own first ID; the reserve keeps
	// the last block stored, and the rest of the others' are skipped.
	r.next, r.end = first+1, first+n
	r.mu.Unlock()
	return first, idx, nil
}

// learnIndexes records queue indexes an allocation returned.
func (r *idReserve) learnIndexes(index map[string]int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.index == nil {
		r.index = make(map[string]int64, len(index))
	}
	for name, idx := range index {
		r.index[name] = idx
	}
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
