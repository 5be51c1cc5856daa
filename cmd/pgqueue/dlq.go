package main

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/pgqueue/pgqueue"
)

// selector is the set of flags that pick dead letters in bulk.
type selector struct {
	kind, queue string
	since       string
	olderThan   string
	all         bool
}

func (sel *selector) bind(cmd *cobra.Command, withAll bool) {
	cmd.Flags().StringVar(&sel.kind, "kind", "", "only dead letters of this kind")
	cmd.Flags().StringVar(&sel.queue, "queue", "", "only dead letters of this queue")
	cmd.Flags().StringVar(&sel.since, "since", "", "only dead letters that died after this: a duration back from now (24h) or an RFC 3339 time")
	cmd.Flags().StringVar(&sel.olderThan, "older-than", "", "only dead letters that died before this: a duration back from now (720h) or an RFC 3339 time")
	if withAll {
		cmd.Flags().BoolVar(&sel.all, "all", false, "every dead letter")
	}
}

func (sel *selector) empty() bool {
	return sel.kind == "" && sel.queue == "" && sel.since == "" && sel.olderThan == "" && !sel.all
}

// parseWhen reads a duration back from now or an RFC 3339 time.
func parseWhen(flag, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(v); err == nil {
		if d < 0 {
			return time.Time{}, fmt.Errorf("--%s must not be negative, got %s", flag, v)
		}
		return time.Now().Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("--%s: %q is neither a duration (24h) nor an RFC 3339 time", flag, v)
	}
	return t, nil
}

func (sel *selector) filter(ids []int64) (pgqueue.DeadFilter, error) {
	f := pgqueue.DeadFilter{Kind: sel.kind, Queue: sel.queue, IDs: ids}
	var err error
	if f.DiedAfter, err = parseWhen("since", sel.since); err != nil {
		return f, err
	}
	if f.DiedBefore, err = parseWhen("older-than", sel.olderThan); err != nil {
		return f, err
	}
	return f, nil
}

// resolve turns job ID arguments or selector flags (not both) into a
// filter, and counts the dead letters it matches. Every given ID must be a
// dead letter, or nothing is done.
func (sel *selector) resolve(cmd *cobra.Command, args []string, s *session, verb string) (pgqueue.DeadFilter, []int64, int, error) {
	ids, err := parseIDs(args)
	if err != nil {
		return pgqueue.DeadFilter{}, nil, 0, err
	}
	if len(ids) == 0 && sel.empty() {
		return pgqueue.DeadFilter{}, nil, 0, errors.New("say which dead letters: job IDs, or --kind, --queue, --since, --older-than or --all")
	}
	if len(ids) > 0 && !sel.empty() {
		return pgqueue.DeadFilter{}, nil, 0, errors.New("give either job IDs or selector flags, not both")
	}
	f, err := sel.filter(ids)
	if err != nil {
		return f, nil, 0, err
	}
	n, err := s.admin.CountDead(cmd.Context(), f)
	if err != nil {
		return f, nil, 0, err
	}
	if len(ids) > 0 && n != len(ids) {
		return f, nil, 0, fmt.Errorf("%d of the %d IDs are not dead letters (see `pgqueue dlq list`); nothing was %s", len(ids)-n, len(ids), verb)
	}
	return f, ids, n, nil
}

func parseIDs(args []string) ([]int64, error) {
	ids := make([]int64, 0, len(args))
	for _, a := range args {
		id, err := strconv.ParseInt(a, 10, 64)
		if err != nil || id <= 0 {
			return nil, fmt.Errorf("%q is not a job ID (a positive integer)", a)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

func newDLQCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dlq",
		Short: "List, show, requeue and purge dead-lettered jobs",
		Long:  "dlq works on pgqueue_dead_jobs: jobs that failed permanently, ran out of attempts, or were cancelled. Nothing deletes them but purge.",
	}

	var listSel selector
	var limit int
	list := &cobra.Command{
		Use:   "list",
		Short: "List dead letters, newest first",
		Args:  cobra.NoArgs,
		RunE: g.withSession(func(cmd *cobra.Command, args []string, s *session) error {
			if limit <= 0 {
				return fmt.Errorf("--limit must be positive, got %d", limit)
			}
			f, err := listSel.filter(nil)
			if err != nil {
				return err
			}
			f.Limit = limit
			jobs, err := s.admin.ListDead(cmd.Context(), f)
			if err != nil {
				return err
			}
			if g.output == "json" {
				return printJSON(cmd.OutOrStdout(), deadJSON(jobs))
			}
			t := newTable(cmd.OutOrStdout(), "ID", "KIND", "QUEUE", "ATTEMPTS", "DIED AT", "LAST ERROR")
			for _, j := range jobs {
				t.row(j.ID, j.Kind, j.Queue, fmt.Sprintf("%d/%d", j.Attempt, j.MaxAttempts), j.DiedAt, truncate(lastError(j), 60))
			}
			return t.flush()
		}),
	}
	listSel.bind(list, false)
	list.Flags().IntVar(&limit, "limit", 50, "at most this many")

	show := &cobra.Command{
		Use:   "show ID",
		Short: "Show one dead letter: its args and every attempt's error",
		Args:  cobra.ExactArgs(1),
		RunE: g.withSession(func(cmd *cobra.Command, args []string, s *session) error {
			ids, err := parseIDs(args)
			if err != nil {
				return err
			}
			j, err := s.admin.DeadJob(cmd.Context(), ids[0])
			if err != nil {
				return err
			}
			if g.output == "json" {
				return printJSON(cmd.OutOrStdout(), deadJSON([]*pgqueue.DeadJob{j})[0])
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "id:        %d\nkind:      %s\nqueue:     %s\npriority:  %d\nattempts:  %d/%d\ncreated:   %s\ndied:      %s\nargs:      %s\nerrors:\n",
				j.ID, j.Kind, j.Queue, j.Priority, j.Attempt, j.MaxAttempts, cell(j.CreatedAt), cell(j.DiedAt), j.Args)
			for _, e := range j.Errors {
				fmt.Fprintf(w, "  attempt %d at %s [%s]: %s\n", e.Attempt, cell(e.At), e.Kind, e.Error)
				if e.Stack != "" {
					fmt.Fprintf(w, "    %s\n", truncate(e.Stack, 400))
				}
			}
			return nil
		}),
	}

	var rqSel selector
	var rqYes bool
	requeue := &cobra.Command{
		Use:   "requeue [ID...]",
		Short: "Move dead letters back into their queues (attempts reset, errors kept)",
		Long:  "requeue moves the given dead letters, or those chosen by --kind, --queue, --since, --older-than or --all, back into their queues. Bulk selections need --yes.",
		RunE: g.withSession(func(cmd *cobra.Command, args []string, s *session) error {
			f, ids, n, err := rqSel.resolve(cmd, args, s, "requeued")
			if err != nil {
				return err
			}
			if len(ids) == 0 && !rqYes {
				return fmt.Errorf("would requeue %d dead letter(s); rerun with --yes to do it", n)
			}
			moved, err := s.admin.RequeueDead(cmd.Context(), f)
			if err != nil {
				return err
			}
			return report(cmd, g, "requeued", moved)
		}),
	}
	rqSel.bind(requeue, true)
	requeue.Flags().BoolVar(&rqYes, "yes", false, "confirm a bulk requeue")

	var pgSel selector
	var pgYes bool
	purge := &cobra.Command{
		Use:   "purge [ID...]",
		Short: "Delete dead letters for good (needs --yes)",
		Long:  "purge deletes the given dead letters, or those chosen by --kind, --queue, --since, --older-than or --all. It always needs --yes; without it, it says how many it would delete.",
		RunE: g.withSession(func(cmd *cobra.Command, args []string, s *session) error {
			f, _, n, err := pgSel.resolve(cmd, args, s, "purged")
			if err != nil {
				return err
			}
			if !pgYes {
				return fmt.Errorf("would delete %d dead letter(s) for good; rerun with --yes to do it", n)
			}
			deleted, err := s.admin.PurgeDead(cmd.Context(), f)
			if err != nil {
				return err
			}
			return report(cmd, g, "purged", deleted)
		}),
	}
	pgSel.bind(purge, true)
	purge.Flags().BoolVar(&pgYes, "yes", false, "confirm the deletion")

	cmd.AddCommand(list, show, requeue, purge)
	return cmd
}

func report(cmd *cobra.Command, g *globals, verb string, n int) error {
	if g.output == "json" {
		return printJSON(cmd.OutOrStdout(), map[string]int{verb: n})
	}
	fmt.Fprintf(cmd.OutOrStdout(), "%s %d dead letter(s)\n", verb, n)
	return nil
}

func lastError(j *pgqueue.DeadJob) string {
	if len(j.Errors) == 0 {
		return ""
	}
	return j.Errors[len(j.Errors)-1].Error
}

// deadJobJSON is the JSON shape of a dead letter.
type deadJobJSON struct {
	ID          int64                  `json:"id"`
	Kind        string                 `json:"kind"`
	Queue       string                 `json:"queue"`
	Priority    int                    `json:"priority"`
	Args        any                    `json:"args"`
	Attempt     int                    `json:"attempt"`
	MaxAttempts int                    `json:"max_attempts"`
	Errors      []pgqueue.AttemptError `json:"errors"`
	CreatedAt   time.Time              `json:"created_at"`
	DiedAt      time.Time              `json:"died_at"`
}

func deadJSON(jobs []*pgqueue.DeadJob) []deadJobJSON {
	out := make([]deadJobJSON, 0, len(jobs))
	for _, j := range jobs {
		out = append(out, deadJobJSON{ID: j.ID, Kind: j.Kind, Queue: j.Queue, Priority: j.Priority, Args: rawJSON(j.Args),
			Attempt: j.Attempt, MaxAttempts: j.MaxAttempts, Errors: j.Errors, CreatedAt: j.CreatedAt, DiedAt: j.DiedAt})
	}
	return out
}

// rawJSON embeds stored JSON as is.
type rawJSON []byte

// MarshalJSON returns the stored bytes, or null.
func (r rawJSON) MarshalJSON() ([]byte, error) {
	if len(r) == 0 {
		return []byte("null"), nil
	}
	return r, nil
}
