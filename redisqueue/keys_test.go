package redisqueue_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgqueue/pgqueue"
	"github.com/pgqueue/pgqueue/internal/redistest"
	"github.com/pgqueue/pgqueue/redisqueue"
)

// Every key of one queue carries the tag {prefix:queue}, so all of them
// hash to one cluster slot and each script touches a single slot; the
// prefix's own keys carry {prefix}. Standalone Redis has no CLUSTER
// KEYSLOT, so the slot is computed here as Redis Cluster does.
func TestKeysOfAQueueShareOneSlot(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := redistest.Backend(t)
	queues := []string{"mail", "billing.v2:eu-1"}
	var all []pgqueue.InsertParams
	for _, q := range queues {
		for _, kind := range []string{"a", "b.c"} {
			now := pgqueue.InsertParams{Kind: kind, Queue: q, Priority: 5, Args: []byte(`{}`), MaxAttempts: 2}
			later := now
			later.RunAt = time.Now().Add(time.Hour)
			all = append(all, now, now, later)
		}
	}
	_, err := b.Insert(ctx, all)
	require.NoError(t, err)
	// Leave each queue with running and dead jobs of both kinds too.
	for _, q := range queues {
		rows, err := b.Claim(ctx, pgqueue.ClaimParams{Queue: q, Kinds: []string{"a", "b.c"}, Limit: 2, Lease: time.Minute})
		require.NoError(t, err)
		require.Len(t, rows, 2)
		require.NoError(t, b.DeadLetter(ctx, rows[0].Ref(), pgqueue.AttemptError{Kind: "permanent"}))
	}
	_, err = b.Rescue(ctx, pgqueue.AttemptError{})
	require.NoError(t, err)

	keys, err := redistest.Keys(ctx, admin(t), b.Prefix())
	require.NoError(t, err)
	slotOf := map[string]int{}
	suffixes := map[string][]string{}
	for _, k := range keys {
		tag := hashTag(k)
		require.NotEmpty(t, tag, "key %q has no hash tag", k)
		if tag == b.Prefix() {
			suffix := k[len(tag)+3:]
			if strings.HasPrefix(suffix, "insert:") {
				suffix = "insert:<guard>" // one per Insert call, expiring
			}
			if !slices.Contains(suffixes[""], suffix) {
				suffixes[""] = append(suffixes[""], suffix)
			}
			continue
		}
		q, ok := strings.CutPrefix(tag, b.Prefix()+":")
		require.True(t, ok, "key %q is tagged %q, neither {prefix} nor {prefix:queue}", k, tag)
		require.Contains(t, queues, q, "key %q names a queue that got no job", k)
		slot := keySlot(k)
		if s, seen := slotOf[q]; seen {
			require.Equal(t, s, slot, "key %q is in another slot than the other keys of queue %q", k, q)
		}
		slotOf[q] = slot
		suffixes[q] = append(suffixes[q], strings.SplitN(k[len(tag)+3:], ":", 2)[0])
	}
	require.Len(t, slotOf, len(queues), "every queue has keys")
	for _, q := range queues {
		for _, want := range []string{"job", "avail", "sched", "running", "dead"} {
			require.Contains(t, suffixes[q], want, "queue %q should have a %s key", q, want)
		}
	}
	require.ElementsMatch(t, []string{"ids", "queues", "queue-index", "insert:<guard>"}, suffixes[""], "the prefix's own keys (the rescue lock is released)")
	require.Equal(t, keySlot("{"+b.Prefix()+":mail}:x"), keySlot("{"+b.Prefix()+":mail}:job:1"), "the slot depends on the tag only")
}

func TestHashSlotFunction(t *testing.T) {
	t.Parallel()
	// Reference values from the Redis Cluster specification's CRC16
	// (XMODEM): CRC16("123456789") = 0x31C3.
	require.Equal(t, 0x31C3%16384, keySlot("123456789"))
	require.Equal(t, keySlot("{user1000}.following"), keySlot("{user1000}.followers"))
	require.Equal(t, keySlot("foo{}{bar}"), keySlot("foo{}{bar}"), "an empty tag hashes the whole key")
	require.Equal(t, "", hashTag("foo{}{bar}"))
}

// hashTag returns what Redis Cluster hashes: the text between the first
// '{' and the next '}', when non-empty; "" when the whole key is hashed.
func hashTag(key string) string {
	open := strings.IndexByte(key, '{')
	if open < 0 {
		return ""
	}
	end := strings.IndexByte(key[open+1:], '}')
	if end <= 0 {
		return ""
	}
	return key[open+1 : open+1+end]
}

// keySlot is Redis Cluster's HASH_SLOT: CRC16 (XMODEM) of the hash tag,
// or of the whole key without one, modulo 16384.
func keySlot(key string) int {
	if tag := hashTag(key); tag != "" {
		key = tag
	}
	var crc uint16
	for i := 0; i < len(key); i++ {
		crc ^= uint16(key[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return int(crc) % 16384
}

// twoInstances is a backend made of two redisqueue Backends on one prefix,
// as two processes would be: the second answers every call that takes a
// JobRef, with none of the first's in-process knowledge of queue indexes.
type twoInstances struct {
	*redisqueue.Backend
	other *redisqueue.Backend
}

func (b twoInstances) Complete(ctx context.Context, refs []pgqueue.JobRef) ([]pgqueue.JobRef, error) {
	return b.other.Complete(ctx, refs)
}

func (b twoInstances) Heartbeat(ctx context.Context, refs []pgqueue.JobRef, lease time.Duration) ([]pgqueue.JobRef, error) {
	return b.other.Heartbeat(ctx, refs, lease)
}

func (b twoInstances) Reschedule(ctx context.Context, ref pgqueue.JobRef, p pgqueue.RescheduleParams) error {
	return b.other.Reschedule(ctx, ref, p)
}

func (b twoInstances) DeadLetter(ctx context.Context, ref pgqueue.JobRef, info pgqueue.AttemptError) error {
	return b.other.DeadLetter(ctx, ref, info)
}
