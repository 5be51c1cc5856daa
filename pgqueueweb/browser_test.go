package pgqueueweb_test

// End-to-end tests in a real browser: Debian's Chromium, headless, driven
// with chromedp against the dashboard served by httptest, on Postgres and
// on Redis, with real pgqueue Clients working the queues.

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/pgqueue/pgqueue"
	"github.com/pgqueue/pgqueue/memqueue"
	"github.com/pgqueue/pgqueue/pgqueueweb"
)

// chromiumPath is where Debian's chromium package puts the browser.
const chromiumPath = "/usr/bin/chromium"

// screenshotsEnv names a directory that also receives the screenshots.
const screenshotsEnv = "PGQUEUE_WEB_SCREENSHOTS"

// newBrowser starts a headless Chromium with a fresh profile and returns
// a context for one tab. Without Chromium the test is skipped, or fails
// under CI=true.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	path := chromiumPath
	if _, err := exec.LookPath(path); err != nil {
		if p, lookErr := exec.LookPath("chromium"); lookErr == nil {
			path = p
		} else {
			if os.Getenv("CI") == "true" {
				t.Fatalf("Chromium is not installed at %s (CI=true, so this fails): apt-get install chromium", chromiumPath)
			}
			t.Skipf("Chromium is not installed at %s; to run the browser tests: apt-get install chromium", chromiumPath)
		}
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	ctx, cancelTab := chromedp.NewContext(alloc)
	ctx, cancelTimeout := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(func() {
		cancelTimeout()
		cancelTab()
		cancelAlloc()
	})
	// Start the browser now, so a browser that cannot start fails here.
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate("about:blank")), "start Chromium")
	return ctx
}

// site is the dashboard served over HTTP for a browser, mounted at
// /ops/queue/ on one backend, with an enqueue-only client.
type site struct {
	*env
	url string
}

func newSite(t *testing.T, backend string, opts pgqueueweb.Options) *site {
	e := newEnv(t, backend, opts)
	srv := httptest.NewServer(e.h)
	t.Cleanup(srv.Close)
	return &site{env: e, url: srv.URL + mount}
}

// worker starts a Client working queue with fn for the jobs of kind
// web.test (testArgs with no K); it is stopped when the test ends.
func (s *site) worker(t *testing.T, queue string, fn func(ctx context.Context, job *pgqueue.Job[testArgs]) error) {
	t.Helper()
	c, err := pgqueue.New(s.backend, pgqueue.Config{
		ID:           "browser-test-" + queue,
		Queues:       map[string]pgqueue.QueueConfig{queue: {MaxWorkers: 2}},
		PollInterval: 100 * time.Millisecond,
		// Stats reach the store (and the overview's charts) within 100ms.
		StatsFlushInterval: 100 * time.Millisecond,
	})
	require.NoError(t, err)
	require.NoError(t, pgqueue.Register(c, pgqueue.WorkFunc[testArgs](fn)))
	require.NoError(t, c.Start(context.Background()))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = c.Stop(ctx)
	})
}

// screenshot saves the page as name.png in a temporary directory and, when
// PGQUEUE_WEB_SCREENSHOTS is set, in that directory.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	require.NoError(t, err, "screenshot %s", name)
	dirs := []string{t.TempDir()}
	if d := os.Getenv(screenshotsEnv); d != "" {
		require.NoError(t, os.MkdirAll(d, 0o755))
		dirs = append(dirs, d)
	}
	for _, d := range dirs {
		require.NoError(t, os.WriteFile(filepath.Join(d, name+".png"), png, 0o644))
	}
}

// text returns the visible text of the element sel matches.
func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	require.NoError(t, err, "read the text of %s", sel)
	return s
}

// waitState waits until job id is in state want, as the store says.
func waitState(t *testing.T, admin *pgqueue.Admin, id int64, want pgqueue.State) {
	t.Helper()
	require.Eventually(t, func() bool {
		info, err := admin.FindJob(context.Background(), id)
		return err == nil && info.State == want
	}, 30*time.Second, 50*time.Millisecond, "job %d never became %s", id, want)
}

func TestBrowser(t *testing.T) {
	t.Parallel()
	for _, backend := range []string{"postgres", "redis"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			tab := newBrowser(t)
			var dialogs atomic.Int32
			require.NoError(t, chromedp.Listen(tab, func(ev any) {
				if _, ok := ev.(*page.EventJavascriptDialogOpening); ok {
					dialogs.Add(1)
					go func() {
						_, _ = chromedp.Call(tab, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
					}()
				}
			}))
			shots := backend == "postgres"

			t.Run("overview refreshes itself", func(t *testing.T) {
				ctx := stepContext(t, tab)
				s := newSite(t, backend, pgqueueweb.Options{RefreshInterval: time.Second})
				for i := range 3 {
					s.enqueue(testArgs{Customer: i}, &pgqueue.EnqueueOptions{Queue: "billing"})
				}
				s.enqueue(testArgs{K: "report.build"}, &pgqueue.EnqueueOptions{Queue: "reports", Delay: time.Hour})
				require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(s.url+"/"), chromedp.WaitVisible(chromedp.CSS("#queue-counts"))))
				require.Contains(t, text(t, ctx, "#queue-counts"), "billing")
				require.Equal(t, "3", text(t, ctx, "#total-available"))
				require.Contains(t, text(t, ctx, "main"), "Activity, last hour")
				if shots {
					screenshot(t, ctx, "overview")
				}
				// Two more jobs: the page's script fetches the overview again
				// and swaps in the new counts, without a reload.
				for range 2 {
					s.enqueue(testArgs{}, &pgqueue.EnqueueOptions{Queue: "billing"})
				}
				require.Eventually(t, func() bool {
					n, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#total-available")))
					return err == nil && n == "5"
				}, 20*time.Second, 100*time.Millisecond, "the overview never showed the 5 available jobs")
				refreshed, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS("#main"), "data-refreshed"))
				require.NoError(t, err)
				require.True(t, refreshed.Exists, "the counts came from the script's refresh, not a page load")
			})

			// Once, in the postgres group: a memqueue with a made-up history.
			if backend == "postgres" {
				t.Run("overview charts the stats history", func(t *testing.T) {
					ctx := stepContext(t, tab)
					// A backend with a made-up history (see historyBackend),
					// until the real ones record it.
					b := historyBackend{Backend: memqueue.New()}
					c, err := pgqueue.New(b, pgqueue.Config{})
					require.NoError(t, err)
					for i := range 40 {
						_, err := c.Enqueue(context.Background(), testArgs{Customer: i}, &pgqueue.EnqueueOptions{Queue: []string{"billing", "emails", "reports"}[i%3]})
						require.NoError(t, err)
					}
					mux := http.NewServeMux()
					mux.Handle(mount+"/", http.StripPrefix(mount, pgqueueweb.Handler(pgqueue.NewAdmin(b), pgqueueweb.Options{})))
					srv := httptest.NewServer(mux)
					t.Cleanup(srv.Close)
					require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(srv.URL+mount+"/"), chromedp.WaitVisible(chromedp.CSS(".chart svg"))))
					charts, err := chromedp.Run(ctx, chromedp.Nodes(chromedp.CSSAll(".chart svg")))
					require.NoError(t, err)
					require.Len(t, charts, 4)
					if shots {
						screenshot(t, ctx, "overview-charts")
					}
				})
			}

			// Workflows are stored on Postgres and memory, not Redis.
			if backend == "postgres" {
				t.Run("a diamond workflow's graph shows every task completed", func(t *testing.T) {
					ctx := stepContext(t, tab)
					s := newSite(t, backend, pgqueueweb.Options{})
					s.worker(t, "images", func(ctx context.Context, job *pgqueue.Job[testArgs]) error { return nil })
					ids := s.diamond("images")
					waitWorkflow(t, s.admin, ids.ID, pgqueue.WorkflowSucceeded)
					link := `#workflows a[href="/ops/queue/workflows/` + itoa(ids.ID) + `"]`
					require.NoError(t, chromedp.Do(ctx,
						chromedp.Navigate(s.url+"/"),
						chromedp.WaitVisible(chromedp.CSS(`nav a[href="/ops/queue/workflows"]`)),
						chromedp.Click(chromedp.CSS(`nav a[href="/ops/queue/workflows"]`)),
						chromedp.WaitVisible(chromedp.CSS(link)),
					))
					require.Contains(t, text(t, ctx, "#workflows"), "succeeded")
					require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(link)), chromedp.WaitVisible(chromedp.CSS("#workflow-graph"))))
					require.Equal(t, "succeeded", text(t, ctx, "#workflow-status"))
					nodes, err := chromedp.Run(ctx, chromedp.Nodes(chromedp.CSSAll("#workflow-graph a.node")))
					require.NoError(t, err)
					require.Len(t, nodes, 4, "a node per task")
					completed, err := chromedp.Run(ctx, chromedp.Nodes(chromedp.CSSAll("#workflow-graph a.node.completed"), chromedp.AtLeast(0)))
					require.NoError(t, err)
					require.Len(t, completed, 4, "every task completed")
					// SVG elements have no innerText: read their text content.
					graph, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("workflow-graph").textContent`))
					require.NoError(t, err)
					require.Contains(t, graph, evilTask, "the task named like a script is shown as text (in full in its node's title)")
					labels, err := chromedp.Run(ctx, chromedp.Evaluate[string](`Array.from(document.querySelectorAll("#workflow-graph text.label"), e => e.textContent).join(",")`))
					require.NoError(t, err)
					require.Equal(t, "completed,completed,completed,completed", labels, "each node says its state in words, not only in colour")
					scripts, err := chromedp.Run(ctx, chromedp.Nodes(chromedp.CSSAll("main script"), chromedp.AtLeast(0)))
					require.NoError(t, err)
					require.Empty(t, scripts, "no element was made from a task name")
					require.Zero(t, dialogs.Load(), "no alert opened")
					// Each node is a link to its task's job.
					href, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("#workflow-graph a.node").getAttribute("href")`))
					require.NoError(t, err)
					require.Equal(t, "/ops/queue/jobs/"+itoa(ids.Jobs[0]), href)
					if shots {
						screenshot(t, ctx, "workflow")
					}
					// At phone width the graph scrolls inside its box, not the page.
					require.NoError(t, chromedp.Do(ctx, chromedp.EmulateViewport(390, 844)))
					t.Cleanup(func() { _ = chromedp.Do(tab, chromedp.EmulateViewport(1280, 900)) })
					require.NoError(t, chromedp.Do(ctx, chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#workflow-graph"))))
					overflow, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth - window.innerWidth`))
					require.NoError(t, err)
					require.LessOrEqual(t, overflow, 0, "the workflow page scrolls sideways at 390px")
				})

				t.Run("a failed workflow retried from its page", func(t *testing.T) {
					ctx := stepContext(t, tab)
					s := newSite(t, backend, pgqueueweb.Options{})
					var fixed atomic.Bool
					s.worker(t, "etl", func(ctx context.Context, job *pgqueue.Job[testArgs]) error {
						if job.Args.Note == "transform" && !fixed.Load() {
							return pgqueue.Permanent(errors.New("transform: column \"amount\" is not a number"))
						}
						return nil
					})
					wf := pgqueue.NewWorkflow("nightly etl")
					opts := &pgqueue.EnqueueOptions{Queue: "etl"}
					extract := wf.Add(testArgs{Note: "extract"}, opts, pgqueue.Named("extract"))
					orders := wf.Add(testArgs{Note: "orders"}, opts, pgqueue.Named("load orders"), pgqueue.After(extract))
					transform := wf.Add(testArgs{Note: "transform"}, opts, pgqueue.Named("transform"), pgqueue.After(extract))
					load := wf.Add(testArgs{Note: "load"}, opts, pgqueue.Named("load"), pgqueue.After(transform))
					wf.Add(testArgs{Note: "report"}, opts, pgqueue.Named("report"), pgqueue.After(orders, load))
					ids, err := s.client.EnqueueWorkflow(context.Background(), wf)
					require.NoError(t, err)
					waitWorkflow(t, s.admin, ids.ID, pgqueue.WorkflowFailed)
					require.NoError(t, chromedp.Do(ctx,
						chromedp.Navigate(s.url+"/workflows/"+itoa(ids.ID)),
						chromedp.WaitVisible(chromedp.CSS("#retry-workflow")),
					))
					require.Equal(t, "failed", text(t, ctx, "#workflow-status"))
					dead, err := chromedp.Run(ctx, chromedp.Nodes(chromedp.CSSAll("#workflow-graph a.node.dead")))
					require.NoError(t, err)
					require.Len(t, dead, 1, "transform is dead")
					require.Contains(t, text(t, ctx, "#workflow-tasks"), "cancelled", "its dependents were cancelled")
					if shots {
						screenshot(t, ctx, "workflow-failed")
					}
					fixed.Store(true)
					require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#retry-workflow")), chromedp.WaitVisible(chromedp.CSS("#flash"))))
					require.Contains(t, text(t, ctx, "#flash"), "Retried 3 task(s) of the workflow")
					waitWorkflow(t, s.admin, ids.ID, pgqueue.WorkflowSucceeded)
					require.NoError(t, chromedp.Do(ctx, chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#workflow-graph"))))
					require.Equal(t, "succeeded", text(t, ctx, "#workflow-status"))
					completed, err := chromedp.Run(ctx, chromedp.Nodes(chromedp.CSSAll("#workflow-graph a.node.completed")))
					require.NoError(t, err)
					require.Len(t, completed, 5, "every task completed after the retry")
				})
			}

			t.Run("overview charts what the workers finished", func(t *testing.T) {
				ctx := stepContext(t, tab)
				s := newSite(t, backend, pgqueueweb.Options{})
				done := make(chan int64, 10)
				s.worker(t, "charts", func(ctx context.Context, job *pgqueue.Job[testArgs]) error {
					done <- job.ID
					return nil
				})
				for i := range 5 {
					s.enqueue(testArgs{Customer: i}, &pgqueue.EnqueueOptions{Queue: "charts"})
				}
				for range 5 {
					select {
					case <-done:
					case <-time.After(30 * time.Second):
						t.Fatal("the worker did not finish 5 jobs within 30s")
					}
				}
				require.Eventually(t, func() bool {
					if err := chromedp.Do(ctx, chromedp.Navigate(s.url+"/"), chromedp.WaitVisible(chromedp.CSS("#queue-counts, .empty"))); err != nil {
						return false
					}
					charts, err := chromedp.Run(ctx, chromedp.Nodes(chromedp.CSSAll(".chart svg"), chromedp.AtLeast(0)))
					return err == nil && len(charts) == 4 // throughput, failure rate (flat 0%), wait and run time
				}, 20*time.Second, 200*time.Millisecond, "the overview never charted the finished jobs (stats history of %s)", backend)
			})

			t.Run("filter jobs by args and open one", func(t *testing.T) {
				ctx := stepContext(t, tab)
				s := newSite(t, backend, pgqueueweb.Options{})
				want := s.enqueue(testArgs{K: "invoice.send", Customer: 42}, &pgqueue.EnqueueOptions{Queue: "billing", Metadata: map[string]string{"tenant": "acme"}})
				var others []int64
				for i := range 5 {
					others = append(others, s.enqueue(testArgs{K: "invoice.send", Customer: 100 + i}, &pgqueue.EnqueueOptions{Queue: "billing"}))
				}
				require.NoError(t, chromedp.Do(ctx,
					chromedp.Navigate(s.url+"/jobs"),
					chromedp.WaitVisible(chromedp.CSS("#jobs")),
					chromedp.Click(chromedp.CSS("details.filter summary")),
					chromedp.WaitVisible(chromedp.CSS(`textarea[name="args"]`)),
					chromedp.SendKeys(chromedp.CSS(`textarea[name="args"]`), `{"customer_id": 42}`),
					chromedp.Submit(chromedp.CSS("#filter")),
					chromedp.WaitNotPresent(chromedp.CSS(`a[href="/ops/queue/jobs/`+itoa(others[0])+`"]`)),
					chromedp.WaitVisible(chromedp.CSS(`a[href="/ops/queue/jobs/`+itoa(want)+`"]`)),
				))
				rows, err := chromedp.Run(ctx, chromedp.Nodes(chromedp.CSSAll("#jobs tbody tr")))
				require.NoError(t, err)
				require.Len(t, rows, 1, "only customer 42's job matches")
				if shots {
					screenshot(t, ctx, "jobs")
				}
				require.NoError(t, chromedp.Do(ctx,
					chromedp.Click(chromedp.CSS(`a[href="/ops/queue/jobs/`+itoa(want)+`"]`)),
					chromedp.WaitVisible(chromedp.CSS("#job-args")),
				))
				require.Contains(t, text(t, ctx, "#job-args"), `"customer_id": 42`)
				require.Equal(t, "invoice.send", text(t, ctx, "#job-kind"))
			})

			t.Run("usable at phone width", func(t *testing.T) {
				ctx := stepContext(t, tab)
				s := newSite(t, backend, pgqueueweb.Options{})
				for i := range 5 {
					s.enqueue(testArgs{K: "invoice.send.with.a.long.kind.name", Customer: i, Note: strings.Repeat("long-args-", 20)}, &pgqueue.EnqueueOptions{Queue: "billing"})
				}
				require.NoError(t, chromedp.Do(ctx, chromedp.EmulateViewport(390, 844)))
				t.Cleanup(func() { _ = chromedp.Do(tab, chromedp.EmulateViewport(1280, 900)) })
				for _, path := range []string{"/", "/jobs", "/queues", "/dead", "/workflows"} {
					require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(s.url+path), chromedp.WaitVisible(chromedp.CSS("h1"))))
					overflow, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth - window.innerWidth`))
					require.NoError(t, err)
					require.LessOrEqual(t, overflow, 0, "%s scrolls sideways at 390px (wide tables scroll inside their box instead)", path)
				}
				if shots {
					require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(s.url+"/jobs"), chromedp.WaitVisible(chromedp.CSS("#jobs"))))
					screenshot(t, ctx, "phone-jobs")
				}
			})

			t.Run("readable and usable with JavaScript off", func(t *testing.T) {
				ctx := stepContext(t, tab)
				s := newSite(t, backend, pgqueueweb.Options{})
				id := s.enqueue(testArgs{K: "invoice.send", Customer: 3}, &pgqueue.EnqueueOptions{Queue: "billing", Delay: time.Hour})
				_, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
				require.NoError(t, err)
				t.Cleanup(func() {
					_, _ = chromedp.Call(tab, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: false})
				})
				require.NoError(t, chromedp.Do(ctx,
					chromedp.Navigate(s.url+"/"), chromedp.WaitVisible(chromedp.CSS("#queue-counts")),
					chromedp.Navigate(s.url+"/jobs?queue=billing"), chromedp.WaitVisible(chromedp.CSS("#jobs")),
				))
				class, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS("html"), "class"))
				require.NoError(t, err)
				require.NotContains(t, class.Value, "js", "app.js did not run")
				require.NoError(t, chromedp.Do(ctx,
					chromedp.Click(chromedp.CSS(`input[name="id"][value="`+itoa(id)+`"]`)),
					chromedp.Click(chromedp.CSS("#selected-cancel")),
					chromedp.WaitVisible(chromedp.CSS("#flash")),
				))
				require.Contains(t, text(t, ctx, "#flash"), "Cancelled 1 job(s) of 1 matching", "plain forms work without scripts")
				waitState(t, s.admin, id, pgqueue.StateCancelled)
			})

			t.Run("retry a dead letter and see it run", func(t *testing.T) {
				ctx := stepContext(t, tab)
				s := newSite(t, backend, pgqueueweb.Options{})
				var fixed atomic.Bool
				ran := make(chan int64, 1)
				s.worker(t, "mail", func(ctx context.Context, job *pgqueue.Job[testArgs]) error {
					if !fixed.Load() {
						return pgqueue.Permanent(errors.New("smtp: 550 mailbox unavailable"))
					}
					ran <- job.ID
					return nil
				})
				id := s.enqueue(testArgs{Customer: 7}, &pgqueue.EnqueueOptions{Queue: "mail"})
				waitState(t, s.admin, id, pgqueue.StateDead)
				fixed.Store(true)
				require.NoError(t, chromedp.Do(ctx,
					chromedp.Navigate(s.url+"/dead"),
					chromedp.WaitVisible(chromedp.CSS(`a[href="/ops/queue/jobs/`+itoa(id)+`"]`)),
				))
				require.Contains(t, text(t, ctx, "#jobs"), "smtp: 550 mailbox unavailable")
				require.NoError(t, chromedp.Do(ctx,
					chromedp.Click(chromedp.CSS(`a[href="/ops/queue/jobs/`+itoa(id)+`"]`)),
					chromedp.WaitVisible(chromedp.CSS("#retry")),
				))
				if shots {
					screenshot(t, ctx, "dead-letter")
				}
				require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#retry")), chromedp.WaitVisible(chromedp.CSS("#flash, #error"))))
				// The page after the click says it was retried: either the job,
				// still waiting or running, or that it has completed already.
				require.Contains(t, text(t, ctx, "main"), "Retried job "+itoa(id)+".")
				select {
				case got := <-ran:
					require.Equal(t, id, got)
				case <-time.After(30 * time.Second):
					t.Fatal("the requeued job did not run within 30s")
				}
				require.Eventually(t, func() bool {
					if err := chromedp.Do(ctx, chromedp.Navigate(s.url+"/jobs/"+itoa(id)), chromedp.WaitVisible(chromedp.CSS("h1"))); err != nil {
						return false
					}
					main, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main")))
					return err == nil && strings.Contains(main, "was not found: it completed")
				}, 30*time.Second, 200*time.Millisecond, "the job page says the job completed")
			})

			t.Run("pause a queue and see claims stop", func(t *testing.T) {
				ctx := stepContext(t, tab)
				s := newSite(t, backend, pgqueueweb.Options{})
				ran := make(chan int64, 10)
				s.worker(t, "reports", func(ctx context.Context, job *pgqueue.Job[testArgs]) error {
					ran <- job.ID
					return nil
				})
				first := s.enqueue(testArgs{}, &pgqueue.EnqueueOptions{Queue: "reports"})
				select {
				case got := <-ran:
					require.Equal(t, first, got)
				case <-time.After(30 * time.Second):
					t.Fatal("the queue's client did not run a job within 30s before the pause")
				}
				s.enqueue(testArgs{}, &pgqueue.EnqueueOptions{Queue: "reports", Delay: time.Hour}) // keeps the queue listed
				require.NoError(t, chromedp.Do(ctx,
					chromedp.Navigate(s.url+"/queues"),
					chromedp.WaitVisible(chromedp.CSS("#pause-reports")),
					chromedp.Click(chromedp.CSS("#pause-reports")),
					chromedp.WaitVisible(chromedp.CSS("#resume-reports")),
				))
				require.Contains(t, text(t, ctx, "#flash"), "Paused queue reports.")
				if shots {
					screenshot(t, ctx, "queues")
				}
				held := s.enqueue(testArgs{}, &pgqueue.EnqueueOptions{Queue: "reports"})
				// The client polls every 100ms: ten polls later the job still waits.
				time.Sleep(time.Second)
				info, err := s.admin.FindJob(context.Background(), held)
				require.NoError(t, err)
				require.Equal(t, pgqueue.StateAvailable, info.State, "no client claims from a paused queue")
				require.Empty(t, ran)
				require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#resume-reports")), chromedp.WaitVisible(chromedp.CSS("#pause-reports"))))
				select {
				case got := <-ran:
					require.Equal(t, held, got, "resuming lets the held job run")
				case <-time.After(30 * time.Second):
					t.Fatal("the held job did not run within 30s of resuming")
				}
			})

			t.Run("bulk cancel by filter with the count confirmation", func(t *testing.T) {
				ctx := stepContext(t, tab)
				s := newSite(t, backend, pgqueueweb.Options{})
				var ids []int64
				for i := range 3 {
					ids = append(ids, s.enqueue(testArgs{K: "sync.customer", Customer: i}, &pgqueue.EnqueueOptions{Queue: "sync", Delay: time.Hour}))
				}
				other := s.enqueue(testArgs{K: "sync.customer"}, &pgqueue.EnqueueOptions{Queue: "other", Delay: time.Hour})
				require.NoError(t, chromedp.Do(ctx,
					chromedp.Navigate(s.url+"/jobs?queue=sync"),
					chromedp.WaitVisible(chromedp.CSS("#all-cancel")),
					chromedp.Click(chromedp.CSS("#all-cancel")),
					chromedp.WaitVisible(chromedp.CSS("#confirm")),
				))
				require.Equal(t, "3 job(s) match: queue sync.", text(t, ctx, "#confirm-count"))
				if shots {
					screenshot(t, ctx, "confirm")
				}
				require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#confirm")), chromedp.WaitVisible(chromedp.CSS("#flash"))))
				require.Contains(t, text(t, ctx, "#flash"), "Cancelled 3 job(s) of 3 matching")
				for _, id := range ids {
					waitState(t, s.admin, id, pgqueue.StateCancelled)
				}
				info, err := s.admin.FindJob(context.Background(), other)
				require.NoError(t, err)
				require.Equal(t, pgqueue.StateScheduled, info.State, "a job of another queue is untouched")
			})

			t.Run("read-only refuses an action", func(t *testing.T) {
				ctx := stepContext(t, tab)
				s := newSite(t, backend, pgqueueweb.Options{ReadOnly: true})
				id := s.enqueue(testArgs{K: "invoice.send"}, &pgqueue.EnqueueOptions{Queue: "billing", Delay: time.Hour})
				require.NoError(t, chromedp.Do(ctx,
					chromedp.Navigate(s.url+"/jobs/"+itoa(id)),
					chromedp.WaitVisible(chromedp.CSS("#job-args")),
				))
				buttons, err := chromedp.Run(ctx, chromedp.Nodes(chromedp.CSSAll("button"), chromedp.AtLeast(0)))
				require.NoError(t, err)
				require.Empty(t, buttons, "a read-only job page has no buttons")
				require.Contains(t, text(t, ctx, "header"), "read-only")
				// Submit a cancel anyway, as a hand-made form with a valid token would.
				require.NoError(t, chromedp.Do(ctx,
					chromedp.Navigate(s.url+"/jobs"),
					chromedp.WaitReady(chromedp.CSS("#bulk")),
				))
				_, err = chromedp.Run(ctx, chromedp.Evaluate[any](`(() => {
					const f = document.getElementById("bulk");
					const a = document.createElement("input"); a.type = "hidden"; a.name = "action"; a.value = "cancel"; f.appendChild(a);
					for (const b of f.querySelectorAll('input[name="id"]')) b.checked = true;
					f.submit();
				})()`))
				require.NoError(t, err)
				require.NoError(t, chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS("#error"))))
				require.Contains(t, text(t, ctx, "#error"), "this dashboard is read-only")
				info, err := s.admin.FindJob(context.Background(), id)
				require.NoError(t, err)
				require.Equal(t, pgqueue.StateScheduled, info.State)
			})

			t.Run("a POST without the CSRF token is refused", func(t *testing.T) {
				ctx := stepContext(t, tab)
				s := newSite(t, backend, pgqueueweb.Options{})
				id := s.enqueue(testArgs{K: "invoice.send"}, &pgqueue.EnqueueOptions{Queue: "billing", Delay: time.Hour})
				require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(s.url+"/jobs/"+itoa(id)), chromedp.WaitVisible(chromedp.CSS("#cancel"))))
				status, err := chromedp.Run(ctx, chromedp.Evaluate[int](`fetch(`+jsString(s.url+"/jobs/"+itoa(id)+"/cancel")+`, {method: "POST", credentials: "same-origin", body: new URLSearchParams({})}).then(r => r.status)`, chromedp.EvalAwaitPromise))
				require.NoError(t, err)
				require.Equal(t, http.StatusForbidden, status)
				info, err := s.admin.FindJob(context.Background(), id)
				require.NoError(t, err)
				require.Equal(t, pgqueue.StateScheduled, info.State)
			})

			t.Run("a script in args is rendered inert", func(t *testing.T) {
				ctx := stepContext(t, tab)
				s := newSite(t, backend, pgqueueweb.Options{})
				evil := `<script>alert('pwned')</script><img src=x onerror=alert(2)>`
				id := s.enqueue(testArgs{K: "evil", Note: evil}, &pgqueue.EnqueueOptions{Queue: "evil"})
				require.NoError(t, chromedp.Do(ctx,
					chromedp.Navigate(s.url+"/jobs/"+itoa(id)),
					chromedp.WaitVisible(chromedp.CSS("#job-args")),
					chromedp.Navigate(s.url+"/jobs?"+url.Values{"kind": {"evil"}, "args": {`{"note":` + jsString(evil) + `}`}}.Encode()),
					chromedp.WaitVisible(chromedp.CSS("#jobs")),
					chromedp.Navigate(s.url+"/jobs/"+itoa(id)),
					chromedp.WaitVisible(chromedp.CSS("#job-args")),
				))
				require.Contains(t, text(t, ctx, "#job-args"), evil, "the script is shown as text")
				imgs, err := chromedp.Run(ctx, chromedp.Nodes(chromedp.CSSAll("main img, main script"), chromedp.AtLeast(0)))
				require.NoError(t, err)
				require.Empty(t, imgs, "no element was made from the args")
				require.Zero(t, dialogs.Load(), "no alert opened")
			})
		})
	}
}

// stepContext bounds one scenario in the browser tab to a minute.
func stepContext(t *testing.T, tab context.Context) context.Context {
	ctx, cancel := context.WithTimeout(tab, time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// jsString quotes s as a JavaScript (and JSON) string.
func jsString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20:
			b.WriteString(" ")
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
