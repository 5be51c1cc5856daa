package pgqueue_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgqueue/pgqueue"
)

// bareBackend has only the Backend methods, none of the optional ones, as
// a minimal third-party backend would.
type bareBackend struct{ pgqueue.Backend }

// A backend without an optional interface gets ErrUnsupported (and, for
// the transactional paths, ErrTxUnsupported, which wraps it), never a
// misleading ErrInvalidArgs.
func TestMissingCapabilitiesReportErrUnsupported(t *testing.T) {
	t.Parallel()
	c, err := pgqueue.New(bareBackend{}, pgqueue.Config{})
	require.NoError(t, err)
	ctx := context.Background()
	err = c.Cancel(ctx, 1)
	require.ErrorIs(t, err, pgqueue.ErrUnsupported, "Cancel without a Canceller")
	require.NotErrorIs(t, err, pgqueue.ErrInvalidArgs)
	require.ErrorIs(t, c.PauseQueue(ctx, "default"), pgqueue.ErrUnsupported, "PauseQueue without a QueuePauser")
	_, err = c.ResumeQueue(ctx, "default")
	require.ErrorIs(t, err, pgqueue.ErrUnsupported, "ResumeQueue without a QueuePauser")
	_, err = c.EnqueueTx(ctx, nil, pingArgs{}, nil)
	require.ErrorIs(t, err, pgqueue.ErrTxUnsupported, "EnqueueTx without a TxInserter")
	require.ErrorIs(t, err, pgqueue.ErrUnsupported, "ErrTxUnsupported wraps ErrUnsupported")
	_, err = c.EnqueueManyFastTx(ctx, nil, []pgqueue.EnqueueRequest{{Args: pingArgs{}}})
	require.ErrorIs(t, err, pgqueue.ErrTxUnsupported, "EnqueueManyFastTx without a CopyInserter")
}

// CheckQueueName is the one queue-name rule.
func TestCheckQueueName(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"default", "a", "mail.out:eu-1", "_x"} {
		require.NoError(t, pgqueue.CheckQueueName(ok), "%q is a valid queue name", ok)
	}
	for _, bad := range []string{"", "bad name!", "-x", string(make([]byte, 129)), "q\x00"} {
		err := pgqueue.CheckQueueName(bad)
		require.ErrorIs(t, err, pgqueue.ErrInvalidArgs, "%q must be refused", bad)
		var ve *pgqueue.ValidationError
		require.ErrorAs(t, err, &ve)
		require.Equal(t, "queue", ve.Field, "the error names the queue as the invalid thing")
		require.Contains(t, err.Error(), "invalid queue name", "the message names what is invalid")
	}
}
