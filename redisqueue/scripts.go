package redisqueue

import (
	"context"
	"embed"

	"github.com/redis/go-redis/v9"
)

//go:embed lua/*.lua
var luaFiles embed.FS

// The scripts, each prefixed with lua/lib.lua. go-redis runs a Script by
// EVALSHA and falls back to EVAL (which also caches it on the server) when
// the server answers NOSCRIPT, after a restart or SCRIPT FLUSH.
var (
	enqueueScript     = loadScript("enqueue")
	allocScript       = loadScript("alloc")
	insertScript      = loadScript("insert")
	claimScript       = loadScript("claim")
	completeScript    = loadScript("complete")
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
)

// script is one Lua script.
type script struct {
	*redis.Script
}

func loadScript(name string) *script {
	lib, err := luaFiles.ReadFile("lua/lib.lua")
	if err != nil {
		panic(err)
	}
	body, err := luaFiles.ReadFile("lua/" + name + ".lua")
	if err != nil {
		panic(err)
	}
	src := string(lib) + "\n" + string(body)
	return &script{Script: redis.NewScript(src)}
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
// before a script starts).
func (b *Backend) runAll(ctx context.Context, calls []call) ([]*redis.Cmd, error) {
	cmds := make([]*redis.Cmd, len(calls))
	if len(calls) == 1 {
		c := calls[0]
		cmds[0] = c.s.Run(ctx, b.rdb, c.keys, c.args...)
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
		if redis.HasErrorPrefix(cmd.Err(), "NOSCRIPT") {
			c := calls[i]
			cmds[i] = c.s.Run(ctx, b.rdb, c.keys, c.args...)
		}
		if err := cmds[i].Err(); err != nil && first == nil {
			first = err
		}
	}
	return cmds, first
}
