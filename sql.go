package pgqueue

import (
	"embed"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

//go:embed sql/*.sql
var sqlFiles embed.FS

// queries holds every statement of the Postgres backend, rendered once for
// one schema. Table names come from configuration, so they are quoted with
// pgx's identifier sanitizer before they replace the {{jobs}} and {{dead}}
// placeholders; nothing else is ever spliced into SQL.
type queries struct {
	insert, claim, complete, completeOne, reschedule, deadLetter, heartbeat,
	promote, nextDue, rescueLock, rescueRequeue, rescueDead,
	deadList, deadRequeue, deadPurge string
}

func renderQueries(schema string) (queries, error) {
	r := strings.NewReplacer(
		"{{jobs}}", pgx.Identifier{schema, "pgqueue_jobs"}.Sanitize(),
		"{{dead}}", pgx.Identifier{schema, "pgqueue_dead_jobs"}.Sanitize(),
	)
	var q queries
	var firstErr error
	load := func(name string) string {
		b, err := sqlFiles.ReadFile("sql/" + name + ".sql")
		if err != nil && firstErr == nil {
			firstErr = fmt.Errorf("pgqueue: missing embedded query %s: %w", name, err)
		}
		return r.Replace(string(b))
	}
	q = queries{
		insert: load("insert"), claim: load("claim"), complete: load("complete"),
		completeOne: load("complete_one"), reschedule: load("reschedule"),
		deadLetter: load("dead_letter"), heartbeat: load("heartbeat"),
		promote: load("promote"), nextDue: load("next_due"), rescueLock: load("rescue_lock"),
		rescueRequeue: load("rescue_requeue"), rescueDead: load("rescue_dead"),
		deadList: load("dead_list"), deadRequeue: load("dead_requeue"), deadPurge: load("dead_purge"),
	}
	return q, firstErr
}
