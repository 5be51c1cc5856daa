package pgqueue

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fakeRegistry counts the registrar's calls and answers ClientSeen with
// seenErr.
type fakeRegistry struct {
	mu                      sync.Mutex
	registered, seen, unreg int
	registerErr, seenErr    error
}

func (f *fakeRegistry) RegisterClient(context.Context, ClientInfo) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.registered++
	return f.registerErr
}

func (f *fakeRegistry) ClientSeen(context.Context, string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seen++
	return f.seenErr
}

func (f *fakeRegistry) UnregisterClient(context.Context, string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.unreg++
	return nil
}

func (f *fakeRegistry) Clients(context.Context, time.Duration) ([]ClientInfo, error) { return nil, nil }

func (f *fakeRegistry) counts() (int, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.registered, f.seen
}

func newTestRegistrar(f *fakeRegistry, interval time.Duration) *clientRegistrar {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	return &clientRegistrar{store: f, info: ClientInfo{ID: "c"}, interval: interval,
		failures: &failureLog{log: log, msg: "test", every: time.Minute}}
}

// The registrar marks the entry seen once per interval, registers again
// when the registry lost it, and after a failed write tries again only
// once the interval has passed.
func TestClientRegistrarRefresh(t *testing.T) {
	ctx := context.Background()
	f := &fakeRegistry{}
	r := newTestRegistrar(f, 30*time.Millisecond)
	r.register(ctx)
	r.refresh(ctx)
	reg, seen := f.counts()
	require.Equal(t, [2]int{1, 0}, [2]int{reg, seen}, "no refresh within the interval")
	time.Sleep(40 * time.Millisecond)
	r.refresh(ctx)
	reg, seen = f.counts()
	require.Equal(t, [2]int{1, 1}, [2]int{reg, seen}, "seen once the interval passed")

	f.mu.Lock()
	f.seenErr = ErrClientNotFound
	f.mu.Unlock()
	time.Sleep(40 * time.Millisecond)
	r.refresh(ctx)
	reg, seen = f.counts()
	require.Equal(t, [2]int{2, 2}, [2]int{reg, seen}, "a lost entry is registered again")

	f.mu.Lock()
	f.registerErr, f.seenErr = errors.New("no table"), nil
	f.mu.Unlock()
	time.Sleep(40 * time.Millisecond)
	r.refresh(ctx) // seen succeeds
	r.register(ctx)
	r.refresh(ctx)
	reg, _ = f.counts()
	require.Equal(t, 3, reg, "a failed registration is not retried within the interval")
	time.Sleep(40 * time.Millisecond)
	r.refresh(ctx)
	reg, _ = f.counts()
	require.Equal(t, 4, reg, "a failed registration is tried again after the interval")

	var nilR *clientRegistrar
	nilR.register(ctx)
	nilR.refresh(ctx)
	nilR.unregister(ctx, nil)
}
