package pgqueueweb

// Templates, the embedded assets, and the page and action wrappers that
// authorize, check CSRF and render.

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/pgqueue/pgqueue"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// templates holds one template set per page: the layout plus the page.
var templates = func() map[string]*template.Template {
	base := template.Must(template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html"))
	pages, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		panic(err)
	}
	m := map[string]*template.Template{}
	for _, p := range pages {
		name := strings.TrimSuffix(strings.TrimPrefix(p, "templates/"), ".html")
		if name == "layout" {
			continue
		}
		m[name] = template.Must(template.Must(base.Clone()).ParseFS(templateFS, p))
	}
	m["dead"] = m["jobs"]
	return m
}()

var funcs = template.FuncMap{
	"when":      when,
	"ago":       ago,
	"dur":       dur,
	"pretty":    pretty,
	"pct":       func(f float64) string { return fmt.Sprintf("%.0f%%", f*100) },
	"join":      strings.Join,
	"contains":  func(list []string, s string) bool { return contains(list, s) },
	"short":     func(raw json.RawMessage) string { return shortText(string(raw)) },
	"shortText": shortText,
	"lastErr": func(errs []pgqueue.AttemptError) *pgqueue.AttemptError {
		if len(errs) == 0 {
			return nil
		}
		return &errs[len(errs)-1]
	},
}

// shortText cuts s to its first line and at most 120 characters.
func shortText(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i] + " …"
	}
	if r := []rune(s); len(r) > 120 {
		s = string(r[:120]) + "…"
	}
	return s
}

// view is what the layout renders around each page.
type view struct {
	Title    string
	Page     string
	Prefix   string
	CSRF     string
	ReadOnly bool
	// Refresh is the overview's refresh interval in seconds; 0 for none.
	Refresh int
	Error   string
	Status  int
	Data    any
}

// pageFunc renders one page: the template's name and its data.
type pageFunc func(w http.ResponseWriter, r *http.Request) (page string, data any, err error)

// page wraps a GET page: it authorizes the view, renders the page, and
// renders errors as an error page with the error's status.
func (s *server) page(fn pageFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok := s.csrfToken(w, r)
		if err := s.authorize(r, ActionView); err != nil {
			s.renderError(w, r, tok, err)
			return
		}
		name, data, err := fn(w, r)
		if err != nil {
			s.renderError(w, r, tok, err)
			return
		}
		if name == "" { // the page answered itself (a redirect)
			return
		}
		s.render(w, r, http.StatusOK, name, &view{CSRF: tok, Data: data})
	}
}

// actionFunc runs one state-changing request. It returns the URL to
// redirect to (303 See Other) on success.
type actionFunc func(w http.ResponseWriter, r *http.Request) (redirect string, err error)

// action wraps a POST: the CSRF check comes first, then the action runs
// (calling allowAction itself, once it knows which action it is).
func (s *server) action(fn actionFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxForm)
		if err := r.ParseForm(); err != nil {
			s.renderError(w, r, "", httpErr(http.StatusBadRequest, "bad form: %v", err))
			return
		}
		if err := s.checkCSRF(r); err != nil {
			s.audit(r, "csrf_refused", err)
			s.renderError(w, r, "", err)
			return
		}
		to, err := fn(w, r)
		if err != nil {
			s.renderError(w, r, s.csrfToken(w, r), err)
			return
		}
		http.Redirect(w, r, to, http.StatusSeeOther)
	}
}

func (s *server) renderError(w http.ResponseWriter, r *http.Request, tok string, err error) {
	st := statusOf(err)
	if st == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="`+strings.ReplaceAll(s.opts.Title, `"`, "")+`", charset="UTF-8"`)
	}
	if st >= 500 && st != http.StatusNotImplemented {
		s.opts.Logger.LogAttrs(r.Context(), slog.LevelError, "pgqueueweb: request failed", slog.String("path", r.URL.Path), slog.String("error", err.Error()))
	}
	s.render(w, r, st, "error", &view{CSRF: tok, Error: err.Error(), Status: st})
}

func (s *server) render(w http.ResponseWriter, r *http.Request, status int, name string, v *view) {
	v.Title, v.Prefix, v.ReadOnly, v.Page = s.opts.Title, prefixOf(r), s.opts.ReadOnly, name
	if name == "overview" && s.opts.RefreshInterval > 0 {
		v.Refresh = int((s.opts.RefreshInterval + time.Second - 1) / time.Second)
	}
	t := templates[name]
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout.html", v); err != nil {
		s.opts.Logger.LogAttrs(r.Context(), slog.LevelError, "pgqueueweb: render failed", slog.String("page", name), slog.String("error", err.Error()))
		http.Error(w, "pgqueueweb: the page could not be rendered", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// static serves the embedded assets under /static/.
func (s *server) static() http.Handler {
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		panic(err)
	}
	files := http.StripPrefix("/static/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := s.authorize(r, ActionView); err != nil {
			s.renderError(w, r, "", err)
			return
		}
		if strings.HasSuffix(r.URL.Path, "/") {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=300")
		files.ServeHTTP(w, r)
	})
}

// when formats t in UTC; "—" when zero.
func when(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

// ago says how long before now t was, roughly ("3m ago", "in 20s").
func ago(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	d := time.Since(t)
	switch {
	case d > -time.Second && d < time.Second:
		return "just now"
	case d < 0:
		return "in " + roundDur(-d)
	}
	return roundDur(d) + " ago"
}

func roundDur(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d/time.Hour))
	}
	return fmt.Sprintf("%dd", int(d/(24*time.Hour)))
}

// dur formats a duration for a table: "—" for 0.
func dur(d time.Duration) string {
	switch {
	case d <= 0:
		return "—"
	case d < time.Millisecond:
		return d.Round(time.Microsecond).String()
	case d < time.Second:
		return d.Round(100 * time.Microsecond).String()
	}
	return d.Round(time.Second / 10).String()
}

// pretty indents a JSON document, writing <, > and & as themselves
// rather than as \u003c escapes (the template escapes them for HTML);
// invalid JSON is returned as it is.
func pretty(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err == nil {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		if enc.Encode(v) == nil {
			return strings.TrimSuffix(b.String(), "\n")
		}
	}
	var b bytes.Buffer
	if err := json.Indent(&b, raw, "", "  "); err != nil {
		return string(raw)
	}
	return b.String()
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// stateNames are the states a JobFilter takes, in the order the form
// shows them.
var stateNames = []string{
	string(pgqueue.StateAvailable), string(pgqueue.StateScheduled), string(pgqueue.StateRunning), string(pgqueue.StateWaiting),
	string(pgqueue.StateDead), string(pgqueue.StateCancelled), string(pgqueue.StateCompleted),
}

// deadStates are the states of the dead-letters page: dead letters,
// cancelled ones included.
var deadStates = []string{string(pgqueue.StateDead), string(pgqueue.StateCancelled)}
