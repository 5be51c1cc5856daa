// Package redisqueue is a pgqueue.Backend that keeps jobs in Redis, through
// github.com/redis/go-redis/v9.
//
// It keeps the semantics of the Postgres backend (claim order, lease
// tokens, retries, dead letters kept until purged, wake-ups) and passes the
// same conformance suite (queuetest), for apps that want a high-throughput
// queue and do not need to enqueue inside a Postgres transaction: the
// Client's EnqueueTx, EnqueueManyTx and CompleteTx return
// pgqueue.ErrTxUnsupported on this backend.
//
//	rdb := redis.NewClient(&redis.Options{Addr: "localhost:6379"})
//	backend, err := redisqueue.New(rdb, nil)
//	if err != nil { ... }
//	client, err := pgqueue.New(backend, pgqueue.Config{})
//
// # Redis setup
//
// Redis 5.0 or later (scripts read the server's clock before they write,
// which needs script effects replication); tested on 7.0, standalone and
// as a cluster. Set maxmemory-policy to noeviction:
// under any other policy Redis silently deletes keys when memory runs out,
// and evicted jobs are gone (a job whose hash vanished while it was queued
// is dead-lettered as a stub naming the cause, but its args are lost).
// Durability is Redis's. Without an append-only file (Redis's default) a
// restart loses everything since the last snapshot. With appendonly yes and
// appendfsync everysec a crash of the Redis host can lose about the last
// second of acknowledged writes: an enqueue the caller was told succeeded
// may be gone, and a lost completion or claim makes the job run again
// (and since a lost claim's token is handed out again, two workers may
// then hold one job under the same token until one of them finishes it);
// with appendfsync always nothing acknowledged is lost, at a throughput
// cost. Replication is asynchronous, so a failover to a replica can lose
// recent writes too.
//
// # Key layout
//
// Every key starts with the prefix P (Options.Prefix, default "pgqueue").
// Keys that concern one queue Q carry the hash tag {P:Q}, so all of them
// live in one cluster slot and every script touches one slot only:
//
//	{P:Q}:job:<id>        hash: one job in any state (fields below)
//	{P:Q}:avail:<kind>    zset: available jobs of one kind, by priority then run-at
//	{P:Q}:sched           zset: scheduled jobs, by run-at (µs)
//	{P:Q}:running         zset: running jobs, by lease end (µs)
//	{P:Q}:dead            zset: dead-lettered jobs, by time of death (µs)
//	{P:Q}:dead:<kind>     zset: the same, for one kind (ListDead by kind)
//	{P:Q}:unique          hash: unique key -> ID of the waiting or running job holding it
//	{P:Q}:periodic        hash: periodic job name -> "<last tick µs>:<its job's ID or 0>"
//	{P:Q}:periodic-next   hash: periodic job name -> the next tick (µs) its
//	                      recording client expected
//	{P:Q}:stats:<minute>  hash: per-minute stats, "<counter>:<kind>" -> count
//	                      (see stats.go), expiring after the stats retention
//	{P:Q}:stats-minutes   zset: the minutes (Unix seconds) with a stats hash
//	{P:Q}:config          hash: paused (pause time), max_running, rate, burst,
//	                      tokens, tokens_at (the rate limit's token bucket)
//	{P:Q}:dropped         list: the last 100 set members that named no job and
//	                      were removed, as "<µs> <set> <member>"
//	{P:Q}:insert:<random> string: a cluster insert.lua call's retry guard, 30s
//	{P:Q}:done:<hash>     string: a complete.lua call's retry guard, named by a
//	                      hash of its refs' IDs and tokens, holding its answer, 60s
//
// Keys for the whole prefix carry the tag {P}:
//
//	{P}:ids               string: the job ID counter (INCRBY)
//	{P}:queues            hash: queue name -> queue index, every queue ever used
//	{P}:queue-index       hash: queue index -> queue name
//	{P}:rescue            string: the rescue lock (SET PX, released by token)
//	{P}:rescue-gone       string: RescueGone's lock, the same way
//	{P}:live:<client>     string: a client's liveness key, LivenessTTL (3s)
//	{P}:insert:<random>   string: an Insert's retry guard, expiring after 30s
//	{P}:clients           hash: client ID -> "<started µs> <JSON: host, pid, version,
//	                      queues, periodic>", the client registry
//	{P}:clients-seen      zset: client ID by when it was last seen (µs)
//	{P}:stats-queues      set: the queues that have per-minute stats
//
// Wake-ups are published on the pub/sub channel "P:wake" with the queue
// name as the payload. Sorted-set members are job IDs zero-padded to 19
// digits, so jobs with equal scores are taken in ID order. A job hash holds
// kind, queue, priority, args, attempt, max_attempts, token, errors (a JSON
// array), metadata (a JSON object, when set), created_at, run_at,
// attempted_at, lease_until, died_at (times in microseconds since the
// epoch, on the Redis server's clock), state, claimed_by and unique_key
// (while the job holds one).
//
// A prefix may not contain ':' (New refuses it): ':' separates prefix and
// queue inside the tag, so prefix "app" with queue "eu:mail" and prefix
// "app:eu" with queue "mail" would otherwise share every key, and one's
// jobs would overwrite or hide the other's. Queue names may contain ':'.
// With that rule distinct (prefix, queue) pairs never share a key (see
// keys.go and FuzzKeysAreInjective).
//
// # Scripts and atomicity
//
// Every state change is one Lua script (under lua/), loaded once and run by
// SHA with a fallback to EVAL when the server's script cache was flushed.
// Scripts build the keys of job hashes and per-kind sets from the queue's
// tag: they are in the slot of the keys the script declares, which is what
// Redis Cluster requires.
//
// Fencing tokens name the job's queue. Methods given only a JobRef
// (Complete, Heartbeat, Reschedule, DeadLetter) must find the job's keys,
// which carry its queue's tag. Rather than keep an ID -> queue map (one
// more write per job, one more lookup per call, entries to clean up), each
// queue gets a small index the first time it is used, fixed for good, and
// a job's tokens are index<<32 + n, n counting its claims: each token is
// the previous plus one (across retries, dead-lettering and requeue), and
// its high bits name the queue. A process learns an index's name once from
// {P}:queue-index and caches it. The queue's script then checks the job's
// state and token atomically; a token naming another or no queue matches
// nothing and reports the lease lost. Limits: 2^21-1 queue names per
// prefix, 2^32-1 claims per job.
//
// Calls given only job IDs (RequeueDead, CancelJob, and ListDead or PurgeDead with
// DeadFilter.IDs) cannot tell the queue from an ID, so they ask every
// known queue (or DeadFilter.Queue) about every ID, in one pipelined round
// trip: O(queues * IDs) cheap checks, fine for operator actions.
//
// Insert on a plain or failover client (*redis.Client: one server holds
// every key) is one script, enqueue.lua, that allocates the IDs, registers
// new queues and writes every queue's jobs: a batch across queues is all
// or none, in one round trip. go-redis resends a command whose reply was
// lost; so that such a resend cannot store the batch twice, the script
// also writes a guard key, {P}:insert:<random>, holding the batch's first
// ID and its duplicates for 30s, and a resent call finds it and returns
// the same IDs (one small key per Insert call of the last 30s). The
// commonest call, one job without a unique key, runs enqueue_lean.lua
// instead: it stores the same job and guard with fewer commands (it takes
// the guard with SET NX after allocating the ID, so a resend answers the
// first run's ID and leaves one ID unused, and when all its jobs go to one
// set the ZADD checks that set's type), and it carries lua/core.lua only,
// not the whole of lua/lib.lua. Such calls that arrive while one is in flight
// wait and then share one enqueue_lean.lua call: each caller's job is
// still stored atomically under its own ID, a refused shared call is sent
// again job by job so that each caller gets its own job's answer, and a
// call that finds none in flight is sent at once. The queued calls are
// taken after one yield of the processor, so that callers just answered
// can queue their next job in time to join. At most two such calls are in
// flight: a sender that finds eight or more queued while no other call is
// out sends half and a second sender the rest, so that Redis runs one
// call while the client answers the other's callers.
// A cluster cannot run one script across slots, so
// there Insert allocates IDs and queue indexes with alloc.lua on {P}, then
// writes each queue's jobs with insert.lua on {P:Q}, all queues pipelined:
// each queue's jobs are stored all or none, but if Insert returns an error
// the jobs of some queues may have been stored and will run. A resent
// insert.lua finds its own guard key in the queue's slot and answers as
// the first run did. A one-job Insert on a cluster takes its ID from a
// block of 100 the client reserved with alloc.lua (asked again when the
// block runs out or the queue's index is not yet known), so that it is one
// insert.lua call on {P:Q} and {P}'s primary is not visited per job; IDs
// a client reserved but did not use, as those of an Insert that fails
// after allocating IDs, are left unused and never reused, and IDs from
// different clients' blocks do not follow the order of their inserts.
// Either way a batch is stored
// in chunks of InsertChunk jobs, one script (per queue, on a cluster) per
// chunk, so that no script blocks Redis for long: only a chunk is atomic.
// An insert that finds a job key already there (the ID counter went back)
// fails and stores nothing of its chunk.
//
// Complete is idempotent per batch the same way: each queue's complete.lua
// call leaves {P:Q}:done:<hash>, named by a hash of the call's IDs and
// tokens (fencing tokens are never reused, so no other batch shares it)
// and holding which of its jobs it completed, for 60s (completeGuardTTL).
// A resend of the same refs, by go-redis after a lost reply or by the
// engine retrying the batch, answers from it, so jobs whose completion
// was stored are reported completed, not lost. It costs one small key per
// call (per batch per queue), not per job. Heartbeat keeps no guard.
//
// # Resharding and failover
//
// While a queue's slot is being migrated between cluster nodes (redis-cli
// --cluster reshard, or CLUSTER SETSLOT and MIGRATE), Redis refuses a
// script whose declared keys are not all on the node it reaches, with
// TRYAGAIN or an ASK redirection that the target refuses the same way;
// insert.lua and complete.lua declare their retry guards, keys that never
// exist beforehand, so inserts into and completions in that queue are
// refused for the whole migration. go-redis follows a few redirections
// and gives up; the backend then resends the call (those replies come before a script
// starts, so nothing ran) with a backoff from 5ms to 100ms, for up to 10s
// or until the context ends. A migration that holds a slot half-moved
// longer than that makes the calls fail with an error wrapping
// pgqueue.ErrDatabase; the engine retries claims and completions, and an
// Enqueue returns the error, the refused queue's jobs not stored.
//
// With a failover client (redis.NewFailoverClient) a Sentinel promotion
// is ridden out by the client: calls fail while no primary answers, then
// reach the promoted replica. Replication is asynchronous, so writes the
// old primary acknowledged but had not yet sent are lost: enqueues
// acknowledged in the last milliseconds before the crash, and claims or
// completions (those jobs run again). The ID counter may then be behind
// the IDs already handed out, so an ID may be given to a second job.
//
// # Damaged data
//
// Redis does not undo the writes of a script that fails half-way, so no
// script can fail after its first write: job keys are read with
// redis.pcall, the sets a script writes are type-checked before it writes,
// and the sets of one kind are checked before a job moves into them. A
// job key holding something other than a hash is dead-lettered by the
// claim, promotion or rescue that meets it, as a stub hash with a "decode"
// error, its old value kept in the field corrupt_dump as DUMP gives it
// (RESTORE brings it back); calls given its JobRef report its lease lost.
// A set member that names no job is removed and listed in {P:Q}:dropped.
// A set that is not a sorted set fails the call that would write it, with
// nothing changed.
//
// # Unique jobs
//
// Insert and InsertUnique (pgqueue.UniqueInserter) skip a job whose
// UniqueKey is held and report it as a duplicate with the holder's ID. The
// check runs inside the insert script of the job's queue against
// {P:Q}:unique, so it is race-free; complete, dead-letter (including
// rescue's and corrupt-job burials) and cancel free the key in the same
// script that changes the job's state, and drop it from the job's hash, so
// a requeued dead letter is no longer unique. A holder found in a state
// other than waiting or running (which no script leaves behind) is treated
// as gone.
//
// Keys are unique per queue, not across queues as on Postgres and
// memqueue. A key map for the whole prefix would live in {P}'s slot,
// which on a Redis Cluster is generally on another node than the queue's
// jobs: no script could check the key and store the job (or finish the job
// and free the key) atomically, and a crash between two steps would leave
// keys held forever or let duplicates in. Keeping the map in the queue's
// slot keeps every step atomic, standalone and clustered alike, at the
// cost of scope: the same UniqueOpts.Key used in two queues is held once
// per queue. Derived keys with ByQueue are per queue anyway.
//
// # Cancelling, periodic jobs, limits and pausing
//
// CancelJob (pgqueue.Canceller) does not know a job's queue from its ID,
// so, like RequeueDead, it runs cancel.lua on every known queue in one
// pipelined round trip; the queue holding the job waiting or running
// dead-letters it with a "cancelled" error and, if it was running,
// publishes pgqueue.CancelMessage(id) on "P:wake", which Listen passes on.
//
// EnqueuePeriodic (pgqueue.PeriodicEnqueuer) takes an ID with alloc.lua,
// then periodic.lua records the tick in {P:Q}:periodic (only if it is
// later than the recorded one) and inserts the job in the same atomic
// script, in the job's queue's slot. The record is per queue: a periodic
// job moved to another queue starts afresh there.
//
// SetQueueLimits (pgqueue.QueueLimiter), PauseQueue and ResumeQueue
// (pgqueue.QueuePauser) write {P:Q}:config; claim.lua reads it first, in
// the same script that takes the jobs: a paused queue gives nothing,
// max_running caps the claim at max_running minus the size of the running
// set, and the rate's token bucket (refilled on the server's clock) caps it
// at its whole tokens and pays one per job claimed. Setting the same rate
// and burst again keeps the bucket. ResumeQueue publishes the queue's name
// on "P:wake" when it was paused.
//
// # Claiming, kinds and wake-ups
//
// Each kind of each queue has its own available set, scored by priority
// then run-at (in milliseconds; jobs due in the same millisecond go in ID
// order). A claim reads the heads of the sets of the kinds it asks for and
// merges them: O(kinds * limit * log n), and jobs of other kinds are never
// read or changed, however many there are (another deployment may own
// them). Scheduled jobs wait in a separate set until PromoteDue moves them,
// so a million future jobs do not slow claims.
//
// Wake-ups use pub/sub: the scripts that make jobs available (insert,
// immediate reschedule, promote, rescue, requeue, periodic, resume) publish
// the queue's name on "P:wake", once per call and queue; cancel publishes
// pgqueue.CancelMessage(id) there for a running job. In a cluster, PUBLISH reaches
// subscribers on every node. Listen holds one subscription and resubscribes
// after any failure; the engine's polling covers the gaps.
//
// # Liveness
//
// The backend implements pgqueue.LivenessKeeper, so that the jobs of a
// client whose process died run again within seconds rather than after
// their leases. KeepAlive sets {P}:live:<client> with a LivenessTTL (3s)
// expiry every LivenessRefresh (1s), retrying a failed refresh within
// 50–500ms, and deletes it when its context ends. Holders reads the
// claimed_by of every running job (one script per queue, pipelined) and
// then which of those clients have their key. RescueGone, under its own
// lock, moves the running jobs of the gone clients claimed more than
// minAge ago, one script per queue.
//
// The liveness key is in the prefix's slot, not a queue's: a client
// claims from any queue, and keeping a key per queue it claims from
// would need the claim script to write it (then a client without
// KeepAlive would look alive, then gone) or KeepAlive to track queues. So
// on a cluster no script can read a client's key and move its jobs
// atomically: RescueGone checks the keys from Go just before the queue
// scripts run, and a client that binds its key again in between (after
// being gone for the whole grace) may lose jobs, which fencing makes
// harmless. On a plain or failover client each queue's script checks the
// keys again as it moves the jobs. A Redis stall longer than LivenessTTL
// expires every key at once; the engine's observations fail or show a
// gap meanwhile, which restarts its count, so clients get the full grace
// to set their keys again before anyone acts.
//
// PromoteDue and Rescue run one script per known queue, pipelined; each
// queue's step is atomic. Rescue takes the {P}:rescue lock so that only one
// client scans at a time; the per-queue script re-checks every lease it
// handles, so even two rescuers racing (after a lock expiry) cannot handle
// one expired lease twice. Their cost grows with the number of queue names
// ever used ({P}:queues is never pruned: a queue's index must never be
// given to another name while tokens naming it may exist).
package redisqueue
