package pgqueue_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/pgqueue/pgqueue"
	"github.com/pgqueue/pgqueue/internal/pgtest"
	"github.com/pgqueue/pgqueue/queuetest"
)

// TestPostgresConformance runs the shared backend suite on Postgres, each
// behaviour in its own migrated schema.
func TestPostgresConformance(t *testing.T) {
	queuetest.Run(t, queuetest.Harness{
		NewBackend: func(t testing.TB) pgqueue.Backend { return pgtest.Backend(t) },
		Poison:     poisonPostgresJob,
	})
}

// poisonPostgresJob gives job id a kind too long for the dead-letter
// table's index (random, so Postgres cannot compress it below the limit),
// as a row written before enqueue checked lengths would have.
func poisonPostgresJob(t testing.TB, b pgqueue.Backend, id int64) {
	t.Helper()
	pg := b.(*pgqueue.PostgresBackend)
	raw := make([]byte, 4500)
	_, _ = rand.Read(raw)
	tag, err := pg.Pool().Exec(context.Background(), fmt.Sprintf(`UPDATE %s SET kind = $2 WHERE id = $1`,
		pgx.Identifier{pg.Schema(), "pgqueue_jobs"}.Sanitize()), id, hex.EncodeToString(raw))
	if err != nil || tag.RowsAffected() != 1 {
		t.Fatalf("poison job %d: %v (rows %d)", id, err, tag.RowsAffected())
	}
}
