/**
 * simulate(): one migration of a trace by one method, under one condition.
 * The library twin of `dirtylab simulate`.
 */
import { Kernel } from '../kernel/index.js';
import { epochSource, type AnyTrace } from '../trace/source.js';
import { getCalibration, calibrationNames, IDEAL } from './calibration.js';
import './profiles.js';
import { Engine, type DowntimeStep, type EngineHooks, type Rearm } from './engine.js';
import { ParamError, resolveParams } from './method.js';
import { getMethod, methodIds } from './methods/index.js';
import { RESULT_SCHEMA_VERSION, type SimResult } from './result.js';
import type { OnTraceEnd, WriteTime } from './timeline.js';
import { warpAnyTrace, type RateSegment } from '../trace/warp.js';

/** QEMU's default max-bandwidth (migration/options.c MAX_THROTTLE). */
export const DEFAULT_BANDWIDTH = 128 * 2 ** 20;
/** QEMU's default downtime-limit (DEFAULT_MIGRATE_SET_DOWNTIME), ms. */
export const DEFAULT_DOWNTIME_LIMIT_MS = 300;
/** Default wall-time cap, ms. */
export const DEFAULT_MAX_TIME_MS = 600_000;
/** Default link speed of the ideal profile: 10 Gbit/s, bytes/s (the final copy runs at it). */
export const DEFAULT_LINK_BANDWIDTH = 10e9 / 8;

/**
 * The host profile a run uses: the one asked for, else the one the trace's
 * header names (`meta.hostProfile`, the host it was recorded on) when this
 * version knows it, else `ideal`.
 */
export function defaultCalibrationName(trace: AnyTrace, asked?: string): string {
  if (asked !== undefined) return asked;
  const h = trace.header.meta.hostProfile;
  return typeof h === 'string' && getCalibration(h) ? h : IDEAL.name;
}

/** The final-copy (link) speed a run uses: --link-bandwidth, else the profile's measured speed, else 10 Gbit/s. */
export function defaultLinkBandwidth(calibration: string | undefined, given?: number): number {
  return given ?? getCalibration(calibration ?? IDEAL.name)?.linkBytesPerSec ?? DEFAULT_LINK_BANDWIDTH;
}

/** Options of one simulated migration. */
export interface SimulateOptions {
  /** Method ID, optionally with a variant: `double-iteration/two-round-hot`. */
  method: string;
  /** `--param k=v` pairs, unparsed. */
  params?: Record<string, string>;
  /** Live-phase rate cap, bytes/s (default 128 MiB/s). */
  bandwidth?: number;
  /** Link speed while the source is stopped (the final copy is not rate-limited), bytes/s (default: the profile's, else 10 Gbit/s). */
  linkBandwidth?: number;
  downtimeLimitMs?: number;
  /** Start at this epoch (0-based index in the file). */
  startEpoch?: number;
  /** Or at this time, ms on the trace's axis (t = 0 at meta.timeZeroNs). */
  startTimeMs?: number;
  /** Or at this guest instant, ns from the first epoch's start (compare's replicates). */
  startGuestNs?: number;
  maxTimeMs?: number;
  onTraceEnd?: OnTraceEnd;
  /** Host profile (default: the one the trace's header names, else ideal). */
  calibration?: string;
  /** downtime-limit changes during the run: from `atMs` (wall time since migrate) on, `limitMs`. */
  downtimeSteps?: DowntimeStep[];
  /**
   * The guest's recorded progress during the recording (setup stall, throttle):
   * the trace is mapped back to guest time before the replay (docs/methods.md).
   */
  recordedThrottle?: RateSegment[];
  kernel?: Kernel;
  hooks?: EngineHooks;
  /** For provenance. */
  traceSha256?: string | null;
  packageVersion?: string;
}

/** Split `id/variant`, check both, and return the method with its resolved parameters. */
export function resolveMethod(idWithVariant: string, given: Record<string, string> = {}) {
  const [id, variant, ...rest] = idWithVariant.split('/');
  const m = getMethod(id!);
  if (!m || rest.length > 0) throw new ParamError(`unknown method "${idWithVariant}"; methods: ${methodIds().join(', ')}`);
  const params = { ...given };
  if (variant !== undefined) {
    if (!m.variants?.includes(variant)) throw new ParamError(`method ${m.id} has no variant "${variant}"${m.variants ? `; variants: ${m.variants.join(', ')}` : ''}`);
    if (params.variant !== undefined && params.variant !== variant) throw new ParamError(`${idWithVariant} conflicts with --param variant=${params.variant}`);
    params.variant = variant;
  }
  const resolved = resolveParams(m, params);
  const name = m.variants ? `${m.id}/${resolved.variant}` : m.id;
  return { method: m, params: resolved, name };
}

/** Guest time (ns, trace axis) where the migration starts. */
export function startGuestNs(trace: AnyTrace, opts: { startEpoch?: number; startTimeMs?: number }): number {
  const src = epochSource(trace);
  if (opts.startEpoch !== undefined && opts.startTimeMs !== undefined) throw new ParamError('give --start-epoch or --start-time, not both');
  if (opts.startTimeMs !== undefined) {
    const tz = trace.header.meta.timeZeroNs ?? 0;
    const ns = tz + opts.startTimeMs * 1e6;
    const end = src.length > 0 ? src.t1(src.length - 1) : 0;
    if (ns < 0 || ns >= end) throw new ParamError(`--start-time ${opts.startTimeMs}ms is outside the trace (${(-tz / 1e6).toFixed(3)} to ${((end - tz) / 1e6).toFixed(3)} ms)`);
    return ns;
  }
  const i = opts.startEpoch ?? 0;
  if (!Number.isInteger(i) || i < 0 || i >= src.length) throw new ParamError(`--start-epoch must be 0 to ${src.length - 1}, not ${i}`);
  return src.t0(i);
}

/** Run one migration (the trace in memory, or streamed from a .dpt file: the same result). */
export async function simulate(recorded: AnyTrace, opts: SimulateOptions): Promise<SimResult> {
  const trace = opts.recordedThrottle?.length ? warpAnyTrace(recorded, opts.recordedThrottle) : recorded;
  if (trace.header.timeUnit !== 'ns') throw new ParamError(`simulate needs a trace timed in ns; this one counts ${trace.header.timeUnit}`);
  if (epochSource(trace).length === 0) throw new ParamError('the trace has no epochs');
  const { method, params, name } = resolveMethod(opts.method, opts.params);
  const bandwidth = opts.bandwidth ?? DEFAULT_BANDWIDTH;
  if (!(bandwidth > 0)) throw new ParamError('--bandwidth must be > 0');
  const calName = defaultCalibrationName(recorded, opts.calibration);
  const calibration = getCalibration(calName);
  if (!calibration) throw new ParamError(`unknown calibration "${opts.calibration}"; profiles: ${calibrationNames().join(', ')}`);
  // QEMU lifts max-bandwidth for the final copy: the link is the host's measured copy speed, else 10 Gbit/s.
  const linkBandwidth = defaultLinkBandwidth(calName, opts.linkBandwidth);
  if (!(linkBandwidth > 0)) throw new ParamError('--link-bandwidth must be > 0');
  const downtimeLimitMs = opts.downtimeLimitMs ?? DEFAULT_DOWNTIME_LIMIT_MS;
  const maxTimeMs = opts.maxTimeMs ?? DEFAULT_MAX_TIME_MS;
  if (!(maxTimeMs > 0)) throw new ParamError('--max-time must be > 0');
  const startNs = opts.startGuestNs ?? startGuestNs(trace, opts);
  const downtimeSteps = checkSteps(opts.downtimeSteps ?? []);
  // The switchover constants: as given, else the profile's measured ones, else the parameter defaults.
  const given = (k: string) => opts.params?.[k] !== undefined;
  const switchoverFixedMs = given('switchover-fixed') ? (params['switchover-fixed'] as number) : calibration.switchoverFixedMs ?? (params['switchover-fixed'] as number);
  const deviceStateBytes = given('device-state') ? (params['device-state'] as number) : calibration.deviceStateBytes ?? (params['device-state'] as number);
  const rttMs = given('rtt') ? (params.rtt as number) : calibration.rttMs ?? (params.rtt as number);
  const kernel = opts.kernel ?? (await Kernel.load());
  const rearm = (params.rearm ?? 'sync') as Rearm;
  const engine = new Engine({
    trace,
    kernel,
    bandwidth,
    linkBandwidth,
    downtimeLimitMs,
    writeTime: params['write-time'] as WriteTime,
    rearm,
    clearBitmapShift: (params['clear-bitmap-shift'] as number | undefined) ?? 18,
    onTraceEnd: opts.onTraceEnd ?? 'loop',
    startNs,
    maxTimeMs,
    calibration,
    pageHeaderBytes: 8,
    zeroPageBytes: 9,
    deviceStateBytes,
    switchoverFixedMs,
    rttMs,
    downtimeSteps,
    hooks: opts.hooks,
  });
  try {
    const end = method.run(engine, params);
    const r = engine.finish(name, end);
    return {
      ...r,
      provenance: {
        schemaVersion: RESULT_SCHEMA_VERSION,
        packageVersion: opts.packageVersion ?? 'dev',
        traceSha256: opts.traceSha256 ?? null,
        method: method.id,
        variant: method.variants ? (params.variant as string) : null,
        params: { ...Object.fromEntries(Object.entries(params)), 'switchover-fixed': switchoverFixedMs, 'device-state': deviceStateBytes, rtt: rttMs },
        downtimeSteps,
        network: { bandwidthBytesPerSec: bandwidth, linkBandwidthBytesPerSec: linkBandwidth, downtimeLimitMs },
        calibration: calibration.name,
        writeTime: params['write-time'] as string,
        rearm,
        startGuestNs: startNs,
        onTraceEnd: opts.onTraceEnd ?? 'loop',
        maxTimeMs,
        recordedThrottle: opts.recordedThrottle ?? [],
      },
    };
  } finally {
    engine.dispose();
  }
}

/** Check a downtime-limit schedule: times ≥ 0 and increasing, limits > 0. */
export function checkSteps(steps: DowntimeStep[]): DowntimeStep[] {
  let last = -Infinity;
  for (const s of steps) {
    if (!(Number.isFinite(s.atMs) && s.atMs >= 0) || !(Number.isFinite(s.limitMs) && s.limitMs > 0)) throw new ParamError(`--downtime-steps: each step needs a limit > 0 and a time ≥ 0, not ${s.limitMs}ms@${s.atMs}ms`);
    if (s.atMs <= last) throw new ParamError('--downtime-steps: the times must increase');
    last = s.atMs;
  }
  return steps;
}
