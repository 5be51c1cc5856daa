package main

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/pgqueue/pgqueue"
)

// clientJSON is the JSON shape of one client of `pgqueue clients`.
type clientJSON struct {
	ID        string         `json:"id"`
	Host      string         `json:"host"`
	PID       int            `json:"pid"`
	Version   string         `json:"version"`
	Queues    map[string]int `json:"queues"`
	Periodic  []string       `json:"periodic"`
	StartedAt *time.Time     `json:"started_at,omitempty"`
	LastSeen  *time.Time     `json:"last_seen,omitempty"`
}

// periodicJSON is the JSON shape of one periodic job of `pgqueue periodic list`.
type periodicJSON struct {
	Name     string     `json:"name"`
	LastTick *time.Time `json:"last_tick,omitempty"`
	NextRun  *time.Time `json:"next_run,omitempty"`
}

func newClientsCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "clients",
		Short: "The clients running against the schema, with their queues and periodic jobs",
		Long: fmt.Sprintf("clients lists the rows of pgqueue_clients: every client registers at Start, is seen again about every %v, "+
			"and removes its row at Stop. A client not seen for %v (one that died) is left out. Needs migration 8.",
			pgqueue.ClientSeenInterval, pgqueue.ClientStaleAfter),
		Args: noArgs,
		RunE: g.withSession(func(cmd *cobra.Command, args []string, s *session) error {
			list, err := s.admin.Clients(cmd.Context())
			if err != nil {
				return err
			}
			if g.json() {
				out := make([]clientJSON, 0, len(list))
				for _, c := range list {
					p := c.Periodic
					if p == nil {
						p = []string{}
					}
					out = append(out, clientJSON{ID: c.ID, Host: c.Host, PID: c.PID, Version: c.Version, Queues: c.Queues, Periodic: p,
						StartedAt: timeOrNil(c.StartedAt), LastSeen: timeOrNil(c.LastSeen)})
				}
				return printJSON(cmd.OutOrStdout(), map[string]any{"clients": out})
			}
			t := newTable(cmd.OutOrStdout(), "ID", "HOST", "PID", "VERSION", "QUEUES", "PERIODIC", "STARTED", "LAST SEEN")
			for _, c := range list {
				t.row(c.ID, c.Host, c.PID, c.Version, queuesCell(c.Queues), strings.Join(c.Periodic, ","), c.StartedAt, c.LastSeen)
			}
			return t.flush()
		}),
	}
}

// queuesCell formats a client's queues as "name=max,..." sorted by name.
func queuesCell(queues map[string]int) string {
	names := make([]string, 0, len(queues))
	for q := range queues {
		names = append(names, q)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, q := range names {
		parts[i] = fmt.Sprintf("%s=%d", q, queues[q])
	}
	return strings.Join(parts, ",")
}

func newPeriodicCmd(g *globals) *cobra.Command {
	cmd := group("periodic", "List periodic jobs", "")
	list := &cobra.Command{
		Use:   "list",
		Short: "The periodic jobs some client enqueued, with their last tick and next run",
		Long: "list shows the rows of pgqueue_periodic: each periodic job some client enqueued, the last tick enqueued, " +
			"and the next run the client that enqueued it expected from its schedule (the schedules live in the clients' code; " +
			"\"-\" when unknown: recorded by an older client or before migration 9). A next run in the past means no client has " +
			"enqueued that tick yet. `pgqueue clients` shows which clients run which periodic jobs.",
		Args: noArgs,
		RunE: g.withSession(func(cmd *cobra.Command, args []string, s *session) error {
			list, err := s.admin.PeriodicJobs(cmd.Context())
			if err != nil {
				return err
			}
			if g.json() {
				out := make([]periodicJSON, 0, len(list))
				for _, p := range list {
					out = append(out, periodicJSON{Name: p.Name, LastTick: timeOrNil(p.LastTick), NextRun: timeOrNil(p.NextRun)})
				}
				return printJSON(cmd.OutOrStdout(), map[string]any{"periodic": out})
			}
			t := newTable(cmd.OutOrStdout(), "NAME", "LAST TICK", "NEXT RUN")
			for _, p := range list {
				t.row(p.Name, p.LastTick, p.NextRun)
			}
			return t.flush()
		}),
	}
	cmd.AddCommand(list)
	return cmd
}
