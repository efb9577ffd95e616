/**
 * `dirtylab generate fit --like TRACE | --curve FILE -o OUT`: a synthetic
 * trace whose W(t) matches a real trace's or a given curve (src/trace/fit.ts),
 * and the lines `inspect` adds for synthetic traces.
 */
import type { Command } from 'commander';
import { Kernel } from '../kernel/index.js';
import { contentText } from '../trace/import/common.js';
import { FIT_TOLERANCE, epochsCovered, fitTrace, likeWindowsMs, parseCurveText, type CurvePoint } from '../trace/fit.js';
import { TraceError, type TraceFormat } from '../trace/model.js';
import { fileInput, outputKind, writeTraceFile } from '../trace/node.js';
import { readTrace } from '../trace/open.js';
import { summarizeTrace } from '../trace/views.js';

/** --help text of the fit generator and of the curve file format. */
export const FIT_HELP = `
generate fit --like TRACE | --curve FILE -o OUT
  A synthetic trace whose W(t) — distinct pages written in a window of t,
  averaged over window starts, as inspect computes it — matches the target
  within ${FIT_TOLERANCE * 100} % at every sampled window; the worst error is printed and
  stored in meta.fit. Pages: periodic page classes (meta.generator.classes).
  --like TRACE  sample its W(t) at 22 log-spaced windows from one epoch to
                half its length, rounded to whole epochs; the page count, page size, epoch length,
                zero pages and host profile follow it (--pages, --epoch-ms,
                --epochs override).
  --curve FILE  a W(t) curve, gzipped or not, as
                JSON: [{"windowMs": 100, "pages": 229}, …] or [[100, 229], …]
                      or {"nPages": 65537, "pageSize": 4096, "points": […]}
                      (inspect --json's "wt" works too), or
                CSV:  window_ms,pages lines (an optional header, # comments).
                Guest size: --pages, else the file's nPages, else 65536;
                epoch length: --epoch-ms, else the largest divisor ≤ 100 ms
                of every window (≥ 10 ms), else min(100 ms, shortest).
  A curve that is not concave (or falls) is fitted by its least concave
  majorant: the reported error shows where it could not follow.`;

/** Options of generate that fit accepts (the others are usage errors with fit). */
const FIT_TAKES = new Set(['out', 'pages', 'epochs', 'epochMs', 'seed', 'pageSize', 'like', 'curve', 'format']);

/** Run `generate fit`; `usage` builds the CLI's usage error (exit 1). */
export async function generateFit(
  o: Record<string, unknown>, cmd: Command, log: (s: string) => void, usage: (msg: string) => Error, version: string,
): Promise<void> {
  const given = (k: string) => cmd.getOptionValueSource(k) === 'cli';
  for (const k of Object.keys(o)) {
    if (given(k) && !FIT_TAKES.has(k)) throw usage(`--${k.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())} does not apply to generate fit (it takes --like or --curve, --pages, --epochs, --epoch-ms, --seed, --page-size)`);
  }
  const out = o.out as string;
  if (!outputKind(out)) throw usage(`cannot tell the output format of "${out}": name it .dpt, .dpt.gz or .dpt.jsonl`);
  const like = o.like as string | undefined;
  const curvePath = o.curve as string | undefined;
  if ((like === undefined) === (curvePath === undefined)) throw usage('generate fit needs exactly one of --like TRACE or --curve FILE');
  const kernel = await Kernel.load();
  let points: CurvePoint[];
  let nPages: number;
  let pageSize = given('pageSize') ? (o.pageSize as number) : 4096;
  let epochMs: number;
  let epochs: number | undefined = given('epochs') ? (o.epochs as number) : undefined;
  let zeroAtStart: Uint32Array | null = null;
  let meta: Record<string, unknown>;
  let what: string;
  if (like !== undefined) {
    const t = await readTrace(fileInput(like), { format: o.format as TraceFormat | undefined });
    if (t.header.timeUnit !== 'ns') throw usage(`--like needs a trace timed in ns; ${like} counts ${t.header.timeUnit}`);
    if (t.epochs.length === 0) throw new TraceError(like, {}, 'a trace with at least one epoch');
    const durationMs = (t.epochs[t.epochs.length - 1]!.t1 - t.epochs[0]!.t0) / 1e6;
    const likeEpochMs = t.header.epochLen / 1e6;
    epochMs = given('epochMs') ? (o.epochMs as number) : likeEpochMs;
    const windows = likeWindowsMs(likeEpochMs, durationMs);
    async function* it() { yield* t.epochs; }
    const s = await summarizeTrace(t.header, it(), kernel, { windowsMs: windows });
    points = s.wt.filter((w) => w.pages !== null).map((w) => ({ windowMs: w.windowMs, pages: w.pages! }));
    nPages = given('pages') ? (o.pages as number) : t.header.nPages;
    if (!given('pageSize')) pageSize = t.header.pageSize;
    zeroAtStart = nPages === t.header.nPages ? t.header.zeroAtStart : null;
    const mMax = Math.max(...points.map((p) => epochsCovered(p.windowMs * 1e6, Math.round(epochMs * 1e6))));
    epochs ??= Math.max(t.epochs.length, 4 * mMax);
    const lm = t.header.meta;
    meta = {
      from: { like, format: t.format, windows: `W(t) at ${points.length} log-spaced windows from one epoch to half the trace, whole epochs`, likeMeta: pick(lm, ['source', 'run', 'workload', 'importedFrom', 'recorder']) },
      ...(typeof lm.hostProfile === 'string' ? { hostProfile: lm.hostProfile, hostProfileNote: `copied from ${like}: the synthetic trace mimics a workload recorded on that host` } : {}),
    };
    what = `W(t) of ${like}`;
  } else {
    const curve = parseCurveText(await contentText(fileInput(curvePath!)), curvePath!);
    points = curve.points;
    nPages = given('pages') ? (o.pages as number) : curve.nPages ?? 65536;
    if (!given('pageSize') && curve.pageSize !== undefined) pageSize = curve.pageSize;
    epochMs = given('epochMs') ? (o.epochMs as number) : curveEpochMs(points.map((p) => p.windowMs));
    meta = { from: { curve: curvePath, points: points.length, ...(curve.source ? { source: curve.source } : {}), pagesFrom: given('pages') ? '--pages' : curve.nPages !== undefined ? 'the curve file\'s nPages' : 'default 65536 (--pages to change)' } };
    what = `the curve in ${curvePath}`;
  }
  let r;
  try {
    r = await fitTrace({ points, nPages, pageSize, epochMs, epochs, seed: (o.seed as number | undefined) ?? 1, zeroAtStart, meta: { ...meta, dirtylab: version } }, kernel);
  } catch (e) {
    if (e instanceof RangeError) throw usage(e.message);
    throw e;
  }
  const w = await writeTraceFile(out, r.header, r.epochs);
  const worst = r.points.find((p) => p.windowMs === r.worstAtMs)!;
  log(`${out}: ${w.epochs} epochs of ${epochMs} ms over ${nPages} pages, fitted to ${what} at ${r.points.length} windows`);
  log(`worst W(t) error ${(r.worstRelError * 100).toFixed(2)} % at ${r.worstAtMs} ms (target ${fmt(worst.target)}, achieved ${fmt(worst.achieved)} pages; tolerance ${FIT_TOLERANCE * 100} %)`);
  if (r.worstRelError > FIT_TOLERANCE) log(`WARNING: the fit misses by more than ${FIT_TOLERANCE * 100} % at ${r.worstAtMs} ms: the curve is not concave there (or too small to round to whole pages); meta.fit.points has every window`);
}

/**
 * Default epoch length for a curve: the largest whole-ms divisor of every
 * window that is ≤ 100 ms (then each window covers whole epochs and the
 * curve's shape survives), unless that is below 10 ms; then min(100 ms, the
 * shortest window).
 */
export function curveEpochMs(windowsMs: number[]): number {
  const gcd = (a: number, b: number): number => (b ? gcd(b, a % b) : a);
  const whole = windowsMs.every((w) => Number.isInteger(w));
  const g = whole ? windowsMs.reduce(gcd) : 0;
  for (let e = Math.min(100, g); e >= 10; e--) if (g % e === 0) return e;
  return Math.min(100, Math.min(...windowsMs));
}

function pick(o: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  return Object.fromEntries(keys.filter((k) => o[k] !== undefined).map((k) => [k, o[k]]));
}

const fmt = (x: number) => (Math.round(x * 10) / 10).toLocaleString('en-US');

/** Rows `inspect` adds for a synthetic trace: from what, which shape assumption, and the fit (empty for recorded traces). */
export function syntheticRows(meta: Record<string, unknown>): [string, string][] {
  const rows: [string, string][] = [];
  const syn = meta.synthetic as Record<string, unknown> | undefined;
  const fit = meta.fit as { worstRelError?: number; worstAtWindowMs?: number; points?: unknown[] } | undefined;
  const gen = meta.generator as Record<string, unknown> | undefined;
  if (meta.source !== 'synthetic') return rows;
  if (syn) {
    const from = syn.from as Record<string, unknown> | undefined;
    rows.push(['synthetic', `SYNTHETIC pages fitted to dirty rates from ${from?.importer ?? '?'} (${from?.input ?? '?'}, ${from?.form ?? ''})`]);
    rows.push(['shape', String(syn.shapeAssumption ?? '–')]);
  } else if (gen) {
    const from = (meta.from ?? {}) as Record<string, unknown>;
    rows.push(['synthetic', `SYNTHETIC (generate ${gen.kind ?? '?'}${from.like ? ` --like ${from.like}` : from.curve ? ` --curve ${from.curve}` : ''})`]);
  }
  if (fit && typeof fit.worstRelError === 'number') {
    rows.push(['fit', `worst W(t) error ${(Math.abs(fit.worstRelError) * 100).toFixed(2)} % at ${fit.worstAtWindowMs} ms over ${fit.points?.length ?? '?'} windows`]);
  }
  return rows;
}

/** An `inspect` report with the synthetic rows appended, aligned with its own key column. */
export function withSyntheticRows(report: string, meta: Record<string, unknown>): string {
  const rows = syntheticRows(meta);
  if (rows.length === 0) return report;
  const first = report.split('\n')[0] ?? '';
  const width = Math.max(first.search(/ {2}\S/), ...rows.map(([k]) => k.length));
  return [report, ...rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`)].join('\n');
}
