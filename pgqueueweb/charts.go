package pgqueueweb

// The overview's charts, drawn on the server as SVG polylines from the
// stats history, so they need no script and no chart library.

import (
	"fmt"
	"strings"
	"time"

	"github.com/pgqueue/pgqueue"
)

// Chart geometry, in SVG user units (the SVG scales to its box).
const (
	chartW = 600
	chartH = 150
)

// chart is one chart of the overview.
type chart struct {
	Title  string
	Max    string
	Series []series
	Empty  bool
	From   time.Time
	To     time.Time
}

// series is one line of a chart.
type series struct {
	Name   string
	Class  string
	Points string
	Last   string
}

// charts turns the stats history into the overview's four charts:
// throughput, failure rate, wait time and run time.
func charts(points []pgqueue.StatsPoint) []chart {
	n := len(points)
	get := func(f func(p pgqueue.StatsPoint) float64) []float64 {
		out := make([]float64, n)
		for i, p := range points {
			out[i] = f(p)
		}
		return out
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	count := func(v float64) string { return fmt.Sprintf("%.0f/min", v) }
	millis := func(v float64) string { return dur(time.Duration(v * float64(time.Millisecond))) }
	percent := func(v float64) string { return fmt.Sprintf("%.1f%%", v) }
	out := []chart{
		makeChart("Throughput (jobs per minute)", count,
			[]string{"completed", "failed", "dead"},
			get(func(p pgqueue.StatsPoint) float64 { return float64(p.Completed) }),
			get(func(p pgqueue.StatsPoint) float64 { return float64(p.Failed) }),
			get(func(p pgqueue.StatsPoint) float64 { return float64(p.Dead) })),
		makeChart("Failure rate (failed and dead of all finished attempts)", percent,
			[]string{"failure rate"},
			get(func(p pgqueue.StatsPoint) float64 { return 100 * p.FailureRate() })),
		makeChart("Wait time (due to claimed)", millis,
			[]string{"p50", "p95"},
			get(func(p pgqueue.StatsPoint) float64 { return ms(p.WaitP50) }),
			get(func(p pgqueue.StatsPoint) float64 { return ms(p.WaitP95) })),
		makeChart("Run time", millis,
			[]string{"p50", "p95"},
			get(func(p pgqueue.StatsPoint) float64 { return ms(p.RunP50) }),
			get(func(p pgqueue.StatsPoint) float64 { return ms(p.RunP95) })),
	}
	finished := false
	for _, p := range points {
		finished = finished || p.Completed+p.Failed+p.Dead+p.Cancelled+p.LeaseLost > 0
	}
	for i := range out {
		// A flat zero line is data (no failures), as long as something
		// finished in the window.
		out[i].Empty = !finished
		if n > 0 {
			out[i].From, out[i].To = points[0].At, points[n-1].At
		}
	}
	return out
}

// makeChart scales the series to the chart's box, sharing one y axis.
func makeChart(title string, format func(float64) string, names []string, data ...[]float64) chart {
	c := chart{Title: title}
	top := 0.0
	for _, d := range data {
		for _, v := range d {
			top = max(top, v)
		}
	}
	if top == 0 {
		top = 1
	}
	c.Max = format(top)
	for i, d := range data {
		var b strings.Builder
		for j, v := range d {
			x := 0.0
			if len(d) > 1 {
				x = float64(j) * chartW / float64(len(d)-1)
			}
			y := chartH - v/top*(chartH-4) - 2
			fmt.Fprintf(&b, "%.1f,%.1f ", x, y)
		}
		s := series{Name: names[i], Class: fmt.Sprintf("s%d", i), Points: strings.TrimSpace(b.String())}
		if len(d) > 0 {
			s.Last = format(d[len(d)-1])
		}
		c.Series = append(c.Series, s)
	}
	return c
}
