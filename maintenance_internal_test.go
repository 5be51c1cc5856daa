package pgqueue

import (
	"testing"
	"time"
)

func TestVacuumDueDuringADrainNotOnlyPastHalfDead(t *testing.T) {
	cases := []struct {
		dead, live int64
		since      time.Duration
		want       bool
		why        string
	}{
		{19999, 0, -1, false, "fewer dead rows than the minimum"},
		{20000, 60000, -1, true, "a drain a quarter through: one dead row per three live ones"},
		{20000, 90000, -1, false, "too few dead rows for the live ones"},
		{250000, 1000000, time.Minute, true, "a big table with a quarter dead"},
		{200000, 1000000, time.Minute, false, "a big table with a fifth dead"},
		{50000, 10000, 100 * time.Millisecond, false, "vacuumed 100 ms ago"},
		{50000, 10000, time.Second, true, "vacuumed a second ago"},
	}
	for _, c := range cases {
		if got := vacuumDue(c.dead, c.live, c.since); got != c.want {
			t.Errorf("vacuumDue(dead %d, live %d, since %v) = %v, want %v: %s", c.dead, c.live, c.since, got, c.want, c.why)
		}
	}
}

// After a vacuum, the next waits vacuumDuty times its duration; a vacuum
// that removed less than half its dead rows adds a backoff that doubles
// while it lasts and ends with one that removed more.
func TestVacuumStateHoldsTheNextVacuumBack(t *testing.T) {
	t.Parallel()
	now := time.Now()
	var v vacuumState
	v.vacuumed(100000, 1000, 300*time.Millisecond, now)
	if got := v.notBefore.Sub(now); got != vacuumDuty*300*time.Millisecond {
		t.Fatalf("a productive 300 ms vacuum should hold the next back %v, got %v", vacuumDuty*300*time.Millisecond, got)
	}
	v.vacuumed(100000, 90000, 50*time.Millisecond, now)
	if got := v.notBefore.Sub(now); got != vacuumPinnedMin {
		t.Fatalf("a vacuum that removed a tenth should hold the next back %v, got %v", vacuumPinnedMin, got)
	}
	v.vacuumed(100000, 90000, 50*time.Millisecond, now)
	if got := v.notBefore.Sub(now); got != 2*vacuumPinnedMin {
		t.Fatalf("a second one in a row should double the wait to %v, got %v", 2*vacuumPinnedMin, got)
	}
	for range 10 {
		v.vacuumed(100000, 90000, 50*time.Millisecond, now)
	}
	if got := v.notBefore.Sub(now); got != vacuumPinnedMax {
		t.Fatalf("the wait should stop growing at %v, got %v", vacuumPinnedMax, got)
	}
	v.vacuumed(100000, 1000, 3*time.Second, now)
	if got := v.notBefore.Sub(now); got != vacuumDuty*3*time.Second {
		t.Fatalf("a productive vacuum ends the backoff; a 3 s one holds the next back %v, got %v", vacuumDuty*3*time.Second, got)
	}
	v.vacuumed(100000, 1000, 10*time.Millisecond, now)
	if v.held(now.Add(vacuumDuty*10*time.Millisecond + time.Millisecond)) {
		t.Fatal("a quick productive vacuum holds the next back only vacuumDuty times its duration")
	}
}
