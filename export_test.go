package pgqueue

// TrailState exposes the trailing notifier's counters to the external
// tests: enqueues that skipped their own NOTIFY, transactions still
// tracked, and whether the notifier goroutine runs.
func TrailState(b *PostgresBackend) (skipped int64, pending int, running bool) {
	return b.notify.trailState()
}
