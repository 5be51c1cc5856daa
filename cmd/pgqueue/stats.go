package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/pgqueue/pgqueue"
)

func newStatsCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "stats",
		Short: "Per-queue counts, lag, running jobs and dead letters by kind",
		Long: fmt.Sprintf("stats reports per queue its jobs by state, whether it is paused and its lag (how long the oldest due job has waited); "+
			"the running jobs with their lease deadlines; and dead letters by kind. Counts are exact up to %d, "+
			"read from the partial indexes; beyond that they are the query planner's estimates, marked with ~.", pgqueue.StatsExactLimit),
		Args: cobra.NoArgs,
		RunE: g.withSession(func(cmd *cobra.Command, args []string, s *session) error {
			st, err := s.admin.Stats(cmd.Context())
			if err != nil {
				return err
			}
			if g.output == "json" {
				return printJSON(cmd.OutOrStdout(), st)
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
}
