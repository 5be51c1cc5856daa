package pgqueue

// Cancelling jobs: Client.Cancel, the CancelMessage wake-up, and how a
// running client stops a cancelled run once the store confirms it.

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ErrJobCancelled is the cancel cause of a running job's context when the
// job was cancelled (Client.Cancel, Admin.CancelJob, `pgqueue jobs
// cancel`).
var ErrJobCancelled = errors.New("pgqueue: job cancelled")

// cancelPrefix marks a Listen message that is not a queue name but a
// cancellation: queue names cannot contain '!'.
const cancelPrefix = "!cancel:"

// CancelMessage is what a Backend's Listen passes to wake when the running
// job id was cancelled, so that the client running it stops it.
func CancelMessage(id int64) string { return cancelPrefix + strconv.FormatInt(id, 10) }

// parseCancel returns the job ID of a CancelMessage.
func parseCancel(msg string) (int64, bool) {
	rest, ok := strings.CutPrefix(msg, cancelPrefix)
	if !ok {
		return 0, false
	}
	id, err := strconv.ParseInt(rest, 10, 64)
	return id, err == nil
}

func cancelledError() AttemptError {
	return AttemptError{At: time.Now().UTC(), Kind: "cancelled", Error: "cancelled"}
}

// Cancel cancels a job wherever it is: a waiting job never runs, and a
// running one has its context cancelled (cause ErrJobCancelled) on the
// client running it, normally within milliseconds (at worst at its next
// heartbeat), and its result is discarded. The job moves to the
// dead-letter store marked "cancelled". It returns ErrJobNotFound when the
// job is not waiting or running, and ErrUnsupported on a backend that
// cannot cancel (no Canceller).
func (c *Client) Cancel(ctx context.Context, id int64) error {
	cc, ok := c.backend.(Canceller)
	if !ok {
		return fmt.Errorf("%w: backend %T cannot cancel jobs", ErrUnsupported, c.backend)
	}
	if err := cc.CancelJob(ctx, id); err != nil {
		return err
	}
	// Cancelling a job this very client runs needs no round trip.
	if e := c.currentEngine(); e != nil {
		e.cancelRunning(id)
	}
	return nil
}

// cancelIfCancelled handles a CancelMessage from the backend's wake-ups.
// Anyone who can send to the store's channel can send one (on Postgres,
// any role that can connect may NOTIFY), so the message alone proves
// nothing: each run of job id this client holds is stopped only when the
// store confirms that the run's lease is gone (a heartbeat of its ref
// finds it lost). A forged message costs one heartbeat and is logged.
func (e *engine) cancelIfCancelled(id int64) {
	for _, st := range e.running.snapshot() {
		if st.ref.ID != id {
			continue
		}
		ctx, cancel := context.WithTimeout(e.bgCtx, e.cfg.HeartbeatInterval)
		lost, err := e.backend.Heartbeat(ctx, []JobRef{st.ref}, e.cfg.LeaseDuration)
		cancel()
		switch {
		case err != nil:
			// The heartbeat loop will find out; acting on an unconfirmed
			// message could stop a job nobody cancelled.
			e.c.log.Warn("pgqueue: could not confirm a cancellation; the job keeps running until its heartbeat tells", "job_id", id, "err", err)
		case len(lost) == 0:
			e.c.log.Warn("pgqueue: ignored a cancellation message for a job that is still held (not sent by a cancel?)", "job_id", id)
		default:
			st.stop(ErrJobCancelled)
		}
	}
}

// cancelRunning stops the runs of job id this client holds.
func (e *engine) cancelRunning(id int64) {
	for _, st := range e.running.snapshot() {
		if st.ref.ID == id {
			st.stop(ErrJobCancelled)
		}
	}
}
