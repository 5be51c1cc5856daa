package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/pgqueue/pgqueue"
)

// statsJSON is the JSON shape of stats: pgqueue.Stats's keys, with empty
// times left out.
type statsJSON struct {
	At      *time.Time           `json:"at,omitempty"`
	Queues  []pgqueue.QueueStats `json:"queues"`
	Running []runningJSON        `json:"running"`
	Dead    []pgqueue.KindCount  `json:"dead_by_kind"`
}

type runningJSON struct {
	ID          int64      `json:"id"`
	Queue       string     `json:"queue"`
	Kind        string     `json:"kind"`
	Attempt     int        `json:"attempt"`
	MaxAttempts int        `json:"max_attempts"`
	ClaimedBy   string     `json:"claimed_by"`
	AttemptedAt *time.Time `json:"attempted_at,omitempty"`
	LeaseUntil  *time.Time `json:"lease_until,omitempty"`
}

func newStatsCmd(g *globals) *cobra.Command {
	var h historyFlags
	cmd := &cobra.Command{
		Use:   "stats",
		Short: "Per-queue counts, lag, running jobs and dead letters by kind",
		Long: fmt.Sprintf("stats reports per queue its jobs by state, whether it is paused and its lag (how long the oldest due job has waited); "+
			"the running jobs with their lease deadlines; and dead letters by kind. Counts are exact up to %d, "+
			"read from the partial indexes; beyond that they are the query planner's estimates, marked with ~. "+
			"Queues with no jobs that are neither paused nor limited are left out.\n\n"+
			"With --history 1h it shows instead, per --step (default a minute), what finished: completed, failed (and retried), "+
			"dead, cancelled and lease lost runs, the failure rate (failed and dead over completed, failed and dead), and the "+
			"p50 and p95 of run time and of wait time (from run-at to claim), read from log-scale buckets (upper bounds). "+
			"Clients write these every few seconds (Config.StatsFlushInterval) to pgqueue_stats; needs migration 9.", pgqueue.StatsExactLimit),
		Args: noArgs,
		RunE: g.withSession(func(cmd *cobra.Command, args []string, s *session) error {
			ctx := cmd.Context()
			if cmd.Flags().Changed("history") {
				return h.run(cmd, g, s)
			}
			for _, f := range []string{"step", "until", "queue"} {
				if cmd.Flags().Changed(f) {
					return usageErr("--%s needs --history", f)
				}
			}
			st, err := s.admin.Stats(ctx)
			if err != nil {
				return err
			}
			if g.json() {
				out := statsJSON{At: timeOrNil(st.At), Queues: st.Queues, Running: make([]runningJSON, 0, len(st.Running)), Dead: st.Dead}
				for _, r := range st.Running {
					out.Running = append(out.Running, runningJSON{ID: r.ID, Queue: r.Queue, Kind: r.Kind, Attempt: r.Attempt, MaxAttempts: r.MaxAttempts,
						ClaimedBy: r.ClaimedBy, AttemptedAt: timeOrNil(r.AttemptedAt), LeaseUntil: timeOrNil(r.LeaseUntil)})
				}
				return printJSON(cmd.OutOrStdout(), out)
			}
			w := cmd.OutOrStdout()
			t := newTable(w, "QUEUE", "PAUSED", "AVAILABLE", "SCHEDULED", "RUNNING", "LAG")
			for _, q := range st.Queues {
				t.row(q.Queue, q.Paused, q.Available, q.Scheduled, q.Running, q.Lag)
			}
			if err := t.flush(); err != nil {
				return err
			}
			fmt.Fprintf(w, "\nrunning jobs (%d shown):\n", len(st.Running))
			t = newTable(w, "ID", "QUEUE", "KIND", "ATTEMPT", "CLAIMED BY", "LEASE UNTIL")
			for _, r := range st.Running {
				t.row(r.ID, r.Queue, r.Kind, fmt.Sprintf("%d/%d", r.Attempt, r.MaxAttempts), r.ClaimedBy, r.LeaseUntil)
			}
			if err := t.flush(); err != nil {
				return err
			}
			fmt.Fprintln(w, "\ndead letters by kind:")
			t = newTable(w, "KIND", "COUNT")
			for _, d := range st.Dead {
				t.row(d.Kind, d.Count)
			}
			return t.flush()
		}),
	}
	h.add(cmd)
	return cmd
}
