package main

import (
	"context"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// cpuMeter reads the CPU time the Redis server and this process have used,
// so that a workload can report both per job. Wall-clock rates on a
// machine shared by Redis, the client and everything else move by tens of
// per cent from run to run; CPU per job moves far less, and on two cores
// the sum of both sides bounds the rate. rdb nil (a cluster) measures the
// process alone.
type cpuMeter struct {
	rdb *redis.Client
}

// cpuSample is one reading: the server's and the process's CPU time so far.
type cpuSample struct {
	redis, proc time.Duration
	redisOK     bool
}

// sample reads both clocks; a failed INFO leaves the server's unknown.
func (m cpuMeter) sample(ctx context.Context) cpuSample {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	s := cpuSample{proc: time.Duration(ru.Utime.Nano() + ru.Stime.Nano())}
	if m.rdb == nil {
		return s
	}
	s.redis, s.redisOK = serverCPU(ctx, m.rdb)
	return s
}

// serverCPU reads the CPU time (user and system) one Redis server has
// used since it started; false when INFO fails or says no such thing.
func serverCPU(ctx context.Context, rdb *redis.Client) (time.Duration, bool) {
	info, err := rdb.Info(ctx, "cpu").Result()
	if err != nil {
		return 0, false
	}
	var secs float64
	found := 0
	for line := range strings.SplitSeq(info, "\r\n") {
		k, v, _ := strings.Cut(line, ":")
		if k == "used_cpu_sys" || k == "used_cpu_user" {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return 0, false
			}
			secs += f
			found++
		}
	}
	return time.Duration(secs * float64(time.Second)), found == 2
}

// perJob sets r's CPU per job from two samples around its n jobs.
func (r *result) perJob(before, after cpuSample, n int64) {
	r.clientCPU = float64((after.proc - before.proc).Microseconds()) / float64(n)
	r.redisCPU = -1
	if before.redisOK && after.redisOK {
		r.redisCPU = float64((after.redis - before.redis).Microseconds()) / float64(n)
	}
	r.cpu = true
}
