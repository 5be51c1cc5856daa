package redisqueue_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/pgqueue/pgqueue"
	"github.com/pgqueue/pgqueue/internal/redistest"
	"github.com/pgqueue/pgqueue/redisqueue"
)

// admin returns a client for inspecting Redis behind a backend's back. Its
// name differs from every backend's, so killing a backend's connections
// never kills it.
func admin(t testing.TB) *redis.Client {
	t.Helper()
	return redistest.Client(t, "pgqt-admin")
}

// killConnections kills every connection named name (CLIENT KILL by ID of
// the entries of CLIENT LIST with that name), and returns how many. Only
// the test's own connections carry its name.
func killConnections(t testing.TB, adm *redis.Client, name string) int {
	t.Helper()
	ctx := context.Background()
	list, err := adm.ClientList(ctx).Result()
	require.NoError(t, err, "CLIENT LIST")
	killed := 0
	for _, line := range strings.Split(list, "\n") {
		var id, n string
		for _, field := range strings.Fields(line) {
			if v, ok := strings.CutPrefix(field, "id="); ok {
				id = v
			}
			if v, ok := strings.CutPrefix(field, "name="); ok {
				n = v
			}
		}
		if n != name || id == "" {
			continue
		}
		if _, err := strconv.ParseInt(id, 10, 64); err != nil {
			continue
		}
		// The client may be gone already: a kill of nobody is fine.
		if adm.Do(ctx, "CLIENT", "KILL", "ID", id).Err() == nil {
			killed++
		}
	}
	return killed
}

// jobKey is the hash of job id in queue, as the package documents it.
func jobKey(b *redisqueue.Backend, queue string, id int64) string {
	return "{" + b.Prefix() + ":" + queue + "}:job:" + strconv.FormatInt(id, 10)
}

// insertOne stores one job of kind in queue "default" and returns its ID.
func insertOne(t testing.TB, b pgqueue.Backend, kind string, runAt time.Time) int64 {
	t.Helper()
	ids, err := b.Insert(context.Background(), []pgqueue.InsertParams{{
		Kind: kind, Queue: pgqueue.DefaultQueue, Priority: pgqueue.DefaultPriority,
		Args: []byte(`{"seq":1}`), MaxAttempts: 3, RunAt: runAt,
	}})
	require.NoError(t, err, "Insert")
	return ids[0]
}

// waitUntil polls cond every 10ms for up to 10s.
func waitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	require.Eventually(t, cond, 10*time.Second, 10*time.Millisecond, "timed out waiting for %s", what)
}
