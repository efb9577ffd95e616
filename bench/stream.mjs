#!/usr/bin/env node
// bench/stream: a multi-GiB .dpt through `inspect` and `simulate` (docs/dpt-format.md; issue 15 item 11).
// Generates a seeded hotcold trace with the project's own `dirtylab generate` (streamed to disk)
// until the file reaches --gib GiB, then, in the same run and on the same file:
//   1. a plain sequential read (fs.readSync, 8 MiB chunks) — the reference throughput;
//   2. `dirtylab inspect --json FILE` as a child process: wall time, throughput, peak RSS;
//   3. `dirtylab simulate FILE -m qemu-precopy --json` as a child process: wall time, peak RSS;
//   4. `dirtylab compare FILE` (qemu-precopy and postcopy, 12 runs on 2 workers): wall time, peak RSS.
// Warm: the file is in the page cache for 1 and 2 (a plain read is then a memory copy). With
// --cold (root only) 1 and 2 are measured again, each after dropping the page cache
// (/proc/sys/vm/drop_caches), so both read from the disk (which a virtual machine's host may still cache).
// Peak RSS is the child's own process.resourceUsage().maxRSS, reported at exit by bench/rss-child.mjs.
// Prints a table and one JSON line; exits 1 if a peak RSS exceeds --rss-limit-mib (default 1 GiB).
//
//   npm run bench:stream                     (builds first; 4 GiB in /tmp/stream-bench)
//   node bench/stream.mjs [--gib 4] [--dir /tmp/stream-bench] [--keep] [--cold] [--rss-limit-mib 1024]
//                         [--method qemu-precopy] [--max-time 60s] [--bandwidth 1GiB/s]
import { spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readSync, rmSync, statSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const args = process.argv.slice(2);
const opt = (name, dflt) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : dflt; };
const gib = Number(opt('--gib', '4'));
const dir = opt('--dir', '/tmp/stream-bench');
const keep = args.includes('--keep');
const cold = args.includes('--cold');
const rssLimitMiB = Number(opt('--rss-limit-mib', '1024'));
const method = opt('--method', 'qemu-precopy');
const maxTime = opt('--max-time', '60s');
const bandwidth = opt('--bandwidth', '1GiB/s');
const root = new URL('..', import.meta.url).pathname;

// The trace: a 4 GiB guest (2^20 pages), 100 ms epochs, 4 M writes/s, 25 % of the pages take 90 % of them.
const GEN = ['hotcold', '--pages', String(2 ** 20), '--epoch-ms', '100', '--rate', '4000000', '--hot-fraction', '0.25', '--seed', '15'];

/** Run dirtylab in a child that reports its peak RSS (KiB) on stderr at exit. */
function run(cmdArgs) {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [join(root, 'bench/rss-child.mjs'), ...cmdArgs], { encoding: 'utf8', maxBuffer: 1 << 28, stdio: ['ignore', 'pipe', 'pipe'] });
  const seconds = (performance.now() - t0) / 1000;
  const m = /@@maxrss (\d+)/.exec(r.stderr ?? '');
  if (r.status !== 0 || !m) throw new Error(`dirtylab ${cmdArgs.join(' ')} failed (exit ${r.status}): ${(r.stderr ?? '').slice(-2000)}`);
  return { seconds, rssMiB: Number(m[1]) / 1024, stdout: r.stdout };
}

/** Read a file front to back (8 MiB chunks); seconds taken. */
function plainRead(path) {
  const buf = Buffer.allocUnsafe(8 << 20);
  const fd = openSync(path, 'r');
  const t0 = performance.now();
  let pos = 0;
  let sum = 0;
  for (;;) {
    const n = readSync(fd, buf, 0, buf.length, pos);
    if (n === 0) break;
    sum += buf[0]; // touch the data
    pos += n;
  }
  closeSync(fd);
  return { seconds: (performance.now() - t0) / 1000, bytes: pos, sum };
}

mkdirSync(dir, { recursive: true });
const target = gib * 2 ** 30;
// Size the trace: bytes per epoch from a short sample of the same seeded trace.
const sample = join(dir, 'sample.dpt');
run(['generate', ...GEN, '--epochs', '20', '-o', sample]);
const perEpoch = statSync(sample).size / 20;
rmSync(sample);
const epochs = Math.ceil((target * 1.01) / perEpoch);
const file = join(dir, `stream-${gib}gib.dpt`);
let genS = null;
if (!existsSync(file) || statSync(file).size < target) {
  const g = run(['generate', ...GEN, '--epochs', String(epochs), '-o', file]);
  genS = g.seconds;
}
const size = statSync(file).size;
/** Drop the page cache (root only): the next read comes from the disk. */
function dropCaches() {
  closeSync(openSync(file, 'r'));
  spawnSync('sync');
  writeFileSync('/proc/sys/vm/drop_caches', '3');
}
let coldPlain = null;
let coldInspect = null;
if (cold) {
  dropCaches();
  coldPlain = plainRead(file);
  dropCaches();
  coldInspect = run(['inspect', '--json', file]);
}
plainRead(file); // warm the page cache: the measurements below read from memory
const plain = plainRead(file);
const inspect = run(['inspect', '--json', file]);
const summary = JSON.parse(inspect.stdout);
const sim = run(['simulate', file, '-m', method, '--bandwidth', bandwidth, '--max-time', maxTime, '--json']);
const result = JSON.parse(sim.stdout);
// compare streams it too: 2 methods × 2 start offsets × 3 write-time models on 2 workers.
const cmpOut = join(dir, 'compare-out');
const cmp = run(['compare', file, '--methods', `${method},postcopy`, '--replicates', '2', '--bandwidth', bandwidth, '--max-time', maxTime, '--workers', '2', '--out', cmpOut, '--quiet', '--json']);
rmSync(cmpOut, { recursive: true, force: true });
if (!keep) rmSync(file);

const mb = (b, s) => b / 1e6 / s;
const pagesWritten = summary.epochs * summary.pagesPerEpoch.mean;
const rows = [
  ['trace', `${(size / 2 ** 30).toFixed(2)} GiB, ${summary.epochs} epochs, ${(pagesWritten / 1e6).toFixed(0)} M pages written (${(size / pagesWritten).toFixed(2)} B/page)${genS !== null ? `; generated in ${genS.toFixed(0)} s` : ''}`],
  ['plain read', `${plain.seconds.toFixed(2)} s, ${mb(size, plain.seconds).toFixed(0)} MB/s`],
  ['inspect', `${inspect.seconds.toFixed(2)} s, ${mb(size, inspect.seconds).toFixed(0)} MB/s (${(pagesWritten / inspect.seconds / 1e6).toFixed(0)} M pages/s), ratio ${(plain.seconds / inspect.seconds).toFixed(3)}× plain read; peak RSS ${inspect.rssMiB.toFixed(0)} MiB`],
  ...(cold ? [
    ['cold read', `${coldPlain.seconds.toFixed(2)} s, ${mb(size, coldPlain.seconds).toFixed(0)} MB/s (page cache dropped first)`],
    ['cold insp.', `${coldInspect.seconds.toFixed(2)} s, ${mb(size, coldInspect.seconds).toFixed(0)} MB/s, ratio ${(coldPlain.seconds / coldInspect.seconds).toFixed(3)}× cold read; peak RSS ${coldInspect.rssMiB.toFixed(0)} MiB`],
  ] : []),
  ['simulate', `${method} at ${bandwidth}, --max-time ${maxTime}: ${sim.seconds.toFixed(2)} s; peak RSS ${sim.rssMiB.toFixed(0)} MiB; ${result.completed ? 'completed' : 'not completed'} (${result.stopReason}), ${result.dirtySyncCount} syncs, ${result.pagesSent} pages sent`],
  ['compare', `${method} and postcopy × 2 start offsets × 3 write-time models, 2 workers: ${cmp.seconds.toFixed(2)} s (report included); peak RSS ${cmp.rssMiB.toFixed(0)} MiB`],
];
console.log(`\nbench/stream (node ${process.version}; file in the page cache for every step)`);
for (const [k, v] of rows) console.log(`${k.padEnd(10)}  ${v}`);
const out = {
  fileBytes: size, epochs: summary.epochs, pagesWritten, plainReadMBps: mb(size, plain.seconds), inspectMBps: mb(size, inspect.seconds),
  ratio: plain.seconds / inspect.seconds, inspectSeconds: inspect.seconds, inspectRssMiB: inspect.rssMiB, simulateSeconds: sim.seconds, simulateRssMiB: sim.rssMiB, compareSeconds: cmp.seconds, compareRssMiB: cmp.rssMiB, generateSeconds: genS,
  ...(cold ? { coldReadMBps: mb(size, coldPlain.seconds), coldInspectMBps: mb(size, coldInspect.seconds), coldRatio: coldPlain.seconds / coldInspect.seconds, coldInspectRssMiB: coldInspect.rssMiB } : {}),
};
console.log(JSON.stringify(out));
const over = [['inspect', inspect.rssMiB], ['simulate', sim.rssMiB], ['compare', cmp.rssMiB], ...(cold ? [['inspect (cold)', coldInspect.rssMiB]] : [])].filter(([, r]) => r > rssLimitMiB);
if (over.length) {
  console.error(`peak RSS over ${rssLimitMiB} MiB: ${over.map(([n, r]) => `${n} ${r.toFixed(0)} MiB`).join(', ')}`);
  process.exitCode = 1;
}
