package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/pgqueue/pgqueue"
)

// workflowJSON is the JSON shape of one workflow of `pgqueue workflows`.
type workflowJSON struct {
	ID        int64      `json:"id"`
	Name      string     `json:"name"`
	Status    string     `json:"status"`
	CreatedAt *time.Time `json:"created_at,omitempty"`
	Tasks     int        `json:"tasks"`
	Waiting   int        `json:"waiting"`
	Active    int        `json:"active"`
	Completed int        `json:"completed"`
	Dead      int        `json:"dead"`
	Cancelled int        `json:"cancelled"`
}

// workflowTaskJSON is the JSON shape of one task of `pgqueue workflows show`.
type workflowTaskJSON struct {
	Name      string   `json:"name"`
	JobID     int64    `json:"job_id"`
	State     string   `json:"state"`
	DependsOn []string `json:"depends_on"`
}

func workflowToJSON(w pgqueue.WorkflowInfo) workflowJSON {
	return workflowJSON{ID: w.ID, Name: w.Name, Status: string(w.Status), CreatedAt: timeOrNil(w.CreatedAt), Tasks: w.Tasks,
		Waiting: w.Waiting, Active: w.Active, Completed: w.Completed, Dead: w.Dead, Cancelled: w.Cancelled}
}

// progressCell says how many of a workflow's tasks finished.
func progressCell(w pgqueue.WorkflowInfo) string {
	return fmt.Sprintf("%d/%d", w.Completed+w.Dead+w.Cancelled, w.Tasks)
}

func newWorkflowsCmd(g *globals) *cobra.Command {
	cmd := group("workflows", "List, show, cancel and retry workflows", "")
	var limit int
	var before int64
	list := &cobra.Command{
		Use:   "list",
		Short: "Workflows, newest first, with their status and tasks by state",
		Args:  noArgs,
		RunE: g.withSession(func(cmd *cobra.Command, args []string, s *session) error {
			ws, err := s.admin.Workflows(cmd.Context(), before, limit)
			if err != nil {
				return err
			}
			if g.json() {
				out := make([]workflowJSON, 0, len(ws))
				for _, w := range ws {
					out = append(out, workflowToJSON(w))
				}
				return printJSON(cmd.OutOrStdout(), map[string]any{"workflows": out})
			}
			t := newTable(cmd.OutOrStdout(), "ID", "NAME", "STATUS", "FINISHED", "WAITING", "ACTIVE", "COMPLETED", "DEAD", "CANCELLED", "CREATED")
			for _, w := range ws {
				t.row(w.ID, w.Name, w.Status, progressCell(w), w.Waiting, w.Active, w.Completed, w.Dead, w.Cancelled, w.CreatedAt)
			}
			return t.flush()
		}),
	}
	list.Flags().IntVar(&limit, "limit", pgqueue.DefaultJobListLimit, "at most this many (at most pgqueue.MaxJobListLimit)")
	list.Flags().Int64Var(&before, "before", 0, "only workflows with an ID below this (the next page)")

	show := &cobra.Command{
		Use:   "show ID",
		Short: "One workflow: its status and each task's job, state and dependencies",
		Args:  exactArgs(1, "one workflow ID"),
		RunE: g.withSession(func(cmd *cobra.Command, args []string, s *session) error {
			ids, err := parseIDs(args)
			if err != nil {
				return err
			}
			w, tasks, err := s.admin.Workflow(cmd.Context(), ids[0])
			if err != nil {
				return notFoundWorkflow(ids[0], err)
			}
			if g.json() {
				out := make([]workflowTaskJSON, 0, len(tasks))
				for _, t := range tasks {
					deps := t.DependsOn
					if deps == nil {
						deps = []string{}
					}
					out = append(out, workflowTaskJSON{Name: t.Name, JobID: t.JobID, State: string(t.State), DependsOn: deps})
				}
				return printJSON(cmd.OutOrStdout(), map[string]any{"workflow": workflowToJSON(*w), "tasks": out})
			}
			wr := cmd.OutOrStdout()
			fmt.Fprintf(wr, "id:        %d\nname:      %s\nstatus:    %s\nfinished:  %s\ncreated:   %s\n\n", w.ID, cell(w.Name), w.Status, progressCell(*w), cell(w.CreatedAt))
			t := newTable(wr, "TASK", "JOB", "STATE", "AFTER")
			for _, task := range tasks {
				t.row(task.Name, task.JobID, task.State, strings.Join(task.DependsOn, ","))
			}
			return t.flush()
		}),
	}

	var cancelYes bool
	cancel := &cobra.Command{
		Use:   "cancel ID",
		Short: "Cancel every unfinished task of a workflow (needs --yes)",
		Args:  exactArgs(1, "one workflow ID"),
		RunE: g.withSession(func(cmd *cobra.Command, args []string, s *session) error {
			ids, err := parseIDs(args)
			if err != nil {
				return err
			}
			w, _, err := s.admin.Workflow(cmd.Context(), ids[0])
			if err != nil {
				return notFoundWorkflow(ids[0], err)
			}
			if !cancelYes {
				return confirmErr("would cancel the %d unfinished task(s) of workflow %d; rerun with --yes to do it", w.Waiting+w.Active, ids[0])
			}
			n, err := s.admin.CancelWorkflow(cmd.Context(), ids[0])
			if err != nil {
				return err
			}
			if g.json() {
				return printJSON(cmd.OutOrStdout(), map[string]any{"id": ids[0], "cancelled": n})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "cancelled %d task(s) of workflow %d\n", n, ids[0])
			return nil
		}),
	}
	cancel.Flags().BoolVar(&cancelYes, "yes", false, "confirm the cancel")

	retry := &cobra.Command{
		Use:   "retry ID",
		Short: "Run a failed or cancelled workflow again from its failed tasks (completed tasks are not run again)",
		Args:  exactArgs(1, "one workflow ID"),
		RunE: g.withSession(func(cmd *cobra.Command, args []string, s *session) error {
			ids, err := parseIDs(args)
			if err != nil {
				return err
			}
			n, err := s.admin.RetryWorkflow(cmd.Context(), ids[0])
			if err != nil {
				return notFoundWorkflow(ids[0], err)
			}
			if g.json() {
				return printJSON(cmd.OutOrStdout(), map[string]any{"id": ids[0], "retried": n})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%d task(s) of workflow %d back in the queue\n", n, ids[0])
			return nil
		}),
	}
	cmd.AddCommand(list, show, cancel, retry)
	return cmd
}

// notFoundWorkflow labels a missing workflow with the not_found code.
func notFoundWorkflow(id int64, err error) error {
	if isNotFound(err) {
		return coded("not_found", fmt.Errorf("workflow %d not found", id))
	}
	return err
}
