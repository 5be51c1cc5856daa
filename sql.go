package pgqueue

// The Postgres backend's statements: one file each in sql/, embedded, and
// rendered once per schema into a queries value.

import (
	"embed"
	"fmt"
	"reflect"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5"
)

//go:embed sql/*.sql
var sqlFiles embed.FS

// queries holds every statement the Postgres backend runs, rendered for
// one schema. This struct is the one table from file to statement: each
// field's `sql` tag names its file in sql/, and renderQueries fills the
// field from it.
//
// A statement file may contain markers, each replaced when it is
// rendered, never by editing its text otherwise:
//   - {{jobs}}, {{dead}}, {{queues}}, {{periodic}}, {{clients}},
//     {{history}}, {{stats}}, {{workflows}}, {{wf_tasks}}, {{wf_edges}},
//     {{sequences}}: the schema's tables, and {{history_prepare_fn}},
//     {{history_prune_fn}}: its history functions,
//     quoted with pgx's identifier sanitizer (the schema comes from
//     configuration), and {{channel}}, the schema's LISTEN/NOTIFY channel,
//     and {{probe_channel}}, its listeners' probe channel, quoted the same way;
//   - {{name}} for any other name: the fragment file sql/name.sql, our own
//     text shared by several statements, unless the field's `with` tag
//     says otherwise: `with:"name=file"` takes sql/file.sql instead, and
//     `with:"name="` leaves the marker empty.
type queries struct {
	// Enqueue.
	Insert          string `sql:"insert" with:"on_conflict="`
	InsertUnique    string `sql:"insert" with:"on_conflict=on_conflict_unique"`
	InsertOne       string `sql:"insert_one" with:"on_conflict="`
	InsertOneUnique string `sql:"insert_one" with:"on_conflict=on_conflict_unique"`
	UniqueHolders   string `sql:"unique_holders"`
	NotifyQueues    string `sql:"notify_queues"`
	NotifyCommitted string `sql:"notify_committed"`
	CompleteOne     string `sql:"complete_one"`
	// Output, progress and history (postgres_history.go).
	CompleteRecorded    string `sql:"complete_recorded" with:"release=workflow_no_release"`
	CompleteOneRecorded string `sql:"complete_one_recorded" with:"release=workflow_no_release"`
	HeartbeatProgress   string `sql:"heartbeat_progress"`
	HistoryPrepare      string `sql:"history_prepare"`
	HistoryPrune        string `sql:"history_prune"`
	// Workflows (postgres_workflow.go).
	CompleteWorkflow    string `sql:"complete_recorded" with:"release=workflow_release"`
	CompleteOneWorkflow string `sql:"complete_one_recorded" with:"release=workflow_release"`
	WorkflowCreate      string `sql:"workflow_create"`
	WorkflowInsertTasks string `sql:"workflow_insert_tasks"`
	WorkflowInsertEdges string `sql:"workflow_insert_edges"`
	WorkflowLock        string `sql:"workflow_lock"`
	WorkflowSweep       string `sql:"workflow_sweep"`
	WorkflowList        string `sql:"workflow_list"`
	WorkflowTasks       string `sql:"workflow_tasks"`
	WorkflowOutputs     string `sql:"workflow_outputs"`
	WorkflowRetry       string `sql:"workflow_retry"`
	WorkflowJobIDs      string `sql:"workflow_job_ids"`
	WorkflowPrune       string `sql:"workflow_prune"`
	SequenceLock        string `sql:"sequence_lock"`
	SequencePrev        string `sql:"sequence_prev"`
	WorkflowLockTasks   string `sql:"workflow_lock_tasks"`
	WorkflowLockFailed  string `sql:"workflow_lock_failed"`
	WorkflowFailedAny   string `sql:"workflow_failed_any"`
	SequenceWorkflow    string `sql:"sequence_workflow"`
	SequenceAdvance     string `sql:"sequence_advance"`
	PeriodicTick        string `sql:"periodic_tick"`
	PeriodicTick8       string `sql:"periodic_tick_before_9"`
	ClaimPlan           string `sql:"claim_plan"`
	Claim               string `sql:"claim"`
	ClaimLimited        string `sql:"claim_limited"`
	ClaimLock           string `sql:"claim_lock"`
	QueueLimits         string `sql:"queue_limits"`
	LimitedQueues       string `sql:"limited_queues"`
	Complete            string `sql:"complete"`
	Reschedule          string `sql:"reschedule"`
	Release             string `sql:"release"`
	DeadLetter          string `sql:"dead_letter"`
	DeadQuarantine      string `sql:"dead_quarantine"`
	Heartbeat           string `sql:"heartbeat"`
	Promote             string `sql:"promote"`
	NextDue             string `sql:"next_due"`
	RescueLock          string `sql:"rescue_lock"`
	RescueRequeue       string `sql:"rescue_requeue"`
	RescueDead          string `sql:"rescue_dead"`
	RescueCandidates    string `sql:"rescue_candidates"`
	RescueRequeueOne    string `sql:"rescue_requeue_one"`
	LivenessLock        string `sql:"liveness_lock"`
	LivenessHolders     string `sql:"liveness_holders"`
	LivenessRequeue     string `sql:"liveness_requeue"`
	LivenessDead        string `sql:"liveness_dead"`
	VacuumCheck         string `sql:"vacuum_check"`
	VacuumLock          string `sql:"vacuum_lock"`
	VacuumUnlock        string `sql:"vacuum_unlock"`
	Vacuum              string `sql:"vacuum"`
	UnworkedKinds       string `sql:"unworked_kinds"`
	SchemaCheck         string `sql:"schema_check"`
	XactStatus          string `sql:"xact_status"`
	Listen              string `sql:"listen"`
	ListenProbe         string `sql:"listen_probe"`
	ListenProbeOn       string `sql:"listen_probe_on"`
	ListenProbeOff      string `sql:"listen_probe_off"`

	// Dead letters and operator actions.
	DeadList    string `sql:"dead_list"`
	DeadRequeue string `sql:"dead_requeue"`
	DeadPurge   string `sql:"dead_purge"`
	DeadCount   string `sql:"dead_count"`
	JobGet      string `sql:"job_get"`
	JobCancel   string `sql:"job_cancel"`
	JobRetry    string `sql:"job_retry"`
	QueuePause  string `sql:"queue_pause"`
	QueueResume string `sql:"queue_resume"`
	QueueList   string `sql:"queue_list"`
	QueueExists string `sql:"queue_exists"`

	// Listing, counting and bulk actions (visibility.go).
	JobsListNewest string `sql:"jobs_list_newest"`
	JobsListOldest string `sql:"jobs_list_oldest"`
	JobsCount      string `sql:"jobs_count"`
	JobsBound      string `sql:"jobs_bound"`
	JobsRetry      string `sql:"jobs_retry"`
	JobsDelete     string `sql:"jobs_delete"`
	JobsCancel     string `sql:"jobs_cancel"`

	// Stats.
	StatsQueue             string `sql:"stats_queue"`
	StatsRunning           string `sql:"stats_running"`
	StatsDead              string `sql:"stats_dead"`
	StatsDeadEstimate      string `sql:"stats_dead_estimate"`
	StatsEstimateAvailable string `sql:"stats_estimate_available"`
	StatsEstimateScheduled string `sql:"stats_estimate_scheduled"`
	StatsEstimateRunning   string `sql:"stats_estimate_running"`

	// The client registry and periodic jobs (postgres_clients.go).
	ClientsRegister   string `sql:"clients_register"`
	ClientsSeen       string `sql:"clients_seen"`
	ClientsUnregister string `sql:"clients_unregister"`
	ClientsList       string `sql:"clients_list"`
	JobsFinished      string `sql:"jobs_finished"`
	PeriodicList      string `sql:"periodic_list"`
	PeriodicList8     string `sql:"periodic_list_before_9"`

	// Per-minute stats (postgres_stats.go).
	StatsRecord  string `sql:"stats_record"`
	StatsHistory string `sql:"stats_history"`
	StatsPrune   string `sql:"stats_prune"`
}

// statsEstimate returns the statement that estimates how many jobs of a
// queue are in state.
func (q *queries) statsEstimate(state State) string {
	switch state {
	case StateAvailable:
		return q.StatsEstimateAvailable
	case StateScheduled:
		return q.StatsEstimateScheduled
	default:
		return q.StatsEstimateRunning
	}
}

// tableMarkers are the markers that name the schema's tables.
var tableMarkers = map[string]string{
	"jobs": "pgqueue_jobs", "dead": "pgqueue_dead_jobs", "queues": "pgqueue_queues", "periodic": "pgqueue_periodic",
	"clients": "pgqueue_clients", "history": "pgqueue_job_history", "stats": "pgqueue_stats",
	"workflows": "pgqueue_workflows", "wf_tasks": "pgqueue_workflow_tasks", "wf_edges": "pgqueue_workflow_edges",
	"sequences":          "pgqueue_sequences",
	"history_prepare_fn": "pgqueue_history_prepare", "history_prune_fn": "pgqueue_history_prune",
}

var markerPattern = regexp.MustCompile(`\{\{([a-z_]+)\}\}`)

// renderQueries renders every statement of the queries table for schema.
// It fails on a missing file or a marker it cannot resolve, which only a
// broken build can cause (a test renders them all).
func renderQueries(schema string) (queries, error) {
	var q queries
	v := reflect.ValueOf(&q).Elem()
	for i := range v.NumField() {
		f := v.Type().Field(i)
		with := map[string]string{}
		if w := f.Tag.Get("with"); w != "" {
			marker, file, _ := strings.Cut(w, "=")
			with[marker] = file
		}
		text, err := renderStatement(f.Tag.Get("sql"), schema, with, 0)
		if err != nil {
			return q, fmt.Errorf("pgqueue: statement %s: %w", f.Name, err)
		}
		v.Field(i).SetString(text)
	}
	return q, nil
}

// renderStatement reads sql/name.sql and resolves its markers: tables,
// fragments (which may hold markers of their own, to a small depth), and
// the overrides in with.
func renderStatement(name, schema string, with map[string]string, depth int) (string, error) {
	if depth > 3 {
		return "", fmt.Errorf("fragments nest too deep at %s", name)
	}
	b, err := sqlFiles.ReadFile("sql/" + name + ".sql")
	if err != nil {
		return "", fmt.Errorf("missing embedded file: %w", err)
	}
	var failed error
	out := markerPattern.ReplaceAllStringFunc(withoutHeader(string(b)), func(m string) string {
		marker := m[2 : len(m)-2]
		if table, ok := tableMarkers[marker]; ok {
			return pgx.Identifier{schema, table}.Sanitize()
		}
		if marker == "channel" {
			return pgx.Identifier{notifyChannel(schema)}.Sanitize()
		}
		if marker == "probe_channel" {
			return pgx.Identifier{probeChannel(schema)}.Sanitize()
		}
		file, ok := with[marker]
		if !ok {
			file = marker
		}
		if file == "" {
			return ""
		}
		text, err := renderStatement(file, schema, with, depth+1)
		if err != nil && failed == nil {
			failed = fmt.Errorf("marker %s in %s: %w", m, name, err)
		}
		return strings.TrimSuffix(text, "\n")
	})
	return out, failed
}

// withoutHeader drops a file's leading comment lines: they explain the
// statement to its reader, and need not travel to Postgres with it (nor
// hide the statement in pg_stat_activity).
func withoutHeader(text string) string {
	for strings.HasPrefix(text, "--") {
		_, rest, ok := strings.Cut(text, "\n")
		if !ok {
			return ""
		}
		text = rest
	}
	return text
}
