package pgqueueweb

// The jobs filter form: every field of pgqueue.JobFilter as a query
// parameter, parsed into a JobFilter and echoed back into the form.

import (
	"encoding/json"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pgqueue/pgqueue"
)

// filterKeys are the query parameters of the filter form (cursor and
// limit are the listing's own).
var filterKeys = []string{"state", "queue", "kind", "priority", "id", "created_after", "created_before", "finished_after", "finished_before", "meta", "args", "order"}

// filterForm is the filter as the form shows it.
type filterForm struct {
	States         []string
	Queue          string
	Kind           string
	Priority       string
	ID             string
	CreatedAfter   string
	CreatedBefore  string
	FinishedAfter  string
	FinishedBefore string
	Meta           string
	Args           string
	Order          string
	Limit          string
	// Query is the filter's query string (without cursor and limit), for
	// links that keep it.
	Query string
	// Summary describes the filter in words; "every job" when empty.
	Summary string
}

// filterValues keeps only the filter's parameters of v.
func filterValues(v url.Values) url.Values {
	out := url.Values{}
	for _, k := range filterKeys {
		for _, s := range v[k] {
			if strings.TrimSpace(s) != "" {
				out.Add(k, s)
			}
		}
	}
	return out
}

// splitList splits comma- or space-separated values of every occurrence.
func splitList(vals []string) []string {
	var out []string
	for _, v := range vals {
		out = append(out, strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\r' || r == '\t' })...)
	}
	return out
}

// timeLayouts are the time formats the filter accepts: RFC 3339, the
// browser's datetime-local (read as UTC) and a plain date.
var timeLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02"}

func parseTime(field, s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	for _, l := range timeLayouts {
		if t, err := time.ParseInLocation(l, s, time.UTC); err == nil {
			return t, nil
		}
	}
	return time.Time{}, httpErr(http.StatusBadRequest, "%s: %q is not a time (use 2006-01-02T15:04, UTC, or RFC 3339)", field, s)
}

// parseFilter reads a JobFilter from the form values v. Errors are 400s
// naming the field.
func parseFilter(v url.Values) (pgqueue.JobFilter, filterForm, error) {
	var f pgqueue.JobFilter
	form := filterForm{
		States: v["state"], Queue: v.Get("queue"), Kind: v.Get("kind"), Priority: v.Get("priority"), ID: v.Get("id"),
		CreatedAfter: v.Get("created_after"), CreatedBefore: v.Get("created_before"),
		FinishedAfter: v.Get("finished_after"), FinishedBefore: v.Get("finished_before"),
		Meta: strings.Join(v["meta"], "\n"), Args: v.Get("args"), Order: v.Get("order"), Limit: v.Get("limit"),
	}
	form.Query = filterValues(v).Encode()
	for _, s := range v["state"] {
		if s != "" {
			f.States = append(f.States, pgqueue.State(s))
		}
	}
	f.Queues = splitList(v["queue"])
	f.Kinds = splitList(v["kind"])
	for _, p := range splitList(v["priority"]) {
		n, err := strconv.Atoi(p)
		if err != nil {
			return f, form, httpErr(http.StatusBadRequest, "priority: %q is not a number", p)
		}
		f.Priorities = append(f.Priorities, n)
	}
	for _, p := range splitList(v["id"]) {
		n, err := strconv.ParseInt(p, 10, 64)
		if err != nil || n <= 0 {
			return f, form, httpErr(http.StatusBadRequest, "id: %q is not a job ID", p)
		}
		f.IDs = append(f.IDs, n)
	}
	var err error
	if f.CreatedAfter, err = parseTime("created after", form.CreatedAfter); err != nil {
		return f, form, err
	}
	if f.CreatedBefore, err = parseTime("created before", form.CreatedBefore); err != nil {
		return f, form, err
	}
	if f.FinishedAfter, err = parseTime("finished after", form.FinishedAfter); err != nil {
		return f, form, err
	}
	if f.FinishedBefore, err = parseTime("finished before", form.FinishedBefore); err != nil {
		return f, form, err
	}
	for _, line := range v["meta"] {
		for _, kv := range strings.FieldsFunc(line, func(r rune) bool { return r == '\n' || r == '\r' }) {
			kv = strings.TrimSpace(kv)
			if kv == "" {
				continue
			}
			k, val, ok := strings.Cut(kv, "=")
			if !ok || k == "" {
				return f, form, httpErr(http.StatusBadRequest, "metadata: %q is not key=value", kv)
			}
			if f.Metadata == nil {
				f.Metadata = map[string]string{}
			}
			f.Metadata[strings.TrimSpace(k)] = strings.TrimSpace(val)
		}
	}
	if a := strings.TrimSpace(form.Args); a != "" {
		if !json.Valid([]byte(a)) {
			return f, form, httpErr(http.StatusBadRequest, "args: %q is not valid JSON (for example {\"customer_id\": 42})", a)
		}
		f.Args = json.RawMessage(a)
	}
	f.Order = pgqueue.JobOrder(form.Order)
	if form.Limit != "" {
		n, err := strconv.Atoi(form.Limit)
		if err != nil {
			return f, form, httpErr(http.StatusBadRequest, "limit: %q is not a number", form.Limit)
		}
		f.Limit = n
	}
	f.Cursor = v.Get("cursor")
	form.Summary = summary(f)
	return f, form, nil
}

// summary describes a filter in words, for confirmation pages.
func summary(f pgqueue.JobFilter) string {
	var parts []string
	add := func(name string, vals []string) {
		if len(vals) > 0 {
			parts = append(parts, name+" "+strings.Join(vals, " or "))
		}
	}
	var states, prios, ids []string
	for _, s := range f.States {
		states = append(states, string(s))
	}
	for _, p := range f.Priorities {
		prios = append(prios, strconv.Itoa(p))
	}
	for _, id := range f.IDs {
		ids = append(ids, strconv.FormatInt(id, 10))
	}
	add("state", states)
	add("queue", f.Queues)
	add("kind", f.Kinds)
	add("priority", prios)
	add("ID", ids)
	if !f.CreatedAfter.IsZero() {
		parts = append(parts, "created at or after "+when(f.CreatedAfter))
	}
	if !f.CreatedBefore.IsZero() {
		parts = append(parts, "created before "+when(f.CreatedBefore))
	}
	if !f.FinishedAfter.IsZero() {
		parts = append(parts, "finished at or after "+when(f.FinishedAfter))
	}
	if !f.FinishedBefore.IsZero() {
		parts = append(parts, "finished before "+when(f.FinishedBefore))
	}
	keys := make([]string, 0, len(f.Metadata))
	for k := range f.Metadata {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		parts = append(parts, "metadata "+k+"="+f.Metadata[k])
	}
	if len(f.Args) > 0 {
		parts = append(parts, "args containing "+string(f.Args))
	}
	if len(parts) == 0 {
		return "every job"
	}
	return strings.Join(parts, ", ")
}
