package pgqueueweb_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgqueue/pgqueue"
	"github.com/pgqueue/pgqueue/pgqueueweb"
)

// workflowBackends are the backends that store workflows.
var workflowBackends = []string{"memory", "postgres"}

// onWorkflowBackends runs test as a parallel subtest on each backend that
// stores workflows.
func onWorkflowBackends(t *testing.T, test func(t *testing.T, backend string)) {
	t.Helper()
	for _, name := range workflowBackends {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			test(t, name)
		})
	}
}

// evilTask is a task name that would run as a script if it reached the
// page unescaped.
const evilTask = `<script>alert('pwned')</script>`

// diamond enqueues a workflow "fetch → (resize, thumbnail) → <script>…" of
// web.test jobs in queue and returns its IDs.
func (e *env) diamond(queue string) pgqueue.WorkflowIDs {
	e.t.Helper()
	wf := pgqueue.NewWorkflow("images <b>nightly</b>")
	opts := &pgqueue.EnqueueOptions{Queue: queue}
	fetch := wf.Add(testArgs{Customer: 1}, opts, pgqueue.Named("fetch"))
	resize := wf.Add(testArgs{Customer: 2}, opts, pgqueue.Named("resize"), pgqueue.After(fetch))
	thumb := wf.Add(testArgs{Customer: 3}, opts, pgqueue.Named("thumbnail"), pgqueue.After(fetch))
	wf.Add(testArgs{Customer: 4}, opts, pgqueue.Named(evilTask), pgqueue.After(resize, thumb))
	ids, err := e.client.EnqueueWorkflow(context.Background(), wf)
	require.NoError(e.t, err)
	return ids
}

// waitWorkflow waits until workflow id has status want, as the store says.
func waitWorkflow(t *testing.T, admin *pgqueue.Admin, id int64, want pgqueue.WorkflowStatus) {
	t.Helper()
	require.Eventually(t, func() bool {
		w, _, err := admin.Workflow(context.Background(), id)
		return err == nil && w.Status == want
	}, 30*time.Second, 50*time.Millisecond, "workflow %d never became %s", id, want)
}

func TestWorkflowPagesShowAGraph(t *testing.T) {
	t.Parallel()
	onWorkflowBackends(t, func(t *testing.T, backend string) {
		e := newEnv(t, backend, pgqueueweb.Options{})
		(&site{env: e}).worker(t, "images", func(ctx context.Context, job *pgqueue.Job[testArgs]) error { return nil })
		ids := e.diamond("images")
		waitWorkflow(t, e.admin, ids.ID, pgqueue.WorkflowSucceeded)

		list := e.get("/workflows")
		require.Equal(t, http.StatusOK, list.status, list.body)
		require.Contains(t, list.body, fmt.Sprintf(`href="/ops/queue/workflows/%d"`, ids.ID))
		require.Contains(t, list.body, "images &lt;b&gt;nightly&lt;/b&gt;", "the workflow's name is escaped")
		require.Contains(t, list.body, `<span class="wfstatus succeeded">succeeded</span>`)
		require.Contains(t, list.body, "4/4")
		require.Contains(t, list.body, `aria-current="page">Workflows</a>`, "the nav marks the section")

		page := e.get("/workflows/" + itoa(ids.ID))
		require.Equal(t, http.StatusOK, page.status, page.body)
		require.Contains(t, page.body, `<svg id="workflow-graph"`)
		nodes := regexp.MustCompile(`<a class="node (\w+)" href="/ops/queue/jobs/(\d+)"`).FindAllStringSubmatch(page.body, -1)
		require.Len(t, nodes, 4, "a node per task")
		for i, n := range nodes {
			require.Equal(t, "completed", n[1], "node %d is coloured by its state", i)
			require.Equal(t, itoa(ids.Jobs[i]), n[2], "node %d links to its job", i)
		}
		require.Equal(t, 4, strings.Count(page.body, `<text`)/2, "each node names its task and its state in text")
		require.Equal(t, 4, strings.Count(page.body, `class="edge"`), "an edge per dependency: fetch→resize, fetch→thumbnail and two into the last task")
		require.NotContains(t, page.body, evilTask, "the task name is never markup")
		require.Contains(t, page.body, "&lt;script&gt;alert(&#39;pwned&#39;)&lt;/script&gt;", "the task name is shown as text")
		require.NotContains(t, page.body, `id="retry-workflow"`, "a workflow that succeeded has nothing to retry")
		require.NotContains(t, page.body, `id="cancel-workflow"`, "a finished workflow has nothing to cancel")
		require.Contains(t, page.body, `<table id="workflow-tasks">`)
		require.Contains(t, page.body, "<td>resize, thumbnail</td>", "the table lists each task's dependencies")
		require.Contains(t, page.body, "4 of 4 tasks finished")
		require.NotRegexp(t, `<script>|<script [^>]*>[^<]|style=|onclick=|onload=`, page.body, "no inline script or style in the graph (the CSP forbids them)")

		r := e.get("/workflows/999999")
		require.Equal(t, http.StatusNotFound, r.status)
		require.Contains(t, r.body, "workflow 999999 was not found")
		require.Equal(t, http.StatusNotFound, e.get("/workflows/x").status)
	})
}

func TestWorkflowListPaging(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "memory", pgqueueweb.Options{})
	var ids []int64
	for i := range 55 {
		wf := pgqueue.NewWorkflow(fmt.Sprintf("wf-%02d", i))
		wf.Add(testArgs{Customer: i}, &pgqueue.EnqueueOptions{Queue: "paging", Delay: time.Hour})
		w, err := e.client.EnqueueWorkflow(context.Background(), wf)
		require.NoError(t, err)
		ids = append(ids, w.ID)
	}
	first := e.get("/workflows")
	require.Equal(t, http.StatusOK, first.status, first.body)
	require.Equal(t, 50, strings.Count(first.body, `<span class="wfstatus running">`), "a page holds 50 workflows")
	require.Contains(t, first.body, "wf-54", "newest first")
	require.NotContains(t, first.body, "wf-04")
	m := regexp.MustCompile(`href="/ops/queue(/workflows\?before=\d+)" id="next"`).FindStringSubmatch(first.body)
	require.NotNil(t, m, "the first page links to older workflows")
	require.Equal(t, fmt.Sprintf("/workflows?before=%d", ids[5]), m[1])
	second := e.get(m[1])
	require.Equal(t, 5, strings.Count(second.body, `<span class="wfstatus running">`))
	require.Contains(t, second.body, "wf-00")
	require.NotContains(t, second.body, `id="next"`, "the last page has no older link")
	require.Contains(t, second.body, `href="/ops/queue/workflows">Newest</a>`)
	r := e.get("/workflows?before=abc")
	require.Equal(t, http.StatusBadRequest, r.status)
	require.Contains(t, r.body, "is not a workflow ID")
}

func TestWorkflowCancelAndRetry(t *testing.T) {
	t.Parallel()
	onWorkflowBackends(t, func(t *testing.T, backend string) {
		ctx := context.Background()
		e := newEnv(t, backend, pgqueueweb.Options{})
		ids := e.diamond("manual") // no worker: the tasks wait
		path := "/workflows/" + itoa(ids.ID)

		job := e.get("/jobs/" + itoa(ids.Jobs[1]))
		require.Contains(t, job.body, `<a href="/ops/queue`+path+`" id="job-workflow">`, "a task's job page links to its workflow")

		page := e.get(path)
		require.Contains(t, page.body, `<span class="wfstatus running" id="workflow-status">running</span>`)
		require.Contains(t, page.body, `<a class="node available"`)
		require.Equal(t, 3, strings.Count(page.body, `<a class="node waiting"`))
		require.Contains(t, page.body, `href="/ops/queue`+path+`/cancel"`, "a running workflow offers a cancel, behind a confirmation")
		require.NotContains(t, page.body, `id="retry-workflow"`, "a running workflow cannot be retried")

		confirm := e.get(path + "/cancel")
		require.Equal(t, http.StatusOK, confirm.status, confirm.body)
		require.Contains(t, confirm.body, "3 waiting and 1 active task(s) will be cancelled", "fetch is due (active); the others wait on it")
		s := e.session(path + "/cancel")

		// Without the form's token, or while running for a retry: refused.
		noToken := s
		noToken.token = "x"
		require.Equal(t, http.StatusForbidden, e.post(noToken, path+"/cancel", nil).status, "a cancel without the CSRF token is refused")
		r := e.post(s, path+"/retry", nil)
		require.Equal(t, http.StatusConflict, r.status, r.body)
		require.Contains(t, r.body, "cannot be retried yet")
		w, _, err := e.admin.Workflow(ctx, ids.ID)
		require.NoError(t, err)
		require.Equal(t, pgqueue.WorkflowRunning, w.Status, "nothing was cancelled")

		r = e.post(s, path+"/cancel", nil)
		require.Equal(t, http.StatusSeeOther, r.status, r.body)
		require.Equal(t, "/ops/queue"+path+"?done=cancel&tasks=4", r.header.Get("Location"))
		require.Contains(t, e.auditLog(), fmt.Sprintf(`"action":"cancel","remote":"192.0.2.1:1234","workflow":%d,"tasks":4`, ids.ID))
		page = e.get(path + "?done=cancel&tasks=4")
		require.Contains(t, page.body, "Cancelled 4 task(s) of the workflow.")
		require.Contains(t, page.body, `<span class="wfstatus cancelled" id="workflow-status">`)
		require.Equal(t, 4, strings.Count(page.body, `<a class="node cancelled"`))
		require.Contains(t, page.body, `id="retry-workflow"`, "a cancelled workflow can be retried")

		r = e.post(s, path+"/retry", nil)
		require.Equal(t, http.StatusSeeOther, r.status, r.body)
		require.Equal(t, "/ops/queue"+path+"?done=retry&tasks=4", r.header.Get("Location"))
		require.Contains(t, e.auditLog(), fmt.Sprintf(`"action":"retry","remote":"192.0.2.1:1234","workflow":%d,"tasks":4`, ids.ID))
		w, _, err = e.admin.Workflow(ctx, ids.ID)
		require.NoError(t, err)
		require.Equal(t, pgqueue.WorkflowRunning, w.Status, "the retried workflow runs again")

		require.Equal(t, http.StatusNotFound, e.post(s, path+"/explode", nil).status)
		require.Equal(t, http.StatusNotFound, e.post(s, "/workflows/999999/cancel", nil).status)
	})
}

func TestWorkflowActionsRefusedReadOnly(t *testing.T) {
	t.Parallel()
	onWorkflowBackends(t, func(t *testing.T, backend string) {
		e := newEnv(t, backend, pgqueueweb.Options{ReadOnly: true})
		ids := e.diamond("manual")
		path := "/workflows/" + itoa(ids.ID)
		page := e.get(path)
		require.Equal(t, http.StatusOK, page.status, page.body)
		require.NotContains(t, page.body, "<form", "no action forms in read-only mode")
		require.NotContains(t, page.body, `id="cancel-workflow"`)
		r := e.get(path + "/cancel")
		require.Equal(t, http.StatusForbidden, r.status, "the cancel confirmation is refused too")
		s := e.session("/jobs") // the bulk form still carries a token
		for _, action := range []string{"cancel", "retry"} {
			r := e.post(s, path+"/"+action, nil)
			require.Equal(t, http.StatusForbidden, r.status, action)
			require.Contains(t, r.body, "this dashboard is read-only", action)
		}
		require.Contains(t, e.auditLog(), fmt.Sprintf(`"workflow":%d,"error":"this dashboard is read-only: cancel is not allowed"`, ids.ID))
		w, _, err := e.admin.Workflow(context.Background(), ids.ID)
		require.NoError(t, err)
		require.Equal(t, pgqueue.WorkflowRunning, w.Status)
		require.Zero(t, w.Cancelled)
	})
}

func TestWorkflowGraphIsBounded(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "memory", pgqueueweb.Options{})
	wf := pgqueue.NewWorkflow("wide")
	root := wf.Add(testArgs{}, &pgqueue.EnqueueOptions{Queue: "wide"}, pgqueue.Named("root"))
	for i := range 300 {
		wf.Add(testArgs{Customer: i}, &pgqueue.EnqueueOptions{Queue: "wide"}, pgqueue.Named(fmt.Sprintf("leaf-%03d", i)), pgqueue.After(root))
	}
	ids, err := e.client.EnqueueWorkflow(context.Background(), wf)
	require.NoError(t, err)
	page := e.get("/workflows/" + itoa(ids.ID))
	require.Equal(t, http.StatusOK, page.status, page.body)
	require.NotContains(t, page.body, "<svg", "301 tasks are past the graph's bound")
	require.Contains(t, page.body, "This workflow has 301 tasks, more than the graph shows (300)")
	require.Equal(t, 301, strings.Count(page.body, `<th scope="row">`), "the table still lists every task")
}

func TestWorkflowsUnsupportedOnRedis(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "redis", pgqueueweb.Options{})
	list := e.get("/workflows")
	require.Equal(t, http.StatusOK, list.status, "the nav entry leads to a page, not an error")
	require.Contains(t, list.body, "Workflows are not supported on this backend")
	r := e.get("/workflows/1")
	require.Equal(t, http.StatusNotImplemented, r.status)
	require.Contains(t, r.body, "Workflows are not supported on this backend")
	e.enqueue(testArgs{}, &pgqueue.EnqueueOptions{Queue: "q1"})
	s := e.session("/jobs") // a list of jobs carries a token
	r = e.post(s, "/workflows/1/cancel", nil)
	require.Equal(t, http.StatusNotImplemented, r.status)
	require.Contains(t, r.body, "Workflows are not supported on this backend")
}

func TestWorkflowPagesAndActionsAskAuthorize(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var asked []string
	e := newEnv(t, "memory", pgqueueweb.Options{Authorize: func(r *http.Request, action string) error {
		mu.Lock()
		asked = append(asked, action)
		mu.Unlock()
		if action == pgqueueweb.ActionCancel || r.Header.Get("X-Test-Deny-View") != "" {
			return errors.New("only ops may do that")
		}
		return nil
	}})
	ids := e.diamond("manual")
	path := "/workflows/" + itoa(ids.ID)
	r := e.get(path + "/cancel")
	require.Equal(t, http.StatusForbidden, r.status, "the cancel confirmation asks for the cancel action")
	require.Contains(t, r.body, "not allowed to cancel: only ops may do that")
	s := e.session("/jobs")
	r = e.post(s, path+"/cancel", nil)
	require.Equal(t, http.StatusForbidden, r.status)
	require.Contains(t, e.auditLog(), fmt.Sprintf(`"action":"cancel","remote":"192.0.2.1:1234","workflow":%d,"error":"not allowed to cancel: only ops may do that"`, ids.ID))
	mu.Lock()
	require.Contains(t, asked, pgqueueweb.ActionCancel)
	mu.Unlock()
	for _, p := range []string{"/workflows", path} {
		req := httptest.NewRequest(http.MethodGet, mount+p, nil)
		req.Header.Set("X-Test-Deny-View", "1")
		r := e.do(req)
		require.Equal(t, http.StatusForbidden, r.status, p)
	}
	w, _, err := e.admin.Workflow(context.Background(), ids.ID)
	require.NoError(t, err)
	require.Zero(t, w.Cancelled, "nothing was cancelled")
}
