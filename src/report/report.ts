/**
 * The comparison's outputs (docs/outputs.md): the terminal answer and table,
 * runs.jsonl/.csv/.arrow, summary.json/.csv/.arrow, charts/*.svg|png and one
 * self-contained report.html (vega, vega-lite and vega-embed inlined; nothing
 * fetched). Everything is a pure function of the runs and the summary, so the
 * same seed gives byte-identical files and merged shards equal one machine.
 */
import { writeFilesAtomic } from '../trace/node.js';
import type { Kernel } from '../kernel/index.js';
import type { CompareRuns, CompareTrace, RunRow } from '../stats/compare.js';
import { fmtBw, OBJECTIVE_METRIC, type Cell, type CompareSummary } from '../stats/summary.js';
import { summarizeTrace } from '../trace/views.js';
import { iterEpochs } from '../trace/source.js';
import { distributionChart } from './charts/distributions.js';
import { heatCells, heatmapChart } from './charts/heatmap.js';
import { paretoChart } from './charts/pareto.js';
import { roundsChart, type RoundPoint } from './charts/rounds.js';
import { wtChart, type WtChartPoint } from './charts/wt.js';
import { stallChart } from './charts/stall.js';
import { resolveMethod } from '../sim/simulate.js';
import { methodStyle, type Spec } from './charts/common.js';
import { toPng, toSvg, vegaScripts } from './render.js';
import { cmpOf } from './csv.js';
import { runsArrow, runsCsv, summaryArrow, summaryCsv } from './tables.js';

export { runsArrow, runsCsv, summaryArrow, summaryCsv } from './tables.js';

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


function ratio(v: number | null | undefined): string {
  if (v === null) return '∞'; // the method's runs did not complete: +∞ against the baseline
  if (v === undefined || !Number.isFinite(v)) return '–';
  return f1(v, digits(v, 2));
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

/** A trace × condition in words, as the tables and chart panels title it. */
const condLabel = (c: { trace: string; bandwidthBytesPerSec: number; downtimeLimitMs: number }) => `${c.trace} · ${fmtBw(c.bandwidthBytesPerSec)} · downtime-limit ${c.downtimeLimitMs} ms`;

/** "a, b and c". */
const andList = (xs: string[]) => (xs.length <= 1 ? xs.join('') : `${xs.slice(0, -1).join(', ')} and ${xs[xs.length - 1]}`);

/**
 * The chart specs of a comparison, by file name. Every chart draws a method
 * in the same colour and shape (assigned in the comparison's method order),
 * durations on log axes with decade ticks, and runs that did not complete at
 * the axis's "did not complete" position rather than leaving them out.
 */
export async function chartSpecs(sum: CompareSummary, runs: RunRow[], traces: CompareTrace[], kernel: Kernel): Promise<Record<string, Spec>> {
  const specs: Record<string, Spec> = {};
  const methods = sum.spec.methods;
  const main = runs.filter((r) => !r.band);
  const first = main[0];
  for (const t of traces) {
    const pts: RoundPoint[] = [];
    const panels: Record<string, string> = {};
    for (const r of main.filter((x) => x.trace === t.name && x.replicate === 0 && x.bandwidthBytesPerSec === first?.bandwidthBytesPerSec && x.downtimeLimitMs === first?.downtimeLimitMs)) {
      const n = r.result.rounds.length;
      panels[r.method] = `${r.method}|${n} sync${n === 1 ? '' : 's'}${r.result.completed ? '' : ' · did not complete'}`;
      for (const x of r.result.rounds) {
        pts.push({ method: r.method, sync: x.sync, measure: 'dirty pages found', pages: x.dirtyPages });
        pts.push({ method: r.method, sync: x.sync, measure: 'pages sent', pages: x.pagesSent });
      }
    }
    const where = first ? `${fmtBw(first.bandwidthBytesPerSec)}, downtime-limit ${first.downtimeLimitMs} ms` : '';
    specs[`rounds-${t.name}`] = roundsChart(methods, panels, pts, `Pages per sync — ${t.name}`,
      `How each method's rounds shrink, or do not, on ${t.name} at ${where} (the first start offset): pages sent (solid) and dirty pages found (dashed) at each sync, one panel per method with its own sync axis.`);
    specs[`heatmap-${t.name}`] = heatmapChart(t.name, heatCells(t.trace));
  }
  const cells = sum.cells;
  const notDone = (metric: 'downtimeMs' | 'totalTimeMs') => {
    const dnf = cells.filter((c) => c.completionRate < 1).map((c) => `${c.method} on ${c.trace} (${c.completed}/${c.runs} runs)`);
    return dnf.length ? ` Runs that did not complete are hollow marks at "did not complete": ${andList(dnf)}.` : ' Every run completed.';
  };
  const limits = [...new Map(cells.map((c) => [condKey(c), c])).values()].map((c) => ({ condition: condLabel(c), ms: c.downtimeLimitMs, label: `downtime-limit ${c.downtimeLimitMs} ms` }));
  specs.downtime = distributionChart({
    title: 'Downtime per run', axisTitle: 'downtime', methods, unitMs: 1,
    caption: `Each mark is one run's downtime in the method's colour and shape, the black tick and bar its median and 95 % CI, the red dashed line the downtime limit, on a log axis.${notDone('downtimeMs')}`,
    points: main.map((r) => ({ method: r.method, condition: condLabel(r), valueMs: r.result.completed ? r.result.downtimeMs : null })),
    cis: cells.map((c) => ({ method: c.method, condition: condLabel(c), medianMs: c.downtimeMs.median, loMs: c.downtimeMs.ci?.[0] ?? Infinity, hiMs: c.downtimeMs.ci?.[1] ?? Infinity })),
    rules: limits,
  });
  specs['total-time'] = distributionChart({
    title: 'Total migration time per run', axisTitle: 'total time', methods, unitMs: 1000,
    caption: `Each mark is one run's total migration time in the method's colour and shape, the black tick and bar its median and 95 % CI, on a log axis.${notDone('totalTimeMs')}`,
    points: main.map((r) => ({ method: r.method, condition: condLabel(r), valueMs: r.result.completed ? r.result.totalTimeMs : null })),
    cis: cells.map((c) => ({ method: c.method, condition: condLabel(c), medianMs: c.totalTimeMs.median, loMs: c.totalTimeMs.ci?.[0] ?? Infinity, hiMs: c.totalTimeMs.ci?.[1] ?? Infinity })),
  });
  const onFront = new Set(sum.pareto.map((p) => `${condKey(p)}|${p.method}`));
  specs.pareto = paretoChart(methods, cells.map((c) => ({
    condition: condLabel(c), method: c.method, downtimeMs: c.downtimeMs.median, totalTimeMs: c.totalTimeMs.median,
    mb: c.transferredBytes.median === null ? null : c.transferredBytes.median / 1e6, pareto: onFront.has(`${condKey(c)}|${c.method}`), allCompleted: c.completionRate === 1,
  })), `Each method's median downtime against its median total time; ringed: the Pareto set (no method is better beyond the CIs in downtime, time and bytes at once); hollow: not every run completed; red dashed line: the downtime limit.${cells.some((c) => c.downtimeMs.median === null) ? ` At "did not complete": ${andList(cells.filter((c) => c.downtimeMs.median === null).map((c) => `${c.method} on ${c.trace}`))} (under half the runs completed).` : ''}`, limits);
  const stallMethods = new Set(['postcopy', 'hybrid', 'qemu-precopy']);
  const stall = main.filter((r) => stallMethods.has(r.method) && r.result.completed && r.result.downtimeMs !== null);
  if (stall.some((r) => r.method !== 'qemu-precopy')) {
    const left = main.filter((r) => stallMethods.has(r.method) && !r.result.completed);
    specs.stall = stallChart(methods, stall.map((r) => ({ condition: condLabel(r), method: r.method, downtimeMs: r.result.downtimeMs!, guestStallMs: r.result.guestStallMs, faults: r.result.remoteFaults })),
      `Post-copy and hybrid trade downtime for guest time lost to remote page faults; each mark is one run, with QEMU pre-copy for reference, both axes log (a zero is drawn at the axis's start).${left.length ? ` Not drawn: ${left.length} run${left.length === 1 ? '' : 's'} that did not complete (${andList([...new Set(left.map((r) => `${r.method} on ${r.trace}`))])}).` : ''}`);
  }
  const wt: WtChartPoint[] = [];
  for (const t of traces) {
    const s = await summarizeTrace(t.trace.header, iterEpochs(t.trace), kernel, { windowsMs: [100, 200, 400, 700, 1000, 2000, 4000, 7000, 10000] });
    for (const p of s.wt) if (p.pages !== null) wt.push({ trace: t.name, windowS: p.windowMs / 1000, pages: p.pages });
  }
  specs.wt = wtChart(wt);
  // The report's order: the answer's charts first, then each method's rounds, then the traces.
  const rank = (k: string) => ['downtime', 'total-time', 'pareto', 'stall', 'rounds-', 'heatmap-', 'wt'].findIndex((p) => k === p || (p.endsWith('-') && k.startsWith(p)));
  return Object.fromEntries(Object.entries(specs).sort((a, b) => rank(a[0]) - rank(b[0])));
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const safeScript = (s: string) => s.replace(/<\/script/gi, '<\\/script').replace(/<!--/g, '<\\!--');

/** The host the runs were simulated on: the profile line and each profile's constants. */
export interface ReportHost {
  /** "Host profile: qemu-7.2-tcg (final copy at 535.06 MiB/s)", as the terminal prints it. */
  profile: string;
  /** The constants of each profile used, by profile name. */
  constants: Record<string, Record<string, { value: number; unit: string; source: string }>>;
}

const TAG: Record<string, string> = { qemu: 'QEMU/libvirt', xen: 'Xen' };
const tagOf = (ships: 'qemu' | 'xen' | null) => `<span class="tag ${ships ?? 'research'}">${ships ? TAG[ships] : 'research'}</span>`;

/** The answer for one trace × condition: the best, the tie group as a list, the power note. */
function answerHtml(sum: CompareSummary, r: CompareSummary['recommendations'][number]): string {
  // The text's first part names the condition and the best; the tied methods and the note get their own lines.
  const head = r.text.split('; tied')[0]!.split('. Note: ')[0]!;
  const om = OBJECTIVE_METRIC[r.objective];
  const fmt = (v: number) => (om === 'totalTimeMs' ? `${f1(v / 1000, 2)} s` : om === 'transferredBytes' ? `${f1(v / 1e6, 1)} MB` : `${f1(v, digits(v, 1))} ms`);
  const items = r.tied.map((t, i) => `<li><b>${esc(t.method)}</b> ${tagOf(t.ships)} ${fmt(t.median)}${i === 0 ? ' (best)' : t.median === r.tied[0]!.median ? ', equal' : t.pHolm !== null ? `, Holm p ${t.pHolm.toPrecision(2)}` : ''}${t.flags.length ? ` <span class="flag">${esc(t.flags.join(', '))}</span>` : ''}</li>`);
  return `<div class="answer"><p>${esc(head)}.</p>
${r.tied.length > 1 ? `<p>Tied (no significant difference from the best, paired Wilcoxon with Holm), by median ${esc(om === 'downtimeMs' ? 'downtime' : om === 'totalTimeMs' ? 'total time' : om === 'transferredBytes' ? 'bytes' : 'guest cost')}:</p>` : ''}<ul class="tied">${items.join('')}</ul>
${r.power ? `<p class="note">Note: ${esc(r.power)}.</p>` : ''}</div>`;
}

/** One compact table per trace × condition. */
function tableHtml(sum: CompareSummary, c: Cell): string {
  const here = sum.cells.filter((x) => condKey(x) === condKey(c));
  const guest = here.some((x) => x.maxThrottlePct > 0 || (x.guestStallMs.median ?? 0) > 0.5);
  const rows = here.map((x) => {
    const k = cmpOf(sum, x);
    const base = x.method === sum.spec.baseline;
    const flags = x.flags.map((f) => (f === 'looped' ? `looped×${x.loopedRuns}` : f));
    if (x.completionRate < 1) flags.unshift(x.completed === 0 ? 'did not complete' : `${x.runs - x.completed} of ${x.runs} did not complete`);
    return `<tr${x.completionRate < 1 ? ' class="dnf"' : ''}><td>${esc(x.method)} ${tagOf(x.ships)}</td><td>${ci(x.downtimeMs)}</td><td>${ci(x.totalTimeMs, 1000, 2)}</td><td>${ci(x.transferredBytes, 1e6, 0)}</td>${guest ? `<td>${x.maxThrottlePct} / ${x.guestStallMs.median === null ? '–' : f1(x.guestStallMs.median / 1000, 2)}</td>` : ''}<td>${x.completed}/${x.runs}</td><td>${base ? 'baseline' : `${ratio(k?.ratio)} <small>[${ratio(k?.ratioCI?.[0])}, ${k?.ratioCI?.[1] === null || k?.ratioCI?.[1] === undefined ? '–' : ratio(k.ratioCI[1])}]</small>`}</td><td>${base ? '' : k?.pHolm === null || k?.pHolm === undefined ? '–' : k.pHolm.toPrecision(2)}</td><td>${base ? '' : f1(k?.winRate, 2)}</td>${x.band ? `<td>${f1(x.band.start.downtimeMs)} – ${f1(x.band.end.downtimeMs)}</td>` : ''}<td class="flags">${esc(flags.join(', '))}</td></tr>`;
  }).join('\n');
  return `<h3>${esc(condLabel(c))}</h3>
<table><thead><tr><th>method</th><th>downtime ms</th><th>total s</th><th>MB sent</th>${guest ? '<th title="max CPU throttle % / median guest time lost, s">guest % / s</th>' : ''}<th>completed</th><th>×${esc(sum.spec.baseline)} <small>[CI]</small></th><th>Holm p</th><th>win rate</th>${c.band ? '<th title="median downtime with every write at its epoch\'s start – at its end">band ms</th>' : ''}<th>flags</th></tr></thead><tbody>
${rows}</tbody></table>`;
}

/**
 * One self-contained, offline, interactive report.html, read top-down: the
 * answer and the flags, the host and what the intervals cover; one table per
 * trace × condition; the charts, each with a caption; then the methods with
 * their sources, how the report was made and the host's constants.
 */
export function reportHtml(sum: CompareSummary, specs: Record<string, Spec>, versions: Record<string, string>, host: ReportHost): string {
  const conds = [...new Map(sum.cells.map((c) => [condKey(c), c])).values()];
  const tables = conds.map((c) => tableHtml(sum, c)).join('\n');
  const charts = Object.entries(specs).map(([name, spec], i) => `<figure id="fig-${esc(name)}"><div id="chart${i}" class="chart"></div><figcaption><b>${esc(String((spec.title as { text?: string })?.text ?? name))}.</b> ${esc(String(spec.description ?? ''))} <small>(charts/${esc(name)}.svg, .png)</small></figcaption></figure>`).join('\n');
  const usedFlags = new Set(sum.cells.flatMap((c) => c.flags));
  const flagItems = (Object.keys(sum.flagLegend) as (keyof typeof sum.flagLegend)[]).map((f) => `<li><span class="flag">${f}</span> ${esc(sum.flagLegend[f])}${usedFlags.has(f) ? '' : ' (none here)'}</li>`).join('');
  const dnf = sum.cells.filter((c) => c.completionRate < 1);
  const cal = Object.entries(host.constants).map(([name, consts]) => `<h3>${esc(name)}</h3><ul>${Object.keys(consts).length ? Object.entries(consts).map(([k, v]) => `<li><code>${esc(k)}</code> = ${v.value} ${esc(v.unit)} — ${esc(v.source)}</li>`).join('') : '<li>no host constants (the ideal host)</li>'}</ul>`).join('\n');
  const methods = sum.spec.methods.map((m, i) => {
    const { method } = resolveMethod(m);
    const st = methodStyle(i);
    return `<li><span class="swatch" style="background:${st.colour}" title="${st.shape}"></span><b>${esc(m)}</b> ${tagOf(method.ships ?? null)} — ${esc(method.summary)}${method.approximation ? ` <i>Approximation:</i> ${esc(method.approximation)}` : ''} <small>Source: ${esc(method.source)}</small></li>`;
  }).join('\n');
  const [vegaJs, vlJs, embedJs] = vegaScripts();
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>dirtylab report</title>
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; style-src 'unsafe-inline'; img-src data:">
<style>body{font-family:DejaVu Sans,Helvetica,Arial,sans-serif;max-width:1240px;margin:1.5em auto;padding:0 1em;color:#222;line-height:1.4}
h1{margin-bottom:.3em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.6em}h3{margin:1em 0 .3em;font-size:1.05em}
table{border-collapse:collapse;margin:.3em 0 1.2em;font-size:12px}th,td{border-bottom:1px solid #e3e3e3;padding:2px 7px;text-align:right;white-space:nowrap}th{background:#f5f5f5}th:first-child,td:first-child{text-align:left}td.flags{text-align:left;color:#a33;white-space:normal;min-width:8em}tr.dnf td{background:#fdf0f0}
.answer{background:#eef6ee;border-left:4px solid #3a3;padding:.4em 1em;margin:.6em 0}.answer p{margin:.3em 0}.answer>p:first-child{font-size:1.1em}.tied{columns:2;margin:.2em 0;font-size:.95em}.note{font-size:.9em;color:#555}
.tag{font-size:.75em;border-radius:3px;padding:0 4px;background:#e4e9f7;color:#234}.tag.research{background:#eee;color:#555}.tag.xen{background:#f6ead8;color:#543}.flag{color:#a33;font-size:.9em}
code{background:#f4f4f4;padding:1px 4px}figure{margin:1.2em 0 2em}figcaption{max-width:900px;font-size:.92em;color:#333}.chart{min-height:100px}
.swatch{display:inline-block;width:.8em;height:.8em;margin-right:.4em;border-radius:2px}.methods li{margin:.3em 0}small{color:#666}</style>
<script>${safeScript(vegaJs!)}</script>
<script>${safeScript(vlJs!)}</script>
<script>${safeScript(embedJs!)}</script>
</head><body>
<h1>Which live-migration method?</h1>
<section id="answer">
${sum.recommendations.map((r) => answerHtml(sum, r)).join('\n') || `<p class="answer">No method completed every run within the downtime limit under any condition${sum.spec.deployable ? ' among those QEMU/libvirt ship' : ''}.</p>`}
<p>Pareto set (no method is better in downtime, total time and bytes at once; differences inside the CIs are ties): ${sum.pareto.map((p) => `<b>${esc(p.method)}</b> (${esc(p.trace)}: ${f1(p.downtimeMs)} ms, ${f1(p.totalTimeMs / 1000, 2)} s, ${f1(p.transferredBytes / 1e6, 0)} MB)`).join('; ') || '–'}.</p>
${dnf.length ? `<p><b>Did not complete:</b> ${dnf.map((c) => `${esc(c.method)} on ${esc(c.trace)} (${c.runs - c.completed} of ${c.runs} runs)`).join('; ')} — counted as +∞, never left out.</p>` : '<p>Every run of every method completed.</p>'}
<p>Flags:</p><ul class="flags-legend">${flagItems}</ul>
<p>${esc(host.profile)} (constants at the end). ${esc(sum.intervals)}. Intervals: ${esc(sum.bootstrap)}. Tests: ${esc(sum.wilcoxon)}.</p>
</section>
<section id="tables">
<h2>Results per trace and condition</h2>
<p>Medians [95 % CI] over ${sum.spec.replicates} start offsets; a run that did not complete counts as +∞ ("–": under half completed). ×${esc(sum.spec.baseline)}: the median per-pair downtime ratio to the baseline, with its CI, the Holm-adjusted paired Wilcoxon p and the share of pairs the method wins.${sum.cells.some((x) => x.maxThrottlePct > 0 || (x.guestStallMs.median ?? 0) > 0.5) ? ' guest % / s: the most the guest\'s CPU was throttled, and the median guest time lost to the method (throttle, faults; setup not counted).' : ''}</p>
${tables}
${sum.cells.some((c) => c.band) ? `<p>band ms: within an epoch the order of writes is unknown; the results place each write at a hashed instant (write-time=uniform), the band gives the median downtime with every write at its epoch's start (pessimistic for pre-copy) – at its end (optimistic).</p>` : ''}
</section>
<section id="charts">
<h2>Charts</h2>
${charts}
</section>
<section id="methods">
<h2>The methods</h2>
<ul class="methods">${methods}</ul>
<h2>How this was made</h2>
<p><code>${esc(sum.spec.command || 'dirtylab compare')}</code></p>
<ul>${Object.entries(versions).map(([k, v]) => `<li>${esc(k)} ${esc(v)}</li>`).join('')}<li>seed ${sum.spec.seed}; ${sum.spec.replicates} replicates; traces: ${sum.spec.traces.map((t) => `${esc(t.name)} (SHA-256 ${esc(t.sha256 ?? '–')})`).join(', ')}</li></ul>
<h2>Host constants</h2>
<p>${esc(host.profile)}.</p>
${cal}
</section>
<script>
const specs = ${safeScript(JSON.stringify(Object.values(specs)))};
// The caption is printed under each chart; the chart keeps only its title.
specs.forEach((s, i) => vegaEmbed('#chart' + i, { ...s, title: s.title && s.title.text }, { actions: false, renderer: 'svg' }).catch((e) => { document.getElementById('chart' + i).textContent = 'chart failed: ' + e; }));
</script>
</body></html>
`;
}

/** Write files into dir atomically (src/trace/node.ts): all or nothing, no temporary file left behind. */
export { writeFilesAtomic };

/** runs.jsonl: one run per line with its grid coordinates and the grid's definition. */
export function runsJsonl(r: CompareRuns): string {
  return r.runs.map((x) => JSON.stringify({ ...x, spec: r.spec })).join('\n') + (r.runs.length ? '\n' : '');
}

/** Every output file of a comparison, by relative path. */
export async function reportFiles(r: CompareRuns, sum: CompareSummary, traces: CompareTrace[], kernel: Kernel, versions: Record<string, string>, host: ReportHost): Promise<Record<string, string | Uint8Array>> {
  const files: Record<string, string | Uint8Array> = {
    'runs.jsonl': runsJsonl(r),
    'runs.csv': runsCsv(r),
    'runs.arrow': runsArrow(r),
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
  files['report.html'] = reportHtml(sum, specs, versions, host);
  return files;
}
