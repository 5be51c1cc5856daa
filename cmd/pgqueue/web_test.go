package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/pgqueue/pgqueue"
	"github.com/pgqueue/pgqueue/internal/redistest"
	"github.com/pgqueue/pgqueue/redisqueue"
)

// runRaw runs the built binary with exactly args (no --database-url
// added), with DATABASE_URL cleared, and returns what it printed and its
// exit code.
func runRaw(t *testing.T, args ...string) result {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), "DATABASE_URL=")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else {
		require.NoError(t, err, "run pgqueue %v", args)
	}
	return result{out.String(), errb.String(), code}
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "users")
	require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
	return p
}

func TestCLIWebRefusesToServeUnprotectedOnANonLoopbackAddress(t *testing.T) {
	t.Parallel()
	// None of these reaches the database: the flags are refused first.
	const db = "postgres://nobody@127.0.0.1:1/none"
	for _, addr := range []string{"0.0.0.0:0", ":8080", "[::]:0", "example.com:8080", "192.0.2.10:8080"} {
		fails(t, cli(t, db, "public", "web", "--addr", addr), "web --addr "+addr, "refusing to serve the dashboard on "+addr+", which is not a loopback address, without authentication: pass --basic-auth-file FILE (lines user:password) or --read-only")
	}
	fails(t, cli(t, db, "public", "web", "--addr", "nope"), "web --addr nope", `--addr "nope" is not host:port`)
	fails(t, cli(t, db, "public", "web", "--addr", "0.0.0.0:0", "--basic-auth-file", "/does/not/exist"), "missing auth file", "--basic-auth-file: open /does/not/exist")
	fails(t, cli(t, db, "public", "web", "--addr", "0.0.0.0:0", "--basic-auth-file", writeFile(t, "# ops\nada:secret\nbob\n")), "malformed auth file", "line 3: want user:password")
	fails(t, cli(t, db, "public", "web", "--addr", "0.0.0.0:0", "--basic-auth-file", writeFile(t, "# nobody\n\n")), "empty auth file", "holds no user:password line")
	fails(t, cli(t, db, "public", "web", "extra"), "web extra", "takes no arguments")
	r := cli(t, db, "public", "web", "--addr", "0.0.0.0:0", "--read-only")
	fails(t, r, "read-only on a wildcard address passes the check, then needs the database", "cannot reach the database")
}

// serve starts `pgqueue web` with args and returns its base URL; it is
// interrupted (as Ctrl-C would) when the test ends, and must exit 0.
func serve(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), "DATABASE_URL=")
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	lines := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		lines <- line
		_, _ = io.Copy(io.Discard, stdout)
	}()
	go func() { exited <- cmd.Wait() }()
	var line string
	select {
	case line = <-lines:
	case err := <-exited:
		t.Fatalf("pgqueue web exited before serving (%v): %s", err, stderr.String())
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("pgqueue web printed nothing within 30s: %s", stderr.String())
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGINT)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("pgqueue web did not exit cleanly on SIGINT: %v; stderr: %s", err, stderr.String())
			}
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			t.Errorf("pgqueue web did not stop within 15s of SIGINT")
		}
	})
	m := regexp.MustCompile(`on (http://\S+/)`).FindStringSubmatch(line)
	require.NotNil(t, m, "pgqueue web's first line names its URL: %q", line)
	return m[1]
}

func httpGet(t *testing.T, url, user, pass string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, url, nil)
	require.NoError(t, err)
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestCLIWebServesPostgres(t *testing.T) {
	t.Parallel()
	url, schema, b := setup(t)
	c, err := pgqueue.New(b, pgqueue.Config{})
	require.NoError(t, err)
	_, err = c.Enqueue(context.Background(), cliArgs{N: 1}, &pgqueue.EnqueueOptions{Queue: "webq"})
	require.NoError(t, err)
	base := serve(t, "--database-url", url, "--schema", schema, "web", "--addr", "127.0.0.1:0")
	require.Contains(t, base, "http://127.0.0.1:")
	status, body := httpGet(t, base, "", "")
	require.Equal(t, http.StatusOK, status, body)
	require.Contains(t, body, "webq")
	status, body = httpGet(t, base+"jobs?queue=webq", "", "")
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, body, "cli.job")
}

// redisStore returns a Redis URL and a fresh prefix holding a backend.
func redisStore(t *testing.T) (string, string, *redisqueue.Backend) {
	t.Helper()
	url := redistest.URL(t)
	prefix := redistest.Prefix(t)
	b, err := redisqueue.New(redistest.Client(t, prefix), &redisqueue.Options{Prefix: prefix})
	require.NoError(t, err)
	return url, prefix, b
}

func TestCLIWebOnRedisWithBasicAuth(t *testing.T) {
	t.Parallel()
	url, prefix, b := redisStore(t)
	c, err := pgqueue.New(b, pgqueue.Config{})
	require.NoError(t, err)
	_, err = c.Enqueue(context.Background(), cliArgs{N: 1}, &pgqueue.EnqueueOptions{Queue: "redisq"})
	require.NoError(t, err)
	hash, err := bcrypt.GenerateFromPassword([]byte("battery staple"), bcrypt.MinCost)
	require.NoError(t, err)
	users := writeFile(t, "# dashboard users\nada:correct horse\nbob:"+string(hash)+"\n")
	base := serve(t, "--redis-url", url, "--redis-prefix", prefix, "web", "--addr", "0.0.0.0:0", "--basic-auth-file", users)
	base = strings.Replace(base, "0.0.0.0", "127.0.0.1", 1)
	base = strings.Replace(base, "[::]", "127.0.0.1", 1)
	status, _ := httpGet(t, base, "", "")
	require.Equal(t, http.StatusUnauthorized, status, "no credentials")
	status, _ = httpGet(t, base, "ada", "wrong")
	require.Equal(t, http.StatusUnauthorized, status, "a wrong password")
	status, _ = httpGet(t, base, "eve", "correct horse")
	require.Equal(t, http.StatusUnauthorized, status, "an unknown user")
	status, body := httpGet(t, base, "ada", "correct horse")
	require.Equal(t, http.StatusOK, status, body)
	require.Contains(t, body, "redisq")
	status, _ = httpGet(t, base, "bob", "wrong")
	require.Equal(t, http.StatusUnauthorized, status, "a wrong password for a bcrypt user")
	status, _ = httpGet(t, base, "bob", string(hash))
	require.Equal(t, http.StatusUnauthorized, status, "the bcrypt hash itself is not the password")
	for range 2 { // the second time from the cache of credentials that passed
		status, body = httpGet(t, base, "bob", "battery staple")
		require.Equal(t, http.StatusOK, status, "the bcrypt user's password: %s", body)
	}
}

func TestCLIReadCommandsOnRedis(t *testing.T) {
	t.Parallel()
	url, prefix, b := redisStore(t)
	ctx := context.Background()
	c, err := pgqueue.New(b, pgqueue.Config{})
	require.NoError(t, err)
	id, err := c.Enqueue(ctx, cliArgs{N: 5}, &pgqueue.EnqueueOptions{Queue: "rq"})
	require.NoError(t, err)
	rcli := func(args ...string) result {
		return runRaw(t, append([]string{"--redis-url", url, "--redis-prefix", prefix}, args...)...)
	}
	var st struct {
		Queues []struct {
			Queue     string `json:"queue"`
			Available struct {
				N int `json:"n"`
			} `json:"available"`
		} `json:"queues"`
	}
	require.NoError(t, json.Unmarshal([]byte(ok(t, rcli("stats", "-o", "json"), "stats")), &st))
	require.Len(t, st.Queues, 1)
	require.Equal(t, "rq", st.Queues[0].Queue)
	require.Equal(t, 1, st.Queues[0].Available.N)
	require.Contains(t, ok(t, rcli("jobs", "list", "--queue", "rq"), "jobs list"), "cli.job")
	require.Contains(t, ok(t, rcli("jobs", "show", itoa(id)), "jobs show"), "cli.job")
	ok(t, rcli("jobs", "cancel", itoa(id)), "jobs cancel")
	require.Contains(t, ok(t, rcli("dlq", "list"), "dlq list"), "cancelled")
	ok(t, rcli("dlq", "requeue", itoa(id)), "dlq requeue")
	ok(t, rcli("queue", "pause", "rq"), "queue pause")
	fails(t, rcli("queue", "pause", "nosuchqueue"), "queue pause of an unknown queue", "in Redis prefix "+prefix)
	ok(t, rcli("clients"), "clients")
	ok(t, rcli("periodic", "list"), "periodic list")
	fails(t, rcli("migrate", "up"), "migrate on Redis", "this command needs Postgres (--database-url)")
	fails(t, runRaw(t, "--redis-url", url, "--database-url", "postgres://x@127.0.0.1/x", "stats"), "both stores", "pass --database-url or --redis-url, not both")
	fails(t, runRaw(t, "--redis-url", "http://nope", "stats"), "a bad Redis URL", "bad Redis URL")
}
