package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/pgqueue/pgqueue"
)

// jobJSON is the JSON shape of a job in the queue table.
type jobJSON struct {
	ID           int64             `json:"id"`
	Kind         string            `json:"kind"`
	Queue        string            `json:"queue"`
	State        string            `json:"state"`
	Priority     int               `json:"priority"`
	Args         rawJSON           `json:"args"`
	Attempt      int               `json:"attempt"`
	MaxAttempts  int               `json:"max_attempts"`
	Errors       []attemptJSON     `json:"errors"`
	Metadata     map[string]string `json:"metadata,omitempty"`
	CreatedAt    *time.Time        `json:"created_at,omitempty"`
	RunAt        *time.Time        `json:"run_at,omitempty"`
	AttemptedAt  *time.Time        `json:"attempted_at,omitempty"`
	LeaseUntil   *time.Time        `json:"lease_until,omitempty"`
	ClaimedBy    string            `json:"claimed_by,omitempty"`
	FencingToken int64             `json:"fencing_token,omitempty"`
	FinishedAt   *time.Time        `json:"finished_at,omitempty"`
	Output       rawJSON           `json:"output,omitempty"`
	Progress     *pgqueue.Progress `json:"progress,omitempty"`
}

func jobToJSON(j *pgqueue.JobInfo) jobJSON {
	return jobJSON{ID: j.ID, Kind: j.Kind, Queue: j.Queue, State: string(j.State), Priority: j.Priority, Args: rawJSON(j.Args),
		Attempt: j.Attempt, MaxAttempts: j.MaxAttempts, Errors: attemptsJSON(j.Errors), Metadata: j.Metadata,
		CreatedAt: timeOrNil(j.CreatedAt), RunAt: timeOrNil(j.RunAt), AttemptedAt: timeOrNil(j.AttemptedAt),
		LeaseUntil: timeOrNil(j.LeaseUntil), ClaimedBy: j.ClaimedBy, FencingToken: j.Token, FinishedAt: timeOrNil(j.FinishedAt),
		Output: rawJSON(j.Output), Progress: j.Progress}
}

// printOutputAndProgress prints a job's recorded output and progress, when
// it has them.
func printOutputAndProgress(w io.Writer, output []byte, p *pgqueue.Progress) {
	if len(output) > 0 {
		fmt.Fprintf(w, "output:    %s\n", cell(string(output)))
	}
	if p != nil {
		fmt.Fprintf(w, "progress:  %.0f%% %s (at %s)\n", p.Fraction*100, cell(p.Note), cell(p.At))
	}
}

// showCompleted prints a job the history keeps (state completed).
func showCompleted(cmd *cobra.Command, g *globals, j *pgqueue.JobInfo) error {
	if g.json() {
		return printJSON(cmd.OutOrStdout(), jobToJSON(j))
	}
	w := cmd.OutOrStdout()
	fmt.Fprintf(w, "id:        %d\nkind:      %s\nqueue:     %s\nstate:     %s\npriority:  %d\nattempts:  %d/%d\ncreated:   %s\nrun at:    %s\nfinished:  %s\nargs:      %s\nmetadata:  %s\n",
		j.ID, cell(j.Kind), cell(j.Queue), j.State, j.Priority, j.Attempt, j.MaxAttempts, cell(j.CreatedAt), cell(j.RunAt), cell(j.FinishedAt), cell(string(j.Args)), metadataText(j.Metadata))
	printOutputAndProgress(w, j.Output, j.Progress)
	printAttempts(w, j.Errors)
	return nil
}

// notFound explains a job ID missing from the queue table: a dead letter
// (with the command that shows it), or a job that completed or never was.
func notFound(ctx context.Context, s *session, id int64, err error) error {
	if !isNotFound(err) {
		return err
	}
	if _, derr := s.admin.DeadJob(ctx, id); derr == nil {
		return coded("not_found", fmt.Errorf("job %d is not waiting or running: it is a dead letter (see `pgqueue dlq show %d`)", id, id))
	}
	return coded("not_found", fmt.Errorf("job %d not found (completed jobs are kept only with a retention: Config.Retention)", id))
}

func newJobsCmd(g *globals) *cobra.Command {
	cmd := group("jobs", "List and search jobs; show, cancel, retry and delete them, one or by filter", "")
	show := &cobra.Command{
		Use:   "show ID",
		Short: "Show a job: waiting, running, dead or completed, with its args, metadata, output and error history",
		Long: "show prints a job of the queue table (available, scheduled or running), of the dead-letter table, " +
			"or of the history (completed, kept with Config.Retention), with its metadata, output, progress and every attempt's error, panic stacks in full. " +
			"Without a retention completed jobs are deleted, so they are not found.",
		Args: exactArgs(1, "one job ID"),
		RunE: g.withSession(func(cmd *cobra.Command, args []string, s *session) error {
			ids, err := parseIDs(args)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			j, err := s.admin.Job(ctx, ids[0])
			if isNotFound(err) {
				// A dead letter is shown as a job in state dead.
				if d, derr := s.admin.DeadJob(ctx, ids[0]); derr == nil {
					return showDead(cmd, g, s, d)
				}
				if f, ferr := s.admin.FindJob(ctx, ids[0]); ferr == nil && f.State == pgqueue.StateCompleted {
					return showCompleted(cmd, g, f)
				}
			}
			if err != nil {
				return notFound(ctx, s, ids[0], err)
			}
			if g.json() {
				return printJSON(cmd.OutOrStdout(), jobToJSON(j))
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "id:        %d\nkind:      %s\nqueue:     %s\nstate:     %s\npriority:  %d\nattempts:  %d/%d\ncreated:   %s\nrun at:    %s\nclaimed:   %s\nlease:     %s\nargs:      %s\nmetadata:  %s\n",
				j.ID, cell(j.Kind), cell(j.Queue), j.State, j.Priority, j.Attempt, j.MaxAttempts, cell(j.CreatedAt), cell(j.RunAt), cell(j.ClaimedBy), cell(j.LeaseUntil), cell(string(j.Args)), metadataText(j.Metadata))
			printOutputAndProgress(w, j.Output, j.Progress)
			printAttempts(w, j.Errors)
			return nil
		}),
	}
	var cancelBulk, retryBulk bulkFlags
	cancel := &cobra.Command{
		Use:   "cancel [ID]",
		Short: "Cancel a job, waiting or running (it moves to the dead-letter table, marked cancelled)",
		Long: "cancel cancels a job, waiting or running: it moves to the dead-letter table with a last error of kind cancelled. " +
			"A running job's context is cancelled on the client running it (cause pgqueue.ErrJobCancelled) and its result is discarded. " +
			"Requeue it with `pgqueue dlq requeue ID` or `pgqueue jobs retry ID`. " +
			"Without an ID it cancels every waiting or running job the filter flags match, in batches (needs --yes; without it, it counts them).",
		Args: cobra.MaximumNArgs(1),
		RunE: g.withSession(func(cmd *cobra.Command, args []string, s *session) error {
			if len(args) == 0 {
				return bulkRun(cmd, g, s, &cancelBulk.ff, pgqueue.BulkCancel, cancelBulk.yes, cancelBulk.batch)
			}
			ids, err := parseIDs(args)
			if err != nil {
				return err
			}
			if err := s.admin.CancelJob(cmd.Context(), ids[0]); err != nil {
				return notFound(cmd.Context(), s, ids[0], err)
			}
			if g.json() {
				return printJSON(cmd.OutOrStdout(), map[string]any{"id": ids[0], "cancelled": true})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "job %d cancelled\n", ids[0])
			return nil
		}),
	}
	retry := &cobra.Command{
		Use:   "retry [ID]",
		Short: "Run a waiting job now, or requeue a dead letter",
		Long: "retry makes a scheduled job due now, or requeues a dead letter. Without an ID it makes every scheduled job the filter flags match due now, " +
			"in batches (needs --yes; without it, it counts them); requeue dead letters in bulk with `pgqueue dlq requeue`.",
		Args: cobra.MaximumNArgs(1),
		RunE: g.withSession(func(cmd *cobra.Command, args []string, s *session) error {
			if len(args) == 0 {
				return bulkRun(cmd, g, s, &retryBulk.ff, pgqueue.BulkRetry, retryBulk.yes, retryBulk.batch)
			}
			ids, err := parseIDs(args)
			if err != nil {
				return err
			}
			if err := s.admin.RetryJob(cmd.Context(), ids[0]); err != nil {
				return notFound(cmd.Context(), s, ids[0], err)
			}
			if g.json() {
				return printJSON(cmd.OutOrStdout(), map[string]any{"id": ids[0], "due_now": true})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "job %d is due now\n", ids[0])
			return nil
		}),
	}
	cancelBulk.bind(cancel)
	retryBulk.bind(retry)
	cmd.AddCommand(show, newJobsListCmd(g), cancel, retry, newJobsDeleteCmd(g))
	return cmd
}
