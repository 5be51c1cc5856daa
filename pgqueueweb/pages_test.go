package pgqueueweb_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgqueue/pgqueue"
	"github.com/pgqueue/pgqueue/memqueue"
	"github.com/pgqueue/pgqueue/pgqueueweb"
)

func TestPeriodicAndClientsPages(t *testing.T) {
	t.Parallel()
	onEveryBackend(t, func(t *testing.T, backend string) {
		e := newEnv(t, backend, pgqueueweb.Options{})
		every, err := pgqueue.Every(time.Hour)
		require.NoError(t, err)
		c, err := pgqueue.New(e.backend, pgqueue.Config{
			ID:       "web-test-client",
			Queues:   map[string]pgqueue.QueueConfig{"nightly": {MaxWorkers: 3}},
			Periodic: []pgqueue.PeriodicJob{{Name: "nightly-report", Schedule: every, Args: testArgs{K: "report.nightly"}, Options: &pgqueue.EnqueueOptions{Queue: "nightly"}, RunOnStart: true}},
		})
		require.NoError(t, err)
		require.NoError(t, c.Start(context.Background()))
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = c.Stop(ctx)
		})
		require.Eventually(t, func() bool {
			jobs, err := e.admin.PeriodicJobs(context.Background())
			return err == nil && len(jobs) > 0
		}, 10*time.Second, 20*time.Millisecond, "the periodic job's first tick was never recorded")

		r := e.get("/periodic")
		require.Equal(t, http.StatusOK, r.status, r.body)
		require.Contains(t, r.body, "<th scope=\"row\">nightly-report</th>")
		require.Contains(t, r.body, "web-test-client", "the page says which client runs it")
		r = e.get("/clients")
		require.Equal(t, http.StatusOK, r.status, r.body)
		require.Contains(t, r.body, "<th scope=\"row\">web-test-client</th>")
		require.Contains(t, r.body, "nightly=3")
		require.Contains(t, r.body, "nightly-report")
	})
}

// outputBackend is a memqueue whose jobs report an output and progress,
// as a backend that stores them (JobInfo.Output, JobInfo.Progress) does.
type outputBackend struct{ *memqueue.Backend }

func (b outputBackend) ListJobs(ctx context.Context, q pgqueue.JobQuery) ([]*pgqueue.JobInfo, error) {
	jobs, err := b.Backend.ListJobs(ctx, q)
	for _, j := range jobs {
		j.Output = json.RawMessage(`{"sent":12,"html":"<b>bold</b>"}`)
		j.Progress = &pgqueue.Progress{Fraction: 0.25, Note: "batch 3 of 12 <i>", At: time.Now()}
	}
	return jobs, err
}

func TestJobPageShowsOutputAndProgress(t *testing.T) {
	t.Parallel()
	b := outputBackend{memqueue.New()}
	c, err := pgqueue.New(b, pgqueue.Config{})
	require.NoError(t, err)
	id, err := c.Enqueue(context.Background(), testArgs{}, nil)
	require.NoError(t, err)
	rec := serveOnce(pgqueueweb.Handler(pgqueue.NewAdmin(b), pgqueueweb.Options{}), "/jobs/"+itoa(id))
	require.Equal(t, http.StatusOK, rec.status, rec.body)
	require.Contains(t, rec.body, `<progress max="1" value="0.25">25%</progress> 25%: batch 3 of 12 &lt;i&gt;`)
	require.Contains(t, rec.body, "&#34;html&#34;: &#34;&lt;b&gt;bold&lt;/b&gt;&#34;", "the output is indented JSON, escaped")
	require.Contains(t, rec.body, "progress 25%", "the timeline has the progress report")
}

func TestDeadLettersRequeueAndPurgeByFilter(t *testing.T) {
	t.Parallel()
	onEveryBackend(t, func(t *testing.T, backend string) {
		e := newEnv(t, backend, pgqueueweb.Options{})
		ctx := context.Background()
		var smtp []int64
		for range 3 {
			e.enqueue(testArgs{K: "email.send"}, &pgqueue.EnqueueOptions{Queue: "mail"})
			smtp = append(smtp, e.deadLetter("mail", "email.send", "smtp down"))
		}
		e.enqueue(testArgs{K: "sms.send"}, &pgqueue.EnqueueOptions{Queue: "mail"})
		sms := e.deadLetter("mail", "sms.send", "no credit")

		page := e.get("/dead")
		require.Contains(t, page.body, `<a href="/ops/queue/dead?kind=email.send">email.send</a> <span class="count">3</span>`)
		byKind := e.get("/dead?kind=sms.send")
		require.Equal(t, []int64{sms}, listedIDs(byKind.body))
		require.Contains(t, byKind.body, "no credit")

		confirm := e.get("/confirm?" + url.Values{"action": {"purge_dead"}, "state": {"dead"}, "kind": {"email.send"}, "back": {"/ops/queue/dead?kind=email.send"}}.Encode())
		require.Equal(t, http.StatusOK, confirm.status, confirm.body)
		require.Contains(t, confirm.body, "3 job(s) match: state dead, kind email.send.")
		s := e.session("/dead")
		r := e.post(s, "/bulk", url.Values{"action": {"purge_dead"}, "scope": {"filter"}, "state": {"dead"}, "kind": {"email.send"}, "back": {"/ops/queue/dead"}})
		require.Equal(t, http.StatusSeeOther, r.status, r.body)
		require.Equal(t, "/ops/queue/dead?changed=3&done=purge_dead&matched=3", r.header.Get("Location"))
		for _, id := range smtp {
			_, err := e.admin.FindJob(ctx, id)
			require.ErrorIs(t, err, pgqueue.ErrJobNotFound, "purged")
		}
		r = e.post(s, "/bulk", url.Values{"action": {"requeue_dead"}, "scope": {"filter"}, "state": {"dead"}, "queue": {"mail"}})
		require.Equal(t, http.StatusSeeOther, r.status, r.body)
		info, err := e.admin.FindJob(ctx, sms)
		require.NoError(t, err)
		require.Equal(t, pgqueue.StateAvailable, info.State, "requeued")
		require.True(t, strings.Contains(e.auditLog(), `"action":"purge_dead"`))
	})
}

func serveOnce(h http.Handler, path string) response {
	e := &env{h: h}
	return e.do(httptest.NewRequest(http.MethodGet, path, nil))
}
