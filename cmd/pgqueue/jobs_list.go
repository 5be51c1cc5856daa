package main

// `pgqueue jobs list` and the bulk forms of `jobs retry|cancel|delete`:
// the JobFilter as flags.

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/pgqueue/pgqueue"
)

// filterFlags is a pgqueue.JobFilter as command-line flags.
type filterFlags struct {
	states, queues, kinds, meta []string
	priorities                  []int
	ids                         []int64
	args                        string
	createdAfter, createdBefore string
	all                         bool
}

func (ff *filterFlags) bind(cmd *cobra.Command, bulk bool) {
	fl := cmd.Flags()
	fl.StringSliceVar(&ff.states, "state", nil, "keep jobs in these states: available, scheduled, running, dead, completed (repeat or comma-separate)")
	fl.StringSliceVar(&ff.queues, "queue", nil, "keep jobs of these queues")
	fl.StringSliceVar(&ff.kinds, "kind", nil, "keep jobs of these kinds")
	fl.IntSliceVar(&ff.priorities, "priority", nil, "keep jobs with these priorities (1-10)")
	fl.Int64SliceVar(&ff.ids, "id", nil, "keep these job IDs")
	fl.StringVar(&ff.args, "args", "", `keep jobs whose args contain this JSON, e.g. '{"customer_id":42}' (no index: see "Seeing your jobs")`)
	fl.StringArrayVar(&ff.meta, "meta", nil, "keep jobs with this metadata key=value (repeatable)")
	fl.StringVar(&ff.createdAfter, "created-after", "", "keep jobs created at or after this RFC 3339 time, or this long ago (e.g. 1h)")
	fl.StringVar(&ff.createdBefore, "created-before", "", "keep jobs created before this RFC 3339 time, or this long ago (e.g. 1h)")
	if bulk {
		fl.BoolVar(&ff.all, "all", false, "act on every job in the action's states (no filter)")
	}
}

func (ff *filterFlags) empty() bool {
	return len(ff.states)+len(ff.queues)+len(ff.kinds)+len(ff.meta)+len(ff.priorities)+len(ff.ids) == 0 &&
		ff.args == "" && ff.createdAfter == "" && ff.createdBefore == ""
}

func (ff *filterFlags) filter() (pgqueue.JobFilter, error) {
	f := pgqueue.JobFilter{Queues: ff.queues, Kinds: ff.kinds, Priorities: ff.priorities, IDs: ff.ids}
	for _, s := range ff.states {
		f.States = append(f.States, pgqueue.State(s))
	}
	if ff.args != "" {
		if !json.Valid([]byte(ff.args)) {
			return f, usageErr("--args %q is not valid JSON", ff.args)
		}
		f.Args = json.RawMessage(ff.args)
	}
	for _, kv := range ff.meta {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return f, usageErr("--meta %q must be key=value", kv)
		}
		if f.Metadata == nil {
			f.Metadata = map[string]string{}
		}
		f.Metadata[k] = v
	}
	var err error
	if f.CreatedAfter, err = parseWhen("created-after", ff.createdAfter); err != nil {
		return f, err
	}
	if f.CreatedBefore, err = parseWhen("created-before", ff.createdBefore); err != nil {
		return f, err
	}
	return f, nil
}

// jobsPageJSON is the JSON shape of `jobs list`.
type jobsPageJSON struct {
	Jobs       []jobJSON `json:"jobs"`
	NextCursor string    `json:"next_cursor,omitempty"`
}

func newJobsListCmd(g *globals) *cobra.Command {
	var (
		ff     filterFlags
		limit  int
		cursor string
		order  string
	)
	list := &cobra.Command{
		Use:   "list",
		Short: "List and search jobs, waiting, running and dead, newest first, a page at a time",
		Long: "list prints one page of the jobs the filter flags match (all of them when none is given), newest first, " +
			"and the command for the next page. Pages continue by job ID (a cursor), never by offset, so no job is skipped " +
			"or repeated while jobs come and go. Each query is bounded by a statement timeout (pgqueue.ListTimeout).",
		Args: noArgs,
		RunE: g.withSession(func(cmd *cobra.Command, args []string, s *session) error {
			f, err := ff.filter()
			if err != nil {
				return err
			}
			f.Limit, f.Cursor, f.Order = limit, cursor, pgqueue.JobOrder(order)
			page, err := s.admin.ListJobs(cmd.Context(), f)
			if err != nil {
				return err
			}
			if g.json() {
				out := jobsPageJSON{Jobs: make([]jobJSON, len(page.Jobs)), NextCursor: page.NextCursor}
				for i, j := range page.Jobs {
					out.Jobs[i] = jobToJSON(j)
				}
				return printJSON(cmd.OutOrStdout(), out)
			}
			t := newTable(cmd.OutOrStdout(), "ID", "STATE", "QUEUE", "KIND", "PRIO", "ATTEMPTS", "CREATED", "ARGS")
			for _, j := range page.Jobs {
				t.row(j.ID, string(j.State), j.Queue, j.Kind, j.Priority, fmt.Sprintf("%d/%d", j.Attempt, j.MaxAttempts), j.CreatedAt, truncate(string(j.Args), 50))
			}
			if err := t.flush(); err != nil {
				return err
			}
			if page.NextCursor != "" {
				fmt.Fprintf(cmd.OutOrStdout(), "more: rerun with --cursor %s\n", page.NextCursor)
			}
			return nil
		}),
	}
	ff.bind(list, false)
	list.Flags().IntVar(&limit, "limit", pgqueue.DefaultJobListLimit, fmt.Sprintf("jobs per page, at most %d", pgqueue.MaxJobListLimit))
	list.Flags().StringVar(&cursor, "cursor", "", "continue from the page that printed this cursor")
	list.Flags().StringVar(&order, "order", string(pgqueue.NewestFirst), "newest or oldest first")
	return list
}

// bulkRun runs a bulk action over the filter flags: it counts first, and
// acts only with --yes.
func bulkRun(cmd *cobra.Command, g *globals, s *session, ff *filterFlags, action pgqueue.BulkAction, yes bool, batch int) error {
	if ff.empty() && !ff.all {
		return usageErr("say which jobs: a job ID, filter flags (--state, --queue, --kind, --args, --meta, ...) or --all")
	}
	f, err := ff.filter()
	if err != nil {
		return err
	}
	opts := pgqueue.BulkOptions{BatchSize: batch, DryRun: true}
	res, err := s.admin.Bulk(cmd.Context(), action, f, opts)
	if err != nil {
		return err
	}
	if !yes {
		return confirmErr("would %s %d job(s) (states %v); rerun with --yes to do it", action, res.Matched, action.States())
	}
	opts.DryRun = false
	res, err = s.admin.Bulk(cmd.Context(), action, f, opts)
	if err != nil {
		return err
	}
	if g.json() {
		return printJSON(cmd.OutOrStdout(), res)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "%s: %d job(s) changed of %d matched, in %d batch(es)\n", action, res.Changed, res.Matched, res.Batches)
	return nil
}

// bulkFlags binds the filter, --yes and --batch of a bulk command.
type bulkFlags struct {
	ff    filterFlags
	yes   bool
	batch int
}

func (bf *bulkFlags) bind(cmd *cobra.Command) {
	bf.ff.bind(cmd, true)
	cmd.Flags().BoolVar(&bf.yes, "yes", false, "do it (without it, only count the jobs)")
	cmd.Flags().IntVar(&bf.batch, "batch", pgqueue.DefaultBulkBatch, fmt.Sprintf("jobs per statement, at most %d", pgqueue.MaxBulkBatch))
}

func newJobsDeleteCmd(g *globals) *cobra.Command {
	var bf bulkFlags
	del := &cobra.Command{
		Use:   "delete",
		Short: "Delete waiting jobs matching filter flags, for good (needs --yes)",
		Long:  "delete deletes the available and scheduled jobs the filter flags match, in batches; running jobs are left alone (cancel them). Without --yes it says how many it would delete.",
		Args:  noArgs,
		RunE: g.withSession(func(cmd *cobra.Command, args []string, s *session) error {
			return bulkRun(cmd, g, s, &bf.ff, pgqueue.BulkDelete, bf.yes, bf.batch)
		}),
	}
	bf.bind(del)
	return del
}
