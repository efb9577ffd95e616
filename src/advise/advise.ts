/**
 * advise(): before you migrate — does plain QEMU pre-copy converge at the
 * operator's settings, what are the smallest downtime-limit and max-bandwidth
 * that make it converge, and if it cannot meet the constraints, which shipped
 * alternative can and at what cost to the guest; with the settings to apply
 * (settings.ts) and how sure the answer is. Issue 14.
 *
 * Every figure is over the trace's start offsets (stats/compare.ts
 * startOffsets, as compare does: N equally spaced guest instants, one seeded
 * phase). A run "converges" when it completes within the deadline; it "meets
 * the constraints" when, in addition, its downtime ≤ max-downtime and the
 * guest lost ≤ max-guest-slowdown of the migration's wall time.
 *
 * The searches are bisections on a log scale, assuming convergence is
 * monotone in the knob: each probe runs the offsets in turn and fails at the
 * first offset that does not converge once fewer than 95 % can (so a failing
 * probe usually costs one run). They stop when the bracket's upper end is
 * within SEARCH_RESOLUTION (5 %) of its lower end and report the upper end.
 */
import { Kernel } from '../kernel/index.js';
import type { DowntimeStep } from '../sim/engine.js';
import { getCalibration } from '../sim/calibration.js';
import { ParamError } from '../sim/method.js';
import type { SimResult } from '../sim/result.js';
import { defaultCalibrationName, defaultLinkBandwidth, simulate } from '../sim/simulate.js';
import { bootstrapCI, medianOf } from '../stats/bootstrap.js';
import { startOffsets } from '../stats/compare.js';
import type { Trace } from '../trace/model.js';
import { traceFromRates, type RateSample } from '../trace/import/rates.js';
import { renderSettings, type Settings } from './settings.js';
import '../sim/profiles.js';

/** Bisection stops when hi / lo ≤ 1 + this. */
export const SEARCH_RESOLUTION = 0.05;
/** Convergence share a setting needs to count as converging. */
export const CONVERGE_SHARE = 0.95;
/** Default start offsets. */
export const DEFAULT_OFFSETS = 10;
/** QEMU's downtime-limit range, ms (migration/options.c: MAX_MIGRATE_DOWNTIME = 2000 s). */
export const DOWNTIME_RANGE_MS: [number, number] = [1, 2_000_000];
/** Lowest max-bandwidth the search tries, bytes/s (1 MiB/s). */
export const MIN_SEARCH_BANDWIDTH = 2 ** 20;

/**
 * The shipped profiles' validated error on real runs (`dirtylab validate
 * test/fixtures/qemu-runs`, src/validate/: the quiet runs, pre-copy and its
 * capabilities). Constants, not computed at run time.
 */
export const VALIDATION: Record<string, { runs: number; medianAbsTimeErrorPct: number; medianAbsDowntimeErrorMs: number; source: string }> = {
  'qemu-7.2-tcg': { runs: 26, medianAbsTimeErrorPct: 1.4, medianAbsDowntimeErrorMs: 2.9, source: 'dirtylab validate --leave-out run over the 26 quiet runs of test/fixtures/qemu-runs: each run predicted by a profile fitted without it (README, "How close to real QEMU"; test/validate.test.ts holds the targets)' },
};

/** Options of advise(). */
export interface AdviseOptions {
  /** The operator's max-bandwidth today, bytes/s. */
  bandwidth: number;
  /** The operator's downtime-limit today, ms. */
  downtimeLimitMs: number;
  linkBandwidth?: number;
  calibration?: string;
  /** Most downtime the workload bears, ms (default downtimeLimitMs). */
  maxDowntimeMs?: number;
  /** A migration must complete within this, ms (default 10 min). */
  deadlineMs?: number;
  /** Most guest time lost, as a share of the migration's wall time (default 0.3). */
  maxGuestSlowdown?: number;
  /** Start offsets (default 10). */
  offsets?: number;
  seed?: number;
  kernel?: Kernel;
  /** Skip the two-shape spread of a synthetic trace (used for the inner runs). */
  noShapes?: boolean;
  onProgress?: (what: string) => void;
}

/** How to run one option with simulate(). */
export interface RunSpec {
  method: string;
  params: Record<string, string>;
  bandwidth: number;
  downtimeLimitMs: number;
  downtimeSteps?: DowntimeStep[];
}

/** Medians and 95 % CIs over runs. */
export interface Stat { median: number | null; ci: [number, number] | null }

/** One setting evaluated over the offsets. */
export interface Evaluation {
  runs: number;
  /** Completed within the deadline. */
  convergedFraction: number;
  /** Completed within the deadline with downtime ≤ max-downtime and slowdown ≤ max-guest-slowdown. */
  meetsFraction: number;
  totalTimeMs: Stat;
  downtimeMs: Stat;
  /** Largest downtime of a converged run, ms. */
  worstDowntimeMs: number | null;
  /** Guest time lost (throttle, dirty-limit, post-copy faults and start), ms. */
  guestLostMs: Stat;
  /** guestLost / total time. */
  guestSlowdown: Stat;
  maxThrottlePct: Stat;
  postcopyRequests: Stat;
  traceLoops: number;
}

/** An alternative with its guest cost. */
export interface AdviseOption {
  id: string;
  label: string;
  run: RunSpec;
  evaluation: Evaluation;
  meets: boolean;
  /** Why not (when not meets). */
  why?: string;
  note?: string;
}

/** advise()'s answer (the JSON of `dirtylab advise --json`, schemas/advise.schema.json). */
export interface AdviseResult {
  schemaVersion: 1;
  trace: { nPages: number; pageSize: number; durationMs: number; synthetic: boolean };
  given: { bandwidthBytesPerSec: number; downtimeLimitMs: number; linkBandwidthBytesPerSec: number; maxDowntimeMs: number; deadlineMs: number; maxGuestSlowdown: number };
  offsets: number[];
  precopy: Evaluation & { converges: boolean; meets: boolean };
  minDowntimeLimitMs: number | null;
  minBandwidthBytesPerSec: number | null;
  search: { resolution: number; share: number; downtimeRangeMs: [number, number]; bandwidthRange: [number, number]; probes: number; note: string };
  options: AdviseOption[];
  /** Alternatives not tried, and why. */
  skipped: string[];
  recommended: string | null;
  settings: Settings | null;
  /** The printed Nova and KubeVirt settings replayed through the `nova` and `kubevirt` methods. */
  orchestrators: { orchestrator: 'nova' | 'kubevirt'; meets: boolean; convergedFraction: number; meetsFraction: number; totalTimeMs: Stat; downtimeMs: Stat; guestSlowdown: Stat }[];
  confidence: { calibration: string; validation: (typeof VALIDATION)[string] | null; coverage: string; notes: string[] };
  synthetic: null | { note: string; shapeWorstRelError: number | null; fitWorstRelError: number | null; shapeAssumption: string | null; shapes: { shape: string; convergedFraction: number; totalTimeMs: Stat; downtimeMs: Stat; minDowntimeLimitMs: number | null }[] };
  elapsedMs: number;
}

const stat = (xs: number[], seed: number): Stat => (xs.length ? { median: medianOf(xs), ci: bootstrapCI(xs, (s) => medianOf(s), { seed, resamples: 1000 }) } : { median: null, ci: null });

/** advise() over a trace. */
export async function advise(trace: Trace, o: AdviseOptions): Promise<AdviseResult> {
  const t0 = Date.now();
  if (!(o.bandwidth > 0)) throw new ParamError('--bandwidth must be > 0');
  if (!(o.downtimeLimitMs > 0)) throw new ParamError('--downtime-limit must be > 0');
  const kernel = o.kernel ?? (await Kernel.load());
  const calName = defaultCalibrationName(trace, o.calibration);
  if (!getCalibration(calName)) throw new ParamError(`unknown calibration "${calName}"`);
  const link = defaultLinkBandwidth(calName, o.linkBandwidth);
  const maxDowntimeMs = o.maxDowntimeMs ?? o.downtimeLimitMs;
  const deadlineMs = o.deadlineMs ?? 600_000;
  const maxSlow = o.maxGuestSlowdown ?? 0.3;
  const n = o.offsets ?? DEFAULT_OFFSETS;
  if (!Number.isInteger(n) || n < 1) throw new ParamError('--offsets must be an integer ≥ 1');
  const seed = o.seed ?? 1;
  const starts = startOffsets(trace, n, seed);
  const allowedFailures = Math.floor(n * (1 - CONVERGE_SHARE) + 1e-9);
  let probes = 0;

  const one = (spec: RunSpec, start: number) => simulate(trace, {
    method: spec.method, params: spec.params, bandwidth: spec.bandwidth, downtimeLimitMs: spec.downtimeLimitMs,
    downtimeSteps: spec.downtimeSteps, linkBandwidth: o.linkBandwidth, calibration: o.calibration, startGuestNs: start, maxTimeMs: deadlineMs, kernel,
  });
  const converged = (r: SimResult) => r.completed && r.totalTimeMs <= deadlineMs;
  const slowdown = (r: SimResult) => (r.totalTimeMs > 0 ? r.guestStallMs / r.totalTimeMs : 0);
  const meets = (r: SimResult) => converged(r) && (r.downtimeMs ?? Infinity) <= maxDowntimeMs && slowdown(r) <= maxSlow;
  const evaluate = async (spec: RunSpec): Promise<Evaluation> => {
    const rs: SimResult[] = [];
    for (const s of starts) rs.push(await one(spec, s));
    const ok = rs.filter(converged);
    return {
      runs: rs.length,
      convergedFraction: ok.length / rs.length,
      meetsFraction: rs.filter(meets).length / rs.length,
      totalTimeMs: stat(ok.map((r) => r.totalTimeMs), seed),
      downtimeMs: stat(ok.map((r) => r.downtimeMs!), seed),
      worstDowntimeMs: ok.length ? Math.max(...ok.map((r) => r.downtimeMs!)) : null,
      guestLostMs: stat(ok.map((r) => r.guestStallMs), seed),
      guestSlowdown: stat(ok.map(slowdown), seed),
      maxThrottlePct: stat(ok.map((r) => r.maxThrottlePct), seed),
      postcopyRequests: stat(ok.map((r) => r.remoteFaults), seed),
      traceLoops: Math.max(0, ...rs.map((r) => r.traceLoops)),
    };
  };
  /** Converges in ≥ 95 % of the offsets (stops at the failure that makes it impossible). */
  const passes = async (spec: RunSpec): Promise<boolean> => {
    probes++;
    let fails = 0;
    for (const s of starts) {
      if (!converged(await one(spec, s)) && ++fails > allowedFailures) return false;
    }
    return true;
  };
  /**
   * Smallest x in [lo, hi] with pass(x), log-scale bisection; null if hi fails. A value already known
   * to pass (or fail) replaces the bracket's end without a probe.
   */
  const bisect = async (lo: number, hi: number, pass: (x: number) => Promise<boolean>, known: { pass?: number; fail?: number }): Promise<number | null> => {
    if (known.pass !== undefined) hi = known.pass;
    else if (!(await pass(hi))) return null;
    if (known.fail !== undefined) lo = known.fail;
    else if (await pass(lo)) return lo;
    while (hi / lo > 1 + SEARCH_RESOLUTION) {
      const mid = Math.sqrt(lo * hi);
      if (await pass(mid)) hi = mid; else lo = mid;
    }
    return hi;
  };
  const precopyAt = (bandwidth: number, downtimeLimitMs: number): RunSpec => ({ method: 'qemu-precopy', params: {}, bandwidth, downtimeLimitMs });

  // 1. Plain pre-copy at the given settings.
  o.onProgress?.('pre-copy at the given settings');
  const base = await evaluate(precopyAt(o.bandwidth, o.downtimeLimitMs));
  const baseConverges = base.convergedFraction >= CONVERGE_SHARE;
  const baseMeets = base.meetsFraction >= CONVERGE_SHARE;

  // 2. Smallest downtime-limit at the given bandwidth; smallest bandwidth at the given limit.
  o.onProgress?.('searching the smallest downtime-limit');
  const dl = await bisect(DOWNTIME_RANGE_MS[0], DOWNTIME_RANGE_MS[1], (x) => passes(precopyAt(o.bandwidth, x)), baseConverges ? { pass: o.downtimeLimitMs } : { fail: o.downtimeLimitMs });
  const minDowntimeLimitMs = dl === null ? null : Math.ceil(dl);
  o.onProgress?.('searching the smallest max-bandwidth');
  const bw = o.noShapes ? null : await bisect(MIN_SEARCH_BANDWIDTH, Math.max(link, o.bandwidth), (x) => passes(precopyAt(x, o.downtimeLimitMs)), baseConverges ? { pass: o.bandwidth } : { fail: o.bandwidth });
  const minBandwidth = bw === null ? null : Math.ceil(bw / 2 ** 20) * 2 ** 20; // whole MiB/s, as virsh takes it

  // 3. Alternatives, if plain pre-copy cannot meet the constraints.
  const options: AdviseOption[] = [];
  const add = async (id: string, label: string, run: RunSpec, note?: string) => {
    o.onProgress?.(`alternative: ${id}`);
    const ev = await evaluate(run);
    const ok = ev.meetsFraction >= CONVERGE_SHARE;
    const why = ok ? undefined : whyNot(ev, maxDowntimeMs, maxSlow);
    options.push({ id, label, run, evaluation: ev, meets: ok, ...(why ? { why } : {}), ...(note ? { note } : {}) });
  };
  const skipped: string[] = [];
  if (!baseMeets && !o.noShapes) {
    if (minDowntimeLimitMs !== null && minDowntimeLimitMs <= maxDowntimeMs && minDowntimeLimitMs > o.downtimeLimitMs) {
      await add('raise-downtime-limit', `plain pre-copy with downtime-limit ${minDowntimeLimitMs} ms`, precopyAt(o.bandwidth, minDowntimeLimitMs));
    }
    if (minBandwidth !== null && minBandwidth > o.bandwidth && minBandwidth <= link) {
      await add('raise-bandwidth', `plain pre-copy with max-bandwidth ${minBandwidth / 2 ** 20} MiB/s`, precopyAt(minBandwidth, o.downtimeLimitMs));
    }
    await add('auto-converge', 'auto-converge (CPU throttle 20 % then +10 %)', { method: 'qemu-auto-converge', params: {}, bandwidth: o.bandwidth, downtimeLimitMs: o.downtimeLimitMs });
    await add('dirty-limit', 'dirty-limit (1 MB/s per vCPU; QEMU ≥ 8.1 with the KVM dirty ring)', { method: 'qemu-dirty-limit', params: {}, bandwidth: o.bandwidth, downtimeLimitMs: o.downtimeLimitMs }, 'not validated on real runs; not available under TCG or QEMU 7.2');
    if (minDowntimeLimitMs !== null && minDowntimeLimitMs > maxDowntimeMs) skipped.push(`raising downtime-limit: pre-copy needs ${minDowntimeLimitMs} ms, more than --max-downtime ${maxDowntimeMs} ms`);
    if (minBandwidth === null || minBandwidth > link) skipped.push(`raising max-bandwidth: no rate up to the link (${(link / 2 ** 20).toFixed(0)} MiB/s) makes pre-copy converge`);
    if (maxDowntimeMs <= o.downtimeLimitMs) skipped.push(`a downtime ramp: --max-downtime (${maxDowntimeMs} ms) leaves no room above the downtime-limit to ramp to`);
    if (maxDowntimeMs > o.downtimeLimitMs) {
      await add('downtime-ramp', `downtime ramp ${o.downtimeLimitMs} → ${maxDowntimeMs} ms in 7 steps, one every 10 s`, { method: 'qemu-precopy', params: {}, bandwidth: o.bandwidth, downtimeLimitMs: o.downtimeLimitMs, downtimeSteps: rampSteps(o.downtimeLimitMs, maxDowntimeMs, 7, 10_000) });
    }
    await add('postcopy-after-first-pass', 'post-copy after the first pass (virsh --postcopy-after-precopy)', { method: 'hybrid', params: { 'switch-after': 'first-pass' }, bandwidth: o.bandwidth, downtimeLimitMs: o.downtimeLimitMs });
    await add('postcopy-on-stall', 'post-copy on a stall (KubeVirt stall detection, allowPostCopy)', { method: 'kubevirt', params: { 'stall-detection': 'on', 'allow-post-copy': 'true', 'allow-workload-disruption': 'true', 'max-downtime': `${maxDowntimeMs}ms` }, bandwidth: o.bandwidth, downtimeLimitMs: o.downtimeLimitMs });
    options.sort(rank);
  }
  const best = baseMeets ? null : options.find((x) => x.meets) ?? null;
  const recommendedRun: RunSpec | null = baseMeets ? precopyAt(o.bandwidth, o.downtimeLimitMs) : best?.run ?? null;
  const recommended = baseMeets ? 'precopy' : best?.id ?? null;
  const settings = recommendedRun ? renderSettings(recommended!, recommendedRun, { ramBytes: trace.header.nPages * trace.header.pageSize, maxDowntimeMs, deadlineMs }) : null;

  // The printed Nova and KubeVirt settings, replayed as the orchestrators would apply them.
  const orchestrators: AdviseResult['orchestrators'] = [];
  if (settings && !o.noShapes) {
    for (const which of ['nova', 'kubevirt'] as const) {
      o.onProgress?.(`checking the ${which} settings`);
      const ev = await evaluate(settings.orchestratorRuns[which]);
      orchestrators.push({ orchestrator: which, meets: ev.meetsFraction >= CONVERGE_SHARE, convergedFraction: ev.convergedFraction, meetsFraction: ev.meetsFraction, totalTimeMs: ev.totalTimeMs, downtimeMs: ev.downtimeMs, guestSlowdown: ev.guestSlowdown });
    }
  }

  // 4. How sure.
  const durationMs = ((trace.epochs[trace.epochs.length - 1]?.t1 ?? 0) - (trace.epochs[0]?.t0 ?? 0)) / 1e6;
  const predicted = base.totalTimeMs.median ?? deadlineMs;
  const loops = Math.max(base.traceLoops, ...options.map((x) => x.evaluation.traceLoops));
  const coverage = `the trace covers ${(durationMs / 1000).toFixed(1)} s of the guest; ${base.totalTimeMs.median !== null ? `pre-copy's median migration takes ${(predicted / 1000).toFixed(1)} s` : `pre-copy ran to the ${(deadlineMs / 1000).toFixed(0)} s deadline`}${loops > 0 ? `; runs that passed the trace's end replayed it from its start (up to ${loops} time${loops > 1 ? 's' : ''}): there the answer assumes the workload repeats itself` : ', within the trace (no loop)'}`;
  const meta = trace.header.meta as Record<string, any>;
  const syn = meta.synthetic as Record<string, any> | undefined;
  const notes: string[] = [];
  if (calName !== 'qemu-7.2-tcg') notes.push(`profile ${calName} has no validation on real runs: treat times and downtimes as the model's, not a host's`);
  notes.push(`the search assumes convergence is monotone in downtime-limit and in max-bandwidth; it stops within ${SEARCH_RESOLUTION * 100} % and reports the upper end`);

  // 5. A synthetic trace: its fit error and the spread over two shape assumptions.
  let synthetic: AdviseResult['synthetic'] = null;
  if (syn) {
    const fit = meta.fit as Record<string, any> | undefined;
    const shapes: NonNullable<AdviseResult['synthetic']>['shapes'] = [];
    const measured = syn.measuredWindows as RateSample[] | undefined;
    if (!o.noShapes && measured?.length) {
      for (const shape of ['hot', 'uniform'] as const) {
        o.onProgress?.(`synthetic: ${shape} shape`);
        const imp = await traceFromRates(measured, { nPages: trace.header.nPages, pageSize: trace.header.pageSize, nPagesFrom: 'the advised trace' }, (syn.from ?? {}) as Record<string, unknown>, { options: { shape, 'epoch-ms': trace.header.epochLen / 1e6 }, kernel, version: 'advise' });
        const t: Trace = { header: imp.header, epochs: [...(imp.epochs as Iterable<any>)] };
        const r = await advise(t, { ...o, noShapes: true, kernel, onProgress: undefined });
        shapes.push({ shape, convergedFraction: r.precopy.convergedFraction, totalTimeMs: r.precopy.totalTimeMs, downtimeMs: r.precopy.downtimeMs, minDowntimeLimitMs: r.minDowntimeLimitMs });
      }
    }
    synthetic = {
      note: `${String(syn.note ?? 'SYNTHETIC: fitted to dirty rates, not recorded pages')}; nothing is widened silently: the fit's error and the spread over two shape assumptions are under "How sure"`,
      shapeWorstRelError: Array.isArray(syn.shapeVsMeasured) && syn.shapeVsMeasured.length ? Math.max(...(syn.shapeVsMeasured as { relError: number }[]).map((x) => Math.abs(x.relError))) : null,
      fitWorstRelError: typeof fit?.worstRelError === 'number' ? fit.worstRelError : null,
      shapeAssumption: typeof syn.shapeAssumption === 'string' ? syn.shapeAssumption : null,
      shapes,
    };
    notes.push('the trace is synthetic: page identities were made up to match a dirty-rate curve');
  }

  return {
    schemaVersion: 1,
    trace: { nPages: trace.header.nPages, pageSize: trace.header.pageSize, durationMs, synthetic: !!syn },
    given: { bandwidthBytesPerSec: o.bandwidth, downtimeLimitMs: o.downtimeLimitMs, linkBandwidthBytesPerSec: link, maxDowntimeMs, deadlineMs, maxGuestSlowdown: maxSlow },
    offsets: starts,
    precopy: { ...base, converges: baseConverges, meets: baseMeets },
    minDowntimeLimitMs,
    minBandwidthBytesPerSec: minBandwidth,
    search: {
      resolution: SEARCH_RESOLUTION, share: CONVERGE_SHARE, downtimeRangeMs: DOWNTIME_RANGE_MS, bandwidthRange: [MIN_SEARCH_BANDWIDTH, Math.max(link, o.bandwidth)], probes,
      note: `log-scale bisection to within ${SEARCH_RESOLUTION * 100} % (the upper end reported; bandwidth rounded up to whole MiB/s), a setting converging when ≥ ${CONVERGE_SHARE * 100} % of the ${n} start offsets complete within the deadline`,
    },
    options,
    skipped,
    recommended,
    settings,
    orchestrators,
    confidence: { calibration: calName, validation: VALIDATION[calName] ?? null, coverage, notes },
    synthetic,
    elapsedMs: Date.now() - t0,
  };
}

/** A linear ramp from `from` to `to` ms in `steps` steps, one every `everyMs`. */
export function rampSteps(from: number, to: number, steps: number, everyMs: number): DowntimeStep[] {
  return Array.from({ length: steps }, (_, i) => ({ atMs: (i + 1) * everyMs, limitMs: Math.round(from + ((to - from) * (i + 1)) / steps) }));
}

function whyNot(ev: Evaluation, maxDowntimeMs: number, maxSlow: number): string {
  if (ev.convergedFraction < CONVERGE_SHARE) return `converges in only ${Math.round(ev.convergedFraction * 100)} % of start offsets`;
  if ((ev.worstDowntimeMs ?? 0) > maxDowntimeMs) return `downtime up to ${ev.worstDowntimeMs!.toFixed(0)} ms > ${maxDowntimeMs} ms`;
  if ((ev.guestSlowdown.median ?? 0) > maxSlow) return `guest slowdown ${Math.round((ev.guestSlowdown.median ?? 0) * 100)} % > ${Math.round(maxSlow * 100)} %`;
  return `meets the constraints in only ${Math.round(ev.meetsFraction * 100)} % of start offsets`;
}

/** Meeting the constraints first; then the least guest time lost, then the shortest migration. */
function rank(a: AdviseOption, b: AdviseOption): number {
  if (a.meets !== b.meets) return a.meets ? -1 : 1;
  if (a.meets) {
    const ga = a.evaluation.guestSlowdown.median ?? 0, gb = b.evaluation.guestSlowdown.median ?? 0;
    if (Math.abs(ga - gb) > 1e-3) return ga - gb;
    return (a.evaluation.totalTimeMs.median ?? Infinity) - (b.evaluation.totalTimeMs.median ?? Infinity);
  }
  return b.evaluation.meetsFraction - a.evaluation.meetsFraction || b.evaluation.convergedFraction - a.evaluation.convergedFraction;
}
