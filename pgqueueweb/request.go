package pgqueueweb

// Request plumbing shared by every page and action: the mount prefix in
// the context, authorization, the CSRF token, errors and the audit log.

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/pgqueue/pgqueue"
)

type ctxKey int

const prefixKey ctxKey = iota

func withPrefix(ctx context.Context, p string) context.Context {
	return context.WithValue(ctx, prefixKey, p)
}

// prefixOf is the path the handler is mounted under, without a trailing
// slash ("" at the root).
func prefixOf(r *http.Request) string {
	p, _ := r.Context().Value(prefixKey).(string)
	return p
}

// csrfCookie names the cookie holding the CSRF token; csrfField is the
// hidden form field every POST must echo it in.
const (
	csrfCookie = "pgqueue_csrf"
	csrfField  = "csrf"
	// maxForm bounds the body of a POST.
	maxForm = 1 << 20
)

// webError is an error with the HTTP status it is answered with.
type webError struct {
	status int
	msg    string
}

func (e *webError) Error() string { return e.msg }

func httpErr(status int, format string, args ...any) error {
	return &webError{status: status, msg: fmt.Sprintf(format, args...)}
}

// statusOf maps an error of the operator API to an HTTP status.
func statusOf(err error) int {
	var we *webError
	switch {
	case errors.As(err, &we):
		return we.status
	case errors.Is(err, pgqueue.ErrInvalidArgs), errors.Is(err, pgqueue.ErrInvalidConfig):
		return http.StatusBadRequest
	case errors.Is(err, pgqueue.ErrJobNotFound):
		return http.StatusNotFound
	case errors.Is(err, pgqueue.ErrJobRunning):
		return http.StatusConflict
	case errors.Is(err, pgqueue.ErrUnsupported):
		return http.StatusNotImplemented
	case errors.Is(err, pgqueue.ErrNotMigrated):
		return http.StatusServiceUnavailable
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout
	}
	return http.StatusInternalServerError
}

// authorize runs Options.Authorize for action.
func (s *server) authorize(r *http.Request, action string) error {
	if s.opts.Authorize == nil {
		return nil
	}
	if err := s.opts.Authorize(r, action); err != nil {
		if errors.Is(err, ErrUnauthenticated) {
			return httpErr(http.StatusUnauthorized, "%v", err)
		}
		return httpErr(http.StatusForbidden, "not allowed to %s: %v", action, err)
	}
	return nil
}

// allowAction refuses every action in read-only mode, then authorizes it.
func (s *server) allowAction(r *http.Request, action string) error {
	if s.opts.ReadOnly {
		return httpErr(http.StatusForbidden, "this dashboard is read-only: %s is not allowed", action)
	}
	return s.authorize(r, action)
}

// actor names who makes r, for the audit log.
func (s *server) actor(r *http.Request) string {
	if s.opts.Actor != nil {
		if a := s.opts.Actor(r); a != "" {
			return a
		}
	}
	if u, _, ok := r.BasicAuth(); ok && u != "" {
		return u
	}
	return "anonymous"
}

// audit logs one action: who, what, on which jobs or queue, and with what
// result.
func (s *server) audit(r *http.Request, action string, err error, attrs ...slog.Attr) {
	attrs = append([]slog.Attr{
		slog.String("actor", s.actor(r)),
		slog.String("action", action),
		slog.String("remote", r.RemoteAddr),
	}, attrs...)
	level := slog.LevelInfo
	if err != nil {
		level = slog.LevelWarn
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	s.opts.Logger.LogAttrs(r.Context(), level, "pgqueueweb action", attrs...)
}

// csrfToken returns the request's CSRF token, setting a new one in a
// cookie when the browser has none.
func (s *server) csrfToken(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(csrfCookie); err == nil && validToken(c.Value) {
		return c.Value
	}
	var b [32]byte
	_, _ = rand.Read(b[:])
	tok := base64.RawURLEncoding.EncodeToString(b[:])
	http.SetCookie(w, &http.Cookie{
		Name:     csrfCookie,
		Value:    tok,
		Path:     prefixOf(r) + "/",
		HttpOnly: true,
		Secure:   r.TLS != nil,
		SameSite: http.SameSiteStrictMode,
	})
	return tok
}

func validToken(t string) bool {
	b, err := base64.RawURLEncoding.DecodeString(t)
	return err == nil && len(b) == 32
}

// checkCSRF refuses a POST that is cross-origin (by its Sec-Fetch-Site or
// Origin header) or whose form does not echo the CSRF cookie's token.
func (s *server) checkCSRF(r *http.Request) error {
	if err := s.cop.Check(r); err != nil {
		return httpErr(http.StatusForbidden, "refused a cross-origin request: %v", err)
	}
	c, err := r.Cookie(csrfCookie)
	if err != nil || !validToken(c.Value) {
		return httpErr(http.StatusForbidden, "refused: no CSRF cookie (reload the page and try again)")
	}
	form := r.PostFormValue(csrfField)
	if subtle.ConstantTimeCompare([]byte(form), []byte(c.Value)) != 1 {
		return httpErr(http.StatusForbidden, "refused: the form's CSRF token does not match (reload the page and try again)")
	}
	return nil
}

// safeBack returns back when it is a path inside the dashboard, else the
// dashboard's page fallback: a form's return address is never an open
// redirect.
func safeBack(r *http.Request, back, fallback string) string {
	p := prefixOf(r)
	if strings.HasPrefix(back, p+"/") && !strings.HasPrefix(back, "//") && !strings.Contains(back, "\\") && !strings.ContainsAny(back, "\r\n") {
		return back
	}
	return p + fallback
}
