package main

import (
	"fmt"
	"io"
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
			return time.Time{}, usageErr("--%s must not be negative, got %s", flag, v)
		}
		return time.Now().Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, usageErr("--%s: %q is neither a duration (24h) nor an RFC 3339 time", flag, v)
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
		return pgqueue.DeadFilter{}, nil, 0, usageErr("say which dead letters: job IDs, or --kind, --queue, --since, --older-than or --all")
	}
	if len(ids) > 0 && !sel.empty() {
		return pgqueue.DeadFilter{}, nil, 0, usageErr("give either job IDs or selector flags, not both")
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
		return f, nil, 0, coded("not_found", fmt.Errorf("%d of the %d IDs are not dead letters (see `pgqueue dlq list`); nothing was %s", len(ids)-n, len(ids), verb))
	}
	return f, ids, n, nil
}

func parseIDs(args []string) ([]int64, error) {
	ids := make([]int64, 0, len(args))
	for _, a := range args {
		id, err := strconv.ParseInt(a, 10, 64)
		if err != nil || id <= 0 {
			return nil, usageErr("%q is not a job ID (a positive integer)", a)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

func newDLQCmd(g *globals) *cobra.Command {
	cmd := group("dlq", "List, show, requeue and purge dead-lettered jobs",
		"dlq works on pgqueue_dead_jobs: jobs that failed permanently, ran out of attempts, or were cancelled. Nothing deletes them but purge.")

	var listSel selector
	var limit int
	list := &cobra.Command{
		Use:   "list",
		Short: "List dead letters, newest first",
		Args:  noArgs,
		RunE: g.withSession(func(cmd *cobra.Command, args []string, s *session) error {
			if limit <= 0 {
				return usageErr("--limit must be positive, got %d", limit)
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
			if g.json() {
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
	list.Flags().IntVar(&limit, "limit", pgqueue.DefaultDeadLimit, "at most this many (pgqueue.DefaultDeadLimit)")

	show := &cobra.Command{
		Use:   "show ID",
		Short: "Show one dead letter: its args, metadata and every attempt's error, with full panic stacks",
		Args:  exactArgs(1, "one job ID"),
		RunE: g.withSession(func(cmd *cobra.Command, args []string, s *session) error {
			ids, err := parseIDs(args)
			if err != nil {
				return err
			}
			j, err := s.admin.DeadJob(cmd.Context(), ids[0])
			if err != nil {
				return err
			}
			return showDead(cmd, g, s, j)
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
				return confirmErr("would requeue %d dead letter(s); rerun with --yes to do it", n)
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
				return confirmErr("would delete %d dead letter(s) for good; rerun with --yes to do it", n)
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
	if g.json() {
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

// printAttempts writes an error history: one line per attempt, and a
// panic's full stack indented under it.
func printAttempts(w io.Writer, errs []pgqueue.AttemptError) {
	if len(errs) == 0 {
		fmt.Fprintln(w, "errors:    -")
		return
	}
	fmt.Fprintln(w, "errors:")
	for _, e := range errs {
		fmt.Fprintf(w, "  attempt %d at %s [%s]: %s\n", e.Attempt, cell(e.At), cell(e.Kind), cell(e.Error))
		if e.Stack != "" {
			fmt.Fprintln(w, indent(e.Stack, "      "))
		}
	}
}

// deadJobJSON is the JSON shape of a dead letter.
type deadJobJSON struct {
	ID          int64             `json:"id"`
	Kind        string            `json:"kind"`
	Queue       string            `json:"queue"`
	State       string            `json:"state"`
	Priority    int               `json:"priority"`
	Args        rawJSON           `json:"args"`
	Attempt     int               `json:"attempt"`
	MaxAttempts int               `json:"max_attempts"`
	Errors      []attemptJSON     `json:"errors"`
	Metadata    map[string]string `json:"metadata,omitempty"`
	CreatedAt   *time.Time        `json:"created_at,omitempty"`
	DiedAt      *time.Time        `json:"died_at,omitempty"`
	Output      rawJSON           `json:"output,omitempty"`
}

// showDead prints one dead letter, with the output its last run recorded
// (read through FindJob: the dead-letter listing does not carry it).
func showDead(cmd *cobra.Command, g *globals, s *session, j *pgqueue.DeadJob) error {
	var output []byte
	if f, err := s.admin.FindJob(cmd.Context(), j.ID); err == nil && f.State == pgqueue.StateDead {
		output = f.Output
	}
	if g.json() {
		out := deadJobToJSON(j)
		out.Output = output
		return printJSON(cmd.OutOrStdout(), out)
	}
	w := cmd.OutOrStdout()
	fmt.Fprintf(w, "id:        %d\nkind:      %s\nqueue:     %s\nstate:     dead\npriority:  %d\nattempts:  %d/%d\ncreated:   %s\ndied:      %s\nargs:      %s\nmetadata:  %s\n",
		j.ID, cell(j.Kind), cell(j.Queue), j.Priority, j.Attempt, j.MaxAttempts, cell(j.CreatedAt), cell(j.DiedAt), cell(string(j.Args)), metadataText(j.Metadata))
	printOutputAndProgress(w, output, nil)
	printAttempts(w, j.Errors)
	return nil
}

// attemptJSON is the JSON shape of one entry of an error history.
type attemptJSON struct {
	Attempt int        `json:"attempt"`
	At      *time.Time `json:"at,omitempty"`
	Kind    string     `json:"kind"`
	Error   string     `json:"error"`
	Stack   string     `json:"stack,omitempty"`
}

func attemptsJSON(errs []pgqueue.AttemptError) []attemptJSON {
	out := make([]attemptJSON, 0, len(errs))
	for _, e := range errs {
		out = append(out, attemptJSON{Attempt: e.Attempt, At: timeOrNil(e.At), Kind: e.Kind, Error: e.Error, Stack: e.Stack})
	}
	return out
}

func deadJobToJSON(j *pgqueue.DeadJob) deadJobJSON {
	return deadJobJSON{ID: j.ID, Kind: j.Kind, Queue: j.Queue, State: "dead", Priority: j.Priority, Args: rawJSON(j.Args),
		Attempt: j.Attempt, MaxAttempts: j.MaxAttempts, Errors: attemptsJSON(j.Errors), Metadata: j.Metadata,
		CreatedAt: timeOrNil(j.CreatedAt), DiedAt: timeOrNil(j.DiedAt)}
}

func deadJSON(jobs []*pgqueue.DeadJob) []deadJobJSON {
	out := make([]deadJobJSON, 0, len(jobs))
	for _, j := range jobs {
		out = append(out, deadJobToJSON(j))
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
