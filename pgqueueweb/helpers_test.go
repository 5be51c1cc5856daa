package pgqueueweb_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgqueue/pgqueue"
	"github.com/pgqueue/pgqueue/internal/pgtest"
	"github.com/pgqueue/pgqueue/internal/redistest"
	"github.com/pgqueue/pgqueue/memqueue"
	"github.com/pgqueue/pgqueue/pgqueueweb"
)

// mount is where the tests mount the dashboard, as a user's server would.
const mount = "/ops/queue"

// testArgs are the jobs the tests enqueue; K is their kind.
type testArgs struct {
	K        string `json:"-"`
	Customer int    `json:"customer_id"`
	Note     string `json:"note,omitempty"`
}

func (a testArgs) Kind() string {
	if a.K == "" {
		return "web.test"
	}
	return a.K
}

// backendNames are the backends every handler test runs on.
var backendNames = []string{"memory", "postgres", "redis"}

// newBackend returns a fresh, isolated backend of the named kind: a new
// memqueue, a migrated Postgres schema, or a Redis key prefix.
func newBackend(t testing.TB, name string) pgqueue.Backend {
	t.Helper()
	switch name {
	case "memory":
		return memqueue.New()
	case "postgres":
		return pgtest.Backend(t)
	case "redis":
		return redistest.Backend(t)
	}
	t.Fatalf("unknown backend %q", name)
	return nil
}

// env is a dashboard over one backend, mounted under /ops/queue/ in a
// server mux, with an enqueue-only client and a captured audit log.
type env struct {
	t       testing.TB
	backend pgqueue.Backend
	admin   *pgqueue.Admin
	client  *pgqueue.Client
	h       http.Handler
	logMu   sync.Mutex
	log     bytes.Buffer
}

func newEnv(t testing.TB, backend string, opts pgqueueweb.Options) *env {
	t.Helper()
	b := newBackend(t, backend)
	c, err := pgqueue.New(b, pgqueue.Config{})
	require.NoError(t, err)
	e := &env{t: t, backend: b, admin: pgqueue.NewAdmin(b), client: c}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewJSONHandler(lockedWriter{e}, nil))
	}
	opts.StatsCacheTTL = -1
	mux := http.NewServeMux()
	mux.Handle(mount+"/", http.StripPrefix(mount, pgqueueweb.Handler(e.admin, opts)))
	e.h = mux
	return e
}

type lockedWriter struct{ e *env }

func (w lockedWriter) Write(p []byte) (int, error) {
	w.e.logMu.Lock()
	defer w.e.logMu.Unlock()
	return w.e.log.Write(p)
}

func (e *env) auditLog() string {
	e.logMu.Lock()
	defer e.logMu.Unlock()
	return e.log.String()
}

func (e *env) enqueue(args testArgs, opts *pgqueue.EnqueueOptions) int64 {
	e.t.Helper()
	id, err := e.client.Enqueue(context.Background(), args, opts)
	require.NoError(e.t, err)
	return id
}

// response is a recorded answer.
type response struct {
	status int
	header http.Header
	body   string
}

// do serves req and records the answer.
func (e *env) do(req *http.Request) response {
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	body, _ := io.ReadAll(rec.Result().Body)
	return response{status: rec.Code, header: rec.Result().Header, body: string(body)}
}

func (e *env) get(path string) response {
	return e.do(httptest.NewRequest(http.MethodGet, mount+path, nil))
}

// session is a browser-like visitor: its CSRF cookie and token, read from
// a page it loaded.
type session struct {
	cookie *http.Cookie
	token  string
}

var tokenRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// session loads page and keeps its CSRF cookie and token.
func (e *env) session(page string) session {
	e.t.Helper()
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, mount+page, nil))
	var s session
	for _, c := range rec.Result().Cookies() {
		if c.Name == "pgqueue_csrf" {
			s.cookie = c
		}
	}
	require.NotNil(e.t, s.cookie, "the page %s sets a CSRF cookie", page)
	m := tokenRE.FindStringSubmatch(rec.Body.String())
	require.NotNil(e.t, m, "the page %s has a form with a CSRF token; page:\n%s", page, rec.Body.String())
	s.token = m[1]
	return s
}

// post sends form to path as a same-origin browser form would, with the
// session's cookie and token.
func (e *env) post(s session, path string, form url.Values) response {
	if form == nil {
		form = url.Values{}
	}
	form.Set("csrf", s.token)
	req := httptest.NewRequest(http.MethodPost, mount+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	req.AddCookie(s.cookie)
	return e.do(req)
}
