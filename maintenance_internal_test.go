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
