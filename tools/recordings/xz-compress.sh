#!/bin/sh
# Record xz (Debian's xz-utils) compressing a large file: one process, one
# thread, preset -6 (xz's default: 8 MiB dictionary, BT4 match finder,
# ~94 MiB of memory), 100 ms epochs, stopped by the recorder after 20 s
# (in mid-stream: the whole file takes longer on a 2-core VM).
#   sh tools/recordings/xz-compress.sh [OUT] [INPUT]      (root, Linux >= 6.7)
# Needs: apt-get install xz-utils. INPUT defaults to /usr/bin/node (99 MB,
# the nodejs package's binary); the header names it, its size and sha256.
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${1:-$ROOT/data/xz-compress.dpt}
INPUT=${2:-/usr/bin/node}
INPUT=$(readlink -f "$INPUT")
VERSION=$(dpkg-query -W -f='${Package} ${Version}' xz-utils)
FROM=$(dpkg -S "$INPUT" 2>/dev/null | cut -d: -f1 || true)
[ -z "$FROM" ] || FROM=", from the Debian package $(dpkg-query -W -f='${Package} ${Version}' "$FROM")"
node "$ROOT/bin/dirtylab.js" record --epoch 100ms --duration 20s -o "$OUT" \
  --meta workload="xz -6 -T1 compressing $INPUT ($(stat -c %s "$INPUT") bytes$FROM; sha256 $(sha256sum "$INPUT" | cut -d' ' -f1)) to /dev/null; stopped by the recorder after 20 s" \
  --meta program="$VERSION (Debian 12 package)" \
  --meta recordingScript="tools/recordings/xz-compress.sh" \
  --meta machine="2-core VM, $(uname -sr), $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')" \
  --meta licence="MIT (dirtylab's licence; xz's and the input's licences cover the programs, not these recorded page numbers)" \
  -- sh -c 'exec xz -6 -T1 -c "$0" > /dev/null' "$INPUT"
