package pgqueue_test

import (
	"testing"

	"github.com/pgqueue/pgqueue"
	"github.com/pgqueue/pgqueue/internal/pgtest"
	"github.com/pgqueue/pgqueue/queuetest"
)

// TestPostgresConformance runs the shared backend suite on Postgres, each
// behaviour in its own migrated schema.
func TestPostgresConformance(t *testing.T) {
	queuetest.Run(t, queuetest.Harness{
		NewBackend: func(t testing.TB) pgqueue.Backend { return pgtest.Backend(t) },
	})
}
