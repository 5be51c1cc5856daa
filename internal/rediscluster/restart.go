package rediscluster

import (
	"context"
	"fmt"
)

// StartServerOn starts redis-server in dir on the given loopback port,
// with extra command-line arguments, and waits until it answers PING. It
// is StartServer for a fixed port: to bring a killed server back on the
// address its clients know, from the same directory, so that it loads
// what it persisted there (with "--appendonly", "yes" in extra, its
// append-only file). Later arguments override earlier ones, so extra may
// turn persistence on.
func StartServerOn(ctx context.Context, dir string, port int, extra ...string) (*Server, error) {
	bin, err := ServerBinary()
	if err != nil {
		return nil, err
	}
	if port <= 0 || port > 65535 {
		return nil, fmt.Errorf("rediscluster: port %d out of range", port)
	}
	return startOn(ctx, bin, dir, port, extra)
}
