#!/bin/sh
# Record a build: the TypeScript compiler (tsc, on Node's V8: a JIT and a
# garbage-collected heap) type-checking and compiling dirtylab's own src/
# (about 12,700 lines) into a scratch directory, 100 ms epochs, until tsc
# exits (at most 60 s; the recorder stops it then).
#   sh tools/recordings/tsc-build.sh [OUT]      (root, Linux >= 6.7; after npm ci)
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${1:-$ROOT/data/tsc-build.dpt}
WORK=$(mktemp -d /tmp/dirtylab-tsc.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
cd "$ROOT"
NODEV=$(dpkg-query -W -f='${Package} ${Version}' nodejs 2>/dev/null || node --version)
TSC=$(node node_modules/typescript/bin/tsc --version | sed "s/^Version /typescript /")
COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
node "$ROOT/bin/dirtylab.js" record --epoch 100ms --duration 60s -o "$OUT" \
  --meta workload="a build: tsc -p tsconfig.build.json --outDir (scratch) of dirtylab's src/ at commit $COMMIT ($(find src -name '*.ts' | xargs cat | wc -l) lines of TypeScript), one node process; stopped by the recorder at 60 s if still running" \
  --meta program="$TSC (npm) on node $(node --version) ($NODEV)" \
  --meta recordingScript="tools/recordings/tsc-build.sh" \
  --meta machine="2-core VM, $(uname -sr), $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')" \
  --meta licence="MIT (dirtylab's licence; TypeScript's Apache-2.0 and Node's MIT licences cover the programs, not these recorded page numbers)" \
  -- node node_modules/typescript/bin/tsc -p tsconfig.build.json --outDir "$WORK/dist"
