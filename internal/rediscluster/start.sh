#!/usr/bin/env bash
# Starts a throwaway 3-primary Redis Cluster on free loopback ports, for the
# tests (PGQUEUE_TEST_REDIS_CLUSTER_ADDRS) and for developers:
#
#   eval "$(internal/rediscluster/start.sh)"   # exports the variables below
#   go test -race ./redisqueue/
#   internal/rediscluster/stop.sh              # kills the nodes, removes the dir
#
# It prints only `export NAME=value` lines on stdout (progress goes to
# stderr): PGQUEUE_TEST_REDIS_CLUSTER_ADDRS (host:port,host:port,host:port)
# and PGQUEUE_TEST_REDIS_CLUSTER_DIR (the nodes' directory, which stop.sh
# reads). The nodes keep nothing on disk (no RDB, no AOF) and listen on
# 127.0.0.1 only. Set REDIS_SERVER / REDIS_CLI to use other binaries.
set -euo pipefail

server=${REDIS_SERVER:-redis-server}
cli=${REDIS_CLI:-redis-cli}
primaries=3

dir=$(mktemp -d "${TMPDIR:-/tmp}/pgqueue-rediscluster.XXXXXX")
fail() {
  echo "rediscluster: $*" >&2
  for f in "$dir"/*.log; do [ -f "$f" ] && { echo "--- $f" >&2; tail -n 20 "$f" >&2; }; done
  "$(dirname "$0")/stop.sh" "$dir" >&2 || true
  exit 1
}

# port_free PORT: nothing listens on it (a connection is refused).
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

addrs=()
for _ in $(seq 1 "$primaries"); do
  started=
  for _ in $(seq 1 20); do
    # A cluster node also listens on port+10000 (the cluster bus).
    port=$((20000 + RANDOM % 20000))
    port_free "$port" && port_free $((port + 10000)) || continue
    if "$server" --port "$port" --bind 127.0.0.1 --cluster-enabled yes \
        --cluster-config-file "nodes-$port.conf" --cluster-node-timeout 5000 \
        --save "" --appendonly no --maxmemory-policy noeviction \
        --dir "$dir" --logfile "$dir/redis-$port.log" --pidfile "$dir/redis-$port.pid" \
        --daemonize yes >/dev/null; then
      for _ in $(seq 1 50); do
        if "$cli" -h 127.0.0.1 -p "$port" ping >/dev/null 2>&1; then started=1; break; fi
        sleep 0.1
      done
    fi
    [ -n "$started" ] && break
    # Another process took the port first: kill what may have started, retry.
    [ -f "$dir/redis-$port.pid" ] && kill "$(cat "$dir/redis-$port.pid")" 2>/dev/null || true
  done
  [ -n "$started" ] || fail "could not start a node (see its log)"
  addrs+=("127.0.0.1:$port")
done

echo "rediscluster: joining ${addrs[*]}" >&2
"$cli" --cluster create "${addrs[@]}" --cluster-replicas 0 --cluster-yes >"$dir/create.log" 2>&1 ||
  { cat "$dir/create.log" >&2; fail "redis-cli --cluster create failed"; }

for addr in "${addrs[@]}"; do
  ok=
  for _ in $(seq 1 100); do
    if "$cli" -h "${addr%:*}" -p "${addr#*:}" cluster info 2>/dev/null | grep -q '^cluster_state:ok'; then ok=1; break; fi
    sleep 0.1
  done
  [ -n "$ok" ] || fail "$addr did not reach cluster_state:ok in 10s"
done
# Every node must also know every other one, or a client's first slot map
# could be partial.
for addr in "${addrs[@]}"; do
  for _ in $(seq 1 100); do
    n=$("$cli" -h "${addr%:*}" -p "${addr#*:}" cluster info | tr -d '\r' | sed -n 's/^cluster_known_nodes://p')
    [ "$n" = "$primaries" ] && break
    sleep 0.1
  done
done

echo "rediscluster: cluster_state:ok on ${addrs[*]} (dir $dir)" >&2
joined=$(IFS=,; echo "${addrs[*]}")
echo "export PGQUEUE_TEST_REDIS_CLUSTER_ADDRS=$joined"
echo "export PGQUEUE_TEST_REDIS_CLUSTER_DIR=$dir"
