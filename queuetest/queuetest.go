// Package queuetest is the conformance suite every pgqueue.Backend runs: the
// Postgres backend, memqueue, redisqueue, and any third-party backend.
//
// It checks the semantics the design promises for every backend at two
// levels. Backend-level behaviours call the Backend's methods directly
// (claim order, kind filters, token fencing, lease expiry and rescue, dead
// letters). Client-level behaviours drive the backend with a real
// pgqueue.Client (retries, snoozes, panics, shutdown, concurrency limits,
// input validation), because a backend is only correct if the one engine
// works on top of it.
//
// A backend's test file needs one function:
//
//	func TestConformance(t *testing.T) {
//		queuetest.Run(t, queuetest.Harness{
//			NewBackend: func(t testing.TB) pgqueue.Backend {
//				return mybackend.New(...) // empty and isolated; cleanup via t.Cleanup
//			},
//		})
//	}
//
// Every behaviour is a parallel subtest with a backend of its own, so
// NewBackend must return a store no other subtest sees (a fresh schema,
// database number, key prefix or instance).
package queuetest

import (
	"testing"

	"github.com/pgqueue/pgqueue"
)

// Harness says how to make fresh, isolated backends for the suite.
type Harness struct {
	// NewBackend returns an empty backend that no other test shares.
	// Register any cleanup (closing pools, dropping schemas) with
	// t.Cleanup; the suite never closes the backend itself. It is called
	// once per subtest, from that subtest's goroutine.
	NewBackend func(t testing.TB) pgqueue.Backend
	// UniquePerQueue says the backend holds unique keys per queue (the
	// same key may wait in two queues at once), as redisqueue does; by
	// default a key is held across all queues, as on Postgres and
	// memqueue. The suite checks the backend keeps the scope it declares.
	UniquePerQueue bool
	// Poison, when set, damages job id in b's store so that the store
	// cannot move it as it is (dead-letter it, put it back), as a bug, an
	// older version or a hand-written write might: for example, on
	// Postgres a kind too long for the dead-letter table's index, on
	// Redis a job key that no longer holds a hash. The "Poison" group
	// then checks that such a job never blocks the others; without it,
	// that group runs its undecodable-args case only.
	Poison func(t testing.TB, b pgqueue.Backend, id int64)
}

// behaviour is one named check of the suite.
type behaviour struct {
	name string
	fn   func(t *testing.T, b pgqueue.Backend)
}

// Run runs every behaviour of the suite against backends made by h, each
// as a parallel subtest of t with its own backend. The subtests are grouped
// under "Backend" (Backend methods called directly) and "Client" (a
// pgqueue.Client driving the backend). Run returns when all have finished.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.NewBackend == nil {
		t.Fatal("queuetest: Harness.NewBackend is nil; it must return a fresh, isolated backend")
	}
	groups := []struct {
		name       string
		behaviours []behaviour
	}{
		{"Backend", backendBehaviours()},
		{"Client", clientBehaviours()},
		{"Features", featureBehaviours()},
		{"Unique", uniqueBehaviours(h)},
		{"Periodic", periodicBehaviours()},
		{"Cancel", cancelBehaviours()},
		{"Limits", limitBehaviours()},
		{"PauseAndPriority", pausePriorityBehaviours()},
		{"Hardening", hardeningBehaviours()},
		{"Poison", poisonBehaviours(h)},
		{"Liveness", livenessBehaviours()},
		{"Visibility", visibilityBehaviours()},
		{"ClientRegistry", clientRegistryBehaviours()},
		{"History", historyBehaviours()},
		{"Stats", statsBehaviours()},
		{"Workflows", workflowBehaviours()},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			for _, bh := range g.behaviours {
				t.Run(bh.name, func(t *testing.T) {
					t.Parallel()
					b := h.NewBackend(t)
					if b == nil {
						t.Fatal("queuetest: Harness.NewBackend returned nil")
					}
					bh.fn(t, b)
				})
			}
		})
	}
}
