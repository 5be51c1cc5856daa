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
// pgx's identifier sanitizer before they replace the {{jobs}}, {{dead}},
// {{queues}} and {{periodic}} placeholders. The only other text spliced in
// is our own: the shared fragments {{claim_update}} and {{dead_filter}}
// (sql/claim_update.sql, sql/dead_filter.sql), and insert statements
// derived by dropping their ON CONFLICT line.
type queries struct {
	insert, insertOne, claim, claimPlan, complete, completeOne, reschedule, deadLetter, heartbeat,
	promote, nextDue, rescueLock, rescueRequeue, rescueDead,
	deadList, deadRequeue, deadPurge, deadCount,
	queuePause, queueResume, queueList,
	statsQueue, statsRunning, statsDead, statsDeadEstimate,
	jobGet, jobCancel, jobRetry, notifyQueues, notifyCommitted,
	vacuumCheck, vacuumLock, vacuumUnlock, vacuum, unworkedKinds, uniqueHolders, periodicTick,
	claimLock, queueLimits, claimLimited, limitedQueues string
	statsEstimate map[State]string
	// insertPlain and insertOnePlain are insert and insertOne without
	// their ON CONFLICT clause, for jobs without unique keys: a
	// speculative insertion costs about 13% of a one-job transaction.
	insertPlain, insertOnePlain string
}

func renderQueries(schema string) (queries, error) {
	r := strings.NewReplacer(
		"{{jobs}}", pgx.Identifier{schema, "pgqueue_jobs"}.Sanitize(),
		"{{dead}}", pgx.Identifier{schema, "pgqueue_dead_jobs"}.Sanitize(),
		"{{queues}}", pgx.Identifier{schema, "pgqueue_queues"}.Sanitize(),
		"{{periodic}}", pgx.Identifier{schema, "pgqueue_periodic"}.Sanitize(),
	)
	q := queries{statsEstimate: map[State]string{}}
	var est [3]string
	files := map[string]*string{
		"insert": &q.insert, "insert_one": &q.insertOne, "claim": &q.claim, "claim_plan": &q.claimPlan, "complete": &q.complete,
		"complete_one": &q.completeOne, "reschedule": &q.reschedule,
		"dead_letter": &q.deadLetter, "heartbeat": &q.heartbeat,
		"promote": &q.promote, "next_due": &q.nextDue, "rescue_lock": &q.rescueLock,
		"rescue_requeue": &q.rescueRequeue, "rescue_dead": &q.rescueDead,
		"dead_list": &q.deadList, "dead_requeue": &q.deadRequeue, "dead_purge": &q.deadPurge, "dead_count": &q.deadCount,
		"queue_pause": &q.queuePause, "queue_resume": &q.queueResume, "queue_list": &q.queueList,
		"stats_queue": &q.statsQueue, "stats_running": &q.statsRunning,
		"stats_dead": &q.statsDead, "stats_dead_estimate": &q.statsDeadEstimate,
		"stats_estimate_available": &est[0], "stats_estimate_scheduled": &est[1], "stats_estimate_running": &est[2],
		"job_get": &q.jobGet, "job_cancel": &q.jobCancel, "job_retry": &q.jobRetry,
		"notify_queues": &q.notifyQueues, "notify_committed": &q.notifyCommitted,
		"unworked_kinds": &q.unworkedKinds, "unique_holders": &q.uniqueHolders,
		"periodic_tick": &q.periodicTick, "claim_lock": &q.claimLock, "queue_limits": &q.queueLimits,
		"claim_limited": &q.claimLimited, "limited_queues": &q.limitedQueues,
		"vacuum_check": &q.vacuumCheck, "vacuum_lock": &q.vacuumLock, "vacuum_unlock": &q.vacuumUnlock, "vacuum": &q.vacuum,
	}
	// Fragments shared by several statements, from our own embedded files
	// (never from configuration), go in before the table names.
	var pairs []string
	for _, name := range []string{"claim_update", "dead_filter"} {
		b, err := sqlFiles.ReadFile("sql/" + name + ".sql")
		if err != nil {
			return q, fmt.Errorf("pgqueue: missing embedded fragment %s: %w", name, err)
		}
		pairs = append(pairs, "{{"+name+"}}", string(b))
	}
	fragments := strings.NewReplacer(pairs...)
	for name, dst := range files {
		b, err := sqlFiles.ReadFile("sql/" + name + ".sql")
		if err != nil {
			return q, fmt.Errorf("pgqueue: missing embedded query %s: %w", name, err)
		}
		*dst = r.Replace(fragments.Replace(string(b)))
	}
	q.statsEstimate[StateAvailable], q.statsEstimate[StateScheduled], q.statsEstimate[StateRunning] = est[0], est[1], est[2]
	for _, v := range []struct{ from, to *string }{{&q.insert, &q.insertPlain}, {&q.insertOne, &q.insertOnePlain}} {
		if !strings.Contains(*v.from, onConflictClause) {
			return q, fmt.Errorf("pgqueue: embedded insert query lacks %q", onConflictClause)
		}
		*v.to = strings.Replace(*v.from, onConflictClause, "", 1)
	}
	return q, nil
}

// onConflictClause is the line of insert.sql and insert_one.sql that
// skips a job whose unique key is taken.
const onConflictClause = "    ON CONFLICT (unique_key) WHERE unique_key IS NOT NULL DO NOTHING\n"
