/**
 * `dirtylab validate`.
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Command, Option } from 'commander';
import { TraceError } from '../trace/model.js';
import { Kernel } from '../kernel/index.js';
import { calibrationNames } from '../sim/calibration.js';
import { readRun, type RunRecord } from '../validate/run.js';
import { validateRun, validateLeaveOut, summarize, profileFor, type Fold, type RunComparison, type Summary } from '../validate/validate.js';
import { deriveCalibration } from '../validate/derive.js';
import { getCalibration, type Calibration } from '../sim/calibration.js';
import '../sim/profiles.js';

import { snakeCase } from '../report/tables.js';
import { UsageError, fmt, writeOut, TargetsNotMet, type Out } from './common.js';

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
  for (const r of rows) {
    const h = r.xbzrleCacheHits;
    const m = r.xbzrleCacheMisses;
    if (!h || !m) continue;
    const v = (x: number | null) => (x === null ? '–' : fmt(x));
    const rule = h.rule === null ? '' : `; QEMU's cache rule over QEMU's own sends: ${v(h.rule)} hits, ${v(m.rule)} misses`;
    out.push(`${r.name}: XBZRLE cache hits ${v(h.predicted)} predicted / ${v(h.measured)} by QEMU (${pct(h.relError)}), misses ${v(m.predicted)} / ${v(m.measured)} (${pct(m.relError)})${rule}`);
  }
  for (const r of rows) {
    if (!r.postcopyRequests) continue;
    const pause = r.postcopyGuestPauseMs;
    const paused = pause && pause.predicted !== null && pause.measured !== null ? `; guest paused ${fmt(pause.predicted, 1)}/${fmt(pause.measured, 1)} ms pred/real (stop → running on the destination; QEMU's downtime is its source-side part)` : '';
    out.push(`${r.name}: post-copy page requests ${fmt(r.postcopyRequests.predicted ?? 0)} predicted / ${fmt(r.postcopyRequests.measured ?? 0)} by QEMU${paused}`);
  }
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
  // snake_case like every CSV/Arrow column (docs/outputs.md): totalTimeMs.relError → total_time_ms_rel_error.
  for (const m of metrics) head.push(...['predicted', 'measured', 'error', 'relError'].map((k) => snakeCase(`${m}_${k}`)));
  const q = (v: unknown) => (v === null || v === undefined ? '' : typeof v === 'string' && /[",\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : String(v));
  const lines = [head.join(',')];
  for (const r of rows) {
    const cells: unknown[] = [r.name, r.method, r.skipped ?? '', r.completed?.predicted, r.completed?.measured];
    for (const m of metrics) { const c = r[m]; cells.push(c?.predicted, c?.measured, c?.error, c?.relError); }
    lines.push(cells.map(q).join(','));
  }
  return lines.join('\n') + '\n';
}


/**
 * The run directories among several paths: a shell glob such as
 * `qemu-runs/*` also brings notes and other folders, so a path that exists
 * but is no run (neither result.json nor trace.jsonl.gz in it) is skipped
 * with a note on stderr. A single path is taken as given: readRun says what
 * it lacks.
 */
function runDirs(dirs: string[]): string[] {
  if (dirs.length < 2) return dirs;
  const keep = dirs.filter((d) => {
    if (!existsSync(d)) return true; // a typo: readRun's error names it
    const isRun = statSync(d).isDirectory() && (existsSync(join(d, 'result.json')) || existsSync(join(d, 'trace.jsonl.gz')));
    if (!isRun) process.stderr.write(`dirtylab: skipping ${d}: not a run directory (no result.json, no trace.jsonl.gz)\n`);
    return isRun;
  });
  if (keep.length === 0) throw new TraceError(dirs.join(', '), {}, 'at least one run directory (result.json and trace.jsonl.gz)');
  return keep;
}


/** Register `dirtylab validate`. */
export function registerValidate(program: Command, out: Out): void {
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
      const runs: RunRecord[] = runDirs(dirs).map((d) => readRun(d));
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
}
