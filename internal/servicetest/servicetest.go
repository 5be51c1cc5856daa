// Package servicetest finds the real service a test talks to, the same way
// for every service: the URL in an environment variable; else a local
// server on its default port; else a testcontainers-go container (needs
// Docker). With none, a test fails when CI=true and is skipped otherwise,
// with a message saying how to provide one.
package servicetest

import (
	"fmt"
	"os"
	"sync"
	"testing"
)

// Finder locates one service, once per test binary.
type Finder struct {
	// Name ("Postgres") and Local ("localhost:5432") word the message.
	Name, Local string
	// EnvVar names the variable holding the service's URL.
	EnvVar string
	// LocalURL is tried when EnvVar is unset.
	LocalURL string
	// Ping checks that a URL answers.
	Ping func(url string) error
	// Container starts a container and returns its URL.
	Container func() (string, error)

	once sync.Once
	url  string
	err  error
}

// URL returns the service's URL, or fails (CI=true) or skips t.
func (f *Finder) URL(t testing.TB) string {
	t.Helper()
	f.once.Do(func() { f.url, f.err = f.find() })
	if f.err != nil {
		msg := fmt.Sprintf("no %s for tests: set %s, run one on %s, or start Docker (%v)", f.Name, f.EnvVar, f.Local, f.err)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return f.url
}

func (f *Finder) find() (string, error) {
	if u := os.Getenv(f.EnvVar); u != "" {
		return u, f.Ping(u)
	}
	if f.Ping(f.LocalURL) == nil {
		return f.LocalURL, nil
	}
	u, err := f.Container()
	if err != nil {
		return "", fmt.Errorf("%s did not answer and testcontainers failed: %w", f.Local, err)
	}
	return u, nil
}
