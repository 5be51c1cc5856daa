package bench

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestSoakRefusesAnIncompleteConfigBeforeTouchingTheSystem(t *testing.T) {
	t.Parallel()
	stats := func(context.Context) (TableStats, error) { return TableStats{}, nil }
	good := SoakConfig{Duration: time.Second, Interval: time.Second, Producers: 1, Batch: 1, Stats: stats}
	for name, mutate := range map[string]func(*SoakConfig){
		"no duration":  func(c *SoakConfig) { c.Duration = 0 },
		"no interval":  func(c *SoakConfig) { c.Interval = 0 },
		"no producers": func(c *SoakConfig) { c.Producers = 0 },
		"no batch":     func(c *SoakConfig) { c.Batch = 0 },
		"no stats":     func(c *SoakConfig) { c.Stats = nil },
	} {
		cfg := good
		mutate(&cfg)
		// A System with no functions: any use of it would panic, so an
		// error here proves the config was checked first.
		_, err := Soak(context.Background(), System{}, cfg, io.Discard, nil)
		require.Error(t, err, name)
		require.Contains(t, err.Error(), "must be positive and Stats set", name)
	}
}
