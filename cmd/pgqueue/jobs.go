package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newJobsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "jobs",
		Short: "Show, cancel and retry single jobs",
	}
	show := &cobra.Command{
		Use:   "show ID",
		Short: "Show a job of the queue (waiting or running)",
		Args:  cobra.ExactArgs(1),
		RunE: g.withSession(func(cmd *cobra.Command, args []string, s *session) error {
			ids, err := parseIDs(args)
			if err != nil {
				return err
			}
			j, err := s.admin.Job(cmd.Context(), ids[0])
			if err != nil {
				return err
			}
			if g.output == "json" {
				return printJSON(cmd.OutOrStdout(), j)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "id:        %d\nkind:      %s\nqueue:     %s\nstate:     %s\npriority:  %d\nattempts:  %d/%d\nrun at:    %s\nclaimed:   %s\nlease:     %s\nargs:      %s\nerrors:    %d\n",
				j.ID, j.Kind, j.Queue, j.State, j.Priority, j.Attempt, j.MaxAttempts, cell(j.RunAt), cell(j.ClaimedBy), cell(j.LeaseUntil), j.Args, len(j.Errors))
			return nil
		}),
	}
	cancel := &cobra.Command{
		Use:   "cancel ID",
		Short: "Cancel a waiting job (it moves to the dead-letter table, marked cancelled)",
		Args:  cobra.ExactArgs(1),
		RunE: g.withSession(func(cmd *cobra.Command, args []string, s *session) error {
			ids, err := parseIDs(args)
			if err != nil {
				return err
			}
			if err := s.admin.CancelJob(cmd.Context(), ids[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "job %d cancelled\n", ids[0])
			return nil
		}),
	}
	retry := &cobra.Command{
		Use:   "retry ID",
		Short: "Run a waiting job now, or requeue a dead letter",
		Args:  cobra.ExactArgs(1),
		RunE: g.withSession(func(cmd *cobra.Command, args []string, s *session) error {
			ids, err := parseIDs(args)
			if err != nil {
				return err
			}
			if err := s.admin.RetryJob(cmd.Context(), ids[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "job %d is due now\n", ids[0])
			return nil
		}),
	}
	cmd.AddCommand(show, cancel, retry)
	return cmd
}
