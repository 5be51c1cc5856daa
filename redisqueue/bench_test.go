package redisqueue_test

import (
	"testing"

	"github.com/pgqueue/pgqueue"
	"github.com/pgqueue/pgqueue/internal/pgtest"
	"github.com/pgqueue/pgqueue/internal/redistest"
	"github.com/pgqueue/pgqueue/queuetest"
)

// The benchmarks run Redis and Postgres in the same process and the same
// run, so the README can set their figures side by side:
//
//	go test -run '^$' -bench . -benchtime 5000x ./redisqueue/
//
// Each backend gets a fresh store (a key prefix, a migrated schema).

func benchBackends() []queuetest.BenchBackend {
	return []queuetest.BenchBackend{
		{Name: "redis", New: func(b *testing.B) pgqueue.Backend { return redistest.Backend(b) }},
		{Name: "postgres", New: func(b *testing.B) pgqueue.Backend { return pgtest.Backend(b) }},
	}
}

// BenchmarkEnqueue measures one job per Enqueue call.
func BenchmarkEnqueue(b *testing.B) { queuetest.BenchmarkEnqueue(b, benchBackends()) }

// BenchmarkEnqueueMany100 measures jobs enqueued 100 per call; per job.
func BenchmarkEnqueueMany100(b *testing.B) { queuetest.BenchmarkEnqueueMany(b, benchBackends(), 100) }

// BenchmarkWork measures end-to-end throughput with 50 workers.
func BenchmarkWork(b *testing.B) { queuetest.BenchmarkWork(b, benchBackends(), 50) }
