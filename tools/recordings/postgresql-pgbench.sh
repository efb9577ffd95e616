#!/bin/sh
# Record PostgreSQL 15 (Debian's package) under pgbench: the server's whole
# process tree (postmaster, backends, checkpointer, WAL writer, …), 100 ms
# epochs, 20 s. The server runs as the postgres user (it refuses root),
# listens on 127.0.0.1 and a unix socket in its own directory only; pgbench
# runs outside the recording, against it.
#   sh tools/recordings/postgresql-pgbench.sh [OUT]      (root, Linux >= 6.7)
# Needs: apt-get install postgresql (pgbench is in postgresql-15).
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${1:-$ROOT/data/postgresql-pgbench.dpt}
PGBIN=/usr/lib/postgresql/15/bin
PORT=${PORT:-54329}
WORK=$(mktemp -d /tmp/dirtylab-pg.XXXXXX)
chown postgres:postgres "$WORK"
PGDATA=$WORK/data
SOCK=$WORK/sock
as_pg() { runuser -u postgres -- "$@"; }
as_pg mkdir "$SOCK"
cleanup() {
  as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

SCALE=5; CLIENTS=4; THREADS=2; SECONDS_RUN=14
SERVER="$PGBIN/postgres -D $PGDATA -h 127.0.0.1 -p $PORT -k $SOCK -c shared_buffers=128MB -c fsync=on"
BENCH="$PGBIN/pgbench -h 127.0.0.1 -p $PORT -c $CLIENTS -j $THREADS -T $SECONDS_RUN -n bench"

# A database of scale 5 (500,000 accounts, ~75 MiB), made before recording.
as_pg "$PGBIN/initdb" -D "$PGDATA" -U postgres -A trust --no-sync >/dev/null
as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -o "-h 127.0.0.1 -p $PORT -k $SOCK" -w start >/dev/null
as_pg "$PGBIN/createdb" -h 127.0.0.1 -p "$PORT" bench
as_pg "$PGBIN/pgbench" -h 127.0.0.1 -p "$PORT" -i -s "$SCALE" -q bench >/dev/null 2>&1
as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -w stop >/dev/null

VERSION=$(dpkg-query -W -f='${Package} ${Version}' postgresql-15)
# The benchmark: wait until the recorded server accepts connections, run pgbench.
(
  i=0; until as_pg "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PORT"; do i=$((i+1)); [ $i -lt 100 ] || exit 1; sleep 0.1; done
  sleep 1
  as_pg $BENCH > "$WORK/pgbench.out" 2>&1
) &
BENCHPID=$!
node "$ROOT/bin/dirtylab.js" record --epoch 100ms --duration 20s -o "$OUT" \
  --meta workload="PostgreSQL server under pgbench (TPC-B-like, scale $SCALE, $CLIENTS clients, $THREADS threads, ${SECONDS_RUN} s), on loopback" \
  --meta program="$VERSION (Debian 12 package)" \
  --meta serverCommand="runuser -u postgres -- $SERVER" \
  --meta benchmarkCommand="$BENCH (started 1 s after the server accepts connections; not recorded)" \
  --meta recordingScript="tools/recordings/postgresql-pgbench.sh" \
  --meta machine="2-core VM, $(uname -sr), $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')" \
  --meta licence="MIT (dirtylab's licence; PostgreSQL's licence covers the program, not these recorded page numbers)" \
  -- runuser -u postgres -- $SERVER
wait $BENCHPID || true
grep -E 'tps|transactions actually' "$WORK/pgbench.out" || cat "$WORK/pgbench.out"
