package chaos

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// pgServer is a throwaway PostgreSQL cluster owned by one test run: its own
// data directory, port and socket directory, so that restarting or
// crashing it never disturbs the shared server other tests use.
type pgServer struct {
	bin     string // directory holding initdb, pg_ctl, postgres
	dir     string // temp dir holding everything below
	data    string
	sock    string
	logFile string
	port    int
	owner   *user.User // the OS user the server runs as; nil: the current user
}

// startPrivatePostgres initdb's and starts a cluster in a fresh temp dir on
// a free port, and stops and deletes it when the test ends (a watchdog
// process does the same if the test binary itself is killed). Without the
// PostgreSQL server binaries it fails under CI=true and skips otherwise.
func startPrivatePostgres(t *testing.T) *pgServer {
	t.Helper()
	bin, err := findPostgresBin()
	if err != nil {
		msg := "crash suite needs the PostgreSQL server binaries (initdb, pg_ctl): " + err.Error()
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	s := &pgServer{bin: bin}
	if os.Geteuid() == 0 {
		// initdb and postgres refuse to run as root.
		if s.owner, err = user.Lookup("postgres"); err != nil {
			t.Fatalf("running as root, but there is no postgres OS user to run the private server as: %v", err)
		}
	}
	// Not t.TempDir: its parent directories are 0700 and owned by us, so the
	// postgres user could not reach it.
	if s.dir, err = os.MkdirTemp("", "pgqueue-chaos-"); err != nil {
		t.Fatal(err)
	}
	s.data = filepath.Join(s.dir, "data")
	s.sock = filepath.Join(s.dir, "sock")
	s.logFile = filepath.Join(s.dir, "postgres.log")
	if err := os.Mkdir(s.sock, 0o700); err != nil {
		t.Fatal(err)
	}
	if s.owner != nil {
		uid, _ := strconv.Atoi(s.owner.Uid)
		gid, _ := strconv.Atoi(s.owner.Gid)
		for _, p := range []string{s.dir, s.sock} {
			if err := os.Chown(p, uid, gid); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Cleanup(s.destroy)
	s.startWatchdog(t)

	if out, err := s.run("initdb", "-D", s.data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	if s.port, err = freePort(); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf(`
# pgqueue crash suite
listen_addresses = '127.0.0.1'
port = %d
unix_socket_directories = '%s'
fsync = on
synchronous_commit = on
full_page_writes = on
max_connections = 200
shared_buffers = 32MB
log_line_prefix = '%%m [%%p] %%a: '
`, s.port, s.sock)
	f, err := os.OpenFile(filepath.Join(s.data, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.WriteString(conf)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	return s
}

// findPostgresBin returns the newest /usr/lib/postgresql/<version>/bin that
// has initdb, or the directory of an initdb on PATH.
func findPostgresBin() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	sort.Slice(dirs, func(i, k int) bool { return pgVersion(dirs[i]) > pgVersion(dirs[k]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(filepath.Dir(d), "pg_ctl")); err == nil {
			return filepath.Dir(d), nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", fmt.Errorf("no initdb in /usr/lib/postgresql/*/bin or on PATH")
}

func pgVersion(initdbPath string) float64 {
	v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(filepath.Dir(initdbPath))), 64)
	return v
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// command builds a command for one of the server binaries, run as the
// server's OS user.
func (s *pgServer) command(name string, args ...string) *exec.Cmd {
	path := filepath.Join(s.bin, name)
	if s.owner == nil {
		return exec.Command(path, args...)
	}
	if _, err := exec.LookPath("runuser"); err == nil {
		return exec.Command("runuser", append([]string{"-u", s.owner.Username, "--", path}, args...)...)
	}
	quoted := []string{shellQuote(path)}
	for _, a := range args {
		quoted = append(quoted, shellQuote(a))
	}
	return exec.Command("su", s.owner.Username, "-s", "/bin/sh", "-c", strings.Join(quoted, " "))
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// run runs a server binary to completion. Output goes to a buffer, not a
// pipe, and pg_ctl sends the postmaster's own output to the log file, so a
// started postmaster holds nothing of ours open.
func (s *pgServer) run(name string, args ...string) (string, error) {
	cmd := s.command(name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// URL is the server's TCP address, as a connection URL.
func (s *pgServer) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", s.port)
}

// Addr is host:port.
func (s *pgServer) Addr() string { return fmt.Sprintf("127.0.0.1:%d", s.port) }

// Start starts the server and waits until it accepts connections.
func (s *pgServer) Start() error {
	if out, err := s.run("pg_ctl", "start", "-D", s.data, "-l", s.logFile, "-w", "-t", "120"); err != nil {
		return fmt.Errorf("pg_ctl start: %v\n%s\n%s", err, out, s.LogTail(30))
	}
	return s.waitReady()
}

// RestartFast is a clean restart: `pg_ctl restart -m fast` (sessions are
// terminated, a shutdown checkpoint is written).
func (s *pgServer) RestartFast() error {
	if out, err := s.run("pg_ctl", "restart", "-D", s.data, "-m", "fast", "-l", s.logFile, "-w", "-t", "120"); err != nil {
		return fmt.Errorf("pg_ctl restart -m fast: %v\n%s\n%s", err, out, s.LogTail(30))
	}
	return s.waitReady()
}

// StopImmediate crashes the server: `pg_ctl stop -m immediate` (every
// process quits at once, no checkpoint; the next start runs crash
// recovery, and commits made with synchronous_commit = off that were not
// yet flushed are gone).
func (s *pgServer) StopImmediate() error {
	if out, err := s.run("pg_ctl", "stop", "-D", s.data, "-m", "immediate", "-w", "-t", "60"); err != nil {
		return fmt.Errorf("pg_ctl stop -m immediate: %v\n%s", err, out)
	}
	return nil
}

// waitReady connects until a query succeeds (pg_ctl -w already waited for
// the postmaster; this also covers the end of crash recovery).
func (s *pgServer) waitReady() error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		conn, err := pgx.Connect(ctx, s.URL())
		if err == nil {
			_, err = conn.Exec(ctx, "SELECT 1")
			_ = conn.Close(ctx)
		}
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("private postgres did not accept connections: %v\n%s", err, s.LogTail(30))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// LogTail returns the last n lines of the server log.
func (s *pgServer) LogTail(n int) string { return tailFile(s.logFile, n) }

// destroy stops the server (immediately: its data is thrown away) and
// deletes its directory.
func (s *pgServer) destroy() {
	if _, err := os.Stat(filepath.Join(s.data, "postmaster.pid")); err == nil {
		if out, err := s.run("pg_ctl", "stop", "-D", s.data, "-m", "immediate", "-w", "-t", "60"); err != nil {
			fmt.Fprintf(os.Stderr, "chaos: stopping the private postgres: %v\n%s", err, out)
		}
	}
	_ = os.RemoveAll(s.dir)
}

// startWatchdog starts a detached shell that, should this test binary die
// without running its cleanups (a -timeout panic, a SIGKILL), stops the
// private server and deletes its directory. After a normal cleanup the
// directory is gone and the watchdog exits by itself within a second; the
// test also kills it.
func (s *pgServer) startWatchdog(t *testing.T) {
	stop := s.command("pg_ctl", "stop", "-D", s.data, "-m", "immediate", "-w")
	quoted := make([]string, len(stop.Args))
	for i, a := range stop.Args {
		quoted[i] = shellQuote(a)
	}
	if stop.Path != "" && filepath.IsAbs(stop.Path) {
		quoted[0] = shellQuote(stop.Path)
	}
	script := fmt.Sprintf(`while kill -0 %d 2>/dev/null && [ -d %s ]; do sleep 1; done
if [ -d %s ]; then %s >/dev/null 2>&1; rm -rf %s; fi`,
		os.Getpid(), shellQuote(s.dir), shellQuote(s.dir), strings.Join(quoted, " "), shellQuote(s.dir))
	w := exec.Command("/bin/sh", "-c", script)
	w.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := w.Start(); err != nil {
		t.Logf("chaos: no watchdog for the private postgres (%v); a killed test run may leave it behind in %s", err, s.dir)
		return
	}
	done := make(chan struct{})
	go func() { _ = w.Wait(); close(done) }()
	t.Cleanup(func() {
		// Cleanups run last-registered first: this one before destroy,
		// which then stops the server itself.
		_ = w.Process.Kill()
		<-done
	})
}

func tailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
