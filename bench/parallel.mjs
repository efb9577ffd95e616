#!/usr/bin/env node
// bench/parallel: one comparison of ~1,000 runs — the `npm start` comparison (the medium and heavy
// real traces in data/, every method, 32 MiB/s, qemu-7.2-tcg) with 12 start offsets: 2 traces × 16
// methods × 3 write-time models × 12 = 1,152 runs — in one thread and over a pool of 2 worker
// threads, timed wall-clock from compare() call to result (the trace transfer included), as a ratio
// (target ≥ 1.8× on a 2-core machine). Three measurements, each as pairs taken back to back and
// alternated, because these shared hosts change speed within seconds (the same single-thread
// comparison has taken 6.6–10.6 s in one minute): a ratio is taken within each pair, and the median
// of the pairs reported.
//
//  - warm: this thread and a pool started beforehand, each having done the whole comparison once
//    (untimed, on other trace objects: the timeline keeps each trace's sorted epochs), so each
//    isolate's JIT is warm; this thread keeps one kernel across calls, as each worker keeps its own.
//  - cold: each comparison in a fresh `node` process, nothing warmed, the pool started inside the
//    timed call: what `dirtylab compare` does. Every isolate compiles the simulator anew (V8's
//    optimizing compiler runs on background threads: a lone thread gets it on the idle core for free,
//    two workers pay for two compilations on the two cores they compute on).
//  - ceiling: the machine's own limit for this work: the single-thread comparison (warm) in one
//    process alone, then in 2 processes at once (released together once both are warm). Nothing is
//    shared between processes, so no split of this comparison over 2 threads can beat that ratio.
//
// Checks that every timed comparison gives the same runs byte for byte; prints a table, the medians
// and a JSON line.
//
//   npm run bench:parallel        (builds first)
//   node bench/parallel.mjs [--workers 2] [--replicates 12] [--pairs 3] [--no-cold] [--no-ceiling]
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { availableParallelism, loadavg } from 'node:os';
import { createInterface } from 'node:readline';
import { compare } from '../dist/stats/compare.js';
import { createPool } from '../dist/parallel/index.js';
import { Kernel } from '../dist/kernel/index.js';
import { medianOf } from '../dist/stats/bootstrap.js';
import { readTrace } from '../dist/trace/open.js';
import { fileInput } from '../dist/trace/node.js';
import '../dist/sim/profiles.js';
import { methodIds } from '../dist/sim/methods/index.js';

const args = process.argv.slice(2);
const opt = (name, dflt) => { const i = args.indexOf(name); return i >= 0 ? Number(args[i + 1]) : dflt; };
const workers = opt('--workers', 2);
const replicates = opt('--replicates', 12);
const pairs = opt('--pairs', 3);
const self = new URL(import.meta.url).pathname;

const names = ['medium-bw32-dt300', 'heavy-bw32-dt300'];
/** Fresh trace objects (a run keeps each trace's sorted epochs: a timed run must not find them sorted). */
async function loadTraces() {
  const traces = [];
  for (const name of names) traces.push({ name, trace: await readTrace(fileInput(new URL(`../data/${name}.dpt`, import.meta.url).pathname)), sha256: null });
  return traces;
}
const options = { methods: methodIds(), replicates, bandwidths: [32 * 2 ** 20], calibration: 'qemu-7.2-tcg', maxTimeMs: 120_000, seed: 1 };
const digest = (r) => createHash('sha256').update(JSON.stringify(r.runs)).digest('hex');

/** One timed comparison on fresh traces: in this thread (with `kernel`) or over `pool`, or cold (`workers` only). */
async function timed(o) {
  const traces = await loadTraces();
  const load = loadavg()[0];
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const r = await compare({ ...options, traces, ...o });
  const wallS = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return { wallS, cpuS: (cpu.user + cpu.system) / 1e6, load, digest: digest(r), runs: r.runs.length };
}

// --child W: one cold comparison in this fresh process; prints its figures as JSON.
const child = args.indexOf('--child');
if (child >= 0) {
  const w = Number(args[child + 1]);
  process.stdout.write(JSON.stringify(await timed({ workers: w })));
  process.exit(0);
}
// --warm-child: the single-thread comparison once untimed, then "ready"; the timed one when a line comes on stdin.
if (args.includes('--warm-child')) {
  const kernel = await Kernel.load();
  await timed({ workers: 1, kernel });
  process.stdout.write('ready\n');
  const lines = createInterface({ input: process.stdin });
  for await (const _ of lines) break;
  process.stdout.write(`${JSON.stringify(await timed({ workers: 1, kernel }))}\n`);
  process.exit(0);
}

/** A cold comparison with w workers in a fresh node process. */
function coldRun(w) {
  const r = spawnSync(process.execPath, [self, '--child', String(w), '--replicates', String(replicates)], { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`bench child (--child ${w}) failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

/** n warm single-thread comparisons in n processes, released together once all are warm; their figures. */
async function warmProcesses(n) {
  const kids = Array.from({ length: n }, () => spawn(process.execPath, [self, '--warm-child', '--replicates', String(replicates)], { stdio: ['pipe', 'pipe', 'inherit'] }));
  const outputs = kids.map((k) => {
    const lines = createInterface({ input: k.stdout });
    const it = lines[Symbol.asyncIterator]();
    return { next: async () => { const x = await it.next(); if (x.done) throw new Error('a bench child ended early'); return x.value; } };
  });
  for (const o of outputs) if ((await o.next()) !== 'ready') throw new Error('a bench child did not get ready');
  for (const k of kids) k.stdin.write('go\n');
  const results = await Promise.all(outputs.map(async (o) => JSON.parse(await o.next())));
  await Promise.all(kids.map((k) => new Promise((r) => (k.exitCode !== null ? r() : k.once('exit', r)))));
  return results;
}

const fmt = (x) => x.toFixed(2);
let reference = null;
const same = (x, what) => {
  reference ??= x.digest;
  if (x.digest !== reference) throw new Error(`${what} gave other runs than the first comparison`);
};

// Warm: this thread (its own kernel) and a pool, each through the whole comparison once, untimed.
const kernel = await Kernel.load();
const pool = await createPool({ workers });
const warm = [];
try {
  await timed({ workers: 1, kernel });
  await timed({ workers, pool });
  for (let k = 0; k < pairs; k++) {
    // Alternate which goes first, so a host slowing down or speeding up does not favour one side.
    const one = k % 2 === 0 ? await timed({ workers: 1, kernel }) : null;
    const many = await timed({ workers, pool });
    const oneAfter = one ?? (await timed({ workers: 1, kernel }));
    same(oneAfter, 'a warm single-thread comparison');
    same(many, 'a warm pooled comparison');
    warm.push({ one: oneAfter, many, ratio: oneAfter.wallS / many.wallS });
  }
} finally {
  await pool.dispose();
}

const cold = [];
if (!args.includes('--no-cold')) {
  for (let k = 0; k < pairs; k++) {
    const a = k % 2 === 0 ? coldRun(1) : null;
    const many = coldRun(workers);
    const one = a ?? coldRun(1);
    same(one, 'a cold single-thread comparison');
    same(many, 'a cold pooled comparison');
    cold.push({ one, many, ratio: one.wallS / many.wallS });
  }
}

const ceiling = [];
if (!args.includes('--no-ceiling')) {
  for (let k = 0; k < pairs; k++) {
    const a = k % 2 === 0 ? (await warmProcesses(1))[0] : null;
    const many = await warmProcesses(workers);
    const one = a ?? (await warmProcesses(1))[0];
    for (const x of [one, ...many]) same(x, 'a single-thread comparison in a child process');
    const slowest = Math.max(...many.map((x) => x.wallS));
    ceiling.push({ one, many, slowest, ratio: (workers * one.wallS) / slowest });
  }
}

const runs = warm[0].one.runs;
console.log(`\nbench/parallel: compare(), ${runs} runs (${names.length} real traces, ${names.join(' and ')} × ${methodIds().length} methods × 3 write-time models × ${replicates} start offsets, 32 MiB/s, qemu-7.2-tcg)`);
console.log(`node ${process.version}; ${availableParallelism()} cores; every timed comparison gave the same runs byte for byte; ${pairs} pairs each, taken back to back\n`);
console.log(`| pair | warm: 1 thread s | warm: ${workers} workers s | ratio | cold: 1 thread s | cold: ${workers} workers s | ratio | ceiling: 1 process s | ${workers} processes at once s | ratio | CPU s (warm 1 / ${workers}; cold 1 / ${workers}) | load avg 1 min |`);
console.log('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|');
for (let k = 0; k < pairs; k++) {
  const w = warm[k];
  const c = cold[k];
  const e = ceiling[k];
  console.log(`| ${k + 1} | ${fmt(w.one.wallS)} | ${fmt(w.many.wallS)} | ${fmt(w.ratio)}× | ${c ? fmt(c.one.wallS) : '–'} | ${c ? fmt(c.many.wallS) : '–'} | ${c ? `${fmt(c.ratio)}×` : '–'} | ${e ? fmt(e.one.wallS) : '–'} | ${e ? e.many.map((x) => fmt(x.wallS)).join(', ') : '–'} | ${e ? `${fmt(e.ratio)}×` : '–'} | ${[w.one, w.many, ...(c ? [c.one, c.many] : [])].map((x) => x.cpuS.toFixed(1)).join(' / ')} | ${w.one.load.toFixed(1)} |`);
}
const summary = {
  runs,
  workers,
  pairs,
  warm: medianOf(warm.map((x) => x.ratio)),
  cold: cold.length ? medianOf(cold.map((x) => x.ratio)) : null,
  ceiling: ceiling.length ? medianOf(ceiling.map((x) => x.ratio)) : null,
};
console.log(`\nspeed-up, ${workers} workers vs 1 thread (median of ${pairs} pairs; target ≥ 1.8× on 2 cores): warm ${fmt(summary.warm)}×${summary.cold !== null ? `; cold ${fmt(summary.cold)}× (the CLI's case)` : ''}.`);
if (summary.ceiling !== null) console.log(`the machine's ceiling for this comparison (${workers} processes at once vs 1, nothing shared): ${fmt(summary.ceiling)}× — the warm pool reaches ${((summary.warm / summary.ceiling) * 100).toFixed(0)} % of it.`);
console.log('A 1-minute load average above the core count means other work shared the cores: the ratios then say little.');
console.log(JSON.stringify({ ...summary, pairsDetail: { warm: warm.map((x) => [x.one.wallS, x.many.wallS]), cold: cold.map((x) => [x.one.wallS, x.many.wallS]), ceiling: ceiling.map((x) => [x.one.wallS, x.many.map((y) => y.wallS)]) } }));
