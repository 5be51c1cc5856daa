package main

// `pgqueue stats --history`: the per-minute stats (Admin.StatsHistory).

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/pgqueue/pgqueue"
)

// historyFlags are the flags of `pgqueue stats --history`.
type historyFlags struct {
	history time.Duration
	step    time.Duration
	until   string
	queues  []string
}

func (h *historyFlags) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.DurationVar(&h.history, "history", 0, "show the per-minute stats of this long back (e.g. 1h) instead of the current counts")
	fl.DurationVar(&h.step, "step", time.Minute, "with --history: the width of each row, a whole number of minutes")
	fl.StringVar(&h.until, "until", "", "with --history: the end of the history, an RFC 3339 time (default now)")
	fl.StringSliceVar(&h.queues, "queue", nil, "with --history: only these queues (repeat, or separate with commas; default every queue)")
}

// historyJSON is the JSON shape of `pgqueue stats --history`.
type historyJSON struct {
	From   time.Time          `json:"from"`
	To     time.Time          `json:"to"`
	Step   string             `json:"step"`
	Queues []string           `json:"queues"`
	Points []historyPointJSON `json:"points"`
}

// historyPointJSON is a StatsPoint (durations in nanoseconds, as the
// library's JSON has them) with its failure rate.
type historyPointJSON struct {
	pgqueue.StatsPoint
	FailureRate float64 `json:"failure_rate"`
}

// runHistory prints the stats history the flags ask for.
func (h *historyFlags) run(cmd *cobra.Command, g *globals, s *session) error {
	if h.history <= 0 {
		return usageErr("--history must be positive, got %s", h.history)
	}
	to := time.Now()
	if h.until != "" {
		t, err := time.Parse(time.RFC3339, h.until)
		if err != nil {
			return usageErr("--until: %q is not an RFC 3339 time", h.until)
		}
		to = t
	}
	from := to.Add(-h.history)
	points, err := s.admin.StatsHistory(cmd.Context(), from, to, h.step, h.queues...)
	if err != nil {
		return err
	}
	if g.json() {
		queues := h.queues
		if queues == nil {
			queues = []string{}
		}
		out := historyJSON{From: from.UTC(), To: to.UTC(), Step: shortDuration(h.step), Queues: queues, Points: make([]historyPointJSON, len(points))}
		for i, p := range points {
			out.Points[i] = historyPointJSON{StatsPoint: p, FailureRate: p.FailureRate()}
		}
		return printJSON(cmd.OutOrStdout(), out)
	}
	t := newTable(cmd.OutOrStdout(), "TIME", "COMPLETED", "FAILED", "DEAD", "CANCELLED", "LEASE LOST", "FAILURE RATE", "RUN P50", "RUN P95", "WAIT P50", "WAIT P95")
	for _, p := range points {
		t.row(p.At, p.Completed, p.Failed, p.Dead, p.Cancelled, p.LeaseLost, rate(p),
			shortDuration(p.RunP50), shortDuration(p.RunP95), shortDuration(p.WaitP50), shortDuration(p.WaitP95))
	}
	return t.flush()
}

// rate formats a point's failure rate as a percentage, "-" when nothing
// finished.
func rate(p pgqueue.StatsPoint) string {
	if p.Completed+p.Failed+p.Dead == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", 100*p.FailureRate())
}

// shortDuration formats a bucket bound as it reads best (100µs, 50ms, 2s,
// 5m, 1h), "-" for zero (no percentile).
func shortDuration(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
