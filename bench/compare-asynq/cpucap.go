package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// cpuCap holds a Redis server to a share of one core with a Linux CPU
// cgroup of its own (v1's cpu controller at /sys/fs/cgroup/cpu, else v2's
// cpu.max under /sys/fs/cgroup), so that Redis, not the client, is what
// limits a run: the regime where more primaries pay, which a machine whose
// cores the client fills cannot otherwise show. It needs root.
type cpuCap struct {
	dir string
}

// capServer moves the Redis server behind rdb (its process_id from INFO)
// into a new cgroup named name with a quota of share cores.
func capServer(ctx context.Context, rdb *redis.Client, name string, share float64) (*cpuCap, error) {
	pid, err := serverPID(ctx, rdb)
	if err != nil {
		return nil, err
	}
	const period = 100000 // µs
	quota := int(share * period)
	var files map[string]string
	var dir string
	switch {
	case writable("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"):
		dir = filepath.Join("/sys/fs/cgroup/cpu", name)
		files = map[string]string{"cpu.cfs_period_us": strconv.Itoa(period), "cpu.cfs_quota_us": strconv.Itoa(quota)}
	case writable("/sys/fs/cgroup/cgroup.subtree_control"):
		dir = filepath.Join("/sys/fs/cgroup", name)
		files = map[string]string{"cpu.max": fmt.Sprintf("%d %d", quota, period)}
	default:
		return nil, errors.New("--primary-cpu needs a writable CPU cgroup (cgroup v1 /sys/fs/cgroup/cpu or v2 /sys/fs/cgroup, as root)")
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create cgroup: %w", err)
	}
	c := &cpuCap{dir: dir}
	for f, v := range files {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(v), 0); err != nil {
			c.remove()
			return nil, fmt.Errorf("cgroup %s: %w", f, err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0); err != nil {
		c.remove()
		return nil, fmt.Errorf("move redis-server %d into its cgroup: %w", pid, err)
	}
	return c, nil
}

// remove deletes the cgroup; the kernel refuses while a process is in it,
// so it is called after the server stopped (a leftover empty group is
// harmless).
func (c *cpuCap) remove() { _ = os.Remove(c.dir) }

func serverPID(ctx context.Context, rdb *redis.Client) (int, error) {
	info, err := rdb.Info(ctx, "server").Result()
	if err != nil {
		return 0, fmt.Errorf("read the server's process ID: %w", err)
	}
	for line := range strings.SplitSeq(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "process_id:"); ok {
			return strconv.Atoi(v)
		}
	}
	return 0, errors.New("INFO server has no process_id")
}

func writable(path string) bool {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return false
	}
	f.Close()
	return true
}
