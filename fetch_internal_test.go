package pgqueue

import (
	"testing"
	"time"
)

// TestClaimAheadAllowanceFollowsThePace pins how far a queue claims ahead:
// its floor while the pace is unknown or slow, what it starts within
// claimAheadHorizon when its jobs finish fast, and never past the cap.
func TestClaimAheadAllowanceFollowsThePace(t *testing.T) {
	t.Parallel()
	q := &queueFetcher{max: 100, ahead: 100}
	start := time.Unix(1_700_000_000, 0)
	if got := q.allowance(start); got != 100 {
		t.Fatalf("a fetcher that has measured no pace claims its floor of 100 ahead, got %d", got)
	}
	// 1,000 jobs/s: 25 in the horizon, under the floor.
	q.finished.Add(100)
	if got := q.allowance(start.Add(100 * time.Millisecond)); got != 100 {
		t.Fatalf("at 1,000 jobs/s (25 per %v) the allowance stays at its floor of 100, got %d", claimAheadHorizon, got)
	}
	// 12,000 jobs/s: 300 in the horizon.
	q.finished.Add(1200)
	if got := q.allowance(start.Add(200 * time.Millisecond)); got != 300 {
		t.Fatalf("at 12,000 jobs/s the allowance is what starts within %v, 300; got %d", claimAheadHorizon, got)
	}
	// A call within the window keeps the last pace.
	q.finished.Add(1_000_000)
	if got := q.allowance(start.Add(250 * time.Millisecond)); got != 300 {
		t.Fatalf("within %v of the last measurement the pace is not measured again; want 300, got %d", paceWindow, got)
	}
	// A huge pace is capped.
	if got := q.allowance(start.Add(300 * time.Millisecond)); got != claimAheadGrowth*100 {
		t.Fatalf("a fast queue claims at most %d× its floor ahead (%d), got %d", claimAheadGrowth, claimAheadGrowth*100, got)
	}
	// Slow claims stretch the horizon: at 12,000 jobs/s with claims of
	// 20 ms, the half of the allowance still waiting when the next claim
	// starts must last 20 ms: 480 jobs.
	q.pace, q.paceAt, q.claimTook = 12000, start.Add(300*time.Millisecond), 20*time.Millisecond
	if got := q.allowance(start.Add(350 * time.Millisecond)); got != 480 {
		t.Fatalf("at 12,000 jobs/s with claims taking 20 ms the allowance covers two claims, 480; got %d", got)
	}
	// A claim slowed by a fault stretches it no further than
	// claimAheadHorizonMax: at 1,000 jobs/s with a claim of 2 s, 100 jobs,
	// not 4,000.
	q.pace, q.claimTook = 1000, 2*time.Second
	if got := q.allowance(start.Add(360 * time.Millisecond)); got != 100 {
		t.Fatalf("a 2 s claim at 1,000 jobs/s may stretch the horizon only to %v (100 jobs, the floor); got %d", claimAheadHorizonMax, got)
	}
	q.pace, q.claimTook = 4000, 2*time.Second
	if got := q.allowance(start.Add(370 * time.Millisecond)); got != 400 {
		t.Fatalf("a 2 s claim at 4,000 jobs/s may stretch the horizon only to %v: 400 jobs; got %d", claimAheadHorizonMax, got)
	}
	q.claimTook = 0
	// After an idle spell the pace falls back, and so does the allowance.
	if got := q.allowance(start.Add(time.Minute)); got != 100 {
		t.Fatalf("after a minute without finished jobs the allowance is back at its floor of 100, got %d", got)
	}

	none := &queueFetcher{max: 4}
	none.finished.Add(1_000_000)
	if got := none.allowance(start.Add(time.Hour)); got != 0 {
		t.Fatalf("a queue that claims nothing ahead (floor 0) never does, whatever its pace; got %d", got)
	}
}
