package redisqueue

import (
	"context"
	"errors"
	"net"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/pgqueue/pgqueue"
)

const (
	// listenPingEvery is how long Listen waits in silence before it pings
	// its connection; a ping unanswered for as long again means the
	// connection is dead (half-open) and is replaced.
	listenPingEvery = 15 * time.Second
	// listenBackoffMin and listenBackoffMax bound the wait between
	// attempts to resubscribe while Redis is unreachable.
	listenBackoffMin = 50 * time.Millisecond
	listenBackoffMax = 5 * time.Second
)

// Listen blocks until ctx ends, calling wake with a queue's name when jobs
// became available in it (by Insert, Reschedule without delay, PromoteDue,
// Rescue or RequeueDead, in any process using the same prefix), and with ""
// each time it has (re)subscribed, so that the caller polls every queue for
// what was published while it was not listening.
//
// It holds one pub/sub connection of its own. When the connection fails,
// or stays silent and does not answer a ping, Listen subscribes again on a
// new one, waiting between attempts (50ms doubling up to 5s) while Redis
// is unreachable; it never gives up. wake runs on Listen's goroutine.
// It returns nil when ctx ends, and an error only when wake is nil.
func (b *Backend) Listen(ctx context.Context, wake func(queue string)) error {
	if wake == nil {
		return errors.New("redisqueue: Listen: wake must not be nil")
	}
	pgqueue.Reconnect(ctx, listenBackoffMin, listenBackoffMax, func(ctx context.Context) bool {
		return b.listenOnce(ctx, wake)
	})
	return nil
}

// listenOnce subscribes on a fresh connection and delivers wake-ups until
// the connection fails or ctx ends. It reports whether it got as far as a
// confirmed subscription.
func (b *Backend) listenOnce(ctx context.Context, wake func(queue string)) (subscribed bool) {
	ps := b.rdb.Subscribe(ctx, b.channel)
	// Closing the PubSub is what interrupts a blocked read when ctx ends.
	stop := context.AfterFunc(ctx, func() { _ = ps.Close() })
	defer func() {
		stop()
		_ = ps.Close()
	}()
	pinged := false
	for {
		msg, err := ps.ReceiveTimeout(ctx, listenPingEvery)
		if err != nil {
			if ctx.Err() != nil || !isTimeout(err) || pinged {
				return subscribed
			}
			if ps.Ping(ctx) != nil {
				return subscribed
			}
			pinged = true
			continue
		}
		pinged = false
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				subscribed = true
				wake("")
			}
		case *redis.Message:
			wake(m.Payload)
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
