package pgqueueweb

// The state-changing requests (POST only): one job's retry, cancel and
// delete; bulk actions on selected jobs or on every job a filter matches;
// pausing, resuming and limiting queues. Each is CSRF-checked (by the
// action wrapper), refused in read-only mode, authorized and audited.

import (
	"errors"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/pgqueue/pgqueue"
)

// jobAction is POST /jobs/{id}/{action}: retry, cancel or delete one job.
func (s *server) jobAction(w http.ResponseWriter, r *http.Request) (string, error) {
	action := r.PathValue("action")
	if action != ActionRetry && action != ActionCancel && action != ActionDelete {
		return "", httpErr(http.StatusNotFound, "unknown job action %q (want retry, cancel or delete)", action)
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return "", httpErr(http.StatusNotFound, "%q is not a job ID", r.PathValue("id"))
	}
	if err := s.allowAction(r, action); err != nil {
		s.audit(r, action, err, slog.Int64("job", id))
		return "", err
	}
	ctx := r.Context()
	switch action {
	case ActionRetry:
		err = s.admin.RetryJob(ctx, id)
	case ActionCancel:
		err = s.admin.CancelJob(ctx, id)
	case ActionDelete:
		var res pgqueue.BulkResult
		res, err = s.admin.Bulk(ctx, pgqueue.BulkDelete, pgqueue.JobFilter{IDs: []int64{id}}, pgqueue.BulkOptions{})
		if err == nil && res.Changed == 0 {
			err = httpErr(http.StatusConflict, "job %d was not deleted: only waiting jobs can be deleted (cancel a running job instead)", id)
		}
	}
	s.audit(r, action, err, slog.Int64("job", id))
	if err != nil {
		return "", err
	}
	s.forgetStats()
	v := url.Values{"done": {action}, "job": {strconv.FormatInt(id, 10)}}
	if action == ActionDelete {
		return prefixOf(r) + "/jobs?" + v.Encode(), nil
	}
	return jobURL(r, id, v), nil
}

// bulk is POST /bulk: an action on the selected jobs (scope=ids, the id
// fields) or on every job the filter fields match (scope=filter).
func (s *server) bulk(w http.ResponseWriter, r *http.Request) (string, error) {
	action := r.PostFormValue("action")
	if _, ok := bulkLabels[action]; !ok {
		return "", httpErr(http.StatusBadRequest, "unknown action %q (want retry, cancel, delete, requeue_dead or purge_dead)", action)
	}
	if err := s.allowAction(r, action); err != nil {
		s.audit(r, action, err)
		return "", err
	}
	ctx := r.Context()
	back := safeBack(r, r.PostFormValue("back"), "/jobs")
	var (
		res   pgqueue.BulkResult
		err   error
		attrs []slog.Attr
	)
	switch scope := r.PostFormValue("scope"); scope {
	case "ids":
		var ids []int64
		for _, v := range splitList(r.PostForm["id"]) {
			id, perr := strconv.ParseInt(v, 10, 64)
			if perr != nil || id <= 0 {
				return "", httpErr(http.StatusBadRequest, "%q is not a job ID", v)
			}
			ids = append(ids, id)
		}
		if len(ids) == 0 {
			return "", httpErr(http.StatusBadRequest, "no jobs selected: tick the jobs to %s first", action)
		}
		if len(ids) > pgqueue.MaxJobListLimit {
			return "", httpErr(http.StatusBadRequest, "too many jobs selected (%d, at most %d): act on all matching instead", len(ids), pgqueue.MaxJobListLimit)
		}
		attrs = append(attrs, slog.Any("ids", ids))
		if action == ActionRetry {
			res, err = s.retryEach(r, ids)
		} else {
			res, err = s.admin.Bulk(ctx, pgqueue.BulkAction(action), pgqueue.JobFilter{IDs: ids}, pgqueue.BulkOptions{})
		}
	case "filter":
		f, form, perr := parseFilter(r.PostForm)
		if perr != nil {
			return "", perr
		}
		f.Cursor, f.Limit = "", 0
		attrs = append(attrs, slog.String("filter", form.Summary))
		if n, perr := strconv.ParseInt(r.PostFormValue("expect"), 10, 64); perr == nil {
			attrs = append(attrs, slog.Int64("confirmed_count", n)) // the count the confirmation page showed
		}
		res, err = s.admin.Bulk(ctx, pgqueue.BulkAction(action), f, pgqueue.BulkOptions{})
	default:
		return "", httpErr(http.StatusBadRequest, "unknown scope %q (want ids or filter)", scope)
	}
	attrs = append(attrs, slog.Int64("matched", res.Matched), slog.Int64("changed", res.Changed))
	s.audit(r, action, err, attrs...)
	if err != nil {
		return "", err
	}
	s.forgetStats()
	return addQuery(back, url.Values{"done": {action}, "matched": {strconv.FormatInt(res.Matched, 10)}, "changed": {strconv.FormatInt(res.Changed, 10)}}), nil
}

// retryEach retries selected jobs one by one with Admin.RetryJob, which
// also requeues dead letters; jobs that are running or gone are skipped.
func (s *server) retryEach(r *http.Request, ids []int64) (pgqueue.BulkResult, error) {
	res := pgqueue.BulkResult{Action: pgqueue.BulkRetry, Matched: int64(len(ids)), Batches: 1}
	for _, id := range ids {
		err := s.admin.RetryJob(r.Context(), id)
		switch {
		case err == nil:
			res.Changed++
		case errors.Is(err, pgqueue.ErrJobRunning), errors.Is(err, pgqueue.ErrJobNotFound):
		default:
			return res, err
		}
	}
	return res, nil
}

// addQuery adds v to the query of the dashboard URL u, replacing the
// keys v sets.
func addQuery(u string, v url.Values) string {
	path, query, _ := strings.Cut(u, "?")
	q, _ := url.ParseQuery(query)
	for k, vals := range v {
		q[k] = vals
	}
	for _, k := range []string{"done", "job", "changed", "matched"} {
		if _, ok := v[k]; !ok {
			q.Del(k)
		}
	}
	return path + "?" + q.Encode()
}

// queueAction is POST /queues/{action}: pause, resume or set_limits of
// the queue in the form's queue field.
func (s *server) queueAction(w http.ResponseWriter, r *http.Request) (string, error) {
	action := r.PathValue("action")
	if action != ActionPause && action != ActionResume && action != ActionSetLimits {
		return "", httpErr(http.StatusNotFound, "unknown queue action %q (want pause, resume or set_limits)", action)
	}
	queue := strings.TrimSpace(r.PostFormValue("queue"))
	if err := pgqueue.CheckQueueName(queue); err != nil {
		return "", err
	}
	if err := s.allowAction(r, action); err != nil {
		s.audit(r, action, err, slog.String("queue", queue))
		return "", err
	}
	ctx := r.Context()
	attrs := []slog.Attr{slog.String("queue", queue)}
	var err error
	switch action {
	case ActionPause:
		err = s.admin.PauseQueue(ctx, queue)
	case ActionResume:
		_, err = s.admin.ResumeQueue(ctx, queue)
	case ActionSetLimits:
		var l pgqueue.QueueLimits
		l, err = parseLimits(r)
		if err == nil {
			attrs = append(attrs, slog.Int("max_running", l.MaxRunning))
			if l.Rate != nil {
				attrs = append(attrs, slog.Float64("rate", l.Rate.PerSecond), slog.Int("burst", l.Rate.Burst))
			}
			err = s.admin.SetQueueLimits(ctx, queue, l)
		}
	}
	s.audit(r, action, err, attrs...)
	if err != nil {
		return "", err
	}
	s.forgetStats()
	return prefixOf(r) + "/queues?" + url.Values{"done": {action}, "queue": {queue}}.Encode(), nil
}

// parseLimits reads the limits form: max_running (empty or 0: no cap),
// rate (jobs per second; empty: no rate limit) and burst.
func parseLimits(r *http.Request) (pgqueue.QueueLimits, error) {
	var l pgqueue.QueueLimits
	if v := strings.TrimSpace(r.PostFormValue("max_running")); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return l, httpErr(http.StatusBadRequest, "max running: %q is not a whole number of 0 or more", v)
		}
		l.MaxRunning = n
	}
	if v := strings.TrimSpace(r.PostFormValue("rate")); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f <= 0 || math.IsInf(f, 0) {
			return l, httpErr(http.StatusBadRequest, "rate: %q is not a positive number of jobs per second", v)
		}
		rl := &pgqueue.RateLimit{PerSecond: f}
		if b := strings.TrimSpace(r.PostFormValue("burst")); b != "" {
			n, err := strconv.Atoi(b)
			if err != nil || n < 0 {
				return l, httpErr(http.StatusBadRequest, "burst: %q is not a whole number of 0 or more", b)
			}
			rl.Burst = n
		}
		l.Rate = rl
	}
	return l, nil
}
