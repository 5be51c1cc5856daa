package queuetest_test

import (
	"testing"

	"github.com/pgqueue/pgqueue"
	"github.com/pgqueue/pgqueue/memqueue"
	"github.com/pgqueue/pgqueue/queuetest"
)

// TestMemqueue runs the conformance suite against the in-memory backend.
func TestMemqueue(t *testing.T) {
	queuetest.Run(t, queuetest.Harness{
		NewBackend: func(t testing.TB) pgqueue.Backend { return memqueue.New() },
	})
}
