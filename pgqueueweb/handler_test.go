package pgqueueweb_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgqueue/pgqueue"
	"github.com/pgqueue/pgqueue/internal/pgtest"
	"github.com/pgqueue/pgqueue/memqueue"
	"github.com/pgqueue/pgqueue/pgqueueweb"
)

// onEveryBackend runs test as a parallel subtest on each backend.
func onEveryBackend(t *testing.T, test func(t *testing.T, backend string)) {
	t.Helper()
	for _, name := range backendNames {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			test(t, name)
		})
	}
}

// deadLetter claims the job just enqueued in queue and dead-letters it
// with errText, as a worker whose job failed for good would.
func (e *env) deadLetter(queue, kind, errText string) int64 {
	e.t.Helper()
	ctx := context.Background()
	rows, err := e.backend.Claim(ctx, pgqueue.ClaimParams{Queue: queue, Kinds: []string{kind}, Limit: 1, Lease: time.Minute, ClientID: "test"})
	require.NoError(e.t, err)
	require.Len(e.t, rows, 1, "one job of kind %s to claim in %s", kind, queue)
	require.NoError(e.t, e.backend.DeadLetter(ctx, rows[0].Ref(), pgqueue.AttemptError{Attempt: 1, At: time.Now().UTC(), Kind: "panic", Error: errText, Stack: "goroutine 1 [running]:\nmain.work()\n\t/app/work.go:42"}))
	return rows[0].ID
}

func TestEveryPageRenders(t *testing.T) {
	t.Parallel()
	onEveryBackend(t, func(t *testing.T, backend string) {
		e := newEnv(t, backend, pgqueueweb.Options{})
		id := e.enqueue(testArgs{Customer: 42}, &pgqueue.EnqueueOptions{Queue: "billing", Metadata: map[string]string{"tenant": "acme"}})
		e.enqueue(testArgs{K: "crash"}, &pgqueue.EnqueueOptions{Queue: "billing"})
		deadID := e.deadLetter("billing", "crash", "boom")

		for path, want := range map[string]string{
			"/":                     "billing",
			"/jobs":                 fmt.Sprintf(`href="/ops/queue/jobs/%d"`, id),
			"/jobs/" + itoa(id):     "&#34;customer_id&#34;: 42",
			"/jobs/" + itoa(deadID): "main.work()",
			"/dead":                 "crash",
			"/queues":               "billing",
			"/periodic":             "Periodic jobs",
			"/clients":              "Clients",
			"/workflows":            "<h1>Workflows</h1>",
			"/static/app.css":       "pgqueueweb",
			"/static/app.js":        "data-refresh",
		} {
			r := e.get(path)
			require.Equal(t, http.StatusOK, r.status, "GET %s: %s", path, r.body)
			require.Contains(t, r.body, want, "GET %s", path)
		}
		r := e.get("/")
		require.Contains(t, r.body, "Nothing finished in the last hour.", "the charts of a store with an empty stats history")
		require.Contains(t, r.body, `data-refresh="5"`, "the overview refreshes itself every 5s")
		require.Contains(t, r.body, `<link rel="stylesheet" href="/ops/queue/static/app.css">`, "assets are linked under the mount prefix")
	})
}

func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "memory", pgqueueweb.Options{})
	for _, path := range []string{"/", "/jobs", "/static/app.css", "/jobs/12345"} {
		r := e.get(path)
		csp := r.header.Get("Content-Security-Policy")
		require.Contains(t, csp, "default-src 'self'", path)
		require.Contains(t, csp, "script-src 'self'", path)
		require.NotContains(t, csp, "unsafe-inline", path)
		require.Contains(t, csp, "frame-ancestors 'none'", path)
		require.Equal(t, "nosniff", r.header.Get("X-Content-Type-Options"), path)
		require.Equal(t, "same-origin", r.header.Get("Referrer-Policy"), path)
	}
	body := e.get("/jobs").body
	require.NotRegexp(t, `<script>|<script [^>]*>[^<]|style=|onclick=|onload=`, body, "no inline script or style in a page")
}

func TestMountedUnderAnyPrefix(t *testing.T) {
	t.Parallel()
	admin := pgqueue.NewAdmin(memqueue.New())
	// Options.Prefix: the handler strips the prefix itself.
	h := pgqueueweb.Handler(admin, pgqueueweb.Options{Prefix: "/admin/queue/"})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/admin/queue/jobs", nil))
	require.Equal(t, http.StatusOK, rec.Code)
	require.Contains(t, rec.Body.String(), `href="/admin/queue/dead"`)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/admin/queueX/jobs", nil))
	require.Equal(t, http.StatusNotFound, rec.Code, "a path outside the prefix is not found")

	// The prefix without its slash redirects to the overview.
	e := newEnv(t, "memory", pgqueueweb.Options{})
	rec = httptest.NewRecorder()
	mux := http.NewServeMux()
	mux.Handle("/ops/queue", http.StripPrefix(mount, pgqueueweb.Handler(admin, pgqueueweb.Options{})))
	mux.Handle("/ops/queue/", e.h)
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/ops/queue", nil))
	require.Equal(t, http.StatusFound, rec.Code)
	require.Equal(t, "/ops/queue/", rec.Header().Get("Location"))
	require.Equal(t, http.StatusNotFound, e.get("/nope").status)
}

func TestHandlerNeedsAnAdmin(t *testing.T) {
	t.Parallel()
	require.PanicsWithValue(t, "pgqueueweb: Handler needs a non-nil *pgqueue.Admin", func() { pgqueueweb.Handler(nil, pgqueueweb.Options{}) })
}

func TestJobsFilterAndPaging(t *testing.T) {
	t.Parallel()
	onEveryBackend(t, func(t *testing.T, backend string) {
		e := newEnv(t, backend, pgqueueweb.Options{})
		var ids []int64
		for i := range 5 {
			ids = append(ids, e.enqueue(testArgs{Customer: 7, Note: "n" + itoa(int64(i))}, &pgqueue.EnqueueOptions{Queue: "mail", Metadata: map[string]string{"tenant": "acme"}}))
		}
		other := e.enqueue(testArgs{Customer: 8}, &pgqueue.EnqueueOptions{Queue: "mail", Priority: 2})
		later := e.enqueue(testArgs{K: "report", Customer: 9}, &pgqueue.EnqueueOptions{Queue: "reports", Delay: time.Hour})

		byArgs := e.get("/jobs?" + url.Values{"args": {`{"customer_id": 8}`}}.Encode())
		require.Equal(t, http.StatusOK, byArgs.status, byArgs.body)
		require.Equal(t, []int64{other}, listedIDs(byArgs.body), "args containment finds the one job of customer 8")
		require.Contains(t, byArgs.body, `customer_id`, "the filter echoes the args")

		cases := map[string][]int64{
			"state=scheduled":    {later},
			"kind=report":        {later},
			"queue=reports":      {later},
			"priority=2":         {other},
			"meta=tenant%3Dacme": reversed(ids),
			"id=" + itoa(ids[1]): {ids[1]},
			"queue=mail&order=oldest&meta=tenant%3Dacme":                       ids,
			"created_after=2000-01-01&created_before=2999-01-01&queue=reports": {later},
			"finished_after=2000-01-01":                                        nil,
		}
		for q, want := range cases {
			r := e.get("/jobs?" + q)
			require.Equal(t, http.StatusOK, r.status, "%s: %s", q, r.body)
			require.Equal(t, want, listedIDs(r.body), "jobs?%s", q)
		}

		// Keyset paging: 2 per page, following the next links.
		var seen []int64
		next := "/jobs?queue=mail&limit=2"
		for range 10 {
			r := e.get(next)
			require.Equal(t, http.StatusOK, r.status, r.body)
			seen = append(seen, listedIDs(r.body)...)
			m := regexp.MustCompile(`href="/ops/queue(/jobs\?[^"]*cursor=[^"]*)" id="next-page"`).FindStringSubmatch(r.body)
			if m == nil {
				break
			}
			next = strings.ReplaceAll(m[1], "&amp;", "&")
		}
		require.Equal(t, reversed(append(append([]int64{}, ids...), other)), seen, "paging lists every mail job once, newest first")
	})
}

func TestBadFiltersAreExplained(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "memory", pgqueueweb.Options{})
	for q, want := range map[string]string{
		"args=%7Bnope":             "args: &#34;{nope&#34; is not valid JSON",
		"state=finished":           "unknown state",
		"priority=high":            "priority: &#34;high&#34; is not a number",
		"priority=99":              "priority 99 is outside",
		"id=-1":                    "id: &#34;-1&#34; is not a job ID",
		"created_after=yesterday":  "created after: &#34;yesterday&#34; is not a time",
		"created_before=yesterday": "created before",
		"finished_after=x":         "finished after",
		"finished_before=x":        "finished before",
		"meta=tenant":              "metadata: &#34;tenant&#34; is not key=value",
		"limit=lots":               "limit: &#34;lots&#34; is not a number",
		"limit=5000":               "Limit",
		"cursor=bogus":             "is not a cursor",
		"order=random":             "unknown order",
	} {
		r := e.get("/jobs?" + q)
		require.Equal(t, http.StatusBadRequest, r.status, q)
		require.Contains(t, r.body, want, q)
	}
}

func TestJobPageErrors(t *testing.T) {
	t.Parallel()
	onEveryBackend(t, func(t *testing.T, backend string) {
		e := newEnv(t, backend, pgqueueweb.Options{})
		r := e.get("/jobs/987654")
		require.Equal(t, http.StatusNotFound, r.status)
		require.Contains(t, r.body, "job 987654 was not found: it completed")
		r = e.get("/jobs/abc")
		require.Equal(t, http.StatusNotFound, r.status)
		require.Contains(t, r.body, "&#34;abc&#34; is not a job ID")
	})
}

func TestScriptInJobDataIsRenderedInert(t *testing.T) {
	t.Parallel()
	onEveryBackend(t, func(t *testing.T, backend string) {
		e := newEnv(t, backend, pgqueueweb.Options{})
		evil := `<script>alert("pwned")</script><img src=x onerror=alert(1)>`
		e.enqueue(testArgs{K: "evil", Note: evil}, &pgqueue.EnqueueOptions{Queue: "evil", Metadata: map[string]string{"x": evil}})
		id := e.deadLetter("evil", "evil", evil)
		for _, path := range []string{"/jobs", "/jobs/" + itoa(id), "/dead", "/dead?kind=evil", "/?x=" + url.QueryEscape(evil)} {
			r := e.get(path)
			require.Equal(t, http.StatusOK, r.status, path)
			require.NotContains(t, r.body, "<script>alert", path)
			require.NotContains(t, r.body, "<img src=x", path)
		}
		r := e.get("/jobs/" + itoa(id))
		require.Regexp(t, `id="job-args">[^<]*(&lt;|\\u003c)script(&gt;|\\u003e)alert`, r.body, "the args show the script as text")
		require.Contains(t, r.body, `&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;`, "the error and metadata are shown as text")
		// A filter echoed back into the form is escaped too.
		r = e.get("/jobs?" + url.Values{"kind": {evil}}.Encode())
		require.NotContains(t, r.body, "<script>alert")
	})
}

func TestStateChangingRequestsNeedCSRFToken(t *testing.T) {
	t.Parallel()
	onEveryBackend(t, func(t *testing.T, backend string) {
		e := newEnv(t, backend, pgqueueweb.Options{})
		id := e.enqueue(testArgs{}, &pgqueue.EnqueueOptions{Queue: "q1"})
		s := e.session("/jobs/" + itoa(id))
		path := mount + "/jobs/" + itoa(id) + "/cancel"
		form := func(tok string) *strings.Reader {
			return strings.NewReader(url.Values{"csrf": {tok}}.Encode())
		}
		newPost := func(tok string, cookie bool) *http.Request {
			req := httptest.NewRequest(http.MethodPost, path, form(tok))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if cookie {
				req.AddCookie(s.cookie)
			}
			return req
		}
		noToken := newPost("", true)
		require.Equal(t, http.StatusForbidden, e.do(noToken).status, "a POST without the form token is refused")
		wrong := newPost(strings.Repeat("A", 43), true)
		require.Equal(t, http.StatusForbidden, e.do(wrong).status, "a POST with another token is refused")
		noCookie := newPost(s.token, false)
		r := e.do(noCookie)
		require.Equal(t, http.StatusForbidden, r.status, "a POST without the cookie is refused")
		require.Contains(t, r.body, "no CSRF cookie")
		crossSite := newPost(s.token, true)
		crossSite.Header.Set("Sec-Fetch-Site", "cross-site")
		require.Equal(t, http.StatusForbidden, e.do(crossSite).status, "a cross-site POST is refused even with the token")
		otherOrigin := newPost(s.token, true)
		otherOrigin.Header.Set("Origin", "https://evil.example")
		require.Equal(t, http.StatusForbidden, e.do(otherOrigin).status, "a POST from another origin is refused")
		get := httptest.NewRequest(http.MethodGet, path, nil)
		require.Equal(t, http.StatusMethodNotAllowed, e.do(get).status, "actions are POST only")

		info, err := e.admin.FindJob(context.Background(), id)
		require.NoError(t, err)
		require.Equal(t, pgqueue.StateAvailable, info.State, "no refused request changed the job")
		require.Contains(t, e.auditLog(), `"action":"csrf_refused"`)

		require.Equal(t, http.StatusSeeOther, e.post(s, "/jobs/"+itoa(id)+"/cancel", nil).status, "the same POST with cookie and token works")
	})
}

func TestReadOnlyRefusesEveryAction(t *testing.T) {
	t.Parallel()
	onEveryBackend(t, func(t *testing.T, backend string) {
		e := newEnv(t, backend, pgqueueweb.Options{ReadOnly: true})
		id := e.enqueue(testArgs{}, &pgqueue.EnqueueOptions{Queue: "q1", Delay: time.Hour})
		page := e.get("/jobs/" + itoa(id))
		require.Contains(t, page.body, "read-only")
		require.NotContains(t, page.body, `id="cancel"`, "no action buttons in read-only mode")
		require.NotContains(t, e.get("/jobs").body, `id="selected-cancel"`)
		s := e.session("/jobs") // the bulk form still carries a token
		for path, form := range map[string]url.Values{
			"/jobs/" + itoa(id) + "/cancel": nil,
			"/jobs/" + itoa(id) + "/retry":  nil,
			"/jobs/" + itoa(id) + "/delete": nil,
			"/bulk":                         {"action": {"cancel"}, "scope": {"filter"}},
			"/queues/pause":                 {"queue": {"q1"}},
			"/queues/set_limits":            {"queue": {"q1"}, "max_running": {"3"}},
		} {
			r := e.post(s, path, form)
			require.Equal(t, http.StatusForbidden, r.status, path)
			require.Contains(t, r.body, "this dashboard is read-only", path)
		}
		r := e.get("/confirm?action=cancel")
		require.Equal(t, http.StatusForbidden, r.status, "the confirmation of a bulk action is refused too")
		info, err := e.admin.FindJob(context.Background(), id)
		require.NoError(t, err)
		require.Equal(t, pgqueue.StateScheduled, info.State)
	})
}

func TestAuthorizeIsAskedForEveryPageAndAction(t *testing.T) {
	t.Parallel()
	var asked []string
	deny := errors.New("only ops may do that")
	e := newEnv(t, "memory", pgqueueweb.Options{Authorize: func(r *http.Request, action string) error {
		asked = append(asked, action)
		if action == pgqueueweb.ActionCancel || r.Header.Get("X-Test-Deny-View") != "" {
			return deny
		}
		return nil
	}})
	id := e.enqueue(testArgs{}, nil)
	s := e.session("/jobs/" + itoa(id))
	r := e.post(s, "/jobs/"+itoa(id)+"/cancel", nil)
	require.Equal(t, http.StatusForbidden, r.status)
	require.Contains(t, r.body, "not allowed to cancel: only ops may do that")
	require.Contains(t, asked, pgqueueweb.ActionView)
	require.Contains(t, asked, pgqueueweb.ActionCancel)
	require.Contains(t, e.auditLog(), `"level":"WARN","msg":"pgqueueweb action","actor":"anonymous","action":"cancel"`)
	require.Equal(t, http.StatusSeeOther, e.post(s, "/jobs/"+itoa(id)+"/retry", nil).status, "retry is allowed")

	for _, path := range []string{"/", "/jobs", "/jobs/" + itoa(id), "/dead", "/queues", "/periodic", "/clients", "/static/app.css"} {
		req := httptest.NewRequest(http.MethodGet, mount+path, nil)
		req.Header.Set("X-Test-Deny-View", "1")
		r := e.do(req)
		require.Equal(t, http.StatusForbidden, r.status, path)
		require.Contains(t, r.body, "only ops may do that", path)
	}
}

func TestJobActions(t *testing.T) {
	t.Parallel()
	onEveryBackend(t, func(t *testing.T, backend string) {
		e := newEnv(t, backend, pgqueueweb.Options{Actor: func(r *http.Request) string { return "ada" }})
		ctx := context.Background()
		scheduled := e.enqueue(testArgs{}, &pgqueue.EnqueueOptions{Queue: "q1", Delay: time.Hour})
		waiting := e.enqueue(testArgs{}, &pgqueue.EnqueueOptions{Queue: "q1"})
		s := e.session("/jobs/" + itoa(scheduled))

		r := e.post(s, "/jobs/"+itoa(scheduled)+"/retry", nil)
		require.Equal(t, http.StatusSeeOther, r.status, r.body)
		require.Equal(t, "/ops/queue/jobs/"+itoa(scheduled)+"?done=retry&job="+itoa(scheduled), r.header.Get("Location"))
		require.Contains(t, e.get("/jobs/"+itoa(scheduled)+"?done=retry&job="+itoa(scheduled)).body, "Retried job "+itoa(scheduled)+".")
		require.Contains(t, e.get("/jobs/"+itoa(scheduled)+"?done=%3Cb%3Eowned").body, "Job "+itoa(scheduled), "an unknown done message is ignored")
		info, err := e.admin.FindJob(ctx, scheduled)
		require.NoError(t, err)
		require.Equal(t, pgqueue.StateAvailable, info.State, "retry made the scheduled job due")

		require.Equal(t, http.StatusSeeOther, e.post(s, "/jobs/"+itoa(scheduled)+"/cancel", nil).status)
		info, err = e.admin.FindJob(ctx, scheduled)
		require.NoError(t, err)
		require.Equal(t, pgqueue.StateCancelled, info.State, "cancel moved it to the dead letters, marked cancelled")
		require.Contains(t, e.get("/jobs/"+itoa(scheduled)).body, `id="job-state">cancelled<`)

		r = e.post(s, "/jobs/"+itoa(scheduled)+"/retry", nil)
		require.Equal(t, http.StatusSeeOther, r.status, "retrying a dead letter requeues it")
		info, err = e.admin.FindJob(ctx, scheduled)
		require.NoError(t, err)
		require.Equal(t, pgqueue.StateAvailable, info.State)

		r = e.post(s, "/jobs/"+itoa(waiting)+"/delete", nil)
		require.Equal(t, http.StatusSeeOther, r.status, r.body)
		_, err = e.admin.FindJob(ctx, waiting)
		require.ErrorIs(t, err, pgqueue.ErrJobNotFound, "delete removed the job")
		r = e.post(s, "/jobs/"+itoa(waiting)+"/delete", nil)
		require.Equal(t, http.StatusConflict, r.status, "deleting a job that is gone says so")
		r = e.post(s, "/jobs/"+itoa(waiting)+"/cancel", nil)
		require.Equal(t, http.StatusNotFound, r.status, "cancelling a job that is gone: %s", r.body)
		require.Equal(t, http.StatusNotFound, e.post(s, "/jobs/"+itoa(waiting)+"/explode", nil).status)
		require.Equal(t, http.StatusNotFound, e.post(s, "/jobs/x/retry", nil).status)

		// A running job cannot be retried.
		e.enqueue(testArgs{K: "slow"}, &pgqueue.EnqueueOptions{Queue: "q2"})
		rows, err := e.backend.Claim(ctx, pgqueue.ClaimParams{Queue: "q2", Kinds: []string{"slow"}, Limit: 1, Lease: time.Minute, ClientID: "worker-1"})
		require.NoError(t, err)
		require.Len(t, rows, 1)
		r = e.post(s, "/jobs/"+itoa(rows[0].ID)+"/retry", nil)
		require.Equal(t, http.StatusConflict, r.status, r.body)
		require.Contains(t, r.body, "job is running")

		log := e.auditLog()
		require.Contains(t, log, `"actor":"ada","action":"retry"`)
		require.Contains(t, log, `"job":`+itoa(scheduled))
		require.Contains(t, log, `"action":"delete"`)
	})
}

func TestBulkActions(t *testing.T) {
	t.Parallel()
	onEveryBackend(t, func(t *testing.T, backend string) {
		e := newEnv(t, backend, pgqueueweb.Options{})
		ctx := context.Background()
		var acme []int64
		for range 3 {
			acme = append(acme, e.enqueue(testArgs{Customer: 1}, &pgqueue.EnqueueOptions{Queue: "bulk"}))
		}
		keep := e.enqueue(testArgs{Customer: 2}, &pgqueue.EnqueueOptions{Queue: "bulk"})

		// All matching: the confirmation shows the count, the POST acts.
		q := url.Values{"queue": {"bulk"}, "args": {`{"customer_id":1}`}}
		list := e.get("/jobs?" + q.Encode())
		m := regexp.MustCompile(`href="/ops/queue(/confirm\?[^"]*action=cancel[^"]*)"`).FindStringSubmatch(list.body)
		require.NotNil(t, m, "the jobs page links to cancelling all matching jobs")
		confirm := e.get(strings.ReplaceAll(m[1], "&amp;", "&"))
		require.Equal(t, http.StatusOK, confirm.status, confirm.body)
		require.Contains(t, confirm.body, `<p id="confirm-count">3 job(s) match: queue bulk, args containing {&#34;customer_id&#34;:1}.</p>`)
		s := e.session(strings.ReplaceAll(m[1], "&amp;", "&"))
		form := url.Values{"action": {"cancel"}, "scope": {"filter"}, "back": {"/ops/queue/jobs?queue=bulk"}, "queue": {"bulk"}, "args": {`{"customer_id":1}`}}
		r := e.post(s, "/bulk", form)
		require.Equal(t, http.StatusSeeOther, r.status, r.body)
		require.Equal(t, "/ops/queue/jobs?changed=3&done=cancel&matched=3&queue=bulk", r.header.Get("Location"))
		require.Contains(t, e.get("/jobs?changed=3&done=cancel&matched=3&queue=bulk").body, "Cancelled 3 job(s) of 3 matching")
		for _, id := range acme {
			info, err := e.admin.FindJob(ctx, id)
			require.NoError(t, err)
			require.Equal(t, pgqueue.StateCancelled, info.State)
		}
		info, err := e.admin.FindJob(ctx, keep)
		require.NoError(t, err)
		require.Equal(t, pgqueue.StateAvailable, info.State, "a job outside the filter is untouched")
		require.Contains(t, e.auditLog(), `"filter":"queue bulk, args containing {\"customer_id\":1}","matched":3,"changed":3`)

		// Selected: requeue two dead letters by ID, then purge one.
		r = e.post(s, "/bulk", url.Values{"action": {"requeue_dead"}, "scope": {"ids"}, "id": {itoa(acme[0]), itoa(acme[1])}, "back": {"/ops/queue/dead"}})
		require.Equal(t, http.StatusSeeOther, r.status, r.body)
		require.Equal(t, "/ops/queue/dead?changed=2&done=requeue_dead&matched=2", r.header.Get("Location"))
		r = e.post(s, "/bulk", url.Values{"action": {"purge_dead"}, "scope": {"ids"}, "id": {itoa(acme[2])}})
		require.Equal(t, http.StatusSeeOther, r.status, r.body)
		_, err = e.admin.FindJob(ctx, acme[2])
		require.ErrorIs(t, err, pgqueue.ErrJobNotFound)
		r = e.post(s, "/bulk", url.Values{"action": {"retry"}, "scope": {"ids"}, "id": {itoa(acme[0]), "424242"}})
		require.Equal(t, http.StatusSeeOther, r.status, r.body)
		require.Equal(t, "/ops/queue/jobs?changed=1&done=retry&matched=2", r.header.Get("Location"), "an available job is due already (counted), an unknown one is skipped")

		// Mistakes are explained.
		for _, c := range []struct {
			form url.Values
			want string
		}{
			{url.Values{"action": {"explode"}, "scope": {"ids"}}, "unknown action"},
			{url.Values{"action": {"cancel"}, "scope": {"everything"}}, "unknown scope"},
			{url.Values{"action": {"cancel"}, "scope": {"ids"}}, "no jobs selected"},
			{url.Values{"action": {"cancel"}, "scope": {"ids"}, "id": {"x"}}, "is not a job ID"},
			{url.Values{"action": {"cancel"}, "scope": {"filter"}, "args": {"{"}}, "not valid JSON"},
			{url.Values{"action": {"retry"}, "scope": {"filter"}, "state": {"dead"}}, "the filter keeps only"},
		} {
			r := e.post(s, "/bulk", c.form)
			require.Equal(t, http.StatusBadRequest, r.status, "%v", c.form)
			require.Contains(t, r.body, c.want, "%v", c.form)
		}
		require.Equal(t, http.StatusBadRequest, e.get("/confirm?action=explode").status)
		require.Equal(t, http.StatusBadRequest, e.get("/confirm?action=cancel&args=%7B").status)
		require.Contains(t, e.get("/confirm?action=cancel&queue=nothing-here").body, "Nothing to do.")
		// The return address is never another site.
		r = e.post(s, "/bulk", url.Values{"action": {"cancel"}, "scope": {"filter"}, "queue": {"none"}, "back": {"https://evil.example/"}})
		require.Equal(t, "/ops/queue/jobs?changed=0&done=cancel&matched=0", r.header.Get("Location"))
		r = e.post(s, "/bulk", url.Values{"action": {"cancel"}, "scope": {"filter"}, "queue": {"none"}, "back": {"//evil.example/ops/queue/"}})
		require.True(t, strings.HasPrefix(r.header.Get("Location"), "/ops/queue/jobs?"), r.header.Get("Location"))
	})
}

func TestQueueActions(t *testing.T) {
	t.Parallel()
	onEveryBackend(t, func(t *testing.T, backend string) {
		e := newEnv(t, backend, pgqueueweb.Options{})
		ctx := context.Background()
		e.enqueue(testArgs{}, &pgqueue.EnqueueOptions{Queue: "reports"})
		s := e.session("/queues")
		r := e.post(s, "/queues/pause", url.Values{"queue": {"reports"}})
		require.Equal(t, http.StatusSeeOther, r.status, r.body)
		require.Equal(t, "/ops/queue/queues?done=pause&queue=reports", r.header.Get("Location"))
		page := e.get("/queues?done=pause&queue=reports")
		require.Contains(t, page.body, "Paused queue reports.")
		require.Contains(t, page.body, `id="resume-reports"`)

		r = e.post(s, "/queues/set_limits", url.Values{"queue": {"reports"}, "max_running": {"3"}, "rate": {"2.5"}, "burst": {"5"}})
		require.Equal(t, http.StatusSeeOther, r.status, r.body)
		st, err := e.admin.Stats(ctx)
		require.NoError(t, err)
		require.Len(t, st.Queues, 1)
		require.True(t, st.Queues[0].Paused)
		require.Equal(t, 3, st.Queues[0].Limits.MaxRunning)
		require.NotNil(t, st.Queues[0].Limits.Rate)
		require.Equal(t, 2.5, st.Queues[0].Limits.Rate.PerSecond)
		require.Equal(t, 5, st.Queues[0].Limits.Rate.Burst)
		require.Contains(t, e.get("/queues").body, "2.5/s, burst 5")

		require.Equal(t, http.StatusSeeOther, e.post(s, "/queues/resume", url.Values{"queue": {"reports"}}).status)
		require.Equal(t, http.StatusSeeOther, e.post(s, "/queues/set_limits", url.Values{"queue": {"reports"}, "max_running": {"0"}}).status)
		st, err = e.admin.Stats(ctx)
		require.NoError(t, err)
		require.False(t, st.Queues[0].Paused)
		require.Zero(t, st.Queues[0].Limits.MaxRunning)
		require.Nil(t, st.Queues[0].Limits.Rate, "an empty rate clears the rate limit")

		for _, c := range []struct {
			path string
			form url.Values
			want string
		}{
			{"/queues/set_limits", url.Values{"queue": {"reports"}, "max_running": {"-1"}}, "max running"},
			{"/queues/set_limits", url.Values{"queue": {"reports"}, "rate": {"fast"}}, "rate: &#34;fast&#34;"},
			{"/queues/set_limits", url.Values{"queue": {"reports"}, "rate": {"1"}, "burst": {"-2"}}, "burst"},
			{"/queues/pause", url.Values{"queue": {""}}, "queue"},
		} {
			r := e.post(s, c.path, c.form)
			require.Equal(t, http.StatusBadRequest, r.status, "%s %v: %s", c.path, c.form, r.body)
			require.Contains(t, r.body, c.want)
		}
		require.Equal(t, http.StatusNotFound, e.post(s, "/queues/explode", url.Values{"queue": {"reports"}}).status)
		require.Contains(t, e.auditLog(), `"action":"set_limits","remote":"192.0.2.1:1234","queue":"reports","max_running":3,"rate":2.5,"burst":5`)
	})
}

// bareBackend hides every optional interface of the backend it wraps.
type bareBackend struct{ pgqueue.Backend }

func TestBackendWithoutTheOperatorAPI(t *testing.T) {
	t.Parallel()
	h := pgqueueweb.Handler(pgqueue.NewAdmin(bareBackend{memqueue.New()}), pgqueueweb.Options{})
	for _, path := range []string{"/", "/jobs", "/jobs/1", "/queues", "/periodic", "/clients", "/dead"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		require.Equal(t, http.StatusNotImplemented, rec.Code, path)
		require.Contains(t, rec.Body.String(), "needs a backend implementing", path)
	}
}

func TestNotMigratedSchemaIsExplained(t *testing.T) {
	t.Parallel()
	pool, schema := pgtest.NewSchema(t)
	b, err := pgqueue.NewPostgres(pool, &pgqueue.PostgresOptions{Schema: schema})
	require.NoError(t, err)
	h := pgqueueweb.Handler(pgqueue.NewAdmin(b), pgqueueweb.Options{})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	require.Equal(t, http.StatusServiceUnavailable, rec.Code, rec.Body.String())
	require.Contains(t, rec.Body.String(), "migrate")
}

func listedIDs(body string) []int64 {
	var out []int64
	for _, m := range regexp.MustCompile(`<td><a href="/ops/queue/jobs/(\d+)">`).FindAllStringSubmatch(body, -1) {
		id, _ := strconv.ParseInt(m[1], 10, 64)
		out = append(out, id)
	}
	return out
}

func reversed(ids []int64) []int64 {
	out := make([]int64, len(ids))
	for i, id := range ids {
		out[len(ids)-1-i] = id
	}
	return out
}

func itoa(id int64) string { return strconv.FormatInt(id, 10) }
