/**
 * The `dirtylab` command line (commander). Exit codes (DESIGN §6): 0 ok,
 * 1 usage error (unknown command or flag, bad value), 2 bad input file,
 * 3 internal error. Errors are one line on stderr, never a stack trace
 * (set DIRTYLAB_DEBUG=1 to see one).
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { Kernel, KernelMemoryError } from '../kernel/index.js';
import { TraceError, type TraceFormat } from '../trace/model.js';
import { fileInput, outputKind, writeTraceFile } from '../trace/node.js';
import { openTrace, TRACE_FORMATS } from '../trace/open.js';
import { summarizeTrace, type TraceSummary } from '../trace/views.js';
import { GENERATOR_KINDS, generatedHeader, generateEpochs, type GeneratorKind } from '../trace/generate.js';
import { readTrace } from '../trace/open.js';
import { ParamError, allParams } from '../sim/method.js';
import { METHODS, methodIds } from '../sim/methods/index.js';
import { simulate, DEFAULT_BANDWIDTH, DEFAULT_DOWNTIME_LIMIT_MS, DEFAULT_MAX_TIME_MS, defaultCalibrationName, defaultLinkBandwidth } from '../sim/simulate.js';
import type { DowntimeStep } from '../sim/engine.js';
import type { Trace } from '../trace/model.js';
import { calibrationNames } from '../sim/calibration.js';
import { parseBandwidth, parseDurationMs, parseDowntimeSteps, UnitError, formatBandwidth } from '../sim/units.js';
import type { SimResult } from '../sim/result.js';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { parseRecordedThrottle, type RateSegment } from '../trace/warp.js';
import { readRun, type RunRecord } from '../validate/run.js';
import { validateRun, validateLeaveOut, summarize, profileFor, type Fold, type RunComparison, type Summary } from '../validate/validate.js';
import { deriveCalibration } from '../validate/derive.js';
import { getCalibration, type Calibration } from '../sim/calibration.js';
import '../sim/profiles.js';
import { mkdirSync, renameSync, writeFileSync as writeFile, readFileSync as readFile, existsSync as exists } from 'node:fs';
import cliProgress from 'cli-progress';
import * as vegaLib from 'vega';
import * as vlLib from 'vega-lite';
import { compare, gridCells, type CompareRuns, type CompareSpec, type CompareTrace, type RunRow } from '../stats/compare.js';
import { summarize as summarizeRuns } from '../stats/summary.js';
import { renderTerminal, reportFiles, runsJsonl, writeFilesAtomic } from '../report/report.js';
import { gridChart, type GridCell } from '../report/charts/grid.js';
import { toPng, toSvg } from '../report/render.js';
import { fmtBw } from '../stats/summary.js';
import { join as joinPath } from 'node:path';
import { registerRecord, recordingRows } from './record.js';

/** A usage error found after parsing (exit 1). */
export class UsageError extends Error {}

/** The package version, read from package.json. */
export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

function intArg(name: string, min = 0): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!/^\s*\d+\s*$/.test(v) || !Number.isSafeInteger(n) || n < min) throw new InvalidArgumentError(`${name} must be an integer ≥ ${min}, not "${v}"`);
    return n;
  };
}

function numArg(name: string, { min = -Infinity, exclusiveMin = false } = {}): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n) || n < min || (exclusiveMin && n === min)) {
      throw new InvalidArgumentError(`${name} must be a number ${exclusiveMin ? '>' : '≥'} ${min}, not "${v}"`);
    }
    return n;
  };
}

const formatOption = () =>
  new Option('--format <format>', 'read the trace as this format instead of detecting it').choices(TRACE_FORMATS as string[]);

function fmt(n: number, digits = 0): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

/** The human-readable `inspect` report. */
export function renderSummary(file: string, format: string, s: TraceSummary): string {
  const mib = (s.nPages * s.pageSize) / 2 ** 20;
  const rows: [string, string][] = [
    ['trace', `${file} (${format})`],
    ['page size', `${fmt(s.pageSize)} B`],
    ['pages', `${fmt(s.nPages)} (${fmt(mib, 1)} MiB of guest memory)`],
    ['epochs', `${fmt(s.epochs)}${s.nominalEpochMs !== null ? `, nominally ${fmt(s.nominalEpochMs, 1)} ms each` : ` (time unit: ${s.timeUnit})`}`],
  ];
  if (s.durationMs !== null) {
    rows.push(['duration', `${fmt(s.durationMs / 1000, 3)} s${s.timeZeroMs !== null ? `; t = 0 (migration start) at ${fmt(s.timeZeroMs / 1000, 3)} s` : ''}`]);
  }
  const ppe = s.pagesPerEpoch;
  rows.push(['written/epoch', `min ${fmt(ppe.min)} · median ${fmt(ppe.median, ppe.median % 1 ? 1 : 0)} · max ${fmt(ppe.max)} pages`]);
  rows.push(['distinct', `${fmt(s.distinctPages)} pages written at least once (${fmt((100 * s.distinctPages) / s.nPages, 1)} %)`]);
  if (s.wt.length > 0) {
    rows.push(['W(t)', s.wt.map((w) => `${fmt(w.windowMs / 1000, w.windowMs < 1000 ? 1 : 0)} s: ${w.pages === null ? '–' : fmt(w.pages)}`).join(' · ') + ' pages']);
  }
  rows.push(['hot set', `${fmt(s.hotSetPages)} pages written in ≥ ${fmt(s.hotThreshold * 100)} % of epochs`]);
  if (s.zeroAtStartPages !== null) rows.push(['zero at start', `${fmt(s.zeroAtStartPages)} pages hold zeros when migration starts`]);
  rows.push(...recordingRows(s));
  const w = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join('\n');
}

function unitArg<T>(parse: (s: string) => T, flag: string): (v: string) => T {
  return (v) => {
    try {
      return parse(v);
    } catch (e) {
      if (e instanceof UnitError || e instanceof RangeError) throw new InvalidArgumentError(`${flag}: ${e.message}`);
      throw e;
    }
  };
}

function collectParam(v: string, prev: Record<string, string>): Record<string, string> {
  const i = v.indexOf('=');
  if (i <= 0) throw new InvalidArgumentError(`--param takes key=value, not "${v}"`);
  return { ...prev, [v.slice(0, i)]: v.slice(i + 1) };
}

/** SHA-256 of a file's bytes, hex. */
export async function fileSha256(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** The methods and their parameters, for --help. */
export function methodsHelp(): string {
  const lines = ['', 'Methods (--method; a variant as method/variant):'];
  for (const m of METHODS) {
    lines.push(`  ${m.variants ? m.variants.map((v) => `${m.id}/${v}`).join(', ') : m.id}`);
    lines.push(`      ${m.summary}`);
    if (m.approximation) lines.push(`      approximation: ${m.approximation}`);
    for (const p of allParams(m)) {
      if (['write-time', 'device-state', 'switchover-fixed', 'rtt'].includes(p.name)) continue;
      lines.push(`      --param ${p.name}=${p.choices ? p.choices.join('|') : p.kind} (default ${p.default}): ${p.description}`);
    }
  }
  lines.push('  every method also takes --param write-time=uniform|start|end, device-state=SIZE, switchover-fixed=TIME, rtt=TIME');
  lines.push(`Calibrations (--calibration): ${calibrationNames().join(', ')}`);
  return lines.join('\n');
}

const ms = (x: number | null, d = 1) => (x === null ? '–' : fmt(x, d));

/** The human-readable `simulate` report: a summary, then one line per sync. */
export function renderResult(file: string, r: SimResult): string {
  const pv = r.provenance;
  const head: [string, string][] = [
    ['method', r.method],
    ['trace', `${file}; start at guest ${fmt(pv.startGuestNs / 1e9, 3)} s; write-time ${pv.writeTime}; rearm ${pv.rearm}; trace end: ${pv.onTraceEnd}${r.traceLooped ? ' (looped)' : ''}`],
    ['network', `bandwidth ${formatBandwidth(pv.network.bandwidthBytesPerSec)}, link ${formatBandwidth(pv.network.linkBandwidthBytesPerSec)}, downtime-limit ${fmt(pv.network.downtimeLimitMs)} ms; calibration ${pv.calibration}`],
    ['result', r.completed
      ? `completed (${r.converged ? 'converged' : `forced: ${r.stopReason}`}) in ${fmt(r.totalTimeMs / 1000, 3)} s; downtime ${ms(r.downtimeMs)} ms; setup ${ms(r.setupTimeMs)} ms`
      : `NOT completed (${r.stopReason}) after ${fmt(r.totalTimeMs / 1000, 3)} s`],
    ['sent', `${fmt(r.transferredBytes / 1e6, 1)} MB: ${fmt(r.pagesSent)} pages (${fmt(r.zeroPagesSent)} zero), ${fmt(r.pagesResent)} re-sent; ${fmt(r.finalDirtyPages)} in the final copy (${fmt(r.downtimeBytes / 1e6, 2)} MB)`],
    ['syncs', `${r.dirtySyncCount} (dirty-sync-count)${r.maxThrottlePct ? `; max throttle ${r.maxThrottlePct} %` : ''}${r.guestStallMs > 0.05 ? `; guest lost ${ms(r.guestStallMs)} ms` : ''}`],
  ];
  const w = Math.max(...head.map(([k]) => k.length));
  const out = head.map(([k, v]) => `${k.padEnd(w)}  ${v}`);
  out.push('');
  const cols = ['sync', 'start ms', 'end ms', 'pages sent', 'MB sent', 'new dirty', 'remaining', 'bw MiB/s', 'exp. down ms', 'throttle %'];
  const rows = r.rounds.map((x) => [
    `${x.sync}${x.final ? '*' : ''}`, fmt(x.startMs, 1), fmt(x.endMs, 1), fmt(x.pagesSent), fmt(x.bytes / 1e6, 2), fmt(x.dirtyPages),
    fmt(x.remainingPages), x.bandwidthBytesPerSec === null ? '–' : fmt(x.bandwidthBytesPerSec / 2 ** 20, 1), ms(x.expectedDowntimeMs), fmt(x.throttlePct),
  ]);
  const widths = cols.map((c, i) => Math.max(c.length, ...rows.map((row) => row[i]!.length)));
  out.push(cols.map((c, i) => c.padStart(widths[i]!)).join('  '));
  for (const row of rows) out.push(row.map((c, i) => c.padStart(widths[i]!)).join('  '));
  if (r.rounds.some((x) => x.final)) out.push('* the final copy, guest stopped');
  return out.join('\n');
}

const pct = (x: number | null | undefined) => (x === null || x === undefined ? '–' : `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)} %`);

/** The human-readable validation table. */
export function renderValidation(cals: Calibration[], rows: RunComparison[], s: Summary, leaveOut?: 'run' | 'family'): string {
  const out: string[] = [];
  if (leaveOut) out.push(`leave-one-${leaveOut}-out: each run predicted by a profile fitted on the quiet runs ${leaveOut === 'run' ? 'other than itself' : 'of the other workload families'}`);
  for (const c of cals) out.push(`calibration ${c.name}: ${Object.entries(c.constants).map(([k, v]) => `${k} ${+v.value.toPrecision(4)} ${v.unit}`).join('; ')}`);
  out.push('');
  const cols = ['run', 'method', 'verdict pred/real', 'total ms pred/real', 'err', 'MB pred/real', 'err', 'syncs', 'downtime ms', 'err ms'];
  const body = rows.map((r) => r.skipped
    ? [r.name, r.method, 'skipped*', '', '', '', '', '', '', '']
    : [
      `${r.name}${r.busy ? ' (busy)' : ''}`, r.method,
      `${r.completed!.predicted ? 'done' : 'not done'}/${r.completed!.measured ? 'done' : 'not done'}`,
      `${fmt(r.totalTimeMs!.predicted!)}/${fmt(r.totalTimeMs!.measured!)}`, pct(r.totalTimeMs!.relError),
      `${fmt(r.transferredBytes!.predicted! / 1e6, 1)}/${fmt(r.transferredBytes!.measured! / 1e6, 1)}`, pct(r.transferredBytes!.relError),
      `${r.dirtySyncCount!.predicted}/${r.dirtySyncCount!.measured}`,
      `${r.downtimeMs!.predicted === null ? '–' : fmt(r.downtimeMs!.predicted, 1)}/${r.downtimeMs!.measured ?? '–'}`,
      r.downtimeMs!.error === null ? '–' : fmt(r.downtimeMs!.error, 1),
    ]);
  const w = cols.map((c, i) => Math.max(c.length, ...body.map((b) => b[i]!.length)));
  out.push(cols.map((c, i) => c.padEnd(w[i]!)).join('  '));
  for (const b of body) out.push(b.map((c, i) => c.padEnd(w[i]!)).join('  ').trimEnd());
  for (const r of rows) if (r.skipped) out.push(`* ${r.name}: ${r.skipped}`);
  for (const r of rows) if (r.postcopyRequests) out.push(`${r.name}: post-copy page requests ${fmt(r.postcopyRequests.predicted ?? 0)} predicted / ${fmt(r.postcopyRequests.measured ?? 0)} by QEMU`);
  if (s.busy.length) out.push(`(busy) recorded while other processes used > 20 % of the host: shown, left out of the figures below and of calibrations (${s.busy.length}: ${s.busy.join(', ')})`);
  out.push('');
  const t = s.targets;
  const q = s.replayed - s.busy.length;
  out.push(`replayed ${s.replayed} of ${s.runs} runs (${s.skipped} skipped); figures over the ${q} quiet ones`);
  out.push(`total time: median |error| ${pct(s.medianAbsRelError.totalTimeMs).replace('+', '')} (target ≤ ${t.medianTotalTime * 100} %), worst ${pct(s.worstAbsRelError.totalTimeMs).replace('+', '')} (≤ ${t.worst * 100} %)`);
  out.push(`transferred bytes: median |error| ${pct(s.medianAbsRelError.transferredBytes).replace('+', '')} (≤ ${t.medianTransferred * 100} %), worst ${pct(s.worstAbsRelError.transferredBytes).replace('+', '')} (≤ ${t.worst * 100} %)`);
  out.push(`verdicts right: ${s.verdictsRight} of ${q}; dirty-sync-count within ±1: ${pct(s.syncWithin1).replace('+', '')} (≥ ${t.syncWithin1 * 100} %); median |downtime error| ${s.medianAbsDowntimeErrorMs === null ? '–' : fmt(s.medianAbsDowntimeErrorMs, 1)} ms (≤ ${t.medianDowntimeMs} ms)`);
  const g = (name: string, x: Record<string, { runs: number; medianAbsRelError: { totalTimeMs: number | null; transferredBytes: number | null }; medianAbsDowntimeErrorMs: number | null }>) =>
    `${name}: ${Object.entries(x).map(([k, v]) => `${k} (${v.runs}) time ${pct(v.medianAbsRelError.totalTimeMs).replace('+', '')}, bytes ${pct(v.medianAbsRelError.transferredBytes).replace('+', '')}, downtime ${v.medianAbsDowntimeErrorMs === null ? '–' : fmt(v.medianAbsDowntimeErrorMs, 1)} ms`).join('; ')}`;
  out.push(g(`by bandwidth (median |errors|; downtime ≤ ${t.bandwidthDowntimeMs} ms in each)`, s.byBandwidth));
  out.push(g('by method', s.byMethod));
  out.push(g('by workload family', s.byFamily));
  out.push(`pages sent after each sync vs QEMU's (sent.jsonl.gz): mean overlap ${s.meanSentOverlap === null ? '–' : s.meanSentOverlap.toFixed(2)} (Jaccard)`);
  out.push(`targets ${s.meetsTargets ? 'met' : 'NOT met'}`);
  return out.join('\n');
}

function csvOf(rows: RunComparison[]): string {
  const head = ['name', 'method', 'skipped', 'completed_predicted', 'completed_measured'];
  const metrics = ['totalTimeMs', 'transferredBytes', 'dirtySyncCount', 'downtimeMs'] as const;
  for (const m of metrics) head.push(`${m}_predicted`, `${m}_measured`, `${m}_error`, `${m}_relError`);
  const q = (v: unknown) => (v === null || v === undefined ? '' : typeof v === 'string' && /[",\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : String(v));
  const lines = [head.join(',')];
  for (const r of rows) {
    const cells: unknown[] = [r.name, r.method, r.skipped ?? '', r.completed?.predicted, r.completed?.measured];
    for (const m of metrics) { const c = r[m]; cells.push(c?.predicted, c?.measured, c?.error, c?.relError); }
    lines.push(cells.map(q).join(','));
  }
  return lines.join('\n') + '\n';
}

/** Write files into DIR atomically (each to a temporary name, then renamed). */
function writeOut(dir: string, files: Record<string, string>): void {
  mkdirSync(dir, { recursive: true });
  const tmp: [string, string][] = [];
  for (const [name, text] of Object.entries(files)) {
    const t = joinPath(dir, `.${name}.${process.pid}.tmp`);
    writeFile(t, text);
    tmp.push([t, joinPath(dir, name)]);
  }
  for (const [t, f] of tmp) renameSync(t, f);
}

function listArg<T>(parse: (s: string) => T, flag: string): (v: string) => T[] {
  return (v) => v.split(',').filter((x) => x.trim() !== '').map((x) => unitArg(parse, flag)(x.trim()));
}

/** A progress bar on stderr when it is a TTY, shown once the work has taken a second. */
export function progress(quiet: boolean | undefined): { update(done: number, total: number): void; stop(): void } {
  if (quiet || !process.stderr.isTTY) return { update() {}, stop() {} };
  const t0 = Date.now();
  let bar: cliProgress.SingleBar | null = null;
  return {
    update(done, total) {
      if (!bar && Date.now() - t0 > 1000) {
        bar = new cliProgress.SingleBar({ stream: process.stderr, format: 'runs {bar} {value}/{total} | ETA {eta}s', hideCursor: true }, cliProgress.Presets.shades_classic);
        bar.start(total, done);
      }
      bar?.update(done);
    },
    stop() { bar?.stop(); },
  };
}

/** Versions that produced a report. */
function versions(): Record<string, string> {
  return { dirtylab: packageVersion(), node: process.version, vega: vegaLib.version, 'vega-lite': vlLib.version };
}

async function loadTraces(paths: string[], format?: TraceFormat): Promise<CompareTrace[]> {
  const out: CompareTrace[] = [];
  const names = new Set<string>();
  for (const p of paths) {
    const t = await readTrace(fileInput(p), { format });
    let name = p.split('/').pop()!.replace(/\.(dpt|jsonl|gz)$/g, '').replace(/\.(dpt|jsonl)$/g, '').replace(/\.trace$/, '');
    while (names.has(name)) name += "'";
    names.add(name);
    out.push({ name, trace: t, sha256: await fileSha256(p), path: p } as CompareTrace & { path: string });
  }
  return out;
}

function shardArg(v: string): { index: number; count: number } {
  const m = /^(\d+|auto)\/(\d+)$/.exec(v);
  if (!m) throw new InvalidArgumentError(`--shard takes i/n (0-based) or auto/n, not "${v}"`);
  const count = Number(m[2]);
  let index: number;
  if (m[1] === 'auto') {
    const env = process.env.JOB_COMPLETION_INDEX ?? process.env.SLURM_ARRAY_TASK_ID;
    if (env === undefined) throw new InvalidArgumentError('--shard auto/n needs JOB_COMPLETION_INDEX (Kubernetes) or SLURM_ARRAY_TASK_ID (Slurm)');
    index = Number(env);
  } else index = Number(m[1]);
  if (!(count >= 1) || !Number.isInteger(index) || index < 0 || index >= count) throw new InvalidArgumentError(`--shard ${v}: need 0 ≤ i < n`);
  return { index, count };
}

/** The command line as run, without the options that do not change results. */
function commandLine(argv: string[]): string {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (['--shard', '--out'].includes(argv[i]!)) { i++; continue; }
    if (['--quiet', '--json'].includes(argv[i]!)) continue;
    out.push(/[\s"']/.test(argv[i]!) ? JSON.stringify(argv[i]) : argv[i]!);
  }
  return ['dirtylab', ...out].join(' ');
}

/**
 * The first line of every human output: which host profile each trace runs
 * under and how fast its final copy goes (QEMU lifts max-bandwidth there).
 */
export function profileLine(traces: { name: string; trace: Trace }[], calibration: string | undefined | null, linkBandwidth: number | undefined | null): string {
  const by = new Map<string, string[]>();
  for (const t of traces) {
    const name = defaultCalibrationName(t.trace, calibration ?? undefined);
    const k = `${name} (final copy at ${formatBandwidth(defaultLinkBandwidth(name, linkBandwidth ?? undefined))}${linkBandwidth ? ', --link-bandwidth' : ''})`;
    if (!by.has(k)) by.set(k, []);
    by.get(k)!.push(t.name);
  }
  const parts = [...by.entries()].map(([k, names]) => (by.size > 1 ? `${k} for ${names.join(', ')}` : k));
  return `Host profile: ${parts.join('; ')}`;
}

const LINK_HELP = 'final-copy speed while the source is stopped (QEMU lifts max-bandwidth there; default: the host profile\'s measured speed, else 10Gbit/s)';
const STEPS_HELP = 'downtime-limit changes during the migration, LIMIT@TIME joined by /, e.g. 600ms@4s/1200ms@8s (Nova\'s steps, KubeVirt\'s ramp)';
const CAL_HELP = () => `host profile: ${calibrationNames().join(', ')} (default: the one the trace's header names, else ideal)`;

/** Summarise, print and write everything a comparison produces. */
async function finishComparison(r: CompareRuns, traces: CompareTrace[], o: { json?: boolean; out: string }, log: (s: string) => void): Promise<void> {
  const sum = summarizeRuns(r.spec, r.runs);
  const kernel = await Kernel.load();
  const cal = r.spec.calibration ? getCalibration(r.spec.calibration)?.constants ?? null : null;
  const files = await reportFiles(r, sum, traces, kernel, versions(), cal);
  writeFilesAtomic(o.out, files);
  if (o.json) log(JSON.stringify(sum, null, 2));
  else {
    log(profileLine(traces, r.spec.calibration, r.spec.linkBandwidth));
    log(renderTerminal(sum));
    log('');
    log(`report: ${joinPath(o.out, 'report.html')}`);
  }
}

/** validate --check: a target was not met (exit 4). */
class TargetsNotMet extends Error {}

/** Build the command tree (exported for tests and --help checks). */
export function buildProgram(out: { log: (s: string) => void } = { log: (s) => process.stdout.write(s + '\n') }): Command {
  const program = new Command('dirtylab')
    .description('Replay recorded dirty-page traces through live-migration copy methods.')
    .version(packageVersion())
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });

  program
    .command('inspect')
    .description('sizes, duration, pages written per epoch, distinct pages, the W(t) curve and the hot set of a trace')
    .argument('<trace>', 'a .dpt, .dpt.gz, .dpt.jsonl or recorder trace.jsonl(.gz)')
    .option('--json', 'print the summary as JSON')
    .option('--hot-threshold <share>', 'a page is hot when written in at least this share of epochs', numArg('--hot-threshold', { min: 0, exclusiveMin: true }), 0.5)
    .addOption(formatOption())
    .action(async (trace: string, o: { json?: boolean; hotThreshold: number; format?: TraceFormat }) => {
      if (o.hotThreshold > 1) throw new UsageError(`--hot-threshold must be in (0, 1], not ${o.hotThreshold}`);
      const t = await openTrace(fileInput(trace), { format: o.format });
      const kernel = await Kernel.load();
      const s = await summarizeTrace(t.header, t.epochs, kernel, { hotThreshold: o.hotThreshold });
      if (o.json) out.log(JSON.stringify({ file: trace, format: t.format, gzipped: t.gzipped, ...s, meta: t.header.meta }, null, 2));
      else out.log(renderSummary(trace, t.format + (t.gzipped ? ', gzipped' : ''), s));
    });

  program
    .command('convert')
    .description('convert a trace between .dpt, .dpt.gz and .dpt.jsonl (and import recorder JSON lines); exact round trip')
    .argument('<in>', 'input trace (any supported format)')
    .argument('<out>', 'output file: .dpt, .dpt.gz, .dpt.jsonl or .dpt.jsonl.gz')
    .option('--host-profile <name>', `record in the header that the trace was recorded on this profiled host (meta.hostProfile: ${calibrationNames().filter((n) => n !== 'ideal').join(', ')}); simulate, compare and grid then use that profile by default`)
    .addOption(formatOption())
    .action(async (input: string, output: string, o: { format?: TraceFormat; hostProfile?: string }) => {
      if (!outputKind(output)) throw new UsageError(`cannot tell the output format of "${output}": name it .dpt, .dpt.gz or .dpt.jsonl`);
      if (o.hostProfile !== undefined && (!getCalibration(o.hostProfile) || o.hostProfile === 'ideal')) throw new UsageError(`--host-profile: unknown host profile "${o.hostProfile}"; profiles: ${calibrationNames().filter((n) => n !== 'ideal').join(', ')}`);
      const t = await openTrace(fileInput(input), { format: o.format });
      const header = o.hostProfile ? { ...t.header, meta: { ...t.header.meta, hostProfile: o.hostProfile } } : t.header;
      const r = await writeTraceFile(output, header, t.epochs);
      out.log(`${output}: ${r.epochs} epochs (${t.format} → ${outputKind(output)!.format}${outputKind(output)!.gzip ? ', gzipped' : ''})`);
    });

  program
    .command('generate')
    .description('write a seeded, reproducible synthetic trace')
    .argument('<kind>', `one of ${GENERATOR_KINDS.join(', ')}`)
    .requiredOption('-o, --out <file>', 'output file (.dpt, .dpt.gz, .dpt.jsonl)')
    .option('--pages <n>', 'guest pages', intArg('--pages', 1), 65536)
    .option('--epochs <n>', 'epochs', intArg('--epochs', 1), 100)
    .option('--epoch-ms <ms>', 'epoch length in ms', numArg('--epoch-ms', { min: 0, exclusiveMin: true }), 100)
    .option('--rate <writes/s>', 'page writes per second', numArg('--rate', { min: 0 }), 10000)
    .option('--seed <n>', 'random seed', intArg('--seed'), 1)
    .option('--page-size <bytes>', 'page size', intArg('--page-size', 1), 4096)
    .option('--hot-fraction <share>', 'hotcold/phases: share of pages that are hot', numArg('--hot-fraction', { min: 0, exclusiveMin: true }), 0.1)
    .option('--hot-probability <share>', 'hotcold/phases: share of writes to the hot set', numArg('--hot-probability', { min: 0 }), 0.9)
    .option('--zipf-s <s>', 'zipf: exponent', numArg('--zipf-s', { min: 0, exclusiveMin: true }), 1.1)
    .option('--phase-epochs <n>', 'phases: epochs per phase', intArg('--phase-epochs', 1), 50)
    .action(async (kind: string, o: Record<string, number> & { out: string }) => {
      if (!(GENERATOR_KINDS as readonly string[]).includes(kind)) throw new UsageError(`unknown generator "${kind}"; use one of ${GENERATOR_KINDS.join(', ')}`);
      if (!outputKind(o.out)) throw new UsageError(`cannot tell the output format of "${o.out}": name it .dpt, .dpt.gz or .dpt.jsonl`);
      const opts = {
        kind: kind as GeneratorKind, pages: o.pages!, epochs: o.epochs!, epochMs: o.epochMs!, rate: o.rate!, seed: o.seed!,
        pageSize: o.pageSize!, hotFraction: o.hotFraction!, hotProbability: o.hotProbability!, zipfS: o.zipfS!, phaseEpochs: o.phaseEpochs!,
      };
      let header;
      try {
        header = generatedHeader(opts, packageVersion());
      } catch (e) {
        if (e instanceof RangeError) throw new UsageError(e.message);
        throw e;
      }
      const r = await writeTraceFile(o.out, header, generateEpochs(opts));
      out.log(`${o.out}: ${r.epochs} epochs of ${kind} writes over ${o.pages} pages (seed ${o.seed})`);
    });

  program
    .command('simulate')
    .description('replay a trace through one copy method and report the migration it predicts')
    .argument('<trace>', 'a trace in any supported format')
    .requiredOption('-m, --method <id>', `copy method: ${methodIds().join(', ')}`)
    .option('-p, --param <key=value>', 'a method parameter (repeatable)', collectParam, {})
    .option('--bandwidth <rate>', `live-phase rate cap, e.g. 128MiB/s, 1Gbit/s (QEMU max-bandwidth; default ${formatBandwidth(DEFAULT_BANDWIDTH)})`, unitArg(parseBandwidth, '--bandwidth'))
    .option('--link-bandwidth <rate>', LINK_HELP, unitArg(parseBandwidth, '--link-bandwidth'))
    .option('--downtime-limit <time>', `QEMU downtime-limit (default ${DEFAULT_DOWNTIME_LIMIT_MS}ms)`, unitArg(parseDurationMs, '--downtime-limit'))
    .option('--downtime-steps <steps>', STEPS_HELP, unitArg(parseDowntimeSteps, '--downtime-steps'))
    .option('--start-epoch <n>', 'start the migration at this epoch (0-based index in the file; default 0)', intArg('--start-epoch'))
    .option('--start-time <time>', 'or at this time on the trace axis (t = 0 at the trace\'s timeZeroNs), e.g. 0, 1.5s', unitArg(parseDurationMs, '--start-time'))
    .option('--max-time <time>', `wall-time cap; past it the migration did not complete (default ${DEFAULT_MAX_TIME_MS / 1000}s)`, unitArg(parseDurationMs, '--max-time'))
    .addOption(new Option('--on-trace-end <mode>', 'when the guest reaches the end of the trace').choices(['loop', 'stop', 'idle']).default('loop'))
    .option('--calibration <name>', CAL_HELP())
    .option('--recorded-throttle <ms:pct,…>', 'the trace was recorded under this throttle (100 = guest stalled) from these ms after t = 0; it is mapped back to guest time first', unitArg(parseRecordedThrottle, '--recorded-throttle'))
    .option('--json', 'print the result object')
    .addOption(formatOption())
    .addHelpText('after', methodsHelp())
    .action(async (trace: string, o: {
      method: string; param: Record<string, string>; bandwidth?: number; linkBandwidth?: number; downtimeLimit?: number; downtimeSteps?: DowntimeStep[];
      startEpoch?: number; startTime?: number; maxTime?: number; onTraceEnd: 'loop' | 'stop' | 'idle'; calibration?: string; json?: boolean; format?: TraceFormat;
      recordedThrottle?: RateSegment[];
    }) => {
      const t = await readTrace(fileInput(trace), { format: o.format });
      let r: SimResult;
      try {
        r = await simulate(t, {
          method: o.method, params: o.param, bandwidth: o.bandwidth, linkBandwidth: o.linkBandwidth, downtimeLimitMs: o.downtimeLimit, downtimeSteps: o.downtimeSteps,
          startEpoch: o.startEpoch, startTimeMs: o.startTime, maxTimeMs: o.maxTime, onTraceEnd: o.onTraceEnd, calibration: o.calibration,
          recordedThrottle: o.recordedThrottle,
          traceSha256: await fileSha256(trace), packageVersion: packageVersion(),
        });
      } catch (e) {
        if (e instanceof ParamError) throw new UsageError(e.message);
        throw e;
      }
      out.log(o.json ? JSON.stringify(r, null, 2) : `${profileLine([{ name: trace, trace: t }], o.calibration, o.linkBandwidth)}\n${renderResult(trace, r)}`);
    });

  program
    .command('compare')
    .description('run every chosen method on the traces over a grid of conditions and start offsets; statistics, charts and an offline HTML report')
    .argument('<trace...>', 'traces in any supported format')
    .option('--methods <ids>', `comma-separated method IDs (default: all: ${methodIds().join(',')})`, (v: string) => v.split(',').map((x) => x.trim()).filter(Boolean))
    .option('--baseline <id>', 'the method others are compared with (default precopy)')
    .option('--replicates <n>', 'stratified start offsets per trace (default 10)', intArg('--replicates', 1))
    .option('--bandwidth <list>', 'bandwidths, e.g. 32MiB/s,1Gbit/s (default 128MiB/s)', listArg(parseBandwidth, '--bandwidth'))
    .option('--downtime-limit <list>', 'downtime limits, e.g. 100ms,300ms (default 300ms)', listArg(parseDurationMs, '--downtime-limit'))
    .option('-p, --param <key=value>', 'a method parameter for every method that takes it (repeatable)', collectParam, {})
    .option('--seed <n>', 'seed of the start offsets and the bootstrap (default 1)', intArg('--seed'))
    .option('--max-time <time>', 'wall-time cap per run (default 600s)', unitArg(parseDurationMs, '--max-time'))
    .option('--calibration <name>', CAL_HELP())
    .option('--link-bandwidth <rate>', LINK_HELP, unitArg(parseBandwidth, '--link-bandwidth'))
    .option('--downtime-steps <steps>', STEPS_HELP, unitArg(parseDowntimeSteps, '--downtime-steps'))
    .option('--no-write-time-band', 'skip the write-time start/end band (a third of the runs)')
    .option('--out <dir>', 'output directory', './dirtylab-report')
    .option('--shard <i/n>', 'run only slice i of n of the grid (0-based; auto/n reads JOB_COMPLETION_INDEX or SLURM_ARRAY_TASK_ID) and write only runs.jsonl', shardArg)
    .option('--json', 'print the summary as JSON')
    .option('--quiet', 'no progress bar')
    .addOption(formatOption())
    .action(async (paths: string[], o: {
      methods?: string[]; baseline?: string; replicates?: number; bandwidth?: number[]; downtimeLimit?: number[]; param: Record<string, string>;
      seed?: number; maxTime?: number; calibration?: string; linkBandwidth?: number; downtimeSteps?: DowntimeStep[]; writeTimeBand: boolean; out: string; shard?: { index: number; count: number };
      json?: boolean; quiet?: boolean; format?: TraceFormat;
    }) => {
      const traces = await loadTraces(paths, o.format);
      const bar = progress(o.quiet);
      let r: CompareRuns;
      try {
        r = await compare({
          traces, methods: o.methods, baseline: o.baseline, replicates: o.replicates, bandwidths: o.bandwidth, downtimeLimits: o.downtimeLimit,
          params: o.param, seed: o.seed, maxTimeMs: o.maxTime, calibration: o.calibration, linkBandwidth: o.linkBandwidth, downtimeSteps: o.downtimeSteps,
          writeTimeBand: o.writeTimeBand, shard: o.shard,
          packageVersion: packageVersion(), command: commandLine(process.argv.slice(2)), onProgress: (d, t) => bar.update(d, t),
        });
      } catch (e) {
        if (e instanceof ParamError) throw new UsageError(e.message);
        throw e;
      } finally {
        bar.stop();
      }
      r.spec.traces.forEach((t, i) => { (t as { path?: string }).path = paths[i]; });
      if (o.shard) {
        writeFilesAtomic(o.out, { 'runs.jsonl': runsJsonl(r) });
        out.log(`shard ${o.shard.index}/${o.shard.count}: ${r.runs.length} of ${r.total} runs → ${joinPath(o.out, 'runs.jsonl')}`);
        return;
      }
      await finishComparison(r, traces, o, out.log);
    });

  program
    .command('merge')
    .description('combine the runs.jsonl of compare --shard runs into exactly the outputs one machine would have written')
    .argument('<dir...>', 'shard output directories')
    .requiredOption('--out <dir>', 'output directory')
    .option('--json', 'print the summary as JSON')
    .action(async (dirs: string[], o: { out: string; json?: boolean }) => {
      let spec: CompareSpec | null = null;
      let specText = '';
      const runs: RunRow[] = [];
      for (const d of dirs) {
        const file = joinPath(d, 'runs.jsonl');
        if (!exists(file)) throw new TraceError(file, {}, 'an existing file: a shard directory holds runs.jsonl');
        readFile(file, 'utf8').split('\n').forEach((line, i) => {
          if (line.trim() === '') return;
          let row: RunRow & { spec: CompareSpec };
          try {
            row = JSON.parse(line);
          } catch {
            throw new TraceError(file, { line: i + 1 }, 'a JSON object per line');
          }
          const st = JSON.stringify(row.spec);
          if (spec === null) { spec = row.spec; specText = st; }
          else if (st !== specText) {
            throw new TraceError(file, { line: i + 1 }, `the same comparison as the other shards (same dirtylab version, traces, methods, conditions, parameters and seed); this run differs: ${diffSpec(spec, row.spec)}`);
          }
          const { spec: _s, ...rest } = row;
          runs.push(rest as RunRow);
        });
      }
      if (spec === null) throw new TraceError(dirs[0]!, {}, 'at least one run in the shards');
      const s: CompareSpec = spec;
      const traces = await loadTraces(s.traces.map((t) => (t as { path?: string }).path ?? t.name));
      traces.forEach((t, i) => {
        if (t.sha256 !== s.traces[i]!.sha256) throw new TraceError((s.traces[i] as { path?: string }).path ?? t.name, {}, `the trace the shards ran (SHA-256 ${s.traces[i]!.sha256}), found ${t.sha256}`);
        t.name = s.traces[i]!.name;
      });
      const total = gridCells(s, traces).length;
      const seen = new Set<number>();
      for (const r of runs) {
        if (seen.has(r.index)) throw new TraceError(dirs.join(', '), {}, `each grid run once, found run ${r.index} twice`);
        seen.add(r.index);
      }
      if (seen.size !== total) throw new TraceError(dirs.join(', '), {}, `all ${total} runs of the grid, found ${seen.size} (a shard is missing)`);
      runs.sort((a, b) => a.index - b.index); // the canonical grid order, as one machine writes it
      await finishComparison({ spec: s, runs, total }, traces, { json: o.json, out: o.out }, out.log);
    });

  program
    .command('grid')
    .description('a QEMU-predictor-style table: predicted total time, downtime and verdict for each bandwidth × downtime-limit cell')
    .argument('<trace>', 'a trace in any supported format')
    .requiredOption('--bandwidth <list>', 'bandwidths, e.g. 16MiB/s,32MiB/s,64MiB/s', listArg(parseBandwidth, '--bandwidth'))
    .requiredOption('--downtime-limit <list>', 'downtime limits, e.g. 100ms,300ms,1s', listArg(parseDurationMs, '--downtime-limit'))
    .option('--methods <ids>', 'comma-separated method IDs (default qemu-precopy)', (v: string) => v.split(',').map((x) => x.trim()).filter(Boolean), ['qemu-precopy'])
    .option('--start-epoch <n>', 'start at this epoch (default 0)', intArg('--start-epoch'))
    .option('--start-time <time>', 'or at this time on the trace axis', unitArg(parseDurationMs, '--start-time'))
    .option('--max-time <time>', 'wall-time cap per cell (default 600s)', unitArg(parseDurationMs, '--max-time'))
    .option('--calibration <name>', CAL_HELP())
    .option('--link-bandwidth <rate>', LINK_HELP, unitArg(parseBandwidth, '--link-bandwidth'))
    .option('--downtime-steps <steps>', STEPS_HELP, unitArg(parseDowntimeSteps, '--downtime-steps'))
    .option('-p, --param <key=value>', 'a method parameter (repeatable)', collectParam, {})
    .option('--out <dir>', 'where grid.json and charts/grid.svg|png go', './dirtylab-grid')
    .option('--json', 'print the cells as JSON')
    .addOption(formatOption())
    .action(async (trace: string, o: { bandwidth: number[]; downtimeLimit: number[]; methods: string[]; startEpoch?: number; startTime?: number; maxTime?: number; calibration?: string; linkBandwidth?: number; downtimeSteps?: DowntimeStep[]; param: Record<string, string>; out: string; json?: boolean; format?: TraceFormat }) => {
      const t = await readTrace(fileInput(trace), { format: o.format });
      const kernel = await Kernel.load();
      const cells: GridCell[] = [];
      for (const m of o.methods) {
        for (const bw of o.bandwidth) {
          for (const dl of o.downtimeLimit) {
            let r: SimResult;
            try {
              r = await simulate(t, { method: m, params: o.param, bandwidth: bw, downtimeLimitMs: dl, downtimeSteps: o.downtimeSteps, linkBandwidth: o.linkBandwidth, startEpoch: o.startEpoch, startTimeMs: o.startTime, maxTimeMs: o.maxTime, calibration: o.calibration, kernel });
            } catch (e) {
              if (e instanceof ParamError) throw new UsageError(e.message);
              throw e;
            }
            cells.push({ method: r.method, bandwidth: fmtBw(bw), downtimeLimitMs: dl, downtimeMs: r.completed ? r.downtimeMs : null, totalTimeS: r.completed ? r.totalTimeMs / 1000 : null, verdict: r.completed ? (r.converged ? 'converges' : `forced (${r.stopReason})`) : `does not (${r.stopReason})` });
          }
        }
      }
      const svg = await toSvg(gridChart(cells));
      writeFilesAtomic(o.out, { 'grid.json': JSON.stringify(cells, null, 2) + '\n', 'charts/grid.svg': svg, 'charts/grid.png': toPng(svg) });
      if (o.json) { out.log(JSON.stringify(cells, null, 2)); return; }
      out.log(profileLine([{ name: trace, trace: t }], o.calibration, o.linkBandwidth));
      for (const m of [...new Set(cells.map((c) => c.method))]) {
        out.log(`${m}: total time / downtime per bandwidth (rows) × downtime-limit (columns); "no" = does not converge`);
        const mine = cells.filter((c) => c.method === m);
        const head = ['bandwidth', ...o.downtimeLimit.map((d) => `${d} ms`)];
        const rows = o.bandwidth.map((bw) => [fmtBw(bw), ...o.downtimeLimit.map((d) => {
          const c = mine.find((x) => x.bandwidth === fmtBw(bw) && x.downtimeLimitMs === d)!;
          return c.downtimeMs === null ? 'no' : `${c.totalTimeS!.toFixed(1)} s / ${c.downtimeMs.toFixed(0)} ms`;
        })]);
        const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
        out.log(head.map((h, i) => h.padStart(w[i]!)).join('  '));
        for (const r of rows) out.log(r.map((v, i) => v.padStart(w[i]!)).join('  '));
        out.log('');
      }
      out.log(`chart: ${joinPath(o.out, 'charts/grid.png')}`);
    });

  program
    .command('validate')
    .description('replay real QEMU migrations (run directories: trace.jsonl.gz, result.json, sent.jsonl.gz) and compare the predictions with what QEMU measured')
    .argument('<run-dir...>', 'run directories, e.g. test/fixtures/qemu-runs/*')
    .option('--json', 'print {calibration, runs, summary}')
    .option('--out <dir>', 'write validate.csv and validate.json there')
    .option('--calibration <name>', 'use this profile (default: chosen from each run\'s QEMU version and accelerator)')
    .option('--calibrate-on <run-dir...>', 'derive the constants from these runs (by the rules of src/validate/derive.ts) instead of a stored profile')
    .addOption(new Option('--leave-out <unit>', 'for each run (or workload family) in turn, fit the profile on all the others and predict the one left out').choices(['run', 'family']))
    .option('--check', 'exit 4 when a target is not met')
    .option('--no-per-sync', 'skip the per-sync comparison with sent.jsonl.gz (faster)')
    .action(async (dirs: string[], o: { json?: boolean; out?: string; calibration?: string; calibrateOn?: string[]; leaveOut?: 'run' | 'family'; check?: boolean; perSync: boolean }) => {
      const runs: RunRecord[] = dirs.map((d) => readRun(d));
      const kernel = await Kernel.load();
      if (o.leaveOut && (o.calibrateOn || o.calibration)) throw new UsageError('--leave-out fits its own profiles: give it without --calibration or --calibrate-on');
      let fixed: Calibration | undefined;
      if (o.calibrateOn) fixed = await deriveCalibration('derived', o.calibrateOn.map((d) => readRun(d)), kernel);
      else if (o.calibration) {
        fixed = getCalibration(o.calibration);
        if (!fixed) throw new UsageError(`unknown calibration "${o.calibration}"; profiles: ${calibrationNames().join(', ')}`);
      }
      const used = new Map<string, Calibration>();
      let rows: RunComparison[] = [];
      let folds: Fold[] | null = null;
      if (o.leaveOut) {
        const lo = await validateLeaveOut(runs, o.leaveOut, kernel, { perSync: o.perSync });
        rows = lo.rows;
        folds = lo.folds;
      } else {
        for (const run of runs) {
          const cal = fixed ?? getCalibration(profileFor(run))!;
          used.set(cal.name, cal);
          rows.push(await validateRun(run, cal, kernel, { perSync: o.perSync }));
        }
      }
      const summary = summarize(rows);
      const cals = [...used.values()];
      const doc = {
        calibration: folds ? null : cals.length === 1 ? { name: cals[0]!.name, constants: cals[0]!.constants } : cals.map((c) => ({ name: c.name, constants: c.constants })),
        ...(folds ? { leaveOut: o.leaveOut, folds: folds.map((f) => ({ leftOut: f.leftOut, calibration: f.calibration.name, constants: f.calibration.constants })) } : {}),
        runs: rows,
        summary,
      };
      if (o.out) writeOut(o.out, { 'validate.json': JSON.stringify(doc, null, 2) + '\n', 'validate.csv': csvOf(rows) });
      out.log(o.json ? JSON.stringify(doc, null, 2) : renderValidation(cals, rows, summary, o.leaveOut));
      if (o.check && !summary.meetsTargets) throw new TargetsNotMet();
    });

  registerRecord(program, out);
  return program;
}

/** What differs between two comparison definitions, for merge's refusal. */
function diffSpec(a: CompareSpec, b: CompareSpec): string {
  const keys = Object.keys(a) as (keyof CompareSpec)[];
  const d = keys.filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]));
  return d.map((k) => `${k} ${JSON.stringify(b[k])} vs ${JSON.stringify(a[k])}`).join('; ').slice(0, 300);
}

/** Run the CLI; returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (e) {
    if (process.env.DIRTYLAB_DEBUG) console.error(e);
    if (e instanceof CommanderError) {
      // commander already printed its message (help and version exit 0).
      return e.exitCode === 0 ? 0 : 1;
    }
    if (e instanceof TargetsNotMet) return 4;
    if (e instanceof UsageError) {
      process.stderr.write(`dirtylab: ${e.message}\n`);
      return 1;
    }
    if (e instanceof TraceError) {
      process.stderr.write(`dirtylab: ${e.message}\n`);
      return 2;
    }
    if (e instanceof KernelMemoryError) {
      process.stderr.write(`dirtylab: ${e.message}\n`);
      return 3;
    }
    const err = e as NodeJS.ErrnoException;
    if (err?.code && err.path) {
      // A file-system error on an output path (e.g. a missing directory).
      process.stderr.write(`dirtylab: ${err.path}: cannot write (${err.code})\n`);
      return 2;
    }
    process.stderr.write(`dirtylab: internal error: ${err?.message ?? String(e)}\n`);
    return 3;
  }
}
