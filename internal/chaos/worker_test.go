package chaos

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgqueue/pgqueue"
)

// The worker process: the test binary re-executed with workerTest as its
// only test and these variables set.
const (
	workerTest      = "TestChaosWorkerProcess"
	envWorkerID     = "PGQUEUE_CHAOS_WORKER_ID"
	envWorkerURL    = "PGQUEUE_CHAOS_WORKER_URL"
	envWorkerListen = "PGQUEUE_CHAOS_WORKER_LISTEN_URL"
	envWorkerSlots  = "PGQUEUE_CHAOS_WORKER_SLOTS" // MaxWorkers, when not slotsPerWorker
)

// Client settings of every worker process. The recovery settings
// (LeaseDuration, HeartbeatInterval, RescueInterval, LivenessGrace,
// PollInterval) are the defaults: the suite measures what users get. The
// listener's ping is shortened only so that a blackholed listener is
// replaced within the run.
const (
	schema         = "chaos"
	slotsPerWorker = 4 // Queues["default"].MaxWorkers: jobs one process holds at most
	// defaultRescueInterval is Config.RescueInterval's default.
	defaultRescueInterval = time.Second
	listenerPing          = time.Second
)

// intendedFailure marks the one failure a FailOnce job returns on purpose.
const intendedFailure = "chaos: intended failure"

// chaosJob is the job the suite enqueues. Seq is unique per enqueue attempt
// and is what the checks key on: job IDs come from a sequence, and after
// a crash PostgreSQL may hand out again an ID that a rolled-back
// transaction had drawn (sequence advances are only flushed by a commit).
type chaosJob struct {
	Seq       int64 `json:"seq"`
	SleepMS   int   `json:"sleep_ms,omitempty"`
	FailOnce  bool  `json:"fail_once,omitempty"`
	Permanent bool  `json:"permanent,omitempty"`
}

func (chaosJob) Kind() string { return "chaos.job" }

// TestChaosWorkerProcess is a worker process of TestCrashSuite, which starts
// and SIGKILLs it; on its own it does nothing.
func TestChaosWorkerProcess(t *testing.T) {
	id := os.Getenv(envWorkerID)
	if id == "" {
		t.Skip("helper process for TestCrashSuite")
	}
	slots := slotsPerWorker
	if v := os.Getenv(envWorkerSlots); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			fmt.Fprintf(os.Stderr, "chaos worker %s: %s=%q: want a positive number\n", id, envWorkerSlots, v)
			os.Exit(3)
		}
		slots = n
	}
	if err := runWorker(id, os.Getenv(envWorkerURL), os.Getenv(envWorkerListen), slots); err != nil {
		fmt.Fprintf(os.Stderr, "chaos worker %s: %v\n", id, err)
		os.Exit(3)
	}
}

type worker struct {
	id     string
	pid    int
	pool   *pgxpool.Pool
	client *pgqueue.Client
}

// runWorker runs a pgqueue client until the process is killed.
func runWorker(id, url, listenURL string, slots int) error {
	// Die with the test binary, whatever kills it.
	ppid := os.Getppid()
	go func() {
		for range time.Tick(500 * time.Millisecond) {
			if os.Getppid() != ppid {
				os.Exit(4)
			}
		}
	}()
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return err
	}
	cfg.MaxConns = int32(slots) + 4
	cfg.HealthCheckPeriod = time.Second
	cfg.ConnConfig.ConnectTimeout = 2 * time.Second
	cfg.ConnConfig.RuntimeParams["application_name"] = "chaos-worker:" + id
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		return err
	}
	opts := &pgqueue.PostgresOptions{Schema: schema, ListenerPingInterval: listenerPing}
	if listenURL != "" {
		lc, err := pgx.ParseConfig(listenURL)
		if err != nil {
			return err
		}
		lc.ConnectTimeout = 2 * time.Second
		opts.ListenerConnConfig = lc
	}
	backend, err := pgqueue.NewPostgres(pool, opts)
	if err != nil {
		return err
	}
	client, err := pgqueue.New(backend, pgqueue.Config{
		ID:     id,
		Queues: map[string]pgqueue.QueueConfig{pgqueue.DefaultQueue: {MaxWorkers: slots}},
		Retry:  pgqueue.RetryPolicy{Base: 100 * time.Millisecond, Max: time.Second},
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})),
	})
	if err != nil {
		return err
	}
	w := &worker{id: id, pid: os.Getpid(), pool: pool, client: client}
	if err := pgqueue.Register(client, pgqueue.WorkFunc[chaosJob](w.work)); err != nil {
		return err
	}
	// A replacement may start while Postgres is restarting: retry, as a
	// supervisor would.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		err := client.Start(context.Background())
		if err == nil {
			break
		}
		if !errors.Is(err, pgqueue.ErrDatabase) || time.Now().After(deadline) {
			return err
		}
	}
	fmt.Fprintf(os.Stderr, "chaos worker %s: started, pid %d\n", id, w.pid)
	select {}
}

// work records the run, sleeps for some jobs (so kills land mid-job),
// fails some on purpose, and otherwise writes the job's ledger row and
// its completion (CompleteTx) in one transaction: the ledger holds exactly
// the committed completions.
func (w *worker) work(ctx context.Context, job *pgqueue.Job[chaosJob]) error {
	token := leaseToken(job)
	// Idempotent, so a retried insert whose first commit was in doubt does
	// not count the run twice.
	err := w.retry(ctx, func(ctx context.Context) error {
		_, err := w.pool.Exec(ctx, `INSERT INTO chaos.runs (job_id, seq, attempt, token, pid, worker, why)
			VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`, job.ID, job.Args.Seq, job.Attempt, token, w.pid, w.id, lastErrorKind(job))
		return err
	})
	if err != nil {
		return err
	}
	if job.Args.SleepMS > 0 {
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-time.After(time.Duration(job.Args.SleepMS) * time.Millisecond):
		}
	}
	if job.Args.Permanent {
		return pgqueue.Permanent(errors.New("chaos: permanent failure (intended: this job belongs in the DLQ)"))
	}
	if job.Args.FailOnce && !failedBefore(job.Errors) {
		err := w.retry(ctx, func(ctx context.Context) error {
			_, err := w.pool.Exec(ctx, `INSERT INTO chaos.fails (job_id, seq, attempt, token, pid)
				VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`, job.ID, job.Args.Seq, job.Attempt, token, w.pid)
			return err
		})
		if err != nil {
			return err
		}
		return errors.New(intendedFailure)
	}
	// The ledger row and the completion commit together. A transaction
	// cut by a lost connection is tried again, as a careful handler
	// would: if its commit had happened after all, the retry finds the
	// job completed (ErrLeaseLost) and stops, writing nothing.
	var lastErr error
	for backoff := 20 * time.Millisecond; ; backoff = min(2*backoff, time.Second) {
		err := w.complete(ctx, job, token)
		if err == nil || errors.Is(err, pgqueue.ErrLeaseLost) || ctx.Err() != nil {
			if err != nil && lastErr != nil {
				err = fmt.Errorf("%w (after: %v)", err, lastErr)
			}
			return err
		}
		lastErr = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last error: %v)", context.Cause(ctx), err)
		case <-time.After(backoff):
		}
	}
}

// complete writes the job's ledger row and its completion (CompleteTx) in
// one transaction.
func (w *worker) complete(ctx context.Context, job *pgqueue.Job[chaosJob], token int64) error {
	tx, err := w.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(context.Background()) }()
	if _, err := tx.Exec(ctx, `INSERT INTO chaos.ledger (job_id, seq, attempt, token, pid, worker)
		VALUES ($1, $2, $3, $4, $5, $6)`, job.ID, job.Args.Seq, job.Attempt, token, w.pid, w.id); err != nil {
		return err
	}
	if err := w.client.CompleteTx(ctx, tx, job); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// retry runs op until it succeeds or the job's context ends (lease lost):
// the database may be restarting.
func (w *worker) retry(ctx context.Context, op func(ctx context.Context) error) error {
	backoff := 50 * time.Millisecond
	for {
		opCtx, cancel := context.WithTimeout(ctx, 3*time.Second)
		err := op(opCtx)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last error: %v)", context.Cause(ctx), err)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
}

func failedBefore(errs []pgqueue.AttemptError) bool {
	for _, e := range errs {
		if strings.Contains(e.Error, intendedFailure) {
			return true
		}
	}
	return false
}

// lastErrorKind is the kind of the job's last recorded error ("" on a
// first run): what made the store run it again.
func lastErrorKind(job *pgqueue.Job[chaosJob]) string {
	if len(job.Errors) == 0 {
		return ""
	}
	return job.Errors[len(job.Errors)-1].Kind
}

// leaseToken reads the fencing token of the job's claim, which pgqueue does
// not export, by reflection (test-only; reading unexported fields is
// allowed). It returns -1 if the internals changed shape, and the fencing
// checks then skip.
func leaseToken(job *pgqueue.Job[chaosJob]) int64 {
	st := reflect.ValueOf(job).Elem().FieldByName("state")
	if !st.IsValid() || st.Kind() != reflect.Pointer || st.IsNil() {
		return -1
	}
	ref := st.Elem().FieldByName("ref")
	if !ref.IsValid() || ref.Kind() != reflect.Struct {
		return -1
	}
	tok := ref.FieldByName("Token")
	if !tok.IsValid() || tok.Kind() != reflect.Int64 {
		return -1
	}
	return tok.Int()
}

// fleet runs the worker processes, one per slot; a killed worker is
// replaced by a new process (a new client ID) in the same slot.
type fleet struct {
	logDir string
	// poolURL and listenURL per slot: some slots reach Postgres through a
	// fault-injecting proxy.
	poolURL   []string
	listenURL []string
	// slots is each worker's MaxWorkers: slotsPerWorker unless a test
	// sets it before the first start.
	slots int

	mu         sync.Mutex
	procs      []*proc
	gen        int
	unexpected []string // exits we did not cause
	logs       []string
}

type proc struct {
	id      string
	cmd     *exec.Cmd
	started time.Time
	killed  bool
	done    chan struct{}
}

func newFleet(t *testing.T, poolURL, listenURL []string) *fleet {
	f := &fleet{logDir: t.TempDir(), poolURL: poolURL, listenURL: listenURL, procs: make([]*proc, len(poolURL)), slots: slotsPerWorker}
	t.Cleanup(f.killAll)
	return f
}

// start starts a worker process in slot (which must be empty).
func (f *fleet) start(slot int) error {
	f.mu.Lock()
	f.gen++
	id := fmt.Sprintf("chaos-w%d-g%d", slot, f.gen)
	f.mu.Unlock()
	logPath := filepath.Join(f.logDir, id+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logFile.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^"+workerTest+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), envWorkerID+"="+id, envWorkerURL+"="+f.poolURL[slot], envWorkerListen+"="+f.listenURL[slot],
		envWorkerSlots+"="+strconv.Itoa(f.slots))
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	p := &proc{id: id, cmd: cmd, started: time.Now(), done: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		f.mu.Lock()
		if !p.killed {
			f.unexpected = append(f.unexpected, fmt.Sprintf("%s exited by itself (%v); log tail:\n%s", id, err, tailFile(logPath, 20)))
		}
		f.mu.Unlock()
		close(p.done)
	}()
	f.mu.Lock()
	f.procs[slot] = p
	f.logs = append(f.logs, logPath)
	f.mu.Unlock()
	return nil
}

// kill SIGKILLs the worker in slot, waits for it to die, and returns its
// client ID ("" if the slot was empty).
// kill SIGKILLs the worker of slot and returns its ID and how long it
// had been running ("" when the slot was empty).
func (f *fleet) kill(slot int) (string, time.Duration) {
	f.mu.Lock()
	p := f.procs[slot]
	f.procs[slot] = nil
	if p != nil {
		p.killed = true
	}
	f.mu.Unlock()
	if p == nil {
		return "", 0
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
	return p.id, time.Since(p.started)
}

func (f *fleet) killAll() {
	for slot := range f.procs {
		f.kill(slot)
	}
}

// fill starts a worker in every empty slot.
func (f *fleet) fill() error {
	for slot := range f.procs {
		f.mu.Lock()
		empty := f.procs[slot] == nil
		f.mu.Unlock()
		if empty {
			if err := f.start(slot); err != nil {
				return err
			}
		}
	}
	return nil
}

// live returns how many slots hold a running worker.
func (f *fleet) live() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, p := range f.procs {
		if p != nil {
			n++
		}
	}
	return n
}

func (f *fleet) unexpectedExits() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.unexpected...)
}

// raceReports returns the worker logs that hold a data race report: a
// worker is SIGKILLed, never exits on its own, so the race detector's exit
// code would never tell.
func (f *fleet) raceReports() []string {
	f.mu.Lock()
	logs := append([]string(nil), f.logs...)
	f.mu.Unlock()
	var out []string
	for _, l := range logs {
		b, _ := os.ReadFile(l)
		if strings.Contains(string(b), "WARNING: DATA RACE") {
			out = append(out, l+":\n"+tailFile(l, 60))
		}
	}
	return out
}

// logTails returns the tails of the newest worker logs, for a failure
// report.
func (f *fleet) logTails(n, lines int) string {
	f.mu.Lock()
	logs := append([]string(nil), f.logs...)
	f.mu.Unlock()
	if len(logs) > n {
		logs = logs[len(logs)-n:]
	}
	var b strings.Builder
	for _, l := range logs {
		fmt.Fprintf(&b, "--- %s\n%s\n", filepath.Base(l), tailFile(l, lines))
	}
	return b.String()
}
