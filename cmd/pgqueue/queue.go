package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/pgqueue/pgqueue"
)

// checkQueueName applies the documented queue name rule here, so that a
// bad name is refused as such before the database is asked.
func checkQueueName(name string) error {
	if err := pgqueue.CheckQueueName(name); err != nil {
		return coded("invalid_argument", err)
	}
	return nil
}

func newQueueCmd(g *globals) *cobra.Command {
	cmd := group("queue", "Pause and resume queues", "")
	var force bool
	pause := &cobra.Command{
		Use:   "pause NAME",
		Short: "Stop every client from claiming jobs of a queue (running jobs finish)",
		Long: "pause stores the pause in pgqueue_queues; every client sees it at its next claim. " +
			"A queue that has no jobs and no dead letters is refused as a likely typo; --force pauses it ahead of its first job.",
		Args: exactArgs(1, "one queue name"),
		PreRunE: func(cmd *cobra.Command, args []string) error {
			return checkQueueName(args[0])
		},
		RunE: g.withSession(func(cmd *cobra.Command, args []string, s *session) error {
			ctx := cmd.Context()
			if !force {
				known, err := s.admin.QueueExists(ctx, args[0])
				if err != nil {
					return err
				}
				if !known {
					return coded("unknown_queue", fmt.Errorf("queue %s has no jobs and no dead letters in %s (a typo?); rerun with --force to pause it ahead of its first job", cell(args[0]), s.where))
				}
			}
			if err := s.admin.PauseQueue(ctx, args[0]); err != nil {
				return err
			}
			if g.json() {
				return printJSON(cmd.OutOrStdout(), map[string]any{"queue": args[0], "paused": true})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "queue %s paused\n", args[0])
			return nil
		}),
	}
	pause.Flags().BoolVar(&force, "force", false, "pause a queue that has no jobs yet")
	resume := &cobra.Command{
		Use:   "resume NAME",
		Short: "Let clients claim jobs of a paused queue again",
		Args:  exactArgs(1, "one queue name"),
		PreRunE: func(cmd *cobra.Command, args []string) error {
			return checkQueueName(args[0])
		},
		RunE: g.withSession(func(cmd *cobra.Command, args []string, s *session) error {
			was, err := s.admin.ResumeQueue(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if g.json() {
				return printJSON(cmd.OutOrStdout(), map[string]any{"queue": args[0], "paused": false, "was_paused": was})
			}
			if !was {
				fmt.Fprintf(cmd.OutOrStdout(), "queue %s was not paused\n", args[0])
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "queue %s resumed\n", args[0])
			return nil
		}),
	}
	cmd.AddCommand(pause, resume)
	return cmd
}
