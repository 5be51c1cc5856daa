package redisqueue

import (
	"context"
	"embed"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

//go:embed lua/*.lua
var luaFiles embed.FS

// The scripts, each prefixed with lua/core.lua and lua/lib.lua, but for
// enqueue_lean.lua, the hot path of a one-job Enqueue, which gets core.lua
// alone: a script's top level runs on every call, so every helper it
// defines is paid for by every call. go-redis runs a Script by EVALSHA and
// falls back to EVAL (which also caches it on the server) when the server
// answers NOSCRIPT, after a restart or SCRIPT FLUSH.
var (
	enqueueScript     = loadScript("enqueue")
	enqueueLeanScript = loadScriptWith("enqueue_lean", "core")
	allocScript       = loadScript("alloc")
	insertScript      = loadScript("insert")
	claimScript       = loadScript("claim")
	completeScript    = loadScript("complete")
	completeRecScript = loadScript("complete_recorded")
	historyPrune      = loadScript("history_prune")
	heartbeatScript   = loadScript("heartbeat")
	rescheduleScript  = loadScript("reschedule")
	deadLetterScript  = loadScript("dead_letter")
	promoteScript     = loadScript("promote")
	rescueScript      = loadScript("rescue")
	requeueDeadScript = loadScript("requeue_dead")
	listDeadScript    = loadScript("list_dead")
	purgeDeadScript   = loadScript("purge_dead")
	lockScript        = loadScript("lock")
	unlockScript      = loadScript("unlock")
	cancelScript      = loadScript("cancel")
	periodicScript    = loadScript("periodic")
	setLimitsScript   = loadScript("set_limits")
	resumeScript      = loadScript("resume")
	retryJobsScript   = loadScript("retry_jobs")
	deleteJobsScript  = loadScript("delete_jobs")
)

// script is one Lua script.
type script struct {
	*redis.Script
}

// loadScript loads lua/<name>.lua behind the shared helpers.
func loadScript(name string) *script { return loadScriptWith(name, "core", "lib") }

// loadScriptWith loads lua/<name>.lua behind the helper files libs, in
// that order.
func loadScriptWith(name string, libs ...string) *script {
	var src strings.Builder
	for _, f := range append(libs, name) {
		body, err := luaFiles.ReadFile("lua/" + f + ".lua")
		if err != nil {
			panic(err)
		}
		src.Write(body)
		src.WriteString("\n")
	}
	return &script{Script: redis.NewScript(src.String())}
}

// call is one script invocation.
type call struct {
	s    *script
	keys []string
	args []any
}

// runAll runs calls, each atomic on its own, in one round trip (a
// pipeline), and returns each call's command in order together with the
// first error. Calls the server did not know the script of are run again
// one by one with the EVAL fallback; they had not run (NOSCRIPT is returned
// before a script starts). So are calls a cluster refused because their
// slot is moving (see run).
func (b *Backend) runAll(ctx context.Context, calls []call) ([]*redis.Cmd, error) {
	cmds := make([]*redis.Cmd, len(calls))
	if len(calls) == 1 {
		c := calls[0]
		cmds[0] = c.s.run(ctx, b, c.keys, c.args...)
		return cmds, cmds[0].Err()
	}
	_, _ = b.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, c := range calls {
			cmds[i] = c.s.EvalSha(ctx, p, c.keys, c.args...)
		}
		return nil
	})
	var first error
	for i, cmd := range cmds {
		if redis.HasErrorPrefix(cmd.Err(), "NOSCRIPT") || b.slotMoving(cmd.Err()) {
			c := calls[i]
			cmds[i] = c.s.run(ctx, b, c.keys, c.args...)
		}
		if err := cmds[i].Err(); err != nil && first == nil {
			first = err
		}
	}
	return cmds, first
}

// slotMoveWait bounds how long a script call keeps being resent while a
// cluster refuses it because its slot is being migrated.
const slotMoveWait = 10 * time.Second

// run runs s (EVALSHA, falling back to EVAL) on b's client. On a cluster
// it rides out a resharding of the keys' slot: while the slot is half
// migrated, Redis refuses a script whose declared keys are not all on the
// node it reaches (TRYAGAIN, or ASK to the target, which refuses it the
// same way), and insert.lua always declares a key that does not exist
// yet, so it is refused for the whole migration. go-redis follows a few
// redirections and gives up; run resends the call, with a backoff from
// 5ms to 100ms, for up to slotMoveWait or until ctx ends. Those replies
// come before a script starts, so a resent call has not run before.
func (s *script) run(ctx context.Context, b *Backend, keys []string, args ...any) *redis.Cmd {
	cmd := s.Run(ctx, b.rdb, keys, args...)
	if !b.slotMoving(cmd.Err()) {
		return cmd
	}
	deadline := time.Now().Add(slotMoveWait)
	pause := 5 * time.Millisecond
	for b.slotMoving(cmd.Err()) && time.Now().Before(deadline) {
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return cmd
		case <-t.C:
		}
		pause = min(2*pause, 100*time.Millisecond)
		cmd = s.Run(ctx, b.rdb, keys, args...)
	}
	return cmd
}

// slotMoving reports whether err is a cluster's refusal to run a command
// while its slot moves or the cluster reconfigures: replies sent before
// the command runs. Always false on a plain or failover client.
func (b *Backend) slotMoving(err error) bool {
	if err == nil || b.plain {
		return false
	}
	msg := err.Error()
	for _, p := range []string{"TRYAGAIN", "ASK ", "MOVED ", "CLUSTERDOWN"} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}
