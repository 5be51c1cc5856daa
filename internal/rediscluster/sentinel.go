package rediscluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// MasterName is the name the sentinels of StartSentinel monitor the
// primary under, for redis.FailoverOptions.MasterName.
const MasterName = "pgqt-primary"

// Sentinel is a primary, its replica and three sentinels watching them,
// started by StartSentinel.
type Sentinel struct {
	// Primary and Replica are the data servers as started; after a
	// failover the replica is the primary.
	Primary, Replica *Server
	// Sentinels are the three sentinels; a failover needs two to agree.
	Sentinels []*Server
	// DownAfter is how long the sentinels wait for the primary to answer
	// before they consider it down.
	DownAfter time.Duration
}

// SentinelAddrs returns the sentinels' addresses, for
// redis.FailoverOptions.SentinelAddrs.
func (s *Sentinel) SentinelAddrs() []string {
	out := make([]string, len(s.Sentinels))
	for i, n := range s.Sentinels {
		out[i] = n.Addr
	}
	return out
}

// Stop kills every process of the setup.
func (s *Sentinel) Stop() {
	for _, n := range s.Sentinels {
		n.Stop()
	}
	if s.Replica != nil {
		s.Replica.Stop()
	}
	if s.Primary != nil {
		s.Primary.Stop()
	}
}

// StartSentinel starts, in dir, a primary, a replica of it and three
// sentinels monitoring it as MasterName with a quorum of two, a
// down-after of one second and a failover timeout of ten. It returns when
// the replica is in sync and every sentinel has found the replica and the
// two other sentinels, so that a failover can start as soon as the
// primary dies. On error everything started is stopped.
func StartSentinel(ctx context.Context, dir string) (*Sentinel, error) {
	s := &Sentinel{DownAfter: time.Second}
	fail := func(err error) (*Sentinel, error) {
		s.Stop()
		return nil, err
	}
	var err error
	if s.Primary, err = StartServer(ctx, dir, false); err != nil {
		return fail(err)
	}
	if s.Replica, err = StartServer(ctx, dir, false, "--replicaof", "127.0.0.1", strconv.Itoa(s.Primary.Port)); err != nil {
		return fail(err)
	}
	for i := range 3 {
		conf := filepath.Join(dir, fmt.Sprintf("sentinel-%d.conf", i))
		text := fmt.Sprintf("sentinel monitor %[1]s 127.0.0.1 %[2]d 2\n"+
			"sentinel down-after-milliseconds %[1]s %[3]d\n"+
			"sentinel failover-timeout %[1]s 10000\n"+
			"sentinel parallel-syncs %[1]s 1\n",
			MasterName, s.Primary.Port, s.DownAfter.Milliseconds())
		if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
			return fail(fmt.Errorf("rediscluster: write %s: %w", conf, err))
		}
		n, err := StartServer(ctx, dir, false, conf, "--sentinel")
		if err != nil {
			return fail(err)
		}
		s.Sentinels = append(s.Sentinels, n)
	}
	if err := s.waitReady(ctx, 30*time.Second); err != nil {
		return fail(err)
	}
	return s, nil
}

// waitReady waits for the replica's link to be up and for every sentinel
// to know the replica and the other sentinels.
func (s *Sentinel) waitReady(ctx context.Context, within time.Duration) error {
	deadline := time.Now().Add(within)
	rep := redis.NewClient(&redis.Options{Addr: s.Replica.Addr})
	defer rep.Close()
	for {
		why := ""
		info, err := rep.Info(ctx, "replication").Result()
		switch {
		case err != nil:
			why = "replica: " + err.Error()
		case !strings.Contains(info, "master_link_status:up"):
			why = "the replica is not in sync yet"
		default:
			for _, n := range s.Sentinels {
				if w := s.sentinelReady(ctx, n.Addr); w != "" {
					why = w
					break
				}
			}
		}
		if why == "" {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("rediscluster: sentinel setup not ready after %v: %s", within, why)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *Sentinel) sentinelReady(ctx context.Context, addr string) string {
	c := redis.NewSentinelClient(&redis.Options{Addr: addr})
	defer c.Close()
	replicas, err := c.Replicas(ctx, MasterName).Result()
	if err != nil {
		return addr + ": " + err.Error()
	}
	if len(replicas) == 0 {
		return addr + " has not found the replica yet"
	}
	others, err := c.Sentinels(ctx, MasterName).Result()
	if err != nil {
		return addr + ": " + err.Error()
	}
	if len(others) < len(s.Sentinels)-1 {
		return addr + " has not found the other sentinels yet"
	}
	return ""
}

// MasterAddr asks the first sentinel that answers where the primary is
// now.
func (s *Sentinel) MasterAddr(ctx context.Context) (string, error) {
	var lastErr error
	for _, n := range s.Sentinels {
		c := redis.NewSentinelClient(&redis.Options{Addr: n.Addr})
		addr, err := c.GetMasterAddrByName(ctx, MasterName).Result()
		_ = c.Close()
		if err == nil && len(addr) == 2 {
			return addr[0] + ":" + addr[1], nil
		}
		lastErr = err
	}
	return "", fmt.Errorf("rediscluster: no sentinel named the primary: %w", lastErr)
}

// WaitPromoted waits until the sentinels name the replica as the primary
// and the replica says it is one, and returns how long that took.
func (s *Sentinel) WaitPromoted(ctx context.Context, within time.Duration) (time.Duration, error) {
	start := time.Now()
	rep := redis.NewClient(&redis.Options{Addr: s.Replica.Addr})
	defer rep.Close()
	for {
		addr, _ := s.MasterAddr(ctx)
		if addr == s.Replica.Addr {
			info, err := rep.Info(ctx, "replication").Result()
			if err == nil && strings.Contains(info, "role:master") {
				return time.Since(start), nil
			}
		}
		if time.Since(start) > within || ctx.Err() != nil {
			return time.Since(start), fmt.Errorf("rediscluster: the replica %s was not promoted within %v (sentinels name %q)", s.Replica.Addr, within, addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
