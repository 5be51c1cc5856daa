package rediscluster_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/pgqueue/pgqueue/internal/rediscluster"
)

func needServer(t *testing.T) {
	t.Helper()
	if _, err := rediscluster.ServerBinary(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
}

// A two-node cluster comes up, KeySlot agrees with CLUSTER KEYSLOT, and
// MoveSlot moves a slot's keys to the other node, where a cluster client
// then finds them.
func TestClusterAndMoveSlot(t *testing.T) {
	t.Parallel()
	needServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := rediscluster.StartCluster(ctx, t.TempDir(), 2)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs()})
	defer rdb.Close()
	for _, key := range []string{"a", "{pgq:mail}:job:1", "x{}y", "{}{z}", "foo{bar}baz"} {
		want, err := rdb.ClusterKeySlot(ctx, key).Result()
		if err != nil {
			t.Fatal(err)
		}
		if got := rediscluster.KeySlot(key); int64(got) != want {
			t.Fatalf("KeySlot(%q) = %d, but Redis says %d", key, got, want)
		}
	}
	slot := rediscluster.KeySlot("{moving}")
	for i := range 25 {
		if err := rdb.Set(ctx, fmt.Sprintf("{moving}:%d", i), i, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	from, err := rediscluster.SlotOwner(ctx, c.Addrs()[0], slot)
	if err != nil {
		t.Fatal(err)
	}
	to := c.Addrs()[0]
	if from == to {
		to = c.Addrs()[1]
	}
	moved, err := rediscluster.MoveSlot(ctx, c.Addrs(), slot, to, rediscluster.MoveOptions{Batch: 7})
	if err != nil {
		t.Fatal(err)
	}
	if moved != 25 {
		t.Fatalf("MoveSlot migrated %d keys, want the slot's 25", moved)
	}
	if owner, _ := rediscluster.SlotOwner(ctx, from, slot); owner != to {
		t.Fatalf("after the move the old owner says slot %d is on %s, want %s", slot, owner, to)
	}
	for i := range 25 {
		if v, err := rdb.Get(ctx, fmt.Sprintf("{moving}:%d", i)).Int(); err != nil || v != i {
			t.Fatalf("key {moving}:%d after the move: %v %v", i, v, err)
		}
	}
}

// The sentinel setup comes up ready, and killing the primary promotes the
// replica.
func TestSentinelPromotes(t *testing.T) {
	t.Parallel()
	needServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	s, err := rediscluster.StartSentinel(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	if addr, err := s.MasterAddr(ctx); err != nil || addr != s.Primary.Addr {
		t.Fatalf("the sentinels name %q (%v) as the primary, want %s", addr, err, s.Primary.Addr)
	}
	s.Primary.Kill()
	took, err := s.WaitPromoted(ctx, 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("replica promoted %v after the primary was killed", took.Round(time.Millisecond))
}
