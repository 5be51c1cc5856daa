package pgqueueweb_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgqueue/pgqueue"
	"github.com/pgqueue/pgqueue/memqueue"
	"github.com/pgqueue/pgqueue/pgqueueweb"
)

// historyBackend is a memqueue with a stats history (pgqueue.
// StatsHistoryReader) made up from the minute: what the overview charts
// once a backend records one.
type historyBackend struct {
	*memqueue.Backend
	err error
}

func (b historyBackend) StatsHistory(ctx context.Context, q pgqueue.StatsHistoryQuery) ([]pgqueue.StatsPoint, error) {
	if b.err != nil {
		return nil, b.err
	}
	var out []pgqueue.StatsPoint
	for at, i := q.From, 0; at.Before(q.To); at, i = at.Add(q.Step), i+1 {
		out = append(out, pgqueue.StatsPoint{
			At: at, Completed: int64(100 + i*3), Failed: int64(i % 7), Dead: int64(i % 13 / 12),
			RunP50: time.Duration(20+i%5) * time.Millisecond, RunP95: time.Duration(80+i%17) * time.Millisecond,
			WaitP50: time.Duration(3+i%4) * time.Millisecond, WaitP95: time.Duration(15+i%9) * time.Millisecond,
		})
	}
	return out, nil
}

func TestOverviewChartsTheStatsHistory(t *testing.T) {
	t.Parallel()
	h := pgqueueweb.Handler(pgqueue.NewAdmin(historyBackend{Backend: memqueue.New()}), pgqueueweb.Options{})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	require.Equal(t, http.StatusOK, rec.Code)
	body := rec.Body.String()
	require.NotContains(t, body, "No stats history")
	for _, title := range []string{"Throughput (jobs per minute)", "Failure rate", "Wait time", "Run time"} {
		require.Contains(t, body, title)
	}
	require.Equal(t, 8, strings.Count(body, "<polyline "), "throughput: completed, failed, dead; failure rate; wait p50, p95; run p50, p95")
	require.Contains(t, body, "completed: 277/min in the last minute", "the last of 60 points: 100+59*3")
	require.Contains(t, body, `role="img" aria-label="Throughput (jobs per minute) from`)

	broken := pgqueueweb.Handler(pgqueue.NewAdmin(historyBackend{Backend: memqueue.New(), err: errors.New("rollups table is gone")}), pgqueueweb.Options{})
	rec = httptest.NewRecorder()
	broken.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	require.Equal(t, http.StatusOK, rec.Code, "the counts still show when the history fails")
	require.Contains(t, rec.Body.String(), "The stats history could not be read: rollups table is gone")
}

func TestUnauthenticatedAsksForBasicAuth(t *testing.T) {
	t.Parallel()
	h := pgqueueweb.Handler(pgqueue.NewAdmin(memqueue.New()), pgqueueweb.Options{Title: "acme queues",
		Authorize: func(r *http.Request, action string) error { return pgqueueweb.ErrUnauthenticated }})
	for _, path := range []string{"/", "/static/app.css"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		require.Equal(t, http.StatusUnauthorized, rec.Code, path)
		require.Equal(t, `Basic realm="acme queues", charset="UTF-8"`, rec.Header().Get("WWW-Authenticate"), path)
	}
}

// noHistoryBackend has stats but no stats history (no
// pgqueue.StatsHistoryReader), like a third-party backend might.
type noHistoryBackend struct {
	pgqueue.Backend
	pgqueue.StatsReporter
}

func TestOverviewWithoutStatsHistory(t *testing.T) {
	t.Parallel()
	m := memqueue.New()
	h := pgqueueweb.Handler(pgqueue.NewAdmin(noHistoryBackend{m, m}), pgqueueweb.Options{})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	require.Contains(t, rec.Body.String(), `<p class="empty" id="no-history">No stats history on this backend`)
	require.NotContains(t, rec.Body.String(), "<svg")
}
