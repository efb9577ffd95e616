/**
 * Validation against real QEMU migrations (docs/methods.md): replay each run's
 * recorded trace with the matching method under the run's own parameters and
 * compare the prediction with what QEMU measured. `validate` adds nothing to
 * the model: each run's prediction is exactly `dirtylab simulate` with the
 * options printed in `command`.
 */
import { median } from 'simple-statistics';
import type { Kernel } from '../kernel/index.js';
import { getCalibration, registerCalibration, type Calibration } from '../sim/calibration.js';
import { allRunConstants, profileFrom } from './derive.js';
import type { SimResult } from '../sim/result.js';
import { simulate, type SimulateOptions } from '../sim/simulate.js';
import { fileInput } from '../trace/node.js';
import { readTrace } from '../trace/open.js';
import type { Trace } from '../trace/model.js';
import { formatRecordedThrottle } from '../trace/warp.js';
import { formatBandwidth, formatDowntimeSteps } from '../sim/units.js';
import { readSentRounds, recordedProgress, type RunRecord } from './run.js';
import { XbzrleCache } from '../sim/methods/xbzrle.js';

/** Predicted vs measured for one figure. */
export interface Compared {
  predicted: number | null;
  measured: number | null;
  /** predicted − measured. */
  error: number | null;
  /** error / measured. */
  relError: number | null;
}

/** One run's comparison. */
export interface RunComparison {
  name: string;
  method: string;
  /** The workload family (result.json workload.wl). */
  family?: string;
  /** max-bandwidth, bytes/s. */
  bandwidthBytesPerSec?: number;
  /** Recorded while other processes used > 20 % of the host: shown, kept out of the targets and calibrations. */
  busy?: boolean;
  /** The profile the prediction used (with --leave-out: fitted without this run or its family). */
  calibration?: string;
  skipped?: string;
  completed?: { predicted: boolean; measured: boolean };
  totalTimeMs?: Compared;
  transferredBytes?: Compared;
  dirtySyncCount?: Compared;
  downtimeMs?: Compared;
  /** Post-copy runs: the destination's page requests (target: within 2× of QEMU's; a write-only trace cannot see reads). */
  postcopyRequests?: Compared;
  /**
   * Post-copy runs: how long the guest was really paused, postcopy_start → the
   * destination runs it (QEMU's downtime, source side, is only the first part).
   */
  postcopyGuestPauseMs?: Compared;
  /** Post-copy runs: how the model assumes the guest behaves after the switch. */
  assumption?: string;
  /**
   * XBZRLE runs: cache hits (QEMU's xbzrle-cache pages) and misses (cache-miss),
   * predicted vs QEMU's counters; `rule` = QEMU's cache rule replayed over the
   * pages QEMU really sent (sent.jsonl.gz), which separates the rule from the
   * predicted page sequence (null: no sent.jsonl.gz).
   */
  xbzrleCacheHits?: Compared & { rule: number | null };
  xbzrleCacheMisses?: Compared & { rule: number | null };
  /** Per sync: predicted and measured new dirty pages, and the overlap (Jaccard) of the pages sent after it. */
  syncs?: { sync: number; predictedDirtyPages: number | null; measuredDirtyPages: number | null; sentOverlap: number | null }[];
  /** The equivalent `dirtylab simulate` command. */
  command?: string;
}

/** The validation targets (errors as fractions; ms), judged over the quiet runs. */
export const TARGETS = {
  medianTotalTime: 0.03,
  medianTransferred: 0.01,
  worst: 0.1,
  syncWithin1: 0.9,
  medianDowntimeMs: 8,
  /** No bandwidth class with a median |downtime error| above this. */
  bandwidthDowntimeMs: 12,
};

/** Median errors of a group of runs (a bandwidth class, a method, a family). */
export interface GroupSummary {
  runs: number;
  medianAbsRelError: { totalTimeMs: number | null; transferredBytes: number | null };
  medianAbsDowntimeErrorMs: number | null;
}

/** Median and worst errors across runs, and whether the targets hold. */
export interface Summary {
  runs: number;
  replayed: number;
  skipped: number;
  medianAbsRelError: { totalTimeMs: number | null; transferredBytes: number | null };
  worstAbsRelError: { totalTimeMs: number | null; transferredBytes: number | null };
  verdictsRight: number;
  syncWithin1: number | null;
  medianAbsDowntimeErrorMs: number | null;
  meanSentOverlap: number | null;
  /** Quiet runs only, by max-bandwidth ("32 MiB/s"), by method, by workload family. */
  byBandwidth: Record<string, GroupSummary>;
  byMethod: Record<string, GroupSummary>;
  byFamily: Record<string, GroupSummary>;
  /** Runs left out of the figures above because the host was busy while they were recorded. */
  busy: string[];
  targets: typeof TARGETS;
  meetsTargets: boolean;
}

function compare(predicted: number | null, measured: number | null): Compared {
  const error = predicted !== null && measured !== null ? predicted - measured : null;
  return { predicted, measured, error, relError: error !== null && measured ? error / measured : null };
}

/** The method that replays a run. */
export function methodFor(run: RunRecord): string | null {
  if (run.capability === 'precopy') return 'qemu-precopy';
  if (run.capability === 'auto-converge') return 'qemu-auto-converge';
  if (run.capability === 'postcopy') return 'hybrid';
  if (run.capability === 'xbzrle') return 'xbzrle';
  return null;
}

/** The calibration profile for a run's host, from its metadata (QEMU version, accelerator). */
export function profileFor(run: RunRecord): string {
  if (/QEMU emulator version 7\.2/.test(run.qemu) && /tcg/i.test(run.accel)) return 'qemu-7.2-tcg';
  return 'ideal';
}

/** The simulate options that replay a run (what `validate` and the printed command use). */
export function simulateOptionsFor(run: RunRecord, cal: Calibration): SimulateOptions & { method: string } {
  const method = methodFor(run)!;
  const progress = recordedProgress(run, cal.setupStallsGuest);
  const params: Record<string, string> = { rearm: 'sync' }; // TCG re-arms its dirty tracking at each sync
  if (method === 'hybrid') {
    params['switch-after'] = `${run.postcopy?.commandMs ?? run.postcopyAfterMs ?? 0}ms`; // when migrate-start-postcopy was sent
    if (run.maxPostcopyBandwidth) params['max-postcopy-bandwidth'] = String(run.maxPostcopyBandwidth);
  }
  if (method === 'xbzrle' && run.xbzrle) params['xbzrle-cache-size'] = String(run.xbzrle.cacheSize);
  if (run.multifdChannels > 0) params['multifd-channels'] = String(run.multifdChannels);
  return {
    method,
    params,
    bandwidth: run.bandwidthBytesPerSec,
    downtimeLimitMs: run.downtimeLimitMs,
    downtimeSteps: run.downtimeSteps.length ? run.downtimeSteps : undefined,
    startTimeMs: 0,
    maxTimeMs: run.measured.completed ? undefined : (run.cancelAfterMs ?? run.measured.totalTimeMs), // cancelled: at its cancel time
    calibration: cal.name,
    recordedThrottle: progress,
  };
}

/** The command line equivalent to simulateOptionsFor. */
export function commandFor(run: RunRecord, o: SimulateOptions & { method: string }): string {
  const parts = ['dirtylab simulate', run.tracePath, `--method ${o.method}`, `--bandwidth ${o.bandwidth}`, `--downtime-limit ${o.downtimeLimitMs}ms`, '--start-time 0', ...Object.entries(o.params ?? {}).map(([k, v]) => `--param ${k}=${v}`)];
  if (o.downtimeSteps?.length) parts.push(`--downtime-steps ${formatDowntimeSteps(o.downtimeSteps)}`);
  if (o.maxTimeMs !== undefined) parts.push(`--max-time ${o.maxTimeMs}ms`);
  parts.push(`--calibration ${o.calibration}`);
  if (o.recordedThrottle?.length) parts.push(`--recorded-throttle ${formatRecordedThrottle(o.recordedThrottle)}`);
  return parts.join(' ');
}

/** Pages sent after each sync in a simulation (pc.ram pages only). */
async function simulateWithSends(trace: Trace, o: SimulateOptions, kernel: Kernel): Promise<{ r: SimResult; sent: Map<number, Set<number>> }> {
  const sent = new Map<number, Set<number>>();
  let sync = 0;
  const r = await simulate(trace, {
    ...o,
    kernel,
    hooks: {
      onSync: (n) => { sync = n; },
      onSend: (_pages, _g, _w, normal) => {
        // sent.jsonl.gz lists the pages QEMU sent as normal pages: compare those.
        let s = sent.get(sync);
        if (!s) sent.set(sync, (s = new Set()));
        for (const p of normal) s.add(p);
      },
    },
  });
  return { r, sent };
}

/** Replay one run and compare. */
export async function validateRun(run: RunRecord, cal: Calibration, kernel: Kernel, opts: { perSync?: boolean } = {}): Promise<RunComparison> {
  const method = methodFor(run);
  if (!method) return { name: run.name, method: run.capability, family: run.family, bandwidthBytesPerSec: run.bandwidthBytesPerSec, busy: run.busy, skipped: `no dirtylab method replays ${run.capability} runs` };
  const o = simulateOptionsFor(run, cal);
  const trace = await readTrace(fileInput(run.tracePath));
  const { r, sent } = await simulateWithSends(trace, o, kernel);
  const m = run.measured;
  const out: RunComparison = {
    name: run.name,
    method,
    family: run.family,
    bandwidthBytesPerSec: run.bandwidthBytesPerSec,
    busy: run.busy,
    calibration: cal.name,
    completed: { predicted: r.completed, measured: m.completed },
    totalTimeMs: compare(r.totalTimeMs, m.totalTimeMs),
    transferredBytes: compare(r.transferredBytes, m.transferredBytes),
    dirtySyncCount: compare(r.dirtySyncCount, m.dirtySyncCount),
    downtimeMs: compare(r.downtimeMs, m.downtimeMs),
    command: commandFor(run, o),
  };
  if (method === 'hybrid') {
    out.postcopyRequests = compare(r.remoteFaults, m.postcopyRequests);
    const pc = run.postcopy;
    const pause = Number(r.extra.postcopyGuestStartsMs) - Number(r.extra.switchedAtMs); // the stop → the guest runs on the destination
    out.postcopyGuestPauseMs = compare(Number.isFinite(pause) ? pause : null, pc?.dstRunMs != null ? pc.dstRunMs - pc.startMs : null);
    out.assumption = 'after the switch the destination guest is assumed to write as the recording does, looped from its start (the trace ends at the switch: the destination\'s writes were not recorded); a page is requested when first written (reads are not in the trace); downtime is QEMU\'s source-side figure (stop → package sent), the wait until the destination runs the guest is guest stall';
  }
  const real = run.sentPath && (opts.perSync !== false || run.xbzrle) ? await readSentRounds(run.sentPath) : new Map<number, Uint32Array>();
  if (method === 'xbzrle' && run.xbzrle) {
    const c = run.xbzrle.counters;
    const rule = run.sentPath ? replayXbzrleCache(real, run.xbzrle.cacheSize, run.pageSize, m.completed) : null;
    const num = (v: unknown) => (typeof v === 'number' ? v : null);
    out.xbzrleCacheHits = { ...compare(num(r.extra.xbzrleCacheHits), c?.pages ?? null), rule: rule?.hits ?? null };
    out.xbzrleCacheMisses = { ...compare(num(r.extra.xbzrleCacheMisses), c?.cacheMiss ?? null), rule: rule?.misses ?? null };
  }
  if (opts.perSync !== false) {
    const n = Math.max(r.rounds.length, run.syncs.length);
    out.syncs = [];
    for (let i = 0; i < n; i++) {
      const sync = i + 1;
      const pr = r.rounds[i];
      const ms = run.syncs[i];
      const a = sent.get(sync);
      const b = real.get(sync);
      let overlap: number | null = null;
      if (a && b) {
        let inter = 0;
        for (const p of b) if (a.has(p)) inter++;
        const union = a.size + b.length - inter;
        overlap = union > 0 ? inter / union : 1;
      }
      out.syncs.push({ sync, predictedDirtyPages: pr?.dirtyPages ?? null, measuredDirtyPages: ms?.newDirtyPages ?? null, sentOverlap: overlap });
    }
  }
  return out;
}

/**
 * QEMU's XBZRLE cache rule (the xbzrle method's XbzrleCache) replayed over the
 * pages QEMU really sent, round by round in send order: XBZRLE starts at the
 * cursor's first wrap (the first page lower than the one before it), the age
 * is the round's sync number, and the final round of a completed run inserts
 * nothing. Zero pages are not in sent.jsonl.gz, so they take no slots here.
 */
export function replayXbzrleCache(rounds: Map<number, Uint32Array>, cacheSize: number, pageSize: number, completed: boolean): { hits: number; misses: number; perRound: { round: number; hits: number; misses: number }[] } {
  const cache = new XbzrleCache(cacheSize, pageSize);
  const order = [...rounds.keys()].sort((a, b) => a - b);
  const lastRound = completed ? order[order.length - 1] : undefined;
  let started = false;
  let prev = -1;
  let hits = 0;
  let misses = 0;
  const perRound: { round: number; hits: number; misses: number }[] = [];
  for (const g of order) {
    let h = 0;
    let m = 0;
    for (const q of rounds.get(g)!) {
      if (!started && q < prev) started = true;
      prev = q;
      if (!started) continue;
      if (cache.lookup(q, g)) h++;
      else {
        m++;
        if (g !== lastRound) cache.insert(q, g);
      }
    }
    hits += h;
    misses += m;
    perRound.push({ round: g, hits: h, misses: m });
  }
  return { hits, misses, perRound };
}

/** Median errors of a group of rows. */
function group(rows: RunComparison[]): GroupSummary {
  const abs = (k: 'totalTimeMs' | 'transferredBytes') => rows.map((x) => Math.abs(x[k]!.relError ?? NaN)).filter(Number.isFinite);
  const down = rows.map((x) => Math.abs(x.downtimeMs!.error ?? NaN)).filter(Number.isFinite);
  const med = (xs: number[]) => (xs.length ? median(xs) : null);
  return { runs: rows.length, medianAbsRelError: { totalTimeMs: med(abs('totalTimeMs')), transferredBytes: med(abs('transferredBytes')) }, medianAbsDowntimeErrorMs: med(down) };
}

function groupBy(rows: RunComparison[], key: (r: RunComparison) => string): Record<string, GroupSummary> {
  const m = new Map<string, RunComparison[]>();
  for (const r of rows) {
    const k = key(r);
    if (!m.has(k)) m.set(k, []);
    m.get(k)!.push(r);
  }
  return Object.fromEntries([...m.entries()].sort((a, b) => a[0].localeCompare(b[0], 'en', { numeric: true })).map(([k, v]) => [k, group(v)]));
}

/**
 * Median and worst absolute errors, verdicts, syncs, downtime, by bandwidth,
 * method and family; and the targets. Figures are over the quiet runs (runs
 * recorded on a busy host are listed in `busy` and left out).
 */
export function summarize(rows: RunComparison[]): Summary {
  const replayed = rows.filter((x) => !x.skipped);
  const done = replayed.filter((x) => !x.busy);
  const abs = (k: 'totalTimeMs' | 'transferredBytes') => done.map((x) => Math.abs(x[k]!.relError ?? NaN)).filter(Number.isFinite);
  const med = (xs: number[]) => (xs.length ? median(xs) : null);
  const max = (xs: number[]) => (xs.length ? Math.max(...xs) : null);
  const tt = abs('totalTimeMs');
  const tb = abs('transferredBytes');
  const syncOk = done.filter((x) => Math.abs(x.dirtySyncCount!.error ?? Infinity) <= 1).length;
  const down = done.map((x) => Math.abs(x.downtimeMs!.error ?? NaN)).filter(Number.isFinite);
  const overlaps = done.flatMap((x) => (x.syncs ?? []).map((s) => s.sentOverlap).filter((v): v is number => v !== null));
  const s: Summary = {
    runs: rows.length,
    replayed: replayed.length,
    skipped: rows.length - replayed.length,
    medianAbsRelError: { totalTimeMs: med(tt), transferredBytes: med(tb) },
    worstAbsRelError: { totalTimeMs: max(tt), transferredBytes: max(tb) },
    verdictsRight: done.filter((x) => x.completed!.predicted === x.completed!.measured).length,
    syncWithin1: done.length ? syncOk / done.length : null,
    medianAbsDowntimeErrorMs: med(down),
    meanSentOverlap: overlaps.length ? overlaps.reduce((a, b) => a + b, 0) / overlaps.length : null,
    byBandwidth: groupBy(done, (r) => formatBandwidth(r.bandwidthBytesPerSec ?? 0)),
    byMethod: groupBy(done, (r) => r.method),
    byFamily: groupBy(done, (r) => r.family ?? '?'),
    busy: replayed.filter((x) => x.busy).map((x) => x.name),
    targets: TARGETS,
    meetsTargets: false,
  };
  s.meetsTargets = done.length > 0
    && (s.medianAbsRelError.totalTimeMs ?? 1) <= TARGETS.medianTotalTime
    && (s.medianAbsRelError.transferredBytes ?? 1) <= TARGETS.medianTransferred
    && (s.worstAbsRelError.totalTimeMs ?? 1) <= TARGETS.worst
    && (s.worstAbsRelError.transferredBytes ?? 1) <= TARGETS.worst
    && s.verdictsRight === done.length
    && (s.syncWithin1 ?? 0) >= TARGETS.syncWithin1
    && (s.medianAbsDowntimeErrorMs ?? Infinity) <= TARGETS.medianDowntimeMs
    && Object.values(s.byBandwidth).every((g) => (g.medianAbsDowntimeErrorMs ?? 0) <= TARGETS.bandwidthDowntimeMs);
  return s;
}

/** The profile used for a set of runs (all must agree), or an explicit one. */
export function calibrationFor(runs: RunRecord[], name?: string): Calibration {
  const n = name ?? profileFor(runs[0]!);
  const c = getCalibration(n);
  if (!c) throw new Error(`no calibration profile "${n}"`);
  return c;
}

/** One fold of a leave-out validation: what was left out and the profile fitted without it. */
export interface Fold {
  leftOut: string;
  calibration: Calibration;
}

/**
 * validate --leave-out run|family: for each run (or each workload family) in
 * turn, a profile fitted on all the other runs (quiet ones only; by the rules
 * of derive.ts) predicts the run(s) left out. Every per-run constant depends
 * on its own run only, so they are read once.
 */
export async function validateLeaveOut(runs: RunRecord[], mode: 'run' | 'family', kernel: Kernel, opts: { perSync?: boolean } = {}): Promise<{ rows: RunComparison[]; folds: Fold[] }> {
  const per = await allRunConstants(runs, kernel);
  const unit = (r: { name: string; family: string }) => (mode === 'run' ? r.name : r.family);
  const units = [...new Set(runs.map(unit))];
  const rows = new Map<string, RunComparison>();
  const folds: Fold[] = [];
  for (const u of units) {
    const cal = profileFrom(`leave-out:${u}`, per.filter((c) => unit(c) !== u));
    registerCalibration(cal);
    folds.push({ leftOut: u, calibration: cal });
    for (const r of runs.filter((x) => unit(x) === u)) rows.set(r.name, await validateRun(r, cal, kernel, opts));
  }
  return { rows: runs.map((r) => rows.get(r.name)!), folds };
}
