package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newQueueCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "queue",
		Short: "Pause and resume queues",
	}
	pause := &cobra.Command{
		Use:   "pause NAME",
		Short: "Stop every client from claiming jobs of a queue (running jobs finish)",
		Args:  cobra.ExactArgs(1),
		RunE: g.withSession(func(cmd *cobra.Command, args []string, s *session) error {
			if err := s.admin.PauseQueue(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "queue %s paused\n", args[0])
			return nil
		}),
	}
	resume := &cobra.Command{
		Use:   "resume NAME",
		Short: "Let clients claim jobs of a paused queue again",
		Args:  cobra.ExactArgs(1),
		RunE: g.withSession(func(cmd *cobra.Command, args []string, s *session) error {
			was, err := s.admin.ResumeQueue(cmd.Context(), args[0])
			if err != nil {
				return err
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
