package pgqueueweb

// The pages: overview, jobs, job detail, bulk confirmation, dead letters,
// queues, periodic jobs and clients.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pgqueue/pgqueue"
)

// cachedStats returns Admin.Stats, reused for Options.StatsCacheTTL.
func (s *server) cachedStats(ctx context.Context) (*pgqueue.Stats, error) {
	if s.opts.StatsCacheTTL < 0 {
		return s.admin.Stats(ctx)
	}
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	if s.stats != nil && time.Since(s.statsAt) < s.opts.StatsCacheTTL {
		return s.stats, nil
	}
	st, err := s.admin.Stats(ctx)
	if err != nil {
		return nil, err
	}
	s.stats, s.statsAt = st, time.Now()
	return st, nil
}

// forgetStats drops the cached stats after an action changed them.
func (s *server) forgetStats() {
	s.statsMu.Lock()
	s.stats = nil
	s.statsMu.Unlock()
}

// flash is the message a page shows after an action redirected to it.
type flash struct {
	Text string
}

// doneMessages are the actions a page reports done, by the "done" query
// parameter; anything else is ignored, so a link cannot make the page
// say something else.
var doneMessages = map[string]string{
	ActionRetry:       "Retried",
	ActionCancel:      "Cancelled",
	ActionDelete:      "Deleted",
	ActionRequeueDead: "Requeued",
	ActionPurgeDead:   "Purged",
	ActionPause:       "Paused",
	ActionResume:      "Resumed",
	ActionSetLimits:   "Set the limits of",
}

func flashOf(r *http.Request) *flash {
	q := r.URL.Query()
	verb, ok := doneMessages[q.Get("done")]
	if !ok {
		return nil
	}
	changed, err1 := strconv.ParseInt(q.Get("changed"), 10, 64)
	matched, err2 := strconv.ParseInt(q.Get("matched"), 10, 64)
	if err1 == nil && err2 == nil {
		return &flash{Text: fmt.Sprintf("%s %d job(s) of %d matching (jobs that changed state in between are skipped).", verb, changed, matched)}
	}
	if id := q.Get("job"); id != "" {
		if _, err := strconv.ParseInt(id, 10, 64); err == nil {
			return &flash{Text: verb + " job " + id + "."}
		}
	}
	switch queue := q.Get("queue"); q.Get("done") {
	case ActionPause, ActionResume, ActionSetLimits:
		if queue != "" {
			return &flash{Text: verb + " queue " + queue + "."}
		}
	}
	return &flash{Text: verb + "."}
}

// overviewData is the overview page.
type overviewData struct {
	Stats       *pgqueue.Stats
	Totals      [3]int64 // available, scheduled, running
	Estimated   bool
	DeadTotal   int64
	NoHistory   bool
	HistoryErr  string
	Charts      []chart
	HistoryFrom time.Time
	HistoryTo   time.Time
}

// historyWindow is how much stats history the overview charts show.
const historyWindow = time.Hour

func (s *server) overview(w http.ResponseWriter, r *http.Request) (string, any, error) {
	ctx := r.Context()
	st, err := s.cachedStats(ctx)
	if err != nil {
		return "", nil, err
	}
	d := &overviewData{Stats: st}
	for _, q := range st.Queues {
		d.Totals[0] += q.Available.N
		d.Totals[1] += q.Scheduled.N
		d.Totals[2] += q.Running.N
		d.Estimated = d.Estimated || q.Available.Estimated || q.Scheduled.Estimated || q.Running.Estimated
	}
	for _, k := range st.Dead {
		d.DeadTotal += k.Count.N
	}
	to := time.Now().Truncate(time.Minute).Add(time.Minute)
	from := to.Add(-historyWindow)
	d.HistoryFrom, d.HistoryTo = from, to
	points, err := s.admin.StatsHistory(ctx, from, to, time.Minute)
	switch {
	case errors.Is(err, pgqueue.ErrUnsupported):
		d.NoHistory = true
	case err != nil:
		d.HistoryErr = err.Error()
	default:
		d.Charts = charts(points)
	}
	return "overview", d, nil
}

// listData is the jobs and dead-letters pages.
type listData struct {
	Dead     bool
	Form     filterForm
	States   []string
	Jobs     []*pgqueue.JobInfo
	Next     string
	First    string
	Self     string
	Actions  []choice
	Kinds    []pgqueue.KindCount
	Flash    *flash
	AllLinks []choice
}

// choice is a bulk action offered on a list.
type choice struct {
	Action string
	Label  string
	URL    string
}

var bulkLabels = map[string]string{
	ActionRetry:       "Retry",
	ActionCancel:      "Cancel",
	ActionDelete:      "Delete",
	ActionRequeueDead: "Requeue",
	ActionPurgeDead:   "Purge",
}

func (s *server) jobs(w http.ResponseWriter, r *http.Request) (string, any, error) {
	return s.list(r, false)
}

func (s *server) dead(w http.ResponseWriter, r *http.Request) (string, any, error) {
	return s.list(r, true)
}

// list renders the jobs page, or the dead-letters page (dead: the state is
// fixed to dead and the actions are requeue and purge).
func (s *server) list(r *http.Request, dead bool) (string, any, error) {
	q := r.URL.Query()
	if dead {
		// Dead and cancelled; the page's state boxes may narrow it.
		var keep []string
		for _, st := range q["state"] {
			if contains(deadStates, st) {
				keep = append(keep, st)
			}
		}
		if len(keep) == 0 {
			keep = deadStates
		}
		q["state"] = keep
	}
	f, form, err := parseFilter(q)
	if err != nil {
		return "", nil, err
	}
	page, err := s.admin.ListJobs(r.Context(), f)
	if err != nil {
		return "", nil, err
	}
	base := prefixOf(r) + "/jobs"
	acts := []string{ActionRetry, ActionCancel, ActionDelete}
	if dead {
		base = prefixOf(r) + "/dead"
		acts = []string{ActionRequeueDead, ActionPurgeDead}
	}
	d := &listData{Dead: dead, Form: form, States: stateNames, Jobs: page.Jobs, Flash: flashOf(r)}
	if dead {
		d.States = deadStates
	}
	keep := filterValues(q)
	if form.Limit != "" {
		keep.Set("limit", form.Limit)
	}
	d.Self = base + "?" + keep.Encode()
	if page.NextCursor != "" {
		next := filterValues(q)
		if form.Limit != "" {
			next.Set("limit", form.Limit)
		}
		next.Set("cursor", page.NextCursor)
		d.Next = base + "?" + next.Encode()
	}
	if f.Cursor != "" {
		d.First = d.Self
	}
	for _, a := range acts {
		d.Actions = append(d.Actions, choice{Action: a, Label: bulkLabels[a]})
		cq := filterValues(q)
		cq.Set("action", a)
		cq.Set("back", d.Self)
		d.AllLinks = append(d.AllLinks, choice{Action: a, Label: bulkLabels[a] + " all matching…", URL: prefixOf(r) + "/confirm?" + cq.Encode()})
	}
	if dead {
		st, err := s.cachedStats(r.Context())
		if err != nil {
			return "", nil, err
		}
		d.Kinds = st.Dead
	}
	if dead {
		return "dead", d, nil
	}
	return "jobs", d, nil
}

// jobData is the job detail page.
type jobData struct {
	Job       *pgqueue.JobInfo
	Args      string
	Output    string
	Meta      []kv
	Timeline  []event
	Flash     *flash
	CanRetry  bool
	CanCancel bool
	CanDelete bool
	// Requeue is true for a dead letter: retrying requeues it.
	Requeue bool
}

type kv struct{ Key, Value string }

// event is one line of a job's timeline.
type event struct {
	At   time.Time
	What string
}

func (s *server) job(w http.ResponseWriter, r *http.Request) (string, any, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return "", nil, httpErr(http.StatusNotFound, "%q is not a job ID", r.PathValue("id"))
	}
	j, err := s.admin.FindJob(r.Context(), id)
	if errors.Is(err, pgqueue.ErrJobNotFound) {
		done := ""
		if f := flashOf(r); f != nil {
			done = f.Text + " " // retried, and run already
		}
		return "", nil, httpErr(http.StatusNotFound, "%sjob %d was not found: it completed and is not kept (see Config.Retention), was deleted or purged, or never existed", done, id)
	}
	if err != nil {
		return "", nil, err
	}
	d := &jobData{Job: j, Args: pretty(j.Args), Output: pretty(j.Output), Flash: flashOf(r)}
	for k, v := range j.Metadata {
		d.Meta = append(d.Meta, kv{k, v})
	}
	sort.Slice(d.Meta, func(a, b int) bool { return d.Meta[a].Key < d.Meta[b].Key })
	d.Timeline = append(d.Timeline, event{j.CreatedAt, "enqueued"})
	finished := j.State == pgqueue.StateDead || j.State == pgqueue.StateCancelled || j.State == pgqueue.StateCompleted
	if !j.RunAt.IsZero() && !j.RunAt.Equal(j.CreatedAt) && !finished {
		what := "due"
		if j.RunAt.After(time.Now()) {
			what = "due (scheduled)"
		}
		d.Timeline = append(d.Timeline, event{j.RunAt, what})
	}
	for _, e := range j.Errors {
		d.Timeline = append(d.Timeline, event{e.At, fmt.Sprintf("attempt %d failed (%s)", e.Attempt, e.Kind)})
	}
	if !j.AttemptedAt.IsZero() {
		d.Timeline = append(d.Timeline, event{j.AttemptedAt, fmt.Sprintf("attempt %d claimed", j.Attempt)})
	}
	if j.Progress != nil {
		d.Timeline = append(d.Timeline, event{j.Progress.At, fmt.Sprintf("progress %.0f%%", j.Progress.Fraction*100)})
	}
	if !j.FinishedAt.IsZero() {
		what := "finished"
		switch j.State {
		case pgqueue.StateDead:
			what = "dead-lettered"
		case pgqueue.StateCancelled:
			what = "cancelled"
		case pgqueue.StateCompleted:
			what = "completed"
		}
		d.Timeline = append(d.Timeline, event{j.FinishedAt, what})
	}
	sort.SliceStable(d.Timeline, func(a, b int) bool { return d.Timeline[a].At.Before(d.Timeline[b].At) })
	switch j.State {
	case pgqueue.StateScheduled:
		d.CanRetry, d.CanCancel, d.CanDelete = true, true, true
	case pgqueue.StateAvailable:
		d.CanCancel, d.CanDelete = true, true
	case pgqueue.StateRunning:
		d.CanCancel = true
	case pgqueue.StateDead, pgqueue.StateCancelled:
		d.CanRetry, d.Requeue = true, true
	}
	return "job", d, nil
}

// confirmData is the confirmation page of a bulk action on every job a
// filter matches.
type confirmData struct {
	Action  string
	Label   string
	Count   int64
	Summary string
	Hidden  []kv
	Back    string
}

func (s *server) confirm(w http.ResponseWriter, r *http.Request) (string, any, error) {
	q := r.URL.Query()
	action := q.Get("action")
	if _, ok := bulkLabels[action]; !ok {
		return "", nil, httpErr(http.StatusBadRequest, "unknown action %q (want retry, cancel, delete, requeue_dead or purge_dead)", action)
	}
	if err := s.allowAction(r, action); err != nil {
		return "", nil, err
	}
	f, form, err := parseFilter(q)
	if err != nil {
		return "", nil, err
	}
	res, err := s.admin.Bulk(r.Context(), pgqueue.BulkAction(action), f, pgqueue.BulkOptions{DryRun: true})
	if err != nil {
		return "", nil, err
	}
	d := &confirmData{Action: action, Label: bulkLabels[action], Count: res.Matched, Summary: form.Summary,
		Back: safeBack(r, q.Get("back"), "/jobs")}
	fv := filterValues(q)
	keys := make([]string, 0, len(fv))
	for k := range fv {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		for _, v := range fv[k] {
			d.Hidden = append(d.Hidden, kv{k, v})
		}
	}
	return "confirm", d, nil
}

// queuesData is the queues page.
type queuesData struct {
	Queues []pgqueue.QueueStats
	Flash  *flash
}

func (s *server) queues(w http.ResponseWriter, r *http.Request) (string, any, error) {
	st, err := s.cachedStats(r.Context())
	if err != nil {
		return "", nil, err
	}
	return "queues", &queuesData{Queues: st.Queues, Flash: flashOf(r)}, nil
}

// periodicRow is a periodic job and the clients that run it.
type periodicRow struct {
	pgqueue.PeriodicInfo
	Clients []string
	// Late is true when the next run is past by more than a minute.
	Late bool
}

func (s *server) periodic(w http.ResponseWriter, r *http.Request) (string, any, error) {
	jobs, err := s.admin.PeriodicJobs(r.Context())
	if err != nil {
		return "", nil, err
	}
	clients, err := s.admin.Clients(r.Context())
	if err != nil && !errors.Is(err, pgqueue.ErrUnsupported) {
		return "", nil, err
	}
	rows := make([]periodicRow, 0, len(jobs))
	for _, j := range jobs {
		row := periodicRow{PeriodicInfo: j, Late: !j.NextRun.IsZero() && time.Since(j.NextRun) > time.Minute}
		for _, c := range clients {
			if slices.Contains(c.Periodic, j.Name) {
				row.Clients = append(row.Clients, c.ID)
			}
		}
		rows = append(rows, row)
	}
	return "periodic", rows, nil
}

// clientRow is a client with its queues formatted.
type clientRow struct {
	pgqueue.ClientInfo
	QueueList string
}

func (s *server) clients(w http.ResponseWriter, r *http.Request) (string, any, error) {
	clients, err := s.admin.Clients(r.Context())
	if err != nil {
		return "", nil, err
	}
	rows := make([]clientRow, 0, len(clients))
	for _, c := range clients {
		qs := make([]string, 0, len(c.Queues))
		for q, n := range c.Queues {
			qs = append(qs, q+"="+strconv.Itoa(n))
		}
		sort.Strings(qs)
		rows = append(rows, clientRow{ClientInfo: c, QueueList: strings.Join(qs, ", ")})
	}
	return "clients", rows, nil
}

// jobURL is a job's detail page.
func jobURL(r *http.Request, id int64, v url.Values) string {
	u := prefixOf(r) + "/jobs/" + strconv.FormatInt(id, 10)
	if len(v) > 0 {
		u += "?" + v.Encode()
	}
	return u
}
