package pgqueue_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgqueue/pgqueue"
)

func TestDeadFilterEffectiveLimit(t *testing.T) {
	t.Parallel()
	for limit, want := range map[int]int{0: pgqueue.DefaultDeadLimit, -5: pgqueue.DefaultDeadLimit, 1: 1, 250: 250} {
		require.Equal(t, want, pgqueue.DeadFilter{Limit: limit}.EffectiveLimit(), "EffectiveLimit of Limit %d", limit)
	}
	require.Equal(t, 100, pgqueue.DefaultDeadLimit, "the documented default of DeadFilter.Limit is 100")
}
