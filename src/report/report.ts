/**
 * The comparison's outputs (DESIGN §5–6): the terminal answer and table,
 * runs.jsonl, summary.json/.csv/.arrow, charts/*.svg|png and one
 * self-contained report.html (vega, vega-lite and vega-embed inlined; nothing
 * fetched). Everything is a pure function of the runs and the summary, so the
 * same seed gives byte-identical files and merged shards equal one machine.
 */
import { checkOutputDir } from '../trace/node.js';
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as aq from 'arquero';
import type { Kernel } from '../kernel/index.js';
import type { CompareRuns, CompareTrace, RunRow } from '../stats/compare.js';
import { fmtBw, METRICS, type Cell, type CompareSummary, type Comparison } from '../stats/summary.js';
import { summarizeTrace } from '../trace/views.js';
import { distributionChart } from './charts/distributions.js';
import { heatCells, heatmapChart } from './charts/heatmap.js';
import { paretoChart } from './charts/pareto.js';
import { roundsChart, type RoundPoint } from './charts/rounds.js';
import { wtChart, type WtChartPoint } from './charts/wt.js';
import { stallChart } from './charts/stall.js';
import { resolveMethod } from '../sim/simulate.js';
import type { Spec } from './charts/common.js';
import { toPng, toSvg, vegaScripts } from './render.js';

const f1 = (x: number | null | undefined, d = 1) => (x === null || x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(d));
const condKey = (c: { trace: string; bandwidthBytesPerSec: number; downtimeLimitMs: number }) => `${c.trace}|${c.bandwidthBytesPerSec}|${c.downtimeLimitMs}`;

/** Digits that keep a value readable and short: 0 from 100 up, 1 from 10, else `d`. */
function digits(v: number, d: number): number {
  const a = Math.abs(v);
  return a >= 100 ? 0 : a >= 10 ? Math.min(d, 1) : d;
}

function ci(s: { median: number | null; ci: [number, number] | null }, scale = 1, d = 1): string {
  if (s.median === null) return '–';
  const k = digits(s.median / scale, d);
  const hi = s.ci![1] === Infinity ? '∞' : f1(s.ci![1] / scale, k); // a CI that reaches runs that did not complete
  return `${f1(s.median / scale, k)} [${f1(s.ci![0] / scale, k)},${hi}]`;
}

const SHIP_TAG: Record<string, string> = { qemu: 'QEMU', xen: 'Xen' };

function ratio(v: number | null | undefined): string {
  if (v === null) return '∞'; // the method's runs did not complete: +∞ against the baseline
  if (v === undefined || !Number.isFinite(v)) return '–';
  return f1(v, digits(v, 2));
}

function cmpOf(sum: CompareSummary, cell: Cell, metric = 'downtimeMs'): Comparison | undefined {
  return sum.comparisons.find((c) => c.metric === metric && c.method === cell.method && condKey(c) === condKey(cell));
}

/** Word-wrap prose to `width` columns, continuation lines indented. */
function wrap(text: string, width = 100): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && line.length + 1 + word.length > width) { lines.push(line); line = `  ${word}`; }
    else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines;
}

/** The answer and the table, for a terminal of 100 columns. */
export function renderTerminal(sum: CompareSummary): string {
  const out: string[] = [];
  for (const r of sum.recommendations) out.push(...wrap(`Recommendation: ${r.text}`));
  if (sum.recommendations.length === 0) out.push(`Recommendation: none — no method completed every run within the downtime limit${sum.spec.deployable ? ' among those QEMU/libvirt ship' : ''}`);
  for (const [k, pts] of new Map(sum.pareto.map((p) => [condKey(p), sum.pareto.filter((q) => condKey(q) === condKey(p))]))) {
    const [tr, bw, dl] = k.split('|');
    out.push(...wrap(`Pareto set, ${tr} at ${fmtBw(Number(bw))}, downtime-limit ${dl} ms (downtime × time × bytes; differences inside the CIs are ties): ${pts.map((p) => `${p.method} (${f1(p.downtimeMs)} ms, ${f1(p.totalTimeMs / 1000, 2)} s, ${f1(p.transferredBytes / 1e6, 0)} MB)`).join('; ')}`));
  }
  const guest = sum.cells.some((c) => c.maxThrottlePct > 0 || (c.guestStallMs.median ?? 0) > 0.5);
  const conds = [...new Map(sum.cells.map((c) => [condKey(c), c])).values()];
  const used = new Set<string>();
  for (const c of conds) {
    out.push('');
    const allDone = sum.cells.filter((x) => condKey(x) === condKey(c)).every((x) => x.completionRate === 1);
    out.push(`${c.trace} · ${fmtBw(c.bandwidthBytesPerSec)} · downtime-limit ${c.downtimeLimitMs} ms · ${sum.spec.replicates} start offsets · medians [95 % CI]${allDone ? ' · every run completed' : ''}`);
    const head = ['method', 'downtime ms', 'total s', 'MB sent', ...(guest ? ['guest'] : []), ...(allDone ? [] : ['done']), '×base', 'flags'];
    const rows = sum.cells.filter((x) => condKey(x) === condKey(c)).map((x) => {
      const k = cmpOf(sum, x);
      for (const f of x.flags) used.add(f);
      return [
        `${x.method}${x.ships ? '' : '·'}`, ci(x.downtimeMs), ci(x.totalTimeMs, 1000, 2), ci(x.transferredBytes, 1e6, 0),
        ...(guest ? [`${x.maxThrottlePct}/${x.guestStallMs.median === null ? '–' : f1(x.guestStallMs.median / 1000, 1)}s`] : []),
        ...(allDone ? [] : [`${Math.round(x.completionRate * 100)}%`]),
        x.method === sum.spec.baseline ? 'base ' : `${ratio(k?.ratio)}${k?.pHolm !== null && k?.pHolm !== undefined && k.pHolm < 0.05 ? '*' : ' '}`,
        x.flags.map((f) => (f === 'looped' ? `looped×${x.loopedRuns}` : f)).join(','),
      ];
    });
    const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    out.push(head.map((h, i) => (i === 0 || i === head.length - 1 ? h.padEnd(w[i]!) : h.padStart(w[i]!))).join(' ').trimEnd());
    for (const r of rows) {
      const line = r.map((v, i) => (i === 0 || i === head.length - 1 ? v.padEnd(w[i]!) : v.padStart(w[i]!))).join(' ').trimEnd();
      if ([...line].length <= 100) { out.push(line); continue; }
      // Too wide with its flags: the flags go on a line of their own, under the row.
      out.push(r.slice(0, -1).map((v, i) => (i === 0 ? v.padEnd(w[i]!) : v.padStart(w[i]!))).join(' ').trimEnd());
      out.push(`  ↳ ${r[r.length - 1]}`);
    }
  }
  out.push('');
  out.push(...wrap(`×base: median per-pair downtime ratio to ${sum.spec.baseline}, * where the paired Wilcoxon signed-rank test on downtime, Holm-adjusted over this table's methods, gives p < 0.05 (p-values in summary.json and report.html). "·" marks a research method (the others ship in QEMU/libvirt or Xen today).${guest ? ' guest: max CPU throttle % / the median guest time lost to the method (throttle, faults; setup not counted).' : ''} "–": under half the runs completed (a median counts runs that did not complete as +∞). ${sum.intervals}; ${sum.bootstrap}.`));
  for (const f of used) {
    const most = Math.max(...sum.cells.map((x) => x.maxLoops));
    const extra = f === 'looped' ? ` (looped×N: N runs did; the most any run replayed it: ${most === 1 ? 'once' : `${most} times`})` : '';
    out.push(...wrap(`${f}: ${sum.flagLegend[f as keyof typeof sum.flagLegend]}${extra}.`));
  }
  return out.join('\n');
}

/** summary.csv: one row per trace × condition × method. */
export function summaryCsv(sum: CompareSummary): string {
  const rows = sum.cells.map((c) => {
    const row: Record<string, unknown> = {
      trace: c.trace, bandwidth_bytes_per_s: c.bandwidthBytesPerSec, downtime_limit_ms: c.downtimeLimitMs, method: c.method,
      runs: c.runs, completed: c.completed, completion_rate: c.completionRate, convergence_rate: c.convergenceRate,
      max_throttle_pct: c.maxThrottlePct, ships: c.ships ?? 'research', flags: c.flags.join(' '), looped_runs: c.loopedRuns,
    };
    for (const m of METRICS) {
      const s = c[m];
      Object.assign(row, { [`${m}_median`]: s.median, [`${m}_q1`]: s.q1, [`${m}_q3`]: s.q3, [`${m}_mean`]: s.mean, [`${m}_ci_lo`]: s.ci?.[0] ?? null, [`${m}_ci_hi`]: s.ci && Number.isFinite(s.ci[1]) ? s.ci[1] : null });
      const k = cmpOf(sum, c, m);
      Object.assign(row, { [`${m}_ratio`]: k?.ratio ?? null, [`${m}_median_diff`]: k?.medianDiff ?? null, [`${m}_p_holm`]: k?.pHolm ?? null, [`${m}_win_rate`]: k?.winRate ?? null });
    }
    return row;
  });
  return aq.from(rows).toCSV();
}

/** summary.arrow (Arrow IPC stream) of the same table. */
export function summaryArrow(sum: CompareSummary): Uint8Array {
  const csv = summaryCsv(sum);
  return aq.fromCSV(csv).toArrowIPC() as Uint8Array;
}

/** The chart specs of a comparison, by file name. */
export async function chartSpecs(sum: CompareSummary, runs: RunRow[], traces: CompareTrace[], kernel: Kernel): Promise<Record<string, Spec>> {
  const specs: Record<string, Spec> = {};
  const main = runs.filter((r) => !r.band);
  const first = main[0];
  for (const t of traces) {
    const pts: RoundPoint[] = [];
    for (const r of main.filter((x) => x.trace === t.name && x.replicate === 0 && x.bandwidthBytesPerSec === first?.bandwidthBytesPerSec && x.downtimeLimitMs === first?.downtimeLimitMs)) {
      for (const x of r.result.rounds) {
        pts.push({ method: r.method, sync: x.sync, measure: 'dirty pages found', pages: x.dirtyPages });
        pts.push({ method: r.method, sync: x.sync, measure: 'pages sent', pages: x.pagesSent });
      }
    }
    specs[`rounds-${t.name}`] = roundsChart(t.name, pts);
    specs[`heatmap-${t.name}`] = heatmapChart(t.name, heatCells(t.trace));
  }
  const done = main.filter((r) => r.result.completed);
  for (const [metric, title, axis, scale] of [['downtimeMs', 'Downtime per run', 'downtime (ms)', 1], ['totalTimeMs', 'Total migration time per run', 'total time (s)', 1000]] as const) {
    specs[metric === 'downtimeMs' ? 'downtime' : 'total-time'] = distributionChart(
      `${title} (dots: runs that completed; black: median and 95 % CI)`, axis,
      done.map((r) => ({ method: r.method, trace: r.trace, value: (r.result[metric] as number) / scale })),
      sum.cells.filter((c) => c[metric].median !== null).map((c) => ({ method: c.method, trace: c.trace, median: c[metric].median! / scale, lo: c[metric].ci![0] / scale, hi: c[metric].ci![1] / scale })),
    );
  }
  const onFront = new Set(sum.pareto.map((p) => `${condKey(p)}|${p.method}`));
  specs.pareto = paretoChart(sum.cells.filter((c) => c.completionRate === 1 && c.downtimeMs.median !== null).map((c) => ({
    trace: c.trace, method: c.method, downtimeMs: c.downtimeMs.median!, totalTimeS: c.totalTimeMs.median! / 1000, mb: c.transferredBytes.median! / 1e6, pareto: onFront.has(`${condKey(c)}|${c.method}`),
  })));
  const stallMethods = new Set(['postcopy', 'hybrid', 'qemu-precopy']);
  const stall = done.filter((r) => stallMethods.has(r.method) && r.result.downtimeMs !== null);
  if (stall.some((r) => r.method !== 'qemu-precopy')) {
    specs.stall = stallChart(stall.map((r) => ({ trace: r.trace, method: r.method, downtimeMs: r.result.downtimeMs!, guestStallMs: r.result.guestStallMs, faults: r.result.remoteFaults })));
  }
  const wt: WtChartPoint[] = [];
  for (const t of traces) {
    async function* eps() { yield* t.trace.epochs; }
    const s = await summarizeTrace(t.trace.header, eps(), kernel, { windowsMs: [100, 200, 400, 700, 1000, 2000, 4000, 7000, 10000] });
    for (const p of s.wt) if (p.pages !== null) wt.push({ trace: t.name, windowS: p.windowMs / 1000, pages: p.pages });
  }
  specs.wt = wtChart(wt);
  return specs;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const safeScript = (s: string) => s.replace(/<\/script/gi, '<\\/script').replace(/<!--/g, '<\\!--');

/** One self-contained, offline, interactive report.html. */
export function reportHtml(sum: CompareSummary, specs: Record<string, Spec>, versions: Record<string, string>, calibration: Record<string, { value: number; unit: string; source: string }> | null): string {
  const conds = [...new Map(sum.cells.map((c) => [condKey(c), c])).values()];
  const tables = conds.map((c) => {
    const rows = sum.cells.filter((x) => condKey(x) === condKey(c)).map((x) => {
      const k = cmpOf(sum, x);
      return `<tr><td>${esc(x.method)} <small>${x.ships ? SHIP_TAG[x.ships] : 'research'}</small>${x.flags.length ? ` <b>${esc(x.flags.join(', '))}</b>` : ''}</td><td>${ci(x.downtimeMs)}</td><td>${ci(x.totalTimeMs, 1000, 2)}</td><td>${ci(x.transferredBytes, 1e6, 1)}</td><td>${x.maxThrottlePct} / ${f1((x.guestStallMs.median ?? 0) / 1000, 2)}</td><td>${Math.round(x.completionRate * 100)} %</td><td>${Math.round(x.convergenceRate * 100)} %</td><td>${x.method === sum.spec.baseline ? 'baseline' : `${f1(k?.ratio, 3)} [${f1(k?.ratioCI?.[0], 3)}, ${f1(k?.ratioCI?.[1], 3)}]`}</td><td>${x.method === sum.spec.baseline ? '' : k?.pHolm === null || k?.pHolm === undefined ? '–' : k.pHolm.toPrecision(2)}</td><td>${x.method === sum.spec.baseline ? '' : f1(k?.winRate, 2)}</td></tr>`;
    }).join('\n');
    return `<h3>${esc(c.trace)} · ${fmtBw(c.bandwidthBytesPerSec)} · downtime-limit ${c.downtimeLimitMs} ms</h3>
<table><thead><tr><th>method</th><th>downtime ms</th><th>total s</th><th>MB sent</th><th>max throttle % / guest stall s</th><th>completed</th><th>converged</th><th>downtime ratio to ${esc(sum.spec.baseline)} [CI]</th><th>Holm p</th><th>win rate</th></tr></thead><tbody>
${rows}</tbody></table>`;
  }).join('\n');
  const band = sum.cells.filter((c) => c.band).map((c) => `<tr><td>${esc(c.trace)}</td><td>${esc(c.method)}</td><td>${f1(c.band!.start.downtimeMs)} – ${f1(c.band!.end.downtimeMs)}</td><td>${f1((c.band!.start.totalTimeMs ?? NaN) / 1000, 2)} – ${f1((c.band!.end.totalTimeMs ?? NaN) / 1000, 2)}</td></tr>`).join('\n');
  const charts = Object.keys(specs).map((name, i) => `<figure><div id="chart${i}" class="chart"></div><figcaption>${esc(name)}</figcaption></figure>`).join('\n');
  const cal = calibration ? Object.entries(calibration).map(([k, v]) => `<li>${esc(k)} = ${v.value} ${esc(v.unit)} — ${esc(v.source)}</li>`).join('') : '<li>ideal host (no host constants)</li>';
  const [vegaJs, vlJs, embedJs] = vegaScripts();
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>dirtylab report</title>
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; style-src 'unsafe-inline'; img-src data:">
<style>body{font-family:DejaVu Sans,Helvetica,Arial,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:13px}th,td{border-bottom:1px solid #ddd;padding:3px 8px;text-align:right}th:first-child,td:first-child{text-align:left}
.answer{font-size:1.15em;background:#eef6ee;border-left:4px solid #3a3;padding:.6em 1em}code{background:#f4f4f4;padding:1px 4px}figure{margin:1em 0}.chart{min-height:100px}</style>
<script>${safeScript(vegaJs!)}</script>
<script>${safeScript(vlJs!)}</script>
<script>${safeScript(embedJs!)}</script>
</head><body>
<h1>Which live-migration method?</h1>
${sum.recommendations.map((r) => `<p class="answer">${esc(r.text)}</p>`).join('\n') || '<p class="answer">No method completed every run under any condition.</p>'}
<p>Pareto set (no method is better in downtime, total time and bytes at once): ${sum.pareto.map((p) => `<b>${esc(p.method)}</b> (${esc(p.trace)}: ${f1(p.downtimeMs)} ms, ${f1(p.totalTimeMs / 1000, 2)} s, ${f1(p.transferredBytes / 1e6, 1)} MB)`).join('; ') || '–'}.</p>
<h2>The methods</h2>
<ul>${sum.spec.methods.map((m) => { const { method } = resolveMethod(m); return `<li><b>${esc(m)}</b> — ${esc(method.summary)} <small>(${esc(method.source)})</small></li>`; }).join('\n')}</ul>
<h2>Results</h2>
<p>Medians with 95 % confidence intervals; runs that did not complete are counted, not averaged, and rank last in the paired tests.</p>
${tables}
<h2>What the intervals cover</h2>
<p>${esc(sum.intervals)}. Intervals: ${esc(sum.bootstrap)}. Tests: ${esc(sum.wilcoxon)}; Holm adjustment over one family per metric.</p>
<h2>Write-time band</h2>
<p>Within an epoch the order of writes is unknown. The results above place each write at a hashed instant (write-time=uniform); this band gives the medians with every write at its epoch's start (pessimistic for pre-copy) and at its end (optimistic).</p>
<table><thead><tr><th>trace</th><th>method</th><th>downtime ms (start – end)</th><th>total s (start – end)</th></tr></thead><tbody>
${band}</tbody></table>
<h2>Charts</h2>
${charts}
<h2>How this was made</h2>
<p><code>${esc(sum.spec.command || 'dirtylab compare')}</code></p>
<ul>${Object.entries(versions).map(([k, v]) => `<li>${esc(k)} ${esc(v)}</li>`).join('')}<li>seed ${sum.spec.seed}; ${sum.spec.replicates} replicates; traces: ${sum.spec.traces.map((t) => `${esc(t.name)} (SHA-256 ${esc(t.sha256 ?? '–')})`).join(', ')}</li></ul>
<p>Calibration ${esc(sum.spec.calibration ?? 'ideal')}:</p><ul>${cal}</ul>
<script>
const specs = ${safeScript(JSON.stringify(Object.values(specs)))};
specs.forEach((s, i) => vegaEmbed('#chart' + i, s, { actions: false, renderer: 'svg' }).catch((e) => { document.getElementById('chart' + i).textContent = 'chart failed: ' + e; }));
</script>
</body></html>
`;
}

/** Write files into dir atomically: all to a temporary directory first, then each renamed into place. */
export function writeFilesAtomic(dir: string, files: Record<string, string | Uint8Array>): void {
  checkOutputDir(dir);
  mkdirSync(dir, { recursive: true });
  const tmp = join(dir, `.dirtylab-tmp-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  try {
    for (const [name, data] of Object.entries(files)) {
      const p = join(tmp, name);
      mkdirSync(join(p, '..'), { recursive: true });
      writeFileSync(p, data);
    }
    for (const name of Object.keys(files)) {
      const target = join(dir, name);
      mkdirSync(join(target, '..'), { recursive: true });
      renameSync(join(tmp, name), target);
    }
  } finally {
    if (existsSync(tmp)) rmSync(tmp, { recursive: true, force: true });
  }
}

/** runs.jsonl: one run per line with its grid coordinates and the grid's definition. */
export function runsJsonl(r: CompareRuns): string {
  return r.runs.map((x) => JSON.stringify({ ...x, spec: r.spec })).join('\n') + (r.runs.length ? '\n' : '');
}

/** Every output file of a comparison, by relative path. */
export async function reportFiles(r: CompareRuns, sum: CompareSummary, traces: CompareTrace[], kernel: Kernel, versions: Record<string, string>, calibration: Record<string, { value: number; unit: string; source: string }> | null): Promise<Record<string, string | Uint8Array>> {
  const files: Record<string, string | Uint8Array> = {
    'runs.jsonl': runsJsonl(r),
    'summary.json': JSON.stringify(sum, null, 2) + '\n',
    'summary.csv': summaryCsv(sum),
    'summary.arrow': summaryArrow(sum),
  };
  const specs = await chartSpecs(sum, r.runs, traces, kernel);
  for (const [name, spec] of Object.entries(specs)) {
    const svg = await toSvg(spec);
    files[`charts/${name}.svg`] = svg;
    files[`charts/${name}.png`] = toPng(svg);
  }
  files['report.html'] = reportHtml(sum, specs, versions, calibration);
  return files;
}
