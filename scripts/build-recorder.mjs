#!/usr/bin/env node
// Builds the native recorder of `dirtylab record` (tools/recorder/) into
// build/dirtylab-recorder and build/dirtylab-shim.so, and writes
// build/recorder-status.json saying whether it did and, if not, why.
//
// Run by `npm run build:recorder` (from `prepare`, so `npm ci` builds it) and
// usable by anyone who installed the package:
//   node node_modules/dirtylab/scripts/build-recorder.mjs
// With --if-stale it does nothing when the binaries are newer than the
// sources (the tests use that). It never fails the install: without Linux ≥ 6.7 or a C compiler (cc, gcc,
// clang or $CC) it prints one line saying what is missing and exits 0, and
// `dirtylab record` repeats that when it is used.
import { execFileSync } from 'node:child_process';
import { accessSync, constants, mkdirSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { release } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'tools', 'recorder');
const out = join(root, 'build');
const MIN = [6, 7];

const OUTPUTS = ['dirtylab-recorder', 'dirtylab-shim.so'];

function status(built, reason, extra = {}) {
  mkdirSync(out, { recursive: true });
  if (!built) for (const f of OUTPUTS) rmSync(join(out, f), { force: true }); // never a stale or half build
  writeFileSync(join(out, 'recorder-status.json'), JSON.stringify({ built, reason, kernel: release(), at: new Date().toISOString(), ...extra }, null, 2) + '\n');
  console.log(built ? `dirtylab: native recorder ${extra.upToDate ? 'up to date' : `built (${extra.cc})`}: build/dirtylab-recorder, build/dirtylab-shim.so` : `dirtylab: native recorder not built: ${reason}; \`dirtylab record\` will not work (everything else does)`);
  process.exit(0);
}

function onPath(cmd) {
  if (cmd.includes('/')) return cmd;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    try {
      accessSync(join(dir, cmd), constants.X_OK);
      return join(dir, cmd);
    } catch { /* not here */ }
  }
  return null;
}

if (process.platform !== 'linux') status(false, `it needs Linux ≥ ${MIN.join('.')}, this is ${process.platform}`);
const m = /^(\d+)\.(\d+)/.exec(release());
if (!m || Number(m[1]) < MIN[0] || (Number(m[1]) === MIN[0] && Number(m[2]) < MIN[1])) {
  status(false, `it needs Linux ≥ ${MIN.join('.')} (userfaultfd WP_ASYNC and PAGEMAP_SCAN), this kernel is ${release()}`);
}
const cc = [process.env.CC, 'cc', 'gcc', 'clang'].filter(Boolean).map(onPath).find(Boolean);
if (!cc) status(false, 'no C compiler found (cc, gcc, clang or $CC)');

const jobs = [
  { out: 'dirtylab-recorder', args: ['-O2', '-Wall', '-o'], srcs: ['recorder.c'], libs: [] },
  { out: 'dirtylab-shim.so', args: ['-O2', '-Wall', '-shared', '-fPIC', '-o'], srcs: ['shim.c'], libs: ['-ldl', '-lpthread'] },
];
mkdirSync(out, { recursive: true });
// Up to date (outputs newer than every source): nothing to do.
const srcTimes = readdirSync(src).filter((f) => /\.[ch]$/.test(f)).map((f) => statSync(join(src, f)).mtimeMs);
const outTimes = OUTPUTS.map((f) => { try { return statSync(join(out, f)).mtimeMs; } catch { return -Infinity; } });
if (process.argv.includes('--if-stale') && Math.min(...outTimes) > Math.max(...srcTimes)) status(true, null, { cc, upToDate: true });
for (const j of jobs) {
  const tmp = join(out, `.${j.out}.${process.pid}.tmp`);
  try {
    execFileSync(cc, [...j.args, tmp, ...j.srcs.map((s) => join(src, s)), ...j.libs], { stdio: ['ignore', 'ignore', 'pipe'] });
    renameSync(tmp, join(out, j.out));
  } catch (e) {
    rmSync(tmp, { force: true });
    const err = String(e.stderr ?? e.message).split('\n').find((l) => /error/i.test(l)) ?? String(e.message).split('\n')[0];
    status(false, `${cc} failed on ${j.srcs.join(' ')}: ${err.trim()}`, { cc });
  }
}
status(true, null, { cc });
