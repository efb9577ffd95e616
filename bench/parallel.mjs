#!/usr/bin/env node
// bench/parallel: one comparison of ~1,000 runs — the `npm start` comparison (the medium and heavy
// real traces in data/, every method, 32 MiB/s, qemu-7.2-tcg) with 12 start offsets: 2 traces × 14
// methods × 3 write-time models × 12 = 1,008 runs — in this thread (workers: 1) and over a pool of 2
// worker threads, timed wall-clock from compare() call to result (the pool's start-up and the
// trace transfer included). Prints both wall times, the speed-up ratio (target ≥ 1.8× on a 2-core
// machine), the process CPU time of each, and the load average around each run, since a busy machine
// makes any ratio meaningless; checks that both give the same runs byte for byte.
//
//   npm run bench:parallel        (builds first)
//   node bench/parallel.mjs [--workers 2] [--replicates 12] [--rounds 1]
import { availableParallelism, loadavg } from 'node:os';
import { compare } from '../dist/stats/compare.js';
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

async function timed(w) {
  const load = loadavg()[0];
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const r = await compare({ ...options, workers: w });
  const wallS = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return { r, wallS, cpuS: (cpu.user + cpu.system) / 1e6, load: [load, loadavg()[0]] };
}

const rows = [];
await compare({ ...options, replicates: 1, methods: ['precopy'] }); // warm the kernel and the JIT before timing
for (let k = 0; k < rounds; k++) {
  const one = await timed(1);
  const many = await timed(workers);
  if (JSON.stringify(one.r) !== JSON.stringify(many.r)) throw new Error('the pooled comparison differs from the single-thread one');
  rows.push({ one, many, ratio: one.wallS / many.wallS });
}

const runs = rows[0].one.r.runs.length;
console.log(`\nbench/parallel: compare(), ${runs} runs (${names.length} real traces, ${names.join(' and ')} × ${methodIds().length} methods × 3 write-time models × ${replicates} start offsets, 32 MiB/s, qemu-7.2-tcg)`);
console.log(`node ${process.version}; ${availableParallelism()} cores; the same runs byte for byte in every round\n`);
console.log(`| round | 1 thread wall s | ${workers} workers wall s | ratio | CPU s (1 / ${workers}) | load avg 1 min (before → after, 1 / ${workers}) |`);
console.log('|---:|---:|---:|---:|---:|---|');
rows.forEach((x, i) => console.log(`| ${i + 1} | ${x.one.wallS.toFixed(2)} | ${x.many.wallS.toFixed(2)} | ${x.ratio.toFixed(2)}× | ${x.one.cpuS.toFixed(1)} / ${x.many.cpuS.toFixed(1)} | ${x.one.load.map((l) => l.toFixed(1)).join(' → ')} / ${x.many.load.map((l) => l.toFixed(1)).join(' → ')} |`));
const ratios = rows.map((x) => x.ratio).sort((a, b) => a - b);
console.log(`\nspeed-up, ${workers} workers vs 1 thread: ${ratios[Math.floor(ratios.length / 2)].toFixed(2)}× (median of ${rows.length}; target ≥ 1.8× on 2 cores). A 1-minute load average above the core count means other work shared the cores: the ratio then says little.`);
