package pgqueue

// What a run leaves behind besides its outcome: the output a handler
// records and the progress it reports while it runs.

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"time"
	"unicode/utf8"
)

// MaxOutputBytes caps the encoded JSON a handler records with
// RecordOutput: output is stored with the job, and the history and dead
// letters must stay cheap to list. Larger results belong in the user's
// own tables, with their key recorded here.
const MaxOutputBytes = 64 << 10

// MaxProgressNoteBytes caps SetProgress's note, in bytes.
const MaxProgressNoteBytes = 1 << 10

// jobStateKey is the context key under which a run's jobState travels to
// the handler, for RecordOutput and SetProgress.
type jobStateKey struct{}

// jobCtx is a run's context: its parent's, plus the run's jobState under
// jobStateKey. It lives inside the jobState (withJobState), so carrying
// the state costs the run no allocation of its own.
type jobCtx struct {
	context.Context
	st *jobState
}

// Value implements context.Context.
func (c *jobCtx) Value(key any) any {
	if _, ok := key.(jobStateKey); ok {
		return c.st
	}
	return c.Context.Value(key)
}

// withJobState returns ctx carrying st, for jobStateFrom.
func withJobState(ctx context.Context, st *jobState) context.Context {
	st.ctx = jobCtx{Context: ctx, st: st}
	return &st.ctx
}

func jobStateFrom(ctx context.Context) *jobState {
	st, _ := ctx.Value(jobStateKey{}).(*jobState)
	return st
}

// RecordOutput stores v, encoded as JSON, with the job ctx belongs to: it
// is written by the statement that completes or dead-letters the job (no
// extra write), kept with the job in the history (Config.Retention) and in
// the dead-letter store, and shown by Admin.FindJob, `pgqueue jobs show`
// and `pgqueue dlq show`. A later call replaces an earlier one; output
// recorded by an attempt that is retried is dropped with that attempt. It
// returns ErrInvalidArgs when ctx is not a running job's context, or when v
// does not encode, encodes to more than MaxOutputBytes, or holds a NUL
// character (\u0000, which Postgres cannot store); the earlier output is
// kept then.
func RecordOutput(ctx context.Context, v any) error {
	st := jobStateFrom(ctx)
	if st == nil {
		return invalidJob("ctx", "RecordOutput needs the context of a running job (the one its handler was given)")
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return invalidJob("output", "does not encode as JSON: %v", err)
	}
	if len(raw) > MaxOutputBytes {
		return invalidJob("output", "encodes to %d bytes, more than MaxOutputBytes (%d)", len(raw), MaxOutputBytes)
	}
	if jsonHasNUL(raw) {
		return invalidJob("output", "holds a NUL character (\\u0000), which Postgres cannot store")
	}
	st.mu.Lock()
	st.record().output = raw
	st.mu.Unlock()
	return nil
}

// SetProgress reports how far the job ctx belongs to has got: fraction
// from 0 to 1 and a short note. It only remembers the latest report: the
// client's next heartbeat (every Config.HeartbeatInterval) carries it to
// the store, so calling it often costs nothing, and operators see it in
// JobInfo.Progress. It returns ErrInvalidArgs when ctx is not a running
// job's context, fraction is outside [0, 1] or not a number, or note is
// longer than MaxProgressNoteBytes or not valid UTF-8.
func SetProgress(ctx context.Context, fraction float64, note string) error {
	st := jobStateFrom(ctx)
	if st == nil {
		return invalidJob("ctx", "SetProgress needs the context of a running job (the one its handler was given)")
	}
	if math.IsNaN(fraction) || fraction < 0 || fraction > 1 {
		return invalidJob("fraction", "must be from 0 to 1, got %v", fraction)
	}
	if len(note) > MaxProgressNoteBytes {
		return invalidJob("note", "is %d bytes, more than MaxProgressNoteBytes (%d)", len(note), MaxProgressNoteBytes)
	}
	if !utf8.ValidString(note) {
		return invalidJob("note", "is not valid UTF-8")
	}
	p := &Progress{Fraction: fraction, Note: storableText(note), At: time.Now().UTC()}
	st.mu.Lock()
	r := st.record()
	r.progress, r.progressSent = p, false
	st.mu.Unlock()
	return nil
}

// takeProgress returns the progress reported since the last heartbeat
// carried one, encoded, and marks it sent; nil when there is none.
func (st *jobState) takeProgress() json.RawMessage {
	st.mu.Lock()
	defer st.mu.Unlock()
	r := st.recorded
	if r == nil || r.progress == nil || r.progressSent {
		return nil
	}
	r.progressSent = true
	raw, err := json.Marshal(r.progress)
	if err != nil {
		panic(fmt.Sprintf("pgqueue: encoding a Progress cannot fail: %v", err))
	}
	return raw
}

// recordedOutput returns the output RecordOutput stored for the run.
func (st *jobState) recordedOutput() json.RawMessage {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.recorded == nil {
		return nil
	}
	return st.recorded.output
}

// record returns the run's record, making it on first use. st.mu must be
// held.
func (st *jobState) record() *runRecord {
	if st.recorded == nil {
		st.recorded = &runRecord{}
	}
	return st.recorded
}

// retentionFor returns how long the client keeps a completed job of queue
// in the history: the queue's Retention, else Config.Retention; 0 when
// not kept.
func (c *Config) retentionFor(queue string) time.Duration {
	if q, ok := c.Queues[queue]; ok && q.Retention != 0 {
		return max(q.Retention, 0)
	}
	return c.Retention
}
