#!/usr/bin/env node
// bench/engine: the replay engine at terabyte scale. A 2^28-page (1 TiB) guest on a 100 Gbit/s link;
// the guest writes ~26,000 pages per 100 ms epoch, 90 % into a 2^20-page hot set and the rest
// uniformly; a 5 s generated trace loops; qemu-precopy with an explicit --max-time. Then the same at
// 2^29 pages. Prints wall time, peak RSS, pages written + sent, and the cost per million of those
// events; the trace is generated before the clock starts and timed separately.
//
//   npm run bench:engine        (builds first)
//   node bench/engine.mjs [--pages-log2 28,29] [--max-time 400s]
import { Kernel } from '../dist/kernel/index.js';
import { generatedHeader, generateEpochs } from '../dist/trace/generate.js';
import { simulate } from '../dist/sim/simulate.js';
import { parseDurationMs } from '../dist/sim/units.js';

const args = process.argv.slice(2);
const opt = (name, dflt) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : dflt; };
const sizes = opt('--pages-log2', '28,29').split(',').map(Number);
const maxTimeMs = parseDurationMs(opt('--max-time', '400s'));
const LINK = 100e9 / 8; // 100 Gbit/s in bytes/s

const rows = [];
for (const log2 of sizes) {
  const pages = 2 ** log2;
  const g0 = performance.now();
  const gen = { kind: 'hotcold', pages, epochs: 50, epochMs: 100, rate: 260_000, seed: 1, hotFraction: 2 ** 20 / pages, hotProbability: 0.9 };
  const trace = { header: generatedHeader(gen), epochs: [...generateEpochs(gen)] };
  const genMs = performance.now() - g0;
  const kernel = await Kernel.load();
  const t0 = performance.now();
  const r = await simulate(trace, { method: 'qemu-precopy', bandwidth: LINK, linkBandwidth: LINK, maxTimeMs, kernel });
  const wallMs = performance.now() - t0;
  const events = r.extra.pagesWritten + r.pagesSent;
  rows.push({
    pages: `2^${log2}`, genS: genMs / 1000, wallS: wallMs / 1000, rssMiB: process.resourceUsage().maxRSS / 1024,
    written: r.extra.pagesWritten, sent: r.pagesSent, costMsPerM: wallMs / (events / 1e6),
    result: `${r.completed ? 'completed' : 'not completed'} (${r.stopReason}) in ${(r.totalTimeMs / 1000).toFixed(1)} simulated s, ${r.dirtySyncCount} syncs, downtime ${r.downtimeMs?.toFixed(1) ?? '–'} ms`,
  });
}
console.log('\nbench/engine: qemu-precopy, 100 Gbit/s, ~26,000 pages written per 100 ms (90 % in a 2^20-page hot set), 5 s trace looped');
console.log(`node ${process.version}; peak RSS is the process's maximum so far (it includes the earlier, smaller runs)\n`);
console.log('| guest pages | trace generation s | replay wall s | peak RSS MiB | pages written | pages sent | ms per million (written + sent) | simulated migration |');
console.log('|---|---:|---:|---:|---:|---:|---:|---|');
for (const x of rows) {
  console.log(`| ${x.pages} | ${x.genS.toFixed(2)} | ${x.wallS.toFixed(2)} | ${x.rssMiB.toFixed(0)} | ${x.written.toLocaleString('en-US')} | ${x.sent.toLocaleString('en-US')} | ${x.costMsPerM.toFixed(3)} | ${x.result} |`);
}
if (rows.length >= 2) console.log(`\ncost per million events, ${rows[1].pages} ÷ ${rows[0].pages}: ${(rows[1].costMsPerM / rows[0].costMsPerM).toFixed(2)} (target ≤ 1.3); replay at ${rows[0].pages}: ${rows[0].wallS.toFixed(2)} s (target ≤ 5 s), peak RSS ${rows[0].rssMiB.toFixed(0)} MiB (target ≤ 1024)`);
