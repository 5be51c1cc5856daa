// Package pgqueueweb is pgqueue's web dashboard: an http.Handler over the
// operator API (pgqueue.Admin) that works on every backend (Postgres,
// Redis, memory).
//
// Mount it in your own server under any path prefix:
//
//	admin := pgqueue.NewAdmin(backend)
//	mux.Handle("/ops/queue/", http.StripPrefix("/ops/queue", pgqueueweb.Handler(admin, pgqueueweb.Options{
//		Authorize: func(r *http.Request, action string) error { ... },
//	})))
//
// Pages are rendered on the server with html/template and readable with
// JavaScript off; every asset is embedded. Every page and action is
// passed to Options.Authorize, every state-changing request is a POST
// checked against cross-site request forgery, Options.ReadOnly refuses
// every action, and every action is logged as a slog audit event.
package pgqueueweb

import (
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/pgqueue/pgqueue"
)

// Actions passed to Options.Authorize. Page views pass ActionView; each
// state-changing request passes the name of what it does.
const (
	// ActionView is passed for every page (and static asset) read.
	ActionView = "view"
	// ActionRetry makes waiting jobs due now, or requeues a dead letter
	// (one job, selected jobs, or all jobs matching a filter); it also
	// retries a finished workflow's failed and cancelled tasks.
	ActionRetry = "retry"
	// ActionCancel cancels waiting and running jobs, and the unfinished
	// tasks of a workflow.
	ActionCancel = "cancel"
	// ActionDelete deletes waiting jobs.
	ActionDelete = "delete"
	// ActionRequeueDead moves dead letters back into their queues.
	ActionRequeueDead = "requeue_dead"
	// ActionPurgeDead deletes dead letters.
	ActionPurgeDead = "purge_dead"
	// ActionPause pauses a queue.
	ActionPause = "pause"
	// ActionResume resumes a paused queue.
	ActionResume = "resume"
	// ActionSetLimits sets a queue's global limits.
	ActionSetLimits = "set_limits"
)

// ErrUnauthenticated, returned (or wrapped) by Options.Authorize, answers
// the request with 401 Unauthorized and a WWW-Authenticate header asking
// for HTTP basic auth, so a browser prompts for a user and password. Any
// other error from Authorize answers 403 Forbidden.
var ErrUnauthenticated = errors.New("pgqueueweb: sign in to see the dashboard")

// Options configure Handler. The zero Options give a writable dashboard
// open to anyone who can reach it: set Authorize (or put the handler
// behind your own authentication) before exposing it.
type Options struct {
	// Prefix is the path the handler is mounted under, such as
	// "/ops/queue". When empty it is derived from each request: mounted
	// with http.StripPrefix, the stripped part of the request URI is the
	// prefix. When set, the handler strips it itself, so do not also wrap
	// it in http.StripPrefix.
	Prefix string
	// ReadOnly refuses every state-changing request with 403 Forbidden and
	// hides the buttons that would make one. Default false.
	ReadOnly bool
	// Authorize, when set, is called before every page, asset and action
	// with the request and one of the Action constants; a non-nil error
	// refuses it with 403 Forbidden and the error's text (401 and a basic
	// auth challenge when it wraps ErrUnauthenticated). Default: every
	// request is allowed.
	Authorize func(r *http.Request, action string) error
	// Actor, when set, names who makes a request, for the audit log.
	// Default: the HTTP basic-auth user name, else "anonymous".
	Actor func(r *http.Request) string
	// Logger receives an audit event (level Info, message
	// "pgqueueweb action") for every action, and errors. Default
	// slog.Default().
	Logger *slog.Logger
	// StatsCacheTTL is how long the counts of Admin.Stats are reused
	// between page loads, so a busy dashboard never counts on every load.
	// Default 3s; negative disables the cache.
	StatsCacheTTL time.Duration
	// RefreshInterval is how often the overview refreshes itself in the
	// browser (with JavaScript on). Default 5s; negative disables it.
	RefreshInterval time.Duration
	// Title is shown in the page header and title. Default "pgqueue".
	Title string
}

// Handler returns the dashboard over admin, configured by opts. The
// handler serves GET (and HEAD) for pages and assets and POST for
// actions; other methods get 405. It panics when admin is nil, a
// programming error.
//
// Errors are pages with the error's text and a status: 400 for a bad
// filter or form, 401/403 from Options.Authorize, 403 for a POST that
// fails the CSRF check or in read-only mode, 404 for an unknown job or
// workflow, 409 for an action the state forbids (retrying a running job
// or workflow), 501 when the backend lacks the operator interface a page
// needs (pgqueue.ErrUnsupported; the workflows list says so on the page
// instead), 503 for a Postgres schema that is not migrated, and 500
// otherwise (also logged to Options.Logger).
func Handler(admin *pgqueue.Admin, opts Options) http.Handler {
	if admin == nil {
		panic("pgqueueweb: Handler needs a non-nil *pgqueue.Admin")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.StatsCacheTTL == 0 {
		opts.StatsCacheTTL = 3 * time.Second
	}
	if opts.RefreshInterval == 0 {
		opts.RefreshInterval = 5 * time.Second
	}
	if opts.Title == "" {
		opts.Title = "pgqueue"
	}
	opts.Prefix = strings.TrimSuffix(opts.Prefix, "/")
	s := &server{admin: admin, opts: opts, cop: http.NewCrossOriginProtection()}
	s.routes()
	return s
}

// server is the dashboard's handler.
type server struct {
	admin *pgqueue.Admin
	opts  Options
	mux   *http.ServeMux
	cop   *http.CrossOriginProtection

	statsMu sync.Mutex
	stats   *pgqueue.Stats
	statsAt time.Time
}

func (s *server) routes() {
	m := http.NewServeMux()
	m.HandleFunc("GET /{$}", s.page(s.overview))
	m.HandleFunc("GET /jobs", s.page(s.jobs))
	m.HandleFunc("GET /jobs/{id}", s.page(s.job))
	m.HandleFunc("GET /confirm", s.page(s.confirm))
	m.HandleFunc("GET /dead", s.page(s.dead))
	m.HandleFunc("GET /queues", s.page(s.queues))
	m.HandleFunc("GET /periodic", s.page(s.periodic))
	m.HandleFunc("GET /clients", s.page(s.clients))
	m.HandleFunc("GET /workflows", s.page(s.workflows))
	m.HandleFunc("GET /workflows/{id}", s.page(s.workflow))
	m.HandleFunc("GET /workflows/{id}/cancel", s.page(s.workflowConfirm))
	m.Handle("GET /static/", s.static())
	m.HandleFunc("POST /jobs/{id}/{action}", s.action(s.jobAction))
	m.HandleFunc("POST /bulk", s.action(s.bulk))
	m.HandleFunc("POST /queues/{action}", s.action(s.queueAction))
	m.HandleFunc("POST /workflows/{id}/{action}", s.action(s.workflowAction))
	s.mux = m
}

// ServeHTTP sets the security headers, finds the prefix and routes.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")

	prefix := s.opts.Prefix
	if prefix != "" {
		rest, ok := strings.CutPrefix(r.URL.Path, prefix)
		if !ok || (rest != "" && rest[0] != '/') {
			http.NotFound(w, r)
			return
		}
		r2 := new(http.Request)
		*r2 = *r
		u := *r.URL
		u.Path, u.RawPath = rest, ""
		r2.URL = &u
		r = r2
	} else {
		prefix = derivePrefix(r)
	}
	if r.URL.Path == "" {
		http.Redirect(w, r, prefix+"/", http.StatusFound)
		return
	}
	r = r.WithContext(withPrefix(r.Context(), prefix))
	s.mux.ServeHTTP(w, r)
}

// derivePrefix is the part of the request URI's path that a wrapping
// http.StripPrefix removed: the request URI's path minus r.URL.Path.
func derivePrefix(r *http.Request) string {
	uri := r.RequestURI
	if i := strings.IndexAny(uri, "?#"); i >= 0 {
		uri = uri[:i]
	}
	if strings.HasPrefix(uri, "http://") || strings.HasPrefix(uri, "https://") {
		if i := strings.Index(uri[strings.Index(uri, "//")+2:], "/"); i >= 0 {
			uri = uri[strings.Index(uri, "//")+2+i:]
		} else {
			uri = "/"
		}
	}
	p := r.URL.EscapedPath()
	if strings.HasSuffix(uri, p) {
		return strings.TrimSuffix(uri[:len(uri)-len(p)], "/")
	}
	return ""
}
