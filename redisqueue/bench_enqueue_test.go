package redisqueue_test

import (
	"context"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/pgqueue/pgqueue"
	"github.com/pgqueue/pgqueue/internal/redistest"
)

// benchJob is the one-job benchmarks' no-op job.
type benchJob struct {
	Seq int64 `json:"seq"`
}

func (benchJob) Kind() string { return "redisqueue.bench" }

// BenchmarkEnqueueOneParallel measures one job per Enqueue call from 8
// goroutines (the asynq comparison's enqueue row), where concurrent
// one-job inserts share script calls. Besides jobs/s it reports the Redis
// server's time per script call and per job (INFO commandstats, evalsha
// usec), which the rest of the machine's load disturbs less than wall
// time; it counts every client's scripts, so run it on a Redis of its own:
//
//	PGQUEUE_TEST_REDIS_URL=redis://127.0.0.1:6391/0 go test -run '^$' -bench EnqueueOne ./redisqueue/
func BenchmarkEnqueueOneParallel(b *testing.B) {
	benchEnqueueOne(b, 8)
}

// BenchmarkEnqueueOneSerial is the same from one goroutine: every call
// goes alone, through enqueue_lean.lua.
func BenchmarkEnqueueOneSerial(b *testing.B) {
	benchEnqueueOne(b, 1)
}

func benchEnqueueOne(b *testing.B, goroutines int) {
	ctx := context.Background()
	c, err := pgqueue.New(redistest.Backend(b), pgqueue.Config{})
	if err != nil {
		b.Fatal(err)
	}
	adm := redistest.Client(b, "pgqt-bench-admin")
	if _, err := c.Enqueue(ctx, benchJob{}, nil); err != nil { // loads the script
		b.Fatal(err)
	}
	if err := adm.ConfigResetStat(ctx).Err(); err != nil {
		b.Fatal(err)
	}
	// RunParallel runs parallelism * GOMAXPROCS goroutines.
	procs := runtime.GOMAXPROCS(0)
	b.SetParallelism((goroutines + procs - 1) / procs)
	var seq atomic.Int64
	redis0, proc0 := redisCPU(b, adm), procCPU()
	b.ResetTimer()
	if goroutines == 1 {
		for i := 0; i < b.N; i++ {
			if _, err := c.Enqueue(ctx, benchJob{Seq: int64(i)}, nil); err != nil {
				b.Fatal(err)
			}
		}
	} else {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := c.Enqueue(ctx, benchJob{Seq: seq.Add(1)}, nil); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	b.StopTimer()
	redisUsed, procUsed := redisCPU(b, adm)-redis0, procCPU()-proc0
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(b.N)/s, "jobs/s")
	}
	calls, usec := evalshaStats(b, adm)
	if calls > 0 {
		b.ReportMetric(usec/float64(calls), "redis-µs/call")
		b.ReportMetric(usec/float64(b.N), "redis-µs/job")
	}
	// CPU time per job, both sides: on a machine whose cores the client
	// and Redis share, their sum bounds the rate more than either alone.
	b.ReportMetric(redisUsed.Seconds()*1e6/float64(b.N), "redis-cpu-µs/job")
	b.ReportMetric(procUsed.Seconds()*1e6/float64(b.N), "client-cpu-µs/job")
}

// redisCPU reads the Redis server's CPU time (user and system) from INFO
// cpu.
func redisCPU(b *testing.B, adm *redis.Client) time.Duration {
	info, err := adm.Info(context.Background(), "cpu").Result()
	if err != nil {
		b.Fatal(err)
	}
	var total float64
	for _, line := range strings.Split(info, "\r\n") {
		k, v, _ := strings.Cut(line, ":")
		if k == "used_cpu_sys" || k == "used_cpu_user" {
			f, _ := strconv.ParseFloat(v, 64)
			total += f
		}
	}
	return time.Duration(total * float64(time.Second))
}

// procCPU is this process's CPU time (user and system).
func procCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// evalshaStats reads the calls and total µs of EVALSHA from INFO
// commandstats.
func evalshaStats(b *testing.B, adm *redis.Client) (calls int64, usec float64) {
	info, err := adm.Info(context.Background(), "commandstats").Result()
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(info, "\r\n") {
		rest, ok := strings.CutPrefix(line, "cmdstat_evalsha:")
		if !ok {
			continue
		}
		for _, kv := range strings.Split(rest, ",") {
			k, v, _ := strings.Cut(kv, "=")
			switch k {
			case "calls":
				calls, _ = strconv.ParseInt(v, 10, 64)
			case "usec":
				usec, _ = strconv.ParseFloat(v, 64)
			}
		}
	}
	return calls, usec
}
