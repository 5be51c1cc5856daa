package pgqueue

// The Postgres backend's NOTIFY debounce: one NOTIFY per queue per window
// in producers' transactions, and the trailing notifier for the rest.

import (
	"context"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
)

// Why enqueues don't all NOTIFY.
//
// A transaction that sent NOTIFY takes Postgres's cluster-wide notify lock
// at commit and holds it through its WAL flush, so notifying commits are
// serialised: with one job per transaction from a few goroutines, that
// lock, not the insert, sets the pace (pgbench here: 4,300 insert
// transactions/s without NOTIFY, 2,400/s with it).
//
// So each PostgresBackend lets one enqueue per queue per NotifyDebounce
// window carry the NOTIFY in its own transaction; that is every enqueue at
// moderate rates, so pickup latency is unchanged there. The other enqueues
// of the window skip it and hand the ID of their transaction to a trailing
// notifier, which waits for those transactions to commit and then sends one
// NOTIFY for their queues from a read-only statement that writes no WAL and
// so holds the lock only for a moment. Waiting for the commit matters: a
// worker woken by the window's first NOTIFY may claim before a skipped
// transaction commits, and a long transaction may commit much later; the
// trailing NOTIFY comes after each skipped job is visible, however late.
// Aborted transactions are dropped. If this process dies, or closes its
// pool, between a skipped transaction's commit and the trailing NOTIFY,
// the job waits for the workers' fallback poll, as it would during a
// listener outage.

const (
	// notifyDebounceDefault is PostgresOptions.NotifyDebounce's default.
	notifyDebounceDefault = 2 * time.Millisecond
	// trailMaxWait caps the back-off of the trailing notifier while it
	// only waits for transactions that stay open.
	trailMaxWait = 25 * time.Millisecond
	// trailMaxPending bounds the transactions the trailing notifier
	// tracks; past it, enqueues notify in their own transaction again.
	trailMaxPending = 10000
	// trailTimeout bounds one check of the trailing notifier.
	trailTimeout = 5 * time.Second
)

// notifyDebounce is the per-backend state of the scheme above.
type notifyDebounce struct {
	window time.Duration // <= 0: every enqueue notifies in its own transaction

	mu      sync.Mutex
	last    map[string]time.Time      // queue → when an enqueue last carried NOTIFY
	lastXid map[string]int64          // queue → the transaction of that enqueue
	pending map[int64]map[string]bool // skipping transaction → its due queues
	fresh   bool                      // pending grew since the last check
	running bool                      // the trailing notifier is running
	skipped int64                     // enqueues that left NOTIFY to the trailer (for tests)
}

// channel returns the notify channel an insert of jobs should pass: ch
// when it must notify in its own transaction (and then the window of the
// queues its due jobs go to starts now), or a null text when every such
// queue was notified within the window and the trailing notifier can take
// over.
func (d *notifyDebounce) channel(ch string, jobs []InsertParams) pgtype.Text {
	notify := pgtype.Text{String: ch, Valid: true}
	if d.window <= 0 {
		return notify
	}
	queues := dueQueues(jobs)
	if len(queues) == 0 {
		return notify
	}
	now := time.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	skip := len(d.pending) < trailMaxPending
	for _, q := range queues {
		if at, ok := d.last[q]; !ok || now.Sub(at) >= d.window {
			skip = false
		}
	}
	if skip {
		return pgtype.Text{}
	}
	if d.last == nil {
		d.last = map[string]time.Time{}
	}
	for _, q := range queues {
		d.last[q] = now
	}
	return notify
}

// notified records that transaction xid carried the NOTIFY of queue.
func (d *notifyDebounce) notified(xid int64, queue string) {
	if d.window <= 0 {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.lastXid == nil {
		d.lastXid = map[string]int64{}
	}
	d.lastXid[queue] = xid
}

// track records that transaction xid stored due jobs in queue without
// notifying, and reports whether the caller must start the trailing
// notifier. A transaction that already carries the window's NOTIFY for
// queue (a second enqueue in the same transaction) needs no trailing one.
func (d *notifyDebounce) track(xid int64, queue string) (start bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if x, ok := d.lastXid[queue]; ok && x == xid {
		return false
	}
	if d.pending == nil {
		d.pending = map[int64]map[string]bool{}
	}
	if d.pending[xid] == nil {
		d.pending[xid] = map[string]bool{}
	}
	d.pending[xid][queue] = true
	d.fresh = true
	d.skipped++
	if d.running {
		return false
	}
	d.running = true
	return true
}

// batch returns the tracked transactions, one (xid, queue) pair per due
// queue, and whether any arrived since the last batch. With nothing
// tracked it marks the trailing notifier stopped, under the same lock that
// track checks, so no transaction is left without one.
func (d *notifyDebounce) batch() (xids []int64, queues []string, fresh bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.pending) == 0 {
		d.running = false
		return nil, nil, false
	}
	for x, qs := range d.pending {
		for q := range qs {
			xids = append(xids, x)
			queues = append(queues, q)
		}
	}
	fresh, d.fresh = d.fresh, false
	return xids, queues, fresh
}

// settle forgets the checked transactions except those still open.
func (d *notifyDebounce) settle(checked []int64, open []int64) {
	keep := make(map[int64]bool, len(open))
	for _, x := range open {
		keep[x] = true
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, x := range checked {
		if !keep[x] {
			delete(d.pending, x)
		}
	}
}

// trail is the trailing notifier: it checks the tracked transactions every
// window (at most 2ms) while new ones arrive, backing off to trailMaxWait
// while only long transactions remain open, and returns when none is
// left. A failed check (the database unreachable, the pool closed) drops
// what it checked: the workers' fallback poll finds those jobs.
func (b *PostgresBackend) trail() {
	d := &b.notify
	first := min(d.window, notifyDebounceDefault)
	wait := first
	for {
		time.Sleep(wait)
		xids, queues, fresh := d.batch()
		if len(xids) == 0 {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), trailTimeout)
		var open []int64
		err := b.pool.QueryRow(ctx, b.q.NotifyCommitted, xids, queues, b.channel).Scan(nil, &open)
		cancel()
		if err != nil {
			open = nil
		}
		d.settle(xids, open)
		if fresh {
			wait = first
		} else {
			wait = min(2*wait, trailMaxWait)
		}
	}
}

// announceInsert tells the debouncer that transaction xid stored due jobs
// in queue, with its own NOTIFY or (notified false) without, in which case
// the trailing notifier announces them once xid commits.
func (b *PostgresBackend) announceInsert(xid int64, queue string, notified bool) {
	if notified {
		b.notify.notified(xid, queue)
	} else if b.notify.track(xid, queue) {
		go b.trail()
	}
}

// trailState reports how many enqueues left their NOTIFY to the trailing
// notifier, how many transactions it still tracks, and whether it runs.
func (d *notifyDebounce) trailState() (skipped int64, pending int, running bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.skipped, len(d.pending), d.running
}
