package rediscluster

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Slots is the number of hash slots of a Redis Cluster.
const Slots = 16384

// Cluster is a Redis Cluster of primaries only, started by StartCluster.
type Cluster struct {
	// Nodes are the primaries, in the order of their slot ranges.
	Nodes []*Server
}

// Addrs returns the nodes' host:port addresses.
func (c *Cluster) Addrs() []string {
	out := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		out[i] = n.Addr
	}
	return out
}

// Stop kills every node.
func (c *Cluster) Stop() {
	for _, n := range c.Nodes {
		n.Stop()
	}
}

// StartCluster starts n primaries (n ≥ 1) in dir, splits the slots evenly
// between them in node order, and waits until every node reports
// cluster_state:ok and knows all the others. It joins the nodes with
// CLUSTER MEET and CLUSTER ADDSLOTSRANGE rather than redis-cli --cluster
// create, which refuses fewer than three primaries: a one-node cluster is
// the honest baseline for "how much do more primaries add". On error the
// nodes already started are stopped.
func StartCluster(ctx context.Context, dir string, n int) (*Cluster, error) {
	if n < 1 {
		return nil, fmt.Errorf("rediscluster: a cluster needs at least one node, not %d", n)
	}
	c := &Cluster{}
	for i := range n {
		s, err := StartServer(ctx, dir, true,
			"--cluster-enabled", "yes", "--cluster-config-file", fmt.Sprintf("nodes-%d.conf", i),
			"--cluster-node-timeout", "5000")
		if err != nil {
			c.Stop()
			return nil, err
		}
		c.Nodes = append(c.Nodes, s)
	}
	if err := c.join(ctx); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

func (c *Cluster) join(ctx context.Context) error {
	n := len(c.Nodes)
	for i, s := range c.Nodes {
		cl := redis.NewClient(&redis.Options{Addr: s.Addr})
		lo, hi := i*Slots/n, (i+1)*Slots/n-1
		err := cl.Do(ctx, "CLUSTER", "ADDSLOTSRANGE", lo, hi).Err()
		if err == nil && i > 0 {
			err = cl.ClusterMeet(ctx, "127.0.0.1", strconv.Itoa(c.Nodes[0].Port)).Err()
		}
		_ = cl.Close()
		if err != nil {
			return fmt.Errorf("rediscluster: join %s: %w", s.Addr, err)
		}
	}
	return c.WaitOK(ctx, 20*time.Second)
}

// WaitOK waits until every node reports cluster_state:ok, knows every
// other node, and agrees with the others on who owns which slot.
func (c *Cluster) WaitOK(ctx context.Context, within time.Duration) error {
	deadline := time.Now().Add(within)
	var last string
	for {
		ok, why := c.healthy(ctx)
		if ok {
			return nil
		}
		last = why
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("rediscluster: cluster not ready after %v: %s", within, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (c *Cluster) healthy(ctx context.Context) (bool, string) {
	var first string
	for i, s := range c.Nodes {
		cl := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1})
		info, err := cl.ClusterInfo(ctx).Result()
		var slots string
		if err == nil {
			slots, err = slotMap(ctx, cl)
		}
		_ = cl.Close()
		if err != nil {
			return false, s.Addr + ": " + err.Error()
		}
		if !strings.Contains(info, "cluster_state:ok") {
			return false, s.Addr + " is not cluster_state:ok"
		}
		if !strings.Contains(info, "cluster_known_nodes:"+strconv.Itoa(len(c.Nodes))+"\r") {
			return false, s.Addr + " does not know every node yet"
		}
		if i == 0 {
			first = slots
		} else if slots != first {
			return false, s.Addr + " disagrees about the slot map"
		}
	}
	return true, ""
}

// slotMap renders CLUSTER SLOTS as "lo-hi@port ..." for comparison.
func slotMap(ctx context.Context, cl *redis.Client) (string, error) {
	ranges, err := cl.ClusterSlots(ctx).Result()
	if err != nil {
		return "", err
	}
	parts := make([]string, 0, len(ranges))
	for _, r := range ranges {
		owner := ""
		if len(r.Nodes) > 0 {
			owner = r.Nodes[0].Addr
		}
		parts = append(parts, fmt.Sprintf("%d-%d@%s", r.Start, r.End, owner))
	}
	slices.Sort(parts)
	return strings.Join(parts, " "), nil
}
