#!/usr/bin/env node
// Long fuzz campaigns (issue 15 item 12): `npm run fuzz -- --cases N [--seed S]
// [--minutes M] [--target NAME,…] [--out DIR] [--json] [--wall-hangs]`. A hang is
// a case over 5 s of CPU time (--wall-hangs: of wall time). Runs every reader in-process on
// dist/ (build first), prints per target the cases, crashes (would be exit 3),
// hangs, peak RSS and the distinct refusal messages; crashing inputs go to
// DIR (default fuzz-out/) as files to turn into fixtures.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { campaign, targets } from './fuzz-core.mjs';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const cases = Number(opt('cases', '1000'));
const seed = Number(opt('seed', '1'));
const minutes = Number(opt('minutes', 'Infinity'));
const only = opt('target', null);
const outDir = opt('out', 'fuzz-out');
const json = args.includes('--json'); // also write DIR/<target>.summary.json
const ts = await targets();
let bad = 0;
for (const t of ts) {
  if (only && !only.split(',').includes(t.name)) continue;
  const start = Date.now();
  let last = start;
  // A progress line on stderr every 60 s (long campaigns).
  const onCase = (done) => {
    if ((done & 255) !== 0 || Date.now() - last < 60000) return;
    last = Date.now();
    process.stderr.write(`  ${t.name}: ${done} cases, ${((last - start) / 60000).toFixed(1)} min\n`);
  };
  const r = await campaign(t, { cases, seed, budgetMs: minutes * 60000, TraceError: ts.TraceError, onCase, cpuHangs: !args.includes('--wall-hangs') });
  console.log(`${t.name}: ${r.cases} cases in ${(r.ms / 1000).toFixed(1)} s (${(r.ms / r.cases).toFixed(2)} ms/case wall, ${(r.cpuMs / r.cases).toFixed(2)} ms/case CPU, slowest ${r.slowestMs} ms wall / ${r.slowestCpuMs} ms CPU), ${r.accepted} accepted, ${r.refused} refused, ${r.crashCount} crashes, ${r.hangCount} hangs (> 5 s ${args.includes('--wall-hangs') ? 'wall' : 'CPU'}; ${r.slowWall} cases > 5 s wall), peak RSS ${(r.peakRss / 2 ** 20).toFixed(0)} MiB, ${r.messages.size} distinct messages`);
  if (json) {
    mkdirSync(outDir, { recursive: true });
    writeFileSync(join(outDir, `${t.name}.summary.json`), JSON.stringify({ ...r, seed, messages: [...r.messages.entries()].sort((a, b) => b[1] - a[1]), crashes: r.crashes.map((c) => ({ kind: c.kind, error: c.error })), hangs: r.hangs.map((h) => ({ kind: h.kind, ms: h.ms })) }, null, 1));
  }
  for (const [m, n] of [...r.messages.entries()].sort((a, b) => b[1] - a[1])) console.log(`  ${String(n).padStart(7)}  ${m}`);
  if (r.crashes.length || r.hangs.length) {
    mkdirSync(outDir, { recursive: true });
    r.crashes.forEach((c, i) => { console.log(`  CRASH (${c.kind}): ${c.error}`); writeFileSync(join(outDir, `${t.name}-crash-${i}.bin`), Buffer.from(c.input, 'base64')); });
    r.hangs.forEach((h, i) => { console.log(`  HANG (${h.kind}): ${h.ms} ms wall, ${h.cpuMs} ms CPU`); writeFileSync(join(outDir, `${t.name}-hang-${i}.bin`), Buffer.from(h.input, 'base64')); });
    bad += r.crashCount + r.hangCount;
  }
}
ts.cleanup();
process.exitCode = bad > 0 ? 1 : 0;
