#!/usr/bin/env node
// bench/parallel: one comparison of ~1,000 runs — the `npm start` comparison (the medium and heavy
// real traces in data/, every method, 32 MiB/s, qemu-7.2-tcg) with 12 start offsets: 2 traces × 16
// methods × 3 write-time models × 12 = 1,152 runs — in this thread (workers: 1) and over a pool of 2
// worker threads, timed wall-clock from compare() call to result (the trace transfer included). The
// thread is warmed up first (one run per trace, method and write-time model) and the pool started and
// warmed up the same way before its timed call (warm: like for like); then each again in a fresh
// process, nothing warmed, the pool started inside the timed call (cold: the CLI's case). Prints the
// wall times, the speed-up ratios (target ≥ 1.8× on a 2-core machine), the process CPU time of each, and
// the load average before each run, since a busy machine makes any ratio meaningless; checks that all
// give the same runs byte for byte.
//
// It also measures the machine's own ceiling: the same fixed piece of work (a compute loop; a loop that
// fills, sorts and maps typed arrays) in one worker thread, then in two at once. On a machine whose two
// cores share execution units or memory bandwidth (SMT siblings, a busy host) two threads do not do
// twice the work, and no pool can beat that ratio.
//
//   npm run bench:parallel        (builds first)
//   node bench/parallel.mjs [--workers 2] [--replicates 12] [--rounds 1]
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { availableParallelism, loadavg } from 'node:os';
import { Worker } from 'node:worker_threads';
import { compare } from '../dist/stats/compare.js';
import { createPool } from '../dist/parallel/index.js';
import { readTrace } from '../dist/trace/open.js';
import { fileInput } from '../dist/trace/node.js';
import '../dist/sim/profiles.js';
import { methodIds } from '../dist/sim/methods/index.js';

const args = process.argv.slice(2);
const opt = (name, dflt) => { const i = args.indexOf(name); return i >= 0 ? Number(args[i + 1]) : dflt; };
const workers = opt('--workers', 2);
const replicates = opt('--replicates', 12);
const rounds = opt('--rounds', 1);

const names = ['medium-bw32-dt300', 'heavy-bw32-dt300'];
const traces = [];
for (const name of names) traces.push({ name, trace: await readTrace(fileInput(new URL(`../data/${name}.dpt`, import.meta.url).pathname)), sha256: null });
const options = { traces, methods: methodIds(), replicates, bandwidths: [32 * 2 ** 20], calibration: 'qemu-7.2-tcg', maxTimeMs: 120_000, seed: 1 };

async function timed(w, pool) {
  const load = loadavg()[0];
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const r = await compare({ ...options, workers: w, ...(pool ? { pool } : {}) });
  const wallS = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return { r, wallS, cpuS: (cpu.user + cpu.system) / 1e6, load: [load, loadavg()[0]] };
}
const digest = (r) => createHash('sha256').update(JSON.stringify(r)).digest('hex');

// --child W: one cold comparison in this fresh process (nothing warmed, the pool started inside the
// call, as `dirtylab compare` does); prints its figures as JSON for the parent.
const child = args.indexOf('--child');
if (child >= 0) {
  const x = await timed(Number(args[child + 1]));
  process.stdout.write(JSON.stringify({ wallS: x.wallS, cpuS: x.cpuS, load: x.load, digest: digest(x.r) }));
  process.exit(0);
}
/** A cold comparison with w workers in a fresh node process. */
function coldRun(w) {
  const r = spawnSync(process.execPath, [new URL(import.meta.url).pathname, '--child', String(w), '--replicates', String(replicates)], { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`bench child (--child ${w}) failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

// The machine's ceiling: `kind` work in n worker threads at once; the wall time of the slowest.
const CEILING_WORK = {
  compute: `let x = 0; for (let i = 0; i < 4e8; i++) x = (x * 1664525 + 1013904223) | 0; globalThis.sink = x;`,
  memory: `let s = 0; for (let r = 0; r < 120; r++) { const a = new Uint32Array(200000); for (let i = 0; i < a.length; i++) a[i] = Math.imul(i, 2654435761) >>> 0; a.sort(); const m = new Map(); for (let i = 0; i < 20000; i++) m.set(a[i * 7], i); s += m.size; } globalThis.sink = s;`,
};
async function ceilingWall(kind, n) {
  const code = `const { parentPort } = require('node:worker_threads'); parentPort.once('message', () => { const t = performance.now(); ${CEILING_WORK[kind]} parentPort.postMessage(performance.now() - t); });`;
  const ws = Array.from({ length: n }, () => new Worker(code, { eval: true }));
  await new Promise((r) => setTimeout(r, 200)); // let them start
  const times = await Promise.all(ws.map((w) => new Promise((r) => { w.once('message', r); w.postMessage('go'); })));
  await Promise.all(ws.map((w) => w.terminate()));
  return Math.max(...times);
}
const ceilings = {};
for (const kind of Object.keys(CEILING_WORK)) {
  const one = await ceilingWall(kind, 1);
  const two = await ceilingWall(kind, workers);
  ceilings[kind] = (workers * one) / two;
}

const rows = [];
/** The same warm-up for this thread and for a pool: one run per trace, method and write-time model, on separate trace objects. */
async function warmUp(pool) {
  // Separate copies of the traces: the runs keep each trace's sorted epochs (src/sim/timeline.ts), and
  // a timed run must not find them already sorted.
  const fresh = [];
  for (const name of names) fresh.push({ name, trace: await readTrace(fileInput(new URL(`../data/${name}.dpt`, import.meta.url).pathname)), sha256: null });
  await compare({ ...options, traces: fresh, replicates: 1, ...(pool ? { pool } : { workers: 1 }) });
}
await warmUp(null);
for (let k = 0; k < rounds; k++) {
  // Fresh trace objects for each timing, for the same reason.
  const reload = async () => { for (const t of options.traces) t.trace = await readTrace(fileInput(new URL(`../data/${t.name}.dpt`, import.meta.url).pathname)); };
  await reload();
  const one = await timed(1);
  // The CLI's case: each in a fresh process, nothing warmed; the pool is started inside the timed call.
  const coldOne = coldRun(1);
  const many = coldRun(workers);
  // As the single thread: the pool started and warmed up the same way before the timed call.
  const pool = await createPool({ workers });
  let warm;
  try {
    await warmUp(pool);
    await reload();
    warm = await timed(workers, pool);
  } finally {
    await pool.dispose();
  }
  if (JSON.stringify(one.r) !== JSON.stringify(warm.r)) throw new Error('the pooled comparison differs from the single-thread one');
  for (const x of [coldOne, many]) if (x.digest !== digest(one.r)) throw new Error('a cold comparison (fresh process) differs from the single-thread one');
  rows.push({ one, coldOne, many, warm, ratio: coldOne.wallS / many.wallS, warmRatio: one.wallS / warm.wallS });
}

const runs = rows[0].one.r.runs.length;
console.log(`\nbench/parallel: compare(), ${runs} runs (${names.length} real traces, ${names.join(' and ')} × ${methodIds().length} methods × 3 write-time models × ${replicates} start offsets, 32 MiB/s, qemu-7.2-tcg)`);
console.log(`node ${process.version}; ${availableParallelism()} cores; the same runs byte for byte in every round\n`);
console.log(`| round | warm: 1 thread s | warm: ${workers} workers s | ratio | cold: 1 thread s | cold: ${workers} workers s | ratio | CPU s (warm 1 / ${workers}; cold 1 / ${workers}) | load avg 1 min before each (warm 1 / ${workers}; cold 1 / ${workers}) |`);
console.log('|---:|---:|---:|---:|---:|---:|---:|---|---|');
rows.forEach((x, i) => console.log(`| ${i + 1} | ${x.one.wallS.toFixed(2)} | ${x.warm.wallS.toFixed(2)} | ${x.warmRatio.toFixed(2)}× | ${x.coldOne.wallS.toFixed(2)} | ${x.many.wallS.toFixed(2)} | ${x.ratio.toFixed(2)}× | ${[x.one, x.warm, x.coldOne, x.many].map((y) => y.cpuS.toFixed(1)).join(' / ')} | ${[x.one, x.warm, x.coldOne, x.many].map((y) => y.load[0].toFixed(1)).join(' / ')} |`));
const median = (xs) => { const v = [...xs].sort((a, b) => a - b); return v[Math.floor(v.length / 2)]; };
const cold = median(rows.map((x) => x.ratio));
const warmed = median(rows.map((x) => x.warmRatio));
console.log(`\nspeed-up, ${workers} workers vs 1 thread (median of ${rows.length}; target ≥ 1.8× on 2 cores): warm ${warmed.toFixed(2)}× (both warmed up the same way, the pool started before the timed call); cold ${cold.toFixed(2)}× (each in a fresh process, nothing warmed, the pool started inside the timed call: the CLI's case). A 1-minute load average above the core count means other work shared the cores: the ratio then says little.`);
console.log(`the machine's ceiling, the same work in ${workers} threads at once vs 1: ${Object.entries(ceilings).map(([k, v]) => `${k} loop ${v.toFixed(2)}×`).join(', ')} — the warmed pool reaches ${((warmed / Math.min(...Object.values(ceilings))) * 100).toFixed(0)} % of the lower one.`);
console.log(JSON.stringify({ runs, workers, rounds: rows.map((x) => ({ warmOneS: x.one.wallS, warmPoolS: x.warm.wallS, coldOneS: x.coldOne.wallS, coldPoolS: x.many.wallS })), ratioWarm: warmed, ratioCold: cold, ceilings }));
