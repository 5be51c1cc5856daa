// Package redistest gives each test its own key prefix on one real Redis,
// so tests run in parallel without seeing each other's jobs.
//
// Redis is found, in order, at PGQUEUE_TEST_REDIS_URL (for example
// redis://127.0.0.1:6379/0); on localhost:6379; or in a Redis container
// started with testcontainers-go (needs Docker). A URL that is set but
// unusable fails the test, with what to change. With no URL and no server
// a test fails when CI=true and is skipped otherwise, with a message
// saying how to provide one. Tests never flush the database: each deletes its own
// prefix's keys when it ends.
//
// Tests that need a Redis Cluster find it at PGQUEUE_TEST_REDIS_CLUSTER_ADDRS,
// which internal/rediscluster/start.sh sets; without it they fail under
// CI=true and skip otherwise, naming that command.
package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	tcredis "github.com/testcontainers/testcontainers-go/modules/redis"

	"github.com/pgqueue/pgqueue/internal/servicetest"
	"github.com/pgqueue/pgqueue/redisqueue"
)

// EnvURL names the variable that points tests at a Redis server.
const EnvURL = "PGQUEUE_TEST_REDIS_URL"

const localURL = "redis://localhost:6379/0"

var finder = NewFinder()

// NewFinder returns a fresh finder of the test Redis (the package uses
// one; tests of the finding itself make their own). When the URL in
// PGQUEUE_TEST_REDIS_URL does not work, the error says what to change:
// a database index the server does not have, or a missing password.
func NewFinder() *servicetest.Finder {
	return &servicetest.Finder{
		Name: "Redis", Local: "localhost:6379", EnvVar: EnvURL, LocalURL: localURL, Ping: ping,
		Repair: explain, Container: startContainer,
	}
}

// explain words the errors of a Redis URL that answers but is refused.
// Redis cannot create a database, so nothing is repaired.
func explain(url string, pingErr error) error {
	msg := pingErr.Error()
	switch {
	case strings.Contains(msg, "DB index is out of range"):
		opts, err := redis.ParseURL(url)
		if err != nil {
			return pingErr
		}
		n := "16 by default"
		opts.DB = 0
		c := redis.NewClient(opts)
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		if cfg, err := c.ConfigGet(ctx, "databases").Result(); err == nil && cfg["databases"] != "" {
			n = cfg["databases"]
		}
		return fmt.Errorf("the server has no database %d (it has %s, numbered from 0; the `databases` setting in redis.conf): use a smaller index at the end of the URL (%w)", mustDB(url), n, pingErr)
	case strings.Contains(msg, "NOAUTH"), strings.Contains(msg, "WRONGPASS"):
		return fmt.Errorf("the server wants a password (or another one): put it in the URL, redis://:PASSWORD@host:port/0 (%w)", pingErr)
	}
	return pingErr
}

func mustDB(url string) int {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return -1
	}
	return opts.DB
}

// URL returns the test Redis URL. It fails the test when
// PGQUEUE_TEST_REDIS_URL is set but unusable, and when no Redis was found
// it fails (CI=true) or skips the test.
func URL(t testing.TB) string {
	t.Helper()
	return finder.URL(t)
}

// startContainer starts a Redis container for the test binary;
// testcontainers' reaper removes it when the process exits.
func startContainer() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := tcredis.Run(ctx, "redis:7-alpine")
	if err != nil {
		return "", err
	}
	return c.ConnectionString(ctx)
}
func ping(url string) error {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return err
	}
	c := redis.NewClient(opts)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	return c.Ping(ctx).Err()
}

// Options returns fresh client options for the test Redis, named name
// (CLIENT SETNAME) so that a test can find its own connections in CLIENT
// LIST.
func Options(t testing.TB, name string) *redis.Options {
	t.Helper()
	opts, err := redis.ParseURL(URL(t))
	if err != nil {
		t.Fatalf("redistest: parse %s: %v", EnvURL, err)
	}
	opts.ClientName = name
	return opts
}

// Client returns a client on the test Redis named name, closed when the
// test ends.
func Client(t testing.TB, name string) *redis.Client {
	t.Helper()
	c := redis.NewClient(Options(t, name))
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// Prefix returns a key prefix no other test uses, and deletes every key
// under it when the test ends (after the test's other cleanups, which were
// registered later and run first).
func Prefix(t testing.TB) string {
	t.Helper()
	url := URL(t)
	var b [6]byte
	_, _ = rand.Read(b[:])
	prefix := "pgqt-" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		opts, err := redis.ParseURL(url)
		if err != nil {
			return
		}
		c := redis.NewClient(opts)
		defer c.Close()
		if err := DeletePrefix(ctx, c, prefix); err != nil {
			t.Logf("redistest: delete keys of prefix %s: %v", prefix, err)
		}
	})
	return prefix
}

// DeletePrefix deletes every key of a redisqueue prefix: those tagged
// {prefix} and {prefix:queue}, on one server.
func DeletePrefix(ctx context.Context, c *redis.Client, prefix string) error {
	keys, err := Keys(ctx, c, prefix)
	if err != nil {
		return err
	}
	for len(keys) > 0 {
		n := min(len(keys), 500)
		pipe := c.Pipeline()
		for _, k := range keys[:n] {
			pipe.Del(ctx, k)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return err
		}
		keys = keys[n:]
	}
	return nil
}

// Keys lists every key of a redisqueue prefix, with SCAN of one server
// (not a cluster).
func Keys(ctx context.Context, c *redis.Client, prefix string) ([]string, error) {
	// '{' and '}' are not glob characters; the class matches the '}' of
	// {prefix} and the ':' of {prefix:queue}.
	pattern := "{" + globEscape(prefix) + "[}:]*"
	var keys []string
	iter := c.Scan(ctx, 0, pattern, 1000).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	return keys, iter.Err()
}

func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Backend returns a redisqueue Backend on the test Redis under a fresh
// prefix, with its own client named after the prefix.
func Backend(t testing.TB) *redisqueue.Backend {
	t.Helper()
	prefix := Prefix(t)
	b, err := redisqueue.New(Client(t, prefix), &redisqueue.Options{Prefix: prefix})
	if err != nil {
		t.Fatalf("redistest: new backend: %v", err)
	}
	return b
}

// EnvClusterAddrs names the variable listing the nodes of a Redis Cluster
// (host:port,host:port,...) for the tests that run on one.
// internal/rediscluster/start.sh starts a three-primary cluster on free
// loopback ports and prints the line that sets it.
const EnvClusterAddrs = "PGQUEUE_TEST_REDIS_CLUSTER_ADDRS"

// StartClusterCommand is the command that starts a cluster for the tests
// and sets PGQUEUE_TEST_REDIS_CLUSTER_ADDRS, run from the repository root.
const StartClusterCommand = `eval "$(internal/rediscluster/start.sh)"`

// ClusterAddrs returns the nodes in PGQUEUE_TEST_REDIS_CLUSTER_ADDRS.
// Unlike a standalone Redis there is no fallback: without the variable the
// test fails under CI=true and is skipped otherwise, with the command that
// starts a cluster. A cluster that is set but does not answer, or is not
// cluster_state:ok, fails the test.
func ClusterAddrs(t testing.TB) []string {
	t.Helper()
	addrs := os.Getenv(EnvClusterAddrs)
	if addrs == "" {
		msg := fmt.Sprintf("no Redis Cluster for tests: start one with %s (sets %s=host:port,...; internal/rediscluster/stop.sh stops it)", StartClusterCommand, EnvClusterAddrs)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + " [CI=true: failing instead of skipping]")
		}
		servicetest.Skip(t, msg)
	}
	list := strings.Split(addrs, ",")
	clusterOnce.Do(func() { clusterErr = clusterOK(list) })
	if clusterErr != nil {
		t.Fatalf("%s=%s is set but unusable (tests fail rather than skip then): %v", EnvClusterAddrs, addrs, clusterErr)
	}
	return list
}

var (
	clusterOnce sync.Once
	clusterErr  error
)

// clusterOK checks that the first node answers and the cluster is whole.
func clusterOK(addrs []string) error {
	c := redis.NewClient(&redis.Options{Addr: addrs[0]})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	info, err := c.ClusterInfo(ctx).Result()
	if err != nil {
		return err
	}
	if !strings.Contains(info, "cluster_state:ok") {
		return fmt.Errorf("%s reports %q, not cluster_state:ok", addrs[0], strings.SplitN(info, "\r\n", 2)[0])
	}
	return nil
}

// ClusterClient returns a cluster client on the test cluster named name
// (CLIENT SETNAME), closed when the test ends. opts, when not nil, is
// used as the base (Addrs and ClientName are set here).
func ClusterClient(t testing.TB, name string, opts *redis.ClusterOptions) *redis.ClusterClient {
	t.Helper()
	o := redis.ClusterOptions{}
	if opts != nil {
		o = *opts
	}
	o.Addrs = ClusterAddrs(t)
	o.ClientName = name
	c := redis.NewClusterClient(&o)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// ClusterPrefix returns a key prefix no other test uses, and deletes every
// key under it from every primary of the test cluster when the test ends.
func ClusterPrefix(t testing.TB) string {
	t.Helper()
	addrs := ClusterAddrs(t)
	var b [6]byte
	_, _ = rand.Read(b[:])
	prefix := "pgqt-" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
		defer c.Close()
		err := c.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
			return DeletePrefix(ctx, node, prefix)
		})
		if err != nil {
			t.Logf("redistest: delete keys of prefix %s: %v", prefix, err)
		}
	})
	return prefix
}

// ClusterBackend returns a redisqueue Backend over a cluster client on the
// nodes in PGQUEUE_TEST_REDIS_CLUSTER_ADDRS, under a fresh prefix whose
// keys are deleted from every primary when the test ends. Without the
// variable it fails under CI=true and skips otherwise (see ClusterAddrs).
func ClusterBackend(t testing.TB) *redisqueue.Backend {
	t.Helper()
	prefix := ClusterPrefix(t)
	backend, err := redisqueue.New(ClusterClient(t, prefix, nil), &redisqueue.Options{Prefix: prefix})
	if err != nil {
		t.Fatalf("redistest: new backend: %v", err)
	}
	return backend
}
