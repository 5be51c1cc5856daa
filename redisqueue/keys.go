package redisqueue

import (
	"fmt"
	"strings"

	"github.com/pgqueue/pgqueue"
)

// Key construction. Every key of queue Q under prefix P starts with the
// hash tag {P:Q}, and every prefix-wide key with {P}. Two backends sharing
// a database must never build the same key for different (P, Q) pairs, or
// one's insert lands on the other's job and is lost. The tag is injective
// because:
//
//   - P holds no ':', '{' or '}', so the first ':' inside the braces ends
//     P, and Q is the rest: "{app:tenant:mail}" can only be P "app" with
//     Q "tenant:mail" (P "app:tenant" is refused);
//   - Q holds no '{' or '}', so the first '}' ends the tag, and what
//     follows it (":job:<id>", ":avail:<kind>", ...) cannot change which
//     (P, Q) the key belongs to;
//   - a prefix-wide tag {P} has no ':' inside, a queue tag always has one,
//     so the two kinds of tag never meet.
//
// FuzzKeysAreInjective checks this.

// validPrefix refuses a prefix that would let two (prefix, queue) pairs
// share a key. ':' is refused rather than escaped: queue names may hold
// ':' (and are used as they are in keys operators read), so the only
// separator left free is the prefix's; escaping it would silently move the
// keys of every existing deployment whose prefix holds a ':' (their jobs
// would seem to vanish), while refusing it fails loudly at New.
func validPrefix(prefix string) error {
	if prefix == "" || strings.ContainsAny(prefix, "{}:") {
		return fmt.Errorf("%w: redisqueue: Prefix %q must be non-empty and contain no '{', '}' or ':' (':' separates prefix and queue in keys, so prefix \"app:eu\" could share keys with prefix \"app\")",
			pgqueue.ErrInvalidConfig, prefix)
	}
	return nil
}

// validQueue refuses queue names that would break the hash tag.
func validQueue(name string) error {
	if name == "" || strings.ContainsAny(name, "{}") {
		return fmt.Errorf("%w: redisqueue: queue name %q must be non-empty and contain no '{' or '}'", pgqueue.ErrInvalidArgs, name)
	}
	return nil
}

// prefixTag is the hash tag of a prefix's own keys.
func prefixTag(prefix string) string { return "{" + prefix + "}" }

// queueTag is the hash tag of every key of one queue.
func queueTag(prefix, queue string) string { return "{" + prefix + ":" + queue + "}" }
