#!/bin/sh
# Record Redis 7.0 (Debian's package) under redis-benchmark: redis-server's
# process tree (the event loop and its bio threads), 100 ms epochs, 20 s.
# The server listens on 127.0.0.1 only, without persistence (no RDB, no AOF:
# nothing forks); redis-benchmark runs outside the recording, against it.
#   sh tools/recordings/redis-benchmark.sh [OUT]      (root, Linux >= 6.7)
# Needs: apt-get install redis-server (redis-benchmark is in redis-tools).
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${1:-$ROOT/data/redis-benchmark.dpt}
PORT=${PORT:-63799}
WORK=$(mktemp -d /tmp/dirtylab-redis.XXXXXX)
chown redis:redis "$WORK"
trap 'redis-cli -h 127.0.0.1 -p $PORT shutdown nosave >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT

SERVER="/usr/bin/redis-server --bind 127.0.0.1 --port $PORT --protected-mode yes --save '' --appendonly no --dir $WORK --logfile $WORK/redis.log"
BENCH="redis-benchmark -h 127.0.0.1 -p $PORT -q -c 20 -n 25000 -r 200000 -d 128 -t set,get,incr,lpush,rpop,sadd,hset,zadd"
VERSION=$(dpkg-query -W -f='${Package} ${Version}' redis-server)
(
  i=0; until redis-cli -h 127.0.0.1 -p "$PORT" ping >/dev/null 2>&1; do i=$((i+1)); [ $i -lt 100 ] || exit 1; sleep 0.1; done
  sleep 1
  timeout 17 $BENCH > "$WORK/bench.out" 2>&1 || true
) &
BENCHPID=$!
node "$ROOT/bin/dirtylab.js" record --epoch 100ms --duration 20s -o "$OUT" \
  --meta workload="Redis server under redis-benchmark (20 clients, 25,000 requests per test of set,get,incr,lpush,rpop,sadd,hset,zadd, 200,000 random keys, 128-byte values; stopped at 17 s), on loopback, no persistence" \
  --meta program="$VERSION (Debian 12 package)" \
  --meta serverCommand="runuser -u redis -- $SERVER" \
  --meta benchmarkCommand="timeout 17 $BENCH (started 1 s after the server answers PING; not recorded)" \
  --meta recordingScript="tools/recordings/redis-benchmark.sh" \
  --meta machine="2-core VM, $(uname -sr), $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')" \
  --meta licence="MIT (dirtylab's licence; Redis's BSD-3-Clause licence covers the program, not these recorded page numbers)" \
  -- runuser -u redis -- /usr/bin/redis-server --bind 127.0.0.1 --port "$PORT" --protected-mode yes --save '' --appendonly no --dir "$WORK" --logfile "$WORK/redis.log"
wait $BENCHPID || true
tr '\r' '\n' < "$WORK/bench.out" | grep 'requests per second' || tail -c 300 "$WORK/bench.out"
