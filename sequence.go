package pgqueue

// Sequences: jobs sharing EnqueueOptions.Sequence run one at a time, in
// enqueue order. Each key is kept as a workflow that grows by one task per
// job, each task after the one before, so that the workflow machinery
// (waiting state, release by the completing statement, failure policy)
// runs sequences too.

import "context"

// SequenceInserter is an optional Backend interface for jobs with
// EnqueueOptions.Sequence.
type SequenceInserter interface {
	// InsertSequenced stores jobs as Insert does, and returns their IDs
	// in order. A job with a Sequence key becomes a task of the key's
	// workflow (SequenceWorkflowName) after the job stored before it with
	// the same key, and waits until that one has finished, unless it has
	// already. When that one is dead-lettered or cancelled, the job is
	// cancelled, unless that one had SequenceContinue.
	InsertSequenced(ctx context.Context, jobs []InsertParams) ([]int64, error)
}

// TxSequenceInserter is an optional Backend interface for sequenced jobs
// enqueued in the caller's transaction (EnqueueTx, EnqueueManyTx).
type TxSequenceInserter interface {
	// InsertSequencedTx is InsertSequenced on tx.
	InsertSequencedTx(ctx context.Context, tx DBTX, jobs []InsertParams) ([]int64, error)
}

// hasSequence reports whether any job is in a sequence.
func hasSequence(params []InsertParams) bool {
	for _, p := range params {
		if p.Sequence != "" {
			return true
		}
	}
	return false
}

// SequenceWorkflowName is the name of the workflow that holds sequence
// key's jobs (Admin.Workflows lists it).
func SequenceWorkflowName(key string) string { return "sequence " + key }
