// Package servicetest finds the real service a test talks to, the same way
// for every service: the URL in an environment variable; else a local
// server on its default port; else a testcontainers-go container (needs
// Docker).
//
// A URL that is set but unusable always fails the test: a test run never
// passes by skipping what it was pointed at. Where the problem can be
// repaired (a Postgres database named in the URL that does not exist yet)
// Finder.Repair does it, and otherwise says the exact command that does.
// With no URL and no service found, a test fails when CI=true and is
// skipped otherwise, with a message saying how to provide one; the skips
// are counted, and Run prints one line about them when the run ends.
package servicetest

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
)

// Finder locates one service, once per test binary.
type Finder struct {
	// Name ("Postgres") and Local ("localhost:5432") word the messages.
	Name, Local string
	// EnvVar names the variable holding the service's URL.
	EnvVar string
	// LocalURL is tried when EnvVar is unset.
	LocalURL string
	// Ping checks that a URL answers.
	Ping func(url string) error
	// Repair, when set, is called when the URL in EnvVar fails Ping. It
	// fixes what it can (for example creates a missing database) and
	// returns nil when the URL works now, or an error that says exactly
	// what to do. Nil: the Ping error is reported as it is.
	Repair func(url string, pingErr error) error
	// Container starts a container and returns its URL.
	Container func() (string, error)
	// Getenv reads the environment (EnvVar and CI). Nil means os.Getenv;
	// tests of a Finder set it.
	Getenv func(key string) string
	// Skips records the tests skipped for want of the service. Nil means
	// DefaultSkips, the log Run summarizes.
	Skips *SkipLog

	once       sync.Once
	url        string
	configured bool
	err        error
}

// URL returns the service's URL. When EnvVar is set and its URL is
// unusable it fails t, whatever CI says. When nothing was found it fails t
// under CI=true and skips it otherwise, recording the skip.
func (f *Finder) URL(t testing.TB) string {
	t.Helper()
	f.once.Do(func() { f.url, f.configured, f.err = f.find() })
	switch {
	case f.err == nil:
		return f.url
	case f.configured:
		t.Fatalf("%s=%s is set but unusable (tests fail rather than skip then): %v", f.EnvVar, Redact(f.getenv(f.EnvVar)), f.err)
	default:
		msg := fmt.Sprintf("no %s for tests: set %s, run one on %s, or start Docker (%v)", f.Name, f.EnvVar, f.Local, f.err)
		if f.getenv("CI") == "true" {
			t.Fatal(msg + " [CI=true: failing instead of skipping]")
		}
		f.skips().Skip(t, msg)
	}
	return ""
}

func (f *Finder) getenv(key string) string {
	if f.Getenv != nil {
		return f.Getenv(key)
	}
	return os.Getenv(key)
}

func (f *Finder) skips() *SkipLog {
	if f.Skips != nil {
		return f.Skips
	}
	return DefaultSkips
}

// find returns the URL, whether it came from EnvVar, and why none works.
func (f *Finder) find() (string, bool, error) {
	if u := f.getenv(f.EnvVar); u != "" {
		err := f.Ping(u)
		if err != nil && f.Repair != nil {
			err = f.Repair(u, err)
		}
		return u, true, err
	}
	if f.Ping(f.LocalURL) == nil {
		return f.LocalURL, false, nil
	}
	u, err := f.Container()
	if err != nil {
		return "", false, fmt.Errorf("%s did not answer and testcontainers failed: %w", f.Local, err)
	}
	return u, false, nil
}

// Redact replaces the password of a URL-shaped string with "xxxxx", so
// that messages can show which URL was used.
func Redact(url string) string {
	scheme := strings.Index(url, "://")
	at := strings.LastIndex(url, "@")
	if scheme < 0 || at < scheme {
		return url
	}
	userinfo := url[scheme+3 : at]
	if i := strings.Index(userinfo, ":"); i >= 0 {
		return url[:scheme+3] + userinfo[:i] + ":xxxxx" + url[at:]
	}
	return url
}

// SkipLog counts skipped tests by reason. It is safe for concurrent use.
type SkipLog struct {
	mu      sync.Mutex
	reasons map[string]int
}

// DefaultSkips is the log Finder and Skip record into and Run summarizes.
var DefaultSkips = &SkipLog{}

// Skip records reason and skips t.
func (l *SkipLog) Skip(t testing.TB, reason string) {
	t.Helper()
	l.mu.Lock()
	if l.reasons == nil {
		l.reasons = map[string]int{}
	}
	l.reasons[reason]++
	l.mu.Unlock()
	t.Skip(reason)
}

// Summary returns one line saying how many tests were skipped and why,
// most frequent reason first, or "" when none was.
func (l *SkipLog) Summary() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	total := 0
	reasons := make([]string, 0, len(l.reasons))
	for r, n := range l.reasons {
		total += n
		reasons = append(reasons, r)
	}
	if total == 0 {
		return ""
	}
	sort.Slice(reasons, func(i, j int) bool {
		ni, nj := l.reasons[reasons[i]], l.reasons[reasons[j]]
		return ni > nj || ni == nj && reasons[i] < reasons[j]
	})
	parts := make([]string, len(reasons))
	for i, r := range reasons {
		parts[i] = fmt.Sprintf("%d: %s", l.reasons[r], r)
	}
	return fmt.Sprintf("servicetest: %d test(s) skipped; %s", total, strings.Join(parts, "; "))
}

// Skip records reason in DefaultSkips and skips t: use it instead of
// t.Skip for a missing service, so that Run's summary counts the test.
func Skip(t testing.TB, reason string) {
	t.Helper()
	DefaultSkips.Skip(t, reason)
}

// Run runs the tests and returns m.Run's exit code, after printing
// DefaultSkips' summary line when any test was skipped for want of a
// service. Call it from TestMain: os.Exit(servicetest.Run(m)).
//
// The line goes to stdout, and also straight to the terminal (/dev/tty)
// when there is one, because `go test ./...` hides the output of a
// package whose tests pass.
func Run(m *testing.M) int {
	code := m.Run()
	if line := DefaultSkips.Summary(); line != "" {
		fmt.Println(line)
		if tty, err := os.OpenFile("/dev/tty", os.O_WRONLY, 0); err == nil {
			PrintSummary(tty, DefaultSkips)
			_ = tty.Close()
		}
	}
	return code
}

// PrintSummary writes log's summary line to w, with the package's name in
// front so that lines of several packages can be told apart; nothing when
// no test was skipped.
func PrintSummary(w io.Writer, log *SkipLog) {
	if line := log.Summary(); line != "" {
		fmt.Fprintf(w, "%s: %s\n", filepath.Base(os.Args[0]), line)
	}
}
