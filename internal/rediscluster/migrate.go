package rediscluster

import (
	"context"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// MoveOptions tunes MoveSlot.
type MoveOptions struct {
	// Batch is how many keys one MIGRATE carries; 0 means 10, what
	// redis-cli --cluster reshard sends by default (--cluster-pipeline).
	Batch int
	// Pause is slept between batches, to hold the slot half-migrated for
	// longer (so that clients meet ASK and TRYAGAIN replies); 0 means none.
	Pause time.Duration
}

// MoveSlot moves one hash slot, with its keys, from the node that owns it
// to the node at to, by the procedure redis-cli --cluster reshard follows:
// CLUSTER SETSLOT IMPORTING on the target and MIGRATING on the source,
// MIGRATE of the slot's keys in batches until none is left, then CLUSTER
// SETSLOT NODE on the target, the source and every other node. addrs are
// the cluster's primaries. It returns how many keys it migrated; moving a
// slot to its owner does nothing.
func MoveSlot(ctx context.Context, addrs []string, slot int, to string, opts MoveOptions) (int, error) {
	if opts.Batch <= 0 {
		opts.Batch = 10
	}
	clients := map[string]*redis.Client{}
	defer func() {
		for _, c := range clients {
			_ = c.Close()
		}
	}()
	node := func(addr string) *redis.Client {
		if c, ok := clients[addr]; ok {
			return c
		}
		c := redis.NewClient(&redis.Options{Addr: addr})
		clients[addr] = c
		return c
	}
	from, err := SlotOwner(ctx, addrs[0], slot)
	if err != nil {
		return 0, err
	}
	if from == to {
		return 0, nil
	}
	src, dst := node(from), node(to)
	srcID, err := src.Do(ctx, "CLUSTER", "MYID").Text()
	if err != nil {
		return 0, fmt.Errorf("rediscluster: CLUSTER MYID on %s: %w", from, err)
	}
	dstID, err := dst.Do(ctx, "CLUSTER", "MYID").Text()
	if err != nil {
		return 0, fmt.Errorf("rediscluster: CLUSTER MYID on %s: %w", to, err)
	}
	if err := dst.Do(ctx, "CLUSTER", "SETSLOT", slot, "IMPORTING", srcID).Err(); err != nil {
		return 0, fmt.Errorf("rediscluster: SETSLOT IMPORTING on %s: %w", to, err)
	}
	if err := src.Do(ctx, "CLUSTER", "SETSLOT", slot, "MIGRATING", dstID).Err(); err != nil {
		return 0, fmt.Errorf("rediscluster: SETSLOT MIGRATING on %s: %w", from, err)
	}
	host, port, _ := net.SplitHostPort(to)
	moved := 0
	for {
		keys, err := src.ClusterGetKeysInSlot(ctx, slot, opts.Batch).Result()
		if err != nil {
			return moved, fmt.Errorf("rediscluster: GETKEYSINSLOT %d on %s: %w", slot, from, err)
		}
		if len(keys) == 0 {
			break
		}
		args := []any{"MIGRATE", host, port, "", 0, 5000, "KEYS"}
		for _, k := range keys {
			args = append(args, k)
		}
		if err := src.Do(ctx, args...).Err(); err != nil {
			return moved, fmt.Errorf("rediscluster: MIGRATE %d keys of slot %d to %s: %w", len(keys), slot, to, err)
		}
		moved += len(keys)
		if opts.Pause > 0 {
			select {
			case <-time.After(opts.Pause):
			case <-ctx.Done():
				return moved, ctx.Err()
			}
		}
	}
	// The target first, so that it serves the slot before the source
	// starts redirecting there with MOVED.
	if err := dst.Do(ctx, "CLUSTER", "SETSLOT", slot, "NODE", dstID).Err(); err != nil {
		return moved, fmt.Errorf("rediscluster: SETSLOT NODE on %s: %w", to, err)
	}
	if err := src.Do(ctx, "CLUSTER", "SETSLOT", slot, "NODE", dstID).Err(); err != nil {
		return moved, fmt.Errorf("rediscluster: SETSLOT NODE on %s: %w", from, err)
	}
	for _, a := range addrs {
		if a == from || a == to {
			continue
		}
		if err := node(a).Do(ctx, "CLUSTER", "SETSLOT", slot, "NODE", dstID).Err(); err != nil {
			return moved, fmt.Errorf("rediscluster: SETSLOT NODE on %s: %w", a, err)
		}
	}
	return moved, nil
}

// SlotOwner asks the node at addr which primary serves slot, and returns
// that primary's address.
func SlotOwner(ctx context.Context, addr string, slot int) (string, error) {
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	ranges, err := c.ClusterSlots(ctx).Result()
	if err != nil {
		return "", fmt.Errorf("rediscluster: CLUSTER SLOTS on %s: %w", addr, err)
	}
	for _, r := range ranges {
		if slot >= int(r.Start) && slot <= int(r.End) && len(r.Nodes) > 0 {
			return r.Nodes[0].Addr, nil
		}
	}
	return "", fmt.Errorf("rediscluster: no node serves slot %d", slot)
}

// KeySlot returns the hash slot of key (CLUSTER KEYSLOT, computed here:
// CRC16 of the hash tag, or of the whole key, modulo 16384).
func KeySlot(key string) int {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			key = key[i+1 : i+1+j]
		}
	}
	return int(crc16(key) % Slots)
}

// crc16 is CRC-16/XMODEM (polynomial 0x1021, initial 0), the checksum
// Redis Cluster hashes keys with.
func crc16(s string) uint16 {
	var crc uint16
	for i := 0; i < len(s); i++ {
		crc ^= uint16(s[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}
