package pgqueue

import (
	"context"
	"errors"
	"testing"
)

type fuzzArgs struct {
	Name  string            `json:"name"`
	N     int               `json:"n"`
	Tags  []string          `json:"tags"`
	Meta  map[string]string `json:"meta"`
	Inner *struct {
		F float64 `json:"f"`
	} `json:"inner"`
}

func (fuzzArgs) Kind() string { return "fuzz" }

// FuzzDecodeArgs feeds arbitrary stored args to a worker: the worker runs
// with what decoded, or the run fails with a *DecodeError (which
// dead-letters the job at once); it never panics.
func FuzzDecodeArgs(f *testing.F) {
	for _, seed := range []string{`{}`, `{"name":"a","n":1}`, `{"n":"text"}`, `null`, `[]`, `{"inner":{"f":1e999}}`, "\xff", `{"tags":[1,2]}`, ``} {
		f.Add([]byte(seed))
	}
	unit := &typedUnit[fuzzArgs]{kind: "fuzz", worker: WorkFunc[fuzzArgs](func(ctx context.Context, j *Job[fuzzArgs]) error {
		_ = j.Args.Name
		return nil
	})}
	f.Fuzz(func(t *testing.T, raw []byte) {
		err := unit.run(context.Background(), &JobRow{ID: 1, Kind: "fuzz", Args: raw, Attempt: 1, MaxAttempts: 1}, &jobState{})
		var derr *DecodeError
		if err != nil && !errors.As(err, &derr) {
			t.Fatalf("args %q: want nil or *DecodeError, got %T: %v", raw, err, err)
		}
	})
}
