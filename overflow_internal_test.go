package pgqueue

import (
	"math"
	"testing"
	"time"
)

// Waits computed from huge configured durations must saturate, never wrap
// to a negative (immediate) wait.
func TestHugeDurationsSaturate(t *testing.T) {
	p, err := RetryPolicy{Base: math.MaxInt64 / 2, Max: math.MaxInt64, Jitter: 0.5}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	for attempt := 1; attempt <= 100; attempt++ {
		if d := p.Backoff(attempt); d < p.Base/2 {
			t.Fatalf("Backoff(%d) with Base %v and Max %v is %v: a huge wait wrapped around", attempt, p.Base, p.Max, d)
		}
	}
	if got := saturatingAdd(math.MaxInt64, 5*time.Second); got != math.MaxInt64 {
		t.Fatalf("a JobTimeout of math.MaxInt64 plus ShutdownGrace must saturate, got %v", got)
	}
	cfg := Config{PollInterval: time.Second, Queues: map[string]QueueConfig{"q": {RateLimit: &RateLimit{PerSecond: 1e-300}}}}
	if got := pollInterval(cfg, "q"); got != time.Second {
		t.Fatalf("a queue limited to 1e-300 jobs per second is polled every PollInterval (1s), got %v", got)
	}
}
