#!/usr/bin/env bash
# Stops a cluster started by start.sh and removes its directory:
#
#   internal/rediscluster/stop.sh [DIR]
#
# DIR defaults to $PGQUEUE_TEST_REDIS_CLUSTER_DIR. Only the processes whose
# pid files are in DIR are killed. Stopping twice, or a DIR that is gone,
# is not an error.
set -uo pipefail

dir=${1:-${PGQUEUE_TEST_REDIS_CLUSTER_DIR:-}}
if [ -z "$dir" ]; then
  echo "rediscluster: stop.sh DIR, or set PGQUEUE_TEST_REDIS_CLUSTER_DIR" >&2
  exit 2
fi
[ -d "$dir" ] || exit 0
case "$(basename "$dir")" in
  pgqueue-rediscluster.*) ;;
  *) echo "rediscluster: $dir was not made by start.sh; not touching it" >&2; exit 2 ;;
esac

pids=()
for f in "$dir"/*.pid; do
  [ -f "$f" ] || continue
  pid=$(cat "$f")
  if kill "$pid" 2>/dev/null; then pids+=("$pid"); fi
done
for pid in "${pids[@]}"; do
  for _ in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true
done
rm -rf "$dir"
echo "rediscluster: stopped ${#pids[@]} node(s), removed $dir" >&2
