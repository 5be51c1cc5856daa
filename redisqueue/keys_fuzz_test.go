package redisqueue

import (
	"testing"

	"github.com/redis/go-redis/v9"
)

// FuzzKeysAreInjective checks that two distinct (prefix, queue) pairs that
// New and validQueue accept never share a key: not a queue key (every one
// of which starts with the queue's tag), not a prefix-wide key, and not
// the wake-up channel. Prefix "app" with queue "tenant:mail" and prefix
// "app:tenant" with queue "mail" once shared every key.
func FuzzKeysAreInjective(f *testing.F) {
	f.Add("app", "tenant:mail", "app:tenant", "mail")
	f.Add("pgqueue", "default", "pgqueue", "default:x")
	f.Add("a", "b", "a:b", "c")
	f.Add("p", "wake", "p:wake", "q")
	f.Add("x", "y}z", "x", "y")
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}) // never dialled
	defer client.Close()
	f.Fuzz(func(t *testing.T, p1, q1, p2, q2 string) {
		b1, err1 := New(client, &Options{Prefix: p1})
		b2, err2 := New(client, &Options{Prefix: p2})
		if err1 != nil || err2 != nil || validQueue(q1) != nil || validQueue(q2) != nil {
			return
		}
		k1, k2 := b1.queue(q1), b2.queue(q2)
		same := b1.prefix == b2.prefix && q1 == q2
		if !same && k1.tag == k2.tag {
			t.Fatalf("prefix %q queue %q and prefix %q queue %q share the hash tag %q", b1.prefix, q1, b2.prefix, q2, k1.tag)
		}
		if b1.prefix != b2.prefix {
			if b1.k.tag == b2.k.tag || b1.channel == b2.channel {
				t.Fatalf("prefixes %q and %q share keys (%q) or wake channel (%q)", b1.prefix, b2.prefix, b1.k.tag, b1.channel)
			}
		}
		// A queue's tag is never a prefix-wide tag, whatever the pair.
		if k1.tag == b2.k.tag || k2.tag == b1.k.tag {
			t.Fatalf("a queue tag equals a prefix tag: %q / %q, %q / %q", k1.tag, b2.k.tag, k2.tag, b1.k.tag)
		}
	})
}
