// Package rediscluster starts throwaway Redis deployments on loopback
// ports for tests and benchmarks: a Redis Cluster of any number of
// primaries, and a Sentinel setup (a primary, a replica and three
// sentinels) that can be made to fail over. It also moves a hash slot
// between cluster nodes the way a reshard does, key batch by key batch.
//
// Every process is started in the foreground as a child of the caller,
// with no persistence (no RDB, no AOF), bound to 127.0.0.1, in a directory
// the caller gives (t.TempDir() in tests); Stop kills exactly the processes
// it started. The shell scripts next to this file (start.sh, stop.sh)
// start the 3-primary cluster the redisqueue tests run on in CI.
//
// The binaries are redis-server and redis-cli from PATH, or the paths in
// REDIS_SERVER and REDIS_CLI; redis-sentinel is `redis-server --sentinel`.
package rediscluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// ServerBinary returns the redis-server to run: $REDIS_SERVER, else
// redis-server from PATH. It returns an error naming what is missing.
func ServerBinary() (string, error) {
	if p := os.Getenv("REDIS_SERVER"); p != "" {
		return p, nil
	}
	p, err := exec.LookPath("redis-server")
	if err != nil {
		return "", fmt.Errorf("rediscluster: redis-server is not on PATH (install Redis 7, or set REDIS_SERVER): %w", err)
	}
	return p, nil
}

// Server is one redis-server (or sentinel) process started by this package.
type Server struct {
	// Addr is its host:port, on 127.0.0.1.
	Addr string
	// Port is the port of Addr.
	Port int

	cmd      *exec.Cmd
	exited   chan struct{}
	stopOnce sync.Once
}

// StartServer starts redis-server in dir on a free loopback port, with
// extra command-line arguments (for example "--cluster-enabled", "yes"),
// and waits until it answers PING. With cluster set, the port is chosen
// so that port+10000 (the cluster bus) is free too. A port taken by
// another process between the choice and the bind is retried on another.
func StartServer(ctx context.Context, dir string, cluster bool, extra ...string) (*Server, error) {
	bin, err := ServerBinary()
	if err != nil {
		return nil, err
	}
	var lastErr error
	for range 10 {
		port, err := freePort(cluster)
		if err != nil {
			return nil, err
		}
		s, err := startOn(ctx, bin, dir, port, extra)
		if err == nil {
			return s, nil
		}
		lastErr = err
		if ctx.Err() != nil {
			break
		}
	}
	return nil, lastErr
}

func startOn(ctx context.Context, bin, dir string, port int, extra []string) (*Server, error) {
	name := "redis-" + strconv.Itoa(port)
	args := []string{}
	if len(extra) > 0 && strings.HasSuffix(extra[0], ".conf") {
		// A config file (sentinels need one they can rewrite) goes first.
		args = append(args, extra[0])
		extra = extra[1:]
	}
	args = append(args,
		"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--maxmemory-policy", "noeviction",
		"--dir", dir, "--logfile", filepath.Join(dir, name+".log"),
	)
	args = append(args, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("rediscluster: start %s: %w", bin, err)
	}
	s := &Server{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), Port: port, cmd: cmd, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(s.exited)
	}()
	c := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1, DialTimeout: time.Second})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		pingCtx, cancel := context.WithTimeout(ctx, time.Second)
		err := c.Ping(pingCtx).Err()
		cancel()
		if err == nil {
			return s, nil
		}
		select {
		case <-s.exited:
			log, _ := os.ReadFile(filepath.Join(dir, name+".log"))
			return nil, fmt.Errorf("rediscluster: redis-server on port %d exited at start; its log ends: %s", port, tail(string(log), 400))
		default:
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			s.Stop()
			return nil, fmt.Errorf("rediscluster: redis-server on port %d did not answer PING within 10s: %w", port, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// freePort returns a loopback port nothing listens on; with bus set, one
// whose port+10000 is free too.
func freePort(bus bool) (int, error) {
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("rediscluster: find a free port: %w", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
		if !bus {
			return port, nil
		}
		if port+10000 > 65535 {
			continue
		}
		lb, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port+10000)))
		if err != nil {
			continue
		}
		_ = lb.Close()
		return port, nil
	}
	return 0, errors.New("rediscluster: no free port pair (port, port+10000) found")
}

// Kill ends the process at once with SIGKILL, as a crash would, and waits
// for it to exit. Killing a stopped server does nothing.
func (s *Server) Kill() {
	s.stopOnce.Do(func() {
		_ = s.cmd.Process.Kill()
		<-s.exited
	})
}

// Stop ends the process (SIGKILL: nothing is persisted anyway) and waits
// for it.
func (s *Server) Stop() { s.Kill() }

// Exited is closed when the process has exited.
func (s *Server) Exited() <-chan struct{} { return s.exited }
