package chaos

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// rerunStats is how long the jobs of SIGKILLed workers took to run again.
type rerunStats struct {
	jobs, kills   int
	p50, p99, max time.Duration
	// undeclared counts the kills of workers that had not declared their
	// liveness (killRec.undeclared), whose jobs are held to
	// undeclaredRerunMax instead, and undeclaredMax is their slowest rerun.
	undeclared    int
	undeclaredMax time.Duration
}

// measureReruns reports, for each measured kill, the time from the kill
// (or from the end of a Postgres outage that began before the rerun)
// until each job the victim held started again (its first run recorded
// after the kill), and fails the test when the p99 exceeds rerunP99, the
// slowest exceeds rerunMax, or a job never ran again. The kill of a worker
// that had not declared its liveness (killRec.undeclared) is left out of
// those figures and held to undeclaredRerunMax: its jobs wait for their
// lease.
func measureReruns(t *testing.T, ctx context.Context, db *pgxpool.Pool, faults *faultLog, rescued map[string]goneRescue) rerunStats {
	t.Helper()
	faults.mu.Lock()
	recs := slices.Clone(faults.killRecs)
	outages := slices.Clone(faults.outages)
	faults.mu.Unlock()
	// from is when the clock starts for a job killed at kill and run
	// again at rerun: the kill, or the end of a Postgres outage that began
	// in between (recovery is promised within the bound after the server
	// is back).
	from := func(kill, rerun time.Time) time.Time {
		for _, o := range outages {
			if o[0].Before(rerun) && o[1].After(kill) {
				kill = maxTime(kill, o[1])
			}
		}
		return kill
	}
	var all []time.Duration
	st := rerunStats{}
	for _, k := range recs {
		if k.measured {
			st.kills++
		}
		if len(k.jobs) == 0 {
			continue
		}
		var slowest time.Duration
		whys := map[string]int{}
		for _, id := range k.jobs {
			var at *time.Time
			var why *string
			var dead, completedByKilled bool
			// The held jobs are read 200 ms after the kill: a completion
			// the killed process had sent before it died can still reach
			// the server after that (its connection's data in flight
			// through the fault proxy). Such a job was completed once, by
			// its own run, and has nothing to run again.
			err := db.QueryRow(ctx, `SELECT (SELECT min(at) FROM chaos.runs WHERE job_id = $1 AND at > $2),
				(SELECT why FROM chaos.runs WHERE job_id = $1 AND at > $2 ORDER BY at LIMIT 1),
				EXISTS (SELECT 1 FROM chaos.pgqueue_dead_jobs WHERE id = $1),
				EXISTS (SELECT 1 FROM chaos.ledger WHERE job_id = $1 AND worker = $3)`, id, k.at, k.id).Scan(&at, &why, &dead, &completedByKilled)
			if err != nil {
				t.Errorf("rerun of job %d of %s: %v", id, k.id, err)
				continue
			}
			if at == nil {
				switch {
				case completedByKilled:
					faults.event("job %d, held by %s at its SIGKILL, was completed by that process's own run (its commit reached the server after the count)", id, k.id)
				case !dead:
					t.Errorf("job %d, held by %s when it was SIGKILLed at %s, never ran again", id, k.id, k.at.Format("15:04:05.000"))
				}
				continue
			}
			if why != nil {
				whys[*why]++
			}
			d := at.Sub(from(k.at, *at))
			slowest = max(slowest, d)
			if k.undeclared {
				st.undeclaredMax = max(st.undeclaredMax, d)
				continue
			}
			all = append(all, d)
		}
		if k.undeclared {
			st.undeclared++
			if slowest > undeclaredRerunMax {
				t.Errorf("the jobs of %s, SIGKILLed before it declared its liveness, took %v to run again, over the lease bound %v", k.id, slowest, undeclaredRerunMax)
			}
		}
		how := "no rescue by liveness in the worker logs"
		if r, ok := rescued[k.id]; ok {
			how = fmt.Sprintf("rescued by liveness %v after the kill, by %s", r.at.Sub(k.at).Round(time.Millisecond), r.by)
		}
		// What the reruns' recorded errors say brought them back
		// (client_gone, lease_expired, ...), so that a slow rerun tells
		// which path freed it.
		how += fmt.Sprintf("; reruns' last errors %v", whys)
		faults.event("rerun after SIGKILL %s at %s: %d jobs, slowest %v (undeclared=%v; %s)", k.id, k.at.Format("15:04:05.000"), len(k.jobs), slowest.Round(time.Millisecond), k.undeclared, how)
		if testing.Verbose() {
			t.Logf("chaos: SIGKILL %s: its %d jobs ran again within %v (%s)", k.id, len(k.jobs), slowest.Round(time.Millisecond), how)
		}
	}
	if len(all) == 0 {
		return st
	}
	slices.Sort(all)
	pct := func(p float64) time.Duration { return all[min(len(all)-1, int(p*float64(len(all))))] }
	st.jobs, st.p50, st.p99, st.max = len(all), pct(0.5), pct(0.99), all[len(all)-1]
	if st.p99 > rerunP99 {
		t.Errorf("p99 time until a SIGKILLed worker's job ran again is %v, over %v (jobs %d, max %v)", st.p99, rerunP99, st.jobs, st.max)
	}
	if st.max > rerunMax {
		t.Errorf("a SIGKILLed worker's job took %v to run again, over %v", st.max, rerunMax)
	}
	return st
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// goneRescueLine matches the log line of a rescue by liveness
// (liveness.go's absenceWatch).
var goneRescueLine = regexp.MustCompile(`^time=(\S+) .*msg="pgqueue: rescued the jobs of gone clients" clients="?\[([^\]]*)\]`)

// goneRescue is the first rescue by liveness that named a client: when,
// and by which worker.
type goneRescue struct {
	at time.Time
	by string
}

// checkGoneRescues reads every worker's log for the rescues made because
// a client's liveness was gone, and fails the test for each one that
// named a client that had not been SIGKILLed by then: a live client's
// job was taken from it (its liveness connection was terminated, or cut
// by Postgres restarting). It returns how many such rescues it found,
// and the first rescue that named each client (so that a slow rerun
// says whether the rescue or the pickup was late).
func checkGoneRescues(t *testing.T, logs []string, faults *faultLog) (int, map[string]goneRescue) {
	t.Helper()
	faults.mu.Lock()
	killedAt := map[string]time.Time{}
	for _, k := range faults.killRecs {
		killedAt[k.id] = k.at
	}
	faults.mu.Unlock()
	bad, rescues := 0, 0
	first := map[string]goneRescue{}
	for _, path := range logs {
		f, err := os.Open(path)
		if err != nil {
			t.Errorf("worker log: %v", err)
			continue
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			m := goneRescueLine.FindStringSubmatch(sc.Text())
			if m == nil {
				continue
			}
			rescues++
			at, err := time.Parse(time.RFC3339Nano, m[1])
			if err != nil {
				t.Errorf("worker log %s: bad time in %q", path, sc.Text())
				continue
			}
			for _, id := range strings.Fields(m[2]) {
				if r, seen := first[id]; !seen || at.Before(r.at) {
					first[id] = goneRescue{at: at, by: strings.TrimSuffix(filepath.Base(path), ".log")}
				}
				k, ok := killedAt[id]
				if ok && !k.After(at) {
					continue
				}
				bad++
				t.Errorf("LIVE CLIENT RESCUED: %s rescued the jobs of %s at %s, which was not SIGKILLed by then (%s)", path, id, at.Format("15:04:05.000"), describeKill(k, ok))
			}
		}
		f.Close()
	}
	faults.event("rescues by liveness in the worker logs: %d", rescues)
	return bad, first
}

func describeKill(at time.Time, ok bool) string {
	if !ok {
		return "never killed"
	}
	return fmt.Sprintf("killed at %s", at.Format("15:04:05.000"))
}

// logPaths returns every worker log written so far.
func (f *fleet) logPaths() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.logs)
}
