package pgqueue

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestRetryWithBackoffStopsOnSuccessFinalErrorTriesOrContext(t *testing.T) {
	errTransient, errFinal := errors.New("transient"), errors.New("final")
	calls := 0
	err := retryWithBackoff(context.Background(), 5, time.Microsecond, nil, func(try int) error {
		calls++
		if try < 3 {
			return errTransient
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Fatalf("should succeed on the third try: err %v after %d calls", err, calls)
	}

	calls = 0
	err = retryWithBackoff(context.Background(), 5, time.Microsecond, func(err error) bool { return errors.Is(err, errFinal) }, func(int) error {
		calls++
		return errFinal
	})
	if !errors.Is(err, errFinal) || calls != 1 {
		t.Fatalf("a final error must end the retries at once: err %v after %d calls", err, calls)
	}

	calls = 0
	err = retryWithBackoff(context.Background(), 4, time.Microsecond, nil, func(int) error { calls++; return errTransient })
	if !errors.Is(err, errTransient) || calls != 4 {
		t.Fatalf("should give up after 4 tries with the last error: err %v after %d calls", err, calls)
	}

	// A cancelled context interrupts the wait: shutdown never sits out a
	// backoff (the old completer slept through it).
	ctx, cancel := context.WithCancel(context.Background())
	calls = 0
	start := time.Now()
	time.AfterFunc(20*time.Millisecond, cancel)
	err = retryWithBackoff(ctx, 5, time.Hour, nil, func(int) error { calls++; return errTransient })
	if !errors.Is(err, errTransient) || calls != 1 || time.Since(start) > 10*time.Second {
		t.Fatalf("cancelling the context should end an hour-long wait at once: err %v, %d calls, %v", err, calls, time.Since(start))
	}
}
