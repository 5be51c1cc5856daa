// Package pgbouncer starts a real PgBouncer (Debian's pgbouncer package)
// in transaction pooling mode in front of the test Postgres, for the
// tests that prove pgqueue works through a transaction pooler. It never
// mocks PgBouncer: without the binary, a test fails under CI=true and is
// skipped otherwise, naming the package to install.
package pgbouncer

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Bouncer is a running PgBouncer.
type Bouncer struct {
	// Port is where it listens, on 127.0.0.1.
	Port int
	// upstream is the server's connection config the URLs keep the user
	// and database of.
	upstream *pgx.ConnConfig
}

// Binary finds the pgbouncer executable: on PATH or in /usr/sbin.
func Binary() (string, bool) {
	if p, err := exec.LookPath("pgbouncer"); err == nil {
		return p, true
	}
	if _, err := os.Stat("/usr/sbin/pgbouncer"); err == nil {
		return "/usr/sbin/pgbouncer", true
	}
	return "", false
}

// Start runs PgBouncer in transaction pooling mode on a free port in
// front of the server upstreamURL names (trust authentication, as the
// test server has), in a temporary directory; it is stopped when t ends.
func Start(t testing.TB, upstreamURL string) *Bouncer {
	t.Helper()
	bin, ok := Binary()
	if !ok {
		msg := "pgbouncer not installed: apt-get install -y pgbouncer (.ci/run does)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	up, err := pgx.ParseConfig(upstreamURL)
	if err != nil {
		t.Fatalf("pgbouncer: upstream URL: %v", err)
	}
	port := freePort(t)
	dir, err := os.MkdirTemp("", "pgbouncer-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	// PgBouncer refuses to run as root; it then runs as postgres, which
	// must read the directory.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	host := up.Host
	if strings.HasPrefix(host, "/") {
		host = "127.0.0.1"
	}
	ini := fmt.Sprintf(`[databases]
* = host=%s port=%d

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = %d
unix_socket_dir =
auth_type = trust
auth_file = %s
pool_mode = transaction
max_client_conn = 500
default_pool_size = 20
ignore_startup_parameters = extra_float_digits,tcp_keepalives_idle,tcp_keepalives_interval,tcp_keepalives_count
server_reset_query =
`, host, up.Port, port, filepath.Join(dir, "users.txt"))
	users := fmt.Sprintf("%q \"\"\n", up.User)
	for name, body := range map[string]string{"pgbouncer.ini": ini, "users.txt": users} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	args := []string{filepath.Join(dir, "pgbouncer.ini")}
	if u, err := user.Current(); err == nil && u.Uid == "0" {
		args = append([]string{"-u", "postgres"}, args...)
	}
	cmd := exec.Command(bin, args...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("pgbouncer: start: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
	})
	for end := time.Now().Add(10 * time.Second); ; {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 200*time.Millisecond)
		if err == nil {
			c.Close()
			break
		}
		select {
		case <-done:
			t.Fatalf("pgbouncer exited at start: %s", out.String())
		default:
		}
		if time.Now().After(end) {
			t.Fatalf("pgbouncer did not listen on port %d within 10s: %s", port, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return &Bouncer{Port: port, upstream: up}
}

// URL returns a connection URL through the bouncer to the upstream's
// database and user. PgBouncer 1.18 (Debian 12) keeps no prepared
// statements across transactions, so the URL asks pgx for the
// "cache_describe" query mode: unnamed statements, whose parameter and
// result types pgx learns once per connection (the "exec" mode guesses
// them, and sends a []byte meant as jsonb as bytea).
func (b *Bouncer) URL() string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable&default_query_exec_mode=cache_describe", b.upstream.User, b.Port, b.upstream.Database)
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
